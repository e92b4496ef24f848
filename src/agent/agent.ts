// The composition root: turns a validated config into a running agent, and back into nothing
// on shutdown. Each later subsystem (membership, Raft, scheduler) is wired in here.
import { rm } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { AgentConfig } from './config.ts';
import { DataDirError, defaultDataDir, lockDataDir, loadNodeId, makeDevDataDir, type DataDirLock } from './data-dir.ts';
import { createApiServer } from '../api/server.ts';
import type { MemberView, Status } from '../api/schemas.ts';
import { startGossip, type Gossip } from './gossip.ts';
import type { Clock } from '../runtime/clock.ts';
import { VERSION } from '../version.ts';

/** How long a graceful leave may take to spread before the agent stops anyway. */
const LEAVE_TIMEOUT_MS = 3000;

export class AgentStartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AgentStartError';
  }
}

export interface AgentDeps {
  readonly logger: Logger;
  readonly clock: Clock;
}

export class Agent {
  readonly nodeId: string;
  readonly dataDir: string;
  readonly config: AgentConfig;
  readonly #deps: AgentDeps;
  readonly #http: FastifyInstance;
  readonly #lock: DataDirLock;
  readonly #ephemeralDir: boolean;
  readonly #startedWallMs: number;
  readonly #startedMs: number;
  #httpPort = 0;
  #gossip: Gossip | undefined;
  #stopping: Promise<void> | undefined;

  private constructor(init: { config: AgentConfig; deps: AgentDeps; nodeId: string; dataDir: string; lock: DataDirLock; ephemeralDir: boolean }) {
    this.config = init.config;
    this.#deps = init.deps;
    this.nodeId = init.nodeId;
    this.dataDir = init.dataDir;
    this.#lock = init.lock;
    this.#ephemeralDir = init.ephemeralDir;
    this.#startedWallMs = init.deps.clock.wallMs();
    this.#startedMs = init.deps.clock.nowMs();
    this.#http = createApiServer({ agent: this, logger: init.deps.logger });
  }

  static async start(config: AgentConfig, deps: AgentDeps): Promise<Agent> {
    const ephemeralDir = config.dev && config.dataDir === undefined;
    const dataDir = ephemeralDir ? await makeDevDataDir() : (config.dataDir ?? defaultDataDir());
    let lock: DataDirLock;
    try {
      lock = await lockDataDir(dataDir);
    } catch (e) {
      if (ephemeralDir) await rm(dataDir, { recursive: true, force: true });
      throw e instanceof DataDirError ? new AgentStartError(e.message) : e;
    }
    let agent: Agent | undefined;
    try {
      const nodeId = await loadNodeId(dataDir, config.nodeId);
      agent = new Agent({ config, deps, nodeId, dataDir, lock, ephemeralDir });
      await agent.#listen();
      deps.logger.info({ nodeId, dataDir, version: VERSION, ports: agent.status().ports }, 'agent started');
      return agent;
    } catch (e) {
      if (agent) await agent.stop();
      else {
        await lock.release();
        if (ephemeralDir) await rm(dataDir, { recursive: true, force: true });
      }
      throw e instanceof DataDirError ? new AgentStartError(e.message) : e;
    }
  }

  async #listen(): Promise<void> {
    const host = this.#httpHost();
    try {
      await this.#http.listen({ host, port: this.config.ports.http });
    } catch (e) {
      throw new AgentStartError(describeListenError(e, 'HTTP', host, this.config.ports.http, '--http-port'));
    }
    const address = this.#http.server.address();
    this.#httpPort = typeof address === 'object' && address !== null ? address.port : this.config.ports.http;
    try {
      this.#gossip = await startGossip({
        config: this.config,
        nodeId: this.nodeId,
        dataDir: this.dataDir,
        clock: this.#deps.clock,
        logger: this.#deps.logger,
        httpPort: this.#httpPort,
      });
    } catch (e) {
      throw new AgentStartError(describeListenError(e, 'gossip', this.#httpHost(), this.config.ports.gossip, '--gossip-port'));
    }
  }

  /** --dev keeps the API on loopback: a development agent is never reachable from outside. */
  #httpHost(): string {
    return this.config.dev ? '127.0.0.1' : this.config.bind;
  }

  status(): Status {
    const { clock } = this.#deps;
    return {
      nodeId: this.nodeId,
      version: VERSION,
      leader: null,
      term: 0,
      commitIndex: 0,
      appliedIndex: 0,
      voters: [],
      learners: [],
      epoch: 0,
      state: 'standalone',
      ports: { http: this.#httpPort, rpc: null, gossip: this.#gossip?.port ?? null, dns: null },
      bind: this.#httpHost(),
      dataDir: this.dataDir,
      startedAt: new Date(this.#startedWallMs).toISOString(),
      uptimeSeconds: Math.round((clock.nowMs() - this.#startedMs) / 100) / 10,
    };
  }

  members(): MemberView[] {
    const gossip = this.#gossip;
    if (!gossip) return [];
    const toIso = (monotonicMs: number): string => new Date(this.#deps.clock.wallMs() - (this.#deps.clock.nowMs() - monotonicMs)).toISOString();
    return gossip.membership.members().map((m) => ({
      id: m.id,
      addr: m.addr,
      status: m.status,
      role: 'none',
      incarnation: m.incarnation,
      version: m.meta.version,
      protocol: m.meta.protocol,
      tags: m.meta.tags,
      resources: m.meta.resources,
      rpcAddr: m.meta.rpcAddr,
      httpAddr: m.meta.httpAddr,
      startedAt: new Date(m.meta.startedAtMs).toISOString(),
      statusSince: toIso(m.sinceMs),
    }));
  }

  /**
   * Stops serving and releases the data directory. With leave, first tells the cluster this
   * node is leaving for good (status 'left', not a failure). Idempotent; concurrent calls share
   * one stop.
   */
  stop(options: { leave?: boolean } = {}): Promise<void> {
    this.#stopping ??= this.#stop(options.leave ?? false);
    return this.#stopping;
  }

  async #stop(leave: boolean): Promise<void> {
    const { logger } = this.#deps;
    logger.info({ nodeId: this.nodeId, leave }, 'agent stopping');
    if (this.#gossip && leave) await this.#gossip.leave(LEAVE_TIMEOUT_MS);
    await this.#gossip?.close();
    await this.#http.close();
    await this.#lock.release();
    if (this.#ephemeralDir) await rm(this.dataDir, { recursive: true, force: true });
    logger.info({ nodeId: this.nodeId }, 'agent stopped');
  }
}

export function describeListenError(e: unknown, what: string, host: string, port: number, flag: string): string {
  const code = (e as NodeJS.ErrnoException).code ?? ((e as Error).cause as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EADDRINUSE') return `${what} port ${port} on ${host} is already in use; stop the other process or pass ${flag} (0 picks a free port)`;
  if (code === 'EACCES') return `no permission to listen on ${what} port ${port} on ${host}; use a port above 1023 or run with the needed privileges`;
  if (code === 'EADDRNOTAVAIL') return `cannot listen on ${host}: no such local address; check --bind`;
  return `cannot listen on ${what} ${host}:${port}: ${e instanceof Error ? e.message : String(e)}`;
}
