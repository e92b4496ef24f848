// A seeded, randomized run of a harness cluster with the safety properties of the Raft paper
// (Figure 3) checked after every single step:
//   Election Safety      - at most one leader per term, ever;
//   Leader Append-Only   - a leader never overwrites or deletes entries of its log;
//   Log Matching         - equal index and term imply equal entries up to that index;
//   Leader Completeness  - an entry committed in term t is in the log of every leader of a term > t;
//   State Machine Safety - no two nodes apply different entries at one index.
// The network drops, duplicates, delays and reorders messages and is partitioned at random;
// nodes crash and restart from their disk, and compact their logs behind snapshots. A final
// liveness phase heals everything and checks that the cluster commits again and converges.

import assert from 'node:assert/strict';
import { SeededRandom } from '../../../src/core/random.ts';
import type { RaftOptions } from '../../../src/core/raft/options.ts';
import type { Raft } from '../../../src/core/raft/raft.ts';
import type { Entry, Message, NodeId } from '../../../src/core/raft/types.ts';
import { bytes, nid, RaftHarness, text, type HarnessNode } from './harness.ts';

export interface ChaosOptions {
  readonly seed: number;
  readonly nodes: number;
  readonly rounds: number;
  readonly raft?: Partial<Omit<RaftOptions, 'id'>>;
  /** Nodes that start empty, outside the cluster, for configuration changes to add. */
  readonly spareNodes?: number;
  /** Leaders propose random one-at-a-time configuration changes. */
  readonly configChanges?: boolean;
  /** Nodes crash and restart (default true). */
  readonly crashes?: boolean;
  /** Nodes ask for ReadIndex read points; each answer must cover every write committed before it was asked. */
  readonly reads?: boolean;
  /** Receives one line per liveness round (for diagnosing a failing seed). */
  readonly trace?: (line: string) => void;
}

export interface ChaosReport {
  readonly leaders: number;
  readonly committed: number;
  readonly snapshotsSent: number;
  readonly crashes: number;
  readonly configChanges: number;
  readonly readsAnswered: number;
}

function entryKey(e: Entry): string {
  return `${e.term}/${e.type}/${e.type === 'config' ? JSON.stringify(e.config) : text(e.data)}`;
}

export class Chaos {
  readonly h: RaftHarness;
  readonly #o: ChaosOptions;
  readonly #rnd: SeededRandom;
  readonly #ids: NodeId[];
  /** "a>b": a cannot reach b. */
  #blocked = new Set<string>();
  /** Election Safety: the one leader seen for each term. */
  readonly #leaderOf = new Map<number, NodeId>();
  /** Leader Append-Only: the log of each current leader when last seen, by node. */
  readonly #leaderLog = new Map<NodeId, { term: number; first: number; keys: string[] }>();
  /** Leader Completeness: entries known committed (by a leader's commit index) with the term in which they were. */
  readonly #committed = new Map<number, { key: string; commitTerm: number }>();
  /** State Machine Safety: the entry applied at each index by anyone. */
  readonly #applied = new Map<number, string>();
  readonly #appliedSeen = new Map<NodeId, { arr: Entry[]; count: number }>();
  #nextCommand = 0;
  #snapshotsSent = 0;
  #crashes = 0;
  #configChanges = 0;
  /** ReadIndex: per request id, the highest index known committed anywhere when it was asked. */
  readonly #readFloor = new Map<number, number>();
  readonly #readsSeen = new Map<NodeId, { arr: unknown[]; count: number }>();
  #nextRead = 1;
  #readsAnswered = 0;

  constructor(o: ChaosOptions) {
    this.#o = o;
    this.#rnd = new SeededRandom(o.seed);
    this.h = new RaftHarness({ seed: o.seed, raft: o.raft ?? {} });
    const voters = Array.from({ length: o.nodes }, (_, i) => nid(i + 1));
    this.h.add(voters, { voters, learners: [] });
    this.h.add(Array.from({ length: o.spareNodes ?? 0 }, (_, i) => nid(o.nodes + i + 1)));
    this.#ids = [...this.h.nodes.keys()];
  }

  run(): ChaosReport {
    for (let round = 0; round < this.#o.rounds; round++) this.#round();
    this.#liveness();
    return {
      leaders: this.#leaderOf.size,
      committed: this.#committed.size,
      snapshotsSent: this.#snapshotsSent,
      crashes: this.#crashes,
      configChanges: this.#configChanges,
      readsAnswered: this.#readsAnswered,
    };
  }

  #fail(what: string): never {
    assert.fail(`seed ${this.#o.seed}: ${what}`);
  }

