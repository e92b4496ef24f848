// The event log: every applied change becomes an event carrying the sha256 of the previous one,
// so anyone holding a run of events can tell whether it was altered (DESIGN.md, Events over RPC).
// Only the newest events are kept (bounded memory); the anchor - the seq and hash of the newest
// event dropped - survives compaction and snapshots, so a verifier can start from it.

import { assert } from '../result.ts';
import { sha256Hex } from '../sha256.ts';
import type { ClusterEvent } from './types.ts';

export interface EventAnchor {
  /** Seq of the newest event no longer kept (0 when none was dropped). */
  readonly seq: number;
  /** Its hash ('' when none). */
  readonly hash: string;
}

export type EventBody = Omit<ClusterEvent, 'seq' | 'prevHash' | 'hash'>;

const encoder = new TextEncoder();

/**
 * The bytes hashed for an event: the previous hash, then a JSON body with a fixed key order
 * (and detail keys sorted), so every node and every verifier computes the same digest.
 */
export function eventHash(prevHash: string, seq: number, body: EventBody): string {
  const detail: Record<string, string | number> = {};
  for (const k of Object.keys(body.detail).sort()) detail[k] = body.detail[k]!;
  const canonical = JSON.stringify([seq, body.index, body.atMs, body.type, body.subject, detail]);
  return sha256Hex(encoder.encode(`${prevHash}\n${canonical}`));
}

export class EventLog {
  readonly #maxEvents: number;
  #events: ClusterEvent[] = [];
  #anchor: EventAnchor = { seq: 0, hash: '' };

  constructor(maxEvents: number) {
    assert(Number.isSafeInteger(maxEvents) && maxEvents > 0, 'maxEvents is a positive integer');
    this.#maxEvents = maxEvents;
  }

  get head(): EventAnchor {
    const last = this.#events.at(-1);
    return last === undefined ? this.#anchor : { seq: last.seq, hash: last.hash };
  }

  get anchor(): EventAnchor {
    return this.#anchor;
  }

  append(body: EventBody): ClusterEvent {
    const head = this.head;
    const seq = head.seq + 1;
    const event: ClusterEvent = { seq, ...body, prevHash: head.hash, hash: eventHash(head.hash, seq, body) };
    this.#events.push(event);
    // Trimmed in batches (up to a quarter over the bound), not one splice per event.
    if (this.#events.length > this.#maxEvents + Math.floor(this.#maxEvents / 4)) {
      const dropped = this.#events.splice(0, this.#events.length - this.#maxEvents);
      const newest = dropped.at(-1)!;
      this.#anchor = { seq: newest.seq, hash: newest.hash };
    }
    return event;
  }

  /** Events with seq >= fromSeq that are still kept, at most limit. */
  since(fromSeq: number, limit = Number.POSITIVE_INFINITY): ClusterEvent[] {
    const first = this.#events[0];
    if (first === undefined) return [];
    const start = Math.max(0, fromSeq - first.seq);
    return this.#events.slice(start, start + Math.min(limit, this.#events.length));
  }

  /** The oldest seq still kept (anchor.seq + 1). */
  get firstSeq(): number {
    return this.#anchor.seq + 1;
  }

  all(): readonly ClusterEvent[] {
    return this.#events;
  }

  restore(anchor: EventAnchor, events: readonly ClusterEvent[]): void {
    this.#anchor = anchor;
    this.#events = [...events];
  }
}

export type ChainProblem = { readonly seq: number; readonly problem: string };

/**
 * Checks a run of events against its anchor: consecutive seqs, each prevHash the hash before it,
 * each hash recomputed from its body. Undefined when intact; else the first broken event.
 */
export function verifyChain(anchor: EventAnchor, events: readonly ClusterEvent[]): ChainProblem | undefined {
  let prev = anchor;
  for (const e of events) {
    if (e.seq !== prev.seq + 1) return { seq: e.seq, problem: `seq ${e.seq} follows ${prev.seq}: events are missing` };
    if (e.prevHash !== prev.hash) return { seq: e.seq, problem: `prevHash ${short(e.prevHash)} does not match the previous event's hash ${short(prev.hash)}` };
    const recomputed = eventHash(e.prevHash, e.seq, e);
    if (recomputed !== e.hash) return { seq: e.seq, problem: `hash ${short(e.hash)} does not match its content (recomputed ${short(recomputed)}): the event was altered` };
    prev = { seq: e.seq, hash: e.hash };
  }
  return undefined;
}

function short(hash: string): string {
  return hash === '' ? '(none)' : hash.slice(0, 12);
}
