// One Raft node as the Raft benchmark runs it (in one process with others, or alone in a child
// process): real RaftStorage on the real disk behind a counting FileSystem, the given RPC
// transport, the system clock, default core options, and a trivial state machine. Also the load
// generator (closed-loop clients on the leader) and its result, which is plain JSON so a child
// process can send it over IPC.
//
// Start-up follows src/sim/raft-node.ts: recover from the directory; a fresh founding voter
// bootstraps the shared first configuration and makes it durable before the node starts.

import { SeededRandom } from '../../src/core/random.ts';
import type { Entry, HardState, LogIndex, NodeId, SnapshotMeta } from '../../src/core/raft/types.ts';
import type { Result } from '../../src/core/result.ts';
import { SystemClock } from '../../src/runtime/clock.ts';
import { RaftNode, RaftNodeError, type IncomingError, type RaftDurableStore, type RaftNodeLog, type StateMachine } from '../../src/runtime/raft/node.ts';
import { NodeFileSystem } from '../../src/runtime/storage/node-fs.ts';
import { openRaftState } from '../../src/runtime/raft/open.ts';
import type { RaftStorage } from '../../src/runtime/storage/raft-storage.ts';
import type { Address, RpcTransport } from '../../src/runtime/transport/types.ts';
import { CountingFileSystem, fsCountsSince, type FsCounts } from './counting-fs.ts';

export const BENCH_CLUSTER = 'raft-bench';

/** Count of applied commands and a running FNV-1a hash over their bytes: cheap and deterministic. */
export class CountingStateMachine implements StateMachine {
  count = 0;
  hash = 0x811c9dc5;

  apply(entry: { readonly data: Uint8Array }): unknown {
    // An indexed loop: for-of over a Buffer goes through the iterator, 4x slower (measured), and
    // this state machine should cost next to nothing next to the node it sits in.
    const data = entry.data;
    let h = this.hash;
    for (let i = 0; i < data.length; i++) h = Math.imul(h ^ data[i]!, 0x01000193) >>> 0;
    this.hash = h;
    return ++this.count;
  }

  snapshot(): Uint8Array {
    const out = new Uint8Array(12);
    const view = new DataView(out.buffer);
    view.setFloat64(0, this.count);
    view.setUint32(8, this.hash);
    return out;
  }

  restore(data: Uint8Array): void {
    if (data.length !== 12) throw new Error(`bench state machine snapshot has ${data.length} bytes, expected 12`);
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    this.count = view.getFloat64(0);
    this.hash = view.getUint32(8);
  }
}

export interface StoreCounts {
  /** append() calls, i.e. Readies that carried entries. */
  readonly appendCalls: number;
  readonly appendedEntries: number;
  /** saveSnapshot() calls and the time spent in them and in compact() (the node waits on both). */
  readonly snapshots: number;
  readonly snapshotMs: number;
}

/** Passes everything to RaftStorage and counts the appends (entries per call shows batching). */
class CountingStore implements RaftDurableStore {
  readonly #inner: RaftStorage;
  appendCalls = 0;
  appendedEntries = 0;
  snapshots = 0;
  snapshotMs = 0;

  constructor(inner: RaftStorage) {
    this.#inner = inner;
  }

  append(entries: readonly Entry[]): Promise<void> {
    this.appendCalls++;
    this.appendedEntries += entries.length;
    return this.#inner.append(entries);
  }
  saveHardState(hs: HardState): Promise<void> {
    return this.#inner.saveHardState(hs);
  }
  async saveSnapshot(meta: SnapshotMeta, data: Uint8Array): Promise<void> {
    this.snapshots++;
    const t = performance.now();
    try {
      await this.#inner.saveSnapshot(meta, data);
    } finally {
      this.snapshotMs += performance.now() - t;
    }
  }
  async compact(throughIndex: LogIndex): Promise<void> {
    const t = performance.now();
    try {
      await this.#inner.compact(throughIndex);
    } finally {
      this.snapshotMs += performance.now() - t;
    }
  }
  readSnapshot(): Promise<{ meta: SnapshotMeta; data: Uint8Array } | undefined> {
    return this.#inner.readSnapshot();
  }
  installSnapshot(meta: SnapshotMeta): Promise<void> {
    return this.#inner.installSnapshot(meta);
  }
  beginIncoming(meta: SnapshotMeta, totalBytes: number): Promise<Result<number, IncomingError>> {
    return this.#inner.beginIncoming(meta, totalBytes);
  }
  writeIncoming(meta: SnapshotMeta, offset: number, chunk: Uint8Array): Promise<Result<number, IncomingError>> {
    return this.#inner.writeIncoming(meta, offset, chunk);
  }
  finishIncoming(meta: SnapshotMeta): Promise<Result<void, IncomingError>> {
    return this.#inner.finishIncoming(meta);
  }
}

