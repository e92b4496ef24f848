// What an operator asks the cluster to run (DESIGN.md, Interfaces: job files), as plain data.
// Job files are parsed and checked by src/wire/job-file.ts; the scheduler (placement) and the
// reconciler (desired against actual) read these types; the replicated state stores them.

/** service: keep `count` running; system: one per eligible node; batch: run to completion; leader: one, on the Raft leader. */
export type JobType = 'service' | 'system' | 'batch' | 'leader';

export const JOB_TYPES: readonly JobType[] = ['service', 'system', 'batch', 'leader'];

/** A named port: `static` pins the host port; without it one is picked from the dynamic range. */
export interface PortRequest {
  readonly label: string;
  readonly static?: number;
}

export interface Resources {
  /** CPU in millicores (1000 = one core). */
  readonly cpuMillis: number;
  readonly memoryMB: number;
  readonly ports: readonly PortRequest[];
}

/**
 * A rule a node must satisfy. `attribute` names what is compared: `node.id`, `node.version`,
 * `tag.<key>`, `resources.cpuCores`, `resources.memoryMB`, `resources.diskFreeMB`.
 */
export interface Constraint {
  readonly attribute: string;
  readonly operator: '==' | '!=' | '<' | '<=' | '>' | '>=' | 'in' | 'not-in' | 'exists' | 'not-exists' | 'regex' | 'version>=';
  /** Absent for exists / not-exists; a comma-separated list for in / not-in. */
  readonly value?: string;
}

/** Spread instances evenly over the values of a node attribute (e.g. `tag.zone`). */
export interface Spread {
  readonly attribute: string;
  /** Relative importance among several spreads, 1-100. */
  readonly weight: number;
}

export interface RestartPolicy {
  /** Restarts in place within `intervalMs` before the instance is considered failed. */
  readonly attempts: number;
  readonly intervalMs: number;
  readonly delayMs: number;
  /** Each further restart waits `delayMs * backoff^(n-1)`, capped at `maxDelayMs`. */
  readonly backoff: number;
  readonly maxDelayMs: number;
}

export interface UpdatePolicy {
  /** Instances replaced at once during a rolling update. */
  readonly maxParallel: number;
  /** How long a new instance has to become healthy before the update counts it as failed. */
  readonly healthyDeadlineMs: number;
  /** A new instance must stay healthy this long before the next batch starts. */
  readonly minHealthyMs: number;
  /** On a failed update, go back to the last version that was healthy. */
  readonly autoRevert: boolean;
}

/**
 * ttl: the app pushes its health within `ttlMs`; http, tcp, exec: the agent checks every
 * `intervalMs`. An http or tcp check connects to the service's port unless `port` names another
 * of the job's port labels (a separate health or admin port).
 */
export type HealthCheck =
  | { readonly type: 'ttl'; readonly name: string; readonly ttlMs: number }
  | { readonly type: 'http'; readonly name: string; readonly path: string; readonly intervalMs: number; readonly timeoutMs: number; readonly port?: string }
  | { readonly type: 'tcp'; readonly name: string; readonly intervalMs: number; readonly timeoutMs: number; readonly port?: string }
  | { readonly type: 'exec'; readonly name: string; readonly command: readonly string[]; readonly intervalMs: number; readonly timeoutMs: number };

export interface ServiceSpec {
  readonly name: string;
  /** The label of one of the job's ports. */
  readonly port: string;
  readonly tags: readonly string[];
  readonly checks: readonly HealthCheck[];
}

export interface JobSpec {
  /** The job's name: letters, digits, `.`, `_`, `-`; unique in the cluster. */
  readonly job: string;
  readonly type: JobType;
  /** Instances for service jobs (batch: how many to complete); 1 for leader; ignored for system. */
  readonly count: number;
  /** Which WorkloadDriver runs it: `process` now; `container`, `microvm` later. */
  readonly driver: string;
  /** Driver-specific settings (process: command, args, workingDir), checked by the driver. */
  readonly config: Readonly<Record<string, unknown>>;
  readonly env: Readonly<Record<string, string>>;
  readonly resources: Resources;
  readonly constraints: readonly Constraint[];
  readonly spread: readonly Spread[];
  readonly restart: RestartPolicy;
  readonly update: UpdatePolicy;
  readonly service?: ServiceSpec | undefined;
  /** How long a stopping instance gets between the stop signal and the kill. */
  readonly stopTimeoutMs: number;
}

export const DEFAULT_RESTART: RestartPolicy = { attempts: 3, intervalMs: 300_000, delayMs: 1000, backoff: 2, maxDelayMs: 60_000 };
export const DEFAULT_UPDATE: UpdatePolicy = { maxParallel: 1, healthyDeadlineMs: 300_000, minHealthyMs: 10_000, autoRevert: true };
export const DEFAULT_STOP_TIMEOUT_MS = 10_000;
export const DEFAULT_RESOURCES: Resources = { cpuMillis: 100, memoryMB: 128, ports: [] };

/** What the scheduler knows of a node (from gossip and the node registry). */
export interface NodeInfo {
  readonly id: string;
  readonly version: string;
  readonly tags: Readonly<Record<string, string>>;
  /** Capacity offered to workloads. */
  readonly cpuMillis: number;
  readonly memoryMB: number;
  readonly diskFreeMB: number;
  readonly cpuCores: number;
  /** Eligible for new work (alive, not draining, not leaving). */
  readonly eligible: boolean;
}

/** One placed instance of a job on a node. */
export interface Placement {
  readonly job: string;
  /** Instance index within the job, 0..count-1 (names the instance across replacements). */
  readonly index: number;
  readonly node: string;
  readonly cpuMillis: number;
  readonly memoryMB: number;
  /** Host ports taken, by label. */
  readonly ports: Readonly<Record<string, number>>;
}

/** Host ports handed out when a job asks for a dynamic port (Nomad uses the same range). */
export const DYNAMIC_PORT_RANGE = { min: 20_000, max: 32_000 } as const;
