// Everything an agent does for workloads, wired together: the health monitor, the node-side
// runner, the scheduler on the leader, and the per-allocation operations that must run on the
// allocation's own node (logs, restart), reached over the agent RPC when asked elsewhere.
import { Type } from '@sinclair/typebox';
import type { Allocation } from '../core/fsm/allocs.ts';
import type { ClusterFsm } from '../core/fsm/fsm.ts';
import type { CheckStatus } from '../core/health/status.ts';
import type { HealthPushError } from '../core/health/table.ts';
import type { AllocationHealthView } from '../core/health/view.ts';
import { SeededRandom } from '../core/random.ts';
import type { Result } from '../core/result.ts';
import type { ReconcileNode } from '../core/scheduler/reconciler.ts';
import type { Clock } from '../runtime/clock.ts';
import { HealthMonitor } from '../runtime/health/monitor.ts';
import type { Membership } from '../runtime/membership.ts';
import { TransportError, type RequestContext } from '../runtime/transport/types.ts';
import type { WorkloadDriver } from '../drivers/driver.ts';
import { MessageCodec, describeDecodeError, type MessageOf } from '../wire/codec.ts';
import { ApiError } from '../api/errors.ts';
import type { AgentConfig } from './config.ts';
import type { Consensus } from './consensus.ts';
import type { Logger } from './log.ts';
import { SchedulerRunner } from './scheduler-runner.ts';
import { buildCatalog, hostOf } from './jobs.ts';

type Catalog = ReturnType<typeof buildCatalog>;
import { startDnsServer, type DnsServer } from '../runtime/dns/server.ts';
import type { DnsLookup, DnsServiceAnswer } from '../runtime/dns/responder.ts';
import { MAX_LOG_READ_BYTES, WorkloadsRunner } from './workloads.ts';

const LOGS_METHOD = 'alloc.logs';
const RESTART_METHOD = 'alloc.restart';
const OPS_TIMEOUT_MS = 10_000;

const AllocOpsMessages = {
  'alloc.logs': Type.Object(
    { id: Type.String({ pattern: '^[0-9a-f]{8,64}$' }), stream: Type.Union([Type.Literal('stdout'), Type.Literal('stderr')]), offset: Type.Integer({ minimum: -MAX_LOG_READ_BYTES, maximum: Number.MAX_SAFE_INTEGER }), limit: Type.Integer({ minimum: 0, maximum: MAX_LOG_READ_BYTES }) },
    { additionalProperties: false },
  ),
  'alloc.logs-reply': Type.Object(
    { data: Type.Uint8Array({ maxByteLength: MAX_LOG_READ_BYTES }), offset: Type.Integer({ minimum: 0 }), nextOffset: Type.Integer({ minimum: 0 }), size: Type.Integer({ minimum: 0 }) },
    { additionalProperties: false },
  ),
  'alloc.restart': Type.Object({ id: Type.String({ pattern: '^[0-9a-f]{8,64}$' }) }, { additionalProperties: false }),
  'alloc.restart-reply': Type.Object({ ok: Type.Boolean(), message: Type.String({ maxLength: 1024 }) }, { additionalProperties: false }),
} as const;
type OpsMessage = MessageOf<typeof AllocOpsMessages>;

export interface LogChunk {
  readonly data: Uint8Array;
  readonly offset: number;
  readonly nextOffset: number;
  readonly size: number;
}

export interface WorkloadHostInit {
  readonly nodeId: string;
  readonly dataDir: string;
  readonly config: AgentConfig;
  readonly drivers: readonly WorkloadDriver[];
  readonly apiUrl: () => string;
  readonly clock: Clock;
  readonly logger: Logger;
}

export class WorkloadHost {
  readonly health: HealthMonitor;
  readonly runner: WorkloadsRunner;
  readonly #o: WorkloadHostInit;
  readonly #codec = new MessageCodec(AllocOpsMessages, { maxMessageBytes: 2 * MAX_LOG_READ_BYTES });
  #scheduler: SchedulerRunner | undefined;
  #consensus: Consensus | undefined;
  #dns: DnsServer | undefined;
  /** The service catalog as of an applied index: DNS answers many queries per change. */
  #catalog: { index: number; fsm: ClusterFsm; entries: Catalog } | undefined;

