// The simulation trace: one line per event (a send, a delivery, a drop, a crash...), in a stable
// text format with the virtual time first and no object identities or wall-clock times, so two
// runs of one seed produce byte-identical traces and two runs can be compared with diff.
// The SHA-256 digest covers every line ever recorded; the kept lines may be bounded (a ring of
// the last N) so that long sweeps do not hold their whole history in memory.

import { createHash, type Hash } from 'node:crypto';
import { assert } from '../core/result.ts';

export interface TraceOptions {
  /** Keep only the last maxLines lines in memory (default: keep all). The digest covers all. */
  readonly maxLines?: number;
}

export class Trace {
  readonly #now: () => number;
  readonly #maxLines: number;
  readonly #hash: Hash = createHash('sha256');
  #lines: string[] = [];
  /** Index in #lines of the oldest line when the ring is full. */
  #ringStart = 0;
  #count = 0;
  readonly #listeners: Array<(line: string) => void> = [];

  constructor(nowMs: () => number, options: TraceOptions = {}) {
    this.#now = nowMs;
    this.#maxLines = options.maxLines ?? Number.POSITIVE_INFINITY;
    assert(this.#maxLines >= 1, 'Trace maxLines is at least 1');
  }

  /** Records "<time> <source> <text>"; text must be a single line. */
  record(source: string, text: string): void {
    assert(!text.includes('\n') && !source.includes('\n'), 'a trace record is one line');
    const line = `${formatTimeMs(this.#now())} ${source} ${text}`;
    this.#hash.update(line + '\n');
    this.#count++;
    if (this.#lines.length < this.#maxLines) {
      this.#lines.push(line);
    } else {
      this.#lines[this.#ringStart] = line;
      this.#ringStart = (this.#ringStart + 1) % this.#lines.length;
    }
    for (const listener of this.#listeners) listener(line);
  }

  /** Called with each new line (e.g. to stream the trace to stdout). */
  onLine(listener: (line: string) => void): void {
    this.#listeners.push(listener);
  }

  /** Lines recorded so far (including the ones no longer kept). */
  get count(): number {
    return this.#count;
  }

  /** Kept lines, oldest first. */
  lines(): string[] {
    return [...this.#lines.slice(this.#ringStart), ...this.#lines.slice(0, this.#ringStart)];
  }

  /** The last n kept lines. */
  tail(n: number): string[] {
    const all = this.lines();
    return all.slice(Math.max(0, all.length - n));
  }

  /** Kept lines as text, each ending with a newline. */
  text(): string {
    return this.lines().map((l) => l + '\n').join('');
  }

  /** SHA-256 (hex) of every line recorded so far, each followed by a newline. */
  digest(): string {
    return this.#hash.copy().digest('hex');
  }
}

/** Milliseconds with three decimals: drifting clocks make timer times fractional. */
export function formatTimeMs(ms: number): string {
  return ms.toFixed(3);
}
