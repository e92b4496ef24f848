// On-disk encodings of the Raft storage (src/runtime/storage/raft-storage.ts): log entry records
// (WAL payloads), the hard state, snapshot files and the frames of a partially received
// snapshot. Decoders treat bytes as untrusted: they never throw, and say what is wrong.
//
// Log entry record (a WAL payload; the WAL record's index is the Raft index, so it is not
// repeated): msgpack [1, term, type, data, config], type 0 = normal, 1 = config; config is
// [voters, learners] on config entries and nil otherwise.
// Hard state: msgpack [1, term, vote or nil, commit], inside an atomic file (atomic-file.ts).
//
// Snapshot file (little endian):
//   0        "SSNP"
//   4        u32 format version (1)
//   8        u32 M, length of the meta
//   12       meta: msgpack [index, term, voters, learners]
//   12+M     u64 D, length of the data
//   20+M     data (D bytes, the state machine's snapshot)
//   20+M+D   u32 CRC-32C of every byte before it
// The checksum is a trailer so a writer can stream the data and never hold two copies.
//
// Partial incoming snapshot: a sequence of frames [u32 length][u32 CRC-32C over the length
// field and the payload][payload]. Frame 0 holds msgpack [1, index, term, voters, learners,
// totalBytes]; the others hold consecutive pieces of the data. Per-frame checksums let a restart
// find exactly how much arrived intact: a crash can tear the last unsynced frame (or fill it
// with garbage), and the transfer resumes after the last frame that verifies.

import { Packr } from 'msgpackr';
import { err, ok, type Result } from '../../core/result.ts';
import type { ClusterConfig, Entry, HardState, NodeId, SnapshotMeta } from '../../core/raft/types.ts';
import { crc32c } from './crc32c.ts';

const RECORD_VERSION = 1;
const SNAPSHOT_MAGIC = [0x53, 0x53, 0x4e, 0x50] as const; // "SSNP"
const SNAPSHOT_VERSION = 1;
/** Fixed bytes of a snapshot file around its meta and data. */
export const SNAPSHOT_OVERHEAD_BYTES = 24;
export const FRAME_HEADER_BYTES = 8;

// Plain msgpack values only (no records, no extension types), numbers up to 2^53 as numbers.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false, int64AsType: 'number' });

function pack(value: unknown): Uint8Array {
  // Copy out of msgpackr's shared scratch buffer: the WAL holds records until they are written.
  // (set() copies in bulk; Uint8Array.from would iterate byte by byte.)
  const packed = packr.pack(value);
  const out = new Uint8Array(packed.length);
  out.set(packed);
  return out;
}

