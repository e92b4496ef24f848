// Quorum maths and configuration changes (Raft paper 5.2-5.4; thesis 4.1).
//
// Configuration changes are one voter at a time: a new configuration may differ from the one in
// effect by adding or removing at most one voter (learners come and go freely: they never count).
// Any majority of C and any majority of C +/- one voter intersect, so two leaders can never be
// elected in one term across the change (thesis 4.1). The known bug of single-server changes
// (Ongaro, raft-dev 2015: two concurrent uncommitted changes from different leaders) is closed in
// raft.ts: a leader proposes a change only after it committed an entry of its own term, and at
// most one change is uncommitted at a time.

import type { ClusterConfig, LogIndex, NodeId } from './types.ts';

export const EMPTY_CONFIG: ClusterConfig = { voters: [], learners: [] };

/** Votes needed to win among `voterCount` voters. */
export function majority(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}

/**
 * The highest index that a majority of voters has stored: the largest i such that at least
 * majority(n) voters have match >= i. 0 when there are no voters.
 */
export function committedIndex(voters: readonly NodeId[], matchOf: (id: NodeId) => LogIndex): LogIndex {
  if (voters.length === 0) return 0;
  const matches = voters.map(matchOf).sort((a, b) => b - a);
  // Sorted descending, the (majority-1)th value is held by exactly `majority` voters or more.
  return matches[majority(voters.length) - 1] ?? 0;
}

export type VoteOutcome = 'won' | 'lost' | 'pending';

/** Outcome of an election among `voters` given the answers so far (absent = not yet answered). */
export function voteOutcome(voters: readonly NodeId[], granted: ReadonlyMap<NodeId, boolean>): VoteOutcome {
  if (voters.length === 0) return 'lost';
  let yes = 0;
  let no = 0;
  for (const v of voters) {
    const answer = granted.get(v);
    if (answer === true) yes++;
    else if (answer === false) no++;
  }
  const need = majority(voters.length);
  if (yes >= need) return 'won';
  if (voters.length - no < need) return 'lost';
  return 'pending';
}

/** True when the given set of nodes contains a majority of voters. */
export function hasQuorum(voters: readonly NodeId[], present: (id: NodeId) => boolean): boolean {
  let count = 0;
  for (const v of voters) if (present(v)) count++;
  return voters.length > 0 && count >= majority(voters.length);
}

export type ConfigChange =
  | { readonly kind: 'add-learner'; readonly node: NodeId }
  | { readonly kind: 'promote'; readonly node: NodeId }
  | { readonly kind: 'demote'; readonly node: NodeId }
  | { readonly kind: 'remove'; readonly node: NodeId };

export type ConfigChangeKind = ConfigChange['kind'];

/** The configuration after `change`, or why the change is not allowed. */
export function applyConfigChange(config: ClusterConfig, change: ConfigChange): { config: ClusterConfig } | { error: string } {
  const { node } = change;
  const isVoter = config.voters.includes(node);
  const isLearner = config.learners.includes(node);
  const without = (list: readonly NodeId[]): NodeId[] => list.filter((id) => id !== node);
  switch (change.kind) {
    case 'add-learner':
      if (isVoter) return { error: `${node} is already a voter` };
      if (isLearner) return { error: `${node} is already a learner` };
      return { config: { voters: [...config.voters], learners: [...config.learners, node] } };
    case 'promote':
      if (isVoter) return { error: `${node} is already a voter` };
      if (!isLearner) return { error: `${node} is not a learner: add it as a learner first` };
      return { config: { voters: [...config.voters, node], learners: without(config.learners) } };
    case 'demote':
      if (!isVoter) return { error: `${node} is not a voter` };
      if (config.voters.length === 1) return { error: `${node} is the only voter` };
      return { config: { voters: without(config.voters), learners: [...config.learners, node] } };
    case 'remove':
      if (!isVoter && !isLearner) return { error: `${node} is not a member` };
      if (isVoter && config.voters.length === 1) return { error: `${node} is the only voter` };
      return { config: { voters: without(config.voters), learners: without(config.learners) } };
  }
}

/**
 * True when `next` may directly follow `prev`: voters differ by at most one node, there is at
 * least one voter, and no node is listed twice. The leader checks every change it proposes.
 */
export function isSafeSuccessor(prev: ClusterConfig, next: ClusterConfig): boolean {
  if (!isWellFormed(next) || next.voters.length === 0) return false;
  let added = 0;
  for (const v of next.voters) if (!prev.voters.includes(v)) added++;
  let removed = 0;
  for (const v of prev.voters) if (!next.voters.includes(v)) removed++;
  return added + removed <= 1;
}

export function isWellFormed(config: ClusterConfig): boolean {
  const all = [...config.voters, ...config.learners];
  return new Set(all).size === all.length;
}

export function configMembers(config: ClusterConfig): NodeId[] {
  return [...config.voters, ...config.learners];
}

export function sameConfig(a: ClusterConfig, b: ClusterConfig): boolean {
  const norm = (c: ClusterConfig): string => JSON.stringify([[...c.voters].sort(), [...c.learners].sort()]);
  return norm(a) === norm(b);
}

export function formatConfig(config: ClusterConfig): string {
  const voters = [...config.voters].sort().join(',');
  const learners = [...config.learners].sort().join(',');
  return learners.length > 0 ? `voters=[${voters}] learners=[${learners}]` : `voters=[${voters}]`;
}
