// The Raft state machine (Ongaro & Ousterhout, "In Search of an Understandable Consensus
// Algorithm", and Ongaro's thesis), in the shape of etcd-raft: step(message), tick(),
// propose(data), then ready() / advance() to hand work to the runtime. Pure: no clocks, no I/O;
// time is ticks, randomness is injected.
//
// Section references: "5.x" is the Raft paper, "T x.y" is the thesis.

import type { Random } from '../random.ts';
import { assert, err, ok, type Result } from '../result.ts';
import { entryBytes, RaftLog } from './log.ts';
import { checkRaftOptions, type RaftOptions } from './options.ts';
import { Progress } from './progress.ts';
import {
  applyConfigChange,
  committedIndex,
  configMembers,
  EMPTY_CONFIG,
  formatConfig,
  hasQuorum,
  isSafeSuccessor,
  voteOutcome,
  type ConfigChange,
} from './quorum.ts';
import type {
  AppendRequest,
  AppendResponse,
  ClusterConfig,
  Entry,
  HardState,
  HeartbeatRequest,
  HeartbeatResponse,
  LogIndex,
  Message,
  NodeId,
  Proposed,
  ProposeError,
  ReadState,
  Ready,
  Role,
  SnapshotMeta,
  SnapshotRequest,
  SoftState,
  Term,
  VoteRequest,
  VoteResponse,
} from './types.ts';

/** What a node starts from: fresh (all empty), recovered from disk, or bootstrapped. */
export interface RestoredState {
  readonly hardState: HardState;
  readonly snapshot: SnapshotMeta | undefined;
  readonly entries: readonly Entry[];
}

export const EMPTY_STATE: RestoredState = {
  hardState: { term: 0, vote: undefined, commit: 0 },
  snapshot: undefined,
  entries: [],
};

/**
 * The first state of a brand-new cluster: one committed config entry at index 1, term 1. Every
 * node of a --bootstrap-expect group computes the same entry, so their logs agree from the start.
 */
export function bootstrapState(config: ClusterConfig): RestoredState {
  assert(config.voters.length > 0, 'a bootstrap configuration has at least one voter');
  return {
    hardState: { term: 1, vote: undefined, commit: 1 },
    snapshot: undefined,
    entries: [{ term: 1, index: 1, type: 'config', data: new Uint8Array(0), config }],
  };
}

/** Why a recovered state cannot be trusted, or undefined. A node refuses to run on it. */
export function checkRestoredState(state: RestoredState): string | undefined {
  const snapIndex = state.snapshot?.index ?? 0;
  let prevTerm = state.snapshot?.term ?? 0;
  let expected = snapIndex + 1;
  for (const e of state.entries) {
    if (e.index !== expected) return `log entry ${e.index} found where ${expected} was expected (the log does not continue the snapshot at ${snapIndex})`;
    if (e.term < prevTerm) return `log entry ${e.index} has term ${e.term}, below the previous term ${prevTerm}`;
    if ((e.type === 'config') !== (e.config !== undefined)) return `log entry ${e.index} of type ${e.type} ${e.config ? 'carries' : 'lacks'} a configuration`;
    prevTerm = e.term;
    expected++;
  }
  const lastIndex = expected - 1;
  if (state.hardState.commit > lastIndex) return `hard state commit ${state.hardState.commit} is beyond the last log index ${lastIndex}: entries are missing`;
  if (state.hardState.term < prevTerm) return `hard state term ${state.hardState.term} is below the last log term ${prevTerm}`;
  return undefined;
}

export interface ProgressView {
  readonly match: LogIndex;
  readonly next: LogIndex;
  readonly state: Progress['state'];
  readonly recentActive: boolean;
  readonly inflight: number;
  /** The follower lost entries it had acknowledged (see Progress.regressed). */
  readonly regressed: boolean;
}

export interface RaftStatus {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: Term;
  readonly vote: NodeId | undefined;
  readonly leader: NodeId | undefined;
  readonly firstIndex: LogIndex;
  readonly lastIndex: LogIndex;
  readonly lastTerm: Term;
  readonly commit: LogIndex;
  readonly applied: LogIndex;
  readonly stable: LogIndex;
  readonly config: ClusterConfig;
  readonly transferee: NodeId | undefined;
  /** Leader only: each follower's progress. */
  readonly progress: ReadonlyMap<NodeId, ProgressView>;
}

interface ReadRequest {
  readonly requestId: number;
  readonly from: NodeId;
}

interface ReadRound {
  readonly id: number;
  readonly index: LogIndex;
  readonly requests: ReadRequest[];
  readonly acks: Set<NodeId>;
  broadcast: boolean;
  /** Leader tick at which the round's first heartbeat went out (for the lease, T 6.4.1). */
  sentTick: number;
}

const NO_DATA = new Uint8Array(0);

export class Raft {
  readonly id: NodeId;
  readonly #o: RaftOptions;
  readonly #random: Random;
  readonly log: RaftLog;

  #term: Term;
  #vote: NodeId | undefined;
  #role: Role = 'follower';
  #leader: NodeId | undefined = undefined;

  #electionElapsed = 0;
  #heartbeatElapsed = 0;
  #randomizedElectionTicks = 0;

  /** Leader: one per other member. */
  #progress = new Map<NodeId, Progress>();
  /** Candidate and pre-candidate: answers so far. */
  #votes = new Map<NodeId, boolean>();
  #transferee: NodeId | undefined = undefined;
  /**
   * Leader: a TimeoutNow went out in this term. Its target's vote requests override the
   * followers' leader lease (T 3.10), so a new leader may commit before we hear of it: lease
   * reads are no longer safe in this term (T 6.4.1 assumes no election within the lease).
   */
  #leaseVoid = false;
  #uncommittedBytes = 0;
  /** Leader: proposals or a commit move since the last broadcast of appends. */
  #broadcastPending = false;
  #configIndexSeen: LogIndex;

