// The composition root: turns a validated config into a running agent, and back into nothing
// on shutdown. Each later subsystem (membership, Raft, scheduler) is wired in here.
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { AgentConfig } from './config.ts';
import { DataDirError, defaultDataDir, lockDataDir, loadNodeId, makeDevDataDir, type DataDirLock } from './data-dir.ts';
import { createApiServer } from '../api/server.ts';
import { ApiError } from '../api/errors.ts';
import type { KvApi, KvEntryData } from '../api/kv.ts';
import type { RaftView } from '../api/operator.ts';
import type { SessionView } from '../api/sessions.ts';
import type { NodeId } from '../core/raft/types.ts';
import type { MemberView, Status } from '../api/schemas.ts';
import type { ClusterFsm } from '../core/fsm/fsm.ts';
import type { ApplyResult, Command } from '../core/fsm/types.ts';
import { AutopilotRunner } from './autopilot-runner.ts';
import { archiveForRejoin, compareEpochs, Consensus, ConsensusError, forceSoleVoter, raftDir, type EpochId } from './consensus.ts';
import { readKnownPeers, startGossip, type Gossip } from './gossip.ts';
import { AgentSecurity, SecurityError } from './security.ts';
import { BootstrapRunner } from './bootstrap-runner.ts';
import { openRaftState } from '../runtime/raft/open.ts';
import { NodeFileSystem } from '../runtime/storage/node-fs.ts';
import { keyringOutcome, keyringView, requireSecurity, resolveKeyringTarget, clusterKeys } from './keyring-admin.ts';
import type { KeyringChangeResult, KeyringOp, KeyringView } from '../api/keyring.ts';
import { restoreSnapshotFile, saveSnapshotFile } from './snapshot.ts';
import type { RestoreResult, SavedSnapshot } from '../api/snapshot.ts';
import { AgentMetrics, type MetricsExposition, type ProposalOutcome } from './metrics.ts';
import type { Clock, Timer } from '../runtime/clock.ts';
import { formatAddress } from '../runtime/transport/address.ts';
import { VERSION } from '../version.ts';
import { WorkloadHost } from './workload-host.ts';
import { ProcessDriver } from '../drivers/process/driver.ts';
import type { CheckStatus } from '../core/health/status.ts';
import type { HealthPushError } from '../core/health/table.ts';
import type { AllocationHealthView } from '../core/health/view.ts';
import type { Result } from '../core/result.ts';
import { ExecService } from './exec.ts';
import type { ExecRequest, ExecRun } from '../api/exec.ts';
import { JobsService, reconcileNodesFromMembers } from './jobs.ts';
import type { JobHistoryView, JobListEntry, JobPlanView, JobRunResult, JobStatusView, JobStopResult, AllocSummary } from '../api/jobs.ts';
import type { AllocLogsView, AllocRestartResult, AllocView, LogReadOptions } from '../api/allocs.ts';
import type { ServiceSummary, ServiceView } from '../api/services.ts';

/** How long a graceful leave may take to spread before the agent stops anyway. */
const LEAVE_TIMEOUT_MS = 3000;
/** How often a node looks for a newer cluster epoch in gossip, and for a lost majority to auto-recover from. */
const EPOCH_WATCH_MS = 2000;
/** How long a leaving node waits for the leader to take it out of the configuration. */
const LEAVE_CLUSTER_TIMEOUT_MS = 30_000;
/** How long a stopping leader tries to hand leadership over. */
const HANDOVER_TIMEOUT_MS = 3000;

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

