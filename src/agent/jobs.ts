// The operator's view of workloads (issue 6, items 1 and 6): run, plan, stop and inspect jobs,
// look at allocations, read the service catalog. The agent delegates its job, allocation and
// service API calls here; this class reads the replicated state it is handed and proposes
// commands through the function it is handed, so it holds no state of its own.
//
// `plan` is Nomad's `job plan`: the reconciler (src/core/scheduler/reconciler.ts) runs on the
// current state with the submitted spec swapped in, and the answer says what the next
// scheduling round would do about it: place (and where), stop, replace, or fail to place.
// Nothing is proposed.
//
// Logs and restarts of an allocation happen on the node that runs it: this class resolves the
// allocation and hands it to AllocOps, which reaches that node (the agent's WorkloadHost).
import type { ClusterFsm } from '../core/fsm/fsm.ts';
import { isTerminal, isTerminalClient, type Allocation, type CheckStatus } from '../core/fsm/allocs.ts';
import { canonicalJson, jobSpecSha256, MAX_JOB_HISTORY, type JobRecord } from '../core/fsm/jobs.ts';
import type { ApplyResult, Command } from '../core/fsm/types.ts';
import type { JobSpec } from '../core/scheduler/job.ts';
import { reconcile, taskSha256, type ReconcileNode, type ReconcilePlan, type ReconcileSettings } from '../core/scheduler/reconciler.ts';
import type { Member } from '../core/swim/types.ts';
import type { NodeMeta } from '../wire/swim.ts';
import { checkJobSpec } from '../wire/job.ts';
import { ApiError } from '../api/errors.ts';
import type { AllocSummary, InstanceCounts, JobHistoryView, JobListEntry, JobPlanKind, JobPlanView, JobRunResult, JobStatusView, JobStopResult, SpecChange } from '../api/jobs.ts';
import type { AllocLogsView, AllocOps, AllocRestartResult, AllocView, LogReadOptions } from '../api/allocs.ts';
import type { ServiceInstance, ServiceSummary, ServiceView } from '../api/services.ts';
import { nodeInfoOf } from './node-info.ts';

/** Shortest allocation ID prefix accepted (as Nomad). */
export const MIN_ALLOC_PREFIX_CHARS = 4;
/** Matches named in the error for an ambiguous prefix. */
const AMBIGUOUS_SHOWN = 5;

export interface JobsServiceInit {
  /** The replicated state as applied here: after a linearizable read barrier unless stale. */
  readonly state: (stale: boolean) => Promise<ClusterFsm>;
  /** Proposes a command through consensus (forwarded to the leader) and resolves with its outcome. */
  readonly propose: (command: Command) => Promise<ApplyResult>;
  /** The nodes as the scheduler sees them; downSinceMs on the wallMs time base. */
  readonly nodes: () => ReconcileNode[];
  readonly leader: () => string | undefined;
  readonly settings: () => ReconcileSettings;
  /**
   * Wall-clock ms: the state machine's time base (commands' atMs, so allocation and deployment
   * times), used as the reconciler's now in dry runs.
   */
  readonly wallMs: () => number;
  /** Logs and restarts on the allocation's node, or undefined while workloads are not running here. */
  readonly allocOps: () => AllocOps | undefined;
}

export class JobsService {
  readonly #o: JobsServiceInit;

  constructor(init: JobsServiceInit) {
    this.#o = init;
  }

  // --- Jobs ----------------------------------------------------------------------------------

  /** Registers the spec (a new version when it differs from the running one). */
  async run(value: unknown): Promise<JobRunResult> {
    const spec = admitted(value);
    const result = await this.#o.propose({ type: 'job.register', atMs: Math.round(this.#o.wallMs()), spec });
    if (!result.ok) throw refusal(result, spec.job);
    // The command applied on the leader; read its outcome here once this node has caught up.
    const fsm = await this.#o.state(false);
    const event = fsm.events(result.event, 1)[0];
    if (event !== undefined && event.seq === result.event && event.type === 'job.register' && event.subject === spec.job) {
      return { job: spec.job, version: Number(event.detail['version']), changed: event.detail['changed'] === 'true' };
    }
    // The event was compacted away already (a very busy cluster): the record still says the version.
    const record = fsm.job(spec.job);
    return { job: spec.job, version: record?.version ?? 0, changed: true };
  }

