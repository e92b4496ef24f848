// The agent's health monitor (issue 6, item 5 "Health, pushed"): one per agent, tracking the
// allocations running on its node. Apps push TTL checks through the API (push); the monitor runs
// the agent-side http, tcp and exec checks itself, each on its own interval with a little
// jitter, never overlapping itself, each run held to its timeout. The decisions (statuses, TTL
// expiry, aggregation, transitions) are the pure HealthTable's; this file adds time, sockets and
// processes. One timer covers every TTL deadline. Listeners get each batch of transitions, for
// the agent to report to the leader and to drive restarts.

import type { HealthCheck } from '../../core/scheduler/job.ts';
import type { CheckStatus } from '../../core/health/status.ts';
import { HealthTable, type HealthAddError, type HealthPushError, type HealthTableOptions, type HealthTransition } from '../../core/health/table.ts';
import { healthView, type AllocationHealthView } from '../../core/health/view.ts';
import type { Random } from '../../core/random.ts';
import { assert, ok, type Result } from '../../core/result.ts';
import type { Clock, Timer } from '../clock.ts';
import { runWithTimeout, type CheckResult, type CheckRun } from './check-result.ts';
import { execCheck, type ExecCheckSpec } from './exec-check.ts';
import { httpCheck, type HttpCheckTarget } from './http-check.ts';
import { tcpCheck, type TcpCheckTarget } from './tcp-check.ts';

/** Where an allocation's agent-side checks connect, and what its exec checks run with. */
export interface HealthTarget {
  /** The address the allocation listens on (the node's bind address for the process driver). */
  readonly host: string;
  /** Host ports of the allocation, by label. */
  readonly ports: Readonly<Record<string, number>>;
  /** The service's port label: http and tcp checks connect to it unless they name another. */
  readonly servicePort: string;
  /** Exec checks: variables added to the monitor's base environment (SAPPERS_ALLOC_ID, ...). */
  readonly env?: Readonly<Record<string, string>>;
  /** Exec checks: working directory (the allocation's). */
  readonly cwd?: string;
}

/** The probes, injectable so a simulation or a test can run checks without sockets. */
export interface Checkers {
  http(target: HttpCheckTarget, signal: AbortSignal): Promise<CheckResult>;
  tcp(target: TcpCheckTarget, signal: AbortSignal): Promise<CheckResult>;
  exec(spec: ExecCheckSpec, signal: AbortSignal): Promise<CheckResult>;
}

export const REAL_CHECKERS: Checkers = { http: httpCheck, tcp: tcpCheck, exec: execCheck };

/** A transition as the monitor reports it: atMs is the clock's monotonic time, atWallMs epoch ms. */
export interface HealthChange extends HealthTransition {
  readonly atWallMs: number;
}

export type HealthChangeListener = (changes: readonly HealthChange[]) => void;

export interface HealthMonitorOptions {
  readonly clock: Clock;
  readonly random: Random;
  readonly table?: HealthTableOptions;
  /** Environment every exec check starts from (default: PATH only; never the agent's secrets). */
  readonly baseEnv?: Readonly<Record<string, string>>;
  readonly checkers?: Checkers;
}

/**
 * The first run of a check waits a random part of min(interval, this), so the checks of many
 * allocations started together do not all fire at once, yet a new instance's health is known
 * within about a second (Consul staggers over the whole interval; a rolling update waits on it).
 */
export const MAX_FIRST_RUN_STAGGER_MS = 1000;
/** Later runs wait the interval plus up to this fraction of it (never less than the interval). */
export const INTERVAL_JITTER_FRACTION = 0.05;

type AgentSideCheck = Exclude<HealthCheck, { type: 'ttl' }>;

interface Runner {
  readonly allocId: string;
  readonly check: AgentSideCheck;
  readonly run: CheckRun;
  timer: Timer | undefined;
  /** Aborts the run in flight when the runner stops. */
  readonly stop: AbortController;
}

export class HealthMonitor {
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #checkers: Checkers;
  readonly #baseEnv: Readonly<Record<string, string>>;
  readonly #table: HealthTable;
  readonly #runners = new Map<string, Runner[]>();
  readonly #listeners = new Set<HealthChangeListener>();
  readonly #inFlight = new Set<Promise<void>>();
  #deadline: { atMs: number; timer: Timer } | undefined;
  #closed = false;

  constructor(options: HealthMonitorOptions) {
    this.#clock = options.clock;
    this.#random = options.random;
    this.#checkers = options.checkers ?? REAL_CHECKERS;
    this.#baseEnv = options.baseEnv ?? { PATH: process.env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin' };
    this.#table = new HealthTable(options.table);
  }