function unpack(bytes: Uint8Array): Result<unknown, string> {
  try {
    return ok(packr.unpack(bytes));
  } catch (e) {
    return err(`not msgpack: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function asBytes(v: unknown): Uint8Array | undefined {
  if (!(v instanceof Uint8Array)) return undefined;
  // msgpackr hands out Buffers; callers (and deepEqual in tests) expect plain Uint8Arrays.
  return v.constructor === Uint8Array ? v : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

function encodeConfig(c: ClusterConfig): [string[], string[]] {
  return [[...c.voters], [...c.learners]];
}

function decodeConfig(voters: unknown, learners: unknown): ClusterConfig | undefined {
  const ids = (v: unknown): NodeId[] | undefined =>
    Array.isArray(v) && v.every((x) => typeof x === 'string' && x.length > 0) ? (v as NodeId[]) : undefined;
  const vs = ids(voters);
  const ls = ids(learners);
  if (vs === undefined || ls === undefined) return undefined;
  return { voters: vs, learners: ls };
}

// ---- log entries ----

export function encodeEntry(e: Entry): Uint8Array {
  return pack([RECORD_VERSION, e.term, e.type === 'config' ? 1 : 0, e.data, e.config === undefined ? null : encodeConfig(e.config)]);
}

/** The entry stored at index, or what is wrong with the record. */
export function decodeEntry(index: number, bytes: Uint8Array): Result<Entry, string> {
  const value = unpack(bytes);
  if (!value.ok) return value;
  const v = value.value;
  if (!Array.isArray(v) || v.length !== 5) return err('not an entry record [version, term, type, data, config]');
  const [version, term, type, data, config] = v as unknown[];
  if (version !== RECORD_VERSION) return err(`unsupported entry record version ${String(version)}`);
  if (!isCount(term)) return err(`term ${String(term)} is not a non-negative integer`);
  const bytesData = asBytes(data);
  if (bytesData === undefined) return err('data is not a byte string');
  if (type === 0) {
    if (config !== null) return err('a normal entry carries a configuration');
    return ok({ term, index, type: 'normal', data: bytesData });
  }
  if (type === 1) {
    if (!Array.isArray(config) || config.length !== 2) return err('a config entry lacks its [voters, learners]');
    const decoded = decodeConfig(config[0], config[1]);
    if (decoded === undefined) return err('configuration members are not node id strings');
    return ok({ term, index, type: 'config', data: bytesData, config: decoded });
  }
  return err(`unknown entry type ${String(type)}`);
}

// ---- hard state ----

export function encodeHardState(hs: HardState): Uint8Array {
  return pack([RECORD_VERSION, hs.term, hs.vote ?? null, hs.commit]);
}

export function decodeHardState(bytes: Uint8Array): Result<HardState, string> {
  const value = unpack(bytes);
  if (!value.ok) return value;
  const v = value.value;
  if (!Array.isArray(v) || v.length !== 4) return err('not a hard state [version, term, vote, commit]');
  const [version, term, vote, commit] = v as unknown[];
  if (version !== RECORD_VERSION) return err(`unsupported hard state version ${String(version)}`);
  if (!isCount(term) || !isCount(commit)) return err('term or commit is not a non-negative integer');
  if (vote !== null && (typeof vote !== 'string' || vote.length === 0)) return err('vote is neither nil nor a node id');
  return ok({ term, vote: vote === null ? undefined : (vote as NodeId), commit });
}

// ---- snapshot files ----

function encodeMeta(meta: SnapshotMeta): Uint8Array {
  return pack([meta.index, meta.term, ...encodeConfig(meta.config)]);
}

function decodeMeta(bytes: Uint8Array): Result<SnapshotMeta, string> {
  const value = unpack(bytes);
  if (!value.ok) return value;
  const v = value.value;
  if (!Array.isArray(v) || v.length !== 4) return err('meta is not [index, term, voters, learners]');
  const [index, term, voters, learners] = v as unknown[];
  if (!isCount(index) || !isCount(term)) return err('meta index or term is not a non-negative integer');
  const config = decodeConfig(voters, learners);
  if (config === undefined) return err('meta configuration members are not node id strings');
  return ok({ index, term, config });
}

/** The bytes before the data: magic, version, meta and the data length. */
export function encodeSnapshotHeader(meta: SnapshotMeta, dataBytes: number): Uint8Array {
  const m = encodeMeta(meta);
  const out = new Uint8Array(20 + m.length);
  const view = new DataView(out.buffer);
  out.set(SNAPSHOT_MAGIC, 0);
  view.setUint32(4, SNAPSHOT_VERSION, true);
  view.setUint32(8, m.length, true);
  out.set(m, 12);
  view.setBigUint64(12 + m.length, BigInt(dataBytes), true);
  return out;
}

/** The trailer: CRC-32C of header and data. */
export function encodeSnapshotTrailer(header: Uint8Array, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, crc32c(data, crc32c(header)), true);
  return out;
}

/** A whole snapshot file, or what is wrong with it. */
export function decodeSnapshotFile(file: Uint8Array): Result<{ meta: SnapshotMeta; data: Uint8Array }, string> {
  if (file.length < SNAPSHOT_OVERHEAD_BYTES) return err(`${file.length} bytes, shorter than the smallest snapshot file`);
  if (SNAPSHOT_MAGIC.some((b, i) => file[i] !== b)) return err('bad magic (not a snapshot file)');
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  // Checksum first: a flipped bit in a length field is damage, not a strange layout.
  const stored = view.getUint32(file.length - 4, true);
  const actual = crc32c(file.subarray(0, file.length - 4));
  if (stored !== actual) return err(`checksum mismatch (stored ${hex32(stored)}, computed ${hex32(actual)})`);
  const version = view.getUint32(4, true);
  if (version !== SNAPSHOT_VERSION) return err(`unsupported snapshot format version ${version}`);
  const metaLength = view.getUint32(8, true);
  if (12 + metaLength + 8 + 4 > file.length) return err(`meta length ${metaLength} exceeds the file`);
  const dataLength = view.getBigUint64(12 + metaLength, true);
  const dataStart = 20 + metaLength;
  if (dataLength !== BigInt(file.length - 4 - dataStart)) return err(`data length ${dataLength} does not match the file size ${file.length}`);
  const meta = decodeMeta(file.subarray(12, 12 + metaLength));
  if (!meta.ok) return meta;
  return ok({ meta: meta.value, data: file.subarray(dataStart, file.length - 4) });
}

// ---- partial incoming snapshots ----

export interface IncomingHeader {
  readonly meta: SnapshotMeta;
  readonly totalBytes: number;
}

export function encodeFrame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_BYTES + payload.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, payload.length, true);
  out.set(payload, FRAME_HEADER_BYTES);
  view.setUint32(4, crc32c(payload, crc32c(out.subarray(0, 4))), true);
  return out;
}

export function encodeIncomingHeader(h: IncomingHeader): Uint8Array {
  return encodeFrame(pack([RECORD_VERSION, h.meta.index, h.meta.term, ...encodeConfig(h.meta.config), h.totalBytes]));
}

export interface ScannedIncoming {
  /** undefined when even the header frame is missing or damaged. */
  readonly header: IncomingHeader | undefined;
  /** Data pieces of the frames that verify, in order (views into the file). */
  readonly pieces: readonly Uint8Array[];
  readonly dataBytes: number;
  /** Bytes of the file up to the end of the last frame that verifies. */
  readonly validBytes: number;
}

/** Reads frames up to the first one that is incomplete or does not verify. */
export function scanIncoming(file: Uint8Array, maxFrameBytes: number): ScannedIncoming {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const frames: Uint8Array[] = [];
  let pos = 0;
  while (pos + FRAME_HEADER_BYTES <= file.length) {
    const length = view.getUint32(pos, true);
    if (length > maxFrameBytes || pos + FRAME_HEADER_BYTES + length > file.length) break;
    const payload = file.subarray(pos + FRAME_HEADER_BYTES, pos + FRAME_HEADER_BYTES + length);
    if (crc32c(payload, crc32c(file.subarray(pos, pos + 4))) !== view.getUint32(pos + 4, true)) break;
    frames.push(payload);
    pos += FRAME_HEADER_BYTES + length;
  }
  const [first, ...pieces] = frames;
  const header = first === undefined ? undefined : decodeIncomingHeader(first);
  if (header === undefined) return { header: undefined, pieces: [], dataBytes: 0, validBytes: 0 };
  return { header, pieces, dataBytes: pieces.reduce((n, p) => n + p.length, 0), validBytes: pos };
}

function decodeIncomingHeader(payload: Uint8Array): IncomingHeader | undefined {
  const value = unpack(payload);
  if (!value.ok || !Array.isArray(value.value) || value.value.length !== 6) return undefined;
  const [version, index, term, voters, learners, totalBytes] = value.value as unknown[];
  if (version !== RECORD_VERSION || !isCount(index) || !isCount(term) || !isCount(totalBytes)) return undefined;
  const config = decodeConfig(voters, learners);
  if (config === undefined) return undefined;
  return { meta: { index, term, config }, totalBytes };
}

export function sameMeta(a: SnapshotMeta, b: SnapshotMeta): boolean {
  const same = (x: readonly string[], y: readonly string[]): boolean => x.length === y.length && x.every((v, i) => v === y[i]);
  return a.index === b.index && a.term === b.term && same(a.config.voters, b.config.voters) && same(a.config.learners, b.config.learners);
}

function hex32(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}
