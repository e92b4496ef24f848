// Following an allocation's log through its stream: GET /v1/allocs/ID/logs?stream=&offset=&limit=
// with Accept: text/event-stream (src/api/allocs.ts followLogs) sends `event: log` with the body
// of one read, {data (base64), offset, nextOffset, size}, at once and then for every new stretch
// (the agent reads the file again every second, each read from the previous nextOffset, which is
// also the event's id). The stream starts with the last 64 KiB (a negative offset counts back
// from the end). The node rotates logs by copy-and-truncate (docs/operator-guide.md, "How a node
// runs an allocation"): an offset past the file's end is read from 0 by the agent
// (src/agent/workloads.ts: the read's offset is then below the one expected), and a size smaller
// than the last one seen means the file was truncated even though the offset still fits; both
// start over at 0, marked in the text. This class only interprets the reads; jobs-logs.tsx owns
// the stream and opens a new one where receive() says so.

import type { AllocLogs } from './jobs-parts.ts';

export const LOG_TAIL_BYTES = 64 * 1024;
/** Bytes the agent reads per second of the followed log (?limit; the route allows up to 1 MiB). */
export const LOG_READ_LIMIT_BYTES = 4 * LOG_TAIL_BYTES;
/** Characters kept on screen (older output is dropped at a line break). */
const MAX_LOG_CHARS = 256 * 1024;
/** Further behind than this after a read, the follower skips to the last 64 KiB (and says so). */
const MAX_BEHIND_BYTES = 3 * LOG_TAIL_BYTES;

/**
 * Interprets the reads of one followed log file. Keeps the newest output as text (bounded),
 * decoding UTF-8 across reads.
 */
export class LogFollower {
  readonly #maxChars: number;
  #next = -LOG_TAIL_BYTES;
  #lastSize = -1;
  #decoder = new TextDecoder('utf-8');
  #text = '';

  constructor(maxChars = MAX_LOG_CHARS) {
    this.#maxChars = maxChars;
  }

  get text(): string {
    return this.#text;
  }

  /** The live file's size at the last read (-1 before the first). */
  get size(): number {
    return this.#lastSize;
  }

  /** Where the next read starts: the ?offset to (re)open the stream at. */
  get next(): number {
    return this.#next;
  }

  /**
   * Takes one read. Returns undefined to keep following the same stream, or the offset to open
   * a new stream at (this read was not used past the marker): the file was truncated under an
   * offset that still fits, or the writer outran the agent's reads.
   */
  receive(r: AllocLogs): number | undefined {
    const asked = this.#next;
    if (asked > 0 && r.offset < asked) {
      // The agent found the file shorter than our offset and read from 0: it was rotated.
      this.#startOver('log rotated');
    } else if (asked > 0 && r.size < this.#lastSize) {
      // Truncated under us although our offset still fits: what came back is from the middle
      // of the new file. Read it from its start instead.
      this.#startOver('log rotated');
      this.#next = 0;
      this.#lastSize = -1;
      return 0;
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
    const behind = r.size - r.nextOffset;
    if (behind > MAX_BEHIND_BYTES) {
      // Written faster than the agent reads it: jump to the end rather than fall further behind.
      this.#startOver(`${behind} bytes skipped`);
      this.#next = -LOG_TAIL_BYTES;
      return this.#next;
    }
    return undefined;
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
