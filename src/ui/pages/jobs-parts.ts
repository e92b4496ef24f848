// Shapes the job and allocation routes answer (src/api/jobs.ts, src/api/allocs.ts; the UI is
// bundled for the browser and does not import the server's TypeBox modules), and the small
// pieces the jobs, job and allocation pages share.

export type ClientStatus = 'pending' | 'running' | 'complete' | 'failed' | 'lost';
export type Health = 'unknown' | 'healthy' | 'unhealthy';
export type CheckStatus = 'passing' | 'warning' | 'critical';

export interface Deployment {
  readonly job: string;
  readonly version: number;
  readonly status: 'running' | 'successful' | 'failed';
  readonly reason: string;
  readonly startedAtMs: number;
  readonly updatedAtMs: number;
}

export interface InstanceCounts {
  readonly desired: number;
  readonly placed: number;
  readonly current: number;
  readonly pending: number;
  readonly running: number;
  readonly healthy: number;
  readonly unhealthy: number;
  readonly stopping: number;
  readonly complete: number;
  readonly failed: number;
  readonly lost: number;
}

export interface JobListEntry {
  readonly name: string;
  readonly type: string;
  readonly status: 'running' | 'stopped';
  readonly version: number;
  readonly instances: InstanceCounts;
  readonly deployment: Deployment | null;
  readonly submittedAtMs: number;
  readonly updatedAtMs: number;
}

export interface AllocSummary {
  readonly id: string;
  readonly job: string;
  readonly jobVersion: number;
  readonly index: number;
  readonly node: string;
  readonly desired: 'run' | 'stop';
  readonly desiredReason: string;
  readonly client: ClientStatus;
  readonly clientDetail: string;
  readonly health: Health;
  readonly restarts: number;
  readonly createdAtMs: number;
  readonly modifiedAtMs: number;
}

export interface AllocCheck {
  readonly name: string;
  readonly status: CheckStatus;
  readonly output: string;
}

export interface AllocView extends AllocSummary {
  readonly taskSha256: string;
  readonly cpuMillis: number;
  readonly memoryMB: number;
  readonly ports: Readonly<Record<string, number>>;
  readonly checks: readonly AllocCheck[];
  readonly healthySinceMs: number | null;
  readonly replaces: string | null;
  readonly reschedules: number;
  readonly nodeAddress: string | null;
}

export interface AllocLogs {
  readonly alloc: string;
  readonly stream: 'stdout' | 'stderr';
  /** base64 */
  readonly data: string;
  readonly offset: number;
  readonly nextOffset: number;
  readonly size: number;
}

/** The parts of a job spec the detail page shows (src/core/scheduler/job.ts JobSpec, as JSON). */
export interface JobSpecView {
  readonly job?: string;
  readonly type?: string;
  readonly count?: number;
  readonly driver?: string;
  readonly config?: Readonly<Record<string, unknown>>;
  readonly env?: Readonly<Record<string, string>>;
  readonly resources?: { readonly cpuMillis?: number; readonly memoryMB?: number; readonly ports?: readonly { readonly label: string; readonly static?: number }[] };
  readonly constraints?: readonly { readonly attribute: string; readonly operator: string; readonly value?: string }[];
  readonly spread?: readonly { readonly attribute: string; readonly weight: number }[];
  readonly restart?: { readonly attempts: number; readonly intervalMs: number; readonly delayMs: number; readonly backoff: number; readonly maxDelayMs: number };
  readonly update?: { readonly maxParallel: number; readonly healthyDeadlineMs: number; readonly minHealthyMs: number; readonly autoRevert: boolean };
  readonly service?: { readonly name: string; readonly port: string; readonly tags: readonly string[]; readonly checks: readonly { readonly type: string; readonly name: string }[] };
  readonly stopTimeoutMs?: number;
}

export interface JobStatusView {
  readonly name: string;
  readonly type: string;
  readonly status: 'running' | 'stopped';
  readonly version: number;
  readonly submittedAtMs: number;
  readonly updatedAtMs: number;
  readonly spec: JobSpecView;
  readonly deployment: Deployment | null;
  readonly instances: InstanceCounts;
  readonly blocked: { readonly unplaced: number; readonly summary: string } | null;
  readonly paused: string | null;
  readonly allocations: readonly AllocSummary[];
}

/** The first 8 characters, as the CLI's tables show IDs. */
export function shortId(id: string): string {
  return id.slice(0, 8);
}

export function isoTime(atMs: number): string {
  return new Date(atMs).toISOString();
}

/** 1500 -> '1.5 s', 300000 -> '5 min'. */
export function duration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${trim(ms / 1000)} s`;
  if (ms < 3_600_000) return `${trim(ms / 60_000)} min`;
  return `${trim(ms / 3_600_000)} h`;
}

function trim(n: number): string {
  return String(Math.round(n * 10) / 10);
}

export function allocHref(id: string): string {
  return `#/allocs/${encodeURIComponent(id)}`;
}

export function jobHref(name: string): string {
  return `#/jobs/${encodeURIComponent(name)}`;
}
