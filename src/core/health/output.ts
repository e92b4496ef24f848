// Check output is bounded (DESIGN.md, Style: bound everything). It travels to the leader in
// batched health reports and appears in the API, so one chatty health endpoint or script must not
// bloat either. Consul caps check output at 4 KiB by default (check_output_max_size); so do we.

import { assert } from '../result.ts';

export const MAX_CHECK_OUTPUT_BYTES = 4096;

/**
 * Which end of an over-long output to keep: the head for an HTTP body (the start says what it
 * is), the tail for a program's output (the last lines say why it failed).
 */
export type KeepEnd = 'head' | 'tail';

/** UTF-8 length of a string, without an encoder (a lone surrogate encodes as U+FFFD: 3 bytes). */
export function utf8Bytes(text: string): number {
  let bytes = 0;
  for (const ch of text) bytes += codePointBytes(ch.codePointAt(0) ?? 0);
  return bytes;
}

function codePointBytes(cp: number): number {
  if (cp < 0x80) return 1;
  if (cp < 0x800) return 2;
  if (cp < 0x10000) return 3;
  return 4;
}

/**
 * `text` if it fits in maxBytes of UTF-8, else the kept end cut on a character boundary plus a
 * note saying how long the original was; the result never exceeds maxBytes.
 */
export function boundOutput(text: string, maxBytes: number = MAX_CHECK_OUTPUT_BYTES, keep: KeepEnd = 'head'): string {
  assert(Number.isSafeInteger(maxBytes) && maxBytes >= 64, `maxBytes must be an integer >= 64, got ${maxBytes}`);
  const total = utf8Bytes(text);
  if (total <= maxBytes) return text;
  const note = keep === 'head' ? `\n[output truncated: first part of ${total} bytes]` : `[output truncated: last part of ${total} bytes]\n`;
  const budget = maxBytes - utf8Bytes(note);
  const chars = Array.from(text);
  if (keep === 'head') {
    let used = 0;
    let end = 0;
    while (end < chars.length) {
      const n = codePointBytes(chars[end]!.codePointAt(0) ?? 0);
      if (used + n > budget) break;
      used += n;
      end++;
    }
    return chars.slice(0, end).join('') + note;
  }
  let used = 0;
  let start = chars.length;
  while (start > 0) {
    const n = codePointBytes(chars[start - 1]!.codePointAt(0) ?? 0);
    if (used + n > budget) break;
    used += n;
    start--;
  }
  return note + chars.slice(start).join('');
}
