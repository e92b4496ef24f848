// The snapshot file of `sappers snapshot save` (GET /v1/snapshot) and `snapshot restore`
// (PUT /v1/snapshot): the replicated state as one self-describing file, for backups.
//
// Layout:
//   0     7 bytes   magic "SAPSNAP"
//   7     u8        format version (SNAPSHOT_FILE_VERSION)
//   8     u32 BE    header length H (at most MAX_SNAPSHOT_HEADER_BYTES)
//   12    32 bytes  sha256 of the header bytes
//   44    H bytes   header: a UTF-8 JSON object (SnapshotFileHeader); unknown fields are ignored,
//                   so a newer writer may add some without a new format version
//   44+H  body      bodyBytes bytes: the fsm.snapshot message (src/wire/fsm.ts), exactly what
//                   the state machine writes for Raft snapshots
//
// The header carries the body's length and sha256, so a truncated or damaged file is found
// before its body is parsed, and says what the file holds (revision, keys, where and when it was
// taken) for `snapshot save` to print and an operator to read with `head -c 4096 FILE`. With the
// header's own digest, damage anywhere in the file is detected.
// Decoding never throws: every problem is a SnapshotFileError with a stable code.

import { createHash } from 'node:crypto';
import type { FsmSnapshot } from '../core/fsm/fsm.ts';
import { err, ok, type Result } from '../core/result.ts';
import { createFsmSnapshotCodec, decodeFsmSnapshot, MAX_FSM_SNAPSHOT_BYTES, MAX_FSM_TTL_MS, type FsmSnapshotCodec } from './fsm.ts';

export const SNAPSHOT_FILE_MAGIC = 'SAPSNAP';
export const SNAPSHOT_FILE_VERSION = 1;
/** The JSON header is a few hundred bytes; the bound only refuses nonsense lengths. */
export const MAX_SNAPSHOT_HEADER_BYTES = 64 * 1024;
/** Bytes before the header: magic, version, header length, header sha256. */
export const SNAPSHOT_FILE_PREFIX_BYTES = 44;
const PREFIX_BYTES = SNAPSHOT_FILE_PREFIX_BYTES;
const HEADER_DIGEST_AT = 12;
const MAGIC = new TextEncoder().encode(SNAPSHOT_FILE_MAGIC);
/**
 * Highest KV revision a restore accepts: the restore takes max(current, snapshot's) + 1, which
 * must stay a safe integer (no real cluster comes near 2^52 changes).
 */
export const MAX_RESTORE_REVISION = 2 ** 52;

/** What a snapshot file says about itself. */
export interface SnapshotFileHeader {
  readonly formatVersion: number;
  /** Version of the Sappers build that wrote it. */
  readonly sappersVersion: string;
  /** When it was taken (ms since the epoch, and the same as ISO 8601 for people). */
  readonly createdAtMs: number;
  readonly createdAt: string;
  /** The agent that served it, and its cluster epoch (DESIGN.md, Quorum loss). */
  readonly nodeId: string;
  readonly epoch: number;
  /** The KV revision and the Raft index applied at the point it was taken. */
  readonly revision: number;
  readonly appliedIndex: number;
  readonly keys: number;
  readonly sessions: number;
  readonly bodyBytes: number;
  /** Lowercase hex sha256 of the body. */
  readonly bodySha256: string;
}

/** The header fields the writer supplies; the rest are computed. */
export type SnapshotFileInfo = Pick<SnapshotFileHeader, 'sappersVersion' | 'createdAtMs' | 'nodeId' | 'epoch'>;

export type SnapshotFileError =
  | { readonly code: 'bad-magic' }
  | { readonly code: 'unsupported-version'; readonly version: number }
  | { readonly code: 'truncated'; readonly expectedBytes: number; readonly actualBytes: number }
  | { readonly code: 'trailing-data'; readonly expectedBytes: number; readonly actualBytes: number }
  | { readonly code: 'bad-header'; readonly detail: string }
  | { readonly code: 'checksum-mismatch'; readonly part: 'header' | 'body'; readonly expected: string; readonly actual: string }
  | { readonly code: 'body-undecodable'; readonly detail: string };

