// The cluster's replicated state machine: KV with revisions and compare-and-swap, TTL sessions
// that own ephemeral keys, the node registry, and the hash-chained event log. Deterministic:
// the same commands in the same order give the same state and the same event hashes on every
// node (the only time is the commands' atMs, made monotonic here).

import { assert, unreachable } from '../result.ts';
import { sha256Hex } from '../sha256.ts';
import { EventLog, type EventAnchor, type EventBody } from './events.ts';
import { KvStore } from './kv.ts';
import { JobTable, type JobOutcome, type JobRecord, type JobVersion } from './jobs.ts';
import { AllocTable, type AllocPlan, type AllocUpdate, type Allocation, type Deployment } from './allocs.ts';
import { MAX_GOSSIP_KEYS, changeKeyring, keyFingerprint, type KeyringChange, type SecurityInit, type SecurityState } from './security.ts';
import { appendChunk, assembleStaging, beginStaging, stagedBytes, type RestoreBegin, type RestoreStaging, type SnapshotDecoder } from './restore.ts';
import type { ApplyResult, ClusterEvent, Command, KvChange, KvEntry, NodeId, NodeRecord, Revision, Session } from './types.ts';
import { groupBy } from '../group-by.ts';
import type { JobSpec } from '../scheduler/job.ts';

export interface FsmOptions {
  /** Events kept in memory (and in snapshots); older ones leave only the anchor. */
  readonly maxEvents: number;
  /** KV changes kept for watches from a past revision. */
  readonly maxKvHistory: number;
}

export const FSM_DEFAULTS: FsmOptions = { maxEvents: 10_000, maxKvHistory: 10_000 };

/** Everything the state machine holds, as plain data (encoded by src/wire/fsm.ts). */
export interface FsmSnapshot {
  readonly appliedIndex: number;
  readonly nowMs: number;
  readonly kv: { readonly revision: Revision; readonly entries: readonly KvEntry[]; readonly history: readonly KvChange[] };
  readonly sessions: readonly Session[];
  readonly nodes: readonly NodeRecord[];
  readonly events: { readonly anchor: EventAnchor; readonly kept: readonly ClusterEvent[] };
  /** Absent until the originating node records it (and in clusters run with --insecure). */
  readonly security?: SecurityState | undefined;
  /** A restore being uploaded (src/core/fsm/restore.ts); absent when none is. */
  readonly restoreStaging?: RestoreStaging | undefined;
  /** Jobs by name (src/core/fsm/jobs.ts); absent in snapshots taken before jobs existed. */
  readonly jobs?: readonly JobRecord[] | undefined;
  /** Allocations and deployments (src/core/fsm/allocs.ts); absent before any plan applied. */
  readonly allocs?: { readonly planSeq: number; readonly allocs: readonly Allocation[]; readonly deployments: readonly Deployment[] } | undefined;
}

/** A change a watcher or the event stream should hear about, in apply order. */
export type FsmNotification =
  | { readonly kind: 'kv'; readonly change: KvChange }
  | { readonly kind: 'event'; readonly event: ClusterEvent }
  /** A snapshot restore replaced every key at `revision`: watchers must re-read. */
  | { readonly kind: 'kv-reset'; readonly revision: Revision }
  /** Jobs, allocations or deployments changed: the scheduler and the node runners look again. */
  | { readonly kind: 'workloads' };

export class ClusterFsm {
  readonly #kv: KvStore;
  readonly #events: EventLog;
  #sessions = new Map<string, Session>();
  #nodes = new Map<NodeId, NodeRecord>();
  #security: SecurityState | undefined;
  #nowMs = 0;
  #appliedIndex = 0;
  #listeners: ((n: FsmNotification) => void)[] = [];
  #restoreStaging: RestoreStaging | undefined;
  readonly #jobs = new JobTable();
  readonly #allocs = new AllocTable();
  readonly #decodeSnapshot: SnapshotDecoder | undefined;

