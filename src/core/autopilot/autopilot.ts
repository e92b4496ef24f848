// The autopilot: the voter-set policy the Raft leader runs about once a second (DESIGN.md,
// "Autopilot (hub selection)"; issue 5 item 3). Each call looks at the configuration, the
// leader's replication progress and gossip's member list, and returns ONE step: a configuration
// change, a leadership transfer, or "wait", always with a reason for people.
//
// Rules, in priority order (the first one that yields a safe step wins):
//  1. A leaving leader hands leadership to the best caught-up voter (thesis 3.10), after first
//     promoting a successor if it is the only voter.
//  2. While a configuration change is uncommitted, wait: Raft takes one at a time (thesis 4.1).
//  3. Below the desired voter count, promote the best-ranked stable, caught-up learner. This runs
//     before removals, so a dead voter is replaced by adding the new voter first.
//  4. Remove voters gossip has called dead/left (or not known) for longer than the grace period.
//  5. Remove voters that announced a graceful leave.
//  6. Above the desired count, demote a voter: one that is not up, else the one a swap planned,
//     else the worst-ranked non-leader - or the leader itself when it ranks below that one by more
//     than half the hysteresis; a leader that must step back transfers leadership first.
//  7. Remove learners that are leaving, then learners dead past the grace period.
//  8. Add gossip-alive nodes outside the configuration as learners.
//  9. Swap: a stable learner that beats the worst voter (leader included) by more than the
//     hysteresis, or by a hub tag, is promoted; step 6 then takes exactly that voter out.
//
// Safety: every configuration change must leave at least a majority of the new voter set up
// (gossip alive, or the leader itself), and the leader never demotes or removes itself. Nodes
// that announced a leave count as up until they are gone: they wait to be removed before going.
// Hysteresis and the stability timer keep the voter set from flapping on noisy figures.
//
// Compared with the brief's wording, one deliberate difference: the desired count counts every
// member that has not yet FAILED (dead past the grace period) and is not leaving, rather than
// only gossip-alive ones. Counting only alive nodes would shrink the voter set (demoting a
// healthy voter) the moment one voter is merely suspected, and grow it back when the suspicion
// clears: exactly the churn the grace period exists to avoid.

import { assert, err, ok, type Result } from '../result.ts';
import { applyConfigChange, isSafeSuccessor, isWellFormed, majority } from '../raft/quorum.ts';
import { clearlyBetter, compareRank, desiredVoterCount, rankKeyOf, unknownRankKey, type RankKey } from './rank.ts';
import {
  DEFAULT_AUTOPILOT_SETTINGS,
  TARGET_VOTER_COUNTS,
  type AutopilotDecision,
  type AutopilotInput,
  type AutopilotSettings,
  type ClusterConfig,
  type ConfigChangeDecisionKind,
  type MemberStatus,
  type MemberView,
  type NodeId,
} from './types.ts';

/** Checks operator-supplied settings (missing fields take the defaults). */
export function validateAutopilotSettings(partial: Partial<AutopilotSettings>): Result<AutopilotSettings, string> {
  const s: AutopilotSettings = { ...DEFAULT_AUTOPILOT_SETTINGS, ...partial };
  if (!(TARGET_VOTER_COUNTS as readonly number[]).includes(s.targetVoters)) {
    return err(`targetVoters must be one of ${TARGET_VOTER_COUNTS.join(', ')}, got ${String(s.targetVoters)}`);
  }
  const nonNegative = ['deadVoterGraceMs', 'learnerMaxLagEntries', 'learnerStableMs', 'swapHysteresis'] as const;
  for (const name of nonNegative) {
    const v = s[name];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) return err(`${name} must be a finite number >= 0, got ${String(v)}`);
  }
  if (typeof s.maxObservationGapMs !== 'number' || !Number.isFinite(s.maxObservationGapMs) || s.maxObservationGapMs <= 0) {
    return err(`maxObservationGapMs must be a finite number > 0, got ${String(s.maxObservationGapMs)}`);
  }
  return ok(s);
}