export function describeSnapshotFileError(e: SnapshotFileError): string {
  switch (e.code) {
    case 'bad-magic':
      return `not a Sappers snapshot file (it does not start with "${SNAPSHOT_FILE_MAGIC}")`;
    case 'unsupported-version':
      return `snapshot file format ${e.version} is not supported (this build reads format ${SNAPSHOT_FILE_VERSION}); use a newer sappers`;
    case 'truncated':
      return `the snapshot file is truncated: ${e.actualBytes} bytes, ${e.expectedBytes} expected`;
    case 'trailing-data':
      return `the snapshot file has ${e.actualBytes - e.expectedBytes} unexpected bytes after its end (${e.expectedBytes} expected)`;
    case 'bad-header':
      return `the snapshot file's header is invalid: ${e.detail}`;
    case 'checksum-mismatch':
      return `the snapshot file is damaged: its ${e.part} hashes to sha256 ${e.actual}, the file says ${e.expected}`;
    case 'body-undecodable':
      return `the snapshot file's body is not a valid state machine snapshot: ${e.detail}`;
  }
}

export function sha256HexOf(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** A snapshot file for `body` (an fsm.snapshot message) holding `snapshot`'s state. */
export function encodeSnapshotFile(info: SnapshotFileInfo, snapshot: FsmSnapshot, body: Uint8Array): Uint8Array {
  const header: SnapshotFileHeader = {
    formatVersion: SNAPSHOT_FILE_VERSION,
    sappersVersion: info.sappersVersion,
    createdAtMs: info.createdAtMs,
    createdAt: new Date(info.createdAtMs).toISOString(),
    nodeId: info.nodeId,
    epoch: info.epoch,
    revision: snapshot.kv.revision,
    appliedIndex: snapshot.appliedIndex,
    keys: snapshot.kv.entries.length,
    sessions: snapshot.sessions.length,
    bodyBytes: body.length,
    bodySha256: sha256HexOf(body),
  };
  const json = new TextEncoder().encode(JSON.stringify(header));
  if (json.length > MAX_SNAPSHOT_HEADER_BYTES) throw new Error(`assertion failed: snapshot file header of ${json.length} bytes`);
  const out = new Uint8Array(PREFIX_BYTES + json.length + body.length);
  out.set(MAGIC, 0);
  out[7] = SNAPSHOT_FILE_VERSION;
  new DataView(out.buffer).setUint32(8, json.length);
  out.set(createHash('sha256').update(json).digest(), HEADER_DIGEST_AT);
  out.set(json, PREFIX_BYTES);
  out.set(body, PREFIX_BYTES + json.length);
  return out;
}

/**
 * The header and body of a snapshot file, once its structure, length and checksum hold. The
 * body is a view into `file`, not parsed: decodeSnapshotFile parses it too.
 */
export function readSnapshotFile(file: Uint8Array): Result<{ header: SnapshotFileHeader; body: Uint8Array }, SnapshotFileError> {
  if (file.length < MAGIC.length || MAGIC.some((b, i) => file[i] !== b)) return err({ code: 'bad-magic' });
  if (file.length < PREFIX_BYTES) return err({ code: 'truncated', expectedBytes: PREFIX_BYTES, actualBytes: file.length });
  const version = file[7]!;
  if (version !== SNAPSHOT_FILE_VERSION) return err({ code: 'unsupported-version', version });
  const headerBytes = new DataView(file.buffer, file.byteOffset, file.byteLength).getUint32(8);
  if (headerBytes > MAX_SNAPSHOT_HEADER_BYTES) return err({ code: 'bad-header', detail: `its length ${headerBytes} exceeds ${MAX_SNAPSHOT_HEADER_BYTES} bytes` });
  if (file.length < PREFIX_BYTES + headerBytes) return err({ code: 'truncated', expectedBytes: PREFIX_BYTES + headerBytes, actualBytes: file.length });
  const headerJson = file.subarray(PREFIX_BYTES, PREFIX_BYTES + headerBytes);
  const headerDigest = sha256HexOf(headerJson);
  const storedDigest = Buffer.from(file.subarray(HEADER_DIGEST_AT, PREFIX_BYTES)).toString('hex');
  if (headerDigest !== storedDigest) return err({ code: 'checksum-mismatch', part: 'header', expected: storedDigest, actual: headerDigest });
  const header = parseHeader(headerJson);
  if (!header.ok) return header;
  const expectedBytes = PREFIX_BYTES + headerBytes + header.value.bodyBytes;
  if (file.length < expectedBytes) return err({ code: 'truncated', expectedBytes, actualBytes: file.length });
  if (file.length > expectedBytes) return err({ code: 'trailing-data', expectedBytes, actualBytes: file.length });
  const body = file.subarray(PREFIX_BYTES + headerBytes);
  const actual = sha256HexOf(body);
  if (actual !== header.value.bodySha256) return err({ code: 'checksum-mismatch', part: 'body', expected: header.value.bodySha256, actual });
  return ok({ header: header.value, body });
}

/** readSnapshotFile, then the body decoded and checked as a restore will (decodeRestorableSnapshot). */
export function decodeSnapshotFile(
  file: Uint8Array,
  codec: FsmSnapshotCodec = createFsmSnapshotCodec(),
): Result<{ header: SnapshotFileHeader; body: Uint8Array; snapshot: FsmSnapshot }, SnapshotFileError> {
  const read = readSnapshotFile(file);
  if (!read.ok) return read;
  const { header, body } = read.value;
  const decoded = decodeRestorableSnapshot(codec, body);
  if (!decoded.ok) return err({ code: 'body-undecodable', detail: decoded.error });
  const s = decoded.value;
  // The checksum covers the body only: a header edited by hand is caught here.
  const mismatch =
    header.revision !== s.kv.revision
      ? `revision ${header.revision}, the body ${s.kv.revision}`
      : header.appliedIndex !== s.appliedIndex
        ? `appliedIndex ${header.appliedIndex}, the body ${s.appliedIndex}`
        : header.keys !== s.kv.entries.length
          ? `${header.keys} keys, the body ${s.kv.entries.length}`
          : header.sessions !== s.sessions.length
            ? `${header.sessions} sessions, the body ${s.sessions.length}`
            : undefined;
  if (mismatch !== undefined) return err({ code: 'bad-header', detail: `it says ${mismatch}` });
  return ok({ header, body, snapshot: s });
}

/**
 * A snapshot body as restore.commit accepts it (the decoder handed to ClusterFsm): a valid
 * fsm.snapshot (schema, invariants, event hash chain) whose numbers a restore can take on without
 * leaving the ranges commands keep to (a session TTL of at most a day, a revision that stays
 * a safe integer after the restore's +1).
 */
export function decodeRestorableSnapshot(codec: FsmSnapshotCodec, body: Uint8Array): Result<FsmSnapshot, string> {
  const decoded = decodeFsmSnapshot(codec, body);
  if (!decoded.ok) return decoded;
  const s = decoded.value;
  if (s.kv.revision > MAX_RESTORE_REVISION) return err(`kv.revision ${s.kv.revision} exceeds ${MAX_RESTORE_REVISION}`);
  const long = s.sessions.findIndex((x) => x.ttlMs > MAX_FSM_TTL_MS);
  if (long >= 0) return err(`sessions[${long}].ttlMs ${s.sessions[long]!.ttlMs} exceeds ${MAX_FSM_TTL_MS}`);
  return decoded;
}

const HEADER_INTEGERS = ['createdAtMs', 'epoch', 'revision', 'appliedIndex', 'keys', 'sessions', 'bodyBytes'] as const;

function parseHeader(bytes: Uint8Array): Result<SnapshotFileHeader, SnapshotFileError> {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    return err({ code: 'bad-header', detail: `not JSON (${e instanceof Error ? e.message : String(e)})` });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return err({ code: 'bad-header', detail: 'not a JSON object' });
  const h = value as Record<string, unknown>;
  if (h['formatVersion'] !== SNAPSHOT_FILE_VERSION) return err({ code: 'bad-header', detail: `formatVersion is ${JSON.stringify(h['formatVersion'])}, not ${SNAPSHOT_FILE_VERSION}` });
  for (const k of HEADER_INTEGERS) {
    const n = h[k];
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) return err({ code: 'bad-header', detail: `${k} is ${JSON.stringify(n)}, not a non-negative integer` });
  }
  for (const k of ['sappersVersion', 'createdAt', 'nodeId'] as const) {
    if (typeof h[k] !== 'string' || (h[k] as string).length > 1024) return err({ code: 'bad-header', detail: `${k} is not a string of at most 1024 characters` });
  }
  if (typeof h['bodySha256'] !== 'string' || !/^[0-9a-f]{64}$/.test(h['bodySha256'])) return err({ code: 'bad-header', detail: 'bodySha256 is not 64 lowercase hex digits' });
  if ((h['bodyBytes'] as number) > MAX_FSM_SNAPSHOT_BYTES) return err({ code: 'bad-header', detail: `bodyBytes ${String(h['bodyBytes'])} exceeds ${MAX_FSM_SNAPSHOT_BYTES}` });
  const header: SnapshotFileHeader = {
    formatVersion: SNAPSHOT_FILE_VERSION,
    sappersVersion: h['sappersVersion'] as string,
    createdAtMs: h['createdAtMs'] as number,
    createdAt: h['createdAt'] as string,
    nodeId: h['nodeId'] as string,
    epoch: h['epoch'] as number,
    revision: h['revision'] as number,
    appliedIndex: h['appliedIndex'] as number,
    keys: h['keys'] as number,
    sessions: h['sessions'] as number,
    bodyBytes: h['bodyBytes'] as number,
    bodySha256: h['bodySha256'],
  };
  return ok(header);
}
