// The node side of workloads (issue 6, item 3): every agent runs the allocations the leader
// placed on it, through the job's WorkloadDriver, and reports on them (batched alloc.update
// commands). It restarts instances per the job's restart policy (exits and health turning
// critical), reports failed once the policy gives up, stops what the leader stops, and after
// an agent restart takes up what it was running from <dataDir>/allocs/<id>/alloc.json: no
// orphans (a workload the state no longer names is stopped and its directory removed), no
// duplicates (a workload is started only when no record of it runs).
//
// Workloads outlive the agent process: a plain agent stop detaches from them (an upgrade in
// place does not restart the cluster's services); a node leaving the cluster stops them.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ClusterFsm } from '../core/fsm/fsm.ts';
import { isTerminalClient, MAX_CHECK_OUTPUT_CHARS, MAX_CHECKS_PER_ALLOC, MAX_PLAN_ITEMS, type AllocCheck, type AllocHealth, type AllocUpdateEntry, type Allocation } from '../core/fsm/allocs.ts';
import type { ApplyResult, Command, NodeId } from '../core/fsm/types.ts';
import type { JobSpec } from '../core/scheduler/job.ts';
import { RestartTracker, type TaskEnd } from '../core/scheduler/restart-tracker.ts';
import type { Clock, Timer } from '../runtime/clock.ts';
import type { HealthChange, HealthMonitor } from '../runtime/health/monitor.ts';
import { DriverError, allocLayout, type DriverCapabilities, type DriverState, type RunningTask, type TaskExit, type TaskSpec, type WorkloadDriver } from '../drivers/driver.ts';
import type { Logger } from './log.ts';

/** Reports arriving together go to the leader in one command. */
const REPORT_DELAY_MS = 200;
const REPORT_RETRY_MS = 1000;
/** Look at the state again this often even without a notification (a snapshot install, a lost one). */
const SYNC_INTERVAL_MS = 2000;
const SYNC_DEBOUNCE_MS = 20;
const ALLOC_FILE = 'alloc.json';
export const DEFAULT_LOG_LIMITS = { maxFileBytes: 10 * 1024 * 1024, maxFiles: 5 } as const;
/** Task starts in progress at once on a node (see #startSlot). */
const MAX_CONCURRENT_STARTS = 8;
/** Largest log read in one request. */
export const MAX_LOG_READ_BYTES = 1024 * 1024;

/** What a restarted agent needs to take a workload up again (alloc.json, mode 0600: it holds the task's token). */
interface AllocFile {
  readonly spec: TaskSpec;
  readonly state: DriverState;
  readonly driver: string;
  readonly restarts: number;
}

type Phase = 'starting' | 'running' | 'restarting' | 'stopping' | 'done';

interface Tracked {
  readonly id: string;
  alloc: Allocation | undefined;
  jobSpec: JobSpec | undefined;
  phase: Phase;
  task: RunningTask | undefined;
  taskSpec: TaskSpec | undefined;
  restarts: number;
  tracker: RestartTracker | undefined;
  timer: Timer | undefined;
  /** The checks have passed at least once in this run: only after that does critical mean unhealthy. */
  everHealthy: boolean;
  /** The failing checks, when health is what stopped it. */
  healthDetail: string;
  health: AllocHealth;
  /** A task found ended at reattach, to be judged once the state names its allocation. */
  endedWhileAway: TaskExit | undefined;
  /** Why the current stop was asked (the leader, a restart, health). */
  stopReason: 'desired' | 'restart' | 'health' | 'orphan' | undefined;
}

/** What the runner needs of consensus: the replicated state, proposals, and a read barrier. */
export interface WorkloadsConsensus {
  readonly machine: { readonly fsm: ClusterFsm };
  propose(command: Command): Promise<ApplyResult>;
  linearizableRead(): Promise<void>;
}

export interface WorkloadsInit {
  readonly nodeId: string;
  readonly dataDir: string;
  readonly drivers: readonly WorkloadDriver[];
  readonly health: HealthMonitor;
  /** This agent's HTTP API for the workloads (SAPPERS_ADDR). */
  readonly apiUrl: () => string;
  /** Where agent-side checks connect (the node's address as the workloads see it). */
  readonly checkHost: string;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly logs?: { maxFileBytes: number; maxFiles: number };
}

