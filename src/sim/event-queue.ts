// The simulator's agenda: callbacks ordered by due time, then by insertion sequence. The
// sequence number makes ties deterministic (two events due at the same millisecond always run
// in the order they were scheduled), which is what lets one seed replay one run exactly.
// A binary heap keeps schedule and pop at O(log n); cancelled events are deleted lazily and the
// heap is rebuilt when they outnumber the live ones, so cancel-heavy code (timers re-armed on
// every message) cannot grow memory without bound.

import { assert } from '../core/result.ts';

export interface ScheduledEvent {
  readonly atMs: number;
  readonly seq: number;
  /** True once cancelled or run; a cancelled event never runs. */
  readonly done: boolean;
  cancel(): void;
}

class Entry implements ScheduledEvent {
  readonly atMs: number;
  readonly seq: number;
  readonly fn: () => void;
  done = false;
  readonly #onCancel: (entry: Entry) => void;

  constructor(atMs: number, seq: number, fn: () => void, onCancel: (entry: Entry) => void) {
    this.atMs = atMs;
    this.seq = seq;
    this.fn = fn;
    this.#onCancel = onCancel;
  }

  cancel(): void {
    if (this.done) return;
    this.done = true;
    this.#onCancel(this);
  }
}

/** Rebuild the heap when at least this many cancelled entries are waiting in it... */
const MIN_CANCELLED_FOR_COMPACTION = 1024;

export class EventQueue {
  #heap: Entry[] = [];
  #nextSeq = 0;
  #cancelledInHeap = 0;

  /** Live (not cancelled, not yet run) events. */
  get size(): number {
    return this.#heap.length - this.#cancelledInHeap;
  }

  schedule(atMs: number, fn: () => void): ScheduledEvent {
    assert(Number.isFinite(atMs), `event time must be finite, got ${atMs}`);
    const entry = new Entry(atMs, this.#nextSeq++, fn, () => this.#noteCancelled());
    this.#push(entry);
    return entry;
  }

  /** Due time of the earliest live event, or undefined when the queue is empty. */
  peekTimeMs(): number | undefined {
    this.#dropCancelledTop();
    return this.#heap[0]?.atMs;
  }

  /** Removes and returns the earliest live event (marked done), without running it. */
  pop(): { readonly atMs: number; readonly fn: () => void } | undefined {
    this.#dropCancelledTop();
    const top = this.#popTop();
    if (top === undefined) return undefined;
    top.done = true;
    return top;
  }

  #noteCancelled(): void {
    this.#cancelledInHeap++;
    if (this.#cancelledInHeap >= MIN_CANCELLED_FOR_COMPACTION && this.#cancelledInHeap * 2 > this.#heap.length) {
      this.#compact();
    }
  }

  #compact(): void {
    const live = this.#heap.filter((e) => !e.done);
    this.#heap = [];
    this.#cancelledInHeap = 0;
    for (const e of live) this.#push(e);
  }

  #dropCancelledTop(): void {
    while (this.#heap.length > 0 && this.#heap[0]!.done) {
      this.#popTop();
      this.#cancelledInHeap--;
    }
  }

  #push(entry: Entry): void {
    const heap = this.#heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  #popTop(): Entry | undefined {
    const heap = this.#heap;
    const top = heap[0];
    if (top === undefined) return undefined;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && before(heap[l]!, heap[m]!)) m = l;
        if (r < heap.length && before(heap[r]!, heap[m]!)) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m]!, heap[i]!];
        i = m;
      }
    }
    return top;
  }
}

function before(a: Entry, b: Entry): boolean {
  return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq);
}
