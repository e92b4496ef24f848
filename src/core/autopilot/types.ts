// Types of the autopilot: the voter-set policy the Raft leader runs about once a second
// (DESIGN.md, "Autopilot (hub selection)"). Pure data: the agent fills an AutopilotInput from
// its Raft status and its gossip member list, and turns each decision into at most one Raft
// call (proposeConfigChange or transferLeadership) plus an event carrying the reason.

import type { ClusterConfig, LogIndex, NodeId } from '../raft/types.ts';
import type { MemberStatus } from '../swim/types.ts';

export type { ClusterConfig, LogIndex, NodeId, MemberStatus };

/** Voter set sizes the operator may ask for: odd, so a majority always tolerates (n-1)/2 losses. */
export const TARGET_VOTER_COUNTS = [1, 3, 5, 7] as const;
export type TargetVoters = (typeof TARGET_VOTER_COUNTS)[number];

export interface AutopilotSettings {
  /** The voter count to aim for when enough healthy nodes exist. */
  readonly targetVoters: TargetVoters;
  /**
   * How long gossip must call a member dead or left (or not know it at all) before the
   * autopilot replaces or removes it. Protects against false suspicions and quick reboots.
   */
  readonly deadVoterGraceMs: number;
  /** A learner is caught up while the leader's last index minus its match is at most this. */
  readonly learnerMaxLagEntries: number;
  /** A learner must stay alive and caught up this long, without a break, before promotion. */
  readonly learnerStableMs: number;
  /**
   * Resource-score margin (see resourceScore in rank.ts: 1.0 is roughly "twice the free memory,
   * or twice the free disk, or twice the cores") that a better node must exceed to take the place
   * of a current voter, so that noisy resource figures never make the voter set flap.
   */
  readonly swapHysteresis: number;
  /**
   * Calls further apart than this (or a clock that went backwards) restart every observation
   * (learner stability, "unknown since"): "continuously stable" needs continuous watching, and a
   * node that regains leadership after a while must not trust what it saw long ago.
   */
  readonly maxObservationGapMs: number;
}

export const DEFAULT_AUTOPILOT_SETTINGS: AutopilotSettings = {
  targetVoters: 3,
  deadVoterGraceMs: 30_000,
  // Consul's autopilot uses the same trailing-log bound (MaxTrailingLogs = 250): under load a
  // healthy follower trails by a pipeline's worth of entries, a recovering one by thousands.
  learnerMaxLagEntries: 250,
  learnerStableMs: 10_000,
  swapHysteresis: 1,
  maxObservationGapMs: 5_000,
};

/** The resource figures a node gossips (a structural subset of NodeMeta['resources'], src/wire/swim.ts). */
export interface NodeResources {
  readonly cpuCores: number;
  readonly memoryFreeBytes: number;
  readonly diskFreeBytes: number;
}

/** One gossip member as the leader sees it. */
export interface MemberView {
  readonly id: NodeId;
  readonly status: MemberStatus;
  /** When the leader's gossip saw `status` begin (same clock as AutopilotInput.nowMs). */
  readonly statusSinceMs: number;
  /** The node announced a graceful leave and waits to be taken out of the configuration. */
  readonly leaving: boolean;
  readonly tags: Readonly<Record<string, string>>;
  readonly resources: NodeResources;
  /** When the node's agent started (its own clock: only compared with other nodes' values). */
  readonly startedAtMs: number;
}

/** The leader's view of one follower's replication (RaftStatus.progress, src/core/raft/raft.ts). */
export interface FollowerProgress {
  readonly match: LogIndex;
  /**
   * The follower answered since the last check-quorum round. Also a veto on calling a node dead:
   * gossip may say dead while Raft still hears from it. Raft refreshes this flag only with
   * checkQuorum on (the default); without it, pass false for followers not heard from lately.
   */
  readonly recentActive: boolean;
}

export interface AutopilotInput {
  /** Monotonic time (ms) of this call. */
  readonly nowMs: number;
  /** The node running the autopilot: the current Raft leader. */
  readonly leader: NodeId;
  /** The newest configuration in the leader's log (in effect even if not yet committed). */
  readonly config: ClusterConfig;
  /**
   * Raft would refuse a configuration change now: one is appended but not committed, the new
   * leader has not yet committed an entry of its term, or a leadership transfer is under way.
   */
  readonly configChangePending: boolean;
  readonly leaderLastIndex: LogIndex;
  /** Gossip's member list (the leader itself may be absent: it is alive by definition). */
  readonly members: readonly MemberView[];
  readonly progress: ReadonlyMap<NodeId, FollowerProgress>;
}

export type ConfigChangeDecisionKind = 'add-learner' | 'promote' | 'demote' | 'remove';

/**
 * One step at a time: a configuration change (shaped like raft's ConfigChange plus a reason, so
 * it can be passed to proposeConfigChange as is), a leadership transfer, or nothing. The reason
 * is for people: it becomes the event recorded with the change.
 */
export type AutopilotDecision =
  | { readonly kind: ConfigChangeDecisionKind; readonly node: NodeId; readonly reason: string }
  | { readonly kind: 'transfer-leadership'; readonly to: NodeId; readonly reason: string }
  | { readonly kind: 'wait'; readonly reason: string };