  #chance(p: number): boolean {
    return this.#rnd.float() < p;
  }

  #pick<T>(items: readonly T[]): T {
    return items[this.#rnd.int(items.length)]!;
  }

  #round(): void {
    const roll = this.#rnd.float();
    if (roll < 0.02) {
      // A random split into two sides.
      const side = this.#ids.filter(() => this.#chance(0.5));
      this.#blocked.clear();
      for (const a of side) for (const b of this.#ids) if (!side.includes(b)) this.#blocked.add(`${a}>${b}`).add(`${b}>${a}`);
    } else if (roll < 0.05) {
      this.#blocked.clear();
    } else if (roll < 0.06) {
      // One direction only.
      this.#blocked.add(`${this.#pick(this.#ids)}>${this.#pick(this.#ids)}`);
    } else if (roll < 0.07) {
      const up = this.#ids.filter((id) => this.h.node(id).up);
      if (up.length > 1 && this.#o.crashes !== false) {
        this.h.crash(this.#pick(up));
        this.#crashes++;
      }
    } else if (roll < 0.1) {
      const down = this.#ids.filter((id) => !this.h.node(id).up);
      if (down.length > 0) {
        const id = this.#pick(down);
        this.h.restart(id);
        this.#appliedSeen.delete(id);
        this.#leaderLog.delete(id);
        this.#observe(this.h.node(id));
      }
    } else if (roll < 0.12) {
      const n = this.h.node(this.#pick(this.#ids));
      if (n.up && n.raft.log.applied > n.raft.log.offsetIndex) {
        this.h.snapshotAndCompact(n.id, this.#rnd.int(3));
        this.#observe(n);
      }
    } else if (roll < 0.14 && this.#o.configChanges === true) {
      const leaders = this.#ids.filter((id) => this.h.node(id).up && this.h.raft(id).role === 'leader');
      if (leaders.length > 0) {
        const n = this.h.node(this.#pick(leaders));
        const kind = this.#pick(['add-learner', 'promote', 'demote', 'remove'] as const);
        if (n.raft.proposeConfigChange({ kind, node: this.#pick(this.#ids) }).ok) this.#configChanges++;
        this.#observe(n);
      }
    } else if (roll < 0.17 && this.#o.reads === true) {
      const n = this.h.node(this.#pick(this.#ids));
      if (n.up) {
        const id = this.#nextRead++;
        // Linearizability: the read point must cover every write committed before the request.
        this.#readFloor.set(id, Math.max(...[...this.h.nodes.values()].map((x) => x.raft.log.commit)));
        n.raft.readIndex(id);
        this.#observe(n);
      }
    } else if (roll < 0.25) {
      const leaders = this.#ids.filter((id) => this.h.node(id).up && this.h.raft(id).role === 'leader');
      if (leaders.length > 0) {
        const n = this.h.node(this.#pick(leaders));
        n.raft.propose(bytes(`c${this.#nextCommand++}`));
        this.#observe(n);
      }
    } else if (roll < 0.6) {
      for (const n of this.h.nodes.values()) {
        if (!n.up) continue;
        n.raft.tick();
        this.#observe(n);
      }
    }
    this.#processReadies();
    this.#deliver();
    this.#processReadies();
    this.#checkLogMatching();
  }

  #processReadies(): void {
    for (const n of this.h.nodes.values()) {
      while (n.up && n.raft.hasReady()) {
        const before = this.h.queue.length;
        this.h.processReadies();
        for (const m of this.h.queue.slice(before)) if (m.type === 'snapshot') this.#snapshotsSent++;
        this.#observe(n);
      }
    }
    for (const n of this.h.nodes.values()) this.#observe(n);
  }

  /** Delivers, drops, duplicates and delays: a lossy, reordering network. */
  #deliver(): void {
    const batch = this.h.queue;
    this.h.queue = [];
    // Reorder a little: swap neighbours at random.
    for (let i = 1; i < batch.length; i++) {
      if (this.#chance(0.1)) [batch[i - 1], batch[i]] = [batch[i]!, batch[i - 1]!];
    }
    for (const m of batch) {
      if (this.#chance(0.05)) {
        this.#lost(m);
        continue;
      }
      if (m.type === 'snapshot') {
        // The runtime hands the core a snapshot message only with the whole file on disk, so
        // it is never delayed past a newer snapshot, nor duplicated: it arrives or it fails.
        this.#stepOne(m);
        continue;
      }
      if (this.#chance(0.1)) {
        this.h.queue.push(m); // delayed to a later round
        continue;
      }
      this.#stepOne(m);
      if (this.#chance(0.02)) this.#stepOne(m); // duplicated
    }
  }

  #stepOne(m: Message): void {
    const to = this.h.nodes.get(m.to);
    if (to === undefined || !to.up || this.#blocked.has(`${m.from}>${m.to}`)) {
      this.#lost(m);
      return;
    }
    if (m.type === 'snapshot') {
      // The runtime streams the sender's current snapshot file; one replaced since cannot be sent.
      const disk = this.h.node(m.from).disk.snapshot;
      if (disk?.index !== m.snapshot.index || disk.term !== m.snapshot.term) {
        this.#lost(m);
        return;
      }
    }
    to.raft.step(m);
    this.#observe(to);
  }

  /** Snapshots are streamed by the runtime, which knows when one did not arrive and says so. */
  #lost(m: Message): void {
    const from = this.h.nodes.get(m.from);
    if (m.type === 'snapshot' && from !== undefined && from.up) from.raft.reportSnapshotFailed(m.to);
  }

  /** Checks the invariants that concern one node right after it moved. */
  #observe(n: HarnessNode): void {
    if (!n.up) return;
    const r = n.raft;
    this.#checkApplied(n);
    this.#checkReads(n);
    if (r.role !== 'leader') {
      this.#leaderLog.delete(n.id);
      return;
    }
    // Election Safety.
    const known = this.#leaderOf.get(r.term);
    if (known !== undefined && known !== n.id) this.#fail(`two leaders in term ${r.term}: ${known} and ${n.id}`);
    const isNew = known === undefined;
    this.#leaderOf.set(r.term, n.id);
    // Leader Completeness: entries committed in earlier terms are in a new leader's log.
    const prev = this.#leaderLog.get(n.id);
    if (prev === undefined || prev.term !== r.term) {
      for (const [index, c] of this.#committed) {
        if (c.commitTerm >= r.term || index <= r.log.offsetIndex) continue;
        const e = r.log.entry(index);
        if (e === undefined || entryKey(e) !== c.key) this.#fail(`leader ${n.id} of term ${r.term} lacks entry ${index} committed in term ${c.commitTerm}${isNew ? '' : ' (seen before)'}`);
      }
    }
    // Leader Append-Only: what the leader had is still there, unchanged.
    const keys = this.#keysOf(r);
    if (prev !== undefined && prev.term === r.term) {
      const from = Math.max(prev.first, r.log.firstIndex);
      for (let i = from; i < prev.first + prev.keys.length; i++) {
        const now = keys[i - r.log.firstIndex];
        if (now !== prev.keys[i - prev.first]) this.#fail(`leader ${n.id} of term ${r.term} changed or dropped its entry ${i}`);
      }
    }
    this.#leaderLog.set(n.id, { term: r.term, first: r.log.firstIndex, keys });
    // What this leader committed is committed in its term.
    for (let i = Math.max(r.log.firstIndex, 1); i <= r.log.commit; i++) {
      if (this.#committed.has(i)) {
        const e = r.log.entry(i)!;
        if (entryKey(e) !== this.#committed.get(i)!.key) this.#fail(`entry ${i} committed twice with different contents`);
        continue;
      }
      this.#committed.set(i, { key: entryKey(r.log.entry(i)!), commitTerm: r.term });
    }
  }

  /** The nodes of the configuration in effect at the leader (removed nodes are left behind). */
  #members(): HarnessNode[] {
    const leader = this.h.leader();
    if (leader === undefined) return [...this.h.nodes.values()];
    const config = this.h.raft(leader).log.config;
    return [...config.voters, ...config.learners].map((id) => this.h.node(id));
  }

  #hasData(r: Raft, data: string): boolean {
    for (let i = r.log.firstIndex; i <= r.log.lastIndex; i++) if (text(r.log.entry(i)!.data) === data) return true;
    return false;
  }

  #keysOf(r: Raft): string[] {
    const keys: string[] = [];
    for (let i = r.log.firstIndex; i <= r.log.lastIndex; i++) keys.push(entryKey(r.log.entry(i)!));
    return keys;
  }

  /** State Machine Safety, and applying in order without gaps. */
  #checkApplied(n: HarnessNode): void {
    let seen = this.#appliedSeen.get(n.id);
    if (seen === undefined || seen.arr !== n.appliedEntries) {
      seen = { arr: n.appliedEntries, count: 0 };
      this.#appliedSeen.set(n.id, seen);
    }
    for (; seen.count < n.appliedEntries.length; seen.count++) {
      const e = n.appliedEntries[seen.count]!;
      const prevEntry = n.appliedEntries[seen.count - 1];
      // In order; a gap is a snapshot installed in between (the harness does not list those).
      if (prevEntry !== undefined && e.index <= prevEntry.index) this.#fail(`node ${n.id} applied ${e.index} after ${prevEntry.index}`);
      const key = entryKey(e);
      const other = this.#applied.get(e.index);
      if (other !== undefined && other !== key) this.#fail(`index ${e.index} applied as ${other} and as ${key} (node ${n.id})`);
      this.#applied.set(e.index, key);
    }
  }

  /** ReadIndex safety: a confirmed read point is at or past the commit index at request time. */
  #checkReads(n: HarnessNode): void {
    let seen = this.#readsSeen.get(n.id);
    if (seen === undefined || seen.arr !== n.readStates) {
      seen = { arr: n.readStates, count: 0 };
      this.#readsSeen.set(n.id, seen);
    }
    for (; seen.count < n.readStates.length; seen.count++) {
      const rs = n.readStates[seen.count]!;
      if (rs.index === 0) continue; // not confirmed: the caller retries
      const floor = this.#readFloor.get(rs.requestId);
      if (floor === undefined) this.#fail(`node ${n.id} got an answer to read ${rs.requestId}, never asked`);
      if (rs.index < floor) this.#fail(`read ${rs.requestId} at node ${n.id} confirmed index ${rs.index}, but ${floor} was committed before it was asked`);
      this.#readsAnswered++;
    }
  }

  /** Log Matching over every pair of running nodes. */
  #checkLogMatching(): void {
    const up = [...this.h.nodes.values()].filter((n) => n.up);
    for (let a = 0; a < up.length; a++) {
      for (let b = a + 1; b < up.length; b++) {
        const la = up[a]!.raft.log;
        const lb = up[b]!.raft.log;
        const lo = Math.max(la.firstIndex, lb.firstIndex);
        let hi = Math.min(la.lastIndex, lb.lastIndex);
        while (hi >= lo && la.term(hi) !== lb.term(hi)) hi--;
        for (let i = lo; i <= hi; i++) {
          if (entryKey(la.entry(i)!) !== entryKey(lb.entry(i)!)) {
            this.#fail(`log matching: nodes ${up[a]!.id} and ${up[b]!.id} agree at ${hi} but differ at ${i}`);
          }
        }
      }
    }
  }

  /** Heals the network and restarts everyone: a leader emerges, commits, and all converge. */
  #liveness(): void {
    this.#blocked.clear();
    for (const id of this.#ids) {
      if (!this.h.node(id).up) {
        this.h.restart(id);
        this.#appliedSeen.delete(id);
        this.#leaderLog.delete(id);
      }
    }
    const marker = `final-${this.#o.seed}`;
    let proposed = false;
    for (let i = 0; i < 400; i++) {
      for (const n of this.h.nodes.values()) {
        n.raft.tick();
        this.#observe(n);
      }
      for (let j = 0; j < 50 && (this.h.queue.length > 0 || [...this.h.nodes.values()].some((n) => n.raft.hasReady())); j++) {
        this.#processReadies();
        const batch = this.h.queue;
        this.h.queue = [];
        for (const m of batch) this.#stepOne(m);
      }
      this.#checkLogMatching();
      this.#o.trace?.(
        `live ${i}: ` +
          [...this.h.nodes.values()]
            .map((n) => `${n.id}:${n.raft.role[0]}${n.raft.term} c${n.raft.log.commit} [${n.raft.log.config.voters.join('')}|${n.raft.log.config.learners.join('')}] ${n.fsm.at(-1) ?? '-'}`)
            .join('  '),
      );
      // Proposed again when the leader's log lost it (it went to a leader that was then deposed).
      const leader = this.h.leader();
      if (leader !== undefined && (!proposed || i % 20 === 0) && !this.#hasData(this.h.raft(leader), marker)) {
        proposed = this.h.raft(leader).propose(bytes(marker)).ok || proposed;
      }
      const done = proposed && this.#members().every((n) => n.fsm.at(-1) === marker);
      if (done) break;
    }
    const fsms = this.#members().map((n) => n.fsm);
    for (const f of fsms) {
      if (f.at(-1) !== marker) this.#fail(`no convergence after healing: ${fsms.map((x) => x.slice(-3).join(',')).join(' | ')}`);
      assert.deepEqual(f, fsms[0], `seed ${this.#o.seed}: state machines differ after healing`);
    }
    // No command that any node applied was lost.
    const everApplied = new Set<string>();
    for (const key of this.#applied.values()) {
      const data = key.split('/').slice(2).join('/');
      if (data.startsWith('c')) everApplied.add(data);
    }
    for (const c of everApplied) if (!fsms[0]!.includes(c)) this.#fail(`applied command ${c} is lost`);
  }
}

export { nid };