  /** Leader: read requests waiting until an entry of this term is committed (T 6.4, step 1). */
  #readsAwaitingCommit: ReadRequest[] = [];
  #readRounds: ReadRound[] = [];
  #nextReadRound = 1;
  /** Leader: ticks since it took office (the lease is measured on them). */
  #leaderTicks = 0;
  /**
   * Leader, lease mode: lease reads are answered while #leaderTicks is below this (T 6.4.1). A
   * heartbeat round sent at tick s and answered by a majority extends it to s + electionTicks - 1:
   * every member of that majority heard us at s or later and grants no vote for an election
   * timeout after (the lease check in #acceptHigherTerm), so no other leader can exist before;
   * one tick less because the nodes' ticks are not aligned.
   */
  #leaseUntil = 0;
  /** Ticks since this node started, up to electionTicks (see #acceptHigherTerm). */
  #startTicks = 0;

  /** The newest snapshot the runtime holds, sent to followers whose entries were compacted. */
  #latestSnapshot: SnapshotMeta | undefined;
  /** A snapshot received from the leader, for the runtime to install. */
  #snapshotToInstall: SnapshotMeta | undefined = undefined;

  #msgs: Message[] = [];
  #readStates: ReadState[] = [];
  #lastHard: HardState;
  #lastSoft: SoftState;
  #outstanding: Ready | undefined = undefined;

  constructor(options: RaftOptions, random: Random, restored: RestoredState) {
    const problem = checkRaftOptions(options) ?? checkRestoredState(restored);
    assert(problem === undefined, `raft: ${problem}`);
    this.id = options.id;
    this.#o = options;
    this.#random = random;
    const snapshot = restored.snapshot ?? { index: 0, term: 0, config: EMPTY_CONFIG };
    this.#latestSnapshot = restored.snapshot;
    this.log = new RaftLog(snapshot, restored.entries, restored.hardState.commit);
    this.#term = restored.hardState.term;
    this.#vote = restored.hardState.vote;
    this.#configIndexSeen = this.log.configIndex;
    this.#lastHard = this.#hardState();
    this.#lastSoft = this.#softState();
    this.#resetElectionTimer();
  }

  // --- Inputs --------------------------------------------------------------------------------

