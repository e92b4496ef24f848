// Runs the reconciler (src/core/scheduler/reconciler.ts) on whichever node leads: when jobs,
// allocations or members change, and at the times the reconciler asks for (grace periods,
// health windows, reschedule delays), it gathers the replicated state and gossip's view of
// the nodes, asks for a plan and proposes it as one alloc.plan. Every decision becomes an event
// in the state machine (with its reason); blocked placements and a paused cluster are recorded
// as events once per change, not once per round.
import { randomBytes } from 'node:crypto';
import type { ClusterFsm } from '../core/fsm/fsm.ts';
import type { Command } from '../core/fsm/types.ts';
import type { PlanNote } from '../core/fsm/allocs.ts';
import { reconcile, type ReconcileNode, type ReconcilePlan, type ReconcileSettings } from '../core/scheduler/reconciler.ts';
import type { Clock, Timer } from '../runtime/clock.ts';
import type { Membership } from '../runtime/membership.ts';
import type { Consensus } from './consensus.ts';
import type { Logger } from './log.ts';
import { reconcileNodesFromMembers } from './jobs.ts';

/** Changes arriving together are reconciled once. */
const DEBOUNCE_MS = 100;
/** Even with nothing announced, look again this often (a missed notification, a snapshot install). */
const IDLE_MS = 5000;
/** After a refused or failed plan. */
const RETRY_MS = 500;
/**
 * A new leader waits this long before it plans: gossip must first learn who is alive, or the
 * nodes it has not heard of yet would look gone.
 */
export const SETTLE_MS = 2000;

export interface SchedulerRunnerInit {
  readonly nodeId: string;
  readonly consensus: Consensus;
  readonly membership: Membership;
  readonly settings: ReconcileSettings;
  readonly clock: Clock;
  readonly logger: Logger;
}

export class SchedulerRunner {
  readonly #o: SchedulerRunnerInit;
  readonly #log: Logger;
  readonly #unsubscribe: (() => void)[] = [];
  /** Nodes the registry or an allocation names but gossip does not: when this leader first missed them. */
  readonly #missingSince = new Map<string, number>();
  /** Notes already recorded, by subject and kind: recorded again only when their text changes. */
  readonly #noted = new Map<string, string>();
  #timer: Timer | undefined;
  #dueMs = Number.POSITIVE_INFINITY;
  #busy = false;
  #again = false;
  #leaderSinceMs: number | undefined;
  #stopped = false;

  constructor(init: SchedulerRunnerInit) {
    this.#o = init;
    this.#log = init.logger.child({ component: 'scheduler' });
  }

  start(): void {
    const { consensus, membership } = this.#o;
    this.#unsubscribe.push(consensus.machine.fsm.subscribe((n) => n.kind === 'workloads' && this.poke()));
    this.#unsubscribe.push(membership.subscribe(() => this.poke()));
    this.#unsubscribe.push(consensus.node.subscribeSoftState(() => this.poke()));
    this.#arm(IDLE_MS);
  }

  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
    for (const u of this.#unsubscribe.splice(0)) u();
  }

  /** Something changed: reconcile soon. */
  poke(): void {
    this.#arm(DEBOUNCE_MS);
  }

