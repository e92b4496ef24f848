// TTL sessions over HTTP, for app-level locks and leader election (DESIGN.md, Replicated state):
//   POST   /v1/sessions            {ttlMs, owner?}  -> {id, ttlMs, expiresAtMs}
//   PUT    /v1/sessions/<id>/renew                  -> {id, expiresAtMs}   (404 when expired)
//   DELETE /v1/sessions/<id>                        -> {released: true}    (its keys are deleted)
//   GET    /v1/sessions                             -> [{id, owner, ttlMs, expiresAtMs}]
// A key written with PUT /v1/kv/<key>?session=<id> belongs to the session and is deleted when
// the session is released or expires (the leader expires sessions whose TTL passed).

import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { ApiError } from './errors.ts';

export const MIN_SESSION_TTL_MS = 1000;
export const MAX_SESSION_TTL_MS = 86_400_000;

export const SessionSchema = Type.Object({ id: Type.String(), owner: Type.String(), ttlMs: Type.Integer(), expiresAtMs: Type.Number() });
export type SessionView = Static<typeof SessionSchema>;

const CreateBody = Type.Object(
  { ttlMs: Type.Integer({ minimum: MIN_SESSION_TTL_MS, maximum: MAX_SESSION_TTL_MS }), owner: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })) },
  { additionalProperties: false },
);

export interface SessionApi {
  sessionCreate(ttlMs: number, owner: string): Promise<SessionView>;
  sessionRenew(id: string): Promise<SessionView>;
  sessionRelease(id: string): Promise<void>;
  sessionList(stale: boolean): Promise<SessionView[]>;
}

export function registerSessionRoutes(app: FastifyInstance, api: SessionApi, errors: Record<string, unknown>): void {
  app.post('/v1/sessions', { schema: { body: CreateBody, response: { 200: SessionSchema, ...errors } } }, (request) => {
    const body = request.body as Static<typeof CreateBody>;
    return api.sessionCreate(body.ttlMs, body.owner ?? request.ip);
  });
  app.put('/v1/sessions/:id/renew', { schema: { response: { 200: SessionSchema, ...errors } } }, (request) => api.sessionRenew(idOf(request.params)));
  app.delete('/v1/sessions/:id', { schema: { response: { 200: Type.Object({ released: Type.Boolean() }), ...errors } } }, async (request) => {
    await api.sessionRelease(idOf(request.params));
    return { released: true };
  });
  app.get('/v1/sessions', { schema: { response: { 200: Type.Array(SessionSchema), ...errors } } }, (request) =>
    api.sessionList((request.query as Record<string, string | undefined>)['stale'] !== undefined),
  );
}

function idOf(params: unknown): string {
  const id = (params as { id: string }).id;
  if (id.length === 0 || id.length > 256) throw new ApiError('bad-request', 'a session id has 1 to 256 characters');
  return id;
}
