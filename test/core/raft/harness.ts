// A cluster of pure Raft cores wired by hand, for per-rule and scripted tests: messages wait in
// a queue until delivered, "disk" is an in-memory copy of what each Ready persisted, crash and
// restart rebuild a core from that copy. No runtime, no time: the test decides every step.

import { SeededRandom } from '../../../src/core/random.ts';
import { formatMessage } from '../../../src/core/raft/format.ts';
import { RAFT_DEFAULTS, type RaftOptions } from '../../../src/core/raft/options.ts';
import { bootstrapState, EMPTY_STATE, Raft, type RestoredState } from '../../../src/core/raft/raft.ts';
import type { ClusterConfig, Entry, HardState, Message, NodeId, Ready, SnapshotMeta } from '../../../src/core/raft/types.ts';

export function nid(id: string | number): NodeId {
  return String(id) as NodeId;
}

export function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

export function text(data: Uint8Array): string {
  return new TextDecoder().decode(data);
}

/** What one node durably holds. */
export interface Disk {
  hardState: HardState;
  snapshot: SnapshotMeta | undefined;
  /** The state machine at the snapshot: the applied commands, in order. */
  snapshotData: string[];
  entries: Entry[];
}

export interface HarnessNode {
  readonly id: NodeId;
  raft: Raft;
  up: boolean;
  readonly disk: Disk;
  /** The state machine: commands applied, in order (a no-op or config entry is not a command). */
  fsm: string[];
  /** Every entry handed out for applying, in order (for State Machine Safety checks). */
  appliedEntries: Entry[];
  readStates: { requestId: number; index: number }[];
}

export interface HarnessOptions {
  readonly raft?: Partial<Omit<RaftOptions, 'id'>>;
  readonly seed?: number;
}

export class RaftHarness {
  readonly nodes = new Map<NodeId, HarnessNode>();
  /** Messages sent and not yet delivered, in send order. */
  queue: Message[] = [];
  /** Every message ever sent, formatted (for golden output). */
  readonly log: string[] = [];
  readonly #options: HarnessOptions;
  readonly #random: SeededRandom;
  /** Pairs that cannot talk: "a>b" blocks a to b. */
  readonly #blocked = new Set<string>();

  constructor(options: HarnessOptions = {}) {
    this.#options = options;
    this.#random = new SeededRandom(options.seed ?? 1);
  }

