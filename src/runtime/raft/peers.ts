// Raft's traffic with its peers: batches of core messages as one-way RPC messages (in order per
// peer), and snapshots streamed in chunks as requests, resumable where the receiver left off.
// Snapshot data never passes through the core: the receiver writes chunks to disk and hands the
// core only the metadata once the whole file is there.

import type { Message, NodeId, SnapshotMeta } from '../../core/raft/types.ts';
import { entryBytes } from '../../core/raft/log.ts';
import { createWireCodec } from '../../wire/messages.ts';
import { MAX_RAFT_BATCH_MESSAGES, decodeRaftBatch, decodeSnapshotChunk, decodeSnapshotChunkReply, encodeRaftBatch, encodeSnapshotChunk, encodeSnapshotChunkReply } from '../../wire/raft.ts';
import { TransportError, type Address, type RpcTransport } from '../transport/types.ts';
import type { RaftDurableStore, RaftNodeLog } from './node.ts';

export const RAFT_MESSAGES_METHOD = 'raft.messages';
export const RAFT_SNAPSHOT_METHOD = 'raft.snapshot-chunk';
/** An empty request a follower sends its silent leader: is its process still there? */
export const RAFT_PING_METHOD = 'raft.ping';

/** Keeps one RPC message well below the codec's limit (entries are the bulk of it). */
const MAX_BATCH_BYTES = 2 * 1024 * 1024;
/**
 * A chunk's deadline: a base for the round trip plus time for its bytes at a pessimistic
 * 100 KB/s, so slow WAN links still finish while a receiver that crashed mid-transfer (its
 * machine gone, no TCP reset) costs a few seconds, not a stall.
 */
function chunkTimeoutMs(bytes: number): number {
  return 2000 + Math.ceil(bytes / 100);
}
/** Chunk replies that move nothing forward before the transfer is given up (and retried later). */
const SNAPSHOT_MAX_STALLS = 3;

export interface RaftPeersOptions {
  readonly id: NodeId;
  readonly cluster: string;
  readonly rpc: RpcTransport;
  readonly store: RaftDurableStore;
  readonly resolve: (id: NodeId) => Address | undefined;
  readonly chunkBytes: number;
  readonly log?: RaftNodeLog | undefined;
  readonly onMessages: (messages: readonly Message[]) => void;
  readonly onSnapshotFailed: (to: NodeId) => void;
  readonly onUnreachable: (to: NodeId) => void;
}

export class RaftPeers {
  readonly #o: RaftPeersOptions;
  readonly #codec = createWireCodec();
  readonly #sendingSnapshot = new Set<NodeId>();
  /** The incoming snapshot being received, and how many bytes of it are on disk. */
  #incoming: { key: string; offset: number } | undefined;
  #stopped = false;
  /**
   * Messages dropped because they came from another cluster, did not decode, or claimed to be
   * from a node other than the one named by the sender's TLS certificate (impersonation).
   */
  readonly counters = { refusedForeign: 0, droppedMalformed: 0, sendFailures: 0, refusedImpersonation: 0 };

