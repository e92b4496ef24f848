// Drives the pure Raft core (src/core/raft) with real or simulated time, transport and disk, and
// enforces the Ready ordering contract in one place (DESIGN.md, Style):
//   1. a leader's appends may leave before its own write (thesis 10.2.1: the leader counts
//      itself only once durable, so this cannot commit anything early);
//   2. snapshot, entries and hard state are made durable;
//   3. only then every other message (votes and acks promise what was persisted);
//   4. committed entries are applied in order, proposals and reads settle;
//   5. advance().
// One Ready is processed at a time; messages, ticks and proposals that arrive meanwhile are
// stepped into the core at once and go out batched in the next Ready (group commit).
//
// A full disk (StorageError 'no-space' in step 2) does not stop the node: it freezes. The Ready
// stays pending and is written again every diskRetryMs; meanwhile the core neither ticks nor
// takes messages (to its peers the node looks paused, a case Raft already handles: the others
// elect a leader without it, and it catches up when it thaws), and proposals and reads are
// refused at once with 'no-space'. Once the write succeeds the node carries on from that Ready.
// Any other storage failure stops the node (onFatal): only a reopen can be trusted then.

import type { Random } from '../../core/random.ts';
import type { Result } from '../../core/result.ts';
import { RAFT_DEFAULTS, type RaftOptions } from '../../core/raft/options.ts';
import { checkRestoredState, Raft, type RaftStatus, type RestoredState } from '../../core/raft/raft.ts';
import type { ConfigChange } from '../../core/raft/quorum.ts';
import type { ClusterConfig, Entry, HardState, LogIndex, Message, NodeId, ProposeError, Proposed, Ready, SnapshotMeta, SoftState, Term } from '../../core/raft/types.ts';
import type { Clock, Timer } from '../clock.ts';
import type { Address, RpcTransport } from '../transport/types.ts';
import { isNoSpace } from '../storage/fs.ts';
import { RaftPeers } from './peers.ts';

/** The replicated state machine. apply() must be deterministic: every node applies the same log. */
export interface StateMachine {
  /** Applies one command; the result settles the proposal on the node that proposed it. */
  apply(entry: { readonly index: LogIndex; readonly term: Term; readonly data: Uint8Array }): unknown;
  /** Everything applied so far, as bytes (taken between two applies, so it is exact). */
  snapshot(): Uint8Array;
  /** Replaces the whole state with a snapshot's. */
  restore(data: Uint8Array): void;
}

/** What the node needs from durable storage (src/runtime/storage/raft-storage.ts). */
export interface RaftDurableStore {
  append(entries: readonly Entry[]): Promise<void>;
  saveHardState(hs: HardState): Promise<void>;
  saveSnapshot(meta: SnapshotMeta, data: Uint8Array): Promise<void>;
  /** Drops log entries up to and including throughIndex. */
  compact(throughIndex: LogIndex): Promise<void>;
  readSnapshot(): Promise<{ meta: SnapshotMeta; data: Uint8Array } | undefined>;
  /** Makes a completely received incoming snapshot the current one (Figure 13 steps 6-7). */
  installSnapshot(meta: SnapshotMeta): Promise<void>;
  /** Starts or resumes receiving a snapshot; resolves with the bytes already present. */
  beginIncoming(meta: SnapshotMeta, totalBytes: number): Promise<Result<number, IncomingError>>;
  /** Appends a chunk at offset (which must equal the bytes present); resolves with the new offset. */
  writeIncoming(meta: SnapshotMeta, offset: number, chunk: Uint8Array): Promise<Result<number, IncomingError>>;
  /** Verifies the complete file and makes it durable, ready for installSnapshot. */
  finishIncoming(meta: SnapshotMeta): Promise<Result<void, IncomingError>>;
}

/** Why an incoming snapshot chunk was not taken; expectedOffset says where to resume. */
export interface IncomingError {
  readonly message: string;
  readonly expectedOffset?: number | undefined;
}