  /** Starts watching a running allocation: TTL checks wait for pushes, the others start running. */
  add(allocId: string, checks: readonly HealthCheck[], target: HealthTarget): Result<void, HealthAddError> {
    assert(!this.#closed, 'add after close');
    const added = this.#table.add(allocId, checks, this.#clock.nowMs());
    if (!added.ok) return added;
    const runners: Runner[] = [];
    for (const check of checks) {
      if (check.type === 'ttl') continue;
      const runner: Runner = { allocId, check, run: this.#runOf(check, target), timer: undefined, stop: new AbortController() };
      runners.push(runner);
      this.#schedule(runner, this.#random.float() * Math.min(check.intervalMs, MAX_FIRST_RUN_STAGGER_MS));
    }
    this.#runners.set(allocId, runners);
    return ok(undefined);
  }

  /** Stops watching: timers cancelled, runs in flight aborted (exec checks killed). */
  remove(allocId: string): boolean {
    for (const r of this.#runners.get(allocId) ?? []) this.#stopRunner(r);
    this.#runners.delete(allocId);
    const removed = this.#table.remove(allocId);
    this.#armDeadline();
    return removed;
  }

  /** An app's push to one of its TTL checks (PUT /v1/health/<alloc>/<check>). */
  push(allocId: string, check: string, status: CheckStatus, output?: string): Result<void, HealthPushError> {
    const pushed = this.#table.push(allocId, check, status, output ?? '', this.#clock.nowMs());
    if (!pushed.ok) return pushed;
    this.#emit(pushed.value);
    this.#armDeadline();
    return ok(undefined);
  }

  /** The allocation's checks now (expiries already due are applied first), or undefined. */
  status(allocId: string): AllocationHealthView | undefined {
    this.#expire();
    const state = this.#table.state(allocId);
    return state === undefined ? undefined : healthView(state, (t) => this.#toWallMs(t));
  }

  allocationIds(): string[] {
    return this.#table.allocationIds();
  }

  /** Calls listener with every batch of transitions; returns the unsubscribe function. */
  onChange(listener: HealthChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Stops everything; resolves once every run in flight has ended (no child process left). */
  async close(): Promise<void> {
    this.#closed = true;
    for (const allocId of this.#table.allocationIds()) this.remove(allocId);
    this.#deadline?.timer.cancel();
    this.#deadline = undefined;
    this.#listeners.clear();
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight]);
  }

  #runOf(check: AgentSideCheck, target: HealthTarget): CheckRun {
    switch (check.type) {
      case 'http':
      case 'tcp': {
        const label = check.port ?? target.servicePort;
        const port = target.ports[label];
        // Admission checks the labels; a mismatch here is reported where the operator looks.
        if (port === undefined) {
          const known = Object.keys(target.ports).join(', ') || 'none';
          return async () => ({ status: 'critical', output: `no port labelled ${JSON.stringify(label)} in this allocation (ports: ${known})` });
        }
        if (check.type === 'tcp') return (signal) => this.#checkers.tcp({ host: target.host, port }, signal);
        return (signal) => this.#checkers.http({ host: target.host, port, path: check.path }, signal);
      }
      case 'exec': {
        const spec: ExecCheckSpec = { command: check.command, env: { ...this.#baseEnv, ...target.env }, ...(target.cwd === undefined ? {} : { cwd: target.cwd }) };
        return (signal) => this.#checkers.exec(spec, signal);
      }
    }
  }

  #schedule(runner: Runner, delayMs: number): void {
    runner.timer = this.#clock.setTimer(delayMs, () => {
      runner.timer = undefined;
      this.#start(runner);
    });
  }

  /** One run; the next is scheduled only when it has ended, so a check never overlaps itself. */
  #start(runner: Runner): void {
    if (runner.stop.signal.aborted) return;
    const done = runWithTimeout(this.#clock, runner.check.timeoutMs, runner.run, runner.stop.signal).then((result) => {
      if (runner.stop.signal.aborted) return;
      const changes = this.#table.record(runner.allocId, runner.check.name, result.status, result.output, this.#clock.nowMs(), result.keep ?? 'head');
      this.#emit(changes);
      this.#armDeadline();
      const intervalMs = runner.check.intervalMs;
      this.#schedule(runner, intervalMs + this.#random.float() * intervalMs * INTERVAL_JITTER_FRACTION);
    });
    this.#inFlight.add(done);
    void done.finally(() => this.#inFlight.delete(done));
  }

  #stopRunner(runner: Runner): void {
    runner.timer?.cancel();
    runner.timer = undefined;
    runner.stop.abort(new Error('check stopped'));
  }

  #expire(): void {
    this.#emit(this.#table.expire(this.#clock.nowMs()));
    this.#armDeadline();
  }

  /** Keeps exactly one timer, at the earliest TTL deadline. */
  #armDeadline(): void {
    const next = this.#closed ? undefined : this.#table.nextDeadlineMs();
    if (next === this.#deadline?.atMs) return;
    this.#deadline?.timer.cancel();
    this.#deadline = undefined;
    if (next === undefined) return;
    const timer = this.#clock.setTimer(next - this.#clock.nowMs(), () => {
      if (this.#deadline?.timer !== timer) return;
      this.#deadline = undefined;
      // A timer may fire a hair before the deadline by the monotonic clock; #expire re-arms then.
      this.#expire();
    });
    this.#deadline = { atMs: next, timer };
  }

  #emit(transitions: readonly HealthTransition[]): void {
    if (transitions.length === 0 || this.#listeners.size === 0) return;
    const changes = transitions.map((t) => ({ ...t, atWallMs: this.#toWallMs(t.atMs) }));
    for (const listener of [...this.#listeners]) listener(changes);
  }

  #toWallMs(monotonicMs: number): number {
    return Math.round(this.#clock.wallMs() - (this.#clock.nowMs() - monotonicMs));
  }
}