  constructor(init: WorkloadHostInit) {
    this.#o = init;
    const bind = init.config.dev ? '127.0.0.1' : init.config.bind;
    this.health = new HealthMonitor({ clock: init.clock, random: new SeededRandom(Math.floor(Math.random() * 2 ** 32)) });
    this.runner = new WorkloadsRunner({
      nodeId: init.nodeId,
      dataDir: init.dataDir,
      drivers: init.drivers,
      health: this.health,
      apiUrl: init.apiUrl,
      // Checks run from this node against its own workloads: a wildcard bind answers on loopback.
      checkHost: bind === '0.0.0.0' ? '127.0.0.1' : bind === '::' ? '::1' : bind,
      clock: init.clock,
      logger: init.logger,
      logs: { maxFileBytes: init.config.workloads.logMaxFileBytes, maxFiles: init.config.workloads.logMaxFiles },
    });
  }

  /** Takes up the workloads a previous agent left running, and starts answering DNS. */
  async start(host: string): Promise<void> {
    await this.runner.start();
    this.#dns = await startDnsServer({ host, port: this.#o.config.ports.dns, lookup: this.#dnsLookup(), logger: this.#o.logger.child({ component: 'dns' }) });
  }

  /** The DNS port (0 before start). */
  get dnsPort(): number {
    return this.#dns?.port ?? 0;
  }

  /** Answers from this node's copy of the state: passing instances only. */
  #dnsLookup(): DnsLookup {
    const lower = (x: string): string => x.toLowerCase();
    return {
      services: (name: string, tag?: string): DnsServiceAnswer => {
        const entry = [...this.#catalogNow().values()].find((e) => lower(e.name) === name);
        if (entry === undefined) return { exists: false, instances: [] };
        const instances = entry.instances
          .filter((i) => i.status === 'passing' && i.address !== null && i.port !== null && (tag === undefined || i.tags.some((t) => lower(t) === tag)))
          .map((i) => ({ node: i.node, address: i.address!, port: i.port! }));
        return { exists: true, instances };
      },
      node: (name: string): string | undefined => {
        const fsm = this.#consensus?.machine.fsm;
        const record = fsm?.nodes().find((n) => lower(n.id) === name);
        return record === undefined ? undefined : (hostOf(record.rpcAddr) ?? undefined);
      },
    };
  }