export class WorkloadsRunner {
  readonly #o: WorkloadsInit;
  readonly #log: Logger;
  readonly #drivers: Map<string, WorkloadDriver>;
  readonly #tracked = new Map<string, Tracked>();
  readonly #reports = new Map<string, AllocUpdateEntry>();
  readonly #unsubscribe: (() => void)[] = [];
  #consensus: WorkloadsConsensus | undefined;
  #caughtUp = false;
  #catchingUp = false;
  #starting = 0;
  readonly #startQueue: (() => void)[] = [];
  #syncTimer: Timer | undefined;
  #reportTimer: Timer | undefined;
  #reporting = false;
  #tokenSecret: Buffer = Buffer.alloc(0);
  #closed = false;

  constructor(init: WorkloadsInit) {
    this.#o = init;
    this.#log = init.logger.child({ component: 'workloads' });
    this.#drivers = new Map(init.drivers.map((d) => [d.name, d]));
    this.#unsubscribe.push(init.health.onChange((changes) => this.#onHealth(changes)));
  }

  get allocsDir(): string {
    return join(this.#o.dataDir, 'allocs');
  }

  /** Loads the token secret and takes up the workloads an earlier agent left running. */
  async start(): Promise<void> {
    await mkdir(this.allocsDir, { recursive: true, mode: 0o700 });
    this.#tokenSecret = await loadOrCreateSecret(join(this.#o.dataDir, 'alloc-token-secret'));
    await this.#reattachAll();
  }

  /** Follows a (new) consensus: its state machine names the allocations. */
  attach(consensus: WorkloadsConsensus): void {
    for (const u of this.#unsubscribe.splice(1)) u();
    this.#consensus = consensus;
    this.#caughtUp = false;
    this.#unsubscribe.push(consensus.machine.fsm.subscribe((n) => n.kind === 'workloads' && this.#scheduleSync(SYNC_DEBOUNCE_MS)));
    this.#catchUp(consensus);
  }

  /** One read barrier: once it passes, the local state is as new as the cluster's (see #sync). */
  #catchUp(consensus: WorkloadsConsensus): void {
    if (this.#catchingUp) return;
    this.#catchingUp = true;
    void consensus
      .linearizableRead()
      .then(() => {
        if (this.#consensus === consensus) this.#caughtUp = true;
      })
      .catch(() => undefined)
      .finally(() => {
        this.#catchingUp = false;
        this.#scheduleSync(0);
      });
  }

  /** Drivers' resource enforcement on this node, for status. */
  capabilities(): Record<string, DriverCapabilities> {
    return Object.fromEntries([...this.#drivers.values()].map((d) => [d.name, d.capabilities()]));
  }

  /** The token a workload gets as SAPPERS_TOKEN: good only for its own allocation's health. */
  allocToken(allocId: string): string {
    return createHmac('sha256', this.#tokenSecret).update(allocId).digest('hex');
  }

  /** True when `authorization` carries the token of the allocation `allocId`. */
  isAllocToken(authorization: string | undefined, allocId: string): boolean {
    const match = /^Bearer\s+([0-9a-f]{64})\s*$/i.exec(authorization ?? '');
    if (match === null || this.#tokenSecret.length === 0) return false;
    return timingSafeEqual(Buffer.from(match[1]!.toLowerCase(), 'hex'), Buffer.from(this.allocToken(allocId), 'hex'));
  }

  /** Reads a stretch of an allocation's log (this node's allocations only). */
  async logs(id: string, stream: 'stdout' | 'stderr', offset: number, limit: number): Promise<{ data: Uint8Array; offset: number; nextOffset: number; size: number }> {
    const layout = allocLayout(join(this.allocsDir, id));
    const path = stream === 'stdout' ? layout.stdout : layout.stderr;
    let size: number;
    try {
      size = (await stat(path)).size;
    } catch {
      return { data: new Uint8Array(0), offset: 0, nextOffset: 0, size: 0 };
    }
    // A file smaller than the reader's offset was rotated (copied away and truncated): start over.
    const from = offset < 0 ? Math.max(0, size + offset) : offset > size ? 0 : offset;
    const length = Math.min(limit, MAX_LOG_READ_BYTES, size - from);
    const handle = await open(path, 'r');
    try {
      const data = Buffer.alloc(Math.max(0, length));
      const { bytesRead } = await handle.read(data, 0, data.length, from);
      return { data: data.subarray(0, bytesRead), offset: from, nextOffset: from + bytesRead, size };
    } finally {
      await handle.close();
    }
  }

  /** Restarts an allocation's task in place (does not count against its restart policy). */
  async restart(id: string): Promise<void> {
    const t = this.#tracked.get(id);
    if (t === undefined || t.task === undefined || t.phase !== 'running') throw new Error(`allocation ${id} is not running on this node`);
    t.stopReason = 'restart';
    t.phase = 'restarting';
    await t.task.stop();
  }

  /** Agent shutdown: lets go of every workload, which keeps running for the next agent. */
  async detachAll(): Promise<void> {
    this.#close();
    for (const t of this.#tracked.values()) {
      t.timer?.cancel();
      t.task?.detach();
    }
    await this.#flushReports().catch(() => undefined);
  }

  /** The node leaves the cluster: every workload stops. */
  async stopAll(): Promise<void> {
    this.#close();
    await Promise.all(
      [...this.#tracked.values()].map(async (t) => {
        t.timer?.cancel();
        t.stopReason = 'orphan';
        t.phase = 'stopping';
        await t.task?.stop().catch(() => undefined);
      }),
    );
  }

  #close(): void {
    this.#closed = true;
    this.#syncTimer?.cancel();
    this.#reportTimer?.cancel();
    for (const u of this.#unsubscribe.splice(0)) u();
  }

  // --- Following the state -------------------------------------------------------------------

  #scheduleSync(delayMs: number): void {
    if (this.#closed) return;
    this.#syncTimer?.cancel();
    this.#syncTimer = this.#o.clock.setTimer(delayMs, () => {
      this.#syncTimer = undefined;
      try {
        this.#sync();
      } catch (e) {
        this.#log.error({ err: e instanceof Error ? e.stack : String(e) }, 'workload sync failed');
      }
      this.#scheduleSync(SYNC_INTERVAL_MS);
    });
  }

  #sync(): void {
    const fsm = this.#consensus?.machine.fsm;
    if (fsm === undefined) return;
    const mine = fsm.allocs().filter((a) => a.node === this.#o.nodeId);
    const named = new Set<string>();
    for (const alloc of mine) {
      named.add(alloc.id);
      const t = this.#tracked.get(alloc.id);
      if (t !== undefined) {
        if (t.alloc === undefined) {
          this.#adopt(fsm, t, alloc);
          continue;
        }
        t.alloc = alloc;
        if (alloc.desired === 'stop' && (t.phase === 'running' || t.phase === 'starting' || t.phase === 'restarting')) {
          this.#stop(t, 'desired');
        }
        continue;
      }
      if (alloc.desired === 'run' && !isTerminalClient(alloc.client)) {
        this.#launch(fsm, alloc, alloc.client === 'running' ? 'its task was not found running after an agent restart' : undefined);
      } else if (alloc.desired === 'stop' && (alloc.client === 'pending' || alloc.client === 'running')) {
        this.#report(alloc.id, { client: 'complete', clientDetail: 'stopped before it ran on this node' });
      }
    }
    if (!this.#caughtUp) {
      // No leader to confirm against yet: try again on a later round.
      if (this.#consensus !== undefined) this.#catchUp(this.#consensus);
      return;
    }
    // Only a caught-up state may declare a workload unknown: a lagging one has not heard of it yet.
    for (const t of this.#tracked.values()) {
      if (named.has(t.id) || t.phase === 'stopping') continue;
      if (t.phase === 'done') {
        this.#tracked.delete(t.id);
        void rm(join(this.allocsDir, t.id), { recursive: true, force: true });
        continue;
      }
      this.#log.warn({ alloc: t.id }, 'stopping a workload the cluster no longer names (an orphan)');
      this.#stop(t, 'orphan');
    }
    void this.#collectDirs(named);
  }

  /** Removes directories of allocations the state has forgotten and nothing tracks. */
  async #collectDirs(named: ReadonlySet<string>): Promise<void> {
    const entries = await readdir(this.allocsDir).catch(() => [] as string[]);
    for (const id of entries) if (!named.has(id) && !this.#tracked.has(id)) await rm(join(this.allocsDir, id), { recursive: true, force: true });
  }

  // --- Running a task ------------------------------------------------------------------------

  #launch(fsm: ClusterFsm, alloc: Allocation, lostNote: string | undefined): void {
    const spec = fsm.allocSpec(alloc);
    const t = tracked(alloc.id, 'starting', alloc.restarts, { alloc, jobSpec: spec, tracker: spec === undefined ? undefined : new RestartTracker(spec.type, spec.restart) });
    this.#tracked.set(alloc.id, t);
    if (spec === undefined) return this.#fail(t, `version ${alloc.jobVersion} of job ${alloc.job} is no longer known to the cluster`);
    if (lostNote !== undefined) this.#log.warn({ alloc: alloc.id }, lostNote);
    void this.#startTask(t);
  }

  async #startTask(t: Tracked): Promise<void> {
    const spec = t.jobSpec!;
    const alloc = t.alloc!;
    const driver = this.#drivers.get(spec.driver);
    if (driver === undefined) return this.#fail(t, `this node has no ${JSON.stringify(spec.driver)} driver (it has ${[...this.#drivers.keys()].join(', ')})`);
    const problems = driver.validateConfig(spec.config);
    if (problems.length > 0) return this.#fail(t, `invalid driver config: ${problems.join('; ')}`);
    const allocDir = join(this.allocsDir, alloc.id);
    t.phase = 'starting';
    await this.#startSlot();
    try {
      // Stopped while it waited for its turn: nothing to start.
      if (t.phase !== 'starting' || this.#closed) return;
      await mkdir(allocDir, { recursive: true, mode: 0o700 });
      const taskSpec = this.#taskSpec(alloc, spec, allocDir);
      t.taskSpec = taskSpec;
      const task = await driver.start(taskSpec);
      if (this.#closed) {
        task.detach();
        return;
      }
      if (t.phase !== 'starting') {
        // Stopped while it started: stop what just started.
        void task.stop();
        return;
      }
      t.task = task;
      await writeAllocFile(allocDir, { spec: taskSpec, state: task.state, driver: driver.name, restarts: t.restarts });
      this.#running(t, task, true);
    } catch (e) {
      if (t.phase !== 'starting') return;
      const permanent = e instanceof DriverError && (e.code === 'invalid-config' || e.code === 'command-not-found' || e.code === 'not-executable');
      const message = e instanceof Error ? e.message : String(e);
      if (permanent) return this.#fail(t, `cannot start: ${message}`);
      this.#ended(t, { exitCode: null, signal: null, oomKilled: false, message: `could not start: ${message}` });
    } finally {
      this.#releaseStartSlot();
    }
  }

  /**
   * Starts run a few at a time: a driver's spawn forks the agent synchronously, and a node told
   * to start hundreds of tasks at once would stall its event loop (and its Raft heartbeats) for
   * seconds (measured by bench/workloads.bench.ts).
   */
  async #startSlot(): Promise<void> {
    if (this.#starting < MAX_CONCURRENT_STARTS) {
      this.#starting += 1;
      return;
    }
    await new Promise<void>((resolve) => this.#startQueue.push(resolve));
  }

  #releaseStartSlot(): void {
    const next = this.#startQueue.shift();
    // The slot passes to the next waiter, after a turn of the event loop for everything else.
    if (next !== undefined) setImmediate(next);
    else this.#starting -= 1;
  }

  #running(t: Tracked, task: RunningTask, watchExit: boolean): void {
    t.phase = 'running';
    t.everHealthy = false;
    const service = t.jobSpec?.service;
    const checks = service?.checks ?? [];
    if (checks.length > 0 && service !== undefined) {
      const added = this.#o.health.add(t.id, checks, { host: this.#o.checkHost, ports: t.alloc!.ports, servicePort: service.port, env: t.taskSpec!.env, cwd: allocLayout(join(this.allocsDir, t.id)).workDir });
      if (!added.ok) this.#log.warn({ alloc: t.id, error: added.error }, 'health checks not added');
    }
    // Without checks an instance is healthy once it runs.
    t.health = checks.length === 0 ? 'healthy' : 'unknown';
    this.#report(t.id, { client: 'running', clientDetail: t.restarts > 0 ? `running (restarted ${t.restarts} time(s))` : 'running', health: t.health, checks: this.#checks(t.id), restarts: t.restarts });
    if (watchExit) void task.exited.then((exit) => this.#ended(t, exit));
  }

  /** The task ended: stopped on purpose, or to be restarted, or failed for good. */
  #ended(t: Tracked, exit: TaskExit): void {
    if (this.#closed) return;
    this.#o.health.remove(t.id);
    t.task = undefined;
    const reason = t.stopReason;
    t.stopReason = undefined;
    if (reason === 'orphan') {
      t.phase = 'done';
      return;
    }
    if (t.alloc === undefined) {
      // Found ended at reattach before the state named it: judge it once it does.
      t.endedWhileAway = exit;
      return;
    }
    if (reason === 'desired' || t.alloc.desired === 'stop') {
      t.phase = 'done';
      this.#report(t.id, { client: 'complete', clientDetail: `stopped: ${exit.message}` });
      return;
    }
    if (reason === 'restart') {
      t.restarts += 1;
      this.#report(t.id, { restarts: t.restarts, clientDetail: 'restarting on request' });
      void this.#startTask(t);
      return;
    }
    if (t.tracker === undefined) return this.#fail(t, `${exit.message}; its job's restart policy is unknown`);
    const end: TaskEnd = reason === 'health' ? { kind: 'unhealthy', detail: t.healthDetail } : { kind: 'exited', exitCode: exit.exitCode, signal: exit.signal };
    const decision = t.tracker.onEnd(end, this.#o.clock.nowMs());
    if (decision.action === 'complete') {
      t.phase = 'done';
      this.#report(t.id, { client: 'complete', clientDetail: exit.message });
      return;
    }
    if (decision.action === 'fail') return this.#fail(t, reason === 'health' ? decision.reason : `${exit.message}; ${decision.reason.replace(/^[^;]*; /, '')}`);
    t.phase = 'restarting';
    t.restarts += 1;
    const delayMs = decision.delayMs;
    this.#report(t.id, { client: 'running', health: 'unknown', clientDetail: reason === 'health' ? decision.reason : `${exit.message}; ${decision.reason.replace(/^[^;]*; /, '')}`, restarts: t.restarts });
    t.timer = this.#o.clock.setTimer(delayMs, () => {
      t.timer = undefined;
      if (t.phase === 'restarting' && t.alloc?.desired === 'run') void this.#startTask(t);
    });
  }

  #stop(t: Tracked, reason: NonNullable<Tracked['stopReason']>): void {
    t.timer?.cancel();
    t.timer = undefined;
    t.stopReason = reason;
    if (t.task === undefined) {
      // Nothing runs (between restarts, or never started): done at once.
      t.phase = 'done';
      this.#o.health.remove(t.id);
      if (reason !== 'orphan') this.#report(t.id, { client: 'complete', clientDetail: 'stopped' });
      return;
    }
    t.phase = 'stopping';
    void t.task.stop();
  }

  #fail(t: Tracked, message: string): void {
    t.phase = 'done';
    this.#o.health.remove(t.id);
    this.#log.warn({ alloc: t.id, job: t.alloc?.job, reason: message }, 'allocation failed');
    this.#report(t.id, { client: 'failed', clientDetail: message.slice(0, 1000), restarts: t.restarts });
  }

