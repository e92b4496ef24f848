// Allocations in the replicated state (issue 6): one placed instance of a job on a node, what
// the leader wants of it (desired) and what its node reports (client status, health). Written
// by two kinds of command only:
//
//   alloc.plan    {basis, place, stop, deployments, notes}   the leader's reconciler. Applied
//                 only if `basis` still equals the table's planSeq: a plan computed by a leader
//                 that has since lost office, or from a view another plan already changed, is
//                 refused whole (optimistic concurrency, as Nomad's plan applier), so two
//                 leaders can never both place the same missing instance.
//   alloc.update  {node, updates}   a node reporting on its own allocations, batched. An update
//                 for an allocation on another node is ignored (a peer that lies reaches no
//                 further than its own workloads); so is one that would move a terminal status.
//
// Terminal allocations stay for `alloc status` and history, at most MAX_TERMINAL_PER_JOB per job
// (oldest first out), and all of them once their job is purged.
import { assert } from '../result.ts';
import type { NodeId } from '../swim/types.ts';

/** What the leader wants: run it, or stop it. Only moves run -> stop. */
export type AllocDesired = 'run' | 'stop';
/** What its node reports. pending: not started yet; lost: its node went away (set by the leader). */
export type AllocClientStatus = 'pending' | 'running' | 'complete' | 'failed' | 'lost';
export type AllocHealth = 'unknown' | 'healthy' | 'unhealthy';
export type CheckStatus = 'passing' | 'warning' | 'critical';

/** One health check's state as the allocation's node last reported it. */
export interface AllocCheck {
  readonly name: string;
  readonly status: CheckStatus;
  /** Bounded excerpt (MAX_CHECK_OUTPUT_CHARS). */
  readonly output: string;
}

export interface Allocation {
  /** Chosen by the leader (random hex), unique for the cluster's life. */
  readonly id: string;
  readonly job: string;
  /** The job version it was placed for. */
  readonly jobVersion: number;
  /** Hash of the job's task (the spec without count and update policy): equal hashes run the same thing. */
  readonly taskSha256: string;
  /** Instance index within the job (names the instance across replacements). */
  readonly index: number;
  readonly node: NodeId;
  readonly cpuMillis: number;
  readonly memoryMB: number;
  readonly ports: Readonly<Record<string, number>>;
  readonly desired: AllocDesired;
  /** Why it was placed, or why it is to stop. */
  readonly desiredReason: string;
  readonly client: AllocClientStatus;
  /** The node's words on the client status ("exited with code 1", "restarting in 2s"). */
  readonly clientDetail: string;
  readonly health: AllocHealth;
  /** State-machine time it last became healthy; absent while not healthy. */
  readonly healthySinceMs?: number | undefined;
  readonly checks: readonly AllocCheck[];
  /** In-place restarts by its node. */
  readonly restarts: number;
  /** The allocation it replaces (rolling update, lost node, failure), if any. */
  readonly replaces?: string | undefined;
  /** Replacements of failed allocations in this instance's chain (paces rescheduling). */
  readonly reschedules: number;
  readonly createdAtMs: number;
  readonly modifiedAtMs: number;
}

/** A new allocation, as the reconciler places it (the state machine fills in the rest). */
export type AllocPlacement = Pick<Allocation, 'id' | 'job' | 'jobVersion' | 'taskSha256' | 'index' | 'node' | 'cpuMillis' | 'memoryMB' | 'ports' | 'replaces' | 'reschedules'> & {
  /** Why it is placed (becomes its desiredReason). */
  readonly reason: string;
};

export interface AllocStop {
  readonly id: string;
  readonly reason: string;
  /** Its node is gone: the client status becomes lost (the node cannot report any more). */
  readonly lost?: boolean | undefined;
}

export type DeploymentStatus = 'running' | 'successful' | 'failed';

/** The rollout of one job version (rolling updates; issue 6). */
export interface Deployment {
  readonly job: string;
  readonly version: number;
  readonly status: DeploymentStatus;
  readonly reason: string;
  readonly startedAtMs: number;
  readonly updatedAtMs: number;
}

export interface DeploymentChange {
  readonly job: string;
  readonly version: number;
  readonly status: DeploymentStatus;
  readonly reason: string;
}

/** A decision worth an event that changes no allocation (placement blocked, paused). */
export interface PlanNote {
  readonly kind: string;
  readonly subject: string;
  readonly message: string;
}

export interface AllocPlan {
  readonly type: 'alloc.plan';
  readonly atMs: number;
  /** The planSeq the plan was computed from. */
  readonly basis: number;
  readonly place: readonly AllocPlacement[];
  readonly stop: readonly AllocStop[];
  readonly deployments: readonly DeploymentChange[];
  readonly notes: readonly PlanNote[];
}

export interface AllocUpdateEntry {
  readonly id: string;
  readonly client?: Exclude<AllocClientStatus, 'lost'> | undefined;
  readonly clientDetail?: string | undefined;
  readonly health?: AllocHealth | undefined;
  readonly checks?: readonly AllocCheck[] | undefined;
  readonly restarts?: number | undefined;
}

