// Typed client of the HTTP API, used by the CLI, tests and benchmarks.
import type { Static } from '@sinclair/typebox';
import type { KeyringChangeResult, KeyringOp, KeyringView } from '../api/keyring.ts';
import type { KvEntryView, KvListView } from '../api/kv.ts';
import type { RaftView, RecoverResult } from '../api/operator.ts';
import type { RestoreResult } from '../api/snapshot.ts';
import type { SessionView } from '../api/sessions.ts';
import type { EventsPageSchema } from '../api/streams.ts';
import type { ExecLine, ExecRequest } from '../api/exec.ts';
import type { AllocSummary, JobHistoryView, JobListEntry, JobPlanView, JobRunResult, JobStatusView, JobStopResult } from '../api/jobs.ts';
import type { AllocLogsView, AllocRestartResult, AllocView, LogStream } from '../api/allocs.ts';
import type { ServiceSummary, ServiceView } from '../api/services.ts';
import type { JobSpec } from '../core/scheduler/job.ts';
import { readSse, type SseMessage } from './sse.ts';

export type EventsPage = Static<typeof EventsPageSchema>;
import type { MemberView, Status } from '../api/schemas.ts';

export const DEFAULT_ADDR = 'http://127.0.0.1:7700';

export type ClientErrorCode = 'unreachable' | 'timeout' | 'bad-response' | string;

/** An API error ({error:{code,message}}), or a failure to reach the agent at all. */
export class ClientError extends Error {
  readonly code: ClientErrorCode;
  /** HTTP status, or 0 when no response arrived. */
  readonly status: number;
  constructor(code: ClientErrorCode, status: number, message: string) {
    super(message);
    this.name = 'ClientError';
    this.code = code;
    this.status = status;
  }
}

export interface ClientOptions {
  /** Base URL of any agent, e.g. http://127.0.0.1:7700 */
  readonly addr: string;
  readonly timeoutMs?: number;
  readonly token?: string;
}

export class SappersClient {
  readonly addr: string;
  readonly #timeoutMs: number;
  readonly #token: string | undefined;

  constructor(options: ClientOptions) {
    this.addr = normalizeAddr(options.addr);
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#token = options.token;
  }

  status(): Promise<Status> {
    return this.#request<Status>('GET', '/v1/status');
  }

  members(): Promise<MemberView[]> {
    return this.#request<MemberView[]>('GET', '/v1/members');
  }

  /** The Raft configuration as the agent sees it (with progress when it leads). */
  raft(): Promise<RaftView> {
    return this.#request('GET', '/v1/operator/raft');
  }

  /** Operator recover on this survivor (see docs/operator-guide.md, Quorum loss). */
  recover(): Promise<RecoverResult> {
    return this.#request('POST', '/v1/operator/recover', undefined, Math.max(this.#timeoutMs, 30_000));
  }

  /** The cluster's gossip keyring (fingerprints only) and the one this agent uses now; linearizable unless stale. */
  keyring(options: { stale?: boolean } = {}): Promise<KeyringView> {
    return this.#request('GET', `/v1/operator/keyring${options.stale ? '?stale' : ''}`);
  }

  /** install, use or remove a gossip key (use and remove also take a fingerprint); see `sappers keyring --help`. */
  keyringChange(op: KeyringOp, keyOrFingerprint: string): Promise<KeyringChangeResult> {
    const body = new TextEncoder().encode(JSON.stringify({ op, key: keyOrFingerprint }));
    return this.#request('POST', '/v1/operator/keyring', body, this.#timeoutMs, 'application/json');
  }

  /** Asks the agent to leave the cluster for good and stop; resolves once it is out. */
  leave(): Promise<{ removed: boolean }> {
    // The leader may need an election timeout or two to hand over and commit the removal.
    return this.#request('POST', '/v1/leave', undefined, Math.max(this.#timeoutMs, 45_000));
  }