export interface RaftNodeLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface RaftNodeOptions {
  readonly id: NodeId;
  /** Messages from another cluster (or epoch) are refused. */
  readonly cluster: string;
  readonly clock: Clock;
  readonly random: Random;
  readonly rpc: RpcTransport;
  readonly store: RaftDurableStore;
  readonly fsm: StateMachine;
  /** Where a peer's RPC endpoint is now (addresses come from gossip; identity never does). */
  readonly resolve: (id: NodeId) => Address | undefined;
  /** What the node starts from (recovered from the store, or bootstrapped). */
  readonly restored: RestoredState;
  /** The snapshot's state machine data when `restored.snapshot` is set. */
  readonly snapshotData?: Uint8Array | undefined;
  readonly tickMs?: number;
  readonly raft?: Partial<Omit<RaftOptions, 'id'>>;
  /** Take a snapshot once this many entries were applied since the last one. */
  readonly snapshotEveryEntries?: number;
  /** Entries kept behind a snapshot so slightly slow followers need no snapshot. */
  readonly snapshotKeepEntries?: number;
  readonly proposalTimeoutMs?: number;
  readonly snapshotChunkBytes?: number;
  readonly log?: RaftNodeLog;
  /** Role, leader or term changed. */
  readonly onSoftState?: (s: SoftState) => void;
  /** A configuration entry was applied (committed). */
  readonly onConfigApplied?: (config: ClusterConfig, index: LogIndex) => void;
  /** Storage failed: the node stopped; the owner decides (restart from disk, alert). */
  readonly onFatal?: (error: Error) => void;
  /** How often a frozen node tries its pending write again. */
  readonly diskRetryMs?: number;
}

export const RAFT_NODE_DEFAULTS = {
  tickMs: 100,
  // etcd snapshots every 100k entries; the log in memory between snapshots is what this bounds.
  snapshotEveryEntries: 16_384,
  snapshotKeepEntries: 1024,
  proposalTimeoutMs: 10_000,
  snapshotChunkBytes: 512 * 1024,
  diskRetryMs: 1_000,
} as const;

export type RaftNodeErrorCode =
  | ProposeError['code']
  /** The proposal's index was taken by another leader's entry: it will never be applied. */
  | 'leadership-lost'
  | 'timeout'
  /** No leader is known to confirm a read. */
  | 'no-leader'
  /** This node's disk is full: it is frozen until space returns (a proposal in flight may still commit). */
  | 'no-space'
  | 'stopped';

export class RaftNodeError extends Error {
  readonly code: RaftNodeErrorCode;
  /** The leader to retry with, when known. */
  readonly leader: NodeId | undefined;
  constructor(code: RaftNodeErrorCode, message: string, leader?: NodeId) {
    super(message);
    this.name = 'RaftNodeError';
    this.code = code;
    this.leader = leader;
  }
}

/** The recovered state cannot be trusted; the node refuses to start rather than guess. */
export class RaftStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RaftStateError';
  }
}

export interface Applied extends Proposed {
  /** What StateMachine.apply returned. */
  readonly result: unknown;
}

// Waiters carry a deadline checked on every tick rather than a timer each: at 100k proposals a
// second, a timer and its closures per proposal were a large share of all allocations.
interface ProposalWaiter {
  readonly term: Term;
  readonly deadlineMs: number;
  readonly resolve: (a: Applied) => void;
  readonly reject: (e: RaftNodeError) => void;
}

interface ReadWaiter {
  index: LogIndex;
  readonly deadlineMs: number;
  readonly resolve: (index: LogIndex) => void;
  readonly reject: (e: RaftNodeError) => void;
}

