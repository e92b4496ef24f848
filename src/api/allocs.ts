// Allocation routes of the HTTP API (issue 6, item 1; `sappers alloc ...`):
//   GET  /v1/allocs[?job=J][&node=N]                      -> allocations kept, oldest first
//   GET  /v1/allocs/<id>                                  -> one allocation, every field
//   GET  /v1/allocs/<id>/logs?stream=stdout|stderr&offset=N&limit=N
//                                                          -> {data (base64), offset, nextOffset, size}
//   POST /v1/allocs/<id>/restart                          -> restarts its task in place
// <id> may be a unique prefix of at least 4 hex characters (as Nomad allows); an ambiguous one
// is a 400 that lists the matches. Reads take ?stale. Logs and restarts happen on the node that
// runs the allocation: any agent passes them on there (over the agent RPC), so the CLI may talk
// to any node.
// Validation and translation only: the agent's JobsService and the node runner do the work.

import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Allocation } from '../core/fsm/allocs.ts';
import { AllocSummarySchema, isSet } from './jobs.ts';
import { ApiError } from './errors.ts';
import { openSse, wantsEventStream } from './sse.ts';

/** Largest log read in one request (the node runner caps it the same way). */
export const MAX_LOG_LIMIT_BYTES = 1024 * 1024;
export const DEFAULT_LOG_LIMIT_BYTES = 64 * 1024;
/** Longest ID or prefix accepted in a path. */
export const MAX_ALLOC_ID_CHARS = 64;

export const AllocCheckSchema = Type.Object({
  name: Type.String(),
  status: Type.Union([Type.Literal('passing'), Type.Literal('warning'), Type.Literal('critical')]),
  output: Type.String(),
});

export const AllocViewSchema = Type.Object({
  ...AllocSummarySchema.properties,
  taskSha256: Type.String(),
  cpuMillis: Type.Integer(),
  memoryMB: Type.Integer(),
  /** Host ports by label. */
  ports: Type.Record(Type.String(), Type.Integer()),
  checks: Type.Array(AllocCheckSchema),
  healthySinceMs: Type.Union([Type.Integer(), Type.Null()]),
  /** The allocation it replaced, if any. */
  replaces: Type.Union([Type.String(), Type.Null()]),
  reschedules: Type.Integer(),
  /** Host part of its node's RPC address (from the node registry), or null when unknown. */
  nodeAddress: Type.Union([Type.String(), Type.Null()]),
});
export type AllocView = Static<typeof AllocViewSchema>;

export type LogStream = 'stdout' | 'stderr';

export interface LogReadOptions {
  readonly stream: LogStream;
  /** Byte offset in the live log file; negative: that many bytes before its end (at most MAX_LOG_LIMIT_BYTES). */
  readonly offset: number;
  readonly limit: number;
}

export const AllocLogsSchema = Type.Object({
  alloc: Type.String(),
  stream: Type.Union([Type.Literal('stdout'), Type.Literal('stderr')]),
  /** The bytes read, base64 (logs are bytes; a read may end inside a UTF-8 character). */
  data: Type.String(),
  /** Where the read started (0 again after the file was rotated under the reader). */
  offset: Type.Integer(),
  /** Where the next read should start to follow the log. */
  nextOffset: Type.Integer(),
  /** The live file's size now. */
  size: Type.Integer(),
});
export type AllocLogsView = Static<typeof AllocLogsSchema>;

export const AllocRestartSchema = Type.Object({ alloc: Type.String(), node: Type.String() });
export type AllocRestartResult = Static<typeof AllocRestartSchema>;

/**
 * Operations on an allocation's task, on whichever node runs it (the agent's WorkloadHost:
 * locally through its runner, elsewhere over the agent RPC). Failures are ApiErrors
 * (unavailable: the node did not answer; conflict: the task is not running there).
 */
export interface AllocOps {
  logs(alloc: Allocation, options: LogReadOptions): Promise<{ data: Uint8Array; offset: number; nextOffset: number; size: number }>;
  restart(alloc: Allocation): Promise<void>;
}

/** What the allocation routes need from the agent. */
export interface AllocsApi {
  allocList(filter: { job?: string; node?: string }, stale: boolean): Promise<AllocSummary[]>;
  allocGet(idOrPrefix: string, stale: boolean): Promise<AllocView>;
  allocLogs(idOrPrefix: string, options: LogReadOptions): Promise<AllocLogsView>;
  allocRestart(idOrPrefix: string): Promise<AllocRestartResult>;
}