/** Everything the rules need to know about one node, computed once per call. */
interface NodeFacts {
  readonly id: NodeId;
  readonly role: 'voter' | 'learner' | 'none';
  readonly isLeader: boolean;
  readonly status: MemberStatus | 'unknown';
  /** Counts toward a quorum: gossip alive, or the leader itself. */
  readonly up: boolean;
  /** Announced a graceful leave. */
  readonly leaving: boolean;
  /** Dead, left or unknown for at least the grace period, and Raft has not heard from it lately. */
  readonly failed: boolean;
  /** How long it has been dead, left or unknown (0 when it is not). */
  readonly goneForMs: number;
  /** May hold a vote in the plan: not failed and not leaving (non-members: alive and not leaving). */
  readonly eligible: boolean;
  /** Leader's last index minus the node's match; undefined without progress (or for the leader: 0). */
  readonly lag: number | undefined;
  readonly recentActive: boolean;
  readonly caughtUp: boolean;
  /** Gossip describes it (tags, resources): without that its rank is a guess. */
  readonly described: boolean;
  readonly rank: RankKey;
}

/** The facts of one call plus the derived sets the rules share. */
interface Assessment {
  readonly input: AutopilotInput;
  readonly nodes: ReadonlyMap<NodeId, NodeFacts>;
  readonly leader: NodeFacts;
  readonly desired: number;
  readonly eligibleCount: number;
  /** Voters meant to stay (not failed, not leaving), best first. */
  readonly retained: readonly NodeFacts[];
  /** Learners ready for a vote (up, caught up, recently active, stable long enough), best first. */
  readonly ready: readonly NodeFacts[];
}

export class Autopilot {
  readonly settings: AutopilotSettings;
  /** Since when each learner has been continuously alive and caught up. */
  readonly #caughtUpSinceMs = new Map<NodeId, number>();
  /** Since when each configuration member has been missing from gossip's member list. */
  readonly #unknownSinceMs = new Map<NodeId, number>();
  /**
   * The voter a swap promoted a newcomer to replace. The trim that follows takes exactly this one
   * out: choosing afresh could land on the other side of the leader's hysteresis edge when the
   * figures moved a little in between, and demote the newcomer it just promoted (found by the
   * jitter property test).
   */
  #plannedDrop: NodeId | undefined = undefined;
  #lastNowMs: number | undefined = undefined;

  constructor(settings: Partial<AutopilotSettings> = {}) {
    const checked = validateAutopilotSettings(settings);
    assert(checked.ok, checked.ok ? '' : checked.error);
    this.settings = checked.value;
  }

  /** Forgets every observation (for example when this node loses and later regains leadership). */
  reset(): void {
    this.#caughtUpSinceMs.clear();
    this.#unknownSinceMs.clear();
    this.#plannedDrop = undefined;
    this.#lastNowMs = undefined;
  }

  /** The one next step for the voter set. Call about once a second while leader. */
  decide(input: AutopilotInput): AutopilotDecision {
    assert(isWellFormed(input.config), 'configuration lists a node twice');
    assert(Number.isFinite(input.nowMs), 'nowMs must be a finite number');
    if (!input.config.voters.includes(input.leader)) {
      return { kind: 'wait', reason: `${input.leader} runs the autopilot but is not a voter of the configuration in its log` };
    }
    const memberById = indexMembers(input.members);
    this.#observe(input, memberById);
    return this.#choose(this.#assess(input, memberById));
  }

  // --- observation memory -------------------------------------------------------------------

  #observe(input: AutopilotInput, memberById: ReadonlyMap<NodeId, MemberView>): void {
    const { nowMs } = input;
    const last = this.#lastNowMs;
    if (last !== undefined && (nowMs < last || nowMs - last > this.settings.maxObservationGapMs)) this.reset();
    this.#lastNowMs = nowMs;