  /** One page of the event log from seq `from` (the anchor and head come with it). */
  events(from = 1, options: { limit?: number; stale?: boolean } = {}): Promise<EventsPage> {
    const query = new URLSearchParams({ from: String(from) });
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    if (options.stale) query.set('stale', '');
    return this.#request('GET', `/v1/events?${query.toString()}`);
  }

  /** Follows the event log from seq `from`, live, until the signal aborts or the agent goes. */
  followEvents(from: number, signal?: AbortSignal): AsyncGenerator<SseMessage> {
    return this.#stream(`/v1/events?from=${from}`, signal);
  }

  /** Follows an allocation's log from `offset` (negative: back from the end): event log per new stretch, error to end. */
  followAllocLogs(idOrPrefix: string, stream: LogStream, offset: number, signal?: AbortSignal): AsyncGenerator<SseMessage> {
    return this.#stream(`/v1/allocs/${encodeURIComponent(idOrPrefix)}/logs?stream=${stream}&offset=${offset}`, signal);
  }

  /** GET /v1/status or /v1/members as a live view: the value now, then on every change. */
  followCluster(view: 'status' | 'members', signal?: AbortSignal): AsyncGenerator<SseMessage> {
    return this.#stream(`/v1/${view}`, signal);
  }

  /** Follows KV changes under prefix (from revision `from`, or from now). */
  watch(prefix: string, from: number | undefined, signal?: AbortSignal): AsyncGenerator<SseMessage> {
    const query = new URLSearchParams({ prefix });
    if (from !== undefined) query.set('from', String(from));
    return this.#stream(`/v1/watch?${query.toString()}`, signal);
  }