  /**
   * The nodes as the reconciler sees them, on the state machine's wall-clock time base. A node
   * gossip does not know counts as dead from when this leader first missed it, so the grace
   * period still applies to it (a new leader's gossip may not have heard of everyone yet).
   */
  nodes(fsm: ClusterFsm): ReconcileNode[] {
    const nowWall = Math.round(this.#o.clock.wallMs());
    const members = this.#o.membership.members();
    const nodes = reconcileNodesFromMembers(members, fsm, this.#o.clock);
    const known = new Set(members.map((m) => m.id as string));
    const missing = new Set<string>();
    const result = nodes.map((n) => {
      if (known.has(n.id)) return n;
      missing.add(n.id);
      let since = this.#missingSince.get(n.id);
      if (since === undefined) this.#missingSince.set(n.id, (since = nowWall));
      return { ...n, downSinceMs: since };
    });
    for (const id of this.#missingSince.keys()) if (!missing.has(id)) this.#missingSince.delete(id);
    return result;
  }

  #arm(delayMs: number): void {
    if (this.#stopped) return;
    const due = this.#o.clock.nowMs() + delayMs;
    if (this.#timer !== undefined && due >= this.#dueMs) return;
    this.#timer?.cancel();
    this.#dueMs = due;
    this.#timer = this.#o.clock.setTimer(Math.max(0, delayMs), () => {
      this.#timer = undefined;
      this.#dueMs = Number.POSITIVE_INFINITY;
      void this.#round();
    });
  }

  async #round(): Promise<void> {
    if (this.#stopped) return;
    if (this.#busy) {
      this.#again = true;
      return;
    }
    this.#busy = true;
    let next = IDLE_MS;
    try {
      next = await this.#reconcileOnce();
    } catch (e) {
      this.#log.warn({ err: e instanceof Error ? e.message : String(e) }, 'scheduling round failed; retrying');
      next = RETRY_MS;
    } finally {
      this.#busy = false;
    }
    if (this.#again) {
      this.#again = false;
      next = Math.min(next, DEBOUNCE_MS);
    }
    this.#arm(next);
  }

  /** One reconcile-and-propose; returns when to look again. */
  async #reconcileOnce(): Promise<number> {
    const { consensus, clock } = this.#o;
    // The state machine's times (allocations created, healthy since) are wall-clock ms.
    const now = Math.round(clock.wallMs());
    const status = consensus.node.status();
    if (status.leader !== this.#o.nodeId) {
      this.#leaderSinceMs = undefined;
      return IDLE_MS;
    }
    this.#leaderSinceMs ??= now;
    const settledAt = this.#leaderSinceMs + SETTLE_MS;
    if (now < settledAt) return settledAt - now;
    const fsm = consensus.machine.fsm;
    const basis = fsm.planSeq;
    const plan = reconcile({
      nowMs: now,
      jobs: fsm.jobs(),
      allocs: fsm.allocs(),
      deployments: fsm.jobs().flatMap((j) => fsm.deployment(j.spec.job) ?? []),
      nodes: this.nodes(fsm),
      leader: status.leader,
      settings: this.#o.settings,
      newId: () => randomBytes(8).toString('hex'),
    });
    const notes = this.#newNotes(plan);
    const wait = plan.nextAtMs === undefined ? IDLE_MS : Math.max(DEBOUNCE_MS, Math.min(IDLE_MS, plan.nextAtMs - now));
    if (plan.place.length + plan.stop.length + plan.deployments.length + notes.length > 0) {
      const command: Command = { type: 'alloc.plan', atMs: Math.round(clock.wallMs()), basis, place: plan.place, stop: plan.stop, deployments: plan.deployments, notes };
      const result = await consensus.propose(command);
      if (!result.ok) {
        this.#log.info({ code: result.code }, 'plan refused (the state moved on); planning again');
        for (const n of notes) this.#noted.delete(`${n.kind}\u0000${n.subject}`);
        return RETRY_MS;
      }
      this.#log.info({ placed: plan.place.length, stopped: plan.stop.length, deployments: plan.deployments.length }, 'plan applied');
    }
    for (const revert of plan.reverts) {
      const result = await consensus.propose({ type: 'job.register', atMs: Math.round(clock.wallMs()), spec: revert.spec });
      this.#log.warn({ job: revert.job, from: revert.fromVersion, to: revert.toVersion, ok: result.ok }, 'rolling update failed; reverting to the spec the old instances run');
    }
    // A plan cut at its size limit goes on at once with the rest.
    return plan.more ? 0 : wait;
  }

  /** Blocked placements and a paused cluster, recorded once per change of wording. */
  #newNotes(plan: ReconcilePlan): PlanNote[] {
    const current: PlanNote[] = plan.blocked.map((b) => ({ kind: 'sched.blocked', subject: b.job, message: `${b.unplaced} instance(s) cannot be placed: ${b.summary}` }));
    if (plan.paused !== undefined) current.push({ kind: 'sched.paused', subject: 'cluster', message: plan.paused });
    const fresh = current.filter((n) => this.#noted.get(`${n.kind}\u0000${n.subject}`) !== n.message);
    const live = new Set(current.map((n) => `${n.kind}\u0000${n.subject}`));
    for (const key of this.#noted.keys()) if (!live.has(key)) this.#noted.delete(key);
    for (const n of fresh) this.#noted.set(`${n.kind}\u0000${n.subject}`, n.message);
    return fresh;
  }
}
