// The node-side restart policy (issue 6, "restarts per policy"): when a task ends on its own, or
// its health turns critical, should its node start it again in place, and when, or give up and
// report the allocation failed so that the leader replaces it elsewhere? Pure: the caller passes
// the time (nowMs) and keeps one RestartTracker per allocation; the node runner
// (src/agent/workloads.ts) and the workloads simulation (src/sim/workloads-scenario.ts) share it.
//
// The rules (RestartPolicy in job.ts; the shape of Nomad's restart stanza, with our backoff):
// - A batch task that exits with code 0 has done its work: it completes and never restarts.
// - Anything else restarts: any exit of a service, system or leader task (exit 0 included: a
//   long-running task that returns has stopped serving), a batch task's non-zero exit or death
//   by a signal, and a task whose health turned critical.
// - At most `attempts` restarts within any `intervalMs`: the next end within the window fails
//   the allocation. Restarts older than the window are forgotten, so a task that crashes once a
//   day restarts forever while one in a crash loop is given up on.
// - The n-th restart within the window waits delayMs * backoff^(n-1), capped at maxDelayMs, so
//   a crash loop does not burn the node's CPU.
import { assert } from '../result.ts';
import type { JobType, RestartPolicy } from './job.ts';

/** How a task ended (as far as its node's restart policy cares). */
export type TaskEnd =
  /** The task's main program ended: exitCode null when a signal killed it (signal names it when known). */
  | { readonly kind: 'exited'; readonly exitCode: number | null; readonly signal?: string | null | undefined }
  /** The task still runs but its health is critical: the runner stops it and asks whether to start it again. */
  | { readonly kind: 'unhealthy'; readonly detail: string };

export type RestartDecision =
  /** Start the task again at atMs; `attempt` counts restarts within the interval (1 = first). */
  | { readonly action: 'restart'; readonly atMs: number; readonly delayMs: number; readonly attempt: number; readonly reason: string }
  /** Give up: report the allocation failed (the leader replaces it, see reconciler.ts). */
  | { readonly action: 'fail'; readonly reason: string }
  /** A batch task finished its work: report the allocation complete. */
  | { readonly action: 'complete'; readonly reason: string };

/** The wait before the attempt-th restart within the interval (attempt >= 1). */
export function restartDelayMs(policy: RestartPolicy, attempt: number): number {
  assert(Number.isInteger(attempt) && attempt >= 1, `restart attempt must be a positive integer, got ${attempt}`);
  // Past the cap the power only grows; stop multiplying before it overflows to Infinity.
  const raw = policy.delayMs * policy.backoff ** (attempt - 1);
  return Math.min(policy.maxDelayMs, Number.isFinite(raw) ? raw : policy.maxDelayMs);
}

/** Words for operators: "exited with code 1", "killed by SIGKILL", "health critical: ...". */
export function describeTaskEnd(end: TaskEnd): string {
  if (end.kind === 'unhealthy') return `health critical${end.detail === '' ? '' : `: ${end.detail}`}`;
  if (end.exitCode !== null) return `exited with code ${end.exitCode}`;
  return end.signal === undefined || end.signal === null ? 'killed (no exit status)' : `killed by ${end.signal}`;
}

export interface RestartQuestion {
  readonly jobType: JobType;
  readonly policy: RestartPolicy;
  /** When the earlier restarts of this allocation were decided (any order; older ones are ignored). */
  readonly restartsAtMs: readonly number[];
  readonly end: TaskEnd;
  readonly nowMs: number;
}

/** The decision alone, without remembering it (RestartTracker remembers). */
export function decideRestart(q: RestartQuestion): RestartDecision {
  checkPolicy(q.policy);
  const what = describeTaskEnd(q.end);
  if (q.jobType === 'batch' && q.end.kind === 'exited' && q.end.exitCode === 0) return { action: 'complete', reason: what };
  const windowStartMs = q.nowMs - q.policy.intervalMs;
  const recent = q.restartsAtMs.filter((t) => t > windowStartMs && t <= q.nowMs).length;
  if (recent >= q.policy.attempts) {
    const tried = q.policy.attempts === 0 ? 'the restart policy allows no restarts' : `${recent} restart(s) within ${formatMs(q.policy.intervalMs)} already`;
    return { action: 'fail', reason: `${what}; ${tried}, giving up` };
  }
  const attempt = recent + 1;
  const delayMs = restartDelayMs(q.policy, attempt);
  return { action: 'restart', atMs: q.nowMs + delayMs, delayMs, attempt, reason: `${what}; restarting in ${formatMs(delayMs)} (attempt ${attempt} of ${q.policy.attempts})` };
}

/**
 * One allocation's restart history on its node. Holds at most `attempts` times (the ones that
 * can still count), so it stays small however long the task lives.
 */
export class RestartTracker {
  readonly #jobType: JobType;
  readonly #policy: RestartPolicy;
  #recentAtMs: number[] = [];
  #total = 0;
  #lastMs = Number.NEGATIVE_INFINITY;

  constructor(jobType: JobType, policy: RestartPolicy) {
    checkPolicy(policy);
    this.#jobType = jobType;
    this.#policy = policy;
  }

  /** Restarts decided over the tracker's life (the allocation's `restarts` counts them). */
  get restarts(): number {
    return this.#total;
  }

  /** Decides what to do about the task's end at nowMs and, for a restart, remembers it. */
  onEnd(end: TaskEnd, nowMs: number): RestartDecision {
    assert(nowMs >= this.#lastMs, `restart tracker time went back (${nowMs} < ${this.#lastMs})`);
    this.#lastMs = nowMs;
    const windowStartMs = nowMs - this.#policy.intervalMs;
    this.#recentAtMs = this.#recentAtMs.filter((t) => t > windowStartMs);
    const decision = decideRestart({ jobType: this.#jobType, policy: this.#policy, restartsAtMs: this.#recentAtMs, end, nowMs });
    if (decision.action === 'restart') {
      this.#recentAtMs.push(nowMs);
      this.#total += 1;
    }
    return decision;
  }
}

function checkPolicy(p: RestartPolicy): void {
  assert(Number.isInteger(p.attempts) && p.attempts >= 0, `restart.attempts must be a whole number >= 0, got ${p.attempts}`);
  assert(Number.isFinite(p.intervalMs) && p.intervalMs >= 0, `restart.intervalMs must be >= 0, got ${p.intervalMs}`);
  assert(Number.isFinite(p.delayMs) && p.delayMs >= 0, `restart.delayMs must be >= 0, got ${p.delayMs}`);
  assert(Number.isFinite(p.backoff) && p.backoff >= 1, `restart.backoff must be >= 1, got ${p.backoff}`);
  assert(Number.isFinite(p.maxDelayMs) && p.maxDelayMs >= 0, `restart.maxDelayMs must be >= 0, got ${p.maxDelayMs}`);
}

function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  return Number.isInteger(s) ? `${s}s` : `${s.toFixed(1)}s`;
}
