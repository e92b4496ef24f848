// How each system under test is asked to put and read a key over HTTP, and how its answers are
// judged, for the shared load generator (bench/lib/kv-load.ts). Pure: requests in, verdicts out
// (test/bench/kv-protocols.test.ts).
//
// Sappers: PUT /v1/kv/<key> with the raw value -> {revision}; GET /v1/kv/<key> -> the entry
//   (src/api/kv.ts). Reads are linearizable by default (ReadIndex); errors are
//   {"error": {"code", "message"}} with a 4xx/5xx status.
// etcd 3.4: the gRPC-gateway on the client URL, POST /v3/kv/put {"key", "value"} and
//   POST /v3/kv/range {"key"} with base64 keys and values; a range is linearizable unless it
//   asks for "serializable". 64-bit integers come back as JSON strings (proto3 JSON mapping);
//   errors are {"error", "message", "code"} with a non-200 status.
import type { HttpRequestSpec, LoadOp } from './kv-load.ts';

export interface KvProtocol {
  put(key: string, value: string): LoadOp;
  /** A default (linearizable) read of KEY, which must exist. */
  get(key: string): LoadOp;
}

export function sappersProtocol(token: string | undefined): KvProtocol {
  const auth: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` };
  return {
    put(key, value) {
      const spec: HttpRequestSpec = { method: 'PUT', path: `/v1/kv/${encodeKeyPath(key)}`, headers: { ...auth, 'content-type': 'application/octet-stream' }, body: Buffer.from(value) };
      return { spec, check: checkSappersPut };
    },
    get(key) {
      const spec: HttpRequestSpec = { method: 'GET', path: `/v1/kv/${encodeKeyPath(key)}`, headers: auth, body: undefined };
      return { spec, check: checkSappersGet };
    },
  };
}

export const etcdProtocol: KvProtocol = {
  put(key, value) {
    return { spec: etcdPost('/v3/kv/put', { key: b64(key), value: b64(value) }), check: checkEtcdPut };
  },
  get(key) {
    return { spec: etcdPost('/v3/kv/range', { key: b64(key) }), check: checkEtcdRange };
  },
};

/** Keys of this bench are path-safe ASCII; encode each segment anyway so any key travels intact. */
function encodeKeyPath(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

function b64(text: string): string {
  return Buffer.from(text).toString('base64');
}

function etcdPost(path: string, body: unknown): HttpRequestSpec {
  return { method: 'POST', path, headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify(body)) };
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** "503 no-leader" from a Sappers error answer, or the status and the first bytes of the body. */
export function sappersFailure(status: number, body: Buffer): string {
  const parsed = parseJson(body);
  const error = isObject(parsed) ? parsed['error'] : undefined;
  if (isObject(error) && typeof error['code'] === 'string') return `${status} ${error['code']}`;
  return `${status} ${body.toString('utf8', 0, Math.min(body.length, 80))}`;
}

export function checkSappersPut(status: number, body: Buffer): string | undefined {
  if (status !== 200) return sappersFailure(status, body);
  const parsed = parseJson(body);
  return isObject(parsed) && Number.isInteger(parsed['revision']) ? undefined : `200 without a revision: ${body.toString('utf8', 0, 80)}`;
}

export function checkSappersGet(status: number, body: Buffer): string | undefined {
  if (status !== 200) return sappersFailure(status, body);
  const parsed = parseJson(body);
  return isObject(parsed) && typeof parsed['value'] === 'string' ? undefined : `200 without a value: ${body.toString('utf8', 0, 80)}`;
}

/** "503 etcdserver: no leader" from a gateway error answer, or the status and the first bytes. */
export function etcdFailure(status: number, body: Buffer): string {
  const parsed = parseJson(body);
  if (isObject(parsed)) {
    const message = parsed['message'] ?? parsed['error'];
    if (typeof message === 'string') return `${status} ${message}`;
  }
  return `${status} ${body.toString('utf8', 0, Math.min(body.length, 80))}`;
}

/** The revision of an etcd answer's header (a JSON string, as proto3 maps int64), or undefined. */
export function etcdRevision(parsed: unknown): number | undefined {
  const header = isObject(parsed) ? parsed['header'] : undefined;
  const revision = isObject(header) ? header['revision'] : undefined;
  const n = typeof revision === 'string' && /^\d+$/.test(revision) ? Number(revision) : typeof revision === 'number' ? revision : Number.NaN;
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

export function checkEtcdPut(status: number, body: Buffer): string | undefined {
  if (status !== 200) return etcdFailure(status, body);
  return etcdRevision(parseJson(body)) === undefined ? `200 without a revision: ${body.toString('utf8', 0, 80)}` : undefined;
}

export function checkEtcdRange(status: number, body: Buffer): string | undefined {
  if (status !== 200) return etcdFailure(status, body);
  const parsed = parseJson(body);
  const kvs = isObject(parsed) ? parsed['kvs'] : undefined;
  // proto3 JSON leaves out empty fields: a missing key has no "kvs" at all.
  if (!Array.isArray(kvs) || kvs.length === 0) return `key not found: ${body.toString('utf8', 0, 80)}`;
  const first: unknown = kvs[0];
  return isObject(first) && typeof first['value'] === 'string' ? undefined : `range entry without a value: ${body.toString('utf8', 0, 80)}`;
}
