// Following an allocation's log without a stream (src/api/allocs.ts has none): repeated reads
// of GET /v1/allocs/ID/logs?stream=&offset=&limit= -> {data (base64), offset, nextOffset, size}.
// The first read takes the last 64 KiB (a negative offset counts back from the end), each next
// one starts at the previous nextOffset. The node rotates logs by copy-and-truncate
// (docs/operator-guide.md, "How a node runs an allocation"): an offset past the file's end is
// read from 0 by the agent (src/agent/workloads.ts: the answer's offset is then below the one
// asked), and a size smaller than the last one seen means the file was truncated even though our
// offset still fits; both start over at 0, marked in the text.

import type { AllocLogs } from './jobs-parts.ts';

export const LOG_TAIL_BYTES = 64 * 1024;
export const LOG_POLL_MS = 2000;
/** Characters kept on screen (older output is dropped at a line break). */
const MAX_LOG_CHARS = 256 * 1024;
/** Reads in one poll when the log grew faster than one read takes (64 KiB each). */
const MAX_READS_PER_POLL = 4;
/** Further behind than this after a read, the follower skips to the last 64 KiB (and says so). */
const MAX_BEHIND_BYTES = 3 * LOG_TAIL_BYTES;

/**
 * Follows one log file through repeated reads: `read(offset)` is one GET of the logs route.
 * Keeps the newest output as text (bounded), decoding UTF-8 across reads.
 */
export class LogFollower {
  readonly #read: (offset: number) => Promise<AllocLogs>;
  readonly #maxChars: number;
  #next = -LOG_TAIL_BYTES;
  #lastSize = -1;
  #decoder = new TextDecoder('utf-8');
  #text = '';

  constructor(read: (offset: number) => Promise<AllocLogs>, maxChars = MAX_LOG_CHARS) {
    this.#read = read;
    this.#maxChars = maxChars;
  }

  get text(): string {
    return this.#text;
  }

  /** The live file's size at the last read (-1 before the first). */
  get size(): number {
    return this.#lastSize;
  }

  /** One round: reads until caught up with the file's end, at most MAX_READS_PER_POLL times. */
  async poll(): Promise<void> {
    for (let i = 0; i < MAX_READS_PER_POLL; i++) {
      const asked = this.#next;
      let r = await this.#read(asked);
      if (asked > 0 && r.offset < asked) {
        // The agent found the file shorter than our offset and read from 0: it was rotated.
        this.#startOver('log rotated');
      } else if (asked > 0 && r.size < this.#lastSize) {
        // Truncated under us although our offset still fits: what came back is from the middle
        // of the new file. Read it from its start instead.
        this.#startOver('log rotated');
        r = await this.#read(0);
      }
      let text = this.#decoder.decode(base64Bytes(r.data), { stream: true });
      // A tail read starts anywhere: drop the partial first line (and any split character).
      if (asked < 0 && r.offset > 0) {
        const newline = text.indexOf('\n');
        text = newline < 0 ? '' : text.slice(newline + 1);
      }
      this.#append(text);
      this.#next = r.nextOffset;
      this.#lastSize = r.size;
      if (r.nextOffset >= r.size || r.data.length === 0) return;
      const behind = r.size - r.nextOffset;
      if (behind > MAX_BEHIND_BYTES) {
        // Written faster than we read: jump to the end rather than fall further behind.
        this.#startOver(`${behind} bytes skipped`);
        this.#next = -LOG_TAIL_BYTES;
      }
    }
  }

  #startOver(why: string): void {
    this.#decoder = new TextDecoder('utf-8');
    this.#append(`${this.#text === '' || this.#text.endsWith('\n') ? '' : '\n'}--- ${why} ---\n`);
  }

  #append(more: string): void {
    let text = this.#text + more;
    if (text.length > this.#maxChars) {
      const cut = text.length - this.#maxChars;
      const newline = text.indexOf('\n', cut);
      text = text.slice(newline === -1 ? cut : newline + 1);
    }
    this.#text = text;
  }
}

function base64Bytes(b64: string): Uint8Array {
  const binary = atob(b64);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}
