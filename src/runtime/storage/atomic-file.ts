// Small files that must be all-old or all-new after a crash (Raft hard state, snapshot files,
// the WAL's first-index marker). The protocol is the classic one: write a temporary file, fsync
// it, rename it over the target, fsync the directory (rename(2) is atomic but not durable until
// the directory is synced; Pillai et al., OSDI 2014). A header with a checksum makes a damaged
// file an error the caller sees, never data it trusts.
//
// Layout (little endian):
//   0  magic   "SAPF"
//   4  u32     format version (1)
//   8  u64     payload length
//  16  u32     CRC-32C over bytes 4..16 and the payload
//  20  payload

import { dirname } from 'node:path';
import { err, ok, type Result } from '../../core/result.ts';
import { crc32c } from './crc32c.ts';
import type { FileSystem } from './fs.ts';
import { StorageError } from './fs.ts';

const MAGIC = [0x53, 0x41, 0x50, 0x46] as const; // "SAPF"
const VERSION = 1;
export const ATOMIC_HEADER_BYTES = 20;

export type AtomicFileProblem = 'truncated' | 'bad-magic' | 'unsupported-version' | 'length-mismatch' | 'checksum-mismatch';

/** The file exists but is not a whole, intact atomic file. Never returned as data. */
export class AtomicFileCorruptError extends StorageError {
  readonly problem: AtomicFileProblem;
  constructor(path: string, problem: AtomicFileProblem, detail: string) {
    super('corrupt', path, `${path}: ${problem}: ${detail}`);
    this.name = 'AtomicFileCorruptError';
    this.problem = problem;
  }
}

export function encodeAtomic(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(ATOMIC_HEADER_BYTES + data.length);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  view.setUint32(4, VERSION, true);
  view.setBigUint64(8, BigInt(data.length), true);
  view.setUint32(16, crc32c(data, crc32c(out.subarray(4, 16))), true);
  out.set(data, ATOMIC_HEADER_BYTES);
  return out;
}

export function decodeAtomic(path: string, file: Uint8Array): Result<Uint8Array, AtomicFileCorruptError> {
  if (file.length < ATOMIC_HEADER_BYTES) {
    return err(new AtomicFileCorruptError(path, 'truncated', `${file.length} bytes, shorter than the ${ATOMIC_HEADER_BYTES}-byte header`));
  }
  if (MAGIC.some((b, i) => file[i] !== b)) return err(new AtomicFileCorruptError(path, 'bad-magic', 'not a Sappers atomic file'));
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const version = view.getUint32(4, true);
  const length = view.getBigUint64(8, true);
  const stored = view.getUint32(16, true);
  const payload = file.subarray(ATOMIC_HEADER_BYTES);
  // Check the checksum before trusting version or length: a flipped bit there is corruption,
  // not a file from the future.
  if (length !== BigInt(payload.length)) {
    return err(new AtomicFileCorruptError(path, 'length-mismatch', `header says ${length} payload bytes, file has ${payload.length}`));
  }
  const actual = crc32c(payload, crc32c(file.subarray(4, 16)));
  if (actual !== stored) {
    return err(new AtomicFileCorruptError(path, 'checksum-mismatch', `stored CRC ${hex(stored)}, computed ${hex(actual)}`));
  }
  if (version !== VERSION) return err(new AtomicFileCorruptError(path, 'unsupported-version', `format version ${version}, this build reads ${VERSION}`));
  return ok(payload);
}

/**
 * Replaces path with data so that after a crash at any point the file holds either its old
 * content or data, never a mix. Resolves once the new content is durable. Not safe against a
 * concurrent writeAtomic to the same path (one owner per file).
 */
export async function writeAtomic(fs: FileSystem, path: string, data: Uint8Array): Promise<void> {
  const tmp = `${path}.tmp`;
  // A temporary file left by an earlier crash holds garbage; start it afresh.
  await fs.remove(tmp);
  const handle = await fs.open(tmp, { create: true });
  try {
    await handle.append(encodeAtomic(data));
    await handle.sync();
  } catch (e) {
    await handle.close().catch(() => undefined);
    await fs.remove(tmp).catch(() => undefined);
    throw e;
  }
  await handle.close();
  await fs.rename(tmp, path);
  await fs.syncDir(dirname(path));
}

/**
 * The payload of an atomic file; ok(undefined) when it does not exist; an error value when it
 * exists but is damaged. I/O failures reject with StorageError.
 */
export async function readAtomic(fs: FileSystem, path: string): Promise<Result<Uint8Array | undefined, AtomicFileCorruptError>> {
  const file = await fs.readFile(path);
  if (file === undefined) return ok(undefined);
  return decodeAtomic(path, file);
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}