    const inConfig = new Set<NodeId>([...input.config.voters, ...input.config.learners]);
    // Bounded memory: only members of the configuration are remembered.
    for (const map of [this.#caughtUpSinceMs, this.#unknownSinceMs]) {
      for (const id of map.keys()) if (!inConfig.has(id)) map.delete(id);
    }
    for (const id of inConfig) {
      if (id === input.leader || memberById.has(id)) this.#unknownSinceMs.delete(id);
      else if (!this.#unknownSinceMs.has(id)) this.#unknownSinceMs.set(id, nowMs);
    }
    for (const id of input.config.voters) this.#caughtUpSinceMs.delete(id);
    for (const id of input.config.learners) {
      const member = memberById.get(id);
      const pr = input.progress.get(id);
      // recentActive is not part of the continuous condition: Raft clears it at every
      // check-quorum round and sets it again on the next answer, so a healthy learner reads
      // false now and then. It is required at the moment of promotion instead.
      const caughtUp =
        member !== undefined && member.status === 'alive' && !member.leaving && pr !== undefined && input.leaderLastIndex - pr.match <= this.settings.learnerMaxLagEntries;
      if (!caughtUp) this.#caughtUpSinceMs.delete(id);
      else if (!this.#caughtUpSinceMs.has(id)) this.#caughtUpSinceMs.set(id, nowMs);
    }
  }

  // --- assessment ---------------------------------------------------------------------------

  #assess(input: AutopilotInput, memberById: ReadonlyMap<NodeId, MemberView>): Assessment {
    const s = this.settings;
    const { nowMs, config } = input;
    const nodes = new Map<NodeId, NodeFacts>();
    const voterSet = new Set(config.voters);
    const learnerSet = new Set(config.learners);
    const roleOf = (id: NodeId): NodeFacts['role'] => (voterSet.has(id) ? 'voter' : learnerSet.has(id) ? 'learner' : 'none');

    const consider = (id: NodeId): void => {
      const role = roleOf(id);
      const member = memberById.get(id);
      const isLeader = id === input.leader;
      const status: NodeFacts['status'] = member?.status ?? (isLeader ? 'alive' : 'unknown');
      const leaving = member?.leaving ?? false;
      let goneForMs = 0;
      if (!isLeader && (status === 'dead' || status === 'left')) goneForMs = Math.max(0, nowMs - (member?.statusSinceMs ?? nowMs));
      else if (!isLeader && status === 'unknown') goneForMs = nowMs - (this.#unknownSinceMs.get(id) ?? nowMs);
      const pr = input.progress.get(id);
      const recentActive = isLeader || (pr?.recentActive ?? false);
      const lag = isLeader ? 0 : pr === undefined ? undefined : Math.max(0, input.leaderLastIndex - pr.match);
      const gone = status === 'dead' || status === 'left' || status === 'unknown';
      const failed = !isLeader && !leaving && gone && goneForMs >= s.deadVoterGraceMs && !recentActive;
      const up = isLeader || status === 'alive';
      const eligible = role === 'none' ? status === 'alive' && !leaving : !failed && !leaving;
      nodes.set(id, {
        id,
        role,
        isLeader,
        status,
        up,
        leaving,
        failed,
        goneForMs,
        eligible,
        lag,
        recentActive,
        caughtUp: lag !== undefined && lag <= s.learnerMaxLagEntries,
        described: member !== undefined,
        rank: member !== undefined ? rankKeyOf(member) : unknownRankKey(id),
      });
    };
    for (const id of config.voters) consider(id);
    for (const id of config.learners) consider(id);
    for (const m of memberById.values()) if (!nodes.has(m.id) && m.status === 'alive' && !m.leaving) consider(m.id);

    const leader = nodes.get(input.leader);
    assert(leader !== undefined, 'the leader is a voter');
    const all = [...nodes.values()];
    const eligibleCount = all.filter((n) => n.eligible).length;
    const byRank = (a: NodeFacts, b: NodeFacts): number => compareRank(a.rank, b.rank);
    const retained = all.filter((n) => n.role === 'voter' && n.eligible).sort(byRank);
    const ready = all
      .filter((n) => {
        if (n.role !== 'learner' || !n.up || n.leaving || !n.recentActive || !n.caughtUp) return false;
        const since = this.#caughtUpSinceMs.get(n.id);
        return since !== undefined && nowMs - since >= s.learnerStableMs;
      })
      .sort(byRank);
    return { input, nodes, leader, desired: desiredVoterCount(s.targetVoters, eligibleCount), eligibleCount, retained, ready };
  }

  // --- rules --------------------------------------------------------------------------------

  #choose(a: Assessment): AutopilotDecision {
    const blocked: string[] = [];
    const { input } = a;

    if (a.leader.leaving) {
      const handover = this.#leaderHandover(a, blocked);
      if (handover !== undefined) return handover;
    }
    if (input.configChangePending) {
      return { kind: 'wait', reason: `a configuration change is not yet committed; one change at a time (${this.#summary(a)})` };
    }
    const rules = [
      (): AutopilotDecision | undefined => this.#promoteForDeficit(a),
      (): AutopilotDecision | undefined => this.#removeFailedVoter(a, blocked),
      (): AutopilotDecision | undefined => this.#removeLeavingVoter(a, blocked),
      (): AutopilotDecision | undefined => this.#trim(a, blocked),
      (): AutopilotDecision | undefined => this.#removeLearner(a),
      (): AutopilotDecision | undefined => this.#addLearner(a),
      (): AutopilotDecision | undefined => this.#swap(a),
    ];
    for (const rule of rules) {
      const decision = rule();
      if (decision === undefined) continue;
      if (decision.kind === 'wait' || decision.kind === 'transfer-leadership') return decision;
      const unsafe = this.#unsafe(a, decision.kind, decision.node);
      if (unsafe === undefined) return decision;
      blocked.push(`${decision.kind} ${decision.node} blocked: ${unsafe}`);
    }
    return { kind: 'wait', reason: this.#waitReason(a, blocked) };
  }

  /** Rule 1. undefined: nothing to do for the handover now, carry on with the other rules. */
  #leaderHandover(a: Assessment, blocked: string[]): AutopilotDecision | undefined {
    const to = this.#transferTarget(a);
    if (to !== undefined) {
      return { kind: 'transfer-leadership', to: to.id, reason: `leader ${a.leader.id} is leaving: hands leadership to ${to.id} (${describeRank(to.rank)}, lag ${to.lag ?? 0})` };
    }
    const otherRetained = a.retained.filter((n) => !n.isLeader);
    if (otherRetained.length > 0) {
      return { kind: 'wait', reason: `leader ${a.leader.id} is leaving: waiting for one of ${ids(otherRetained)} to be caught up and active to take over` };
    }
    if (a.input.configChangePending) {
      return { kind: 'wait', reason: `leader ${a.leader.id} is leaving: waiting for the pending configuration change before promoting a successor` };
    }
    const successor = a.ready[0];
    if (successor !== undefined) {
      const unsafe = this.#unsafe(a, 'promote', successor.id);
      if (unsafe === undefined) {
        return { kind: 'promote', node: successor.id, reason: `leader ${a.leader.id} is leaving and no other voter can take over: promote ${successor.id} (${describeRank(successor.rank)}) as its successor` };
      }
      blocked.push(`promote ${successor.id} blocked: ${unsafe}`);
    }
    // No successor yet: tidy up everything else; the leader stays until one is ready.
    return undefined;
  }

  /**
   * Rule 3: below the desired count, promote the best ready learner - but only towards an odd
   * count that the ready learners can reach now, so growth never parks on an even count.
   */
  #promoteForDeficit(a: Assessment): AutopilotDecision | undefined {
    const have = a.retained.length;
    const reachable = desiredVoterCount(this.settings.targetVoters, Math.min(a.desired, have + a.ready.length));
    const best = a.ready[0];
    if (have >= reachable || best === undefined) return undefined;
    const outgoing = this.#voters(a).filter((n) => n.failed || (n.leaving && !n.isLeader));
    const why =
      outgoing.length > 0
        ? `replaces ${outgoing.map((n) => `${n.failed ? 'failed' : 'leaving'} voter ${n.id}`).join(', ')} (the new voter comes in before the old one goes)`
        : `voters ${have} of desired ${a.desired}`;
    return { kind: 'promote', node: best.id, reason: `promote ${best.id}: ${why}; it is caught up (lag ${best.lag ?? 0}) and stable (${describeRank(best.rank)})` };
  }