export interface BenchRaftNodeOptions {
  readonly id: string;
  readonly voters: readonly string[];
  /** This node's storage directory (created when absent). */
  readonly dir: string;
  readonly rpc: RpcTransport;
  readonly resolve: (id: NodeId) => Address | undefined;
  readonly seed: number;
  /** RaftNode's snapshot threshold (its default when absent). */
  readonly snapshotEveryEntries?: number;
  /** Warnings and errors of the node (role changes and snapshots are not reported). */
  readonly onProblem: (line: string) => void;
}

export class BenchRaftNode {
  readonly node: RaftNode;
  readonly fsm: CountingStateMachine;
  readonly #storage: RaftStorage;
  readonly #fs: CountingFileSystem;
  readonly #store: CountingStore;

  private constructor(node: RaftNode, fsm: CountingStateMachine, storage: RaftStorage, fs: CountingFileSystem, store: CountingStore) {
    this.node = node;
    this.fsm = fsm;
    this.#storage = storage;
    this.#fs = fs;
    this.#store = store;
  }

  static async start(o: BenchRaftNodeOptions): Promise<BenchRaftNode> {
    const fs = new CountingFileSystem(new NodeFileSystem());
    const founder = o.voters.includes(o.id);
    const opened = await openRaftState(fs, o.dir, founder ? { bootstrap: { voters: o.voters as NodeId[], learners: [] } } : {});
    if (!opened.ok) throw new Error(`raft storage in ${o.dir} refused to open: ${opened.error.message}`);
    const { storage, restored, snapshotData } = opened.value;
    const store = new CountingStore(storage);
    const fsm = new CountingStateMachine();
    const log: RaftNodeLog = {
      info: () => undefined,
      warn: (obj, msg) => o.onProblem(`${o.id} warn: ${msg} ${JSON.stringify(obj)}`),
      error: (obj, msg) => o.onProblem(`${o.id} error: ${msg} ${JSON.stringify(obj)}`),
    };
    const node = new RaftNode({
      id: o.id as NodeId,
      cluster: BENCH_CLUSTER,
      clock: new SystemClock(),
      random: new SeededRandom(o.seed),
      rpc: o.rpc,
      store,
      fsm,
      resolve: o.resolve,
      restored,
      snapshotData,
      ...(o.snapshotEveryEntries === undefined ? {} : { snapshotEveryEntries: o.snapshotEveryEntries }),
      log,
      onFatal: (e) => o.onProblem(`${o.id} fatal: ${e.message}`),
    });
    node.start();
    return new BenchRaftNode(node, fsm, storage, fs, store);
  }

