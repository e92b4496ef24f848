// Options of the Raft core, in ticks and bytes. The runtime turns ticks into time (tickMs); the
// core never reads a clock.

import type { NodeId } from './types.ts';

export interface RaftOptions {
  readonly id: NodeId;
  /**
   * Ticks without hearing from a leader before a follower starts an election; the actual timeout
   * is drawn from [electionTicks, 2 * electionTicks) each time (Raft paper, 5.2).
   */
  readonly electionTicks: number;
  /** Ticks between a leader's heartbeats; well below electionTicks (5.2: broadcastTime << electionTimeout). */
  readonly heartbeatTicks: number;
  /** A leader steps down when it has not heard from a majority within electionTicks (thesis 6.2). */
  readonly checkQuorum: boolean;
  /** Run a pre-vote before a real election so a partitioned node cannot disrupt (thesis 9.6). */
  readonly preVote: boolean;
  /**
   * safe: every read confirms leadership with a heartbeat round (ReadIndex, thesis 6.4).
   * lease: the leader serves reads from its lease under checkQuorum (thesis 6.4.1), relying on
   *   bounded clock drift. Faster, and only correct when clocks behave: opt-in only. The lease
   *   runs electionTicks - 1 ticks from the sending of a heartbeat round a majority answered
   *   (without one, a read takes a round as in safe mode), and a node grants no vote for
   *   electionTicks after it starts (it may have promised a lease before a crash).
   */
  readonly readMode: 'safe' | 'lease';
  /** Largest total entry bytes in one append message (at least one entry is always sent). */
  readonly maxAppendBytes: number;
  /** Appends in flight to one follower before the leader waits for acknowledgements. */
  readonly maxInflightMsgs: number;
  /** Entry bytes in flight to one follower before the leader waits. */
  readonly maxInflightBytes: number;
  /** Entry bytes the leader accepts beyond its commit index before refusing proposals. */
  readonly maxUncommittedBytes: number;
  /** Largest data of one proposal. */
  readonly maxEntryBytes: number;
  /** Entry bytes handed out to apply in one Ready. */
  readonly maxApplyBytes: number;
}

export const RAFT_DEFAULTS: Omit<RaftOptions, 'id'> = {
  electionTicks: 10,
  heartbeatTicks: 1,
  checkQuorum: true,
  preVote: true,
  readMode: 'safe',
  maxAppendBytes: 1024 * 1024,
  maxInflightMsgs: 256,
  maxInflightBytes: 32 * 1024 * 1024,
  maxUncommittedBytes: 64 * 1024 * 1024,
  // With maxAppendBytes this keeps one append well inside the wire codec's 4 MiB message limit.
  maxEntryBytes: 1024 * 1024,
  maxApplyBytes: 16 * 1024 * 1024,
};

/** Why options are unusable (programmer or config error), or undefined when they are fine. */
export function checkRaftOptions(o: RaftOptions): string | undefined {
  const positive: (keyof RaftOptions)[] = ['electionTicks', 'heartbeatTicks', 'maxAppendBytes', 'maxInflightMsgs', 'maxInflightBytes', 'maxUncommittedBytes', 'maxEntryBytes', 'maxApplyBytes'];
  for (const k of positive) {
    const v = o[k];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) return `${k} must be a positive integer (got ${String(v)})`;
  }
  if (o.heartbeatTicks >= o.electionTicks) return `heartbeatTicks (${o.heartbeatTicks}) must be below electionTicks (${o.electionTicks})`;
  if (o.readMode === 'lease' && !o.checkQuorum) return 'readMode lease needs checkQuorum (the lease is the check-quorum window)';
  return undefined;
}