  /** Rule 4: the voter gone longest goes first. */
  #removeFailedVoter(a: Assessment, blocked: string[]): AutopilotDecision | undefined {
    const failed = this.#voters(a)
      .filter((n) => n.failed)
      .sort((x, y) => y.goneForMs - x.goneForMs || compareRank(x.rank, y.rank));
    for (const n of failed) {
      const unsafe = this.#unsafe(a, 'remove', n.id);
      if (unsafe === undefined) {
        return { kind: 'remove', node: n.id, reason: `remove voter ${n.id}: ${goneText(n)} for ${seconds(n.goneForMs)} (grace ${seconds(this.settings.deadVoterGraceMs)})` };
      }
      blocked.push(`remove ${n.id} blocked: ${unsafe}`);
    }
    return undefined;
  }

  /** Rule 5. */
  #removeLeavingVoter(a: Assessment, blocked: string[]): AutopilotDecision | undefined {
    const leaving = this.#voters(a)
      .filter((n) => n.leaving && !n.isLeader)
      .sort((x, y) => compareRank(x.rank, y.rank));
    for (const n of leaving) {
      const unsafe = this.#unsafe(a, 'remove', n.id);
      if (unsafe === undefined) return { kind: 'remove', node: n.id, reason: `remove voter ${n.id}: it is leaving the cluster gracefully` };
      blocked.push(`remove ${n.id} blocked: ${unsafe}`);
    }
    return undefined;
  }

  /** Rule 6. */
  #trim(a: Assessment, blocked: string[]): AutopilotDecision | undefined {
    if (a.retained.length <= a.desired) {
      this.#plannedDrop = undefined;
      return undefined;
    }
    const planned = a.retained.find((n) => n.id === this.#plannedDrop);
    const notUp = this.#worstNonLeader(a.retained);
    // A voter that is not up goes first; then the one a swap planned; then the sticky choice.
    const drop = notUp !== undefined && !notUp.up ? notUp : (planned ?? this.#trimChoice(a));
    this.#plannedDrop = undefined;
    const why = `voters ${a.retained.length} above desired ${a.desired} (${a.eligibleCount} eligible nodes, target ${this.settings.targetVoters})`;
    if (drop.isLeader) {
      const to = this.#transferTarget(a);
      if (to !== undefined) {
        return { kind: 'transfer-leadership', to: to.id, reason: `${why}: leader ${a.leader.id} (${describeRank(a.leader.rank)}) is the voter to step back; hands leadership to ${to.id} first` };
      }
      blocked.push(`leader ${a.leader.id} ranks lowest but no voter is caught up to take over`);
      const fallback = this.#worstNonLeader(a.retained);
      if (fallback === undefined) return undefined;
      return { kind: 'demote', node: fallback.id, reason: `demote ${fallback.id} to learner: ${why}` };
    }
    return { kind: 'demote', node: drop.id, reason: `demote ${drop.id} to learner: ${why}; it ranks lowest (${describeRank(drop.rank)})` };
  }

  /** Rule 7. */
  #removeLearner(a: Assessment): AutopilotDecision | undefined {
    const learners = [...a.nodes.values()].filter((n) => n.role === 'learner').sort((x, y) => compareRank(x.rank, y.rank));
    const leaving = learners.find((n) => n.leaving);
    if (leaving !== undefined) return { kind: 'remove', node: leaving.id, reason: `remove learner ${leaving.id}: it is leaving the cluster gracefully` };
    const failed = learners.filter((n) => n.failed).sort((x, y) => y.goneForMs - x.goneForMs)[0];
    if (failed !== undefined) {
      return { kind: 'remove', node: failed.id, reason: `remove learner ${failed.id}: ${goneText(failed)} for ${seconds(failed.goneForMs)} (grace ${seconds(this.settings.deadVoterGraceMs)})` };
    }
    return undefined;
  }

  /** Rule 8: best-ranked newcomer first, so the likeliest future voter starts catching up first. */
  #addLearner(a: Assessment): AutopilotDecision | undefined {
    const newcomer = [...a.nodes.values()].filter((n) => n.role === 'none').sort((x, y) => compareRank(x.rank, y.rank))[0];
    if (newcomer === undefined) return undefined;
    return { kind: 'add-learner', node: newcomer.id, reason: `add ${newcomer.id} as a learner: gossip reports it alive and it is not in the configuration (${describeRank(newcomer.rank)})` };
  }

  /** Rule 9: only in a settled, fully healthy voter set at its desired size. */
  #swap(a: Assessment): AutopilotDecision | undefined {
    const voters = this.#voters(a);
    if (a.retained.length !== a.desired || voters.length !== a.retained.length || !a.retained.every((n) => n.up)) return undefined;
    const best = a.ready[0];
    if (best === undefined) return undefined;
    // Compared with the worst voter, leader included: the margin must hold against the voter
    // that will really go, which the trim then takes out as planned.
    // A leader gossip does not describe (the caller left it out of the member list) is never
    // judged by its unknown rank: every leader would then hand over to the next, and so on.
    const drop = this.#worst(a.leader.described ? a.retained : a.retained.filter((n) => !n.isLeader));
    if (drop === undefined || !clearlyBetter(best.rank, drop.rank, this.settings.swapHysteresis)) return undefined;
    if (this.#unsafe(a, 'promote', best.id) !== undefined) return undefined;
    this.#plannedDrop = drop.id;
    return {
      kind: 'promote',
      node: best.id,
      reason: `promote ${best.id} (${describeRank(best.rank)}) to take the place of ${drop.id} (${describeRank(drop.rank)}): better by more than the hysteresis ${this.settings.swapHysteresis}; ${drop.id} steps back next`,
    };
  }

  // --- helpers ------------------------------------------------------------------------------

  #voters(a: Assessment): NodeFacts[] {
    return a.input.config.voters.map((id) => a.nodes.get(id)).filter((n): n is NodeFacts => n !== undefined);
  }

  /**
   * The voter to step back when the count is too high and no swap planned it: the worst
   * non-leader, or the leader itself when even that one beats it by more than half the swap
   * hysteresis (or by a hub tag). Leader moves cost a short write pause, hence the stickiness;
   * half the hysteresis, because a voter trimmed here may later compete as a learner against the
   * leader it was kept below, and must then not clear the full hysteresis merely because the
   * figures jittered by less than half of it (found by the jitter property test).
   */
  #trimChoice(a: Assessment): NodeFacts {
    const worst = this.#worstNonLeader(a.retained);
    if (worst === undefined || !a.leader.eligible || !a.leader.described) return worst ?? a.leader;
    return clearlyBetter(worst.rank, a.leader.rank, this.settings.swapHysteresis / 2) ? a.leader : worst;
  }

  /** The worst of `nodes`: not up first, then lowest rank. */
  #worst(nodes: readonly NodeFacts[]): NodeFacts | undefined {
    return [...nodes].sort((x, y) => (x.up !== y.up ? (x.up ? 1 : -1) : compareRank(y.rank, x.rank)))[0];
  }

  #worstNonLeader(retained: readonly NodeFacts[]): NodeFacts | undefined {
    return this.#worst(retained.filter((n) => !n.isLeader));
  }

  /** The best voter to hand leadership to: up, not leaving, recently active and caught up. */
  #transferTarget(a: Assessment): NodeFacts | undefined {
    return this.#voters(a)
      .filter((n) => !n.isLeader && n.up && !n.leaving && n.recentActive && n.caughtUp)
      .sort((x, y) => compareRank(x.rank, y.rank))[0];
  }

  /** Why a configuration change would be unsafe, or undefined when it is safe. */
  #unsafe(a: Assessment, kind: ConfigChangeDecisionKind, node: NodeId): string | undefined {
    if ((kind === 'demote' || kind === 'remove') && node === a.leader.id) return 'the leader never takes itself out; it transfers leadership first';
    const next = applyConfigChange(a.input.config, { kind, node });
    if ('error' in next) return next.error;
    if (!isSafeSuccessor(a.input.config, next.config)) return 'not a one-voter-at-a-time change';
    return quorumShortfall(next.config, (id) => a.nodes.get(id)?.up ?? false);
  }

  #summary(a: Assessment): string {
    const voters = this.#voters(a);
    const up = voters.filter((n) => n.up).length;
    return `voters ${voters.length} (${up} up), desired ${a.desired}`;
  }

  #waitReason(a: Assessment, blocked: readonly string[]): string {
    const parts: string[] = [];
    if (a.leader.leaving) parts.push(`leader ${a.leader.id} is leaving but no node can take over yet`);
    if (blocked.length > 0) parts.push(blocked.join('; '));
    const catchingUp = [...a.nodes.values()].filter((n) => n.role === 'learner' && n.eligible && !a.ready.includes(n));
    if (a.retained.length < a.desired && catchingUp.length > 0) parts.push(`waiting for learner ${ids(catchingUp)} to be caught up and stable`);
    const suspect = [...a.nodes.values()].filter((n) => n.role !== 'none' && !n.failed && !n.up && !n.leaving);
    if (suspect.length > 0) parts.push(`watching ${suspect.map((n) => `${n.id} (${n.status})`).join(', ')}`);
    if (parts.length === 0) parts.push('stable');
    return `${parts.join('; ')} (${this.#summary(a)})`;
  }
}

/**
 * Why `config` would not have a majority of its voters up, or undefined when it does. This is
 * the autopilot's safety rule: no decision leaves fewer up voters than a majority.
 */
export function quorumShortfall(config: ClusterConfig, up: (id: NodeId) => boolean): string | undefined {
  const n = config.voters.length;
  if (n === 0) return 'no voter would be left';
  const upCount = config.voters.filter(up).length;
  return upCount >= majority(n) ? undefined : `only ${upCount} of ${n} voters would be up, ${majority(n)} are needed`;
}

function indexMembers(members: readonly MemberView[]): Map<NodeId, MemberView> {
  const byId = new Map<NodeId, MemberView>();
  // Gossip holds one entry per ID; if a caller ever passes two, the first wins (deterministic).
  for (const m of members) if (!byId.has(m.id)) byId.set(m.id, m);
  return byId;
}

function ids(nodes: readonly NodeFacts[]): string {
  return nodes.map((n) => n.id).join(', ');
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10}s`;
}

function goneText(n: NodeFacts): string {
  return n.status === 'unknown' ? 'unknown to gossip' : `gossip reports it ${n.status}`;
}

function describeRank(r: RankKey): string {
  return `${r.hub ? 'hub, ' : ''}score ${r.score}`;
}