export interface AllocUpdate {
  readonly type: 'alloc.update';
  readonly atMs: number;
  /** The reporting node: only its own allocations change. */
  readonly node: NodeId;
  readonly updates: readonly AllocUpdateEntry[];
}

/** Largest plan or update batch in one command (keeps an entry well under Raft's 1 MiB). */
export const MAX_PLAN_ITEMS = 500;
export const MAX_TERMINAL_PER_JOB = 20;
export const MAX_CHECK_OUTPUT_CHARS = 1024;
export const MAX_CHECKS_PER_ALLOC = 16;
/** Live allocations the cluster holds at once; a plan beyond it is refused. */
export const MAX_ALLOCS = 100_000;

export function isTerminalClient(status: AllocClientStatus): boolean {
  return status === 'complete' || status === 'failed' || status === 'lost';
}

/** Done for good: told to stop and no longer running (or never started). */
export function isTerminal(a: Allocation): boolean {
  return a.desired === 'stop' ? a.client !== 'running' : isTerminalClient(a.client);
}

/**
 * Holds resources on its node: not yet terminal as its node sees it. A pending allocation told
 * to stop still holds them until its node says it ended (complete) or the leader declares it
 * lost: the node may have started it already, its "running" report still on the way, and room
 * handed out in the meantime would be taken twice (found by the workloads simulation with jobs
 * three times their usual size, seed 3: a node at 2066m of 2000m cpu).
 */
export function holdsResources(a: Allocation): boolean {
  return !isTerminalClient(a.client);
}

/** What one command changed, for events and the runners' notifications. */
export interface PlanOutcome {
  readonly placed: readonly Allocation[];
  readonly stopped: readonly Allocation[];
  readonly deployments: readonly Deployment[];
}

export interface UpdateOutcome {
  readonly changed: readonly { readonly before: Allocation; readonly after: Allocation }[];
  readonly ignored: number;
}

export type PlanRefusal = { readonly code: 'stale'; readonly planSeq: number } | { readonly code: 'invalid'; readonly reason: string };

export class AllocTable {
  #allocs = new Map<string, Allocation>();
  #deployments = new Map<string, Deployment>();
  #planSeq = 0;
  #live = 0;

  get planSeq(): number {
    return this.#planSeq;
  }

  get size(): number {
    return this.#allocs.size;
  }

  get(id: string): Allocation | undefined {
    return this.#allocs.get(id);
  }

