// Jobs in the replicated state (issue 6): what the operator asked the cluster to run, by name,
// with a version that moves only when the spec really changes, and the last few earlier specs
// kept for `job history` and for a rolling update's auto-revert (UpdatePolicy.autoRevert).
//
//   job.register   {spec}          new job: version 1, running. Same spec as now on a running
//                                  job: nothing changes (changed: false). Another spec, or any
//                                  spec on a stopped job: version + 1, running, the old version
//                                  goes to the history.
//   job.deregister {job, purge?}   stops the job (its spec and history stay, so `job status`
//                                  and a later run still know it); purge forgets it entirely.
//
// Specs arrive already admitted (the API runs checkJobSpec before proposing; the log's schema
// check runs again on decode); this module only keeps their bookkeeping. Plain data and a Map,
// no clocks: the time is the state machine's (the commands' atMs), so every replica agrees.

import { assert } from '../result.ts';
import type { JobSpec } from '../scheduler/job.ts';
import { sha256Hex } from '../sha256.ts';

/** Jobs the cluster holds at once (running or stopped); a register beyond it is refused. */
export const MAX_JOBS = 10_000;
/** Earlier versions kept per job, besides the current one. */
export const MAX_JOB_HISTORY = 10;

export interface JobRegister {
  readonly type: 'job.register';
  readonly atMs: number;
  readonly spec: JobSpec;
}

export interface JobDeregister {
  readonly type: 'job.deregister';
  readonly atMs: number;
  /** The job's name (JobSpec.job). */
  readonly job: string;
  /** Forget the job and its history instead of only stopping it. */
  readonly purge?: boolean;
}

export type JobStatus = 'running' | 'stopped';

/** One version of a job's spec and when it was registered. */
export interface JobVersion {
  readonly version: number;
  readonly spec: JobSpec;
  readonly submittedAtMs: number;
}

export interface JobRecord {
  /** The current spec; its `job` is the record's name. */
  readonly spec: JobSpec;
  /** 1 for the first register, +1 per register that changed the spec or restarted the job. */
  readonly version: number;
  readonly status: JobStatus;
  /** When the current version was registered. */
  readonly submittedAtMs: number;
  /** When the status or version last changed (a stop moves it, a no-op register does not). */
  readonly updatedAtMs: number;
  /** Earlier versions, oldest first, at most MAX_JOB_HISTORY, versions strictly increasing. */
  readonly history: readonly JobVersion[];
}

/** What a command did, for the state machine's event (never the spec itself). */
export type JobOutcome =
  | { readonly kind: 'registered'; readonly record: JobRecord; readonly changed: boolean; readonly restarted: boolean; readonly specSha256: string }
  | { readonly kind: 'deregistered'; readonly record: JobRecord; readonly changed: boolean }
  | { readonly kind: 'purged'; readonly record: JobRecord }
  | { readonly kind: 'not-found'; readonly job: string }
  | { readonly kind: 'full'; readonly reason: string };

const encoder = new TextEncoder();

/**
 * JSON with object keys sorted at every level and undefined properties left out, so that two
 * equal specs give the same text whatever order their keys were built in (a YAML file, an API
 * body, a decoded log entry). Arrays keep their order: it means something there.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    const text = JSON.stringify(value);
    assert(text !== undefined, `canonicalJson: ${typeof value} has no JSON form`);
    return text;
  }
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const record = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const k of Object.keys(record).sort()) {
    const v = record[k];
    if (v === undefined) continue;
    parts.push(`${JSON.stringify(k)}:${canonicalJson(v)}`);
  }
  return `{${parts.join(',')}}`;
}

/** Hex sha256 of a spec's canonical JSON: names a version in events and listings. */
export function jobSpecSha256(spec: JobSpec): string {
  return sha256Hex(encoder.encode(canonicalJson(spec)));
}

/** Every job by name. Mutated only through register/deregister, in apply order. */
export class JobTable {
  readonly #maxJobs: number;
  #jobs = new Map<string, JobRecord>();

  constructor(maxJobs: number = MAX_JOBS) {
    assert(Number.isSafeInteger(maxJobs) && maxJobs > 0, 'maxJobs is a positive integer');
    this.#maxJobs = maxJobs;
  }

  get size(): number {
    return this.#jobs.size;
  }

  get(name: string): JobRecord | undefined {
    return this.#jobs.get(name);
  }

  /** Every job, by name (a stable order for listings and snapshots). */
  all(): JobRecord[] {
    return [...this.#jobs.values()].sort((a, b) => (a.spec.job < b.spec.job ? -1 : a.spec.job > b.spec.job ? 1 : 0));
  }

  /** The job's kept versions, oldest first, the current one last; undefined if unknown. */
  history(name: string): JobVersion[] | undefined {
    const r = this.#jobs.get(name);
    if (r === undefined) return undefined;
    return [...r.history, { version: r.version, spec: r.spec, submittedAtMs: r.submittedAtMs }];
  }

  register(spec: JobSpec, nowMs: number): JobOutcome {
    const name = spec.job;
    const before = this.#jobs.get(name);
    const specSha256 = jobSpecSha256(spec);
    if (before === undefined) {
      if (this.#jobs.size >= this.#maxJobs) return { kind: 'full', reason: `the cluster already holds ${this.#maxJobs} jobs; purge stopped ones first` };
      const record: JobRecord = { spec, version: 1, status: 'running', submittedAtMs: nowMs, updatedAtMs: nowMs, history: [] };
      this.#jobs.set(name, record);
      return { kind: 'registered', record, changed: true, restarted: false, specSha256 };
    }
    const sameSpec = jobSpecSha256(before.spec) === specSha256;
    if (sameSpec && before.status === 'running') return { kind: 'registered', record: before, changed: false, restarted: false, specSha256 };
    // A stopped job started again gets a new version even with the same spec: the reconciler
    // and `job history` see a new deployment, not the old one resumed.
    const earlier: JobVersion = { version: before.version, spec: before.spec, submittedAtMs: before.submittedAtMs };
    const history = [...before.history, earlier].slice(-MAX_JOB_HISTORY);
    const record: JobRecord = { spec, version: before.version + 1, status: 'running', submittedAtMs: nowMs, updatedAtMs: nowMs, history };
    this.#jobs.set(name, record);
    return { kind: 'registered', record, changed: true, restarted: before.status === 'stopped', specSha256 };
  }

  deregister(name: string, purge: boolean, nowMs: number): JobOutcome {
    const before = this.#jobs.get(name);
    if (before === undefined) return { kind: 'not-found', job: name };
    if (purge) {
      this.#jobs.delete(name);
      return { kind: 'purged', record: before };
    }
    if (before.status === 'stopped') return { kind: 'deregistered', record: before, changed: false };
    const record: JobRecord = { ...before, status: 'stopped', updatedAtMs: nowMs };
    this.#jobs.set(name, record);
    return { kind: 'deregistered', record, changed: true };
  }

  snapshot(): JobRecord[] {
    return this.all();
  }

  restore(records: readonly JobRecord[]): void {
    this.#jobs = new Map(records.map((r) => [r.spec.job, r]));
  }
}
