// Shared by the SIGKILL tests and their child process: what each write contains, so the parent
// can check any record or file version without talking to the child.
import type { WalOptions } from '../../../src/runtime/storage/wal.ts';

export const CHILD_WAL_OPTIONS: WalOptions = { segmentBytes: 64 * 1024 };

export function walPayload(index: number): Uint8Array {
  const length = 16 + ((index * 7919) % 2000);
  return Uint8Array.from({ length }, (_, j) => (index * 131 + j * 7) & 0xff);
}

export function atomicContent(n: number): Uint8Array {
  // Lengths vary, so a mix of two versions could not pass for either.
  const length = 100 + ((n * 4099) % 20000);
  return Uint8Array.from({ length }, (_, j) => (n * 17 + j) & 0xff);
}