  /** decodeSnapshot serves restore.commit; without it every commit fails (alike on every replica). */
  constructor(options: FsmOptions = FSM_DEFAULTS, decodeSnapshot?: SnapshotDecoder) {
    this.#decodeSnapshot = decodeSnapshot;
    this.#kv = new KvStore(options.maxKvHistory);
    this.#events = new EventLog(options.maxEvents);
  }

  /** Applies one committed command at Raft log `index`. */
  apply(index: number, command: Command): ApplyResult {
    assert(index > this.#appliedIndex, `apply at ${index} after ${this.#appliedIndex}: entries apply once, in order`);
    this.#appliedIndex = index;
    // Leaders' clocks differ; the state machine's time only moves forward.
    this.#nowMs = Math.max(this.#nowMs, command.atMs);
    switch (command.type) {
      case 'kv.put':
        return this.#put(index, command.key, command.value, command.ifModRevision, command.session);
      case 'kv.delete':
        return this.#delete(index, command.key, command.ifModRevision, 'deleted');
      case 'session.create':
        return this.#createSession(index, command.id, command.ttlMs, command.owner);
      case 'session.keepalive':
        return this.#keepAlive(command.id);
      case 'session.destroy':
        return this.#destroySession(index, command.id, command.reason);
      case 'node.upsert':
        return this.#upsertNode(index, command);
      case 'node.remove':
        return this.#removeNode(index, command.id, command.reason);
      case 'note':
        return this.#ok(this.#event(index, command.kind, command.subject, { message: command.message }));
      case 'security.init':
        return this.#initSecurity(index, command);
      case 'security.keyring':
        return this.#changeKeyring(index, command);
      case 'restore.begin':
        return this.#beginRestore(index, command);
      case 'restore.chunk':
        return this.#chunkRestore(appendChunk(this.#restoreStaging, command));
      case 'restore.commit':
        return this.#commitRestore(index, command.id);
      case 'restore.abort':
        return this.#abortRestore(index, command.id);
      case 'job.register':
        return this.#jobOutcome(index, this.#jobs.register(command.spec, this.#nowMs));
      case 'job.deregister':
        return this.#jobOutcome(index, this.#jobs.deregister(command.job, command.purge === true, this.#nowMs));
      case 'alloc.plan':
        return this.#applyPlan(index, command);
      case 'alloc.update':
        return this.#applyUpdate(index, command);
      default:
        return unreachable(command);
    }
  }

  /** Records that entry `index` carried no command for us (a no-op or a config entry). */
  skip(index: number): void {
    if (index > this.#appliedIndex) this.#appliedIndex = index;
  }

  subscribe(listener: (n: FsmNotification) => void): () => void {
    this.#listeners.push(listener);
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener);
    };
  }

  // --- Queries -------------------------------------------------------------------------------

  get appliedIndex(): number {
    return this.#appliedIndex;
  }

  get revision(): Revision {
    return this.#kv.revision;
  }

  /** Number of keys in the store. */
  get keyCount(): number {
    return this.#kv.size;
  }

  get nowMs(): number {
    return this.#nowMs;
  }

  get(key: string): KvEntry | undefined {
    return this.#kv.get(key);
  }

  list(prefix: string, limit?: number): { entries: KvEntry[]; more: boolean } {
    return this.#kv.list(prefix, limit);
  }

  changesSince(from: Revision, prefix: string): ReturnType<KvStore['changesSince']> {
    return this.#kv.changesSince(from, prefix);
  }

  session(id: string): Session | undefined {
    return this.#sessions.get(id);
  }