export class RaftNode {
  readonly id: NodeId;
  readonly #o: RaftNodeOptions;
  readonly #raft: Raft;
  readonly #peers: RaftPeers;
  readonly #tickMs: number;
  readonly #proposals = new Map<LogIndex, ProposalWaiter>();
  readonly #reads = new Map<number, ReadWaiter>();
  /** Observers of role, leader and term changes besides options.onSoftState (metrics). */
  readonly #softStateListeners = new Set<(s: SoftState) => void>();
  /**
   * Read request ids start at a random point: a leader may answer a request this node made
   * before it restarted, and that answer must not settle a new request that reused its id (found
   * by npm run sim -- --seed 1972: a stale read point resolved a fresh read).
   */
  #nextReadId: number;
  #ticker: Timer | undefined;
  #driving = false;
  #stopped = false;
  #idle: Promise<void> = Promise.resolve();
  /** A snapshot being written in the background (at most one). */
  #snapshotWrite: Promise<void> | undefined;
  /** A snapshot that is durable; the log is compacted behind it at the next loop boundary. */
  #snapshotWritten: SnapshotMeta | undefined;
  #soft: SoftState;
  #lastSnapshotIndex: LogIndex;
  #persistedTermVote: { term: Term; vote: NodeId | undefined };
  /** Set while the disk is full: the Ready whose write failed, retried when `retry` fires. */
  #frozen: { readonly rd: Ready; readonly since: number; error: Error; retry: Timer | undefined } | undefined;
  /** The Ready whose snapshot is installed: a retry after a full disk does not install it twice. */
  #snapshotInstalledFor: Ready | undefined;
  /** When this follower last heard from its leader (clock ms), to notice a silent one. */
  #leaderHeard: { readonly id: NodeId; atMs: number } | undefined;
  /** A ping to the silent leader is in flight (at most one). */
  #pingingLeader = false;
  /** No snapshot is attempted before this time after one failed on a full disk. */
  #snapshotRetryAtMs = 0;