  /** Adds nodes; those in `bootstrap` start from the same one-entry log with that configuration. */
  add(ids: readonly (string | number)[], bootstrap?: ClusterConfig): HarnessNode[] {
    return ids.map((raw) => {
      const id = nid(raw);
      const state = bootstrap !== undefined ? bootstrapState(bootstrap) : EMPTY_STATE;
      const disk: Disk = { hardState: state.hardState, snapshot: state.snapshot, snapshotData: [], entries: [...state.entries] };
      const node: HarnessNode = { id, raft: this.#makeRaft(id, state), up: true, disk, fsm: [], appliedEntries: [], readStates: [] };
      this.nodes.set(id, node);
      return node;
    });
  }

  /** Adds `count` voters 1..count bootstrapped together. */
  static cluster(count: number, options: HarnessOptions = {}): RaftHarness {
    const h = new RaftHarness(options);
    const ids = Array.from({ length: count }, (_, i) => nid(i + 1));
    h.add(ids, { voters: ids, learners: [] });
    return h;
  }

  node(id: string | number): HarnessNode {
    const n = this.nodes.get(nid(id));
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  raft(id: string | number): Raft {
    return this.node(id).raft;
  }

  /** Handles every Ready of every up node (persist, queue messages, apply). */
  processReadies(): number {
    let handled = 0;
    for (const n of this.nodes.values()) {
      while (n.up && n.raft.hasReady()) {
        this.#handleReady(n, n.raft.ready());
        handled++;
      }
    }
    return handled;
  }

  /** Delivers queued messages (dropping blocked or to-down ones), one pass; returns how many. */
  deliverAll(filter?: (m: Message) => boolean): number {
    const batch = this.queue;
    this.queue = [];
    let delivered = 0;
    for (const m of batch) {
      if (filter !== undefined && !filter(m)) {
        this.queue.push(m);
        continue;
      }
      const to = this.nodes.get(m.to);
      if (to === undefined || !to.up || this.#blocked.has(`${m.from}>${m.to}`)) continue;
      to.raft.step(m);
      delivered++;
    }
    return delivered;
  }

  /** Readies and deliveries until nothing moves. */
  stabilize(maxRounds = 1000): void {
    for (let i = 0; i < maxRounds; i++) {
      const handled = this.processReadies();
      const delivered = this.deliverAll();
      if (handled === 0 && delivered === 0 && this.queue.length === 0) return;
    }
    throw new Error('cluster did not stabilize');
  }

  tick(id: string | number, times = 1): void {
    const n = this.node(id);
    for (let i = 0; i < times; i++) if (n.up) n.raft.tick();
  }

  tickAll(times = 1): void {
    for (let i = 0; i < times; i++) for (const n of this.nodes.values()) if (n.up) n.raft.tick();
  }

  /** Ticks every node and stabilizes, `times` rounds. */
  run(times: number): void {
    for (let i = 0; i < times; i++) {
      this.tickAll();
      this.stabilize();
    }
  }

  /** Campaigns on `id` and stabilizes; returns the leader afterwards. */
  elect(id: string | number): NodeId | undefined {
    this.raft(id).campaign();
    this.stabilize();
    return this.leader();
  }

  leader(): NodeId | undefined {
    let best: HarnessNode | undefined;
    for (const n of this.nodes.values()) {
      if (n.up && n.raft.role === 'leader' && (best === undefined || n.raft.term > best.raft.term)) best = n;
    }
    return best?.id;
  }

  /** Splits the cluster into groups that cannot talk to each other. */
  partition(...groups: readonly (string | number)[][]): void {
    this.heal();
    for (const g of groups) {
      for (const other of groups) {
        if (g === other) continue;
        for (const a of g) for (const b of other) this.#blocked.add(`${a}>${b}`);
      }
    }
  }

  /** Blocks one direction only. */
  block(from: string | number, to: string | number): void {
    this.#blocked.add(`${from}>${to}`);
  }

  /** Isolates one node from every other. */
  isolate(id: string | number): void {
    for (const other of this.nodes.keys()) {
      if (other === nid(id)) continue;
      this.block(id, other);
      this.block(other, id);
    }
  }

  heal(): void {
    this.#blocked.clear();
  }

  /** Loses the in-memory state; the disk stays. Queued messages to it are dropped on delivery. */
  crash(id: string | number): void {
    this.node(id).up = false;
  }

  restart(id: string | number): void {
    const n = this.node(id);
    // Entries kept behind the snapshot (snapshotAndCompact with keepEntries) serve slow followers
    // while running; a restart starts from the snapshot, as storage recovery would.
    const after = n.disk.snapshot?.index ?? 0;
    const state: RestoredState = { hardState: n.disk.hardState, snapshot: n.disk.snapshot, entries: n.disk.entries.filter((e) => e.index > after) };
    n.raft = this.#makeRaft(n.id, state);
    n.fsm = [...n.disk.snapshotData];
    n.appliedEntries = [];
    n.readStates = [];
    n.up = true;
  }

  /** Takes a snapshot at the applied index and compacts the log through `compactThrough`. */
  snapshotAndCompact(id: string | number, keepEntries = 0): SnapshotMeta {
    const n = this.node(id);
    const meta = n.raft.snapshotMetaAtApplied();
    n.disk.snapshot = meta;
    n.disk.snapshotData = [...n.fsm];
    n.raft.snapshotSaved(meta);
    const through = Math.max(meta.index - keepEntries, n.raft.log.offsetIndex);
    n.raft.compact(through);
    n.disk.entries = n.disk.entries.filter((e) => e.index > through);
    return meta;
  }

  /** Formats and clears the queue (for golden output of what is in flight). */
  formatQueue(): string[] {
    return this.queue.map(formatMessage);
  }

  #makeRaft(id: NodeId, state: RestoredState): Raft {
    const options: RaftOptions = { ...RAFT_DEFAULTS, ...this.#options.raft, id };
    return new Raft(options, this.#random.fork(), state);
  }

  #handleReady(n: HarnessNode, rd: Ready): void {
    if (rd.snapshot !== undefined) {
      const leader = this.#snapshotSource(rd.snapshot);
      n.disk.snapshot = rd.snapshot;
      n.disk.snapshotData = leader;
      const keep = n.disk.entries.some((e) => e.index === rd.snapshot!.index && e.term === rd.snapshot!.term);
      n.disk.entries = keep ? n.disk.entries.filter((e) => e.index > rd.snapshot!.index) : [];
      n.fsm = [...leader];
    }
    const first = rd.entries[0];
    if (first !== undefined) {
      n.disk.entries = n.disk.entries.filter((e) => e.index < first.index).concat(rd.entries);
    }
    if (rd.hardState !== undefined) n.disk.hardState = rd.hardState;
    for (const m of rd.messages) {
      this.queue.push(m);
      this.log.push(formatMessage(m));
    }
    for (const e of rd.committed) {
      n.appliedEntries.push(e);
      if (e.type === 'normal' && e.data.length > 0) n.fsm.push(text(e.data));
    }
    n.readStates.push(...rd.readStates);
    n.raft.advance(rd);
  }

  /** The state machine contents at a snapshot, taken from any node that saved that snapshot. */
  #snapshotSource(meta: SnapshotMeta): string[] {
    for (const n of this.nodes.values()) {
      if (n.disk.snapshot?.index === meta.index && n.disk.snapshot.term === meta.term) return [...n.disk.snapshotData];
    }
    throw new Error(`no node holds snapshot ${meta.term}/${meta.index}`);
  }
}
