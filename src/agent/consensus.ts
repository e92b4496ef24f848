// Wires Raft into the agent: the RPC listener (Raft traffic and forwarded writes), the node's
// durable state under <dataDir>/raft, the replicated state machine, and write forwarding: a
// write sent to any node is proposed on the leader (DESIGN.md, HTTP API), reads wait for a
// ReadIndex point unless stale reads were asked for.
//
// Peers are keyed by node ID; their RPC address comes from gossip metadata (DESIGN.md,
// Identity), so a node that changes address is found again once gossip says where it is.

import { randomBytes } from 'node:crypto';
import { mkdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { SeededRandom } from '../core/random.ts';
import type { ApplyResult, Command } from '../core/fsm/types.ts';
import type { NodeId } from '../core/raft/types.ts';
import type { Clock } from '../runtime/clock.ts';
import { FsmMachine } from '../runtime/fsm-machine.ts';
import type { Membership } from '../runtime/membership.ts';
import { RaftNode, RaftNodeError } from '../runtime/raft/node.ts';
import { openRaftState } from '../runtime/raft/open.ts';
import { readAtomic, writeAtomic } from '../runtime/storage/atomic-file.ts';
import { NodeFileSystem } from '../runtime/storage/node-fs.ts';
import { RaftStorage } from '../runtime/storage/raft-storage.ts';
import { TcpRpcTransport, type RpcTlsOptions } from '../runtime/transport/rpc.ts';
import { TransportError } from '../runtime/transport/types.ts';
import { decodeApplyResult, decodeCommand, encodeApplyResult, encodeCommand } from '../wire/fsm.ts';
import { createWireCodec } from '../wire/messages.ts';
import type { Logger } from './log.ts';

/** RPC method a follower uses to hand a write to the leader. */
export const FORWARD_METHOD = 'fsm.propose';
/** RPC method operator recover uses to find the survivor with the freshest log. */
export const LOG_POSITION_METHOD = 'cluster.log-position';
/** RPC method a departing node uses to ask the leader to take it out of the configuration. */
export const LEAVE_METHOD = 'cluster.leave';
/** How long a leave request is remembered by the leader (the departing node keeps asking). */
const LEAVING_TTL_MS = 30_000;
const FORWARD_TIMEOUT_MS = 10_000;
/** A node that has heard no leader for this long reports no-quorum, not an election. */
const NO_QUORUM_AFTER_MS = 5_000;

export type ConsensusState = 'active' | 'electing' | 'no-quorum' | 'joining';

export type ConsensusErrorCode = 'no-leader' | 'timeout' | 'unavailable' | 'too-large' | 'no-space' | 'stopped';

/** A write or read that could not be served; `retryable` ones may succeed a moment later. */
export class ConsensusError extends Error {
  readonly code: ConsensusErrorCode;
  constructor(code: ConsensusErrorCode, message: string) {
    super(message);
    this.name = 'ConsensusError';
    this.code = code;
  }
}

/** The Raft state's directory under the agent's data directory. */
export function raftDir(dataDir: string): string {
  return join(dataDir, 'raft');
}

/**
 * The cluster epoch (DESIGN.md, Quorum loss): 1 for a cluster's whole life unless an operator
 * recovery forces a new configuration, which starts the next epoch. Raft traffic carries it, so
 * members of an older epoch are refused instead of mixing two histories.
 */
export async function readEpoch(dataDir: string): Promise<number> {
  return (await readEpochId(dataDir)).epoch;
}

/**
 * An epoch with the node whose recovery started it. Two recoveries can start "the same" epoch
 * number on the two sides of a partition (autoRecover); the origin keeps their Raft traffic
 * apart and decides, when they meet again, which one the other side rejoins (compareEpochs).
 */
export interface EpochId {
  readonly epoch: number;
  /** Undefined for epoch 1, which no recovery started. */
  readonly origin: string | undefined;
}

export async function readEpochId(dataDir: string): Promise<EpochId> {
  const r = await readAtomic(new NodeFileSystem(), join(raftDir(dataDir), 'epoch'));
  if (!r.ok) throw new Error(`the epoch file is damaged: ${r.error.message}`);
  if (r.value === undefined) return { epoch: 1, origin: undefined };
  const text = new TextDecoder().decode(r.value);
  const [number, origin, ...rest] = text.trim().split(' ');
  const n = Number(number);
  if (!Number.isSafeInteger(n) || n < 1 || rest.length > 0) throw new Error(`the epoch file in ${raftDir(dataDir)} holds ${JSON.stringify(text)}, not "EPOCH [ORIGIN]"`);
  return { epoch: n, origin: origin === undefined || origin === '' ? undefined : origin };
}

async function writeEpoch(dataDir: string, id: EpochId): Promise<void> {
  await mkdir(raftDir(dataDir), { recursive: true });
  const text = id.origin === undefined ? String(id.epoch) : `${id.epoch} ${id.origin}`;
  await writeAtomic(new NodeFileSystem(), join(raftDir(dataDir), 'epoch'), new TextEncoder().encode(text));
}

/** Which epoch wins: the higher number, then (same number, two recoveries) the larger origin. */
export function compareEpochs(a: EpochId, b: EpochId): number {
  if (a.epoch !== b.epoch) return a.epoch - b.epoch;
  const x = a.origin ?? '';
  const y = b.origin ?? '';
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The Raft cluster name of an epoch: traffic of any other is refused (RaftPeers). */
export function clusterName(id: EpochId): string {
  return id.origin === undefined ? `sappers/epoch-${id.epoch}` : `sappers/epoch-${id.epoch}/${id.origin}`;
}

/**
 * Operator recover, on disk (the node must be stopped): keeps this survivor's whole log, appends
 * a configuration with this node as the only voter in a new term, marks it committed, and starts
 * the next epoch. Entries the old majority may never have committed are kept too: the freshest
 * surviving log is the best history left (Consul's peers.json recovery does the same).
 */
export async function forceSoleVoter(dataDir: string, nodeId: string): Promise<{ epoch: number; term: number; index: number }> {
  const epoch = (await readEpoch(dataDir)) + 1;
  const opened = await RaftStorage.open(new NodeFileSystem(), raftDir(dataDir));
  if (!opened.ok) throw new Error(`cannot recover: ${opened.error.message}`);
  const { storage, state } = opened.value;
  try {
    const last = state.entries.at(-1);
    const lastIndex = last?.index ?? state.snapshot?.index ?? 0;
    const lastTerm = last?.term ?? state.snapshot?.term ?? 0;
    const term = Math.max(state.hardState.term, lastTerm) + 1;
    const index = lastIndex + 1;
    await storage.append([{ term, index, type: 'config', data: new Uint8Array(0), config: { voters: [nodeId as NodeId], learners: [] } }]);
    await storage.saveHardState({ term, vote: nodeId as NodeId, commit: index });
    await writeEpoch(dataDir, { epoch, origin: nodeId });
    return { epoch, term, index };
  } finally {
    await storage.close();
  }
}

/**
 * A member of an older epoch rejoins fresh: its Raft state is moved aside (never deleted) and a
 * new, empty one of the current epoch takes its place; the leader adds it back as a learner.
 */
export async function archiveForRejoin(dataDir: string, epoch: EpochId, wallMs: number): Promise<string> {
  const old = await readEpoch(dataDir);
  const aside = join(dataDir, `raft.epoch-${old}.${Math.round(wallMs)}`);
  await rename(raftDir(dataDir), aside).catch((e: unknown) => {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  });
  await writeEpoch(dataDir, epoch);
  return aside;
}

export interface ConsensusInit {
  readonly nodeId: string;
  readonly dataDir: string;
  /** IP to listen on for RPC. */
  readonly host: string;
  readonly port: number;
  /** No --join: this node originates a one-node cluster on first start. */
  readonly founder: boolean;
  /** Mutual TLS for RPC (secure mode); undefined runs RPC in the clear (--insecure, --dev). */
  readonly tls: RpcTlsOptions | undefined;
  readonly clock: Clock;
  readonly logger: Logger;
}

export class Consensus {
  readonly node: RaftNode;
  readonly machine: FsmMachine;
  readonly rpc: TcpRpcTransport;
  readonly epoch: number;
  /** The node whose recovery started this epoch (undefined in epoch 1). */
  readonly epochOrigin: string | undefined;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #codec = createWireCodec();
  #membership: Membership | undefined;
  #leaderSeenMs: number;
  /** Leader: nodes that asked to leave, until when to treat them as leaving. */
  readonly #leaving = new Map<NodeId, number>();

  private constructor(node: RaftNode, machine: FsmMachine, rpc: TcpRpcTransport, epoch: EpochId, clock: Clock, log: Logger) {
    this.node = node;
    this.epoch = epoch.epoch;
    this.epochOrigin = epoch.origin;
    this.machine = machine;
    this.rpc = rpc;
    this.#clock = clock;
    this.#log = log;
    this.#leaderSeenMs = clock.nowMs();
    rpc.handle(FORWARD_METHOD, (body) => this.#onForward(body));
    rpc.handle(LEAVE_METHOD, (body, ctx) => this.#onLeaveRequest(body, ctx.peerIdentity));
    rpc.handle(LOG_POSITION_METHOD, () => this.#onLogPosition());
  }

  /** Opens the Raft state (refusing a damaged one with a clear error), listens, starts the node. */
  static async start(init: ConsensusInit): Promise<Consensus> {
    const log = init.logger.child({ component: 'raft' });
    const dir = raftDir(init.dataDir);
    const epoch = await readEpochId(init.dataDir);
    const opened = await openRaftState(new NodeFileSystem(), dir, init.founder ? { bootstrap: { voters: [init.nodeId as NodeId], learners: [] } } : {});
    if (!opened.ok) {
      throw new Error(
        `the Raft state in ${dir} cannot be trusted: ${opened.error.message}. Nothing was changed. ` +
          'Restore it from a backup, or move the directory away and start the node again to rejoin the cluster fresh.',
      );
    }
    for (const note of opened.value.notes) log.warn({ dir }, `raft recovery: ${note}`);
    if (opened.value.bootstrapped) log.info({ nodeId: init.nodeId }, 'originated a new one-node cluster');
    const rpc = await TcpRpcTransport.listen({ host: init.host, port: init.port, clock: init.clock, ...(init.tls === undefined ? {} : { tls: init.tls }) }).catch(async (e: unknown) => {
      await opened.value.storage.close();
      throw e;
    });
    const machine = new FsmMachine();
    let consensus: Consensus | undefined;
    const node = new RaftNode({
      id: init.nodeId as NodeId,
      // Raft traffic of another epoch is refused (RaftPeers): two histories never mix.
      cluster: clusterName(epoch),
      clock: init.clock,
      random: new SeededRandom(randomBytes(4).readUInt32LE(0)),
      rpc,
      store: opened.value.storage,
      fsm: machine,
      resolve: (id) => consensus?.addressOf(id),
      restored: opened.value.restored,
      snapshotData: opened.value.snapshotData,
      log,
      onSoftState: (s) => {
        if (s.leader !== undefined && consensus !== undefined) consensus.#leaderSeenMs = init.clock.nowMs();
      },
      onFatal: (e) => log.error({ err: e.message }, 'raft stopped on a storage failure; restart the agent once the disk is healthy'),
    });
    consensus = new Consensus(node, machine, rpc, epoch, init.clock, log);
    consensus.#storageClose = () => opened.value.storage.close();
    node.start();
    return consensus;
  }

  #storageClose: () => Promise<void> = () => Promise.resolve();

  /**
   * A node that is the only voter elects itself within a Ready cycle; waiting for it lets the
   * agent report "started" with writes already possible. Bounded: gives up quietly.
   */
  async settleSoleVoter(timeoutMs: number): Promise<void> {
    const voters = this.node.status().config.voters;
    if (voters.length !== 1 || voters[0] !== this.node.id) return;
    const deadline = this.#clock.nowMs() + timeoutMs;
    while (this.node.role !== 'leader' && this.#clock.nowMs() < deadline) {
      await new Promise<void>((resolve) => this.#clock.setTimer(10, resolve));
    }
  }

  get port(): number {
    return Number(this.rpc.localAddress.slice(this.rpc.localAddress.lastIndexOf(':') + 1));
  }

  /** Gossip tells where peers are; set once gossip runs (it needs our RPC port first). */
  attachMembership(membership: Membership): void {
    this.#membership = membership;
  }

  addressOf(id: NodeId): string | undefined {
    // Called for every outgoing Raft batch: a direct lookup, not a copy of the member list.
    const m = this.#membership?.swim.member(id);
    if (m !== undefined && m.meta.rpcAddr !== '') return m.meta.rpcAddr;
    // Gossip may not know the peer (this node cannot read gossip after missing a key rotation,
    // or has just restarted): the replicated node registry remembers where it last was, so
    // Raft traffic, which needs no gossip key, still flows and brings the keyring change.
    const recorded = this.machine.fsm.node(id)?.rpcAddr;
    return recorded === undefined || recorded === '' ? undefined : recorded;
  }

  state(): ConsensusState {
    const status = this.node.status();
    if (status.config.voters.length === 0) return 'joining';
    if (status.leader !== undefined) {
      this.#leaderSeenMs = this.#clock.nowMs();
      return 'active';
    }
    return this.#clock.nowMs() - this.#leaderSeenMs >= NO_QUORUM_AFTER_MS ? 'no-quorum' : 'electing';
  }

  /** Proposes a command on the leader (forwarding it when this node follows). */
  async propose(command: Command): Promise<ApplyResult> {
    const leader = this.node.leader;
    if (leader === this.node.id) return this.#proposeLocally(command);
    if (leader === undefined) throw new ConsensusError('no-leader', 'no leader is known right now (an election may be running, or a majority of voters is unreachable); retry shortly');
    const addr = this.addressOf(leader);
    if (addr === undefined) throw new ConsensusError('unavailable', `the leader ${leader} has no known RPC address yet; retry shortly`);
    const encoded = encodeCommand(this.#codec, command);
    if (!encoded.ok) throw new ConsensusError('too-large', encoded.error);
    let reply: Uint8Array;
    try {
      reply = await this.rpc.request(addr, FORWARD_METHOD, encoded.value, { timeoutMs: FORWARD_TIMEOUT_MS });
    } catch (e) {
      const detail = e instanceof TransportError ? `${e.code}: ${e.message}` : String(e);
      // A timed-out forward may still commit: the caller must treat it as "maybe applied".
      throw new ConsensusError(e instanceof TransportError && e.code === 'timeout' ? 'timeout' : 'unavailable', `forwarding to the leader ${leader} failed (${detail})`);
    }
    const decoded = decodeApplyResult(this.#codec, reply);
    if (!decoded.ok) throw new ConsensusError('unavailable', `the leader ${leader} answered with ${decoded.error}`);
    return decoded.value;
  }

  /** Waits until a read here is linearizable (ReadIndex, thesis 6.4). */
  async linearizableRead(): Promise<void> {
    try {
      await this.node.readIndex({ timeoutMs: FORWARD_TIMEOUT_MS });
    } catch (e) {
      throw toConsensusError(e);
    }
  }

  /** True while `id` asked the leader to be taken out (the autopilot removes it at once). */
  isLeaving(id: NodeId): boolean {
    const until = this.#leaving.get(id);
    if (until === undefined) return false;
    if (until > this.#clock.nowMs()) return true;
    this.#leaving.delete(id);
    return false;
  }

  /**
   * A graceful departure (DESIGN.md, Autopilot): asks whoever leads to take this node out of
   * the configuration and waits until it is out. A leading node hands leadership over first (the
   * autopilot does it on seeing its own leave). Only the very last node has nothing to hand over. Resolves
   * false when the deadline passes first (the caller may stop anyway: the autopilot removes the
   * node later as dead).
   */
  async leaveCluster(timeoutMs: number): Promise<boolean> {
    const self = this.node.id;
    const deadline = this.#clock.nowMs() + timeoutMs;
    for (;;) {
      const { config } = this.node.status();
      if (!config.voters.includes(self) && !config.learners.includes(self)) return true;
      // The last node has nothing to hand over. A sole voter with learners does: the autopilot
      // promotes one as its successor first (found by a CI run: stopping at once left a learner
      // that could never lead).
      if (config.voters.length === 1 && config.voters[0] === self && config.learners.length === 0) return true;
      if (this.#clock.nowMs() >= deadline) return false;
      const leader = this.node.leader;
      if (leader === self) {
        // The autopilot sees this and hands leadership over; then we ask the next leader.
        this.#leaving.set(self, this.#clock.nowMs() + LEAVING_TTL_MS);
      } else if (leader !== undefined) {
        // A removed node never receives the entry that removes it (thesis 4.2.2): the leader
        // tells us once a committed configuration no longer lists us.
        const removed = await this.#askLeaderToRemove(leader).catch(() => false);
        if (removed) return true;
      }
      await new Promise<void>((resolve) => this.#clock.setTimer(250, resolve));
    }
  }

  async #askLeaderToRemove(leader: NodeId): Promise<boolean> {
    const addr = this.addressOf(leader);
    if (addr === undefined) return false;
    const request = this.#codec.encode({ type: 'cluster.leave', body: { node: this.node.id } });
    if (!request.ok) return false;
    const reply = this.#codec.decode(await this.rpc.request(addr, LEAVE_METHOD, request.value, { timeoutMs: 2000 }));
    return reply.ok && reply.value.type === 'cluster.leave-reply' && reply.value.body.removed;
  }

  #onLeaveRequest(body: Uint8Array, peerIdentity: string | undefined): Uint8Array {
    const decoded = this.#codec.decode(body);
    if (!decoded.ok || decoded.value.type !== 'cluster.leave') throw new Error('malformed cluster.leave request');
    const node = decoded.value.body.node as NodeId;
    // Under mutual TLS a node may only ask for its own departure.
    if (peerIdentity !== undefined && peerIdentity !== node) throw new Error(`${peerIdentity} may not ask for ${node} to leave`);
    const leading = this.node.role === 'leader';
    let removed = false;
    if (leading) {
      const log = this.node.core.log;
      const config = log.config;
      removed = !config.voters.includes(node) && !config.learners.includes(node) && log.configIndex <= log.commit;
      if (!removed && !this.#leaving.has(node)) this.#log.info({ node }, 'node asked to leave the cluster');
      this.#leaving.set(node, this.#clock.nowMs() + LEAVING_TTL_MS);
    }
    const leader = this.node.leader;
    const body2 = leading || leader === undefined ? { accepted: leading, removed } : { accepted: false, removed: false, leader };
    const reply = this.#codec.encode({ type: 'cluster.leave-reply', body: body2 });
    if (!reply.ok) throw new Error(reply.error.code);
    return reply.value;
  }

  #onLogPosition(): Uint8Array {
    const status = this.node.status();
    const reply = this.#codec.encode({ type: 'cluster.log-position-reply', body: { lastIndex: status.lastIndex, lastTerm: status.lastTerm, epoch: this.epoch } });
    if (!reply.ok) throw new Error(reply.error.code);
    return reply.value;
  }

  /** Where `id`'s log ends, asked over RPC; undefined when it cannot be reached. */
  async logPositionOf(id: NodeId): Promise<{ lastIndex: number; lastTerm: number; epoch: number } | undefined> {
    const addr = this.addressOf(id);
    if (addr === undefined) return undefined;
    const request = this.#codec.encode({ type: 'cluster.log-position', body: {} });
    if (!request.ok) return undefined;
    try {
      const reply = this.#codec.decode(await this.rpc.request(addr, LOG_POSITION_METHOD, request.value, { timeoutMs: 2000 }));
      return reply.ok && reply.value.type === 'cluster.log-position-reply' ? reply.value.body : undefined;
    } catch {
      return undefined;
    }
  }

  /** Hands leadership to a caught-up voter before this node stops (a shorter failover). */
  async handOverLeadership(timeoutMs: number): Promise<void> {
    if (this.node.role !== 'leader') return;
    const status = this.node.status();
    const best = [...status.progress.entries()]
      .filter(([id, p]) => status.config.voters.includes(id) && p.recentActive)
      .sort((a, b) => b[1].match - a[1].match)[0];
    if (best === undefined) return;
    await this.node.transferLeadership(best[0], { timeoutMs }).catch((e: unknown) => {
      this.#log.warn({ to: best[0], err: e instanceof Error ? e.message : String(e) }, 'leadership hand-over before stopping failed');
    });
  }

  async close(): Promise<void> {
    await this.node.stop();
    await this.rpc.close();
    await this.#storageClose();
  }

  async #proposeLocally(command: Command): Promise<ApplyResult> {
    const encoded = encodeCommand(this.#codec, command);
    if (!encoded.ok) throw new ConsensusError('too-large', encoded.error);
    try {
      const applied = await this.node.propose(encoded.value, { timeoutMs: FORWARD_TIMEOUT_MS });
      return applied.result as ApplyResult;
    } catch (e) {
      throw toConsensusError(e);
    }
  }

  async #onForward(body: Uint8Array): Promise<Uint8Array> {
    const decoded = decodeCommand(this.#codec, body);
    if (!decoded.ok) throw new Error(`malformed forwarded command: ${decoded.error}`);
    if (this.node.leader !== this.node.id) throw new Error(`not the leader (the leader is ${this.node.leader ?? 'unknown'})`);
    const result = await this.#proposeLocally(decoded.value);
    const encoded = encodeApplyResult(this.#codec, result);
    if (!encoded.ok) throw new Error(encoded.error);
    this.#log.debug({ type: decoded.value.type }, 'applied a forwarded write');
    return encoded.value;
  }
}

function toConsensusError(e: unknown): ConsensusError {
  if (e instanceof ConsensusError) return e;
  if (e instanceof RaftNodeError) {
    switch (e.code) {
      case 'not-leader':
      case 'transferring':
      case 'leadership-lost':
      case 'no-leader':
        return new ConsensusError('no-leader', `${e.message}; retry shortly`);
      case 'timeout':
        return new ConsensusError('timeout', `${e.message}; the write may still be applied`);
      case 'too-large':
        return new ConsensusError('too-large', e.message);
      case 'no-space':
        return new ConsensusError('no-space', e.message);
      case 'stopped':
        return new ConsensusError('stopped', e.message);
      default:
        return new ConsensusError('unavailable', e.message);
    }
  }
  return new ConsensusError('unavailable', e instanceof Error ? e.message : String(e));
}
