// KV routes of the HTTP API (DESIGN.md, Interfaces):
//   PUT    /v1/kv/<key>[?cas=<modRevision>][&session=<id>]  body = raw value -> {revision}
//   GET    /v1/kv/<key>[?stale][&raw]                                    -> entry, or the raw value
//   DELETE /v1/kv/<key>[?cas=<modRevision>]                              -> {revision}
//   GET    /v1/kv?prefix=P[&limit=N][&stale]                             -> {entries, more, revision}
// Validation and translation only: the agent proposes and reads (KvApi).

import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from './errors.ts';

/** Keys: 1..1024 characters, no NUL (they travel in URLs, logs and events). */
export const MAX_KEY_CHARS = 1024;
export const MAX_VALUE_BYTES = 1024 * 1024;
const MAX_LIST_LIMIT = 10_000;

export const KvEntrySchema = Type.Object({
  key: Type.String(),
  /** UTF-8 text when the bytes are valid UTF-8, else base64 (see valueEncoding); ?raw gives the bytes. */
  value: Type.String(),
  valueEncoding: Type.Union([Type.Literal('utf8'), Type.Literal('base64')]),
  createRevision: Type.Integer(),
  modRevision: Type.Integer(),
  version: Type.Integer(),
  session: Type.Optional(Type.String()),
});
export type KvEntryView = Static<typeof KvEntrySchema>;

export const KvWriteSchema = Type.Object({ revision: Type.Integer() });
export const KvListSchema = Type.Object({ entries: Type.Array(KvEntrySchema), more: Type.Boolean(), revision: Type.Integer() });
export type KvListView = Static<typeof KvListSchema>;

export interface KvEntryData {
  readonly key: string;
  readonly value: Uint8Array;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
  readonly session: string | undefined;
}

/** What the KV routes need from the agent. Errors are ApiErrors (conflict, no-leader, ...). */
export interface KvApi {
  /** With a session, the key is deleted when the session ends (locks, leader keys). */
  kvPut(key: string, value: Uint8Array, cas: number | undefined, session?: string): Promise<{ revision: number }>;
  kvDelete(key: string, cas: number | undefined): Promise<{ revision: number }>;
  kvGet(key: string, stale: boolean): Promise<KvEntryData | undefined>;
  kvList(prefix: string, limit: number, stale: boolean): Promise<{ entries: KvEntryData[]; more: boolean; revision: number }>;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

export function kvEntryView(e: KvEntryData): KvEntryView {
  let value: string;
  let valueEncoding: 'utf8' | 'base64' = 'utf8';
  try {
    value = decoder.decode(e.value);
  } catch {
    value = Buffer.from(e.value).toString('base64');
    valueEncoding = 'base64';
  }
  const view: KvEntryView = { key: e.key, value, valueEncoding, createRevision: e.createRevision, modRevision: e.modRevision, version: e.version };
  if (e.session !== undefined) view.session = e.session;
  return view;
}

export function registerKvRoutes(root: FastifyInstance, kv: KvApi, errors: Record<string, unknown>): void {
  root.register(async (app) => {
    // Values are raw bytes whatever the content type: in this scope only, every body is taken
    // as a buffer, byte for byte (a JSON value is stored as sent, not re-serialized).
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    kvRoutes(app, kv, errors);
  });
}

function kvRoutes(app: FastifyInstance, kv: KvApi, errors: Record<string, unknown>): void {

  app.put('/v1/kv/*', { schema: { response: { 200: KvWriteSchema, ...errors } } }, async (request) => {
    const key = keyOf(request);
    const value = bodyBytes(request.body);
    if (value.length > MAX_VALUE_BYTES) throw new ApiError('payload-too-large', `value of ${value.length} bytes exceeds ${MAX_VALUE_BYTES}`);
    const session = (request.query as Record<string, string | undefined>)['session'];
    return kv.kvPut(key, value, casOf(request), session === undefined || session === '' ? undefined : session);
  });

  app.delete('/v1/kv/*', { schema: { response: { 200: KvWriteSchema, ...errors } } }, async (request) => kv.kvDelete(keyOf(request), casOf(request)));

  app.get('/v1/kv/*', async (request, reply) => {
    const key = keyOf(request);
    const query = request.query as Record<string, string | undefined>;
    const entry = await kv.kvGet(key, query['stale'] !== undefined);
    if (entry === undefined) throw new ApiError('not-found', `no key ${JSON.stringify(key)}`);
    if (query['raw'] !== undefined) return reply.type('application/octet-stream').send(Buffer.from(entry.value));
    return kvEntryView(entry);
  });

  app.get('/v1/kv', { schema: { response: { 200: KvListSchema, ...errors } } }, async (request) => {
    const query = request.query as Record<string, string | undefined>;
    const prefix = query['prefix'] ?? '';
    const limit = query['limit'] === undefined ? MAX_LIST_LIMIT : parseIntParam(query['limit'], 'limit', 1, MAX_LIST_LIMIT);
    const listed = await kv.kvList(prefix, limit, query['stale'] !== undefined);
    return { entries: listed.entries.map(kvEntryView), more: listed.more, revision: listed.revision };
  });
}

function keyOf(request: FastifyRequest): string {
  const raw = (request.params as { '*': string })['*'];
  if (raw.length === 0) throw new ApiError('bad-request', 'the key is empty: use /v1/kv/<key>');
  if (raw.length > MAX_KEY_CHARS) throw new ApiError('bad-request', `the key has ${raw.length} characters; the limit is ${MAX_KEY_CHARS}`);
  if (raw.includes('\0')) throw new ApiError('bad-request', 'the key contains a NUL character');
  return raw;
}

function casOf(request: FastifyRequest): number | undefined {
  const value = (request.query as Record<string, string | undefined>)['cas'];
  return value === undefined ? undefined : parseIntParam(value, 'cas', 0, Number.MAX_SAFE_INTEGER);
}

function parseIntParam(value: string, name: string, min: number, max: number): number {
  if (!/^\d+$/.test(value)) throw new ApiError('bad-request', `?${name} must be an integer, got ${JSON.stringify(value)}`);
  const n = Number(value);
  if (n < min || n > max) throw new ApiError('bad-request', `?${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

function bodyBytes(body: unknown): Uint8Array {
  if (body instanceof Uint8Array) return body;
  // No body (no content type) is an empty value.
  return new Uint8Array(0);
}
