// The cluster's gossip keyring (issue 5, `sappers keyring`):
//   GET  /v1/operator/keyring[?stale]       -> {nodeId, primary, keys: [{fingerprint, primary}], local: {primary, keys}}
//   POST /v1/operator/keyring {op, key}     -> {op, fingerprint, primary, keys: [{fingerprint, primary}]}
// The cluster view is the replicated keyring (linearizable unless ?stale); `local` is the
// keyring this node encrypts and decrypts gossip with right now (it follows the cluster's within
// about a second, src/agent/security.ts). Keys are named by fingerprint only: key material never
// leaves the API. `use` and `remove` accept a fingerprint instead of the key.
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';

export const KEYRING_OPS = ['install', 'use', 'remove'] as const;
export type KeyringOp = (typeof KEYRING_OPS)[number];

const OpSchema = Type.Union([Type.Literal('install'), Type.Literal('use'), Type.Literal('remove')]);

export const KeyringKeySchema = Type.Object({ fingerprint: Type.String(), primary: Type.Boolean() });

export const KeyringViewSchema = Type.Object({
  nodeId: Type.String(),
  /** Fingerprint of the key that encrypts, cluster-wide. */
  primary: Type.String(),
  /** The installed keys (each one decrypts), in the order they were installed. */
  keys: Type.Array(KeyringKeySchema),
  /** This node's keyring in use now: equal to the cluster's once it has caught up. */
  local: Type.Object({ primary: Type.String(), keys: Type.Array(Type.String()) }),
});
export type KeyringView = Static<typeof KeyringViewSchema>;

export const KeyringChangeResultSchema = Type.Object({
  op: OpSchema,
  /** The key the change was about. */
  fingerprint: Type.String(),
  /** The cluster's primary key after the change. */
  primary: Type.String(),
  keys: Type.Array(KeyringKeySchema),
});
export type KeyringChangeResult = Static<typeof KeyringChangeResultSchema>;

const ChangeBody = Type.Object(
  {
    op: OpSchema,
    /** A base64 key (as made by `sappers keygen`), or for use and remove also a fingerprint. */
    key: Type.String({ minLength: 1, maxLength: 256 }),
  },
  { additionalProperties: false },
);

export interface KeyringApi {
  keyringView(stale: boolean): Promise<KeyringView>;
  keyringChange(op: KeyringOp, keyOrFingerprint: string): Promise<KeyringChangeResult>;
}

export function registerKeyringRoutes(app: FastifyInstance, api: KeyringApi, errors: Record<string, unknown>): void {
  app.get('/v1/operator/keyring', { schema: { response: { 200: KeyringViewSchema, ...errors } } }, (request) =>
    api.keyringView((request.query as Record<string, string | undefined>)['stale'] !== undefined),
  );
  app.post('/v1/operator/keyring', { schema: { body: ChangeBody, response: { 200: KeyringChangeResultSchema, ...errors } } }, (request) => {
    const body = request.body as Static<typeof ChangeBody>;
    return api.keyringChange(body.op, body.key);
  });
}
