// Job routes of the HTTP API (issue 6, item 1; `sappers job ...`):
//   POST   /v1/jobs               {spec}   -> {job, version, changed}        register (run) a job
//   POST   /v1/jobs/plan          {spec}   -> what a run would do now (a dry run, changes nothing)
//   GET    /v1/jobs                         -> every job with its instance counts
//   GET    /v1/jobs/<name>                  -> the job, its deployment, allocation counts, instances
//   DELETE /v1/jobs/<name>[?purge]          -> stop the job (purge: forget it and its history)
//   GET    /v1/jobs/<name>/history          -> kept versions, newest first, what changed in each
// Reads take ?stale like the KV routes. The spec in a body is untrusted: the agent checks it
// with checkJobSpec and answers 400 naming each bad field. Unknown job: 404. Writes sent to a
// follower reach the leader through consensus forwarding.
// Validation and translation only: the agent's JobsService (src/agent/jobs.ts) does the work.

import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { JobSpec } from '../core/scheduler/job.ts';
import { JOB_NAME_PATTERN } from '../wire/job.ts';
import { ApiError } from './errors.ts';

/** A spec as JSON (src/core/scheduler/job.ts JobSpec); checked by the agent, not by the schema. */
const SpecSchema = Type.Unsafe<JobSpec>(Type.Unknown());
const NullableString = Type.Union([Type.String(), Type.Null()]);
const NullableInt = Type.Union([Type.Integer(), Type.Null()]);

export const JobBodySchema = Type.Object({ spec: Type.Unknown() }, { additionalProperties: false });
export type JobBody = Static<typeof JobBodySchema>;

export const JobRunResultSchema = Type.Object({
  job: Type.String(),
  version: Type.Integer(),
  /** False when the same spec was already running: nothing changed. */
  changed: Type.Boolean(),
});
export type JobRunResult = Static<typeof JobRunResultSchema>;

export const JobStopResultSchema = Type.Object({
  job: Type.String(),
  version: Type.Integer(),
  /** False when the job was already stopped. */
  changed: Type.Boolean(),
  purged: Type.Boolean(),
});
export type JobStopResult = Static<typeof JobStopResultSchema>;

const DeploymentSchema = Type.Object({
  job: Type.String(),
  version: Type.Integer(),
  status: Type.Union([Type.Literal('running'), Type.Literal('successful'), Type.Literal('failed')]),
  reason: Type.String(),
  startedAtMs: Type.Integer(),
  updatedAtMs: Type.Integer(),
});

const ClientStatusSchema = Type.Union([Type.Literal('pending'), Type.Literal('running'), Type.Literal('complete'), Type.Literal('failed'), Type.Literal('lost')]);
const HealthSchema = Type.Union([Type.Literal('unknown'), Type.Literal('healthy'), Type.Literal('unhealthy')]);

/** One allocation in a listing (GET /v1/allocs, job status). */
export const AllocSummarySchema = Type.Object({
  id: Type.String(),
  job: Type.String(),
  jobVersion: Type.Integer(),
  index: Type.Integer(),
  node: Type.String(),
  desired: Type.Union([Type.Literal('run'), Type.Literal('stop')]),
  desiredReason: Type.String(),
  client: ClientStatusSchema,
  clientDetail: Type.String(),
  health: HealthSchema,
  restarts: Type.Integer(),
  createdAtMs: Type.Integer(),
  modifiedAtMs: Type.Integer(),
});
export type AllocSummary = Static<typeof AllocSummarySchema>;

/** Counts over a job's kept allocations. */
export const InstanceCountsSchema = Type.Object({
  /** Instances asked for: count (leader: 1; system: one per eligible node, so the placed ones). */
  desired: Type.Integer(),
  /** Wanted (desired run) and not finished. */
  placed: Type.Integer(),
  /** Placed and running the current version's task. */
  current: Type.Integer(),
  pending: Type.Integer(),
  running: Type.Integer(),
  healthy: Type.Integer(),
  unhealthy: Type.Integer(),
  /** Told to stop and not stopped yet. */
  stopping: Type.Integer(),
  complete: Type.Integer(),
  failed: Type.Integer(),
  lost: Type.Integer(),
});
export type InstanceCounts = Static<typeof InstanceCountsSchema>;

export const JobListEntrySchema = Type.Object({
  name: Type.String(),
  type: Type.String(),
  status: Type.Union([Type.Literal('running'), Type.Literal('stopped')]),
  version: Type.Integer(),
  instances: InstanceCountsSchema,
  deployment: Type.Union([DeploymentSchema, Type.Null()]),
  submittedAtMs: Type.Integer(),
  updatedAtMs: Type.Integer(),
});
export type JobListEntry = Static<typeof JobListEntrySchema>;

const BlockedSchema = Type.Object({ unplaced: Type.Integer(), summary: Type.String() });

export const JobStatusSchema = Type.Object({
  name: Type.String(),
  type: Type.String(),
  status: Type.Union([Type.Literal('running'), Type.Literal('stopped')]),
  version: Type.Integer(),
  submittedAtMs: Type.Integer(),
  updatedAtMs: Type.Integer(),
  spec: SpecSchema,
  deployment: Type.Union([DeploymentSchema, Type.Null()]),
  instances: InstanceCountsSchema,
  /** Instances the scheduler cannot place right now, and why (a dry run on the current state). */
  blocked: Type.Union([BlockedSchema, Type.Null()]),
  /** Set while cluster.minNodes holds placement back. */
  paused: NullableString,
  /** Kept allocations, by instance index then age (live ones and the last finished ones). */
  allocations: Type.Array(AllocSummarySchema),
});
export type JobStatusView = Static<typeof JobStatusSchema>;

