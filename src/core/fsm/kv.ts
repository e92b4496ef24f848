// The KV store of the replicated state machine, etcd's model: one revision counter for the whole
// store, per key its create and mod revisions and a version, compare-and-swap on modRevision,
// and a bounded history of changes so a watch can start from a past revision.

import { assert } from '../result.ts';
import type { KvChange, KvEntry, Revision } from './types.ts';

export type WatchStart =
  | { readonly ok: true; readonly changes: readonly KvChange[] }
  /** The revision is older than the history kept: the watcher must re-read and start anew. */
  | { readonly ok: false; readonly compactedBefore: Revision };

export class KvStore {
  readonly #maxHistory: number;
  #entries = new Map<string, KvEntry>();
  #revision: Revision = 0;
  #history: KvChange[] = [];

  constructor(maxHistory: number) {
    assert(Number.isSafeInteger(maxHistory) && maxHistory > 0, 'maxHistory is a positive integer');
    this.#maxHistory = maxHistory;
  }

  get revision(): Revision {
    return this.#revision;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string): KvEntry | undefined {
    return this.#entries.get(key);
  }

  /** Keys starting with prefix, sorted, at most limit (and whether more exist). */
  list(prefix: string, limit = Number.POSITIVE_INFINITY): { entries: KvEntry[]; more: boolean } {
    const keys = [...this.#entries.keys()].filter((k) => k.startsWith(prefix)).sort();
    const chosen = keys.slice(0, limit);
    return { entries: chosen.map((k) => this.#entries.get(k)!), more: keys.length > chosen.length };
  }

  put(key: string, value: Uint8Array, session: string | undefined): KvEntry {
    const revision = ++this.#revision;
    const before = this.#entries.get(key);
    const entry: KvEntry = {
      key,
      value,
      createRevision: before?.createRevision ?? revision,
      modRevision: revision,
      version: (before?.version ?? 0) + 1,
      session,
    };
    this.#entries.set(key, entry);
    this.#record({ revision, type: 'put', key, entry });
    return entry;
  }

  /** Deletes the key (which must exist); returns the new revision. */
  delete(key: string): Revision {
    assert(this.#entries.has(key), `deleting absent key ${key}`);
    const revision = ++this.#revision;
    this.#entries.delete(key);
    this.#record({ revision, type: 'delete', key, entry: undefined });
    return revision;
  }

  /** Keys attached to a session, in insertion order. */
  keysOfSession(session: string): string[] {
    const out: string[] = [];
    for (const e of this.#entries.values()) if (e.session === session) out.push(e.key);
    return out;
  }

  /** Changes with revision >= from under prefix, or the point the history was compacted at. */
  changesSince(from: Revision, prefix: string): WatchStart {
    // History is contiguous up to the current revision; revisions below its first were dropped.
    const oldest = this.#history[0]?.revision ?? this.#revision + 1;
    if (from < oldest && oldest > 1) return { ok: false, compactedBefore: oldest };
    const changes = this.#history.filter((c) => c.revision >= from && c.key.startsWith(prefix));
    return { ok: true, changes };
  }

  snapshot(): { revision: Revision; entries: KvEntry[]; history: KvChange[] } {
    return { revision: this.#revision, entries: [...this.#entries.values()], history: [...this.#history] };
  }

  restore(s: { revision: Revision; entries: readonly KvEntry[]; history: readonly KvChange[] }): void {
    this.#revision = s.revision;
    this.#entries = new Map(s.entries.map((e) => [e.key, e]));
    this.#history = [...s.history];
  }

  /**
   * Replaces every entry at once (a snapshot restore) and moves the revision to `revision`, which
   * must not go back. The history is emptied: it described keys that are gone, so a watch from
   * any revision up to `revision` is told to re-read (changesSince answers compactedBefore).
   */
  replaceAll(entries: readonly KvEntry[], revision: Revision): void {
    assert(revision >= this.#revision, `the revision goes from ${this.#revision} back to ${revision}`);
    for (const e of entries) assert(e.modRevision <= revision, `entry ${e.key} has modRevision ${e.modRevision} beyond ${revision}`);
    this.#revision = revision;
    this.#entries = new Map(entries.map((e) => [e.key, e]));
    this.#history = [];
  }

  #record(change: KvChange): void {
    this.#history.push(change);
    // Trimmed in batches (up to a quarter over the bound): a splice per change moves the whole
    // array each time, which cost more than the rest of a put together.
    if (this.#history.length > this.#maxHistory + Math.floor(this.#maxHistory / 4)) this.#history.splice(0, this.#history.length - this.#maxHistory);
  }
}