  constructor(options: RaftNodeOptions) {
    const problem = checkRestoredState(options.restored);
    if (problem !== undefined) throw new RaftStateError(`refusing to start: ${problem}`);
    this.id = options.id;
    this.#o = options;
    this.#tickMs = options.tickMs ?? RAFT_NODE_DEFAULTS.tickMs;
    // 52 random bits: ids of two incarnations collide with negligible probability.
    this.#nextReadId = (options.random.nextUint32() & 0xfffff) * 2 ** 32 + options.random.nextUint32() + 1;
    this.#raft = new Raft({ ...RAFT_DEFAULTS, ...options.raft, id: options.id }, options.random, options.restored);
    this.#soft = { role: this.#raft.role, leader: this.#raft.leader, term: this.#raft.term };
    this.#lastSnapshotIndex = options.restored.snapshot?.index ?? 0;
    this.#persistedTermVote = { term: options.restored.hardState.term, vote: options.restored.hardState.vote };
    if (options.restored.snapshot !== undefined) {
      if (options.snapshotData === undefined) throw new RaftStateError('refusing to start: a snapshot is recorded but its data is missing');
      options.fsm.restore(options.snapshotData);
    }
    this.#peers = new RaftPeers({
      id: options.id,
      cluster: options.cluster,
      rpc: options.rpc,
      store: options.store,
      resolve: options.resolve,
      chunkBytes: options.snapshotChunkBytes ?? RAFT_NODE_DEFAULTS.snapshotChunkBytes,
      log: options.log,
      onMessages: (messages) => this.#onMessages(messages),
      onSnapshotFailed: (to) => {
        this.#raft.reportSnapshotFailed(to);
        this.#kick();
      },
      onUnreachable: (to) => this.#raft.reportUnreachable(to),
    });
  }

  /** Starts ticking and serving. A single-voter cluster elects itself at once. */
  start(): void {
    const status = this.#raft.status();
    if (status.config.voters.length === 1 && status.config.voters[0] === this.id) this.#raft.campaign();
    this.#scheduleTick();
    this.#kick();
  }

  /** Stops ticking, fails waiting proposals and reads, waits for the Ready in progress. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#ticker?.cancel();
    this.#frozen?.retry?.cancel();
    this.#peers.stop();
    this.#failAll(new RaftNodeError('stopped', 'the Raft node stopped'));
    await this.#idle;
    await this.#snapshotWrite;
  }

  /** Replicates a command; settles once applied here (with the state machine's result). */
  propose(data: Uint8Array, options: { timeoutMs?: number } = {}): Promise<Applied> {
    const refused = this.#refusal();
    if (refused !== undefined) return Promise.reject(refused);
    const r = this.#raft.propose(data);
    return this.#waitApplied(r, options.timeoutMs);
  }

  /** One-voter-at-a-time configuration change; settles once the change is applied here. */
  proposeConfigChange(change: ConfigChange, options: { timeoutMs?: number } = {}): Promise<Applied> {
    const refused = this.#refusal();
    if (refused !== undefined) return Promise.reject(refused);
    const r = this.#raft.proposeConfigChange(change);
    return this.#waitApplied(r, options.timeoutMs);
  }

  /**
   * A linearizable read point (thesis 6.4): resolves once this node's state machine has applied
   * every entry committed before the call, so a local read that follows is linearizable.
   */
  readIndex(options: { timeoutMs?: number } = {}): Promise<LogIndex> {
    const refused = this.#refusal();
    if (refused !== undefined) return Promise.reject(refused);
    const requestId = this.#nextReadId++;
    const timeoutMs = options.timeoutMs ?? this.#o.proposalTimeoutMs ?? RAFT_NODE_DEFAULTS.proposalTimeoutMs;
    return new Promise<LogIndex>((resolve, reject) => {
      this.#reads.set(requestId, { index: -1, deadlineMs: this.#o.clock.nowMs() + timeoutMs, resolve, reject });
      this.#raft.readIndex(requestId);
      this.#kick();
    });
  }

  /** Hands leadership to `target`; resolves once this node sees it lead (or rejects on timeout). */
  transferLeadership(target: NodeId, options: { timeoutMs?: number } = {}): Promise<void> {
    const r = this.#raft.transferLeadership(target);
    if (!r.ok) return Promise.reject(new RaftNodeError('not-leader', `cannot transfer leadership: ${r.error}`, this.#raft.leader));
    this.#kick();
    // The core abandons a transfer after an election timeout; allow for the election after it.
    const electionTicks = this.#o.raft?.electionTicks ?? RAFT_DEFAULTS.electionTicks;
    const timeoutMs = options.timeoutMs ?? (electionTicks * 2 + 2) * this.#tickMs;
    return new Promise<void>((resolve, reject) => {
      const started = this.#o.clock.nowMs();
      const check = (): void => {
        if (this.#stopped) return reject(new RaftNodeError('stopped', 'the Raft node stopped'));
        if (this.#soft.leader === target) return resolve();
        if (this.#o.clock.nowMs() - started >= timeoutMs) {
          return reject(new RaftNodeError('timeout', `${target} did not take over within ${timeoutMs} ms`, this.#soft.leader));
        }
        this.#o.clock.setTimer(this.#tickMs, check);
      };
      check();
    });
  }

  status(): RaftStatus {
    return this.#raft.status();
  }

  /** While the disk is full: since when (clock ms) and the write that failed. */
  get diskFull(): { readonly sinceMs: number; readonly error: string } | undefined {
    return this.#frozen === undefined ? undefined : { sinceMs: this.#frozen.since, error: this.#frozen.error.message };
  }

  #refusal(): RaftNodeError | undefined {
    if (this.#stopped) return new RaftNodeError('stopped', 'the Raft node stopped');
    if (this.#frozen !== undefined) return this.#noSpaceError();
    return undefined;
  }

  #noSpaceError(): RaftNodeError {
    return new RaftNodeError('no-space', `the disk of node ${this.id} is full (${this.#frozen?.error.message ?? 'no space left'}); it resumes by itself once space returns`, this.#raft.leader);
  }

  /** The core itself, read-only use: invariant checks in the simulator and tests. */
  get core(): Raft {
    return this.#raft;
  }

  get leader(): NodeId | undefined {
    return this.#soft.leader;
  }

  get role(): SoftState['role'] {
    return this.#soft.role;
  }

  /**
   * Also tells `listener` of every role, leader or term change (after options.onSoftState), for
   * observers added once the node runs, such as metrics. Returns the unsubscribe function.
   */
  subscribeSoftState(listener: (s: SoftState) => void): () => void {
    this.#softStateListeners.add(listener);
    return () => {
      this.#softStateListeners.delete(listener);
    };
  }

  // --- Loop ----------------------------------------------------------------------------------

  #scheduleTick(): void {
    if (this.#stopped) return;
    this.#ticker = this.#o.clock.setTimer(this.#tickMs, () => {
      if (this.#stopped) return;
      if (this.#frozen === undefined) {
        this.#raft.tick();
        this.#checkSilentLeader();
      }
      this.#expireWaiters();
      this.#kick();
      this.#scheduleTick();
    });
  }

  #onMessages(messages: readonly Message[]): void {
    // A frozen node drops what arrives, as a paused process would; senders retry.
    if (this.#stopped || this.#frozen !== undefined) return;
    const leader = this.#raft.leader;
    for (const m of messages) {
      if (m.from === leader && this.#leaderHeard?.id === leader) this.#leaderHeard.atMs = this.#o.clock.nowMs();
      this.#raft.step(m);
    }
    this.#kick();
  }

  /** Processes Readies until there are none; re-entrant calls just return (the loop re-checks). */
  #kick(): void {
    if (this.#driving || this.#stopped) return;
    this.#driving = true;
    this.#idle = this.#drive().finally(() => {
      this.#driving = false;
      // Work that arrived in the last microtasks of the loop (its kick returned early) is not
      // left waiting for the next tick.
      if (!this.#stopped && this.#frozen === undefined && (this.#raft.hasReady() || this.#snapshotWritten !== undefined)) this.#kick();
    });
  }

  async #drive(): Promise<void> {
    try {
      // Let the current burst of messages and proposals land first: one Ready for all of them.
      await Promise.resolve();
      // Frozen: only the retry timer (retry unset) tries the pending write again, not every kick.
      if (this.#frozen !== undefined && (this.#frozen.retry !== undefined || !(await this.#finishReady(this.#frozen.rd)))) return;
      while (!this.#stopped) {
        this.#compactBehindSnapshot();
        if (!this.#raft.hasReady()) break;
        if (!(await this.#finishReady(this.#raft.ready()))) return;
      }
    } catch (e) {
      this.#fatal(e instanceof Error ? e : new Error(String(e)));
    }
  }

  /** Handles and advances `rd`; false when the node stopped or froze on a full disk meanwhile. */
  async #finishReady(rd: Ready): Promise<boolean> {
    try {
      await this.#handleReady(rd);
    } catch (e) {
      if (!isNoSpace(e)) throw e;
      this.#freeze(rd, e as Error);
      return false;
    }
    if (this.#stopped) return false;
    this.#snapshotInstalledFor = undefined;
    this.#raft.advance(rd);
    if (this.#frozen !== undefined) this.#thaw();
    this.#maybeStartSnapshot();
    return true;
  }

  #freeze(rd: Ready, error: Error): void {
    const diskRetryMs = this.#o.diskRetryMs ?? RAFT_NODE_DEFAULTS.diskRetryMs;
    if (this.#frozen === undefined) {
      this.#frozen = { rd, since: this.#o.clock.nowMs(), error, retry: undefined };
      this.#o.log?.error({ err: error.message, retryMs: diskRetryMs }, 'disk full: raft frozen until space returns');
      // A waiting proposal's entry may already be on the followers and commit without this node:
      // its outcome is unknown, and the error says so.
      this.#failAll(new RaftNodeError('no-space', `${this.#noSpaceError().message}; a write in flight may still commit`, this.#raft.leader));
    }
    this.#frozen.error = error;
    this.#frozen.retry = this.#o.clock.setTimer(diskRetryMs, () => {
      if (this.#frozen !== undefined) this.#frozen.retry = undefined;
      this.#kick();
    });
  }

  #thaw(): void {
    const frozen = this.#frozen;
    if (frozen === undefined) return;
    this.#frozen = undefined;
    frozen.retry?.cancel();
    this.#o.log?.info({ frozenMs: this.#o.clock.nowMs() - frozen.since }, 'disk has space again: raft resumed');
  }

  async #handleReady(rd: Ready): Promise<void> {
    const retry = this.#frozen?.rd === rd;
    // Announced on the first attempt; on a retry after a full disk it is old news (the checker
    // of npm run sim -- --seed 271 --scenario raft-disk took it for a new leader).
    if (rd.softState !== undefined && !retry) this.#onSoftState(rd.softState);
    const early: Message[] = [];
    const late: Message[] = [];
    for (const m of rd.messages) (m.type === 'append' ? early : late).push(m);
    this.#peers.send(early);

    // A Ready retried after a full disk may have installed its snapshot on an earlier attempt.
    if (rd.snapshot !== undefined && this.#snapshotInstalledFor !== rd) {
      await this.#o.store.installSnapshot(rd.snapshot);
      this.#snapshotInstalledFor = rd;
      const snap = await this.#o.store.readSnapshot();
      if (snap === undefined || snap.meta.index !== rd.snapshot.index) throw new Error(`installed snapshot ${rd.snapshot.index} is not readable back`);
      this.#o.fsm.restore(snap.data);
      this.#lastSnapshotIndex = rd.snapshot.index;
      this.#failProposalsUpTo(rd.snapshot.index);
      this.#o.log?.info({ index: rd.snapshot.index, term: rd.snapshot.term, bytes: snap.data.length }, 'raft snapshot installed from the leader');
    }
    const writes: Promise<void>[] = [];
    if (rd.entries.length > 0) writes.push(this.#o.store.append(rd.entries));
    const hs = rd.hardState;
    // Term and vote must be durable before a vote leaves (Figure 2); commit is a hint that a
    // restart re-learns from the leader, so it rides along only when term or vote changed.
    if (hs !== undefined && (hs.term !== this.#persistedTermVote.term || hs.vote !== this.#persistedTermVote.vote)) {
      writes.push(this.#o.store.saveHardState(hs).then(() => {
        this.#persistedTermVote = { term: hs.term, vote: hs.vote };
      }));
    }
    await Promise.all(writes);
    if (this.#stopped) return;

    this.#peers.send(late);
    for (const e of rd.committed) this.#apply(e);
    for (const rs of rd.readStates) {
      const w = this.#reads.get(rs.requestId);
      if (w === undefined) continue;
      if (rs.index === 0) {
        this.#reads.delete(rs.requestId);
        w.reject(new RaftNodeError('no-leader', 'no leader could confirm the read; retry', this.#raft.leader));
      } else {
        w.index = rs.index;
      }
    }
    this.#settleReads();
  }

  #apply(e: Entry): void {
    let result: unknown = undefined;
    if (e.type === 'normal' && e.data.length > 0) result = this.#o.fsm.apply({ index: e.index, term: e.term, data: e.data });
    if (e.type === 'config' && e.config !== undefined) this.#o.onConfigApplied?.(e.config, e.index);
    const w = this.#proposals.get(e.index);
    if (w === undefined) return;
    this.#proposals.delete(e.index);
    if (w.term === e.term) w.resolve({ index: e.index, term: e.term, result });
    else w.reject(new RaftNodeError('leadership-lost', `entry ${e.index} of term ${w.term} was replaced by term ${e.term} before it committed`, this.#raft.leader));
  }

  #settleReads(): void {
    // Runs every Ready: read the applied index directly (status() copies every follower's progress).
    if (this.#reads.size === 0) return;
    const applied = this.#raft.log.applied;
    for (const [id, w] of this.#reads) {
      if (w.index < 0 || w.index > applied) continue;
      this.#reads.delete(id);
      w.resolve(w.index);
    }
  }

  #onSoftState(s: SoftState): void {
    const before = this.#soft;
    this.#soft = s;
    if (before.role !== s.role || before.leader !== s.leader) {
      this.#o.log?.info({ role: s.role, term: s.term, leader: s.leader }, 'raft role changed');
    }
    this.#o.onSoftState?.(s);
    for (const listener of this.#softStateListeners) listener(s);
  }

  /**
   * Starts a snapshot once enough entries were applied since the last one. The state machine is
   * captured here, between two applies, so it matches the applied index exactly; writing it
   * happens in the background, so commits and applies go on meanwhile (the bench measured the
   * loop stalled ~5 ms per snapshot when it waited).
   */
  #maybeStartSnapshot(): void {
    const every = this.#o.snapshotEveryEntries ?? RAFT_NODE_DEFAULTS.snapshotEveryEntries;
    if (this.#snapshotWrite !== undefined || this.#raft.log.applied - this.#lastSnapshotIndex < every) return;
    if (this.#o.clock.nowMs() < this.#snapshotRetryAtMs) return;
    const meta = this.#raft.snapshotMetaAtApplied();
    const data = this.#o.fsm.snapshot();
    const previousSnapshotIndex = this.#lastSnapshotIndex;
    this.#lastSnapshotIndex = meta.index;
    this.#snapshotWrite = this.#o.store.saveSnapshot(meta, data).then(
      () => {
        this.#snapshotWrite = undefined;
        this.#snapshotWritten = meta;
        this.#o.log?.info({ index: meta.index, term: meta.term, bytes: data.length }, 'raft snapshot taken');
        this.#kick();
      },
      (e: unknown) => {
        this.#snapshotWrite = undefined;
        if (!isNoSpace(e)) return this.#fatal(e instanceof Error ? e : new Error(String(e)));
        // The log still holds everything; try again later rather than on every Ready.
        this.#lastSnapshotIndex = previousSnapshotIndex;
        this.#snapshotRetryAtMs = this.#o.clock.nowMs() + 10 * (this.#o.diskRetryMs ?? RAFT_NODE_DEFAULTS.diskRetryMs);
        this.#o.log?.warn({ index: meta.index, err: (e as Error).message }, 'raft snapshot not written: the disk is full; retrying later');
      },
    );
  }

  /** Once a snapshot is durable: offer it to followers and drop the log behind it (minus a margin). */
  #compactBehindSnapshot(): void {
    const meta = this.#snapshotWritten;
    if (meta === undefined) return;
    this.#snapshotWritten = undefined;
    this.#raft.snapshotSaved(meta);
    const keep = this.#o.snapshotKeepEntries ?? RAFT_NODE_DEFAULTS.snapshotKeepEntries;
    const through = Math.min(meta.index - keep, this.#raft.latestSnapshot?.index ?? 0);
    if (through <= this.#raft.log.offsetIndex) return;
    this.#raft.compact(through);
    // RaftStorage orders compaction after earlier appends; a failure makes the storage unusable,
    // which the next append reports.
    this.#o.store.compact(through).catch((e: unknown) => this.#fatal(e instanceof Error ? e : new Error(String(e))));
  }

  /**
   * A follower whose leader fell silent for more than one heartbeat asks the leader's host
   * whether its process still runs. A crashed process (the common failure: OOM, panic, kill)
   * leaves a host that refuses connections at once, and then the follower forgets the leader
   * (Raft.forgetLeader) instead of waiting out the election timeout: failover in a few hundred
   * milliseconds instead of one to two seconds. A host that does not answer at all (partition,
   * power loss, a paused process) tells nothing, and the election timeout rules as usual.
   */
  #checkSilentLeader(): void {
    const leader = this.#raft.leader;
    if (leader === undefined || leader === this.id || this.#raft.role !== 'follower') {
      this.#leaderHeard = undefined;
      return;
    }
    const now = this.#o.clock.nowMs();
    if (this.#leaderHeard?.id !== leader) {
      this.#leaderHeard = { id: leader, atMs: now };
      return;
    }
    const heartbeatMs = (this.#o.raft?.heartbeatTicks ?? RAFT_DEFAULTS.heartbeatTicks) * this.#tickMs;
    if (this.#pingingLeader || now - this.#leaderHeard.atMs <= heartbeatMs + this.#tickMs) return;
    this.#pingingLeader = true;
    const electionMs = (this.#o.raft?.electionTicks ?? RAFT_DEFAULTS.electionTicks) * this.#tickMs;
    void this.#peers.ping(leader, Math.max(this.#tickMs, electionMs / 2)).then((answer) => {
      this.#pingingLeader = false;
      if (answer !== 'refused' || this.#stopped || this.#frozen !== undefined || this.#raft.leader !== leader) return;
      if (!this.#raft.forgetLeader()) return;
      this.#o.log?.info({ leader, silentMs: this.#o.clock.nowMs() - (this.#leaderHeard?.atMs ?? now) }, 'the leader\'s host refuses connections (its process is gone): electing a new leader without waiting out the timeout');
      this.#kick();
    });
  }

  /** Rejects proposals and reads whose deadline passed (checked every tick). */
  #expireWaiters(): void {
    const now = this.#o.clock.nowMs();
    for (const [index, w] of this.#proposals) {
      if (w.deadlineMs > now) continue;
      this.#proposals.delete(index);
      w.reject(new RaftNodeError('timeout', `entry ${index} not applied in time (it may still commit)`, this.#raft.leader));
    }
    for (const [id, w] of this.#reads) {
      if (w.deadlineMs > now) continue;
      this.#reads.delete(id);
      w.reject(new RaftNodeError('timeout', 'read not confirmed in time', this.#raft.leader));
    }
  }

  #waitApplied(r: { ok: true; value: Proposed } | { ok: false; error: ProposeError }, timeoutMs?: number): Promise<Applied> {
    if (!r.ok) return Promise.reject(proposeError(r.error));
    const { index, term } = r.value;
    const ms = timeoutMs ?? this.#o.proposalTimeoutMs ?? RAFT_NODE_DEFAULTS.proposalTimeoutMs;
    this.#kick();
    return new Promise<Applied>((resolve, reject) => {
      this.#proposals.set(index, { term, deadlineMs: this.#o.clock.nowMs() + ms, resolve, reject });
    });
  }

  /** Proposals at or below a restored snapshot's index can no longer be matched to an entry. */
  #failProposalsUpTo(index: LogIndex): void {
    for (const [i, w] of this.#proposals) {
      if (i > index) continue;
      this.#proposals.delete(i);
      // 'leadership-lost' promises the entry was not applied; here nobody knows (like a timeout).
      w.reject(new RaftNodeError('timeout', `entry ${i} was superseded by a snapshot before this node saw it applied; it may have committed`, this.#raft.leader));
    }
  }

  #failAll(e: RaftNodeError): void {
    for (const w of this.#proposals.values()) w.reject(e);
    this.#proposals.clear();
    for (const w of this.#reads.values()) w.reject(e);
    this.#reads.clear();
  }

  #fatal(e: Error): void {
    if (this.#stopped) return;
    this.#o.log?.error({ err: e.message }, 'raft storage failed; node stopped');
    this.#stopped = true;
    this.#ticker?.cancel();
    this.#peers.stop();
    this.#failAll(new RaftNodeError('stopped', `the Raft node stopped: ${e.message}`));
    this.#o.onFatal?.(e);
  }
}

function proposeError(e: ProposeError): RaftNodeError {
  switch (e.code) {
    case 'not-leader':
      return new RaftNodeError('not-leader', e.leader === undefined ? 'not the leader, and no leader is known' : `not the leader; the leader is ${e.leader}`, e.leader);
    case 'transferring':
      return new RaftNodeError('transferring', 'leadership is being transferred; retry shortly', e.leader);
    case 'config-change-pending':
      return new RaftNodeError('config-change-pending', 'another configuration change is not yet committed');
    case 'not-ready':
      return new RaftNodeError('not-ready', e.reason);
    case 'invalid-config':
      return new RaftNodeError('invalid-config', e.reason);
    case 'too-large':
      return new RaftNodeError('too-large', `entry of ${e.bytes} bytes exceeds the limit of ${e.maxBytes}`);
    case 'overloaded':
      return new RaftNodeError('overloaded', `${e.uncommittedBytes} bytes proposed and not yet committed; retry later`);
  }
}
