// The boundary between the node-side runner (src/agent/workloads.ts) and whatever runs a
// workload: a process today, a podman/crun container or a QEMU micro-VM later (DESIGN.md,
// Architecture: "drivers/ WorkloadDriver interface"). Everything a driver needs arrives in one
// TaskSpec; everything the runner needs back is a RunningTask, a TaskExit, and a small JSON
// DriverState that the runner persists so that a restarted agent can find the workload again.
//
// Contracts every driver keeps (the runner relies on them):
// - A workload outlives the agent. Neither an agent crash nor a graceful agent shutdown stops
//   it; only stop() does. detach() lets go of a task without stopping it.
// - start() either returns a RunningTask or rejects with a DriverError (expected failures:
//   bad config, command not found, alloc dir unusable, disk full). Any other rejection is a
//   bug. A start() that fails leaves nothing running.
// - reattach() either returns the live task or reports how it ended; it never leaves a
//   workload running that the runner does not hold a handle to (no orphans) and never starts
//   a second copy (no duplicates).
// - `exited` never rejects and settles exactly once, after the driver has cleaned up what the
//   task left (stray processes, cgroups). stop() is idempotent and resolves to the same exit.
// - Resources (cpuMillis, memoryMB) are enforced where capabilities() says 'enforced'; where
//   it does not, the runner shows capabilities().detail in the allocation's status.

/** The allocation's view of one task, as the runner hands it to a driver. */
export interface TaskSpec {
  readonly allocId: string;
  readonly job: string;
  /** The job's `config` mapping for this driver: untrusted data, checked by validateConfig. */
  readonly config: Readonly<Record<string, unknown>>;
  /** The task's final environment (job env plus SAPPERS_* merged by the runner). */
  readonly env: Readonly<Record<string, string>>;
  /** CPU in thousandths of a core (1000 = one core). */
  readonly cpuMillis: number;
  readonly memoryMB: number;
  /** Port label -> host port the scheduler assigned (containers map them; processes read env). */
  readonly ports: Readonly<Record<string, number>>;
  /**
   * The allocation's own directory, created by the runner before start(). The driver keeps
   * everything of the task under it: see allocLayout().
   */
  readonly allocDir: string;
  /** Default grace period of stop() between the stop signal and SIGKILL. */
  readonly stopTimeoutMs: number;
  readonly logs: LogLimits;
}

export interface LogLimits {
  /** A log file is rotated once it passes this size. */
  readonly maxFileBytes: number;
  /** Files kept per stream, the live one included (1 = the live file only, truncated when full). */
  readonly maxFiles: number;
}

/**
 * What the runner persists (as JSON, next to the allocation) to reattach after an agent
 * restart. Opaque to the runner: only the driver named in `driver` reads `data`, and it treats
 * it as untrusted (the file may be stale, edited or corrupt).
 */
export interface DriverState {
  readonly driver: string;
  readonly version: number;
  readonly data: Readonly<Record<string, unknown>>;
}

/** How a task ended, as reported to the runner and shown to operators. */
export interface TaskExit {
  /** Exit status of the task's main program; null when it was killed or the status is unknown. */
  readonly exitCode: number | null;
  /** The signal that ended it ('SIGTERM', 'SIGKILL', ...), or null. */
  readonly signal: string | null;
  /** The kernel killed it for going over its memory limit. */
  readonly oomKilled: boolean;
  /** One sentence for operators: what ended it and, when known, who asked. */
  readonly message: string;
}

export interface TaskStats {
  /** Memory in use by every process of the task, or null when the driver cannot tell. */
  readonly memoryBytes: number | null;
  /** CPU time used since start, in microseconds, or null when the driver cannot tell. */
  readonly cpuUsageUs: number | null;
}

export interface RunningTask {
  readonly allocId: string;
  /** Persist this (JSON) right after start() or reattach() resolves. It does not change later. */
  readonly state: DriverState;
  /** Settles once, when the task has ended and its leftovers are cleaned; never rejects. */
  readonly exited: Promise<TaskExit>;
  /**
   * Graceful stop: `signal` (default SIGTERM) to every process of the task, then SIGKILL to all
   * of them after `timeoutMs` (default: the spec's stopTimeoutMs). Idempotent: later calls
   * return the first call's promise. Resolves to the same value as `exited`.
   */
  stop(signal?: string, timeoutMs?: number): Promise<TaskExit>;
  /** Sends a signal to every process of the task (no-op after exit). Throws DriverError 'invalid-signal' for an unknown name. */
  signal(sig: string): void;
  /** Current usage, where the driver can measure it. */
  stats(): Promise<TaskStats>;
  /**
   * Lets go of the task without stopping it (agent shutdown): timers stop, log rotation pauses,
   * `exited` stays pending. A later reattach() with `state` takes it up again.
   */
  detach(): void;
}