  #taskSpec(alloc: Allocation, spec: JobSpec, allocDir: string): TaskSpec {
    const env: Record<string, string> = {
      ...spec.env,
      SAPPERS_ALLOC_ID: alloc.id,
      SAPPERS_ALLOC_INDEX: String(alloc.index),
      SAPPERS_JOB: alloc.job,
      SAPPERS_NODE_ID: this.#o.nodeId,
      SAPPERS_ADDR: this.#o.apiUrl(),
      SAPPERS_TOKEN: this.allocToken(alloc.id),
    };
    // The label as written (Nomad's NOMAD_PORT_<label>); a dash is not valid in a variable name.
    for (const [label, port] of Object.entries(alloc.ports)) env[`SAPPERS_PORT_${label.replace(/-/g, '_')}`] = String(port);
    return {
      allocId: alloc.id,
      job: alloc.job,
      config: spec.config,
      env,
      cpuMillis: alloc.cpuMillis,
      memoryMB: alloc.memoryMB,
      ports: alloc.ports,
      allocDir,
      stopTimeoutMs: spec.stopTimeoutMs,
      logs: this.#o.logs ?? DEFAULT_LOG_LIMITS,
    };
  }

  // --- Reattach after an agent restart -------------------------------------------------------

  async #reattachAll(): Promise<void> {
    const ids = await readdir(this.allocsDir).catch(() => [] as string[]);
    for (const id of ids) {
      const file = await readAllocFile(join(this.allocsDir, id));
      if (file === undefined) continue;
      const driver = this.#drivers.get(file.driver);
      const t = tracked(id, 'running', file.restarts, { taskSpec: file.spec });
      if (driver === undefined) {
        this.#log.warn({ alloc: id, driver: file.driver }, 'cannot take up a workload: its driver is not available');
        continue;
      }
      try {
        const found = await driver.reattach(file.spec, file.state);
        this.#tracked.set(id, t);
        if (found.kind === 'running') {
          t.task = found.task;
          void found.task.exited.then((exit) => this.#ended(t, exit));
          this.#log.info({ alloc: id }, 'took up a running workload');
        } else {
          t.phase = 'restarting';
          t.endedWhileAway = found.exit;
        }
      } catch (e) {
        this.#log.warn({ alloc: id, err: e instanceof Error ? e.message : String(e) }, 'cannot take up a workload');
      }
    }
    // Their allocations are judged when the state names them (#adopt): health checks and the
    // restart policy need the job's spec.
  }

  /** The state names a workload taken up at reattach: give it its policy, checks and a report. */
  #adopt(fsm: ClusterFsm, t: Tracked, alloc: Allocation): void {
    t.alloc = alloc;
    t.jobSpec = fsm.allocSpec(alloc);
    if (t.jobSpec === undefined) {
      this.#log.warn({ alloc: alloc.id }, 'the job version of a workload taken up is no longer known; stopping it');
      this.#stop(t, 'orphan');
      return;
    }
    t.tracker = new RestartTracker(t.jobSpec.type, t.jobSpec.restart);
    if (t.endedWhileAway !== undefined) {
      const exit = t.endedWhileAway;
      t.endedWhileAway = undefined;
      this.#ended(t, exit);
    } else if (alloc.desired === 'stop') {
      this.#stop(t, 'desired');
    } else if (t.task !== undefined) {
      this.#running(t, t.task, false);
    }
  }

  // --- Health --------------------------------------------------------------------------------

  #onHealth(changes: readonly HealthChange[]): void {
    const byAlloc = new Map<string, HealthChange>();
    for (const c of changes) byAlloc.set(c.allocId, c);
    for (const [id, last] of byAlloc) {
      const t = this.#tracked.get(id);
      if (t === undefined || t.phase !== 'running') continue;
      const aggregate = last.allocationTo;
      let health: AllocHealth = t.health;
      if (aggregate !== 'critical') {
        t.everHealthy = true;
        health = 'healthy';
      } else if (t.everHealthy) {
        health = 'unhealthy';
      }
      t.health = health;
      this.#report(id, { health, checks: this.#checks(id) });
      if (health === 'unhealthy' && t.task !== undefined) {
        this.#log.warn({ alloc: id, check: last.check, output: last.output }, 'a health check turned critical; restarting per policy');
        t.stopReason = 'health';
        t.healthDetail = `${last.check}: ${last.output}`.slice(0, 300);
        t.phase = 'restarting';
        void t.task.stop();
      }
    }
  }

  #checks(id: string): AllocCheck[] {
    const view = this.#o.health.status(id);
    if (view === undefined) return [];
    return view.checks.slice(0, MAX_CHECKS_PER_ALLOC).map((c) => ({ name: c.name, status: c.status, output: c.output.slice(0, MAX_CHECK_OUTPUT_CHARS) }));
  }

  // --- Reports to the leader -----------------------------------------------------------------

  #report(id: string, update: Omit<AllocUpdateEntry, 'id'>): void {
    const before = this.#reports.get(id);
    this.#reports.set(id, { ...before, ...update, id });
    if (this.#reportTimer === undefined && !this.#reporting && !this.#closed) this.#reportTimer = this.#o.clock.setTimer(REPORT_DELAY_MS, () => void this.#flushLoop());
  }

  async #flushLoop(): Promise<void> {
    this.#reportTimer = undefined;
    // Between two consensus instances (a recovery, a rejoin) reports wait.
    let retry = this.#consensus === undefined;
    try {
      await this.#flushReports();
    } catch (e) {
      retry = true;
      this.#log.info({ err: e instanceof Error ? e.message : String(e) }, 'reporting allocation status failed; retrying');
    }
    if (this.#reports.size > 0 && !this.#closed) this.#reportTimer = this.#o.clock.setTimer(retry ? REPORT_RETRY_MS : 0, () => void this.#flushLoop());
  }

  async #flushReports(): Promise<void> {
    const consensus = this.#consensus;
    if (consensus === undefined || this.#reports.size === 0) return;
    this.#reporting = true;
    const batch = [...this.#reports.values()].slice(0, MAX_PLAN_ITEMS);
    for (const u of batch) this.#reports.delete(u.id);
    try {
      const result = await consensus.propose({ type: 'alloc.update', atMs: Math.round(this.#o.clock.wallMs()), node: this.#o.nodeId as NodeId, updates: batch });
      if (!result.ok) this.#log.warn({ code: result.code }, 'allocation report refused');
    } catch (e) {
      // Put them back unless newer reports replaced them meanwhile.
      for (const u of batch) if (!this.#reports.has(u.id)) this.#reports.set(u.id, u);
      throw e;
    } finally {
      this.#reporting = false;
    }
  }
}

function tracked(id: string, phase: Phase, restarts: number, known: Partial<Pick<Tracked, 'alloc' | 'jobSpec' | 'tracker' | 'taskSpec'>>): Tracked {
  return {
    id,
    alloc: known.alloc,
    jobSpec: known.jobSpec,
    phase,
    task: undefined,
    taskSpec: known.taskSpec,
    restarts,
    tracker: known.tracker,
    timer: undefined,
    everHealthy: false,
    healthDetail: '',
    health: 'unknown',
    endedWhileAway: undefined,
    stopReason: undefined,
  };
}


async function loadOrCreateSecret(path: string): Promise<Buffer> {
  try {
    const existing = await readFile(path);
    if (existing.length === 32) return existing;
  } catch {
    // Created below.
  }
  const secret = randomBytes(32);
  await writeFile(`${path}.tmp`, secret, { mode: 0o600 });
  await rename(`${path}.tmp`, path);
  return secret;
}

async function writeAllocFile(allocDir: string, file: AllocFile): Promise<void> {
  const path = join(allocDir, ALLOC_FILE);
  await writeFile(`${path}.tmp`, JSON.stringify(file), { mode: 0o600 });
  await rename(`${path}.tmp`, path);
}

/** The record of a workload, or undefined for a missing or damaged one (nothing to take up). */
async function readAllocFile(allocDir: string): Promise<AllocFile | undefined> {
  try {
    const parsed = JSON.parse(await readFile(join(allocDir, ALLOC_FILE), 'utf8')) as unknown;
    if (typeof parsed !== 'object' || parsed === null) return undefined;
    const f = parsed as Partial<AllocFile>;
    if (typeof f.driver !== 'string' || typeof f.spec !== 'object' || typeof f.state !== 'object' || typeof f.restarts !== 'number') return undefined;
    return f as AllocFile;
  } catch {
    return undefined;
  }
}
