// The process driver: runs a job's command as a plain host process that outlives the agent.
//
// One task = one run of the command, wrapped by /bin/sh (see wrapper.ts) that leads its own
// session and process group, sits in the task's cgroups (where the host has them) and records
// the exit status in the allocation directory. Output goes straight into size-capped log files
// (see ../logs.ts), never through the agent. Because nothing of the task depends on the agent,
// an agent crash or restart leaves it running, and reattach() takes it up again from the
// DriverState: pid, its start time (so a reused pid is never mistaken for the task) and the
// boot id.
//
// Environment: the task gets exactly spec.env, plus PATH (a fixed system default) and HOME
// (its working directory) when spec.env lacks them. Nothing of the agent's own environment
// leaks in: it may hold the agent's secrets, and a task must behave the same on every node.
//
// Event loop: the driver holds no references (children are unref'd, Clock timers too), so an
// agent exits when its own servers close; a caller that only awaits `exited` must keep its
// process alive itself.
//
// Files in the allocation directory (see allocLayout): logs/, work/ (default working dir),
// driver/task.json (the state of the latest run, used by start() to find an orphan of a run
// whose state the runner never persisted) and driver/exit.<runId> (the wrapper's record).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, constants as fsConstants, openSync } from 'node:fs';
import { access, mkdir, readdir, readFile, realpath, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import { delimiter, isAbsolute, join, resolve, sep } from 'node:path';
import { assert } from '../../core/result.ts';
import { SystemClock, type Clock, type Timer } from '../../runtime/clock.ts';
import { allocLayout, DriverError, type DriverCapabilities, type DriverState, type DriverWarning, type ReattachResult, type RunningTask, type TaskExit, type TaskSpec, type TaskStats, type WorkloadDriver } from '../driver.ts';
import { describe, errnoOf, LogRotator } from '../logs.ts';
import { createTaskCgroups, detectCgroups, sweepEmptyTaskCgroups, isTaskCgroupDir, killCgroupMembers, readCgroupStats, readOomKills, removeCgroups, sleep, type CgroupController, type CgroupDir, type CgroupSetup } from './cgroups.ts';
import { parseProcessConfig, validateProcessConfig } from './config.ts';
import { isSameProcessAlive, readBootId, readProcStat } from './proc.ts';
import { decodeShellStatus, isKnownSignal, parseWrapperRecord, wrapperArgs, type WrapperRecord } from './wrapper.ts';

/** PATH for a task whose env has none: the Debian default for root, not the agent's PATH. */
export const DEFAULT_TASK_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const STATE_VERSION = 1;
const ALLOC_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
/** How long start() waits for an orphan of an earlier run to die after SIGKILL. */
const ORPHAN_WAIT_ATTEMPTS = 100;
const ORPHAN_WAIT_MS = 20;

export interface ProcessDriverOptions {
  readonly clock?: Clock;
  /** 'auto' (default): cgroup limits where the host allows; 'off': never touch cgroups. */
  readonly cgroups?: 'auto' | 'off';
  /** Name of the driver's cgroup subtree (see cgroups.ts); default 'sappers'. */
  readonly cgroupParentName?: string;
  /** How often a reattached task (not the agent's child) is checked for exit; default 500 ms. */
  readonly pollIntervalMs?: number;
  /** How often log sizes are checked; default 1000 ms. */
  readonly logCheckIntervalMs?: number;
  /** Empty task cgroups older than this are removed when the driver starts (see sweepEmptyTaskCgroups); default 60 s. */
  readonly leftoverCgroupMinAgeMs?: number;
  /** The shell that runs the wrapper; default /bin/sh. */
  readonly shell?: string;
  readonly onWarning?: (warning: DriverWarning) => void;
}

/** What the process driver keeps in DriverState.data (and driver/task.json). */
interface ProcessStateData {
  readonly runId: string;
  readonly pid: number;
  readonly startTicks: string;
  readonly bootId: string;
  readonly cgroups: readonly CgroupDir[];
}

interface Settings {
  readonly clock: Clock;
  readonly pollIntervalMs: number;
  readonly logCheckIntervalMs: number;
  readonly shell: string;
  readonly warn: (w: DriverWarning) => void;
  readonly setup: CgroupSetup;
}

export class ProcessDriver implements WorkloadDriver {
  readonly name = 'process';
  readonly #settings: Settings;

  constructor(options: ProcessDriverOptions = {}) {
    const parentName = options.cgroupParentName ?? 'sappers';
    assert(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(parentName), `cgroupParentName must be a plain directory name, got ${JSON.stringify(parentName)}`);
    const setup: CgroupSetup = options.cgroups === 'off' ? { version: 'none', detail: 'cgroups are turned off in the agent configuration', mounts: [] } : detectCgroups({ parentName });
    this.#settings = {
      clock: options.clock ?? new SystemClock(),
      pollIntervalMs: options.pollIntervalMs ?? 500,
      logCheckIntervalMs: options.logCheckIntervalMs ?? 1000,
      shell: options.shell ?? '/bin/sh',
      warn: options.onWarning ?? (() => undefined),
      setup,
    };
    const swept = sweepEmptyTaskCgroups(setup, options.leftoverCgroupMinAgeMs ?? 60_000, Date.now());
    if (swept > 0) this.#settings.warn({ allocId: '', kind: 'cleanup', message: `removed ${swept} empty task cgroup(s) left by tasks whose agent died before cleaning up` });
  }

  /** The directories task cgroups are created under ([] without cgroup limits). */
  get cgroupParentDirs(): readonly string[] {
    const s = this.#settings.setup;
    return s.version === 'none' ? [] : s.parents.map((p) => p.dir);
  }

  /**
   * Removes the driver's parent cgroups when no task cgroup is left in them (for an agent that
   * leaves the host for good, and for tests). A parent still in use stays; never throws.
   */
  async removeEmptyCgroupParents(): Promise<void> {
    for (const dir of this.cgroupParentDirs) await rmdir(dir).catch(() => undefined);
  }

  validateConfig(config: unknown): string[] {
    return validateProcessConfig(config);
  }

  capabilities(): DriverCapabilities {
    const s = this.#settings.setup;
    return { resourceLimits: s.version === 'none' ? 'not-enforced' : 'enforced', detail: s.detail };
  }

  async start(spec: TaskSpec): Promise<RunningTask> {
    checkSpec(spec);
    const parsed = parseProcessConfig(spec.config);
    if (!parsed.ok) throw new DriverError('invalid-config', parsed.errors.join('; '));
    const config = parsed.value;
    const layout = allocLayout(spec.allocDir);
    const workDir = await prepareDirs(spec.allocDir, config.workingDir);

    await this.#endEarlierRun(spec);

    const env: Record<string, string> = { ...spec.env };
    env['PATH'] ??= DEFAULT_TASK_PATH;
    env['HOME'] ??= workDir;
    const command = await resolveCommand(config.command, env['PATH'], workDir);

    const runId = randomBytes(6).toString('hex');
    const setup = this.#settings.setup;
    let cgroups: CgroupDir[] = [];
    if (setup.version !== 'none') {
      try {
        cgroups = await createTaskCgroups(setup, `${spec.allocId}.${runId}`, spec, this.#settings.clock);
      } catch (e) {
        throw new DriverError(errnoOf(e) === 'ENOSPC' ? 'no-space' : 'cgroup', `cannot set up the task's cgroups (${setup.detail}): ${describe(e)}`);
      }
    }
    const exitFile = exitFilePath(spec.allocDir, runId);

    let out: number | undefined;
    let errFd: number | undefined;
    let child: ChildProcess;
    const undo = async (): Promise<void> => {
      if (out !== undefined) closeSync(out);
      if (errFd !== undefined) closeSync(errFd);
      await removeCgroups(cgroups, this.#settings.clock).catch(() => undefined);
    };
    try {
      out = openSync(layout.stdout, 'a', 0o640);
      errFd = openSync(layout.stderr, 'a', 0o640);
      child = spawn(this.#settings.shell, wrapperArgs(exitFile, cgroups.map((c) => c.dir), command, config.args), {
        cwd: workDir,
        env,
        detached: true,
        stdio: ['ignore', out, errFd],
      });
    } catch (e) {
      await undo();
      if (errnoOf(e) === 'ENOSPC') throw new DriverError('no-space', `cannot open the log files in ${layout.logDir}: the disk is full`);
      throw new DriverError(out === undefined || errFd === undefined ? 'alloc-dir' : 'spawn', `cannot start the task: ${describe(e)}`);
    }
    // Read the identity now, synchronously: libuv reaps children only when the event loop
    // runs, so the pid cannot have been reaped (and reused) yet even if the task already ended.
    const pid = child.pid;
    const stat0 = pid === undefined ? undefined : readProcStat(pid);
    // Listen for the exit at once: a quick task can end during the awaits below, and an 'exit'
    // event nobody listened to is gone for good.
    const wrapperExit = new Promise<WrapperWaitStatus>((done) => child.once('exit', (code, signal) => done({ code, signal })));
    // A ChildProcess without an 'error' listener would crash the agent on a late error.
    child.on('error', () => undefined);
    const spawned = await new Promise<Error | undefined>((done) => {
      if (pid === undefined) child.once('error', (e) => done(e));
      else done(undefined);
    });
    closeSync(out);
    closeSync(errFd);
    out = undefined;
    errFd = undefined;
    if (spawned !== undefined || pid === undefined || stat0 === undefined) {
      await undo();
      throw new DriverError('spawn', `cannot start the task: ${spawned === undefined ? 'the process vanished at once' : describe(spawned)}`);
    }
    child.unref();

    const data: ProcessStateData = { runId, pid, startTicks: stat0.startTicks, bootId: readBootId(), cgroups };
    try {
      await writeFile(join(layout.driverDir, 'task.json'), JSON.stringify(data));
    } catch (e) {
      // The task runs; only the orphan check of a later start() is weaker. Say so.
      this.#settings.warn({ allocId: spec.allocId, kind: 'cleanup', message: `cannot record the task in ${layout.driverDir}/task.json: ${describe(e)}` });
    }
    return new ProcessTask(spec, data, this.#settings, { kind: 'child', exit: wrapperExit });
  }

  async reattach(spec: TaskSpec, state: DriverState): Promise<ReattachResult> {
    checkSpec(spec);
    const data = parseState(state, spec.allocId, this.#settings.setup);
    if (data === undefined) throw new DriverError('invalid-state', `not a ${STATE_VERSION === state.version ? '' : `version ${STATE_VERSION} `}process driver state for allocation ${spec.allocId}`);
    if (data.bootId !== readBootId()) {
      await removeCgroups(data.cgroups, this.#settings.clock).catch(() => undefined);
      return { kind: 'gone', exit: { exitCode: null, signal: null, oomKilled: false, message: 'the host restarted since the task started, so it is no longer running' } };
    }
    const alive = isSameProcessAlive(data.pid, data.startTicks);
    const task = new ProcessTask(spec, data, this.#settings, { kind: alive ? 'poll' : 'gone' });
    if (alive) return { kind: 'running', task };
    return { kind: 'gone', exit: await task.exited };
  }

  /**
   * Ends a run of this allocation that is still alive although the runner starts a new one:
   * the runner lost its state (it crashed between start() and persisting it), so the old run
   * is an orphan. Without this, a restart would run two copies.
   */
  async #endEarlierRun(spec: TaskSpec): Promise<void> {
    const layout = allocLayout(spec.allocDir);
    let text: string | undefined;
    try {
      text = await readFile(join(layout.driverDir, 'task.json'), 'utf8');
    } catch {
      text = undefined;
    }
    let earlier: ProcessStateData | undefined;
    if (text !== undefined) {
      try {
        earlier = parseState({ driver: 'process', version: STATE_VERSION, data: JSON.parse(text) as Record<string, unknown> }, spec.allocId, this.#settings.setup);
      } catch {
        earlier = undefined;
      }
    }
    if (earlier !== undefined && earlier.bootId === readBootId()) {
      if (isSameProcessAlive(earlier.pid, earlier.startTicks)) {
        this.#settings.warn({ allocId: spec.allocId, kind: 'cleanup', message: `killed an orphaned earlier run of the allocation (pid ${earlier.pid}) before starting it again` });
        signalGroupIfOurs(earlier.pid, earlier.startTicks, 'SIGKILL');
        for (let i = 0; i < ORPHAN_WAIT_ATTEMPTS && isSameProcessAlive(earlier.pid, earlier.startTicks); i++) await sleep(this.#settings.clock, ORPHAN_WAIT_MS);
      }
      await removeCgroups(earlier.cgroups, this.#settings.clock).catch((e: unknown) => this.#settings.warn({ allocId: spec.allocId, kind: 'cleanup', message: describe(e) }));
    }
    // Cgroups of runs that never reached task.json, and old exit records.
    const setup = this.#settings.setup;
    if (setup.version !== 'none') {
      for (const p of setup.parents) {
        for (const name of await readdir(p.dir).catch(() => [] as string[])) {
          if (name.startsWith(`${spec.allocId}.`)) await removeCgroups([{ controller: p.controller, dir: `${p.dir}/${name}` }], this.#settings.clock).catch((e: unknown) => this.#settings.warn({ allocId: spec.allocId, kind: 'cleanup', message: describe(e) }));
        }
      }
    }
    for (const name of await readdir(layout.driverDir).catch(() => [] as string[])) {
      if (name.startsWith('exit.')) await unlink(join(layout.driverDir, name)).catch(() => undefined);
    }
  }
}

type Watch = { readonly kind: 'child'; readonly exit: Promise<WrapperWaitStatus> } | { readonly kind: 'poll' } | { readonly kind: 'gone' };

interface StopRequest {
  readonly signal: string;
  readonly timeoutMs: number;
  killed: boolean;
}

class ProcessTask implements RunningTask {
  readonly allocId: string;
  readonly state: DriverState;
  readonly exited: Promise<TaskExit>;
  readonly #spec: TaskSpec;
  readonly #data: ProcessStateData;
  readonly #settings: Settings;
  readonly #rotator: LogRotator;
  #resolveExit: (exit: TaskExit) => void = () => undefined;
  #phase: 'running' | 'finishing' | 'done' | 'detached' = 'running';
  #stop: StopRequest | undefined;
  #killTimer: Timer | undefined;
  #pollTimer: Timer | undefined;

  constructor(spec: TaskSpec, data: ProcessStateData, settings: Settings, watch: Watch) {
    this.allocId = spec.allocId;
    this.#spec = spec;
    this.#data = data;
    this.#settings = settings;
    this.state = { driver: 'process', version: STATE_VERSION, data: { ...data, cgroups: data.cgroups.map((c) => ({ ...c })) } };
    this.exited = new Promise<TaskExit>((resolve) => {
      this.#resolveExit = resolve;
    });
    const layout = allocLayout(spec.allocDir);
    this.#rotator = new LogRotator({
      files: [layout.stdout, layout.stderr],
      limits: spec.logs,
      clock: settings.clock,
      checkIntervalMs: settings.logCheckIntervalMs,
      onWarning: (message) => settings.warn({ allocId: spec.allocId, kind: 'log-rotation', message }),
    });
    switch (watch.kind) {
      case 'child':
        // #leaderExited ignores it once detached: a reattached handle polls instead.
        void watch.exit.then((w) => this.#leaderExited(w));
        this.#rotator.start();
        break;
      case 'poll':
        this.#rotator.start();
        this.#schedulePoll();
        break;
      case 'gone':
        this.#leaderExited(undefined);
        break;
    }
  }

  stop(signal = 'SIGTERM', timeoutMs = this.#spec.stopTimeoutMs): Promise<TaskExit> {
    assert(this.#phase !== 'detached', 'stop() on a detached task; reattach first');
    if (!isKnownSignal(signal)) return Promise.reject(new DriverError('invalid-signal', `unknown signal ${JSON.stringify(signal)}`));
    assert(Number.isFinite(timeoutMs) && timeoutMs >= 0, `stop timeout must be >= 0, got ${timeoutMs}`);
    if (this.#stop !== undefined || this.#phase !== 'running') return this.exited;
    const request: StopRequest = { signal, timeoutMs, killed: signal === 'SIGKILL' };
    this.#stop = request;
    this.#signalAll(signal);
    if (signal !== 'SIGKILL') {
      this.#killTimer = this.#settings.clock.setTimer(timeoutMs, () => {
        if (this.#phase !== 'running') return;
        request.killed = true;
        this.#signalAll('SIGKILL');
      });
    }
    return this.exited;
  }

  signal(sig: string): void {
    assert(this.#phase !== 'detached', 'signal() on a detached task; reattach first');
    if (!isKnownSignal(sig)) throw new DriverError('invalid-signal', `unknown signal ${JSON.stringify(sig)}`);
    if (this.#phase !== 'running') return;
    signalGroupIfOurs(this.#data.pid, this.#data.startTicks, sig);
  }

  async stats(): Promise<TaskStats> {
    if (this.#data.cgroups.length === 0 || this.#phase !== 'running') return { memoryBytes: null, cpuUsageUs: null };
    return readCgroupStats(this.#data.cgroups);
  }

  detach(): void {
    if (this.#phase !== 'running') return;
    this.#phase = 'detached';
    this.#cancelTimers();
    void this.#rotator.stop();
  }

  /** The graceful signal goes to the process group; SIGKILL also to everything in the cgroups (processes that left the group with setsid). */
  #signalAll(sig: string): void {
    signalGroupIfOurs(this.#data.pid, this.#data.startTicks, sig);
    if (sig === 'SIGKILL') void killCgroupMembers(this.#data.cgroups).catch(() => undefined);
  }

  #schedulePoll(): void {
    this.#pollTimer = this.#settings.clock.setTimer(this.#settings.pollIntervalMs, () => {
      if (this.#phase !== 'running') return;
      if (isSameProcessAlive(this.#data.pid, this.#data.startTicks)) this.#schedulePoll();
      else this.#leaderExited(undefined);
    });
  }

  #cancelTimers(): void {
    this.#killTimer?.cancel();
    this.#pollTimer?.cancel();
    this.#killTimer = undefined;
    this.#pollTimer = undefined;
  }

  /**
   * The wrapper (the group leader) ended: collect its record, clean up, settle `exited`.
   * `wrapper` is its wait status when the agent is its parent (undefined after a reattach).
   */
  #leaderExited(wrapper: WrapperWaitStatus | undefined): void {
    if (this.#phase !== 'running') return;
    this.#phase = 'finishing';
    this.#cancelTimers();
    void this.#finish(wrapper)
      // Every step of #finish handles its own failures; this only keeps `exited` from hanging on a bug.
      .catch((e: unknown): TaskExit => ({ exitCode: null, signal: null, oomKilled: false, message: `the task ended; collecting how failed: ${describe(e)}` }))
      .then((exit) => {
        this.#phase = 'done';
        this.#resolveExit(exit);
      });
  }

  async #finish(wrapper: WrapperWaitStatus | undefined): Promise<TaskExit> {
    const warn = (message: string): void => this.#settings.warn({ allocId: this.allocId, kind: 'cleanup', message });
    let recordText: string | undefined;
    try {
      recordText = await readFile(exitFilePath(this.#spec.allocDir, this.#data.runId), 'utf8');
    } catch {
      recordText = undefined;
    }
    const record = parseWrapperRecord(recordText);
    const oomKills = await readOomKills(this.#data.cgroups);
    // Children the command left behind (daemons, a pipeline's other half) go with it.
    signalGroupIfOurs(this.#data.pid, this.#data.startTicks, 'SIGKILL');
    await removeCgroups(this.#data.cgroups, this.#settings.clock).catch((e: unknown) => warn(`${describe(e)}; it is removed when the allocation starts again`));
    await this.#rotator.checkNow().catch(() => undefined);
    await this.#rotator.stop();
    await unlink(join(allocLayout(this.#spec.allocDir).driverDir, 'task.json')).catch(() => undefined);
    return describeExit(record, wrapper, (oomKills ?? 0) > 0, this.#stop, this.#spec.memoryMB);
  }
}

/** How the wrapper itself ended, as waitpid told the agent (only when the agent is its parent). */
export interface WrapperWaitStatus {
  readonly code: number | null;
  readonly signal: string | null;
}

/**
 * The TaskExit for what the wrapper recorded and what the driver saw or did itself. The record
 * comes first; without one (the wrapper was killed, or could not write it on a full disk) the
 * wrapper's own wait status, then what the driver did (SIGKILL), then the OOM counter.
 */
export function describeExit(record: WrapperRecord, wrapper: WrapperWaitStatus | undefined, oomKilled: boolean, stop: { readonly signal: string; readonly timeoutMs: number; readonly killed: boolean } | undefined, memoryMB: number): TaskExit {
  let exitCode: number | null = null;
  let signal: string | null = null;
  let what: string;
  switch (record.kind) {
    case 'status': {
      ({ exitCode, signal } = decodeShellStatus(record.status));
      what = signal === null ? `exited with code ${exitCode}` : `ended by ${signal} (shell status ${record.status})`;
      break;
    }
    case 'cgroup-failed':
      what = 'could not join its cgroup, so the command never started';
      break;
    case 'signalled-before-start':
      signal = stop?.signal ?? null;
      what = 'was stopped before its command started';
      break;
    case 'none':
      if (wrapper !== undefined && wrapper.code !== null) {
        // The wrapper exits with the command's status, so its own code stands in for the record.
        ({ exitCode, signal } = decodeShellStatus(wrapper.code));
        what = signal === null ? `exited with code ${exitCode}` : `ended by ${signal} (shell status ${wrapper.code})`;
        break;
      }
      signal = wrapper?.signal ?? (stop?.killed || oomKilled ? 'SIGKILL' : null);
      what = signal === null ? 'ended without leaving an exit status (its wrapper was killed while no agent watched it, e.g. with SIGKILL, or the disk was full)' : `was killed by ${signal}`;
      break;
  }
  if (oomKilled) what = `was killed by the kernel for going over its memory limit of ${memoryMB} MB: it ${what}`;
  if (stop !== undefined) {
    what += stop.killed && stop.signal !== 'SIGKILL' ? `; the agent sent ${stop.signal} and, ${stop.timeoutMs} ms later, SIGKILL` : `; stopped by the agent with ${stop.signal}`;
  }
  return { exitCode, signal, oomKilled, message: `the task ${what}` };
}

/**
 * Signals the task's process group, but only while the group id is still the task's: the
 * leader is alive with the recorded start time, or no process has that pid at all (the
 * leader is gone, and the kernel does not hand out a pid that still names a process group).
 * A pid reused by a stranger is never signalled.
 */
function signalGroupIfOurs(pid: number, startTicks: string, sig: string): void {
  const s = readProcStat(pid);
  if (s !== undefined && s.startTicks !== startTicks) return;
  try {
    process.kill(-pid, sig as NodeJS.Signals);
  } catch {
    // ESRCH: nothing left in the group.
  }
}

function exitFilePath(allocDir: string, runId: string): string {
  return join(allocLayout(allocDir).driverDir, `exit.${runId}`);
}

function checkSpec(spec: TaskSpec): void {
  const problems: string[] = [];
  if (!ALLOC_ID_PATTERN.test(spec.allocId)) problems.push(`allocId ${JSON.stringify(spec.allocId)} must be 1-128 letters, digits, '-' or '_'`);
  if (!isAbsolute(spec.allocDir)) problems.push(`allocDir must be an absolute path, got ${JSON.stringify(spec.allocDir)}`);
  for (const [k, v] of Object.entries(spec.env)) {
    if (k === '' || k.includes('=') || k.includes('\0')) problems.push(`env name ${JSON.stringify(k)} is not valid`);
    else if (typeof v !== 'string' || v.includes('\0')) problems.push(`env ${k}: the value must be a string without NUL characters`);
  }
  if (!(Number.isInteger(spec.cpuMillis) && spec.cpuMillis > 0)) problems.push(`cpuMillis must be a positive integer, got ${spec.cpuMillis}`);
  if (!(Number.isInteger(spec.memoryMB) && spec.memoryMB > 0)) problems.push(`memoryMB must be a positive integer, got ${spec.memoryMB}`);
  if (!(Number.isFinite(spec.stopTimeoutMs) && spec.stopTimeoutMs >= 0)) problems.push(`stopTimeoutMs must be >= 0, got ${spec.stopTimeoutMs}`);
  if (!(Number.isInteger(spec.logs.maxFileBytes) && spec.logs.maxFileBytes >= 1)) problems.push(`logs.maxFileBytes must be a positive integer, got ${spec.logs.maxFileBytes}`);
  if (!(Number.isInteger(spec.logs.maxFiles) && spec.logs.maxFiles >= 1)) problems.push(`logs.maxFiles must be a positive integer, got ${spec.logs.maxFiles}`);
  if (problems.length > 0) throw new DriverError('invalid-config', `invalid task for allocation ${JSON.stringify(spec.allocId)}: ${problems.join('; ')}`);
}

/** Creates logs/, driver/ and the working dir; returns the working dir's real path. */
async function prepareDirs(allocDir: string, workingDir: string): Promise<string> {
  const layout = allocLayout(allocDir);
  let realAlloc: string;
  try {
    const s = await stat(allocDir);
    if (!s.isDirectory()) throw new DriverError('alloc-dir', `the allocation directory ${allocDir} is not a directory`);
    await access(allocDir, fsConstants.W_OK);
    realAlloc = await realpath(allocDir);
    for (const d of [layout.logDir, layout.driverDir]) await mkdir(d, { recursive: true });
    await mkdir(resolve(allocDir, workingDir), { recursive: true });
  } catch (e) {
    if (e instanceof DriverError) throw e;
    if (errnoOf(e) === 'ENOSPC') throw new DriverError('no-space', `cannot prepare the allocation directory ${allocDir}: the disk is full`);
    throw new DriverError('alloc-dir', `cannot use the allocation directory ${allocDir}: ${describe(e)}`);
  }
  // A symlink inside the alloc dir must not lead the task's working dir out of it.
  const realWork = await realpath(resolve(allocDir, workingDir));
  if (realWork !== realAlloc && !realWork.startsWith(realAlloc + sep)) {
    throw new DriverError('invalid-config', `config.workingDir: ${JSON.stringify(workingDir)} leads outside the allocation directory (to ${realWork})`);
  }
  return realWork;
}

/** The command as an absolute path: a path is taken relative to the working dir, a bare name is looked up on the task's PATH. */
async function resolveCommand(command: string, path: string, workDir: string): Promise<string> {
  if (command.includes('/')) {
    const full = resolve(workDir, command);
    const problem = await executableProblem(full);
    if (problem === 'missing') throw new DriverError('command-not-found', `config.command: ${full} does not exist`);
    if (problem !== undefined) throw new DriverError('not-executable', `config.command: ${full} ${problem}`);
    return full;
  }
  let found: { path: string; problem: string } | undefined;
  for (const dir of path.split(delimiter)) {
    if (dir === '' || !isAbsolute(dir)) continue; // a relative PATH entry would depend on the cwd
    const full = join(dir, command);
    const problem = await executableProblem(full);
    if (problem === undefined) return full;
    if (problem !== 'missing') found ??= { path: full, problem };
  }
  if (found !== undefined) throw new DriverError('not-executable', `config.command: ${found.path} ${found.problem}`);
  throw new DriverError('command-not-found', `config.command: ${JSON.stringify(command)} was not found on the task's PATH (${path})`);
}

async function executableProblem(path: string): Promise<string | undefined> {
  let s;
  try {
    s = await stat(path);
  } catch (e) {
    return errnoOf(e) === 'ENOENT' || errnoOf(e) === 'ENOTDIR' ? 'missing' : `cannot be read: ${describe(e)}`;
  }
  if (!s.isFile()) return 'is not a regular file';
  try {
    await access(path, fsConstants.X_OK);
  } catch {
    return 'is not executable (no x permission)';
  }
  // access(X_OK) succeeds for root when ANY x bit is set; require one, like execve does.
  if ((s.mode & 0o111) === 0) return 'is not executable (no x permission)';
  return undefined;
}

const CONTROLLERS: readonly CgroupController[] = ['unified', 'cpu', 'memory'];

/** DriverState.data checked field by field (it comes from a file), or undefined when malformed. */
function parseState(state: DriverState, allocId: string, setup: CgroupSetup): ProcessStateData | undefined {
  if (typeof state !== 'object' || state === null || state.driver !== 'process' || state.version !== STATE_VERSION) return undefined;
  const d = state.data as Record<string, unknown> | null;
  if (typeof d !== 'object' || d === null) return undefined;
  const { runId, pid, startTicks, bootId, cgroups } = d;
  if (typeof runId !== 'string' || !/^[0-9a-f]{1,32}$/.test(runId)) return undefined;
  if (typeof pid !== 'number' || !Number.isInteger(pid) || pid < 2 || pid > 2 ** 22) return undefined;
  if (typeof startTicks !== 'string' || !/^\d{1,20}$/.test(startTicks)) return undefined;
  if (typeof bootId !== 'string' || bootId.length > 64) return undefined;
  if (!Array.isArray(cgroups) || cgroups.length > 3) return undefined;
  const dirs: CgroupDir[] = [];
  for (const c of cgroups as unknown[]) {
    if (typeof c !== 'object' || c === null) return undefined;
    const { controller, dir } = c as Record<string, unknown>;
    if (typeof controller !== 'string' || !(CONTROLLERS as readonly string[]).includes(controller) || typeof dir !== 'string') return undefined;
    const cg = { controller: controller as CgroupController, dir };
    if (!isTaskCgroupDir(cg, setup.mounts, `${allocId}.${runId}`)) return undefined;
    dirs.push(cg);
  }
  return { runId, pid, startTicks, bootId, cgroups: dirs };
}