  counters(): BatchCounters {
    const st = this.#store;
    return { fs: this.#fs.counts(), store: { appendCalls: st.appendCalls, appendedEntries: st.appendedEntries, snapshots: st.snapshots, snapshotMs: st.snapshotMs } };
  }

  async stop(): Promise<void> {
    await this.node.stop();
    await this.#storage.close();
  }
}

export interface BatchCounters {
  readonly fs: FsCounts;
  readonly store: StoreCounts;
}

export interface LoadPlan {
  readonly clients: number;
  readonly payloadBytes: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  /** How long in-flight proposals may take to settle after the window before we give up. */
  readonly drainTimeoutMs: number;
}

/** What one measurement point produced (plain JSON: it crosses process boundaries). */
export interface LoadResult {
  readonly clients: number;
  /** Proposals that completed inside the measurement window. */
  readonly proposals: number;
  readonly seconds: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** Failed proposals by RaftNodeError code (or 'other'), over warm-up and window. */
  readonly errors: Readonly<Record<string, number>>;
  readonly firstError: string | undefined;
  /** Leader only, inside the window. */
  readonly appendCalls: number;
  readonly appendedEntries: number;
  readonly syncs: number;
  readonly dirSyncs: number;
  /** Snapshots the leader took in the window, and ms its Ready loop waited on them and on compaction. */
  readonly snapshots: number;
  readonly snapshotMs: number;
  /** process.memoryUsage() at the end of the window. */
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  /** Clients still waiting after drainTimeoutMs (should be 0). */
  readonly stuckClients: number;
}

/**
 * Closed-loop clients: each proposes a payload, awaits it being applied on this (leader) node,
 * and repeats. Latency and throughput count only proposals that start after the warm-up and
 * finish inside the window. A proposal that fails is counted by code; 'overloaded' backs off a
 * millisecond, 'not-leader' (or any other failure) ends that client: the point then shows it.
 */
export async function runProposalLoad(bench: BenchRaftNode, plan: LoadPlan): Promise<LoadResult> {
  const node = bench.node;
  const payload = new Uint8Array(plan.payloadBytes);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 31 + 7) & 0xff;
  const latenciesMs: number[] = [];
  const errors: Record<string, number> = {};
  let firstError: string | undefined;
  const start = performance.now();
  const windowStart = start + plan.warmupMs;
  const windowEnd = windowStart + plan.durationMs;
  let before: BatchCounters | undefined;
  let after: BatchCounters | undefined;
  const beforeTimer = setTimeout(() => (before = bench.counters()), plan.warmupMs);
  const afterTimer = setTimeout(() => (after = bench.counters()), plan.warmupMs + plan.durationMs);
  let running = plan.clients;

  const client = async (): Promise<void> => {
    try {
      while (performance.now() < windowEnd) {
        const t0 = performance.now();
        try {
          await node.propose(payload);
        } catch (e) {
          const code = e instanceof RaftNodeError ? e.code : 'other';
          errors[code] = (errors[code] ?? 0) + 1;
          firstError ??= e instanceof Error ? e.message : String(e);
          if (code === 'overloaded') {
            await new Promise((r) => setTimeout(r, 1));
            continue;
          }
          return;
        }
        const t1 = performance.now();
        if (t0 >= windowStart && t1 <= windowEnd) latenciesMs.push(t1 - t0);
      }
    } finally {
      running--;
    }
  };
  const clients = Array.from({ length: plan.clients }, client);
  let drainTimer: NodeJS.Timeout | undefined;
  const drained = await Promise.race([
    Promise.all(clients).then(() => true),
    new Promise<false>((resolve) => {
      drainTimer = setTimeout(() => resolve(false), plan.warmupMs + plan.durationMs + plan.drainTimeoutMs);
    }),
  ]);
  clearTimeout(drainTimer);
  clearTimeout(beforeTimer);
  clearTimeout(afterTimer);
  const end = Math.min(performance.now(), windowEnd);
  before ??= bench.counters();
  after ??= bench.counters();
  const fs = fsCountsSince(after.fs, before.fs);
  const memory = process.memoryUsage();
  latenciesMs.sort((a, b) => a - b);
  return {
    clients: plan.clients,
    proposals: latenciesMs.length,
    seconds: Math.max(0, end - windowStart) / 1000,
    p50Ms: percentile(latenciesMs, 0.5),
    p99Ms: percentile(latenciesMs, 0.99),
    maxMs: latenciesMs[latenciesMs.length - 1] ?? 0,
    errors,
    firstError,
    appendCalls: after.store.appendCalls - before.store.appendCalls,
    appendedEntries: after.store.appendedEntries - before.store.appendedEntries,
    syncs: fs.syncs,
    dirSyncs: fs.dirSyncs,
    snapshots: after.store.snapshots - before.store.snapshots,
    snapshotMs: after.store.snapshotMs - before.store.snapshotMs,
    rssBytes: memory.rss,
    heapUsedBytes: memory.heapUsed,
    stuckClients: drained ? 0 : running,
  };
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
}