  /** What running the spec would do now; changes nothing. */
  async plan(value: unknown, stale: boolean): Promise<JobPlanView> {
    const spec = admitted(value);
    const fsm = await this.#o.state(stale);
    const nowMs = Math.round(this.#o.wallMs());
    const current = fsm.job(spec.job);
    const kind = planKind(current, spec);
    const record: JobRecord =
      current !== undefined && kind === 'unchanged'
        ? current
        : {
            spec,
            version: current === undefined ? 1 : current.version + 1,
            status: 'running',
            submittedAtMs: nowMs,
            updatedAtMs: nowMs,
            history: current === undefined ? [] : [...current.history, { version: current.version, spec: current.spec, submittedAtMs: current.submittedAtMs }].slice(-MAX_JOB_HISTORY),
          };
    // Every job takes part, as in the scheduler's next round: others' pending instances compete for the same room.
    const plan = this.#dryRun(fsm, [...fsm.jobs().filter((j) => j.spec.job !== spec.job), record], nowMs);
    const sha = taskSha256(spec);
    const outdated =
      kind === 'rolling-update'
        ? fsm
            .allocs()
            .filter((a) => a.job === spec.job && a.desired === 'run' && !isTerminalClient(a.client) && a.taskSha256 !== sha)
            .sort((a, b) => a.index - b.index)
            .map((a) => ({ alloc: a.id, index: a.index, node: a.node, version: a.jobVersion }))
        : [];
    const blocked = plan.blocked.find((b) => b.job === spec.job);
    return {
      job: spec.job,
      kind,
      currentVersion: current?.version ?? null,
      nextVersion: record.version,
      changes: current === undefined ? [] : specChanges(current.spec, spec),
      place: plan.place
        .filter((p) => p.job === spec.job)
        .map((p) => ({ index: p.index, node: p.node, reason: p.reason, replaces: p.replaces ?? null, ports: { ...p.ports } }))
        .sort((a, b) => a.index - b.index),
      stop: plan.stop.flatMap((s) => {
        const a = fsm.alloc(s.id);
        return a === undefined || a.job !== spec.job ? [] : [{ alloc: a.id, index: a.index, node: a.node, reason: s.reason }];
      }),
      update: kind === 'rolling-update' ? { maxParallel: spec.update.maxParallel, outdated } : null,
      blocked: blocked === undefined ? null : { unplaced: blocked.unplaced, summary: blocked.summary },
      paused: plan.paused ?? null,
    };
  }

  async stop(name: string, purge: boolean): Promise<JobStopResult> {
    const result = await this.#o.propose({ type: 'job.deregister', atMs: Math.round(this.#o.wallMs()), job: name, ...(purge ? { purge: true } : {}) });
    if (!result.ok) throw refusal(result, name);
    const fsm = await this.#o.state(false);
    const event = fsm.events(result.event, 1)[0];
    const detail = event !== undefined && event.seq === result.event && event.subject === name ? event.detail : undefined;
    return {
      job: name,
      version: Number(detail?.['version'] ?? fsm.job(name)?.version ?? 0),
      changed: purge || detail?.['changed'] !== 'false',
      purged: purge,
    };
  }

  async list(stale: boolean): Promise<JobListEntry[]> {
    const fsm = await this.#o.state(stale);
    const byJob = allocsByJob(fsm.allocs());
    return fsm.jobs().map((r) => ({
      name: r.spec.job,
      type: r.spec.type,
      status: r.status,
      version: r.version,
      instances: countInstances(r, byJob.get(r.spec.job) ?? []),
      deployment: fsm.deployment(r.spec.job) ?? null,
      submittedAtMs: r.submittedAtMs,
      updatedAtMs: r.updatedAtMs,
    }));
  }

  async status(name: string, stale: boolean): Promise<JobStatusView> {
    const fsm = await this.#o.state(stale);
    const record = jobOf(fsm, name);
    const allocs = fsm.allocs().filter((a) => a.job === name);
    let blocked: JobStatusView['blocked'] = null;
    let paused: string | null = null;
    if (record.status === 'running') {
      // Only this job: is anything of it unplaceable right now, and why.
      const plan = this.#dryRun(fsm, [record], Math.round(this.#o.wallMs()));
      const b = plan.blocked.find((x) => x.job === name);
      if (b !== undefined) blocked = { unplaced: b.unplaced, summary: b.summary };
      paused = plan.paused ?? null;
    }
    return {
      name,
      type: record.spec.type,
      status: record.status,
      version: record.version,
      submittedAtMs: record.submittedAtMs,
      updatedAtMs: record.updatedAtMs,
      spec: record.spec,
      deployment: fsm.deployment(name) ?? null,
      instances: countInstances(record, allocs),
      blocked,
      paused,
      allocations: allocs.sort((a, b) => a.index - b.index || b.createdAtMs - a.createdAtMs || (a.id < b.id ? -1 : 1)).map(allocSummary),
    };
  }

  async history(name: string, stale: boolean): Promise<JobHistoryView> {
    const fsm = await this.#o.state(stale);
    const record = jobOf(fsm, name);
    const versions = fsm.jobHistory(name) ?? [];
    return {
      job: name,
      status: record.status,
      versions: versions
        .map((v, i) => {
          const before = i === 0 ? undefined : versions[i - 1];
          return {
            version: v.version,
            current: v.version === record.version,
            submittedAtMs: v.submittedAtMs,
            taskSha256: taskSha256(v.spec),
            specSha256: jobSpecSha256(v.spec),
            changed: before === undefined ? [] : specChanges(before.spec, v.spec).map((c) => c.field),
            spec: v.spec,
          };
        })
        .reverse(),
    };
  }

  // --- Allocations ---------------------------------------------------------------------------

  async allocs(filter: { job?: string; node?: string }, stale: boolean): Promise<AllocSummary[]> {
    const fsm = await this.#o.state(stale);
    return fsm
      .allocs()
      .filter((a) => (filter.job === undefined || a.job === filter.job) && (filter.node === undefined || a.node === filter.node))
      .map(allocSummary);
  }

  async alloc(idOrPrefix: string, stale: boolean): Promise<AllocView> {
    const fsm = await this.#o.state(stale);
    const a = resolveAlloc(fsm, idOrPrefix);
    return {
      ...allocSummary(a),
      taskSha256: a.taskSha256,
      cpuMillis: a.cpuMillis,
      memoryMB: a.memoryMB,
      ports: { ...a.ports },
      checks: a.checks.map((c) => ({ ...c })),
      healthySinceMs: a.healthySinceMs ?? null,
      replaces: a.replaces ?? null,
      reschedules: a.reschedules,
      nodeAddress: hostOf(fsm.node(a.node)?.rpcAddr),
    };
  }

  async logs(idOrPrefix: string, options: LogReadOptions): Promise<AllocLogsView> {
    const fsm = await this.#o.state(false);
    const a = resolveAlloc(fsm, idOrPrefix);
    const read = await this.#ops().logs(a, options);
    return { alloc: a.id, stream: options.stream, data: Buffer.from(read.data).toString('base64'), offset: read.offset, nextOffset: read.nextOffset, size: read.size };
  }

  async restart(idOrPrefix: string): Promise<AllocRestartResult> {
    const fsm = await this.#o.state(false);
    const a = resolveAlloc(fsm, idOrPrefix);
    if (a.desired !== 'run' || a.client !== 'running') {
      throw new ApiError('conflict', `allocation ${a.id} is not running (desired ${a.desired}, client ${a.client}${a.clientDetail === '' ? '' : `: ${a.clientDetail}`}); only a running allocation restarts`);
    }
    try {
      await this.#ops().restart(a);
    } catch (e) {
      throw e instanceof ApiError ? e : new ApiError('conflict', e instanceof Error ? e.message : String(e));
    }
    return { alloc: a.id, node: a.node };
  }

  // --- Services ------------------------------------------------------------------------------

  async services(stale: boolean): Promise<ServiceSummary[]> {
    const fsm = await this.#o.state(stale);
    const catalog = buildCatalog(fsm);
    return [...catalog.values()].map((s) => ({
      name: s.name,
      tags: [...s.tags].sort(),
      jobs: [...s.jobs].sort(),
      instances: s.instances.length,
      passing: s.instances.filter((i) => i.status === 'passing').length,
      warning: s.instances.filter((i) => i.status === 'warning').length,
      critical: s.instances.filter((i) => i.status === 'critical').length,
    }));
  }

  async service(name: string, options: { passing: boolean }, stale: boolean): Promise<ServiceView> {
    const fsm = await this.#o.state(stale);
    const s = buildCatalog(fsm).get(name);
    if (s === undefined) throw new ApiError('not-found', `no service ${JSON.stringify(name)}: no job declares it and no instance runs`);
    return { name, tags: [...s.tags].sort(), instances: options.passing ? s.instances.filter((i) => i.status === 'passing') : s.instances };
  }

  // --- Helpers -------------------------------------------------------------------------------

  #dryRun(fsm: ClusterFsm, jobs: readonly JobRecord[], nowMs: number): ReconcilePlan {
    let ids = 0;
    return reconcile({
      nowMs,
      jobs,
      allocs: fsm.allocs(),
      deployments: jobs.flatMap((j) => fsm.deployment(j.spec.job) ?? []),
      nodes: this.#o.nodes(),
      leader: this.#o.leader(),
      settings: this.#o.settings(),
      newId: () => `planned-${++ids}`,
    });
  }