  /** One unit of logical time (the runtime calls this every tickMs). */
  tick(): void {
    if (this.#startTicks < this.#o.electionTicks) this.#startTicks++;
    if (this.#role === 'leader') this.#tickLeader();
    else this.#tickElection();
  }

  /** Feeds one message from a peer. Messages not addressed to this node are ignored. */
  step(m: Message): void {
    if (m.to !== this.id || m.from === this.id) return;
    if (m.term > this.#term) {
      if (!this.#acceptHigherTerm(m)) return;
    } else if (m.term < this.#term) {
      this.#answerStaleTerm(m);
      return;
    }
    if (m.type === 'vote') {
      this.#handleVote(m);
      return;
    }
    switch (this.#role) {
      case 'leader':
        this.#stepLeader(m);
        return;
      case 'candidate':
      case 'pre-candidate':
        this.#stepCandidate(m);
        return;
      case 'follower':
        this.#stepFollower(m);
        return;
    }
  }

  /** Appends a command to the leader's log; it is replicated and applied later (see Ready). */
  propose(data: Uint8Array): Result<Proposed, ProposeError> {
    const refused = this.#refuseProposal();
    if (refused !== undefined) return err(refused);
    if (data.length > this.#o.maxEntryBytes) return err({ code: 'too-large', bytes: data.length, maxBytes: this.#o.maxEntryBytes });
    const bytes = data.length + 24;
    if (this.#uncommittedBytes > 0 && this.#uncommittedBytes + bytes > this.#o.maxUncommittedBytes) {
      return err({ code: 'overloaded', uncommittedBytes: this.#uncommittedBytes });
    }
    return ok(this.#appendAsLeader({ type: 'normal', data }));
  }

  /**
   * Proposes a one-voter-at-a-time configuration change (T 4.1). Refused until this leader has
   * committed an entry of its own term, and while another change is uncommitted: together these
   * close the single-server-change bug (T 4.1 errata, raft-dev 2015).
   */
  proposeConfigChange(change: ConfigChange): Result<Proposed, ProposeError> {
    const refused = this.#refuseProposal();
    if (refused !== undefined) return err(refused);
    if (this.log.term(this.log.commit) !== this.#term) return err({ code: 'not-ready', reason: 'the new leader has not yet committed an entry of its term' });
    if (this.log.configIndex > this.log.commit) return err({ code: 'config-change-pending' });
    const current = this.log.config;
    const next = applyConfigChange(current, change);
    if ('error' in next) return err({ code: 'invalid-config', reason: next.error });
    if (!isSafeSuccessor(current, next.config)) {
      return err({ code: 'invalid-config', reason: `${formatConfig(next.config)} is not a safe successor of ${formatConfig(current)}` });
    }
    return ok(this.#appendAsLeader({ type: 'config', data: NO_DATA, config: next.config }));
  }

  /**
   * Asks for a linearizable read point (T 6.4). The answer arrives as a ReadState with this
   * requestId: apply up to its index, then read. Index 0 means it could not be confirmed.
   */
  readIndex(requestId: number): void {
    if (this.#role === 'leader') {
      this.#handleReadRequest({ requestId, from: this.id });
    } else if (this.#leader !== undefined) {
      this.#send({ type: 'read-index', to: this.#leader, term: this.#term, requestId });
    } else {
      this.#readStates.push({ requestId, index: 0 });
    }
  }

  /**
   * Hands leadership to a caught-up voter (T 3.10): stop taking proposals, bring the target up to
   * date, then tell it to start an election at once. Aborted after an election timeout.
   */
  transferLeadership(target: NodeId): Result<void, string> {
    if (this.#role !== 'leader') return err('not the leader');
    if (target === this.id) return err('already the leader');
    if (!this.log.config.voters.includes(target)) return err(`${target} is not a voter`);
    if (this.#transferee === target) return ok(undefined);
    this.#transferee = target;
    this.#electionElapsed = 0;
    const pr = this.#progress.get(target);
    assert(pr !== undefined, 'a voter has progress');
    if (pr.match === this.log.lastIndex) this.#sendTimeoutNow(target);
    else this.#sendAppend(target, false);
    return ok(undefined);
  }

  /** Starts an election now (a single node at start-up need not wait for a timeout). */
  campaign(): void {
    if (this.#role !== 'leader') this.#campaign(this.#o.preVote ? 'pre-vote' : 'election');
  }

  /**
   * The runtime learned that the leader's process is gone: its host answered that nothing
   * listens on its Raft port. Waiting out a whole election timeout (1-2 s) would only wait for
   * a heartbeat that cannot come, so this follower forgets the leader, which lets it grant
   * (pre-)votes at once (etcd-io/raft has the same idea as ForgetLeader), and campaigns after a
   * short random delay: at least two ticks, so that the other followers, who see the same
   * silence, have forgotten it too and grant the pre-vote, and spread over a few more, so that
   * they rarely split the vote. Only a liveness hint: the election itself is the ordinary
   * pre-vote and vote, so a wrong hint costs at most an election. Ignored in lease mode, whose
   * reads rely on every follower waiting out the timeout, and by leaders and candidates.
   * True when the leader was forgotten.
   */
  forgetLeader(): boolean {
    if (this.#role !== 'follower' || this.#leader === undefined || this.#o.readMode === 'lease') return false;
    this.#leader = undefined;
    const delayTicks = 2 + this.#random.int(Math.max(1, Math.ceil(this.#o.electionTicks / 2)));
    this.#randomizedElectionTicks = Math.min(this.#randomizedElectionTicks, this.#electionElapsed + delayTicks);
    return true;
  }

  /** The runtime could not deliver the snapshot to `to`: fall back to probing (retry later). */
  reportSnapshotFailed(to: NodeId): void {
    const pr = this.#progress.get(to);
    if (this.#role !== 'leader' || pr === undefined || pr.state !== 'snapshot') return;
    pr.state = 'probe';
    pr.next = pr.match + 1;
    pr.pendingSnapshot = 0;
    // Wait for the next heartbeat answer before trying again, so failures are paced.
    pr.probeSent = true;
  }

  /** The runtime could not reach `to` at all: stop pipelining to it until it answers again. */
  reportUnreachable(to: NodeId): void {
    const pr = this.#progress.get(to);
    if (this.#role === 'leader' && pr !== undefined && pr.state === 'replicate') pr.becomeProbe();
  }

  /** The runtime saved a snapshot of the state machine at meta.index (<= applied). */
  snapshotSaved(meta: SnapshotMeta): void {
    assert(meta.index <= this.log.applied, `snapshot at ${meta.index} beyond applied ${this.log.applied}`);
    if (this.#latestSnapshot === undefined || meta.index > this.#latestSnapshot.index) this.#latestSnapshot = meta;
  }

  /** Drops entries up to throughIndex from memory (the storage compacts its log alike). */
  compact(throughIndex: LogIndex): void {
    assert(this.#latestSnapshot !== undefined && throughIndex <= this.#latestSnapshot.index, `compact(${throughIndex}) needs a snapshot at or after it`);
    this.log.compact(throughIndex);
  }

  /** What a snapshot taken now, at the applied index, must record. */
  snapshotMetaAtApplied(): SnapshotMeta {
    const index = this.log.applied;
    const term = this.log.term(index);
    assert(term !== undefined, `term of applied index ${index} is known`);
    return { index, term, config: this.log.configAt(index) };
  }

  // --- Outputs -------------------------------------------------------------------------------

  hasReady(): boolean {
    if (this.#outstanding !== undefined) return false;
    if (this.#role === 'leader' && (this.#broadcastPending || this.#readRounds.some((r) => !r.broadcast))) return true;
    return (
      this.#msgs.length > 0 ||
      this.#readStates.length > 0 ||
      this.#snapshotToInstall !== undefined ||
      this.log.handedOut < this.log.lastIndex ||
      Math.min(this.log.commit, this.log.stable) > this.log.applied ||
      !sameHardState(this.#hardState(), this.#lastHard) ||
      !sameSoftState(this.#softState(), this.#lastSoft)
    );
  }

  /** The next batch of work. Only one Ready is outstanding at a time: call advance() first. */
  ready(): Ready {
    assert(this.#outstanding === undefined, 'ready() called again before advance()');
    if (this.#role === 'leader') {
      if (this.#broadcastPending) this.#broadcastAppend();
      if (this.#readRounds.some((r) => !r.broadcast)) this.#broadcastHeartbeat();
    }
    const hard = this.#hardState();
    const soft = this.#softState();
    const entries = this.log.unstableEntries();
    this.log.handedOut = this.log.lastIndex;
    const rd: Ready = {
      softState: sameSoftState(soft, this.#lastSoft) ? undefined : soft,
      hardState: sameHardState(hard, this.#lastHard) ? undefined : hard,
      snapshot: this.#snapshotToInstall,
      entries,
      messages: this.#msgs,
      committed: this.log.committedToApply(this.#o.maxApplyBytes),
      readStates: this.#readStates,
    };
    this.#lastHard = hard;
    this.#lastSoft = soft;
    this.#snapshotToInstall = undefined;
    this.#msgs = [];
    this.#readStates = [];
    this.#outstanding = rd;
    return rd;
  }

  /** The runtime has persisted, sent and applied `rd` as its contract says. */
  advance(rd: Ready): void {
    assert(rd === this.#outstanding, 'advance() with a Ready that is not the outstanding one');
    this.#outstanding = undefined;
    // The newest handed-out entry that is still in the log (a later conflict may have cut some).
    for (let i = rd.entries.length - 1; i >= 0; i--) {
      const e = rd.entries[i]!;
      if (this.log.term(e.index) === e.term) {
        this.log.stable = Math.max(this.log.stable, e.index);
        break;
      }
    }
    const lastApplied = rd.committed.at(-1);
    if (lastApplied !== undefined) this.log.applied = Math.max(this.log.applied, lastApplied.index);
    // The leader's own entries count towards the quorum only once durable (5.3, 10.2.1 in T).
    if (this.#role === 'leader') this.#maybeCommit();
  }

  // --- Queries -------------------------------------------------------------------------------

  get role(): Role {
    return this.#role;
  }

  get term(): Term {
    return this.#term;
  }

  get leader(): NodeId | undefined {
    return this.#leader;
  }

  get latestSnapshot(): SnapshotMeta | undefined {
    return this.#latestSnapshot;
  }

  status(): RaftStatus {
    const progress = new Map<NodeId, ProgressView>();
    for (const [id, pr] of this.#progress) {
      progress.set(id, { match: pr.match, next: pr.next, state: pr.state, recentActive: pr.recentActive, inflight: pr.inflights.count, regressed: pr.regressed });
    }
    return {
      id: this.id,
      role: this.#role,
      term: this.#term,
      vote: this.#vote,
      leader: this.#leader,
      firstIndex: this.log.firstIndex,
      lastIndex: this.log.lastIndex,
      lastTerm: this.log.lastTerm,
      commit: this.log.commit,
      applied: this.log.applied,
      stable: this.log.stable,
      config: this.log.config,
      transferee: this.#transferee,
      progress,
    };
  }

  // --- Term handling (Figure 2, "All servers") ------------------------------------------------

  /** A message from a higher term. False when it must be ignored without adopting the term. */
  #acceptHigherTerm(m: Message): boolean {
    if (m.type === 'vote') {
      // Leader stickiness (T 6.2, 9.6): while we heard from a leader within the minimum
      // election timeout, a vote request is ignored, so a rejoining node cannot depose a healthy
      // leader. A transfer (TimeoutNow) is the leader's own wish and goes through.
      // In lease mode a node that just started counts as having heard from a leader: before a
      // crash it may have answered a heartbeat, which is what the leader's lease rests on (found
      // by test/core/raft/chaos.ts: a restarted follower voted at once, a new leader committed,
      // and the old one still answered lease reads).
      const justStarted = this.#o.readMode === 'lease' && this.#startTicks < this.#o.electionTicks;
      const inLease = this.#o.checkQuorum && ((this.#leader !== undefined && this.#electionElapsed < this.#o.electionTicks) || justStarted);
      if (inLease && !m.transfer) return false;
      // A pre-vote never changes our term: it is a question, not an election.
      if (m.preVote) return true;
    }
    // Granted pre-votes carry the term the pre-candidate asked about; they change nothing.
    if (m.type === 'vote-response' && m.preVote && m.granted) return true;
    const fromLeader = m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot';
    this.#becomeFollower(m.term, fromLeader ? m.from : undefined);
    return true;
  }

  /** A message from an older term: mostly ignored, but some senders must learn they are stale. */
  #answerStaleTerm(m: Message): void {
    if (m.type === 'append' || m.type === 'heartbeat') {
      // Figure 2, AppendEntries: "reply false if term < currentTerm", so that a stale leader learns
      // the newer term and steps down. A leader cut off from the rest may never see it otherwise:
      // with pre-vote we do not campaign at it, and a learner, or a node whose outdated
      // configuration leaves that leader out, never sends it a vote request. etcd-raft answers
      // only with pre-vote or check-quorum on, relying on vote requests otherwise; with
      // configuration changes that left learners stuck at a higher term for good, the leader never
      // hearing of it (found by test/core/raft/chaos.ts).
      this.#send({ type: 'heartbeat-response', to: m.from, term: this.#term, readRound: 0 });
    } else if (m.type === 'vote' && m.preVote) {
      this.#send({ type: 'vote-response', to: m.from, term: this.#term, preVote: true, granted: false });
    }
  }

  // --- Per-role handlers ---------------------------------------------------------------------

  #handleVote(m: VoteRequest): void {
    // Figure 2, RequestVote: one vote per term, first come first served, and only for a log at
    // least as up to date as ours (5.4.1). A pre-vote for a later term is answered freely.
    const canVote =
      this.#vote === m.from || (this.#vote === undefined && this.#leader === undefined) || (m.preVote && m.term > this.#term);
    if (canVote && this.log.isUpToDate(m.lastLogIndex, m.lastLogTerm)) {
      // The answer carries the request's term so the candidate counts it (T 9.6).
      this.#send({ type: 'vote-response', to: m.from, term: m.term, preVote: m.preVote, granted: true });
      if (!m.preVote) {
        this.#electionElapsed = 0;
        this.#vote = m.from;
      }
    } else {
      this.#send({ type: 'vote-response', to: m.from, term: this.#term, preVote: m.preVote, granted: false });
    }
  }

  #stepLeader(m: Message): void {
    switch (m.type) {
      case 'append-response':
        this.#handleAppendResponse(m);
        return;
      case 'heartbeat-response':
        this.#handleHeartbeatResponse(m);
        return;
      case 'read-index':
        this.#handleReadRequest({ requestId: m.requestId, from: m.from });
        return;
      case 'vote-response':
      case 'timeout-now':
      case 'read-index-response':
        return;
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        // Another leader in our own term would violate Election Safety (5.2); a correct peer
        // never sends this, so it is dropped rather than believed.
        return;
      case 'vote':
        return;
    }
  }

  #stepCandidate(m: Message): void {
    switch (m.type) {
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        // A leader of our term exists: it won (Figure 2, Candidates).
        this.#becomeFollower(m.term, m.from);
        this.#stepFollower(m);
        return;
      case 'vote-response':
        this.#handleVoteResponse(m);
        return;
      case 'read-index':
        this.#send({ type: 'read-index-response', to: m.from, term: this.#term, requestId: m.requestId, index: 0 });
        return;
      default:
        return;
    }
  }

  #stepFollower(m: Message): void {
    switch (m.type) {
      case 'append':
        this.#electionElapsed = 0;
        this.#leader = m.from;
        this.#handleAppend(m);
        return;
      case 'heartbeat':
        this.#electionElapsed = 0;
        this.#leader = m.from;
        this.#handleHeartbeat(m);
        return;
      case 'snapshot':
        this.#electionElapsed = 0;
        this.#leader = m.from;
        this.#handleSnapshot(m);
        return;
      case 'timeout-now':
        // The leader hands over (T 3.10): campaign at once, bypassing pre-vote and the lease.
        if (this.#promotable()) this.#campaign('transfer');
        return;
      case 'read-index':
        // Only the leader confirms read points; the asker retries against the leader.
        this.#send({ type: 'read-index-response', to: m.from, term: this.#term, requestId: m.requestId, index: 0 });
        return;
      case 'read-index-response':
        this.#readStates.push({ requestId: m.requestId, index: m.index });
        return;
      default:
        return;
    }
  }

  // --- Elections (5.2, T 9.6) ----------------------------------------------------------------

  #tickElection(): void {
    this.#electionElapsed++;
    if (this.#promotable() && this.#electionElapsed >= this.#randomizedElectionTicks) {
      this.#electionElapsed = 0;
      this.#campaign(this.#o.preVote ? 'pre-vote' : 'election');
    }
  }

  #campaign(kind: 'pre-vote' | 'election' | 'transfer'): void {
    if (!this.#promotable()) return;
    const preVote = kind === 'pre-vote';
    if (preVote) {
      this.#role = 'pre-candidate';
      this.#leader = undefined;
    } else {
      this.#role = 'candidate';
      this.#term++;
      this.#vote = this.id;
      this.#leader = undefined;
    }
    this.#votes = new Map([[this.id, true]]);
    this.#resetElectionTimer();
    this.#transferee = undefined;
    if (this.#tallyVotes()) return;
    const term = preVote ? this.#term + 1 : this.#term;
    for (const voter of this.log.config.voters) {
      if (voter === this.id) continue;
      this.#send({
        type: 'vote',
        to: voter,
        term,
        preVote,
        lastLogIndex: this.log.lastIndex,
        lastLogTerm: this.log.lastTerm,
        transfer: kind === 'transfer',
      });
    }
  }

  #handleVoteResponse(m: VoteResponse): void {
    if (m.preVote !== (this.#role === 'pre-candidate')) return;
    this.#votes.set(m.from, m.granted);
    this.#tallyVotes();
  }

  /** Acts on the election outcome; true when it is decided. */
  #tallyVotes(): boolean {
    const outcome = voteOutcome(this.log.config.voters, this.#votes);
    if (outcome === 'pending') return false;
    if (outcome === 'lost') {
      this.#becomeFollower(this.#term, undefined);
      return true;
    }
    if (this.#role === 'pre-candidate') this.#campaign('election');
    else this.#becomeLeader();
    return true;
  }

  #becomeFollower(term: Term, leader: NodeId | undefined): void {
    if (term > this.#term) {
      this.#term = term;
      this.#vote = undefined;
    }
    const wasLeader = this.#role === 'leader';
    this.#role = 'follower';
    this.#leader = leader;
    this.#votes.clear();
    this.#transferee = undefined;
    this.#resetElectionTimer();
    if (wasLeader) {
      this.#progress.clear();
      this.#broadcastPending = false;
      this.#uncommittedBytes = 0;
      this.#failPendingReads();
    }
  }

  #becomeLeader(): void {
    this.#role = 'leader';
    this.#leaseVoid = false;
    this.#leader = this.id;
    this.#votes.clear();
    this.#progress.clear();
    this.#heartbeatElapsed = 0;
    this.#electionElapsed = 0;
    this.#leaderTicks = 0;
    this.#leaseUntil = 0;
    this.#uncommittedBytes = 0;
    this.#syncProgress();
    // A no-op of the new term: committing it commits every earlier entry (5.4.2) and is the
    // point from which ReadIndex may answer (T 6.4).
    this.#appendAsLeader({ type: 'normal', data: NO_DATA });
  }

  /**
   * May this node campaign? A voter of the configuration in effect may. So may a node that an
   * uncommitted change just removed or demoted (it was a voter before): the change is in effect
   * in its log at once (T 4.1), but the other voters may not have it yet, and they may need this
   * node to win - its log is ahead of theirs, so it refuses them its vote. Forbidding it to run
   * deadlocked the cluster for good (a leader that demoted itself and restarted before the change
   * committed). It counts votes by its newest configuration, which excludes itself, exactly as a
   * leader that removed itself does (T 4.2.2): safety is that of any candidate holding that
   * configuration. Once elected it commits the change and steps down. hashicorp/raft lets such a
   * node run too.
   */
  #promotable(): boolean {
    if (this.log.config.voters.includes(this.id)) return true;
    const changeIndex = this.log.configIndex;
    return changeIndex > this.log.commit && this.log.configAt(changeIndex - 1).voters.includes(this.id);
  }

  #resetElectionTimer(): void {
    this.#electionElapsed = 0;
    this.#heartbeatElapsed = 0;
    this.#randomizedElectionTicks = this.#o.electionTicks + this.#random.int(this.#o.electionTicks);
  }

  // --- Leader: replication (5.3) -------------------------------------------------------------

  #tickLeader(): void {
    this.#leaderTicks++;
    this.#heartbeatElapsed++;
    this.#electionElapsed++;
    if (this.#electionElapsed >= this.#o.electionTicks) {
      this.#electionElapsed = 0;
      if (this.#o.checkQuorum) {
        // Check-quorum (T 6.2): a leader that did not hear from a majority in an election
        // timeout steps down, so clients find the real leader and its lease stays sound.
        const voters = this.log.config.voters;
        if (!hasQuorum(voters, (id) => id === this.id || this.#progress.get(id)?.recentActive === true)) {
          this.#becomeFollower(this.#term, undefined);
          return;
        }
        for (const pr of this.#progress.values()) pr.recentActive = false;
      }
      // A transfer that did not finish within an election timeout is abandoned (T 3.10).
      this.#transferee = undefined;
    }
    if (this.#heartbeatElapsed >= this.#o.heartbeatTicks) {
      this.#heartbeatElapsed = 0;
      this.#broadcastHeartbeat();
    }
  }

  #refuseProposal(): ProposeError | undefined {
    if (this.#role !== 'leader') return { code: 'not-leader', leader: this.#leader };
    if (this.#transferee !== undefined) return { code: 'transferring', leader: this.#transferee };
    return undefined;
  }

  #appendAsLeader(e: { type: Entry['type']; data: Uint8Array; config?: ClusterConfig }): Proposed {
    const index = this.log.lastIndex + 1;
    const entry: Entry = e.config === undefined ? { term: this.#term, index, type: e.type, data: e.data } : { term: this.#term, index, type: e.type, data: e.data, config: e.config };
    this.log.append([entry]);
    this.#uncommittedBytes += entryBytes(entry);
    this.#broadcastPending = true;
    this.#configMayHaveChanged();
    return { index, term: this.#term };
  }

  #broadcastAppend(): void {
    this.#broadcastPending = false;
    for (const id of this.#progress.keys()) this.#sendAppend(id, true);
  }

  /**
   * Sends what `to` is missing, as far as flow control allows. With sendIfEmpty, an empty append
   * still goes out when the follower has not heard of the current commit index, or, with
   * resendLost, when nothing else went out and it has not acknowledged the whole log: appends
   * pipelined in replicate state may have been lost, and nothing else would ever resend them in
   * an idle cluster (the next proposal would, but there may be none: a client waits for the very
   * entry that was lost). An empty append at next-1 is rejected by a follower that lacks the lost
   * entries, which sends the leader back to probing from what the follower holds (5.3: "retries
   * indefinitely"). Only heartbeat answers pass resendLost, so this retry is paced by heartbeats
   * (etcd-raft's MsgAppProbesPaused): a broadcast while entries are in flight must not send an
   * empty append behind them on every commit move (found in test/core/raft/script
   * replication-pipelining).
   */
  #sendAppend(to: NodeId, sendIfEmpty: boolean, resendLost = false): void {
    const pr = this.#progress.get(to);
    if (pr === undefined) return;
    for (let sentAny = false; ; sentAny = true) {
      if (pr.paused()) return;
      const prevLogIndex = pr.next - 1;
      const prevLogTerm = this.log.term(prevLogIndex);
      if (prevLogTerm === undefined || pr.next <= this.log.offsetIndex) {
        this.#sendSnapshot(to, pr);
        return;
      }
      const entries = pr.next <= this.log.lastIndex ? this.log.slice(pr.next, this.log.lastIndex, this.#o.maxAppendBytes) : [];
      const unacknowledged = resendLost && !sentAny && pr.match < this.log.lastIndex;
      if (entries.length === 0 && !(sendIfEmpty && (pr.sentCommit < this.log.commit || pr.state === 'probe' || unacknowledged))) return;
      const msg: AppendRequest = { type: 'append', from: this.id, to, term: this.#term, prevLogIndex, prevLogTerm, entries, commit: this.log.commit };
      this.#msgs.push(msg);
      pr.sentCommit = this.log.commit;
      const last = entries.at(-1);
      if (last !== undefined) {
        let bytes = 0;
        for (const e of entries) bytes += entryBytes(e);
        pr.sentEntries(last.index, bytes);
      } else if (pr.state === 'probe') {
        pr.probeSent = true;
      }
      // A probe sends one message; replicate keeps pipelining while the window allows.
      if (pr.state !== 'replicate' || entries.length === 0) return;
    }
  }

  #sendTimeoutNow(to: NodeId): void {
    this.#leaseVoid = true;
    this.#send({ type: 'timeout-now', to, term: this.#term });
  }

  #sendSnapshot(to: NodeId, pr: Progress): void {
    const snap = this.#latestSnapshot;
    assert(snap !== undefined, `entries for ${to} were compacted, so a snapshot exists`);
    pr.becomeSnapshot(snap.index);
    this.#send({ type: 'snapshot', to, term: this.#term, snapshot: snap });
  }

  #broadcastHeartbeat(): void {
    if (this.#o.readMode === 'lease') {
      // Every heartbeat is a round in lease mode: a majority answering it renews the lease.
      const acks = new Set<NodeId>();
      if (this.log.config.voters.includes(this.id)) acks.add(this.id);
      this.#readRounds.push({ id: this.#nextReadRound++, index: this.log.commit, requests: [], acks, broadcast: false, sentTick: 0 });
    }
    const round = this.#readRounds.at(-1);
    const readRound = round?.id ?? 0;
    for (const r of this.#readRounds) {
      if (!r.broadcast) r.sentTick = this.#leaderTicks;
      r.broadcast = true;
    }
    for (const [id, pr] of this.#progress) {
      const hb: HeartbeatRequest = {
        type: 'heartbeat',
        from: this.id,
        to: id,
        term: this.#term,
        commit: Math.min(pr.match, this.log.commit),
        readRound,
      };
      this.#msgs.push(hb);
    }
  }

  #handleAppendResponse(m: AppendResponse): void {
    const pr = this.#progress.get(m.from);
    if (pr === undefined) return;
    pr.recentActive = true;
    if (!m.success) {
      // Stale rejections refer to an older append than the one that matters now.
      if (pr.state === 'replicate' && m.index <= pr.match) return;
      if (pr.state !== 'replicate' && pr.next - 1 !== m.index) return;
      if (pr.state === 'snapshot') return;
      // An honest follower's hint never falls below what it acknowledged (its entries up to
      // match are the leader's, with terms <= prevLogTerm): below it, the follower lost its log.
      if (m.hintIndex < pr.match) pr.regressed = true;
      // Fast backtracking (5.3): skip the follower's whole conflicting term at once.
      const hint = m.hintTerm > 0 ? this.log.lastIndexWithTermAtMost(m.hintIndex, m.hintTerm) : m.hintIndex;
      if (pr.state === 'replicate') pr.becomeProbe();
      pr.next = Math.max(Math.min(m.index, hint + 1), pr.match + 1);
      if (pr.regressed) {
        // Probing again from match would be refused again at once: a hot loop. Probe once per
        // heartbeat until the runtime takes the member out.
        pr.probeSent = true;
        return;
      }
      pr.probeSent = false;
      this.#sendAppend(m.from, true);
      return;
    }
    const wasPaused = pr.paused();
    // An answer to the current probe that tells nothing new still proves where the logs match.
    const probeAnswered = pr.state === 'probe' && m.index === pr.match && m.index === pr.next - 1;
    if (pr.maybeUpdate(m.index) || probeAnswered) {
      if (pr.state === 'probe') pr.becomeReplicate();
      else if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) pr.becomeReplicate();
      else if (pr.state === 'replicate') pr.inflights.freeTo(m.index);
      if (this.#maybeCommit()) this.#broadcastPending = true;
      if (this.#transferee === m.from && pr.match === this.log.lastIndex) {
        this.#sendTimeoutNow(m.from);
      }
      // A follower that has not been told the current commit index (it moved while this
      // follower's ack was on its way, e.g. on another follower's ack) learns it now, not one
      // heartbeat later: Figure 2 step 5 can only apply what the leader reports (etcd-raft's
      // CanBumpCommit does the same).
      this.#sendAppend(m.from, pr.sentCommit < this.log.commit);
    } else if (wasPaused && pr.state === 'replicate') {
      pr.inflights.freeTo(m.index);
      this.#sendAppend(m.from, false);
    }
  }

  #handleHeartbeatResponse(m: HeartbeatResponse): void {
    const pr = this.#progress.get(m.from);
    if (pr === undefined) return;
    pr.recentActive = true;
    pr.probeSent = false;
    // Acks may have been lost: free a slot so a full window cannot stall replication forever.
    if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirst();
    if (pr.state === 'snapshot') this.#askSnapshotInstalled(m.from, pr);
    else if (pr.match < this.log.lastIndex || pr.sentCommit < this.log.commit) this.#sendAppend(m.from, true, true);
    if (m.readRound > 0) this.#ackReadRound(m.from, m.readRound);
  }

  /**
   * A follower in snapshot state is alive (it answered a heartbeat), and may have installed the
   * snapshot already while its answer to it was lost. Nothing else would ever take it out of
   * snapshot state then: the runtime reports failed transfers, not lost answers, and without this
   * the follower stayed behind forever. An empty append right after the snapshot asks: a follower
   * that holds it acknowledges (replication resumes, see #handleAppendResponse); one still
   * receiving it rejects, and rejections are ignored in snapshot state. If the leader has compacted
   * past that snapshot, it is outdated anyway: probe again, which sends the newer one.
   */
  #askSnapshotInstalled(to: NodeId, pr: Progress): void {
    const prevLogTerm = this.log.term(pr.pendingSnapshot);
    if (prevLogTerm === undefined) {
      pr.becomeProbe();
      this.#sendAppend(to, true);
      return;
    }
    this.#msgs.push({ type: 'append', from: this.id, to, term: this.#term, prevLogIndex: pr.pendingSnapshot, prevLogTerm, entries: [], commit: this.log.commit });
  }

  /** Advances commit to what a majority of voters has durably stored, if of this term (5.4.2). */
  #maybeCommit(): boolean {
    const voters = this.log.config.voters;
    const q = committedIndex(voters, (id) => (id === this.id ? this.log.stable : (this.#progress.get(id)?.match ?? 0)));
    if (q <= this.log.commit || this.log.term(q) !== this.#term) return false;
    const firstOfTerm = this.log.term(this.log.commit) !== this.#term;
    for (let i = this.log.commit + 1; i <= q; i++) {
      const e = this.log.entry(i);
      if (e !== undefined && e.term === this.#term) this.#uncommittedBytes -= entryBytes(e);
    }
    this.#uncommittedBytes = Math.max(0, this.#uncommittedBytes);
    this.log.commit = q;
    if (firstOfTerm) this.#serveReadsAwaitingCommit();
    // A leader that is no longer a voter steps down once the change is committed (T 4.2.2).
    if (!voters.includes(this.id) && this.log.configIndex <= this.log.commit) {
      // Tell the remaining members the commit index first: otherwise they learn that the change
      // (and everything before it) is committed only from the next leader's no-op.
      this.#broadcastAppend();
      this.#becomeFollower(this.#term, undefined);
    }
    return true;
  }

  // --- Follower: AppendEntries, heartbeats, snapshots ------------------------------------------

  #handleAppend(m: AppendRequest): void {
    if (m.prevLogIndex < this.log.commit) {
      // Everything up to commit already matches the leader (Log Matching): say so.
      this.#respondAppend(m.from, true, this.log.commit);
      return;
    }
    if (!this.log.matchTerm(m.prevLogIndex, m.prevLogTerm)) {
      // Figure 2 step 2: reject, with a hint for fast backtracking (5.3).
      const hintIndex = this.log.lastIndexWithTermAtMost(Math.min(m.prevLogIndex, this.log.lastIndex), m.prevLogTerm);
      this.#send({
        type: 'append-response',
        to: m.from,
        term: this.#term,
        success: false,
        index: m.prevLogIndex,
        hintIndex,
        hintTerm: this.log.term(hintIndex) ?? 0,
      });
      return;
    }
    // Figure 2 steps 3-4: skip what we already have, cut at the first conflict, append the rest.
    let i = 0;
    while (i < m.entries.length && this.log.term(m.entries[i]!.index) === m.entries[i]!.term) i++;
    if (i < m.entries.length) {
      this.log.truncateAndAppend(m.entries.slice(i));
      this.#configMayHaveChanged();
    }
    const lastNew = m.prevLogIndex + m.entries.length;
    // Step 5: commit = min(leaderCommit, index of last new entry).
    this.#commitTo(Math.min(m.commit, lastNew));
    this.#respondAppend(m.from, true, lastNew);
  }

  #respondAppend(to: NodeId, success: boolean, index: LogIndex): void {
    this.#send({ type: 'append-response', to, term: this.#term, success, index, hintIndex: 0, hintTerm: 0 });
  }

  #handleHeartbeat(m: HeartbeatRequest): void {
    this.#commitTo(Math.min(m.commit, this.log.lastIndex));
    this.#send({ type: 'heartbeat-response', to: m.from, term: this.#term, readRound: m.readRound });
  }

  #handleSnapshot(m: SnapshotRequest): void {
    const s = m.snapshot;
    if (s.index <= this.log.commit) {
      this.#respondAppend(m.from, true, this.log.commit);
      return;
    }
    if (s.index <= this.log.stable && this.log.matchTerm(s.index, s.term)) {
      // We already hold the snapshot's last entry: only the commit index moves (Figure 13, 6).
      this.#commitTo(s.index);
      this.#respondAppend(m.from, true, s.index);
      return;
    }
    this.log.restore(s);
    this.#snapshotToInstall = s;
    // It is now our newest snapshot and the start of our log: if we lead later, followers
    // that need entries before it get this one (without it the leader had none to send and
    // crashed on the assertion in #sendSnapshot, or sent an older one forever).
    if (this.#latestSnapshot === undefined || s.index > this.#latestSnapshot.index) this.#latestSnapshot = s;
    this.#configMayHaveChanged();
    this.#respondAppend(m.from, true, s.index);
  }

  #commitTo(index: LogIndex): void {
    if (index > this.log.commit) this.log.commit = index;
  }

  // --- Configuration (T 4.1) -----------------------------------------------------------------

  #configMayHaveChanged(): void {
    if (this.log.configIndex === this.#configIndexSeen) return;
    this.#configIndexSeen = this.log.configIndex;
    if (this.#role === 'leader') {
      this.#syncProgress();
      if (this.#transferee !== undefined && !this.log.config.voters.includes(this.#transferee)) this.#transferee = undefined;
    }
  }

  /** Leader: one Progress per other member of the configuration in effect. */
  #syncProgress(): void {
    const members = new Set(configMembers(this.log.config));
    members.delete(this.id);
    for (const id of [...this.#progress.keys()]) if (!members.has(id)) this.#progress.delete(id);
    for (const id of members) {
      if (this.#progress.has(id)) continue;
      const pr = new Progress(this.log.lastIndex + 1, this.#o.maxInflightMsgs, this.#o.maxInflightBytes);
      // Give every member the benefit of the doubt for the first check-quorum round.
      pr.recentActive = true;
      this.#progress.set(id, pr);
    }
  }

  // --- ReadIndex (T 6.4) ---------------------------------------------------------------------

  #handleReadRequest(req: ReadRequest): void {
    if (this.log.term(this.log.commit) !== this.#term) {
      // Until the no-op of this term commits, our commit index may lag the true one.
      this.#readsAwaitingCommit.push(req);
      return;
    }
    const voters = this.log.config.voters;
    const alone = voters.length === 1 && voters[0] === this.id;
    // Found by test/core/raft/script/testdata/read-index-lease: during a transfer, a lease read
    // returned an index that lacked a write the transfer target had already committed.
    // The lease is not the check-quorum window: a leader that passed its last check may keep
    // office for up to an election timeout after its followers stopped hearing it, and a new
    // leader may be elected meanwhile (found by test/core/raft/chaos.ts, perfect clocks, no
    // crashes). Without a live lease the read takes a heartbeat round, as in safe mode.
    const leaseLive = this.#leaderTicks < this.#leaseUntil;
    if (alone || (this.#o.readMode === 'lease' && !this.#leaseVoid && leaseLive)) {
      this.#answerRead(req, this.log.commit);
      return;
    }
    const last = this.#readRounds.at(-1);
    if (last !== undefined && !last.broadcast && last.index === this.log.commit) {
      last.requests.push(req);
      return;
    }
    const acks = new Set<NodeId>();
    if (voters.includes(this.id)) acks.add(this.id);
    this.#readRounds.push({ id: this.#nextReadRound++, index: this.log.commit, requests: [req], acks, broadcast: false, sentTick: 0 });
  }

  #ackReadRound(from: NodeId, roundId: number): void {
    // An answer to round n shows `from` still followed us after every earlier round began.
    for (const r of this.#readRounds) if (r.id <= roundId) r.acks.add(from);
    const voters = this.log.config.voters;
    let released = -1;
    for (let i = this.#readRounds.length - 1; i >= 0; i--) {
      const r = this.#readRounds[i]!;
      if (r.broadcast && hasQuorum(voters, (id) => r.acks.has(id))) {
        released = i;
        break;
      }
    }
    if (released < 0) return;
    const newest = this.#readRounds[released]!;
    this.#leaseUntil = Math.max(this.#leaseUntil, newest.sentTick + this.#o.electionTicks - 1);
    for (const r of this.#readRounds.splice(0, released + 1)) {
      for (const req of r.requests) this.#answerRead(req, r.index);
    }
  }

  #serveReadsAwaitingCommit(): void {
    const waiting = this.#readsAwaitingCommit;
    this.#readsAwaitingCommit = [];
    for (const req of waiting) this.#handleReadRequest(req);
  }

  #answerRead(req: ReadRequest, index: LogIndex): void {
    if (req.from === this.id) this.#readStates.push({ requestId: req.requestId, index });
    else this.#send({ type: 'read-index-response', to: req.from, term: this.#term, requestId: req.requestId, index });
  }

  #failPendingReads(): void {
    const pending = [...this.#readsAwaitingCommit, ...this.#readRounds.flatMap((r) => r.requests)];
    this.#readsAwaitingCommit = [];
    this.#readRounds = [];
    for (const req of pending) this.#answerRead(req, 0);
  }

  // --- Helpers -------------------------------------------------------------------------------

  #send(m: DistributiveOmit<Message, 'from'>): void {
    this.#msgs.push({ ...m, from: this.id } as Message);
  }

  #hardState(): HardState {
    return { term: this.#term, vote: this.#vote, commit: this.log.commit };
  }

  #softState(): SoftState {
    return { role: this.#role, leader: this.#leader, term: this.#term };
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

function sameSoftState(a: SoftState, b: SoftState): boolean {
  return a.role === b.role && a.leader === b.leader && a.term === b.term;
}
