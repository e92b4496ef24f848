// The Raft log as the core sees it: the newest snapshot's position, then every entry after it,
// all in memory (compaction bounds it), with three marks:
//   stable    - the highest index the runtime confirmed durable (advance());
//   handedOut - the highest index handed out in a Ready for persisting (stable <= handedOut);
//   commit    - the highest index known committed (Figure 2, commitIndex);
//   applied   - the highest index handed out for applying (Figure 2, lastApplied).
// Configurations are tracked per index, because the newest configuration in the log is in effect
// whether committed or not, and a truncated suffix takes its configuration with it (thesis 4.1).

import { assert } from '../result.ts';
import type { ClusterConfig, Entry, LogIndex, SnapshotMeta, Term } from './types.ts';

export function entryBytes(e: Entry): number {
  // The data plus a fixed allowance for index, term, type and framing.
  return e.data.length + 24;
}

export class RaftLog {
  /** The entry just before entries[0]: the newest compaction point. */
  #offsetIndex: LogIndex;
  #offsetTerm: Term;
  /** The configuration in effect at #offsetIndex. */
  #offsetConfig: ClusterConfig;
  #entries: Entry[];
  /** Config entries among #entries, oldest first. */
  #configs: { index: LogIndex; config: ClusterConfig }[] = [];
  stable: LogIndex;
  handedOut: LogIndex;
  commit: LogIndex;
  applied: LogIndex;

  constructor(snapshot: SnapshotMeta, entries: readonly Entry[], commit: LogIndex) {
    this.#offsetIndex = snapshot.index;
    this.#offsetTerm = snapshot.term;
    this.#offsetConfig = snapshot.config;
    this.#entries = [];
    for (const e of entries) this.#push(e);
    this.stable = this.lastIndex;
    this.handedOut = this.lastIndex;
    this.commit = Math.max(commit, snapshot.index);
    this.applied = snapshot.index;
  }

  get firstIndex(): LogIndex {
    return this.#offsetIndex + 1;
  }

  get lastIndex(): LogIndex {
    return this.#offsetIndex + this.#entries.length;
  }

  get lastTerm(): Term {
    return this.#entries.at(-1)?.term ?? this.#offsetTerm;
  }

  get offsetIndex(): LogIndex {
    return this.#offsetIndex;
  }