export class Agent implements KvApi {
  readonly nodeId: string;
  readonly dataDir: string;
  readonly config: AgentConfig;
  readonly #deps: AgentDeps;
  readonly #http: FastifyInstance;
  readonly #lock: DataDirLock;
  readonly #ephemeralDir: boolean;
  readonly #startedWallMs: number;
  readonly #startedMs: number;
  readonly #metrics: AgentMetrics;
  readonly #security: AgentSecurity;
  readonly #founder: boolean;
  readonly #exec: ExecService;
  readonly #workloads: WorkloadHost;
  /** Listeners of GET /v1/status and /v1/members as live views (onClusterChange). */
  readonly #clusterListeners = new Set<() => void>();
  #unsubscribeConsensus: (() => void)[] = [];
  readonly #jobs: JobsService;
  #httpPort = 0;
  #gossip: Gossip | undefined;
  #consensus: Consensus | undefined;
  #autopilot: AutopilotRunner | undefined;
  #bootstrap: BootstrapRunner | undefined;
  #stopping: Promise<void> | undefined;
  #epochTimer: Timer | undefined;
  #noQuorumSinceMs: number | undefined;
  #leaving: Promise<{ removed: boolean }> | undefined;
  #requestShutdown: () => void = () => undefined;
  /** Resolves when the agent asks its process to stop (after a graceful leave via the API). */
  readonly shutdownRequested: Promise<void> = new Promise((resolve) => (this.#requestShutdown = resolve));

  private constructor(init: {
    config: AgentConfig;
    deps: AgentDeps;
    nodeId: string;
    dataDir: string;
    lock: DataDirLock;
    ephemeralDir: boolean;
    security: AgentSecurity;
    founder: boolean;
  }) {
    this.config = init.config;
    this.#deps = init.deps;
    this.nodeId = init.nodeId;
    this.dataDir = init.dataDir;
    this.#lock = init.lock;
    this.#ephemeralDir = init.ephemeralDir;
    this.#security = init.security;
    this.#founder = init.founder;
    this.#startedWallMs = init.deps.clock.wallMs();
    this.#startedMs = init.deps.clock.nowMs();
    this.#metrics = this.#createMetrics();
    this.#exec = new ExecService({
      nodeId: this.nodeId,
      dataDir: this.dataDir,
      enabled: this.config.exec.enabled,
      securityMode: init.security.mode,
      clock: init.deps.clock,
      logger: init.deps.logger,
      env: process.env,
      members: () => this.members(),
      // The event log records who ran what where (best effort: an exec needs no quorum).
      audit: (message) =>
        void this.#propose({ type: 'note', atMs: this.#wallMs(), kind: 'exec.run', subject: this.nodeId, message }).catch((e: unknown) =>
          init.deps.logger.warn({ err: e instanceof Error ? e.message : String(e) }, 'could not record an exec run in the event log'),
        ),
    });
    this.#workloads = new WorkloadHost({
      nodeId: this.nodeId,
      dataDir: this.dataDir,
      config: this.config,
      drivers: [new ProcessDriver({ clock: init.deps.clock, onWarning: (w) => init.deps.logger.warn(w, 'workload driver warning') })],
      apiUrl: () => this.#apiUrl(),
      clock: init.deps.clock,
      logger: init.deps.logger,
    });
    this.#jobs = new JobsService({
      state: async (stale) => (await this.#readable(stale)).machine.fsm,
      propose: (command) => this.#propose(command),
      // Gossip's view on the state machine's (wall-clock) time base, like allocation times.
      nodes: () => reconcileNodesFromMembers(this.#gossip?.membership.members() ?? [], this.#consensus?.machine.fsm, init.deps.clock),
      leader: () => this.#consensus?.node.status().leader,
      settings: () => ({ lostGraceMs: this.config.workloads.lostGraceMs, minNodes: this.config.cluster.minNodes, belowMinNodes: this.config.cluster.belowMinNodes }),
      wallMs: () => init.deps.clock.wallMs(),
      allocOps: () => ({
        logs: (alloc, o) => this.#workloads.logs(alloc, o.stream, o.offset, o.limit),
        restart: (alloc) => this.#workloads.restart(alloc),
      }),
    });
    this.#http = createApiServer({
      agent: this,
      logger: init.deps.logger,
      authorize: (header, request) => {
        // A workload's own token reaches its allocation's health routes and nothing else.
        if (this.#workloads.admitsAllocToken(header, request.method, request.url)) return;
        init.security.authorize(header);
      },
    });
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
      // Only a node that has never seen peers originates a cluster: one whose Raft state was
      // moved away (or lost) but remembers peers must rejoin them, not start a second cluster.
      // With --bootstrap-expect N > 1 nobody originates alone: the N nodes agree first.
      const founder = (config.bootstrapExpect ?? 1) === 1 && config.join.length === 0 && (await readKnownPeers(dataDir, deps.logger)).length === 0;
      const security = await AgentSecurity.prepare({ config, nodeId, dataDir, founder, clock: deps.clock, logger: deps.logger });
      agent = new Agent({ config, deps, nodeId, dataDir, lock, ephemeralDir, security, founder });
      await agent.#listen();
      // Where to point a browser or the CLI: the wildcard addresses answer on loopback too.
      const url = agent.#apiUrl();
      deps.logger.info({ nodeId, url, dataDir, version: VERSION, ports: agent.status().ports }, 'agent started');
      return agent;
    } catch (e) {
      if (agent) await agent.stop();
      else {
        await lock.release();
        if (ephemeralDir) await rm(dataDir, { recursive: true, force: true });
      }
      throw e instanceof DataDirError || e instanceof SecurityError ? new AgentStartError(e.message) : e;
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
    // RPC before gossip: gossip publishes the RPC address, and with port 0 it is known only now.
    try {
      this.#consensus = await Consensus.start({
        nodeId: this.nodeId,
        dataDir: this.dataDir,
        host,
        port: this.config.ports.rpc,
        founder: this.#founder,
        tls: this.#security.rpcTls(),
        clock: this.#deps.clock,
        logger: this.#deps.logger,
      });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new AgentStartError(code === undefined ? (e as Error).message : describeListenError(e, 'RPC', host, this.config.ports.rpc, '--rpc-port'));
    }
    this.#feedMetrics(this.#consensus);
    try {
      this.#gossip = await startGossip({
        config: this.config,
        nodeId: this.nodeId,
        dataDir: this.dataDir,
        clock: this.#deps.clock,
        logger: this.#deps.logger,
        httpPort: this.#httpPort,
        rpcPort: this.#consensus.port,
        epoch: this.#consensus.epoch,
        epochOrigin: this.#consensus.epochOrigin,
        keyring: this.#security.keyring,
        ...(this.#awaitingBootstrap() ? { bootstrap: { expect: this.config.bootstrapExpect!, voters: [] } } : {}),
      });
    } catch (e) {
      throw new AgentStartError(describeListenError(e, 'gossip', this.#httpHost(), this.config.ports.gossip, '--gossip-port'));
    }
    this.#security.attach(this.#gossip, () => this.#consensus);
    this.#gossip.membership.subscribe(() => this.#clusterChanged());
    // Workloads an earlier agent left running are taken up before the state says what to run.
    try {
      await this.#workloads.start(this.#httpHost());
    } catch (e) {
      throw new AgentStartError(describeListenError(e, 'DNS', this.#httpHost(), this.config.ports.dns, '--dns-port'));
    }
    if (this.#awaitingBootstrap()) await this.#startBootstrap(this.#gossip);
    await this.#runConsensus(this.#consensus, this.#gossip);
    this.#scheduleEpochWatch();
  }

  /** --bootstrap-expect N > 1 on a node with no Raft state yet: it waits for the group. */
  #awaitingBootstrap(): boolean {
    const expect = this.config.bootstrapExpect ?? 1;
    return expect > 1 && !this.#inConfiguration();
  }

  #inConfiguration(): boolean {
    const config = this.#consensus?.node.status().config;
    return config !== undefined && config.voters.length + config.learners.length > 0;
  }

  async #startBootstrap(gossip: Gossip): Promise<void> {
    this.#bootstrap = await BootstrapRunner.start({
      nodeId: this.nodeId,
      expect: this.config.bootstrapExpect!,
      dataDir: this.dataDir,
      gossip,
      keyring: this.#security.keyring,
      clock: this.#deps.clock,
      logger: this.#deps.logger,
      formed: () => this.#inConfiguration(),
      form: async (voters, originator) => {
        if (originator) await this.#security.originate();
        await this.#restartConsensus(async () => {
          const opened = await openRaftState(new NodeFileSystem(), raftDir(this.dataDir), { bootstrap: { voters: voters as NodeId[], learners: [] } });
          if (!opened.ok) throw new Error(`cannot form the cluster: ${opened.error.message}`);
          await opened.value.storage.close();
        });
      },
    });
  }

  /** Connects a started consensus to gossip, lets a sole voter lead, and starts the autopilot. */
  async #runConsensus(consensus: Consensus, gossip: Gossip): Promise<void> {
    consensus.attachMembership(gossip.membership);
    this.#exec.attach(consensus.rpc);
    this.#workloads.attach(consensus, gossip.membership);
    for (const u of this.#unsubscribeConsensus.splice(0)) u();
    this.#unsubscribeConsensus.push(
      consensus.node.subscribeSoftState(() => this.#clusterChanged()),
      consensus.machine.fsm.subscribe(() => this.#clusterChanged()),
    );
    this.#clusterChanged();
    await consensus.settleSoleVoter(5000);
    this.#autopilot = new AutopilotRunner({
      settings: this.config.autopilot,
      consensus,
      membership: gossip.membership,
      clock: this.#deps.clock,
      logger: this.#deps.logger,
    });
    this.#autopilot.start();
  }

  /**
   * Stops consensus, lets `change` rewrite the Raft state on disk, and starts it again on the
   * same RPC port (peers find it where gossip says it is). Serialized: one restart at a time.
   */
  async #restartConsensus(change: () => Promise<void>): Promise<Consensus> {
    const old = this.#consensus;
    const gossip = this.#gossip;
    if (old === undefined || gossip === undefined) throw new ApiError('unavailable', 'the agent is starting or stopping');
    const port = old.port;
    this.#autopilot?.stop();
    this.#workloads.detach();
    this.#consensus = undefined;
    await old.close();
    let changeError: unknown;
    // Whatever the change did, consensus starts again on what is on disk (RaftStorage keeps it
    // consistent), so a failed recovery leaves the node as it was rather than without Raft.
    await change().catch((e: unknown) => (changeError = e));
    const next = await Consensus.start({
      nodeId: this.nodeId,
      dataDir: this.dataDir,
      host: this.#httpHost(),
      port,
      founder: false,
      tls: this.#security.rpcTls(),
      clock: this.#deps.clock,
      logger: this.#deps.logger,
    });
    this.#consensus = next;
    this.#feedMetrics(next);
    gossip.setEpoch(next.epoch, next.epochOrigin);
    await this.#runConsensus(next, gossip);
    if (changeError !== undefined) throw changeError instanceof Error ? changeError : new Error(String(changeError));
    return next;
  }

  /**
   * A node of an older epoch rejoins fresh once gossip shows a member of a newer epoch (an
   * operator recovered the cluster): the newer epoch wins, deterministically, even where the old
   * voters could still form a majority (returning together after the recovery) - otherwise two
   * clusters would run side by side. Its Raft state is moved aside, never deleted, and the new
   * cluster's leader adds it back.
   */
  #scheduleEpochWatch(): void {
    this.#epochTimer = this.#deps.clock.setTimer(EPOCH_WATCH_MS, () => {
      // One loop for both epoch changes, so a recovery and a rejoin never run at once.
      void this.#autoRecoverTick()
        .then(() => this.#checkEpoch())
        .catch((e: unknown) => this.#deps.logger.error({ err: e instanceof Error ? e.message : String(e) }, 'changing the cluster epoch failed; retrying'))
        .finally(() => {
          if (this.#stopping === undefined) this.#scheduleEpochWatch();
        });
    });
  }

  async #checkEpoch(): Promise<void> {
    const consensus = this.#consensus;
    const gossip = this.#gossip;
    if (consensus === undefined || gossip === undefined || this.#stopping !== undefined) return;
    const ours: EpochId = { epoch: consensus.epoch, origin: consensus.epochOrigin };
    let newest = ours;
    for (const m of gossip.membership.members()) {
      if (m.status !== 'alive') continue;
      const theirs: EpochId = { epoch: m.meta.epoch ?? 1, origin: m.meta.epochOrigin };
      if (compareEpochs(theirs, newest) > 0) newest = theirs;
    }
    if (newest === ours) return;
    const { logger } = this.#deps;
    await this.#restartConsensus(async () => {
      const aside = await archiveForRejoin(this.dataDir, newest, this.#deps.clock.wallMs());
      logger.warn(
        { oldEpoch: ours.epoch, oldOrigin: ours.origin, epoch: newest.epoch, origin: newest.origin, movedTo: aside },
        newest.epoch === ours.epoch
          ? 'two recoveries started this epoch on the two sides of a partition; the other one wins (larger origin), so this node moved its Raft state aside and rejoins it fresh'
          : 'this node belongs to an older cluster epoch (the cluster was recovered elsewhere); its Raft state was moved aside and it rejoins fresh',
      );
    });
  }

  /**
   * Operator recover (DESIGN.md, Quorum loss): on a survivor of a lost majority, force a new
   * configuration with this node as the only voter, from its log, in a new epoch. Refused while a
   * leader serves, and when a reachable member has a fresher log (recover there instead).
   */
  async recover(trigger: 'operator' | 'auto' = 'operator'): Promise<{ epoch: number; term: number; index: number }> {
    const consensus = this.#consensus;
    if (consensus === undefined) throw new ApiError('unavailable', 'the agent is starting or stopping');
    const status = consensus.node.status();
    if (status.leader !== undefined) throw new ApiError('conflict', `a leader (${status.leader}) is serving: recovery is only for a cluster that lost its majority`);
    if (!status.config.voters.includes(this.nodeId as NodeId)) throw new ApiError('conflict', 'this node is not a voter: recover on a surviving voter');
    for (const id of [...status.config.voters, ...status.config.learners]) {
      if (id === this.nodeId) continue;
      const theirs = await consensus.logPositionOf(id);
      if (theirs === undefined || theirs.epoch !== consensus.epoch) continue;
      const fresher = theirs.lastTerm > status.lastTerm || (theirs.lastTerm === status.lastTerm && theirs.lastIndex > status.lastIndex);
      // Two automatic recoveries with equal logs: only the lower node ID goes ahead.
      const tie = trigger === 'auto' && theirs.lastTerm === status.lastTerm && theirs.lastIndex === status.lastIndex && id < this.nodeId;
      if (fresher || tie) {
        throw new ApiError('conflict', `${id} has a fresher log (term ${theirs.lastTerm}, index ${theirs.lastIndex}; here: term ${status.lastTerm}, index ${status.lastIndex}): run the recovery there`);
      }
    }
    let outcome = { epoch: 0, term: 0, index: 0 };
    const { logger } = this.#deps;
    const next = await this.#restartConsensus(async () => {
      outcome = await forceSoleVoter(this.dataDir, this.nodeId);
      logger.warn(outcome, `${trigger === 'auto' ? 'autoRecover' : 'operator recover'}: this node is now the only voter of a new cluster epoch; the autopilot adds the other nodes back as they return`);
    });
    const why = trigger === 'auto' ? `automatically, after ${this.config.autopilot.autoRecoverMs} ms without a quorum (autoRecover), ` : '';
    await next
      .propose({ type: 'note', atMs: this.#wallMs(), kind: trigger === 'auto' ? 'auto.recover' : 'operator.recover', subject: this.nodeId, message: `${why}forced a new configuration with ${this.nodeId} as the only voter, starting epoch ${outcome.epoch} at index ${outcome.index}` })
      .catch(() => undefined);
    return outcome;
  }

  /**
   * autoRecover (opt-in, DESIGN.md Quorum loss): a voter that has seen no quorum for the
   * configured time, while gossip shows a majority of the voters gone, recovers by itself if no
   * reachable member has a fresher log. Both sides of a long partition may do so: their epochs
   * then share a number but not an origin, and when they meet the larger origin wins and the
   * other side moves its Raft state aside and rejoins (its writes since the split are kept on
   * disk, not in the cluster). That is why it is off by default.
   */
  async #autoRecoverTick(): Promise<void> {
    const limitMs = this.config.autopilot.autoRecoverMs;
    const consensus = this.#consensus;
    const gossip = this.#gossip;
    if (limitMs === undefined || consensus === undefined || gossip === undefined || this.#stopping !== undefined) return;
    const now = this.#deps.clock.nowMs();
    if (consensus.state() !== 'no-quorum') {
      this.#noQuorumSinceMs = undefined;
      return;
    }
    this.#noQuorumSinceMs ??= now;
    if (now - this.#noQuorumSinceMs < limitMs) return;
    const { voters } = consensus.node.status().config;
    if (!voters.includes(this.nodeId as NodeId)) return;
    const alive = voters.filter((id) => id === this.nodeId || gossip.membership.swim.member(id)?.status === 'alive');
    if (alive.length * 2 > voters.length) return; // a majority is alive by gossip: not a lost majority
    this.#noQuorumSinceMs = undefined;
    try {
      const outcome = await this.recover('auto');
      this.#deps.logger.warn({ ...outcome, afterMs: limitMs }, 'recovered automatically from the loss of a majority (autoRecover)');
    } catch (e) {
      this.#deps.logger.info({ reason: e instanceof Error ? e.message : String(e) }, 'autoRecover: not recovering here');
    }
  }



  /** Where this agent's API answers locally (the wildcard addresses answer on loopback too). */
  #apiUrl(): string {
    const host = this.#httpHost();
    return `http://${formatAddress(host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host, this.#httpPort)}`;
  }

  /** --dev keeps the API on loopback: a development agent is never reachable from outside. */
  #httpHost(): string {
    return this.config.dev ? '127.0.0.1' : this.config.bind;
  }

  status(): Status {
    const { clock } = this.#deps;
    const raft = this.#consensus?.node.status();
    return {
      nodeId: this.nodeId,
      version: VERSION,
      leader: raft?.leader ?? null,
      term: raft?.term ?? 0,
      commitIndex: raft?.commit ?? 0,
      appliedIndex: raft?.applied ?? 0,
      voters: [...(raft?.config.voters ?? [])].sort(),
      learners: [...(raft?.config.learners ?? [])].sort(),
      epoch: this.#consensus?.epoch ?? 0,
      state: this.#clusterState(),
      ports: { http: this.#httpPort, rpc: this.#consensus?.port ?? null, gossip: this.#gossip?.port ?? null, dns: this.#workloads.dnsPort || null },
      bind: this.#httpHost(),
      security: { mode: this.#security.mode, certified: this.#security.certified },
      drivers: this.#workloads.runner.capabilities(),
      dataDir: this.dataDir,
      ...this.#diskFull(),
      startedAt: new Date(this.#startedWallMs).toISOString(),
      uptimeSeconds: Math.round((clock.nowMs() - this.#startedMs) / 100) / 10,
    };
  }

  #diskFull(): Pick<Status, 'diskFull'> {
    const full = this.#consensus?.node.diskFull;
    if (full === undefined) return {};
    const sinceWallMs = this.#startedWallMs + (full.sinceMs - this.#startedMs);
    return { diskFull: { since: new Date(sinceWallMs).toISOString(), detail: full.error } };
  }

  /**
   * Consensus state, except that a working cluster with fewer alive nodes than cluster.minNodes
   * reports waiting-for-nodes (workloads are gated on it; consensus itself runs regardless).
   */
  #clusterState(): Status['state'] {
    const state = this.#consensus?.state() ?? 'electing';
    if (state !== 'active') return state;
    const alive = this.#gossip?.membership.members().filter((m) => m.status === 'alive').length ?? 0;
    return alive < this.config.cluster.minNodes ? 'waiting-for-nodes' : 'active';
  }

  onClusterChange(fn: () => void): () => void {
    this.#clusterListeners.add(fn);
    return () => this.#clusterListeners.delete(fn);
  }

  #clusterChanged(): void {
    for (const fn of this.#clusterListeners) fn();
  }

  members(): MemberView[] {
    const gossip = this.#gossip;
    if (!gossip) return [];
    // One fixed offset from monotonic to wall time (taken at start): recomputing it per request
    // moved a member's statusSince by a millisecond between requests, which the dashboard took
    // for status changes.
    const toIso = (monotonicMs: number): string => new Date(Math.round(this.#startedWallMs - this.#startedMs + monotonicMs)).toISOString();
    const raft = this.#consensus?.node.status();
    const roleOf = (id: string): MemberView['role'] => {
      if (raft === undefined) return 'none';
      if (raft.leader === id) return 'leader';
      if (raft.config.voters.some((v) => v === id)) return 'voter';
      if (raft.config.learners.some((l) => l === id)) return 'learner';
      return 'none';
    };
    return gossip.membership.members().map((m) => ({
      id: m.id,
      addr: m.addr,
      status: m.status,
      role: roleOf(m.id),
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

  async kvPut(key: string, value: Uint8Array, cas: number | undefined, session?: string): Promise<{ revision: number }> {
    const command: Command = {
      type: 'kv.put',
      atMs: this.#wallMs(),
      key,
      value,
      ...(cas === undefined ? {} : { ifModRevision: cas }),
      ...(session === undefined ? {} : { session }),
    };
    return { revision: writeOutcome(await this.#propose(command), key) };
  }

  async sessionCreate(ttlMs: number, owner: string): Promise<SessionView> {
    const id = randomUUID();
    writeOutcome(await this.#propose({ type: 'session.create', atMs: this.#wallMs(), id, ttlMs, owner }), id);
    return this.#sessionView(id);
  }

  async sessionRenew(id: string): Promise<SessionView> {
    const result = await this.#propose({ type: 'session.keepalive', atMs: this.#wallMs(), id });
    if (!result.ok && result.code === 'not-found') throw new ApiError('not-found', `no session ${JSON.stringify(id)}: it expired or was released; create a new one`);
    writeOutcome(result, id);
    return this.#sessionView(id);
  }

  async sessionRelease(id: string): Promise<void> {
    const result = await this.#propose({ type: 'session.destroy', atMs: this.#wallMs(), id, reason: 'released' });
    if (!result.ok && result.code === 'not-found') throw new ApiError('not-found', `no session ${JSON.stringify(id)}: it expired or was released`);
    writeOutcome(result, id);
  }

  async sessionList(stale: boolean): Promise<SessionView[]> {
    const consensus = await this.#readable(stale);
    return consensus.machine.fsm.sessions().map((x) => ({ id: x.id, owner: x.owner, ttlMs: x.ttlMs, expiresAtMs: x.expiresAtMs }));
  }

  /** The session as applied here, after a read barrier (the write may have gone to the leader). */
  async #sessionView(id: string): Promise<SessionView> {
    const consensus = await this.#readable(false);
    const x = consensus.machine.fsm.session(id);
    if (x === undefined) throw new ApiError('not-found', `no session ${JSON.stringify(id)}`);
    return { id: x.id, owner: x.owner, ttlMs: x.ttlMs, expiresAtMs: x.expiresAtMs };
  }

  async kvDelete(key: string, cas: number | undefined): Promise<{ revision: number }> {
    const command: Command = cas === undefined ? { type: 'kv.delete', atMs: this.#wallMs(), key } : { type: 'kv.delete', atMs: this.#wallMs(), key, ifModRevision: cas };
    return { revision: writeOutcome(await this.#propose(command), key) };
  }

  async kvGet(key: string, stale: boolean): Promise<KvEntryData | undefined> {
    const consensus = await this.#readable(stale);
    return consensus.machine.fsm.get(key);
  }

  async kvList(prefix: string, limit: number, stale: boolean): Promise<{ entries: KvEntryData[]; more: boolean; revision: number }> {
    const consensus = await this.#readable(stale);
    const listed = consensus.machine.fsm.list(prefix, limit);
    return { ...listed, revision: consensus.machine.fsm.revision };
  }

  raftView(): RaftView {
    const consensus = this.#consensus;
    if (consensus === undefined) throw new ApiError('unavailable', 'the agent is starting or stopping');
    const status = consensus.node.status();
    const isLeader = status.role === 'leader';
    const peerOf = (id: NodeId, role: RaftView['peers'][number]['role']): RaftView['peers'][number] => {
      const p = status.progress.get(id);
      const self = id === this.nodeId;
      return {
        id,
        role,
        address: self ? `${this.#httpHost()}:${consensus.port}` : (consensus.addressOf(id) ?? null),
        match: isLeader ? (self ? status.stable : (p?.match ?? 0)) : null,
        lag: isLeader ? status.lastIndex - (self ? status.stable : (p?.match ?? 0)) : null,
        active: isLeader ? (self ? true : (p?.recentActive ?? false)) : null,
        replication: isLeader && !self ? (p?.state ?? null) : null,
      };
    };
    const leaderHttp = status.leader === undefined ? undefined : this.#gossip?.membership.members().find((m) => m.id === status.leader)?.meta.httpAddr;
    return {
      nodeId: this.nodeId,
      leader: status.leader ?? null,
      leaderHttpAddr: leaderHttp ?? null,
      isLeader,
      term: status.term,
      commitIndex: status.commit,
      lastIndex: status.lastIndex,
      peers: [
        ...[...status.config.voters].sort().map((id) => peerOf(id, id === status.leader ? 'leader' : 'voter')),
        ...[...status.config.learners].sort().map((id) => peerOf(id, 'learner')),
      ],
    };
  }

  // --- Gossip keyring (src/api/keyring.ts; rules in src/core/fsm/security.ts) ---------------

  /** The cluster's keyring (linearizable unless stale) and the one this node uses right now. */
  async keyringView(stale: boolean): Promise<KeyringView> {
    const state = requireSecurity((await this.#readable(stale)).machine.fsm.security, this.#security.mode);
    return keyringView(this.nodeId, state, this.#security.keyring?.keys, this.#security.mode);
  }

  /** install, use or remove a gossip key; every node follows within about a second (AgentSecurity). */
  async keyringChange(op: KeyringOp, keyOrFingerprint: string): Promise<KeyringChangeResult> {
    // Linearizable: a fingerprint names a key installed a moment ago through another node.
    const before = requireSecurity((await this.#readable(false)).machine.fsm.security, this.#security.mode);
    const target = resolveKeyringTarget(before, op, keyOrFingerprint);
    keyringOutcome(await this.#propose({ type: 'security.keyring', atMs: this.#wallMs(), op, key: target.key }), target, this.#security.mode);
    // The change applied on the leader; read it here once this node has caught up.
    const after = requireSecurity((await this.#readable(false)).machine.fsm.security, this.#security.mode);
    return { op, fingerprint: target.fingerprint, ...clusterKeys(after) };
  }

  /** POST /v1/exec: picks the targets of a remote exec run (src/agent/exec.ts). */
  execPrepare(request: ExecRequest): ExecRun {
    return this.#exec.prepare(request);
  }

  // --- Health (src/api/health.ts) ----------------------------------------------------------------

  healthPush(allocId: string, check: string, status: CheckStatus, output: string | undefined): Result<void, HealthPushError> {
    return this.#workloads.healthPush(allocId, check, status, output);
  }

  healthStatus(allocId: string): AllocationHealthView | undefined {
    return this.#workloads.healthStatus(allocId);
  }

  // --- Jobs, allocations, services (src/api/jobs.ts, allocs.ts, services.ts; src/agent/jobs.ts) ---

  jobRun(spec: unknown): Promise<JobRunResult> {
    return this.#jobs.run(spec);
  }

  jobPlan(spec: unknown, stale: boolean): Promise<JobPlanView> {
    return this.#jobs.plan(spec, stale);
  }

  jobList(stale: boolean): Promise<JobListEntry[]> {
    return this.#jobs.list(stale);
  }

  jobStatus(name: string, stale: boolean): Promise<JobStatusView> {
    return this.#jobs.status(name, stale);
  }

  jobStop(name: string, purge: boolean): Promise<JobStopResult> {
    return this.#jobs.stop(name, purge);
  }

  jobHistory(name: string, stale: boolean): Promise<JobHistoryView> {
    return this.#jobs.history(name, stale);
  }

  allocList(filter: { job?: string; node?: string }, stale: boolean): Promise<AllocSummary[]> {
    return this.#jobs.allocs(filter, stale);
  }

  allocGet(idOrPrefix: string, stale: boolean): Promise<AllocView> {
    return this.#jobs.alloc(idOrPrefix, stale);
  }

  allocLogs(idOrPrefix: string, options: LogReadOptions): Promise<AllocLogsView> {
    return this.#jobs.logs(idOrPrefix, options);
  }

  allocRestart(idOrPrefix: string): Promise<AllocRestartResult> {
    return this.#jobs.restart(idOrPrefix);
  }

  serviceList(stale: boolean): Promise<ServiceSummary[]> {
    return this.#jobs.services(stale);
  }

  serviceGet(name: string, options: { passing: boolean }, stale: boolean): Promise<ServiceView> {
    return this.#jobs.service(name, options, stale);
  }

  fsm(): ClusterFsm | undefined {
    return this.#consensus?.machine.fsm;
  }

  async readBarrier(stale: boolean): Promise<void> {
    await this.#readable(stale);
  }

  /** GET /v1/snapshot: the replicated state as a snapshot file, at a linearizable point unless stale. */
  async snapshotSave(stale: boolean): Promise<SavedSnapshot> {
    const consensus = await this.#readable(stale);
    return saveSnapshotFile(consensus.machine.fsm, { nodeId: this.nodeId, epoch: consensus.epoch, createdAtMs: this.#wallMs() });
  }

  /** PUT /v1/snapshot: restores a snapshot file into the running cluster through Raft (src/agent/snapshot.ts). */
  snapshotRestore(file: Uint8Array): Promise<RestoreResult> {
    const { clock } = this.#deps;
    return restoreSnapshotFile(file, {
      propose: (command) => this.#propose(command),
      wallMs: () => this.#wallMs(),
      nowMs: () => clock.nowMs(),
      sleep: (ms) => new Promise<void>((resolve) => clock.setTimer(ms, resolve)),
      readState: async () => (await this.#readable(false)).machine.fsm,
    });
  }

  #wallMs(): number {
    return Math.round(this.#deps.clock.wallMs());
  }

  async #propose(command: Command): Promise<ApplyResult> {
    const startedMs = this.#deps.clock.nowMs();
    const settled = (outcome: ProposalOutcome): void => this.#metrics.observeProposal(command.type, outcome, this.#deps.clock.nowMs() - startedMs);
    const consensus = this.#consensus;
    if (consensus === undefined) {
      settled({ kind: 'failed', code: 'unavailable' });
      throw new ApiError('unavailable', 'the agent is starting or stopping');
    }
    try {
      const result = await consensus.propose(command);
      settled(result.ok ? { kind: 'applied' } : { kind: 'refused', code: result.code });
      return result;
    } catch (e) {
      settled({ kind: 'failed', code: e instanceof ConsensusError ? e.code : 'unavailable' });
      throw apiErrorOf(e);
    }
  }

  /** GET /metrics: this agent's metrics in the Prometheus text format. */
  metrics(): Promise<MetricsExposition> {
    return this.#metrics.exposition();
  }

  /** One registry per agent (src/agent/metrics.ts), reading the agent's state at scrape time. */
  #createMetrics(): AgentMetrics {
    return new AgentMetrics({
      nodeId: this.nodeId,
      version: VERSION,
      sources: {
        raft: () => this.#consensus?.node.status(),
        clusterState: () => this.status().state,
        memberStatuses: () => this.#gossip?.membership.members().map((m) => m.status) ?? [],
        gossip: () => this.#gossip?.membership.counters,
        rpc: () => {
          const rpc = this.#consensus?.rpc;
          return rpc === undefined ? undefined : { counters: rpc.counters, inboundConnections: rpc.inboundConnections };
        },
        kv: () => {
          const fsm = this.#consensus?.machine.fsm;
          if (fsm === undefined) return undefined;
          return { revision: fsm.revision, keys: fsm.keyCount };
        },
      },
    });
  }

  /** Events the state does not keep: leader changes (Raft soft state) and RPC request latencies. */
  #feedMetrics(consensus: Consensus): void {
    // The node may have elected itself before this subscription: count the leader it has now.
    this.#metrics.observeLeader(consensus.node.status());
    consensus.node.subscribeSoftState((s) => this.#metrics.observeLeader(s));
    consensus.rpc.observeRequests((method, outcome, elapsedMs) => this.#metrics.observeRpcRequest(method, outcome, elapsedMs));
  }

  /** The consensus, once a read on it is linearizable (unless stale reads were asked for). */
  async #readable(stale: boolean): Promise<Consensus> {
    const consensus = this.#consensus;
    if (consensus === undefined) throw new ApiError('unavailable', 'the agent is starting or stopping');
    if (!stale) {
      try {
        await consensus.linearizableRead();
      } catch (e) {
        throw apiErrorOf(e);
      }
    }
    return consensus;
  }

  /**
   * Leaves the cluster for good (POST /v1/leave, `sappers leave`): the leader takes this node out
   * of the configuration (handing leadership over first when this node leads), then the agent
   * asks its process to stop, which gossips the leave. Idempotent.
   */
  leave(): Promise<{ removed: boolean }> {
    this.#leaving ??= (async () => {
      const consensus = this.#consensus;
      const removed = consensus === undefined ? true : await consensus.leaveCluster(LEAVE_CLUSTER_TIMEOUT_MS);
      this.#deps.logger.info({ removed }, removed ? 'left the cluster configuration' : 'the leader did not remove this node in time; stopping anyway (the autopilot removes it later)');
      this.#requestShutdown();
      return { removed };
    })();
    return this.#leaving;
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
    this.#autopilot?.stop();
    this.#epochTimer?.cancel();
    this.#security.close();
    this.#bootstrap?.stop();
    await this.#exec.close();
    // Leaving for good stops this node's workloads (the leader places them elsewhere), and so
    // does a --dev agent whose data directory goes with it; a plain stop leaves them running
    // for the next agent to take up.
    await this.#workloads.stop(leave || this.#leaving !== undefined || this.#ephemeralDir);
    // A leader that stops hands over first: the others need not wait out an election timeout.
    await this.#consensus?.handOverLeadership(HANDOVER_TIMEOUT_MS);
    if (this.#gossip && leave) await this.#gossip.leave(LEAVE_TIMEOUT_MS);
    await this.#consensus?.close();
    await this.#gossip?.close();
    await this.#http.close();
    await this.#lock.release();
    if (this.#ephemeralDir) await rm(this.dataDir, { recursive: true, force: true });
    logger.info({ nodeId: this.nodeId }, 'agent stopped');
  }
}

// --- KV (src/api/kv.ts) ----------------------------------------------------------------------

/** The revision a write produced, or the API error its refusal maps to. */
function writeOutcome(result: ApplyResult, key: string): number {
  if (result.ok) return result.revision;
  switch (result.code) {
    case 'cas-mismatch':
      throw new ApiError('conflict', `compare-and-swap failed on ${JSON.stringify(key)}: its modRevision is ${result.modRevision}${result.modRevision === 0 ? ' (the key does not exist)' : ''}`);
    case 'not-found':
      throw new ApiError('not-found', `no key ${JSON.stringify(key)}`);
    case 'no-session':
      throw new ApiError('bad-request', `no session ${JSON.stringify(result.session)}`);
    case 'invalid':
      throw new ApiError('bad-request', result.reason);
    default:
      throw new ApiError('conflict', `write refused: ${result.code}`);
  }
}

function apiErrorOf(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  if (e instanceof ConsensusError) {
    switch (e.code) {
      case 'no-leader':
        return new ApiError('no-leader', e.message);
      case 'timeout':
        return new ApiError('timeout', e.message);
      case 'too-large':
        return new ApiError('payload-too-large', e.message);
      case 'no-space':
        return new ApiError('insufficient-storage', e.message);
      case 'unavailable':
      case 'stopped':
        return new ApiError('unavailable', e.message);
    }
  }
  return new ApiError('unavailable', e instanceof Error ? e.message : String(e));
}

export function describeListenError(e: unknown, what: string, host: string, port: number, flag: string): string {
  const code = (e as NodeJS.ErrnoException).code ?? ((e as Error).cause as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EADDRINUSE') return `${what} port ${port} on ${host} is already in use; stop the other process or pass ${flag} (0 picks a free port)`;
  if (code === 'EACCES') return `no permission to listen on ${what} port ${port} on ${host}; use a port above 1023 or run with the needed privileges`;
  if (code === 'EADDRNOTAVAIL') return `cannot listen on ${host}: no such local address; check --bind`;
  return `cannot listen on ${what} ${host}:${port}: ${e instanceof Error ? e.message : String(e)}`;
}