  #ops(): AllocOps {
    const ops = this.#o.allocOps();
    if (ops === undefined) throw new ApiError('unavailable', 'this agent runs no workloads yet (it is starting or stopping)');
    return ops;
  }
}

// --- Pure helpers (exported for tests and other views) ---------------------------------------

/** The spec from an API body, or a 400 naming every bad field. */
export function admitted(value: unknown): JobSpec {
  const checked = checkJobSpec(value);
  if (checked.ok) return checked.value;
  const lines = checked.error.map((p) => `  ${p.field === '' ? '(the spec)' : p.field}: ${p.message}`);
  throw new ApiError('bad-request', `invalid job spec:\n${lines.join('\n')}`);
}

export function planKind(current: JobRecord | undefined, spec: JobSpec): JobPlanKind {
  if (current === undefined) return 'create';
  if (current.status === 'stopped') return 'start';
  if (jobSpecSha256(current.spec) === jobSpecSha256(spec)) return 'unchanged';
  return taskSha256(current.spec) === taskSha256(spec) ? 'in-place' : 'rolling-update';
}

/** Top-level keys whose values differ, in the spec's key order. */
export function specChanges(before: JobSpec, after: JobSpec): SpecChange[] {
  const b = before as unknown as Record<string, unknown>;
  const a = after as unknown as Record<string, unknown>;
  const keys = [...new Set([...Object.keys(b), ...Object.keys(a)])];
  const changes: SpecChange[] = [];
  for (const field of keys) {
    const was = b[field];
    const now = a[field];
    if (was === undefined && now === undefined) continue;
    if (was === undefined) changes.push({ field, change: 'added', after: now });
    else if (now === undefined) changes.push({ field, change: 'removed', before: was });
    else if (canonicalJson(was) !== canonicalJson(now)) changes.push({ field, change: 'modified', before: was, after: now });
  }
  return changes;
}