  /** The term of the entry at index; undefined when compacted away (below the offset) or absent. */
  term(index: LogIndex): Term | undefined {
    if (index === this.#offsetIndex) return this.#offsetTerm;
    if (index < this.#offsetIndex || index > this.lastIndex) return undefined;
    return this.#entries[index - this.#offsetIndex - 1]!.term;
  }

  entry(index: LogIndex): Entry | undefined {
    if (index <= this.#offsetIndex || index > this.lastIndex) return undefined;
    return this.#entries[index - this.#offsetIndex - 1];
  }

  matchTerm(index: LogIndex, term: Term): boolean {
    return this.term(index) === term;
  }

  /** Entries in [from, to], at most maxBytes (but always at least one when the range is non-empty). */
  slice(from: LogIndex, to: LogIndex, maxBytes = Number.POSITIVE_INFINITY): Entry[] {
    assert(from > this.#offsetIndex, `slice from ${from} is compacted (offset ${this.#offsetIndex})`);
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = from; i <= Math.min(to, this.lastIndex); i++) {
      const e = this.#entries[i - this.#offsetIndex - 1]!;
      bytes += entryBytes(e);
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  /** The configuration in effect: the newest in the log, committed or not (thesis 4.1). */
  get config(): ClusterConfig {
    return this.#configs.at(-1)?.config ?? this.#offsetConfig;
  }

  /** Index of the newest config entry (the offset when it is in the snapshot). */
  get configIndex(): LogIndex {
    return this.#configs.at(-1)?.index ?? this.#offsetIndex;
  }

  /** The configuration in effect right after the entry at index (for snapshots taken there). */
  configAt(index: LogIndex): ClusterConfig {
    assert(index >= this.#offsetIndex, `configAt(${index}) below the offset ${this.#offsetIndex}`);
    let config = this.#offsetConfig;
    for (const c of this.#configs) {
      if (c.index > index) break;
      config = c.config;
    }
    return config;
  }

  /** Appends entries that follow lastIndex directly (the leader's own proposals). */
  append(entries: readonly Entry[]): void {
    for (const e of entries) this.#push(e);
  }

  /**
   * Replaces everything from entries[0].index on (a follower resolving a conflict, Figure 2
   * AppendEntries step 3). Never touches committed entries: that would break State Machine Safety.
   */
  truncateAndAppend(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    assert(first.index > this.commit, `truncating committed entry ${first.index} (commit ${this.commit})`);
    assert(first.index > this.#offsetIndex && first.index <= this.lastIndex + 1, `append at ${first.index} leaves a gap (last ${this.lastIndex})`);
    this.#entries.length = first.index - this.#offsetIndex - 1;
    while (this.#configs.length > 0 && this.#configs.at(-1)!.index >= first.index) this.#configs.pop();
    this.stable = Math.min(this.stable, first.index - 1);
    this.handedOut = Math.min(this.handedOut, first.index - 1);
    for (const e of entries) this.#push(e);
  }

  /** Entries to persist next (everything after handedOut). */
  unstableEntries(): Entry[] {
    if (this.handedOut >= this.lastIndex) return [];
    return this.#entries.slice(this.handedOut - this.#offsetIndex);
  }

  /** Committed, durable entries not yet handed out for applying (Figure 2: apply after commit). */
  committedToApply(maxBytes: number): Entry[] {
    const to = Math.min(this.commit, this.stable);
    if (to <= this.applied) return [];
    return this.slice(this.applied + 1, to, maxBytes);
  }

  /** Drops entries up to and including index; the snapshot at index covers them. */
  compact(index: LogIndex): void {
    if (index <= this.#offsetIndex) return;
    assert(index <= this.applied, `compacting ${index} beyond applied ${this.applied}`);
    const term = this.term(index);
    assert(term !== undefined, `compacting ${index} beyond the log`);
    this.#offsetConfig = this.configAt(index);
    this.#entries = this.#entries.slice(index - this.#offsetIndex);
    this.#configs = this.#configs.filter((c) => c.index > index);
    this.#offsetIndex = index;
    this.#offsetTerm = term;
  }

  /**
   * Installs a snapshot received from the leader (Figure 13, steps 6-8): entries after it are kept
   * only when the log has the snapshot's last entry with the same term; otherwise the log is
   * discarded. Everything up to the snapshot is committed and applied (the FSM is restored).
   */
  restore(snapshot: SnapshotMeta): void {
    // Kept only when durable too: the storage makes the same decision from what is on its disk.
    const keep = snapshot.index <= this.stable && this.matchTerm(snapshot.index, snapshot.term);
    if (keep) {
      this.#entries = this.#entries.slice(snapshot.index - this.#offsetIndex);
      this.#configs = this.#configs.filter((c) => c.index > snapshot.index);
    } else {
      this.#entries = [];
      this.#configs = [];
      this.stable = snapshot.index;
      this.handedOut = snapshot.index;
    }
    this.#offsetIndex = snapshot.index;
    this.#offsetTerm = snapshot.term;
    this.#offsetConfig = snapshot.config;
    this.commit = Math.max(this.commit, snapshot.index);
    this.applied = Math.max(this.applied, snapshot.index);
  }

  /**
   * For fast backtracking (thesis 5.3): the largest index <= index whose term is <= term, or the
   * offset when the answer lies in the compacted prefix (the leader then sends a snapshot).
   */
  lastIndexWithTermAtMost(index: LogIndex, term: Term): LogIndex {
    let i = Math.min(index, this.lastIndex);
    while (i > this.#offsetIndex) {
      if (this.#entries[i - this.#offsetIndex - 1]!.term <= term) return i;
      i--;
    }
    return this.#offsetIndex;
  }

  /** True when a log ending at (lastIndex, lastTerm) is at least as up to date as ours (5.4.1). */
  isUpToDate(lastIndex: LogIndex, lastTerm: Term): boolean {
    return lastTerm > this.lastTerm || (lastTerm === this.lastTerm && lastIndex >= this.lastIndex);
  }

  #push(e: Entry): void {
    assert(e.index === this.lastIndex + 1, `entry ${e.index} does not follow ${this.lastIndex}`);
    assert(e.term >= this.lastTerm, `entry ${e.index} term ${e.term} below previous term ${this.lastTerm}`);
    this.#entries.push(e);
    if (e.type === 'config') {
      assert(e.config !== undefined, `config entry ${e.index} carries a config`);
      this.#configs.push({ index: e.index, config: e.config });
    }
  }
}