  #catalogNow(): Catalog {
    const fsm = this.#consensus?.machine.fsm;
    if (fsm === undefined) return new Map();
    const cached = this.#catalog;
    if (cached !== undefined && cached.fsm === fsm && cached.index === fsm.appliedIndex) return cached.entries;
    const entries = buildCatalog(fsm);
    this.#catalog = { index: fsm.appliedIndex, fsm, entries };
    return entries;
  }

  /** Follows a (new) consensus: the runner reads its state, the leader schedules. */
  attach(consensus: Consensus, membership: Membership): void {
    this.#scheduler?.stop();
    this.#consensus = consensus;
    this.runner.attach(consensus);
    consensus.rpc.handle(LOGS_METHOD, (body, ctx) => this.#handle(body, ctx));
    consensus.rpc.handle(RESTART_METHOD, (body, ctx) => this.#handle(body, ctx));
    const { cluster, workloads } = this.#o.config;
    this.#scheduler = new SchedulerRunner({
      nodeId: this.#o.nodeId,
      consensus,
      membership,
      settings: { lostGraceMs: workloads.lostGraceMs, minNodes: cluster.minNodes, belowMinNodes: cluster.belowMinNodes },
      clock: this.#o.clock,
      logger: this.#o.logger,
    });
    this.#scheduler.start();
  }

  /** Consensus is about to restart: the scheduler stops until attach() (the runner keeps its tasks). */
  detach(): void {
    this.#scheduler?.stop();
    this.#scheduler = undefined;
  }

  /** Agent shutdown. Leaving the cluster stops the workloads; a plain stop leaves them running. */
  async stop(leave: boolean): Promise<void> {
    this.detach();
    if (leave) await this.runner.stopAll();
    else await this.runner.detachAll();
    await this.health.close();
    await this.#dns?.close();
  }

  /** The scheduler's view of the nodes (for `job plan`); empty before consensus runs. */
  reconcileNodes(fsm: ClusterFsm): ReconcileNode[] {
    return this.#scheduler?.nodes(fsm) ?? [];
  }

  /**
   * A workload's own token (SAPPERS_TOKEN) admits exactly its allocation's health routes on
   * this node: PUT /v1/health/<its id>/<check> and GET /v1/health/<its id>.
   */
  admitsAllocToken(authorization: string | undefined, method: string, url: string): boolean {
    const match = /^\/v1\/health\/([0-9a-f]{8,64})(?:\/[^/?]+)?(?:\?.*)?$/.exec(url);
    if (match === null || (method !== 'PUT' && method !== 'GET')) return false;
    return this.runner.isAllocToken(authorization, match[1]!);
  }

  // --- Health API (src/api/health.ts) ---------------------------------------------------------

  healthPush(allocId: string, check: string, status: CheckStatus, output: string | undefined): Result<void, HealthPushError> {
    return this.health.push(allocId, check, status, output);
  }

  healthStatus(allocId: string): AllocationHealthView | undefined {
    return this.health.status(allocId);
  }

  // --- Per-allocation operations -------------------------------------------------------------

  async logs(alloc: Allocation, stream: 'stdout' | 'stderr', offset: number, limit: number): Promise<LogChunk> {
    if (alloc.node === this.#o.nodeId) return this.runner.logs(alloc.id, stream, offset, Math.min(limit, MAX_LOG_READ_BYTES));
    const reply = await this.#call(alloc.node, { type: 'alloc.logs', body: { id: alloc.id, stream, offset, limit: Math.min(limit, MAX_LOG_READ_BYTES) } }, 'alloc.logs-reply');
    return reply;
  }

  async restart(alloc: Allocation): Promise<void> {
    if (alloc.node === this.#o.nodeId) {
      await this.#restartLocal(alloc.id);
      return;
    }
    const reply = await this.#call(alloc.node, { type: 'alloc.restart', body: { id: alloc.id } }, 'alloc.restart-reply');
    if (!reply.ok) throw new ApiError('conflict', reply.message);
  }

  async #restartLocal(id: string): Promise<void> {
    try {
      await this.runner.restart(id);
    } catch (e) {
      throw new ApiError('conflict', e instanceof Error ? e.message : String(e));
    }
  }

  async #call<R extends OpsMessage['type']>(node: string, message: OpsMessage, replyType: R): Promise<Extract<OpsMessage, { type: R }>['body']> {
    const consensus = this.#consensus;
    const addr = consensus?.addressOf(node as never);
    if (consensus === undefined || addr === undefined) throw new ApiError('unavailable', `node ${node} cannot be reached from here (no address known)`);
    const encoded = this.#codec.encode(message);
    if (!encoded.ok) throw new Error(`cannot encode ${message.type}: ${encoded.error.code}`);
    let bytes: Uint8Array;
    try {
      bytes = await consensus.rpc.request(addr, message.type, encoded.value, { timeoutMs: OPS_TIMEOUT_MS });
    } catch (e) {
      throw new ApiError('unavailable', `node ${node} did not answer: ${e instanceof Error ? e.message : String(e)}`);
    }
    const decoded = this.#codec.decode(bytes);
    if (!decoded.ok) throw new ApiError('unavailable', `node ${node} answered garbage: ${describeDecodeError(decoded.error)}`);
    if (decoded.value.type !== replyType) throw new ApiError('unavailable', `node ${node} answered ${decoded.value.type} instead of ${replyType}`);
    // The reply type was checked just above.
    return decoded.value.body as never;
  }

  async #handle(body: Uint8Array, ctx: RequestContext): Promise<Uint8Array> {
    const decoded = this.#codec.decode(body);
    if (!decoded.ok) throw new TransportError('protocol', `malformed ${ctx.method} request: ${describeDecodeError(decoded.error)}`);
    const m = decoded.value;
    let reply: OpsMessage;
    if (m.type === 'alloc.logs') {
      reply = { type: 'alloc.logs-reply', body: await this.runner.logs(m.body.id, m.body.stream, m.body.offset, m.body.limit) };
    } else if (m.type === 'alloc.restart') {
      try {
        await this.runner.restart(m.body.id);
        reply = { type: 'alloc.restart-reply', body: { ok: true, message: '' } };
      } catch (e) {
        reply = { type: 'alloc.restart-reply', body: { ok: false, message: (e instanceof Error ? e.message : String(e)).slice(0, 1024) } };
      }
    } else {
      throw new TransportError('protocol', `${m.type} is a reply, not a request`);
    }
    const encoded = this.#codec.encode(reply);
    if (!encoded.ok) throw new Error(`cannot encode ${reply.type}: ${encoded.error.code}`);
    return encoded.value;
  }
}