/**
 * An allocation by its ID or a unique prefix of at least MIN_ALLOC_PREFIX_CHARS hex characters;
 * 404 for none, 400 (listing some) for several.
 */
export function resolveAlloc(fsm: ClusterFsm, idOrPrefix: string): Allocation {
  const exact = fsm.alloc(idOrPrefix);
  if (exact !== undefined) return exact;
  const prefix = idOrPrefix.toLowerCase();
  if (!/^[0-9a-f]+$/.test(prefix)) throw new ApiError('not-found', `no allocation ${JSON.stringify(idOrPrefix)}`);
  if (prefix.length < MIN_ALLOC_PREFIX_CHARS) throw new ApiError('bad-request', `an allocation ID prefix needs at least ${MIN_ALLOC_PREFIX_CHARS} characters, got ${JSON.stringify(idOrPrefix)}`);
  const matches = fsm.allocs().filter((a) => a.id.startsWith(prefix));
  if (matches.length === 0) throw new ApiError('not-found', `no allocation ${JSON.stringify(idOrPrefix)}`);
  if (matches.length > 1) {
    const shown = matches.slice(0, AMBIGUOUS_SHOWN).map((a) => `${a.id} (${a.job}[${a.index}] on ${a.node})`);
    const more = matches.length > AMBIGUOUS_SHOWN ? ` and ${matches.length - AMBIGUOUS_SHOWN} more` : '';
    throw new ApiError('bad-request', `allocation prefix ${JSON.stringify(idOrPrefix)} is ambiguous: it matches ${shown.join(', ')}${more}; give more characters`);
  }
  return matches[0]!;
}

