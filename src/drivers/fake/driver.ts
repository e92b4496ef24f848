// A driver that runs nothing, for unit tests and the simulator (DESIGN.md, How we test:
// "cores + runtime loop + fake drivers"). Deterministic: time only through the injected Clock,
// and tasks end when a test says so (host.exit) or when their config asks (exitAfterMs).
//
// The FakeHost plays the machine: its tasks outlive any FakeDriver, so a new FakeDriver on the
// same host (an agent restart) reattaches to them, exactly like real workloads outlive the
// agent. A new FakeHost is a rebooted machine: nothing runs and reattach reports gone.
//
// Job config (all optional):
//   exitAfterMs: N     the task exits by itself N ms after start (with exitCode)
//   exitCode: N        the code for exitAfterMs (default 0)
//   ignoreStop: true   stop()'s signal is ignored; the task dies of SIGKILL after the timeout
//   failStart: CODE    start() rejects with DriverError(CODE), e.g. "command-not-found"
import { SystemClock, type Clock, type Timer } from '../../runtime/clock.ts';
import { asConfigObject, has, unknownKeys } from '../config-check.ts';
import { DriverError, type DriverCapabilities, type DriverErrorCode, type DriverState, type ReattachResult, type RunningTask, type TaskExit, type TaskSpec, type TaskStats, type WorkloadDriver } from '../driver.ts';

const CONFIG_KEYS: readonly string[] = ['exitAfterMs', 'exitCode', 'ignoreStop', 'failStart'];
const START_ERRORS: readonly DriverErrorCode[] = ['invalid-config', 'command-not-found', 'not-executable', 'alloc-dir', 'no-space', 'cgroup', 'spawn'];

interface FakeConfig {
  readonly exitAfterMs: number | undefined;
  readonly exitCode: number;
  readonly ignoreStop: boolean;
  readonly failStart: DriverErrorCode | undefined;
}

export interface FakeStopRecord {
  readonly allocId: string;
  readonly signal: string;
  readonly timeoutMs: number;
}

interface FakeProcess {
  readonly taskId: string;
  readonly spec: TaskSpec;
  readonly config: FakeConfig;
  exit: TaskExit | undefined;
  stopping: boolean;
  timer: Timer | undefined;
  readonly listeners: Set<(exit: TaskExit) => void>;
}

export class FakeHost {
  /** Every start() that reached the host, in order. */
  readonly starts: TaskSpec[] = [];
  /** Every stop() of a running task, in order. */
  readonly stops: FakeStopRecord[] = [];
  /** Signals sent with signal(), in order. */
  readonly signals: { readonly allocId: string; readonly signal: string }[] = [];
  readonly #processes = new Map<string, FakeProcess>();
  #seq = 0;

  /** Allocation IDs with a running task, sorted. */
  running(): string[] {
    return [...this.#processes.values()].filter((p) => p.exit === undefined).map((p) => p.spec.allocId).sort();
  }

  /** Ends the allocation's running task as if it exited (code 0 by default). False when none runs. */
  exit(allocId: string, how: { readonly exitCode?: number; readonly signal?: string; readonly oomKilled?: boolean } = {}): boolean {
    const p = this.#runningOf(allocId);
    if (p === undefined) return false;
    const signal = how.signal ?? null;
    const exitCode = signal === null ? (how.exitCode ?? 0) : null;
    this.#end(p, { exitCode, signal, oomKilled: how.oomKilled ?? false, message: signal === null ? `the task exited with code ${exitCode}` : `the task was killed by ${signal}` });
    return true;
  }

  /** @internal for FakeDriver */
  launch(spec: TaskSpec, config: FakeConfig, clock: Clock): FakeProcess {
    // Like the process driver: a run of the same allocation that is still going is an orphan
    // (its state was lost) and is killed, so there are never two.
    const orphan = this.#runningOf(spec.allocId);
    if (orphan !== undefined) this.#end(orphan, { exitCode: null, signal: 'SIGKILL', oomKilled: false, message: 'the task was killed as an orphan of an earlier run' });
    this.starts.push(spec);
    const p: FakeProcess = { taskId: `fake-${++this.#seq}`, spec, config, exit: undefined, stopping: false, timer: undefined, listeners: new Set() };
    this.#processes.set(p.taskId, p);
    if (config.exitAfterMs !== undefined) p.timer = clock.setTimer(config.exitAfterMs, () => this.exit(spec.allocId, { exitCode: config.exitCode }));
    return p;
  }

  /** @internal for FakeDriver */
  find(taskId: string): FakeProcess | undefined {
    return this.#processes.get(taskId);
  }

  /** @internal for FakeDriver */
  stop(p: FakeProcess, signal: string, timeoutMs: number, clock: Clock): void {
    if (p.exit !== undefined || p.stopping) return;
    p.stopping = true;
    this.stops.push({ allocId: p.spec.allocId, signal, timeoutMs });
    const killed = (): TaskExit => ({ exitCode: null, signal: 'SIGKILL', oomKilled: false, message: `the task was killed by SIGKILL; the agent sent ${signal} and, ${timeoutMs} ms later, SIGKILL` });
    if (p.config.ignoreStop && signal !== 'SIGKILL') p.timer = clock.setTimer(timeoutMs, () => this.#end(p, killed()));
    else this.#end(p, { exitCode: null, signal, oomKilled: false, message: `the task was killed by ${signal}; stopped by the agent with ${signal}` });
  }

  #runningOf(allocId: string): FakeProcess | undefined {
    for (const p of this.#processes.values()) if (p.spec.allocId === allocId && p.exit === undefined) return p;
    return undefined;
  }

  #end(p: FakeProcess, exit: TaskExit): void {
    if (p.exit !== undefined) return;
    p.timer?.cancel();
    p.exit = exit;
    for (const l of [...p.listeners]) l(exit);
    p.listeners.clear();
  }
}

export interface FakeDriverOptions {
  readonly host?: FakeHost;
  readonly clock?: Clock;
  /** The driver name jobs use; default 'fake'. */
  readonly name?: string;
  readonly capabilities?: DriverCapabilities;
}

export class FakeDriver implements WorkloadDriver {
  readonly name: string;
  readonly host: FakeHost;
  readonly #clock: Clock;
  readonly #capabilities: DriverCapabilities;

