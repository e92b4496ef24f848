// Backups over HTTP (DESIGN.md, Interfaces; file format in src/wire/snapshot-file.ts):
//   GET /v1/snapshot[?stale]   the replicated state as a snapshot file (application/octet-stream),
//                              taken at a linearizable point unless ?stale
//   PUT /v1/snapshot           body = a snapshot file -> RestoreResult; restores it into the
//                              running cluster through Raft. A damaged or foreign file is refused
//                              with 400 bad-request saying what is wrong, and changes nothing.
// Validation and translation only: the agent reads, checks and proposes (SnapshotApi).

import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { MAX_RESTORE_BYTES } from '../core/fsm/restore.ts';
import { MAX_SNAPSHOT_HEADER_BYTES, SNAPSHOT_FILE_PREFIX_BYTES } from '../wire/snapshot-file.ts';
import { ApiError } from './errors.ts';

/** The largest PUT /v1/snapshot body: the largest restorable body, its header and prefix. */
export const MAX_SNAPSHOT_UPLOAD_BYTES = MAX_RESTORE_BYTES + MAX_SNAPSHOT_HEADER_BYTES + SNAPSHOT_FILE_PREFIX_BYTES;

export const RestoreResultSchema = Type.Object({
  /** Names the upload in the events restore.begin and restore. */
  id: Type.String(),
  /** The cluster's KV revision after the restore (above any before it). */
  revision: Type.Integer(),
  /** Seq of the 'restore' event. */
  event: Type.Integer(),
  sha256: Type.String(),
  bytes: Type.Integer(),
  /** The revision and creation time the snapshot file records. */
  snapshotRevision: Type.Integer(),
  snapshotCreatedAt: Type.String(),
  keys: Type.Integer(),
  sessions: Type.Integer(),
});
export type RestoreResult = Static<typeof RestoreResultSchema>;

export interface SavedSnapshot {
  readonly file: Uint8Array;
  readonly revision: number;
  readonly appliedIndex: number;
}

export interface SnapshotApi {
  snapshotSave(stale: boolean): Promise<SavedSnapshot>;
  snapshotRestore(file: Uint8Array): Promise<RestoreResult>;
}

export function registerSnapshotRoutes(root: FastifyInstance, api: SnapshotApi, errors: Record<string, unknown>): void {
  root.register(async (app) => {
    // In this scope only: any body is the file's bytes, up to the largest restorable snapshot
    // (the server's 1 MiB default stays for every other route).
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: MAX_SNAPSHOT_UPLOAD_BYTES }, (_req, body, done) => done(null, body));

    app.get('/v1/snapshot', async (request, reply) => {
      const stale = (request.query as Record<string, string | undefined>)['stale'] !== undefined;
      const saved = await api.snapshotSave(stale);
      return reply
        .type('application/octet-stream')
        .header('content-disposition', `attachment; filename="sappers-${saved.revision}.snap"`)
        .header('x-sappers-revision', String(saved.revision))
        .header('x-sappers-applied-index', String(saved.appliedIndex))
        .send(Buffer.from(saved.file.buffer, saved.file.byteOffset, saved.file.byteLength));
    });

    app.put('/v1/snapshot', { bodyLimit: MAX_SNAPSHOT_UPLOAD_BYTES, schema: { response: { 200: RestoreResultSchema, ...errors } } }, async (request) => {
      const body = request.body;
      if (!(body instanceof Uint8Array) || body.length === 0) throw new ApiError('bad-request', 'the body is empty: send a snapshot file (sappers snapshot restore FILE)');
      return api.snapshotRestore(body);
    });
  });
}
