// Types of the Raft core. Pure data: the runtime encodes messages on the wire (src/wire/raft.ts),
// persists entries and hard state (src/runtime/storage/raft-storage.ts) and feeds results back.
// The core never sees bytes on a socket, files or clocks.

import type { NodeId } from '../swim/types.ts';

export type { NodeId };

/** A Raft term (Raft paper, 5.1). Only ever grows on one node. */
export type Term = number;
/** A position in the replicated log; the first entry is 1, 0 means "none". */
export type LogIndex = number;

/**
 * normal: opaque application data (an FSM command); an empty normal entry is the no-op every new
 *   leader appends to commit entries of earlier terms (Raft paper, 5.4.2 and 8).
 * config: a new cluster configuration (thesis 4.1), in effect as soon as it is in a log.
 */
export const ENTRY_TYPES = ['normal', 'config'] as const;
export type EntryType = (typeof ENTRY_TYPES)[number];

export interface Entry {
  readonly term: Term;
  readonly index: LogIndex;
  readonly type: EntryType;
  /** normal: the application's command (empty for a no-op); config: empty (see `config`). */
  readonly data: Uint8Array;
  /** Set on config entries only. */
  readonly config?: ClusterConfig;
}

/**
 * Who votes and who only listens. Changes are made one voter at a time (thesis 4.1), so any two
 * consecutive configurations have overlapping majorities. Learners receive the log and never
 * count towards a quorum.
 */
export interface ClusterConfig {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

/** What must be on disk before a vote or an ack leaves this node (Raft paper, Figure 2). */
export interface HardState {
  readonly term: Term;
  /** Who this node voted for in `term`, if anyone. */
  readonly vote: NodeId | undefined;
  /** Highest index known committed; persisted so a restart does not re-learn it slowly. */
  readonly commit: LogIndex;
}

/** Describes a snapshot: the state machine after applying every entry up to and including index. */
export interface SnapshotMeta {
  readonly index: LogIndex;
  readonly term: Term;
  /** The configuration in effect at index. */
  readonly config: ClusterConfig;
}

export const ROLES = ['follower', 'pre-candidate', 'candidate', 'leader'] as const;
export type Role = (typeof ROLES)[number];

// ---------------------------------------------------------------------------------------------
// Messages. Every message carries the sender's term; a higher term always wins (Figure 2, "All
// servers"). Snapshot data never travels inside a core message: the runtime streams it in chunks
// and hands the core only the metadata once the whole file is on disk.

interface Envelope {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: Term;
}

/** RequestVote (Figure 2), also used for pre-vote (thesis 9.6) at the term the sender would use. */
export interface VoteRequest extends Envelope {
  readonly type: 'vote';
  readonly preVote: boolean;
  readonly lastLogIndex: LogIndex;
  readonly lastLogTerm: Term;
  /** Sent because the leader asked for a transfer (TimeoutNow): overrides the leader lease. */
  readonly transfer: boolean;
}

export interface VoteResponse extends Envelope {
  readonly type: 'vote-response';
  readonly preVote: boolean;
  readonly granted: boolean;
}

/** AppendEntries (Figure 2). */
export interface AppendRequest extends Envelope {
  readonly type: 'append';
  readonly prevLogIndex: LogIndex;
  readonly prevLogTerm: Term;
  readonly entries: readonly Entry[];
  readonly commit: LogIndex;
}

export interface AppendResponse extends Envelope {
  readonly type: 'append-response';
  readonly success: boolean;
  /** success: the highest index now matching the leader. Rejection: the prevLogIndex rejected. */
  readonly index: LogIndex;
  /**
   * Rejection only, for fast backtracking (thesis 5.3 footnote): the follower's guess of the
   * highest index where the logs may match, and the term of its entry there.
   */
  readonly hintIndex: LogIndex;
  readonly hintTerm: Term;
}

/** Empty AppendEntries that also carries a ReadIndex round's context (thesis 6.4). */
export interface HeartbeatRequest extends Envelope {
  readonly type: 'heartbeat';
  /** min(follower's match, leader's commit): never tells a follower to commit what it lacks. */
  readonly commit: LogIndex;
  /** Id of the newest ReadIndex round, 0 when none. */
  readonly readRound: number;
}

export interface HeartbeatResponse extends Envelope {
  readonly type: 'heartbeat-response';
  readonly readRound: number;
}

/** InstallSnapshot (Figure 13): the data is already on the receiver's disk (see above). */
export interface SnapshotRequest extends Envelope {
  readonly type: 'snapshot';
  readonly snapshot: SnapshotMeta;
}

/** Start an election now, skipping pre-vote and the lease (thesis 3.10, leadership transfer). */
export interface TimeoutNowRequest extends Envelope {
  readonly type: 'timeout-now';
}

/** A follower asks the leader to confirm a read point on its behalf (thesis 6.4). */
export interface ReadIndexRequest extends Envelope {
  readonly type: 'read-index';
  readonly requestId: number;
}

export interface ReadIndexResponse extends Envelope {
  readonly type: 'read-index-response';
  readonly requestId: number;
  /** The confirmed read point, or 0 when the leader could not serve it (the caller retries). */
  readonly index: LogIndex;
}

export type Message =
  | VoteRequest
  | VoteResponse
  | AppendRequest
  | AppendResponse
  | HeartbeatRequest
  | HeartbeatResponse
  | SnapshotRequest
  | TimeoutNowRequest
  | ReadIndexRequest
  | ReadIndexResponse;

export type MessageType = Message['type'];

/** A confirmed read point: once the state machine has applied `index`, the read may run. */
export interface ReadState {
  readonly requestId: number;
  /** 0 when the read could not be confirmed (no leader, or leadership lost); retry or fail it. */
  readonly index: LogIndex;
}

/** Role and leader as the runtime should report them. */
export interface SoftState {
  readonly role: Role;
  readonly leader: NodeId | undefined;
  readonly term: Term;
}

/**
 * One batch of work for the runtime, acknowledged with advance(). The ordering contract,
 * enforced once in src/runtime/raft/node.ts:
 *   1. persist `snapshot` (if any), then `entries` (a first index at or below the last persisted
 *      index replaces that suffix), then `hardState`, durably (fsync);
 *   2. only then send `messages`: they include votes and acks that promise what was persisted
 *      (Raft paper, Figure 2: "respond after persisting");
 *   3. apply `committed` entries in order (never beyond what is persisted: the core only hands
 *      out committed entries that were already acknowledged as stable), and restore the state
 *      machine from `snapshot` before them;
 *   4. release `readStates` once the state machine has applied their index;
 *   5. call advance(ready).
 */
export interface Ready {
  readonly softState: SoftState | undefined;
  readonly hardState: HardState | undefined;
  readonly snapshot: SnapshotMeta | undefined;
  readonly entries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly committed: readonly Entry[];
  readonly readStates: readonly ReadState[];
}

/** Why a proposal was refused on the spot. */
export type ProposeError =
  | { readonly code: 'not-leader'; readonly leader: NodeId | undefined }
  | { readonly code: 'transferring'; readonly leader: NodeId | undefined }
  | { readonly code: 'config-change-pending' }
  | { readonly code: 'not-ready'; readonly reason: string }
  | { readonly code: 'invalid-config'; readonly reason: string }
  | { readonly code: 'too-large'; readonly bytes: number; readonly maxBytes: number }
  /** Too many bytes proposed but not yet committed (maxUncommittedBytes): back off and retry. */
  | { readonly code: 'overloaded'; readonly uncommittedBytes: number };

export interface Proposed {
  readonly index: LogIndex;
  readonly term: Term;
}