  constructor(options: FakeDriverOptions = {}) {
    this.name = options.name ?? 'fake';
    this.host = options.host ?? new FakeHost();
    this.#clock = options.clock ?? new SystemClock();
    this.#capabilities = options.capabilities ?? { resourceLimits: 'not-enforced', detail: 'the fake driver runs nothing' };
  }

  validateConfig(config: unknown): string[] {
    const r = parseFakeConfig(config);
    return r.ok ? [] : r.errors;
  }

  capabilities(): DriverCapabilities {
    return this.#capabilities;
  }

  async start(spec: TaskSpec): Promise<RunningTask> {
    const r = parseFakeConfig(spec.config);
    if (!r.ok) throw new DriverError('invalid-config', r.errors.join('; '));
    if (r.value.failStart !== undefined) throw new DriverError(r.value.failStart, `the fake task was told to fail with ${r.value.failStart}`);
    return new FakeTask(this.host, this.host.launch(spec, r.value, this.#clock), this.#clock);
  }

  async reattach(spec: TaskSpec, state: DriverState): Promise<ReattachResult> {
    const taskId = state.driver === this.name && state.version === 1 ? state.data['taskId'] : undefined;
    if (typeof taskId !== 'string') throw new DriverError('invalid-state', `not a ${this.name} driver state`);
    const p = this.host.find(taskId);
    if (p === undefined || p.spec.allocId !== spec.allocId) return { kind: 'gone', exit: { exitCode: null, signal: null, oomKilled: false, message: 'the host restarted since the task started, so it is no longer running' } };
    if (p.exit !== undefined) return { kind: 'gone', exit: p.exit };
    return { kind: 'running', task: new FakeTask(this.host, p, this.#clock) };
  }
}

class FakeTask implements RunningTask {
  readonly allocId: string;
  readonly state: DriverState;
  readonly exited: Promise<TaskExit>;
  readonly #host: FakeHost;
  readonly #process: FakeProcess;
  readonly #clock: Clock;
  #listener: ((exit: TaskExit) => void) | undefined;

  constructor(host: FakeHost, p: FakeProcess, clock: Clock) {
    this.allocId = p.spec.allocId;
    this.state = { driver: 'fake', version: 1, data: { taskId: p.taskId } };
    this.#host = host;
    this.#process = p;
    this.#clock = clock;
    this.exited = new Promise((resolve) => {
      if (p.exit !== undefined) resolve(p.exit);
      else {
        this.#listener = resolve;
        p.listeners.add(resolve);
      }
    });
  }

  stop(signal = 'SIGTERM', timeoutMs = this.#process.spec.stopTimeoutMs): Promise<TaskExit> {
    this.#host.stop(this.#process, signal, timeoutMs, this.#clock);
    return this.exited;
  }

  signal(sig: string): void {
    if (this.#process.exit === undefined) this.#host.signals.push({ allocId: this.allocId, signal: sig });
  }

  async stats(): Promise<TaskStats> {
    return { memoryBytes: null, cpuUsageUs: null };
  }

  detach(): void {
    if (this.#listener !== undefined) this.#process.listeners.delete(this.#listener);
  }
}

function parseFakeConfig(config: unknown): { ok: true; value: FakeConfig } | { ok: false; errors: string[] } {
  const o = asConfigObject(config);
  if (!o.ok) return o;
  const c = o.value;
  const errors = unknownKeys(c, CONFIG_KEYS);
  const int = (key: string, min: number, max: number): number | undefined => {
    if (!has(c, key)) return undefined;
    const v = c[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      errors.push(`config.${key}: must be an integer from ${min} to ${max}`);
      return undefined;
    }
    return v;
  };
  const exitAfterMs = int('exitAfterMs', 0, 2 ** 31 - 1);
  const exitCode = int('exitCode', 0, 255) ?? 0;
  if (has(c, 'ignoreStop') && typeof c['ignoreStop'] !== 'boolean') errors.push('config.ignoreStop: must be true or false');
  let failStart: DriverErrorCode | undefined;
  if (has(c, 'failStart')) {
    const f = c['failStart'];
    if (typeof f !== 'string' || !(START_ERRORS as readonly string[]).includes(f)) errors.push(`config.failStart: must be one of ${START_ERRORS.join(', ')}`);
    else failStart = f as DriverErrorCode;
  }
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, value: { exitAfterMs, exitCode, ignoreStop: c['ignoreStop'] === true, failStart } };
}