export const JobPlanKindSchema = Type.Union([
  /** A new job. */
  Type.Literal('create'),
  /** A stopped job started again (a new version even with the same spec). */
  Type.Literal('start'),
  /** The same spec as now: nothing would change. */
  Type.Literal('unchanged'),
  /** The task is the same (count or update policy changed): running instances stay as they are. */
  Type.Literal('in-place'),
  /** The task changed: instances are replaced, maxParallel at a time, each after its replacement is healthy. */
  Type.Literal('rolling-update'),
]);
export type JobPlanKind = Static<typeof JobPlanKindSchema>;

export const SpecChangeSchema = Type.Object({
  /** A top-level key of the spec (`count`, `env`, `resources`, ...). */
  field: Type.String(),
  change: Type.Union([Type.Literal('added'), Type.Literal('removed'), Type.Literal('modified')]),
  before: Type.Optional(Type.Unknown()),
  after: Type.Optional(Type.Unknown()),
});
export type SpecChange = Static<typeof SpecChangeSchema>;

export const JobPlanSchema = Type.Object({
  job: Type.String(),
  kind: JobPlanKindSchema,
  /** The version running now, or null for a new job. */
  currentVersion: NullableInt,
  /** The version a run would register (the current one when unchanged). */
  nextVersion: Type.Integer(),
  changes: Type.Array(SpecChangeSchema),
  /** What the scheduler would place now (a rolling update's first batch, a scale-up, a new job). */
  place: Type.Array(
    Type.Object({
      index: Type.Integer(),
      node: Type.String(),
      reason: Type.String(),
      replaces: NullableString,
      ports: Type.Record(Type.String(), Type.Integer()),
    }),
  ),
  /** What it would stop now (a scale-down; the old side of an update stops later, once replacements are healthy). */
  stop: Type.Array(Type.Object({ alloc: Type.String(), index: Type.Integer(), node: Type.String(), reason: Type.String() })),
  /** For a rolling update: the instances running an older task, all to be replaced. */
  update: Type.Union([
    Type.Object({
      maxParallel: Type.Integer(),
      outdated: Type.Array(Type.Object({ alloc: Type.String(), index: Type.Integer(), node: Type.String(), version: Type.Integer() })),
    }),
    Type.Null(),
  ]),
  blocked: Type.Union([BlockedSchema, Type.Null()]),
  paused: NullableString,
});
export type JobPlanView = Static<typeof JobPlanSchema>;

export const JobHistorySchema = Type.Object({
  job: Type.String(),
  status: Type.Union([Type.Literal('running'), Type.Literal('stopped')]),
  /** Newest first. */
  versions: Type.Array(
    Type.Object({
      version: Type.Integer(),
      current: Type.Boolean(),
      submittedAtMs: Type.Integer(),
      /** Names what runs: equal hashes run the same task (count and update policy left out). */
      taskSha256: Type.String(),
      specSha256: Type.String(),
      /** Top-level spec keys that differ from the version before it (empty for the oldest kept). */
      changed: Type.Array(Type.String()),
      spec: SpecSchema,
    }),
  ),
});
export type JobHistoryView = Static<typeof JobHistorySchema>;

/** What the job routes need from the agent. Errors are ApiErrors (not-found, bad-request, ...). */
export interface JobsApi {
  jobRun(spec: unknown): Promise<JobRunResult>;
  jobPlan(spec: unknown, stale: boolean): Promise<JobPlanView>;
  jobList(stale: boolean): Promise<JobListEntry[]>;
  jobStatus(name: string, stale: boolean): Promise<JobStatusView>;
  jobStop(name: string, purge: boolean): Promise<JobStopResult>;
  jobHistory(name: string, stale: boolean): Promise<JobHistoryView>;
}

const jobName = new RegExp(JOB_NAME_PATTERN);

export function registerJobRoutes(app: FastifyInstance, api: JobsApi, errors: Record<string, unknown>): void {
  app.post('/v1/jobs', { schema: { body: JobBodySchema, response: { 200: JobRunResultSchema, ...errors } } }, (request) => api.jobRun((request.body as JobBody).spec));

  app.post('/v1/jobs/plan', { schema: { body: JobBodySchema, response: { 200: JobPlanSchema, ...errors } } }, (request) =>
    api.jobPlan((request.body as JobBody).spec, isSet(request, 'stale')),
  );

  app.get('/v1/jobs', { schema: { response: { 200: Type.Array(JobListEntrySchema), ...errors } } }, (request) => api.jobList(isSet(request, 'stale')));

  app.get('/v1/jobs/:name', { schema: { response: { 200: JobStatusSchema, ...errors } } }, (request) => api.jobStatus(nameOf(request), isSet(request, 'stale')));

  app.delete('/v1/jobs/:name', { schema: { response: { 200: JobStopResultSchema, ...errors } } }, (request) => api.jobStop(nameOf(request), isSet(request, 'purge')));

  app.get('/v1/jobs/:name/history', { schema: { response: { 200: JobHistorySchema, ...errors } } }, (request) => api.jobHistory(nameOf(request), isSet(request, 'stale')));
}

/** A name no job can have is simply not a job (404), like an unknown one. */
function nameOf(request: FastifyRequest): string {
  const name = (request.params as { name: string }).name;
  if (!jobName.test(name)) throw new ApiError('not-found', `no job ${JSON.stringify(name)}`);
  return name;
}

/** `?stale`, `?stale=1`, `?stale=true` are set; `?stale=false` and `?stale=0` are not. */
export function isSet(request: FastifyRequest, flag: string): boolean {
  const value = (request.query as Record<string, string | undefined>)[flag];
  return value !== undefined && value !== 'false' && value !== '0';
}