  async *#stream(path: string, signal?: AbortSignal): AsyncGenerator<SseMessage> {
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    let response: Response;
    try {
      response = await fetch(`${this.addr}${path}`, { headers, ...(signal === undefined ? {} : { signal }) });
    } catch (e) {
      if (signal?.aborted) return;
      throw new ClientError('unreachable', 0, `cannot reach the agent at ${this.addr} (${e instanceof Error ? e.message : String(e)})`);
    }
    if (!response.ok || response.body === null) {
      const text = await response.text();
      let message = `GET ${path} failed with HTTP ${response.status}`;
      let code = `http-${response.status}`;
      try {
        const body = JSON.parse(text) as { error?: { code?: string; message?: string } };
        message = body.error?.message ?? message;
        code = body.error?.code ?? code;
      } catch {
        // not JSON: keep the generic message
      }
      throw new ClientError(code, response.status, message);
    }
    try {
      yield* readSse(response.body);
    } catch (e) {
      if (signal?.aborted) return;
      throw e;
    }
  }

  /**
   * Runs a command on the nodes the filter picks (POST /v1/exec) and yields its NDJSON lines as
   * they come: targets, acks, output, one done per node, then a summary (or an error line).
   * Aborting the signal closes the stream, which cancels the run on every node.
   */
  async *exec(request: ExecRequest, signal?: AbortSignal): AsyncGenerator<ExecLine> {
    const headers: Record<string, string> = { accept: 'application/x-ndjson', 'content-type': 'application/json' };
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    let response: Response;
    try {
      response = await fetch(`${this.addr}/v1/exec`, { method: 'POST', headers, body: JSON.stringify(request), ...(signal === undefined ? {} : { signal }) });
    } catch (e) {
      if (signal?.aborted) return;
      const inner = (e as Error).cause as { code?: string; message?: string } | undefined;
      throw new ClientError('unreachable', 0, `cannot reach the agent at ${this.addr} (${inner?.code ?? inner?.message ?? (e as Error).message}); is it running? Set --addr or SAPPERS_ADDR`);
    }
    if (!response.ok || response.body === null) throw await errorOf(response, 'POST', '/v1/exec');
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of response.body) {
        buffer += decoder.decode(chunk, { stream: true });
        let newline: number;
        while ((newline = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, newline);
          buffer = buffer.slice(newline + 1);
          if (line.trim() !== '') yield JSON.parse(line) as ExecLine;
        }
      }
    } catch (e) {
      if (signal?.aborted) return;
      throw new ClientError('unreachable', 0, `the agent at ${this.addr} closed the exec stream (${e instanceof Error ? e.message : String(e)})`);
    }
  }

  /** The entry, or undefined when the key does not exist. Linearizable unless stale. */
  async kvGet(key: string, options: { stale?: boolean } = {}): Promise<KvEntryView | undefined> {
    try {
      return await this.#request<KvEntryView>('GET', `/v1/kv/${encodeKey(key)}${options.stale ? '?stale' : ''}`);
    } catch (e) {
      if (e instanceof ClientError && e.status === 404) return undefined;
      throw e;
    }
  }

  /** Writes the value; with cas, only if the key's modRevision is cas (0: only if absent). */
  kvPut(key: string, value: Uint8Array | string, options: { cas?: number; session?: string } = {}): Promise<{ revision: number }> {
    const body = typeof value === 'string' ? new TextEncoder().encode(value) : value;
    const query = new URLSearchParams();
    if (options.cas !== undefined) query.set('cas', String(options.cas));
    if (options.session !== undefined) query.set('session', options.session);
    const q = query.toString();
    return this.#request('PUT', `/v1/kv/${encodeKey(key)}${q === '' ? '' : `?${q}`}`, body);
  }

  /** A TTL session: keys written with it are deleted when it is released or expires. */
  sessionCreate(ttlMs: number, owner?: string): Promise<SessionView> {
    const body = new TextEncoder().encode(JSON.stringify(owner === undefined ? { ttlMs } : { ttlMs, owner }));
    return this.#request('POST', '/v1/sessions', body, this.#timeoutMs, 'application/json');
  }

  sessionRenew(id: string): Promise<SessionView> {
    return this.#request('PUT', `/v1/sessions/${encodeURIComponent(id)}/renew`);
  }

  sessionRelease(id: string): Promise<{ released: boolean }> {
    return this.#request('DELETE', `/v1/sessions/${encodeURIComponent(id)}`);
  }

  sessions(): Promise<SessionView[]> {
    return this.#request('GET', '/v1/sessions');
  }

  kvDelete(key: string, options: { cas?: number } = {}): Promise<{ revision: number }> {
    return this.#request('DELETE', `/v1/kv/${encodeKey(key)}${options.cas === undefined ? '' : `?cas=${options.cas}`}`);
  }

  kvList(prefix: string, options: { limit?: number; stale?: boolean } = {}): Promise<KvListView> {
    const query = new URLSearchParams({ prefix });
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    if (options.stale) query.set('stale', '');
    return this.#request('GET', `/v1/kv?${query.toString()}`);
  }

  // --- Jobs, allocations, services (src/api/jobs.ts, allocs.ts, services.ts) ------------------

  /** Registers (runs) a job; a spec equal to the running one changes nothing (changed: false). */
  jobRun(spec: JobSpec): Promise<JobRunResult> {
    return this.#request('POST', '/v1/jobs', jsonBody({ spec }), this.#timeoutMs, 'application/json');
  }

  /** What running the spec would do now (a dry run: nothing changes). */
  jobPlan(spec: JobSpec, options: { stale?: boolean } = {}): Promise<JobPlanView> {
    return this.#request('POST', `/v1/jobs/plan${options.stale ? '?stale' : ''}`, jsonBody({ spec }), this.#timeoutMs, 'application/json');
  }

  jobs(options: { stale?: boolean } = {}): Promise<JobListEntry[]> {
    return this.#request('GET', `/v1/jobs${options.stale ? '?stale' : ''}`);
  }

  jobStatus(name: string, options: { stale?: boolean } = {}): Promise<JobStatusView> {
    return this.#request('GET', `/v1/jobs/${encodeURIComponent(name)}${options.stale ? '?stale' : ''}`);
  }

  /** Stops the job (its allocations are stopped by the scheduler); purge also forgets it and its history. */
  jobStop(name: string, options: { purge?: boolean } = {}): Promise<JobStopResult> {
    return this.#request('DELETE', `/v1/jobs/${encodeURIComponent(name)}${options.purge ? '?purge' : ''}`);
  }

  jobHistory(name: string, options: { stale?: boolean } = {}): Promise<JobHistoryView> {
    return this.#request('GET', `/v1/jobs/${encodeURIComponent(name)}/history${options.stale ? '?stale' : ''}`);
  }

  allocs(options: { job?: string; node?: string; stale?: boolean } = {}): Promise<AllocSummary[]> {
    const query = new URLSearchParams();
    if (options.job !== undefined) query.set('job', options.job);
    if (options.node !== undefined) query.set('node', options.node);
    if (options.stale) query.set('stale', '');
    const q = query.toString();
    return this.#request('GET', `/v1/allocs${q === '' ? '' : `?${q}`}`);
  }

  /** One allocation by ID or a unique prefix of at least 4 hex characters. */
  alloc(idOrPrefix: string, options: { stale?: boolean } = {}): Promise<AllocView> {
    return this.#request('GET', `/v1/allocs/${encodeURIComponent(idOrPrefix)}${options.stale ? '?stale' : ''}`);
  }

  /** A stretch of an allocation's log; a negative offset counts back from the end. Follow with nextOffset. */
  allocLogs(idOrPrefix: string, options: { stream?: LogStream; offset?: number; limit?: number } = {}): Promise<AllocLogsView> {
    const query = new URLSearchParams({ stream: options.stream ?? 'stdout' });
    if (options.offset !== undefined) query.set('offset', String(options.offset));
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    return this.#request('GET', `/v1/allocs/${encodeURIComponent(idOrPrefix)}/logs?${query.toString()}`);
  }

  /** Restarts a running allocation's task in place, on its node. */
  allocRestart(idOrPrefix: string): Promise<AllocRestartResult> {
    return this.#request('POST', `/v1/allocs/${encodeURIComponent(idOrPrefix)}/restart`, undefined, Math.max(this.#timeoutMs, 30_000));
  }

  services(options: { stale?: boolean } = {}): Promise<ServiceSummary[]> {
    return this.#request('GET', `/v1/services${options.stale ? '?stale' : ''}`);
  }

  /** A service's instances; with passing, only those whose checks all pass. */
  service(name: string, options: { passing?: boolean; stale?: boolean } = {}): Promise<ServiceView> {
    const query = new URLSearchParams();
    if (options.passing) query.set('passing', '');
    if (options.stale) query.set('stale', '');
    const q = query.toString();
    return this.#request('GET', `/v1/services/${encodeURIComponent(name)}${q === '' ? '' : `?${q}`}`);
  }

  /** The replicated state as a snapshot file (src/wire/snapshot-file.ts); linearizable unless stale. */
  async snapshotSave(options: { stale?: boolean } = {}): Promise<Uint8Array> {
    const path = `/v1/snapshot${options.stale ? '?stale' : ''}`;
    const response = await this.#fetch('GET', path, undefined, Math.max(this.#timeoutMs, 120_000), 'application/octet-stream');
    if (!response.ok) throw await errorOf(response, 'GET', path);
    return new Uint8Array(await response.arrayBuffer());
  }

  /** Restores a snapshot file into the cluster (replacing every key and session); see docs/operator-guide.md, Backups. */
  snapshotRestore(file: Uint8Array): Promise<RestoreResult> {
    // Large files travel in many Raft entries: allow minutes, not the default seconds.
    return this.#request('PUT', '/v1/snapshot', file, Math.max(this.#timeoutMs, 600_000));
  }

  /** One request, its failures to connect or answer in time as ClientErrors; the caller reads the body. */
  async #fetch(method: string, path: string, requestBody: Uint8Array | undefined, timeoutMs: number, accept: string): Promise<Response> {
    const headers: Record<string, string> = { accept };
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    if (requestBody !== undefined) headers['content-type'] = 'application/octet-stream';
    try {
      return await fetch(`${this.addr}${path}`, { method, headers, signal: AbortSignal.timeout(timeoutMs), ...(requestBody === undefined ? {} : { body: requestBody }) });
    } catch (e) {
      const cause = e instanceof Error ? e : new Error(String(e));
      if (cause.name === 'TimeoutError') throw new ClientError('timeout', 0, `no answer from the agent at ${this.addr} within ${timeoutMs} ms`);
      const inner = cause.cause as { code?: string; message?: string } | undefined;
      throw new ClientError('unreachable', 0, `cannot reach the agent at ${this.addr} (${inner?.code ?? inner?.message ?? cause.message}); is it running? Set --addr or SAPPERS_ADDR`);
    }
  }

  async #request<T>(method: string, path: string, requestBody?: Uint8Array, timeoutMs = this.#timeoutMs, contentType = 'application/octet-stream'): Promise<T> {
    const url = `${this.addr}${path}`;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    if (requestBody !== undefined) headers['content-type'] = contentType;
    let response: Response;
    try {
      response = await fetch(url, { method, headers, signal: AbortSignal.timeout(timeoutMs), ...(requestBody === undefined ? {} : { body: requestBody }) });
    } catch (e) {
      const cause = e instanceof Error ? e : new Error(String(e));
      if (cause.name === 'TimeoutError') {
        throw new ClientError('timeout', 0, `no answer from the agent at ${this.addr} within ${timeoutMs} ms`);
      }
      const inner = cause.cause as { code?: string; message?: string } | undefined;
      const detail = inner?.code ?? inner?.message ?? cause.message;
      throw new ClientError('unreachable', 0, `cannot reach the agent at ${this.addr} (${detail}); is it running? Set --addr or SAPPERS_ADDR`);
    }
    const text = await response.text();
    let body: unknown;
    try {
      body = text.length > 0 ? JSON.parse(text) : undefined;
    } catch {
      throw new ClientError('bad-response', response.status, `the agent at ${this.addr} answered ${response.status} with non-JSON: ${text.slice(0, 200)}`);
    }
    if (!response.ok) {
      const error = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
      const code = typeof error?.code === 'string' ? error.code : `http-${response.status}`;
      const message = typeof error?.message === 'string' ? error.message : `${method} ${path} failed with HTTP ${response.status}`;
      throw new ClientError(code, response.status, message);
    }
    return body as T;
  }
}

/** The ClientError of a failed response: its {error: {code, message}} body when it has one. */
async function errorOf(response: Response, method: string, path: string): Promise<ClientError> {
  const text = await response.text().catch(() => '');
  let code = `http-${response.status}`;
  let message = `${method} ${path} failed with HTTP ${response.status}`;
  try {
    const error = (JSON.parse(text) as { error?: { code?: unknown; message?: unknown } }).error;
    if (typeof error?.code === 'string') code = error.code;
    if (typeof error?.message === 'string') message = error.message;
  } catch {
    // not JSON: keep the generic message
  }
  return new ClientError(code, response.status, message);
}

function jsonBody(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}

/** Keys keep their slashes in the URL path; every other special character is escaped. */
function encodeKey(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

function normalizeAddr(addr: string): string {
  const withScheme = /^[a-z]+:\/\//i.test(addr) ? addr : `http://${addr}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new ClientError('bad-request', 0, `invalid agent address ${JSON.stringify(addr)}; expected http://HOST:PORT`);
  }
  return `${url.protocol}//${url.host}`;
}