  constructor(options: RaftPeersOptions) {
    this.#o = options;
    options.rpc.onMessage(RAFT_MESSAGES_METHOD, (body, ctx) => this.#onBatch(body, ctx.from, ctx.peerIdentity));
    options.rpc.handle(RAFT_SNAPSHOT_METHOD, (body, ctx) => this.#onChunk(body, ctx.peerIdentity));
    options.rpc.handle(RAFT_PING_METHOD, () => new Uint8Array(0));
  }

  /**
   * Asks whether the process at `to` still runs: 'refused' when its host says nothing listens
   * on the port (the process is gone), 'answered' when anything answers, 'unknown' otherwise (a
   * timeout or no route says nothing about the process: it may be partitioned away, or paused).
   */
  async ping(to: NodeId, timeoutMs: number): Promise<'answered' | 'refused' | 'unknown'> {
    const addr = this.#o.resolve(to);
    if (addr === undefined || this.#stopped) return 'unknown';
    try {
      await this.#o.rpc.request(addr, RAFT_PING_METHOD, new Uint8Array(0), { timeoutMs });
      return 'answered';
    } catch (e) {
      if (e instanceof TransportError && e.code === 'refused') return 'refused';
      // An agent without the handler (an older version) is still running.
      return e instanceof TransportError && (e.code === 'no-handler' || e.code === 'remote') ? 'answered' : 'unknown';
    }
  }

  stop(): void {
    this.#stopped = true;
  }

  /** Sends messages, batched per destination, in order. Snapshot messages start a stream. */
  send(messages: readonly Message[]): void {
    if (this.#stopped || messages.length === 0) return;
    const byPeer = new Map<NodeId, Message[]>();
    for (const m of messages) {
      if (m.type === 'snapshot') {
        this.#streamSnapshot(m.to, m.term, m.snapshot);
        continue;
      }
      let list = byPeer.get(m.to);
      if (list === undefined) byPeer.set(m.to, (list = []));
      list.push(m);
    }
    for (const [to, list] of byPeer) this.#sendTo(to, list);
  }

  #sendTo(to: NodeId, messages: Message[]): void {
    const addr = this.#o.resolve(to);
    if (addr === undefined) {
      this.#o.onUnreachable(to);
      return;
    }
    let batch: Message[] = [];
    let bytes = 0;
    const flush = (): boolean => {
      if (batch.length === 0) return true;
      const encoded = encodeRaftBatch(this.#codec, this.#o.cluster, batch);
      if (!encoded.ok) this.#o.log?.error({ to, problem: encoded.error }, 'could not encode a raft batch');
      batch = [];
      bytes = 0;
      if (!encoded.ok || !this.#o.rpc.send(addr, RAFT_MESSAGES_METHOD, encoded.value)) {
        this.counters.sendFailures++;
        this.#o.onUnreachable(to);
        return false;
      }
      return true;
    };
    for (const m of messages) {
      const size = m.type === 'append' ? m.entries.reduce((n, e) => n + entryBytes(e), 64) : 64;
      if ((bytes + size > MAX_BATCH_BYTES || batch.length >= MAX_RAFT_BATCH_MESSAGES) && !flush()) return;
      batch.push(m);
      bytes += size;
    }
    flush();
  }

  #onBatch(body: Uint8Array, from: Address, peerIdentity: string | undefined): void {
    if (this.#stopped) return;
    const decoded = decodeRaftBatch(this.#codec, body);
    if (!decoded.ok) {
      this.counters.droppedMalformed++;
      this.#o.log?.warn({ from, problem: decoded.error }, 'dropped a malformed raft batch');
      return;
    }
    if (decoded.value.cluster !== this.#o.cluster) {
      this.counters.refusedForeign++;
      this.#o.log?.warn({ from, cluster: decoded.value.cluster }, 'refused raft messages from another cluster');
      return;
    }
    // Under mutual TLS a peer speaks only for the node its certificate names: a member holding
    // a valid certificate must not cast votes or send appends in another member's name.
    const impostor = peerIdentity === undefined ? undefined : decoded.value.messages.find((m) => m.from !== peerIdentity);
    if (impostor !== undefined) {
      this.counters.refusedImpersonation++;
      this.#o.log?.warn({ from, certificate: peerIdentity, claimed: impostor.from }, 'refused raft messages sent in another node\'s name');
      return;
    }
    this.#o.onMessages(decoded.value.messages.filter((m) => m.to === this.#o.id));
  }

  // --- Snapshots -----------------------------------------------------------------------------

  #streamSnapshot(to: NodeId, term: number, meta: SnapshotMeta): void {
    if (this.#sendingSnapshot.has(to)) return;
    this.#sendingSnapshot.add(to);
    this.#sendSnapshotChunks(to, term, meta)
      .then((delivered) => {
        if (!delivered) this.#o.onSnapshotFailed(to);
      })
      .catch((e: unknown) => {
        this.#o.log?.warn({ to, index: meta.index, err: e instanceof Error ? e.message : String(e) }, 'snapshot transfer failed; will retry');
        this.#o.onSnapshotFailed(to);
      })
      .finally(() => this.#sendingSnapshot.delete(to));
  }

  /** True once the receiver has the whole snapshot (it then tells the core itself). */
  async #sendSnapshotChunks(to: NodeId, term: number, meta: SnapshotMeta): Promise<boolean> {
    const snap = await this.#o.store.readSnapshot();
    if (snap === undefined || snap.meta.index !== meta.index || snap.meta.term !== meta.term) return false;
    const total = snap.data.length;
    let offset = 0;
    let stalls = 0;
    for (;;) {
      if (this.#stopped) return false;
      const addr = this.#o.resolve(to);
      if (addr === undefined) return false;
      const data = snap.data.subarray(offset, Math.min(total, offset + this.#o.chunkBytes));
      const done = offset + data.length >= total;
      const request = encodeSnapshotChunk(this.#codec, { cluster: this.#o.cluster, from: this.#o.id, to, term, snapshot: meta, totalBytes: total, offset, data, done });
      if (!request.ok) throw new Error(request.error);
      const replyBytes = await this.#o.rpc.request(addr, RAFT_SNAPSHOT_METHOD, request.value, { timeoutMs: chunkTimeoutMs(data.length) });
      const reply = decodeSnapshotChunkReply(this.#codec, replyBytes);
      if (!reply.ok) throw new Error(`bad snapshot chunk reply: ${reply.error}`);
      if (reply.value.error !== undefined) throw new Error(`receiver refused snapshot chunk: ${reply.value.error}`);
      const next = reply.value.nextOffset;
      if (done && next === total) return true;
      if (next <= offset) stalls++;
      else stalls = 0;
      if (stalls >= SNAPSHOT_MAX_STALLS || next > total || next < 0) return false;
      // The receiver says where it is: this resumes an interrupted transfer too.
      offset = next;
    }
  }

  async #onChunk(body: Uint8Array, peerIdentity: string | undefined): Promise<Uint8Array> {
    const reply = (nextOffset: number, error?: string): Uint8Array => {
      const encoded = encodeSnapshotChunkReply(this.#codec, error === undefined ? { nextOffset } : { nextOffset, error });
      if (!encoded.ok) throw new Error(encoded.error);
      return encoded.value;
    };
    if (this.#stopped) return reply(0, 'node stopped');
    const decoded = decodeSnapshotChunk(this.#codec, body);
    if (!decoded.ok) return reply(0, `malformed chunk: ${decoded.error}`);
    const c = decoded.value;
    if (c.cluster !== this.#o.cluster) {
      this.counters.refusedForeign++;
      return reply(0, `snapshot from another cluster (${c.cluster})`);
    }
    if (c.to !== this.#o.id) return reply(0, `snapshot for ${c.to} reached ${this.#o.id}`);
    if (peerIdentity !== undefined && c.from !== peerIdentity) {
      this.counters.refusedImpersonation++;
      return reply(0, `a snapshot from ${c.from} must come from that node's certificate, not ${peerIdentity}'s`);
    }
    const key = `${c.snapshot.term}/${c.snapshot.index}/${c.totalBytes}`;
    if (this.#incoming?.key !== key) {
      const present = await this.#o.store.beginIncoming(c.snapshot, c.totalBytes);
      if (!present.ok) return reply(0, present.error.message);
      this.#incoming = { key, offset: present.value };
    }
    const incoming = this.#incoming;
    if (c.offset !== incoming.offset) return reply(incoming.offset);
    const written = await this.#o.store.writeIncoming(c.snapshot, c.offset, c.data);
    if (!written.ok) {
      this.#incoming = undefined;
      if (written.error.expectedOffset !== undefined) return reply(written.error.expectedOffset);
      return reply(0, written.error.message);
    }
    incoming.offset = written.value;
    if (!c.done || incoming.offset !== c.totalBytes) return reply(incoming.offset);
    const finished = await this.#o.store.finishIncoming(c.snapshot);
    this.#incoming = undefined;
    if (!finished.ok) return reply(0, finished.error.message);
    this.#o.onMessages([{ type: 'snapshot', from: c.from, to: c.to, term: c.term, snapshot: c.snapshot }]);
    return reply(c.totalBytes);
  }
}