  /** Every allocation, by creation time then ID (a stable order for listings and snapshots). */
  all(): Allocation[] {
    return [...this.#allocs.values()].sort(byCreation);
  }

  ofJob(job: string): Allocation[] {
    return this.all().filter((a) => a.job === job);
  }

  ofNode(node: string): Allocation[] {
    return this.all().filter((a) => a.node === node);
  }

  deployment(job: string): Deployment | undefined {
    return this.#deployments.get(job);
  }

  deployments(): Deployment[] {
    return [...this.#deployments.values()].sort((a, b) => (a.job < b.job ? -1 : a.job > b.job ? 1 : 0));
  }

  applyPlan(plan: AllocPlan, nowMs: number): PlanOutcome | PlanRefusal {
    if (plan.basis !== this.#planSeq) return { code: 'stale', planSeq: this.#planSeq };
    const problem = this.#checkPlan(plan);
    if (problem !== undefined) return { code: 'invalid', reason: problem };
    this.#planSeq += 1;
    const stopped: Allocation[] = [];
    for (const s of plan.stop) {
      const before = this.#allocs.get(s.id)!;
      const after: Allocation = {
        ...before,
        desired: 'stop',
        desiredReason: s.reason,
        ...(s.lost === true && !isTerminalClient(before.client) ? { client: 'lost' as const, clientDetail: s.reason, health: 'unknown' as const, healthySinceMs: undefined } : {}),
        modifiedAtMs: nowMs,
      };
      this.#allocs.set(s.id, after);
      stopped.push(after);
    }
    const placed: Allocation[] = [];
    for (const p of plan.place) {
      const alloc: Allocation = {
        id: p.id,
        job: p.job,
        jobVersion: p.jobVersion,
        taskSha256: p.taskSha256,
        index: p.index,
        node: p.node,
        cpuMillis: p.cpuMillis,
        memoryMB: p.memoryMB,
        ports: p.ports,
        desired: 'run',
        desiredReason: p.reason,
        client: 'pending',
        clientDetail: '',
        health: 'unknown',
        checks: [],
        restarts: 0,
        replaces: p.replaces,
        reschedules: p.reschedules,
        createdAtMs: nowMs,
        modifiedAtMs: nowMs,
      };
      this.#allocs.set(p.id, alloc);
      placed.push(alloc);
    }
    const deployments: Deployment[] = [];
    for (const d of plan.deployments) {
      const before = this.#deployments.get(d.job);
      const sameRollout = before !== undefined && before.version === d.version;
      const after: Deployment = { ...d, startedAtMs: sameRollout ? before.startedAtMs : nowMs, updatedAtMs: nowMs };
      this.#deployments.set(d.job, after);
      deployments.push(after);
    }
    this.#recount();
    this.#collect(new Set([...placed, ...stopped].map((a) => a.job)));
    return { placed, stopped, deployments };
  }

  applyUpdate(update: AllocUpdate, nowMs: number): UpdateOutcome {
    const changed: { before: Allocation; after: Allocation }[] = [];
    let ignored = 0;
    for (const u of update.updates) {
      const before = this.#allocs.get(u.id);
      if (before === undefined || before.node !== update.node || isTerminalClient(before.client)) {
        ignored += 1;
        continue;
      }
      const after = mergeUpdate(before, u, nowMs);
      if (after === before) continue;
      this.#allocs.set(u.id, after);
      changed.push({ before, after });
    }
    if (changed.length > 0) {
      this.#recount();
      this.#collect(new Set(changed.map((c) => c.after.job)));
    }
    return { changed, ignored };
  }

  /** A purged job takes its allocations and deployment with it, once none is live. */
  forgetJob(job: string): void {
    for (const a of [...this.#allocs.values()]) if (a.job === job && isTerminal(a)) this.#allocs.delete(a.id);
    this.#deployments.delete(job);
    this.#recount();
  }

  snapshot(): { planSeq: number; allocs: Allocation[]; deployments: Deployment[] } {
    return { planSeq: this.#planSeq, allocs: this.all(), deployments: this.deployments() };
  }

  restore(s: { planSeq: number; allocs: readonly Allocation[]; deployments: readonly Deployment[] } | undefined): void {
    this.#planSeq = s?.planSeq ?? 0;
    this.#allocs = new Map((s?.allocs ?? []).map((a) => [a.id, a]));
    this.#deployments = new Map((s?.deployments ?? []).map((d) => [d.job, d]));
    this.#recount();
  }

  #checkPlan(plan: AllocPlan): string | undefined {
    if (plan.place.length + plan.stop.length > MAX_PLAN_ITEMS) return `a plan holds at most ${MAX_PLAN_ITEMS} placements and stops`;
    const stops = new Set<string>();
    for (const s of plan.stop) {
      const a = this.#allocs.get(s.id);
      if (a === undefined) return `stop of unknown allocation ${s.id}`;
      if (stops.has(s.id)) return `allocation ${s.id} stopped twice`;
      stops.add(s.id);
    }
    const ids = new Set<string>();
    for (const p of plan.place) {
      if (this.#allocs.has(p.id) || ids.has(p.id)) return `allocation ID ${p.id} is taken`;
      ids.add(p.id);
    }
    if (this.#live + plan.place.length > MAX_ALLOCS) return `the cluster holds at most ${MAX_ALLOCS} live allocations`;
    return undefined;
  }

  #recount(): void {
    let live = 0;
    for (const a of this.#allocs.values()) if (!isTerminal(a)) live += 1;
    this.#live = live;
  }

  /** Keeps at most MAX_TERMINAL_PER_JOB terminal allocations of each touched job. */
  #collect(jobs: ReadonlySet<string>): void {
    for (const job of jobs) {
      const terminal = [...this.#allocs.values()].filter((a) => a.job === job && isTerminal(a)).sort(byModification);
      for (const a of terminal.slice(0, Math.max(0, terminal.length - MAX_TERMINAL_PER_JOB))) this.#allocs.delete(a.id);
    }
  }
}

function mergeUpdate(before: Allocation, u: AllocUpdateEntry, nowMs: number): Allocation {
  const client = u.client ?? before.client;
  const health = isTerminalClient(client) ? 'unknown' : (u.health ?? before.health);
  const next: Allocation = {
    ...before,
    client,
    clientDetail: u.clientDetail ?? before.clientDetail,
    health,
    healthySinceMs: health === 'healthy' ? (before.health === 'healthy' ? before.healthySinceMs : nowMs) : undefined,
    checks: u.checks ?? before.checks,
    restarts: Math.max(before.restarts, u.restarts ?? before.restarts),
  };
  const same =
    next.client === before.client &&
    next.clientDetail === before.clientDetail &&
    next.health === before.health &&
    next.restarts === before.restarts &&
    sameChecks(next.checks, before.checks);
  return same ? before : { ...next, modifiedAtMs: nowMs };
}

function sameChecks(a: readonly AllocCheck[], b: readonly AllocCheck[]): boolean {
  return a.length === b.length && a.every((c, i) => c.name === b[i]!.name && c.status === b[i]!.status && c.output === b[i]!.output);
}

function byCreation(a: Allocation, b: Allocation): number {
  return a.createdAtMs - b.createdAtMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

function byModification(a: Allocation, b: Allocation): number {
  return a.modifiedAtMs - b.modifiedAtMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** Asserts the invariants a restored table must have (used by the snapshot check). */
export function allocTableProblem(allocs: readonly Allocation[]): string | undefined {
  const ids = new Set<string>();
  for (const a of allocs) {
    if (ids.has(a.id)) return `allocation ${a.id} listed twice`;
    ids.add(a.id);
    if (a.modifiedAtMs < a.createdAtMs) return `allocation ${a.id} modified before it was created`;
  }
  assert(ids.size === allocs.length, 'ids counted');
  return undefined;
}