/** "10.0.0.5:7701" -> "10.0.0.5", "[::1]:7701" -> "::1"; undefined or empty -> null. */
export function hostOf(addr: string | undefined): string | null {
  if (addr === undefined || addr === '') return null;
  if (addr.startsWith('[')) {
    const end = addr.indexOf(']');
    return end > 1 ? addr.slice(1, end) : null;
  }
  const colon = addr.lastIndexOf(':');
  return colon > 0 ? addr.slice(0, colon) : addr;
}

export function allocSummary(a: Allocation): AllocSummary {
  return {
    id: a.id,
    job: a.job,
    jobVersion: a.jobVersion,
    index: a.index,
    node: a.node,
    desired: a.desired,
    desiredReason: a.desiredReason,
    client: a.client,
    clientDetail: a.clientDetail,
    health: a.health,
    restarts: a.restarts,
    createdAtMs: a.createdAtMs,
    modifiedAtMs: a.modifiedAtMs,
  };
}

export function countInstances(record: JobRecord, allocs: readonly Allocation[]): InstanceCounts {
  const sha = taskSha256(record.spec);
  const c = { desired: 0, placed: 0, current: 0, pending: 0, running: 0, healthy: 0, unhealthy: 0, stopping: 0, complete: 0, failed: 0, lost: 0 };
  for (const a of allocs) {
    if (a.client === 'complete') c.complete += 1;
    else if (a.client === 'failed') c.failed += 1;
    else if (a.client === 'lost') c.lost += 1;
    if (a.desired === 'stop') {
      if (!isTerminal(a)) c.stopping += 1;
      continue;
    }
    if (isTerminalClient(a.client)) continue;
    c.placed += 1;
    if (a.taskSha256 === sha) c.current += 1;
    if (a.client === 'pending') c.pending += 1;
    if (a.client === 'running') {
      c.running += 1;
      if (a.health === 'healthy') c.healthy += 1;
      if (a.health === 'unhealthy') c.unhealthy += 1;
    }
  }
  const { spec } = record;
  c.desired = record.status === 'stopped' ? 0 : spec.type === 'system' ? c.placed : spec.type === 'leader' ? 1 : spec.count;
  return c;
}

function allocsByJob(allocs: readonly Allocation[]): Map<string, Allocation[]> {
  const byJob = new Map<string, Allocation[]>();
  for (const a of allocs) {
    const list = byJob.get(a.job);
    if (list === undefined) byJob.set(a.job, [a]);
    else list.push(a);
  }
  return byJob;
}

function jobOf(fsm: ClusterFsm, name: string): JobRecord {
  const record = fsm.job(name);
  if (record === undefined) throw new ApiError('not-found', `no job ${JSON.stringify(name)}`);
  return record;
}

function refusal(result: Exclude<ApplyResult, { ok: true }>, job: string): ApiError {
  switch (result.code) {
    case 'not-found':
      return new ApiError('not-found', `no job ${JSON.stringify(job)}`);
    case 'invalid':
      return new ApiError('bad-request', result.reason);
    default:
      return new ApiError('conflict', `refused: ${result.code}`);
  }
}

