// The leader's view of one follower: how much of the log it holds and how the leader feeds it.
//
// probe     - the leader does not know where the logs match: one append at a time, waiting for
//             the answer (or the next heartbeat) before the next (Figure 2 "decrement nextIndex").
// replicate - the follower is keeping up: appends are pipelined, next moves ahead optimistically,
//             bounded by a window of in-flight messages and bytes (flow control).
// snapshot  - the entries it needs were compacted: a snapshot is on its way; nothing else is sent.

import { assert } from '../result.ts';
import type { LogIndex } from './types.ts';

export const PROGRESS_STATES = ['probe', 'replicate', 'snapshot'] as const;
export type ProgressState = (typeof PROGRESS_STATES)[number];

/** Appends sent but not yet acknowledged, oldest first. */
export class Inflights {
  readonly #maxCount: number;
  readonly #maxBytes: number;
  #items: { lastIndex: LogIndex; bytes: number }[] = [];
  #bytes = 0;

  constructor(maxCount: number, maxBytes: number) {
    this.#maxCount = maxCount;
    this.#maxBytes = maxBytes;
  }

  get count(): number {
    return this.#items.length;
  }

  get bytes(): number {
    return this.#bytes;
  }

  full(): boolean {
    return this.#items.length >= this.#maxCount || this.#bytes >= this.#maxBytes;
  }

  add(lastIndex: LogIndex, bytes: number): void {
    assert(!this.full(), 'inflights window is full');
    this.#items.push({ lastIndex, bytes });
    this.#bytes += bytes;
  }

  /** Forgets every message whose entries are all at or below index (acknowledged). */
  freeTo(index: LogIndex): void {
    while (this.#items.length > 0 && this.#items[0]!.lastIndex <= index) {
      this.#bytes -= this.#items.shift()!.bytes;
    }
  }

  /** Frees the oldest slot, so a full window whose acks were lost can make progress again. */
  freeFirst(): void {
    const first = this.#items.shift();
    if (first !== undefined) this.#bytes -= first.bytes;
  }

  reset(): void {
    this.#items = [];
    this.#bytes = 0;
  }
}

export class Progress {
  match: LogIndex = 0;
  next: LogIndex;
  state: ProgressState = 'probe';
  /** probe: an append is outstanding; wait for its answer or the next heartbeat. */
  probeSent = false;
  /** snapshot: the index of the snapshot being sent. */
  pendingSnapshot: LogIndex = 0;
  /** Heard from since the last check-quorum round (thesis 6.2). */
  recentActive = false;
  /** The commit index last told to this follower (to send commit-only appends when it moves). */
  sentCommit: LogIndex = 0;
  /**
   * The follower answered that its log ends below what it had acknowledged: it lost durable
   * state (a wiped or replaced data directory). Raft assumes acknowledged entries never vanish,
   * so it cannot be fed from `match` again, and as a voter it may have forgotten a vote. The
   * runtime takes it out of the configuration; it then rejoins as a new learner.
   */
  regressed = false;
  readonly inflights: Inflights;

  constructor(next: LogIndex, maxInflightMsgs: number, maxInflightBytes: number) {
    this.next = next;
    this.inflights = new Inflights(maxInflightMsgs, maxInflightBytes);
  }

  becomeProbe(): void {
    // After a snapshot, resume right after it; otherwise right after what is known to match.
    const after = this.state === 'snapshot' ? Math.max(this.match, this.pendingSnapshot) : this.match;
    this.state = 'probe';
    this.next = after + 1;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.inflights.reset();
  }

  becomeReplicate(): void {
    this.state = 'replicate';
    this.next = this.match + 1;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.inflights.reset();
  }

  becomeSnapshot(index: LogIndex): void {
    this.state = 'snapshot';
    this.pendingSnapshot = index;
    this.probeSent = false;
    this.inflights.reset();
  }

  /** Records an acknowledgement; false when it tells nothing new (a stale or duplicate ack). */
  maybeUpdate(index: LogIndex): boolean {
    let updated = false;
    if (index > this.match) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /** True when nothing may be sent now (waiting for an answer or a snapshot, or window full). */
  paused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }

  /** Records that entries up to lastIndex were sent. */
  sentEntries(lastIndex: LogIndex, bytes: number): void {
    if (this.state === 'replicate') {
      this.next = lastIndex + 1;
      this.inflights.add(lastIndex, bytes);
    } else {
      this.probeSent = true;
    }
  }
}
