// Who makes the better voter (DESIGN.md, "Autopilot (hub selection)"): nodes tagged hub=true
// first, then the most free resources, then the longest uptime, then the node ID so that every
// leader that looks at the same facts makes the same choice.

import type { MemberView, NodeId, NodeResources, TargetVoters } from './types.ts';

const GIB = 1024 ** 3;
/** Scores closer than this count as equal, so uptime and ID decide among similar machines. */
export const RESOURCE_SCORE_STEP = 0.25;

/**
 * log2(1 + free memory in GiB) + log2(1 + free disk in GiB) + log2(1 + CPU cores), rounded down
 * to a multiple of RESOURCE_SCORE_STEP.
 *
 * Logarithms make the score scale-free: doubling any one resource adds about 1 point whatever the
 * machine's size, so a huge disk cannot drown a lack of memory, and the hysteresis setting reads
 * as "about twice as much of something". Free memory matters because the replicated state lives
 * in memory; free disk because the WAL and snapshots must fit; cores for apply and replication
 * throughput. load1 is left out on purpose: it swings from second to second, and the voter set
 * should follow the machine, not its current burst. Bad figures (negative, NaN) count as zero.
 */
export function resourceScore(resources: NodeResources): number {
  const raw = log2p(resources.memoryFreeBytes / GIB) + log2p(resources.diskFreeBytes / GIB) + log2p(resources.cpuCores);
  return Math.floor(raw / RESOURCE_SCORE_STEP) * RESOURCE_SCORE_STEP;
}

function log2p(x: number): number {
  return Number.isFinite(x) && x > 0 ? Math.log2(1 + x) : 0;
}

/** What the ranking looks at, extracted once per decision. */
export interface RankKey {
  readonly id: NodeId;
  readonly hub: boolean;
  readonly score: number;
  readonly startedAtMs: number;
}

export function isHub(tags: Readonly<Record<string, string>>): boolean {
  return tags['hub'] === 'true';
}

export function rankKeyOf(member: MemberView): RankKey {
  const startedAtMs = Number.isFinite(member.startedAtMs) ? member.startedAtMs : Number.MAX_SAFE_INTEGER;
  return { id: member.id, hub: isHub(member.tags), score: resourceScore(member.resources), startedAtMs };
}

/** The key of a node gossip does not describe (ranks after every described node of its tier). */
export function unknownRankKey(id: NodeId): RankKey {
  return { id, hub: false, score: 0, startedAtMs: Number.MAX_SAFE_INTEGER };
}

/** Sort order, best first: hub, then score (higher), then uptime (earlier start), then ID. */
export function compareRank(a: RankKey, b: RankKey): number {
  if (a.hub !== b.hub) return a.hub ? -1 : 1;
  if (a.score !== b.score) return b.score - a.score;
  if (a.startedAtMs !== b.startedAtMs) return a.startedAtMs - b.startedAtMs;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * Is `a` better than `b` by enough to justify changing who votes? A hub tag beats no tag (the
 * operator said so); otherwise the score must be higher by more than the hysteresis margin.
 * Uptime and ID only break ties in ordering, they never justify a swap.
 */
export function clearlyBetter(a: RankKey, b: RankKey, hysteresis: number): boolean {
  if (a.hub !== b.hub) return a.hub;
  return a.score > b.score + hysteresis;
}

/**
 * The voter count to aim for: the largest odd number <= min(target, eligible), and at least 1.
 * Odd, because an even count tolerates no more failures than the odd count below it while
 * needing a larger majority.
 */
export function desiredVoterCount(targetVoters: TargetVoters, eligibleNodes: number): number {
  const cap = Math.min(targetVoters, Math.max(0, Math.floor(eligibleNodes)));
  return Math.max(1, cap % 2 === 1 ? cap : cap - 1);
}