// --- Services --------------------------------------------------------------------------------

interface CatalogEntry {
  readonly name: string;
  readonly tags: Set<string>;
  readonly jobs: Set<string>;
  readonly instances: ServiceInstance[];
}

const STATUS_RANK: Readonly<Record<CheckStatus, number>> = { passing: 0, warning: 1, critical: 2 };

/** An instance's status: its worst check; without checks, its allocation's health decides. */
export function instanceStatus(a: Allocation): CheckStatus {
  if (a.checks.length === 0) return a.health === 'healthy' ? 'passing' : 'critical';
  let worst: CheckStatus = 'passing';
  for (const c of a.checks) if (STATUS_RANK[c.status] > STATUS_RANK[worst]) worst = c.status;
  return worst;
}


/**
 * Services by name: declared by running jobs' current specs (so a service with nothing running
 * is listed with no instances), with every wanted, running allocation whose version's spec has
 * a service as an instance of it.
 */
export function buildCatalog(fsm: ClusterFsm): Map<string, CatalogEntry> {
  const catalog = new Map<string, CatalogEntry>();
  const entry = (name: string): CatalogEntry => {
    let e = catalog.get(name);
    if (e === undefined) catalog.set(name, (e = { name, tags: new Set(), jobs: new Set(), instances: [] }));
    return e;
  };
  for (const r of fsm.jobs()) {
    if (r.status !== 'running' || r.spec.service === undefined) continue;
    const e = entry(r.spec.service.name);
    e.jobs.add(r.spec.job);
    for (const t of r.spec.service.tags) e.tags.add(t);
  }
  for (const a of fsm.allocs()) {
    if (a.desired !== 'run' || a.client !== 'running') continue;
    const service = fsm.allocSpec(a)?.service;
    if (service === undefined) continue;
    const e = entry(service.name);
    e.jobs.add(a.job);
    for (const t of service.tags) e.tags.add(t);
    e.instances.push({
      alloc: a.id,
      job: a.job,
      node: a.node,
      address: hostOf(fsm.node(a.node)?.rpcAddr),
      port: a.ports[service.port] ?? null,
      status: instanceStatus(a),
      checks: a.checks.map((c) => ({ ...c })),
      tags: [...service.tags],
    });
  }
  return new Map([...catalog.entries()].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)));
}

// --- Node views for dry runs -----------------------------------------------------------------

/**
 * The scheduler's view of the nodes from gossip (for `job plan` and `job status` when no
 * scheduler runner offers its own): every member with its capacity and liveness, and every node
 * the registry or an allocation names that gossip does not know, as dead from now (so a dry run
 * never reports its instances lost before the grace period). Down times are moved from the
 * monotonic clock gossip uses to the wall clock the state machine uses.
 */
export function reconcileNodesFromMembers(members: readonly Member<NodeMeta>[], fsm: ClusterFsm | undefined, clock: { nowMs(): number; wallMs(): number }): ReconcileNode[] {
  const nowMono = clock.nowMs();
  const nowWall = clock.wallMs();
  const seen = new Set<string>();
  const nodes: ReconcileNode[] = [];
  for (const m of members) {
    seen.add(m.id);
    const down = m.status === 'dead' || m.status === 'left';
    nodes.push({ ...nodeInfoOf(m.id, m.meta, m.status === 'alive'), liveness: m.status, ...(down ? { downSinceMs: Math.round(nowWall - (nowMono - m.sinceMs)) } : {}) });
  }
  const named = new Set<string>([...(fsm?.nodes() ?? []).map((n) => n.id as string), ...(fsm?.allocs() ?? []).map((a) => a.node as string)]);
  for (const id of named) {
    if (seen.has(id)) continue;
    nodes.push({ id, version: '', tags: {}, cpuMillis: 0, memoryMB: 0, diskFreeMB: 0, cpuCores: 0, eligible: false, liveness: 'dead', downSinceMs: Math.round(nowWall) });
  }
  return nodes;
}