type AllocSummary = Static<typeof AllocSummarySchema>;

export function registerAllocRoutes(app: FastifyInstance, api: AllocsApi, errors: Record<string, unknown>): void {
  app.get('/v1/allocs', { schema: { response: { 200: Type.Array(AllocSummarySchema), ...errors } } }, (request) => {
    const query = request.query as Record<string, string | undefined>;
    const filter: { job?: string; node?: string } = {};
    if (query['job'] !== undefined && query['job'] !== '') filter.job = query['job'];
    if (query['node'] !== undefined && query['node'] !== '') filter.node = query['node'];
    return api.allocList(filter, isSet(request, 'stale'));
  });

  app.get('/v1/allocs/:id', { schema: { response: { 200: AllocViewSchema, ...errors } } }, (request) => api.allocGet(idOf(request), isSet(request, 'stale')));

  app.get('/v1/allocs/:id/logs', { schema: { response: { 200: AllocLogsSchema, ...errors } } }, (request, reply) => {
    const query = request.query as Record<string, string | undefined>;
    const stream = query['stream'] ?? 'stdout';
    if (stream !== 'stdout' && stream !== 'stderr') throw new ApiError('bad-request', `?stream must be stdout or stderr, got ${JSON.stringify(stream)}`);
    const offset = query['offset'] === undefined ? 0 : intParam(query['offset'], 'offset', -MAX_LOG_LIMIT_BYTES, Number.MAX_SAFE_INTEGER);
    const limit = query['limit'] === undefined ? DEFAULT_LOG_LIMIT_BYTES : intParam(query['limit'], 'limit', 1, MAX_LOG_LIMIT_BYTES);
    if (wantsEventStream(request)) return followLogs(request, reply, api, idOf(request), { stream, offset, limit });
    return api.allocLogs(idOf(request), { stream, offset, limit });
  });

  app.post('/v1/allocs/:id/restart', { schema: { response: { 200: AllocRestartSchema, ...errors } } }, (request) => api.allocRestart(idOf(request)));
}

/** How often a followed log is read again (on the allocation's node, over RPC when remote). */
const FOLLOW_INTERVAL_MS = 1000;

/**
 * With Accept: text/event-stream, a log is followed: the read asked for at once (event: log,
 * the same body as the JSON answer), then every new stretch as it is written. Logs are files on
 * the allocation's node with no change notification, so the agent reads them again every second;
 * the client keeps one connection instead of polling. A read that fails ends the stream with
 * event: error {code, message}.
 */
function followLogs(request: FastifyRequest, reply: FastifyReply, api: AllocsApi, id: string, first: LogReadOptions): FastifyReply {
  const stream = openSse(request, reply);
  let timer: NodeJS.Timeout | undefined;
  let next = first;
  const read = async (): Promise<void> => {
    timer = undefined;
    try {
      const view = await api.allocLogs(id, next);
      if (stream.closed) return;
      if (view.data !== '' || next.offset !== view.offset || next === first) stream.send('log', view.nextOffset, view);
      next = { ...next, offset: view.nextOffset };
      timer = setTimeout(() => void read(), FOLLOW_INTERVAL_MS);
    } catch (e) {
      const code = e instanceof ApiError ? e.code : 'internal';
      stream.send('error', undefined, { code, message: e instanceof Error ? e.message : String(e) });
      stream.close();
    }
  };
  stream.onClose(() => {
    if (timer !== undefined) clearTimeout(timer);
  });
  void read();
  return reply;
}

function idOf(request: FastifyRequest): string {
  const id = (request.params as { id: string }).id;
  if (id.length === 0 || id.length > MAX_ALLOC_ID_CHARS) throw new ApiError('bad-request', `an allocation ID or prefix has 1 to ${MAX_ALLOC_ID_CHARS} characters`);
  return id;
}

function intParam(value: string, name: string, min: number, max: number): number {
  if (!/^-?\d+$/.test(value)) throw new ApiError('bad-request', `?${name} must be an integer, got ${JSON.stringify(value)}`);
  const n = Number(value);
  if (n < min || n > max) throw new ApiError('bad-request', `?${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}