export type ReattachResult =
  | { readonly kind: 'running'; readonly task: RunningTask }
  | { readonly kind: 'gone'; readonly exit: TaskExit };

export interface DriverCapabilities {
  /** Whether cpuMillis and memoryMB are enforced on this host by this driver. */
  readonly resourceLimits: 'enforced' | 'not-enforced';
  /** How ("cgroup v2 at /sys/fs/cgroup/sappers") or why not ("not root"); shown in status. */
  readonly detail: string;
}

export interface WorkloadDriver {
  /** The job's `driver` value this driver serves ('process', 'fake', ...). */
  readonly name: string;
  /** Problems with a job's driver config, each naming the field ("config.command: required"); [] when valid. */
  validateConfig(config: unknown): string[];
  capabilities(): DriverCapabilities;
  /** Starts the task. Rejects with DriverError on expected failures (see DriverErrorCode). */
  start(spec: TaskSpec): Promise<RunningTask>;
  /**
   * Takes up a task started by an earlier agent (same or another driver instance) from the
   * state it persisted. Rejects with DriverError 'invalid-state' when `state` is not this
   * driver's or is malformed.
   */
  reattach(spec: TaskSpec, state: DriverState): Promise<ReattachResult>;
}

export type DriverErrorCode =
  /** The job's driver config or the TaskSpec is invalid (validateConfig explains). */
  | 'invalid-config'
  /** The command does not exist (on PATH, or at the given path). */
  | 'command-not-found'
  /** The command exists but is not an executable file. */
  | 'not-executable'
  /** The allocation directory is missing, not a directory, or not writable. */
  | 'alloc-dir'
  /** The disk is full. */
  | 'no-space'
  /** Resource limits could not be set up although the host supports them. */
  | 'cgroup'
  /** The operating system refused to start the task. */
  | 'spawn'
  /** A DriverState that is not this driver's or is malformed. */
  | 'invalid-state'
  /** A signal name the host does not know. */
  | 'invalid-signal';

export class DriverError extends Error {
  readonly code: DriverErrorCode;
  constructor(code: DriverErrorCode, message: string) {
    super(message);
    this.name = 'DriverError';
    this.code = code;
  }
}

/** Warnings a driver reports while a task runs (log rotation failed, a cgroup stayed behind). */
export interface DriverWarning {
  readonly allocId: string;
  readonly kind: 'log-rotation' | 'cleanup';
  readonly message: string;
}

/**
 * Where a driver keeps a task's files inside its allocation directory. Fixed paths, so that
 * `alloc logs` can read them without asking the driver:
 * - logs/stdout.log, logs/stderr.log: the live files; rotated copies are `<live>.1` (newest)
 *   up to `<live>.<maxFiles - 1>` (oldest). See logFilesOldestFirst().
 * - work/: the task's default working directory.
 * - driver/: the driver's own files (pid record, exit status).
 */
export function allocLayout(allocDir: string): { readonly logDir: string; readonly stdout: string; readonly stderr: string; readonly workDir: string; readonly driverDir: string } {
  const base = allocDir.endsWith('/') ? allocDir.slice(0, -1) : allocDir;
  return {
    logDir: `${base}/logs`,
    stdout: `${base}/logs/stdout.log`,
    stderr: `${base}/logs/stderr.log`,
    workDir: `${base}/work`,
    driverDir: `${base}/driver`,
  };
}

/** The live log files of an allocation, for `alloc logs`. */
export function logPaths(allocDir: string): { readonly stdout: string; readonly stderr: string } {
  const l = allocLayout(allocDir);
  return { stdout: l.stdout, stderr: l.stderr };
}

/**
 * Every file of one stream that may exist, oldest first, the live file last (missing ones are
 * simply absent on disk). To follow a stream, read the live file and treat a shrinking size as
 * a rotation: the file was copied to `.1` and truncated, so continue from offset 0.
 */
export function logFilesOldestFirst(livePath: string, maxFiles: number): string[] {
  const out: string[] = [];
  for (let k = maxFiles - 1; k >= 1; k--) out.push(`${livePath}.${k}`);
  out.push(livePath);
  return out;
}