  sessions(): Session[] {
    return [...this.#sessions.values()];
  }

  /** Sessions whose TTL has passed by `nowMs` (the leader proposes their destruction). */
  expiredSessions(nowMs: number): Session[] {
    return [...this.#sessions.values()].filter((s) => s.expiresAtMs <= nowMs);
  }

  nodes(): NodeRecord[] {
    return [...this.#nodes.values()];
  }

  node(id: NodeId): NodeRecord | undefined {
    return this.#nodes.get(id);
  }

  /** The cluster's CA, token hash and gossip keyring, once recorded (see security.ts). */
  get security(): SecurityState | undefined {
    return this.#security;
  }

  /** The restore being uploaded, if any (src/core/fsm/restore.ts). */
  get restoreStaging(): RestoreStaging | undefined {
    return this.#restoreStaging;
  }

  /** A job by name, running or stopped (src/core/fsm/jobs.ts). */
  job(name: string): JobRecord | undefined {
    return this.#jobs.get(name);
  }

  /** Every job, sorted by name. */
  jobs(): JobRecord[] {
    return this.#jobs.all();
  }

  /** A job's kept versions, oldest first, the current one last; undefined for an unknown job. */
  jobHistory(name: string): JobVersion[] | undefined {
    return this.#jobs.history(name);
  }

  /** An allocation by ID (src/core/fsm/allocs.ts). */
  alloc(id: string): Allocation | undefined {
    return this.#allocs.get(id);
  }

  /** The spec an allocation was placed for: its job's current version or one kept in the history. */
  allocSpec(alloc: Allocation): JobSpec | undefined {
    const record = this.#jobs.get(alloc.job);
    if (record === undefined) return undefined;
    if (record.version === alloc.jobVersion) return record.spec;
    return record.history.find((v) => v.version === alloc.jobVersion)?.spec;
  }

  /** Every allocation kept, oldest first. */
  allocs(): Allocation[] {
    return this.#allocs.all();
  }

  /** The plan sequence number a new plan must name as its basis. */
  get planSeq(): number {
    return this.#allocs.planSeq;
  }

  /** The rollout state of a job's current (or last) version. */
  deployment(job: string): Deployment | undefined {
    return this.#allocs.deployment(job);
  }

  events(fromSeq: number, limit?: number): ClusterEvent[] {
    return this.#events.since(fromSeq, limit);
  }

  get eventHead(): EventAnchor {
    return this.#events.head;
  }

  get eventAnchor(): EventAnchor {
    return this.#events.anchor;
  }

  // --- Snapshots -----------------------------------------------------------------------------

  snapshot(): FsmSnapshot {
    return {
      appliedIndex: this.#appliedIndex,
      nowMs: this.#nowMs,
      kv: this.#kv.snapshot(),
      sessions: [...this.#sessions.values()],
      nodes: [...this.#nodes.values()],
      events: { anchor: this.#events.anchor, kept: [...this.#events.all()] },
      ...(this.#security === undefined ? {} : { security: this.#security }),
      ...(this.#restoreStaging === undefined ? {} : { restoreStaging: this.#restoreStaging }),
      ...(this.#jobs.size === 0 ? {} : { jobs: this.#jobs.snapshot() }),
      ...(this.#allocs.planSeq === 0 && this.#allocs.size === 0 ? {} : { allocs: this.#allocs.snapshot() }),
    };
  }

  restore(s: FsmSnapshot): void {
    this.#appliedIndex = s.appliedIndex;
    this.#nowMs = s.nowMs;
    this.#kv.restore(s.kv);
    this.#sessions = new Map(s.sessions.map((x) => [x.id, x]));
    this.#nodes = new Map(s.nodes.map((x) => [x.id, x]));
    this.#events.restore(s.events.anchor, s.events.kept);
    this.#security = s.security;
    this.#restoreStaging = s.restoreStaging;
    this.#jobs.restore(s.jobs ?? []);
    this.#allocs.restore(s.allocs);
  }

  // --- Commands ------------------------------------------------------------------------------

  #initSecurity(index: number, command: SecurityInit): ApplyResult {
    if (this.#security !== undefined) return { ok: false, code: 'exists', subject: 'security' };
    const { caCertPem, caKeyPem, managementTokenSha256, gossipKeys, gossipPrimary } = command;
    if (!gossipKeys.includes(gossipPrimary)) return { ok: false, code: 'invalid', reason: 'the primary gossip key must be one of the installed keys' };
    // The keyring's other invariants (security.ts), kept from the start as every change keeps them.
    if (new Set(gossipKeys).size !== gossipKeys.length) return { ok: false, code: 'invalid', reason: 'the gossip keys must be distinct' };
    if (gossipKeys.length > MAX_GOSSIP_KEYS) return { ok: false, code: 'invalid', reason: `at most ${MAX_GOSSIP_KEYS} gossip keys may be installed` };
    this.#security = { caCertPem, caKeyPem, managementTokenSha256, gossipKeys: [...gossipKeys], gossipPrimary };
    return this.#ok(this.#event(index, 'security.init', 'cluster', { gossipKeys: gossipKeys.length, primaryKey: keyFingerprint(gossipPrimary) }));
  }

  #changeKeyring(index: number, command: KeyringChange): ApplyResult {
    if (this.#security === undefined) return { ok: false, code: 'not-found', subject: 'security' };
    const changed = changeKeyring(this.#security, command);
    if (!('next' in changed)) return changed.code === 'invalid' ? { ok: false, code: 'invalid', reason: changed.reason } : { ok: false, code: 'not-found', subject: changed.subject };
    this.#security = changed.next;
    return this.#ok(this.#event(index, `keyring.${command.op}`, keyFingerprint(command.key), { installed: changed.next.gossipKeys.length }));
  }

  // --- Restore (src/core/fsm/restore.ts) ----------------------------------------------------

  #beginRestore(index: number, command: RestoreBegin): ApplyResult {
    const begun = beginStaging(command, this.#nowMs);
    if (!begun.ok) return begun;
    const replaced = this.#restoreStaging;
    this.#restoreStaging = begun.staging;
    const detail: Record<string, string | number> = { bytes: command.totalBytes, sha256: command.sha256 };
    if (replaced !== undefined) detail['replaced'] = replaced.id;
    return this.#ok(this.#event(index, 'restore.begin', command.id, detail));
  }

  /** Chunks record no event each (an upload of 100 MiB would be 200 of them): begin and commit do. */
  #chunkRestore(outcome: ReturnType<typeof appendChunk>): ApplyResult {
    if (!outcome.ok) return outcome;
    this.#restoreStaging = outcome.staging;
    return { ok: true, revision: this.#kv.revision, event: this.#events.head.seq };
  }

  /**
   * Swaps the staged snapshot in, all or nothing: KV entries and sessions become the snapshot's;
   * the node registry, the security settings, the jobs and the event log stay (they describe this cluster
   * as it runs), and the event chain goes on with a 'restore' event. The KV revision never goes
   * back: the restore takes max(current, snapshot's) + 1, every restored key gets it as its
   * modRevision (a compare-and-swap prepared before the restore fails rather than overwrite), and
   * the change history starts afresh there (watchers are told to re-read). Restored sessions get a
   * full TTL from now: their holders may renew them; abandoned ones expire one TTL later.
   */
  #commitRestore(index: number, id: string): ApplyResult {
    const staging = this.#restoreStaging;
    if (staging === undefined || staging.id !== id) return { ok: false, code: 'not-found', subject: id };
    // Used up whatever the outcome: bytes that failed their checks will not pass them later.
    this.#restoreStaging = undefined;
    const assembled = assembleStaging(staging);
    const decoded = !assembled.ok
      ? assembled
      : this.#decodeSnapshot === undefined
        ? ({ ok: false, why: 'undecodable', reason: 'this state machine has no snapshot decoder' } as const)
        : this.#decodeSnapshot(assembled.body);
    if (!decoded.ok) {
      const failure = 'why' in decoded ? decoded : { why: 'undecodable' as const, reason: `restore ${id}: ${decoded.error}` };
      // The event names the failure by a fixed word: library messages may differ between builds.
      this.#event(index, 'restore.failed', id, { why: failure.why, bytes: staging.totalBytes, sha256: staging.sha256 });
      return { ok: false, code: 'invalid', reason: failure.reason };
    }
    const s = decoded.value;
    const revision = Math.max(this.#kv.revision, s.kv.revision) + 1;
    this.#kv.replaceAll(s.kv.entries.map((e) => ({ ...e, modRevision: revision })), revision);
    const now = this.#nowMs;
    this.#sessions = new Map(s.sessions.map((x) => [x.id, { ...x, createdAtMs: Math.min(x.createdAtMs, now), expiresAtMs: now + x.ttlMs }]));
    this.#notify({ kind: 'kv-reset', revision });
    const detail = { sha256: staging.sha256, bytes: staging.totalBytes, snapshotRevision: s.kv.revision, snapshotIndex: s.appliedIndex, keys: s.kv.entries.length, sessions: s.sessions.length, revision };
    return this.#ok(this.#event(index, 'restore', id, detail));
  }

  #abortRestore(index: number, id: string): ApplyResult {
    const staging = this.#restoreStaging;
    if (staging === undefined || staging.id !== id) return { ok: false, code: 'not-found', subject: id };
    this.#restoreStaging = undefined;
    return this.#ok(this.#event(index, 'restore.abort', id, { staged: stagedBytes(staging), bytes: staging.totalBytes }));
  }

  #put(index: number, key: string, value: Uint8Array, ifModRevision: number | undefined, session: string | undefined): ApplyResult {
    const before = this.#kv.get(key);
    if (ifModRevision !== undefined && (before?.modRevision ?? 0) !== ifModRevision) {
      return { ok: false, code: 'cas-mismatch', modRevision: before?.modRevision ?? 0 };
    }
    if (session !== undefined && !this.#sessions.has(session)) return { ok: false, code: 'no-session', session };
    const entry = this.#kv.put(key, value, session);
    this.#notify({ kind: 'kv', change: { revision: entry.modRevision, type: 'put', key, entry } });
    const detail: Record<string, string | number> = { revision: entry.modRevision, version: entry.version, bytes: value.length, sha256: sha256Hex(value) };
    if (session !== undefined) detail['session'] = session;
    return this.#ok(this.#event(index, 'kv.put', key, detail));
  }

  #delete(index: number, key: string, ifModRevision: number | undefined, why: string): ApplyResult {
    const before = this.#kv.get(key);
    if (ifModRevision !== undefined && (before?.modRevision ?? 0) !== ifModRevision) {
      return { ok: false, code: 'cas-mismatch', modRevision: before?.modRevision ?? 0 };
    }
    if (before === undefined) return { ok: false, code: 'not-found', subject: key };
    const revision = this.#kv.delete(key);
    this.#notify({ kind: 'kv', change: { revision, type: 'delete', key, entry: undefined } });
    return this.#ok(this.#event(index, 'kv.delete', key, { revision, why }));
  }

  #createSession(index: number, id: string, ttlMs: number, owner: string): ApplyResult {
    if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0) return { ok: false, code: 'invalid', reason: `ttlMs must be a positive integer, got ${ttlMs}` };
    if (this.#sessions.has(id)) return { ok: false, code: 'exists', subject: id };
    this.#sessions.set(id, { id, owner, ttlMs, createdAtMs: this.#nowMs, expiresAtMs: this.#nowMs + ttlMs });
    return this.#ok(this.#event(index, 'session.create', id, { owner, ttlMs }));
  }

  /** Keepalives change only an expiry time: no event, or the log would be mostly heartbeats. */
  #keepAlive(id: string): ApplyResult {
    const s = this.#sessions.get(id);
    if (s === undefined) return { ok: false, code: 'not-found', subject: id };
    this.#sessions.set(id, { ...s, expiresAtMs: this.#nowMs + s.ttlMs });
    return { ok: true, revision: this.#kv.revision, event: this.#events.head.seq };
  }

  #destroySession(index: number, id: string, reason: 'released' | 'expired'): ApplyResult {
    const s = this.#sessions.get(id);
    if (s === undefined) return { ok: false, code: 'not-found', subject: id };
    if (reason === 'expired' && s.expiresAtMs > this.#nowMs) return { ok: false, code: 'not-expired', subject: id };
    for (const key of this.#kv.keysOfSession(id)) this.#delete(index, key, undefined, `session ${id} ${reason}`);
    this.#sessions.delete(id);
    return this.#ok(this.#event(index, 'session.destroy', id, { reason, owner: s.owner }));
  }

  #upsertNode(index: number, c: { id: NodeId; rpcAddr: string; httpAddr: string; tags: Readonly<Record<string, string>> }): ApplyResult {
    const before = this.#nodes.get(c.id);
    const record: NodeRecord = { id: c.id, rpcAddr: c.rpcAddr, httpAddr: c.httpAddr, tags: { ...c.tags }, firstSeenAtMs: before?.firstSeenAtMs ?? this.#nowMs, updatedAtMs: this.#nowMs };
    this.#nodes.set(c.id, record);
    const tags = Object.keys(record.tags).sort().map((k) => `${k}=${record.tags[k]}`).join(',');
    return this.#ok(this.#event(index, before === undefined ? 'node.join' : 'node.update', c.id, { rpcAddr: c.rpcAddr, httpAddr: c.httpAddr, tags }));
  }

  #removeNode(index: number, id: NodeId, reason: string): ApplyResult {
    if (!this.#nodes.has(id)) return { ok: false, code: 'not-found', subject: id };
    this.#nodes.delete(id);
    return this.#ok(this.#event(index, 'node.remove', id, { reason }));
  }

  // --- Jobs (src/core/fsm/jobs.ts) ----------------------------------------------------------

  /** Events name a spec by its sha256, never carry it: a spec may be 1 MiB and hold secrets in env. */
  #jobOutcome(index: number, outcome: JobOutcome): ApplyResult {
    if (outcome.kind === 'registered' || outcome.kind === 'deregistered' || outcome.kind === 'purged') this.#notify({ kind: 'workloads' });
    if (outcome.kind === 'purged') this.#allocs.forgetJob(outcome.record.spec.job);
    // A name used again after a purge starts afresh: the finished allocations and the rollout of
    // the job that had it are not this job's.
    if (outcome.kind === 'registered' && outcome.record.version === 1 && outcome.changed) this.#allocs.forgetJob(outcome.record.spec.job);
    switch (outcome.kind) {
      case 'not-found':
        return { ok: false, code: 'not-found', subject: outcome.job };
      case 'full':
        return { ok: false, code: 'invalid', reason: outcome.reason };
      case 'registered': {
        const { record } = outcome;
        const detail: Record<string, string | number> = {
          version: record.version,
          changed: String(outcome.changed),
          sha256: outcome.specSha256,
          type: record.spec.type,
          count: record.spec.count,
          driver: record.spec.driver,
        };
        if (outcome.restarted) detail['restarted'] = 'true';
        return this.#ok(this.#event(index, 'job.register', record.spec.job, detail));
      }
      case 'deregistered':
        return this.#ok(this.#event(index, 'job.deregister', outcome.record.spec.job, { version: outcome.record.version, changed: String(outcome.changed) }));
      case 'purged':
        return this.#ok(this.#event(index, 'job.purge', outcome.record.spec.job, { version: outcome.record.version, status: outcome.record.status, versionsKept: outcome.record.history.length + 1 }));
      default:
        return unreachable(outcome);
    }
  }

  /**
   * The reconciler's decisions. Events are grouped per job, action and reason (placing 1,000
   * instances is one event, not 1,000), each naming up to EVENT_IDS allocations.
   */
  #applyPlan(index: number, plan: AllocPlan): ApplyResult {
    const outcome = this.#allocs.applyPlan(plan, this.#nowMs);
    if ('code' in outcome) {
      return outcome.code === 'stale' ? { ok: false, code: 'cas-mismatch', modRevision: outcome.planSeq } : { ok: false, code: 'invalid', reason: outcome.reason };
    }
    for (const job of new Set(outcome.stopped.map((a) => a.job))) if (this.#jobs.get(job) === undefined) this.#allocs.forgetJob(job);
    let last: ClusterEvent | undefined;
    for (const [key, group] of groupBy(outcome.placed, (a) => `${a.job}\u0000${a.desiredReason}`)) {
      const [job, reason] = key.split('\u0000') as [string, string];
      last = this.#event(index, 'sched.place', job, { count: group.length, reason, allocs: idList(group), nodes: [...new Set(group.map((a) => a.node))].sort().join(',') });
    }
    for (const [key, group] of groupBy(outcome.stopped, (a) => `${a.job}\u0000${a.desiredReason}`)) {
      const [job, reason] = key.split('\u0000') as [string, string];
      last = this.#event(index, 'sched.stop', job, { count: group.length, reason, allocs: idList(group) });
    }
    for (const d of outcome.deployments) last = this.#event(index, `deployment.${d.status}`, d.job, { version: d.version, reason: d.reason });
    for (const n of plan.notes) last = this.#event(index, n.kind, n.subject, { message: n.message });
    this.#notify({ kind: 'workloads' });
    return last === undefined ? { ok: true, revision: this.#kv.revision, event: this.#events.head.seq } : this.#ok(last);
  }

  /** A node's reports; status and health changes become events grouped per job and change. */
  #applyUpdate(index: number, update: AllocUpdate): ApplyResult {
    const { changed } = this.#allocs.applyUpdate(update, this.#nowMs);
    if (changed.length === 0) return { ok: true, revision: this.#kv.revision, event: this.#events.head.seq };
    const transitions = changed.flatMap(({ before, after }) => [
      ...(before.client !== after.client ? [{ alloc: after, what: `client ${after.client}`, detail: after.clientDetail }] : []),
      ...(before.health !== after.health ? [{ alloc: after, what: `health ${after.health}`, detail: after.checks.filter((c) => c.status !== 'passing').map((c) => `${c.name}: ${c.status}`).join('; ') }] : []),
    ]);
    let last: ClusterEvent | undefined;
    for (const [key, group] of groupBy(transitions, (t) => `${t.alloc.job}\u0000${t.what}`)) {
      const [job, what] = key.split('\u0000') as [string, string];
      const detail: Record<string, string | number> = { node: update.node, change: what, count: group.length, allocs: idList(group.map((t) => t.alloc)) };
      const words = group.find((t) => t.detail !== '')?.detail;
      if (words !== undefined) detail['detail'] = words.slice(0, 200);
      last = this.#event(index, 'alloc.status', job, detail);
    }
    this.#notify({ kind: 'workloads' });
    return last === undefined ? { ok: true, revision: this.#kv.revision, event: this.#events.head.seq } : this.#ok(last);
  }

  #event(index: number, type: string, subject: string, detail: Record<string, string | number>): ClusterEvent {
    const body: EventBody = { index, atMs: this.#nowMs, type, subject, detail };
    const event = this.#events.append(body);
    this.#notify({ kind: 'event', event });
    return event;
  }

  #ok(event: ClusterEvent): ApplyResult {
    return { ok: true, revision: this.#kv.revision, event: event.seq };
  }

  #notify(n: FsmNotification): void {
    for (const l of this.#listeners) l(n);
  }
}

/** Allocations an event names before it says "and N more". */
const EVENT_IDS = 5;

function idList(allocs: readonly Allocation[]): string {
  const ids = allocs.slice(0, EVENT_IDS).map((a) => a.id);
  return allocs.length > EVENT_IDS ? `${ids.join(',')} and ${allocs.length - EVENT_IDS} more` : ids.join(',');
}

