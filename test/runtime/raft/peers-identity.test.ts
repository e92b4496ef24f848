// RaftPeers (src/runtime/raft/peers.ts) under mutual TLS: a peer speaks only for the node its
// certificate names (ctx.peerIdentity). Batches and snapshot chunks that claim another sender
// are dropped before they reach the core or the disk. Driven through a fake RpcTransport that
// hands the registered handlers whatever context the test chooses.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ok } from '../../../src/core/result.ts';
import type { ClusterConfig, Message, NodeId, SnapshotMeta } from '../../../src/core/raft/types.ts';
import { RAFT_MESSAGES_METHOD, RAFT_SNAPSHOT_METHOD, RaftPeers } from '../../../src/runtime/raft/peers.ts';
import type { RaftDurableStore, RaftNodeLog } from '../../../src/runtime/raft/node.ts';
import type { Address, MessageHandler, RequestContext, RequestHandler, RpcTransport } from '../../../src/runtime/transport/types.ts';
import { createWireCodec } from '../../../src/wire/messages.ts';
import { decodeSnapshotChunkReply, encodeRaftBatch, encodeSnapshotChunk, type SnapshotChunk } from '../../../src/wire/raft.ts';

const id = (s: string): NodeId => s as NodeId;
const A = id('node-a');
const B = id('node-b');
const C = id('node-c');
const CLUSTER = 'cluster-1';
const codec = createWireCodec();

/** Captures the handlers RaftPeers registers; the test calls them with a context of its choice. */
class FakeRpc implements RpcTransport {
  readonly localAddress: Address = '127.0.0.1:1';
  readonly requestHandlers = new Map<string, RequestHandler>();
  readonly messageHandlers = new Map<string, MessageHandler>();
  readonly sent: Array<{ to: Address; method: string; body: Uint8Array }> = [];

  request(): Promise<Uint8Array> {
    return Promise.reject(new Error('RaftPeers should not send requests in these tests'));
  }

  send(to: Address, method: string, body: Uint8Array): boolean {
    this.sent.push({ to, method, body });
    return true;
  }

  handle(method: string, handler: RequestHandler): void {
    assert.ok(!this.requestHandlers.has(method));
    this.requestHandlers.set(method, handler);
  }

  onMessage(method: string, handler: MessageHandler): void {
    assert.ok(!this.messageHandlers.has(method));
    this.messageHandlers.set(method, handler);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  deliver(method: string, body: Uint8Array, peerIdentity: string | undefined): void {
    const handler = this.messageHandlers.get(method);
    assert.ok(handler !== undefined, `no message handler for ${method}`);
    handler(body, ctx(method, peerIdentity));
  }

  async call(method: string, body: Uint8Array, peerIdentity: string | undefined): Promise<Uint8Array> {
    const handler = this.requestHandlers.get(method);
    assert.ok(handler !== undefined, `no request handler for ${method}`);
    return handler(body, ctx(method, peerIdentity));
  }
}

function ctx(method: string, peerIdentity: string | undefined): RequestContext {
  return peerIdentity === undefined ? { from: '127.0.0.1:9999', method } : { from: '127.0.0.1:9999', method, peerIdentity };
}

/** Incoming snapshot storage that records what reached it. Nothing else may be called. */
class FakeStore implements RaftDurableStore {
  readonly calls: string[] = [];
  readonly data: number[] = [];

  beginIncoming(meta: SnapshotMeta, totalBytes: number) {
    this.calls.push(`begin ${meta.index} ${totalBytes}`);
    return Promise.resolve(ok(this.data.length));
  }

  writeIncoming(_meta: SnapshotMeta, offset: number, chunk: Uint8Array) {
    this.calls.push(`write ${offset} ${chunk.length}`);
    this.data.push(...chunk);
    return Promise.resolve(ok(this.data.length));
  }

  finishIncoming(meta: SnapshotMeta) {
    this.calls.push(`finish ${meta.index}`);
    return Promise.resolve(ok(undefined));
  }

  append(): Promise<void> {
    return this.#unexpected('append');
  }
  saveHardState(): Promise<void> {
    return this.#unexpected('saveHardState');
  }
  saveSnapshot(): Promise<void> {
    return this.#unexpected('saveSnapshot');
  }
  compact(): Promise<void> {
    return this.#unexpected('compact');
  }
  readSnapshot(): Promise<undefined> {
    return this.#unexpected('readSnapshot');
  }
  installSnapshot(): Promise<void> {
    return this.#unexpected('installSnapshot');
  }
  #unexpected(what: string): Promise<never> {
    return Promise.reject(new Error(`RaftPeers should not call store.${what} here`));
  }
}

interface Harness {
  readonly rpc: FakeRpc;
  readonly store: FakeStore;
  readonly peers: RaftPeers;
  readonly delivered: Message[][];
  readonly warnings: Array<{ obj: object; msg: string }>;
}

function harness(): Harness {
  const rpc = new FakeRpc();
  const store = new FakeStore();
  const delivered: Message[][] = [];
  const warnings: Array<{ obj: object; msg: string }> = [];
  const log: RaftNodeLog = {
    info: () => {},
    warn: (obj, msg) => warnings.push({ obj, msg }),
    error: (obj, msg) => assert.fail(`unexpected error log: ${msg} ${JSON.stringify(obj)}`),
  };
  const peers = new RaftPeers({
    id: A,
    cluster: CLUSTER,
    rpc,
    store,
    resolve: () => '127.0.0.1:2',
    chunkBytes: 1024,
    log,
    onMessages: (messages) => delivered.push([...messages]),
    onSnapshotFailed: () => assert.fail('no snapshot is sent'),
    onUnreachable: () => {},
  });
  return { rpc, store, peers, delivered, warnings };
}

const vote = (from: NodeId, to: NodeId = A): Message => ({ type: 'vote', from, to, term: 5, preVote: false, lastLogIndex: 3, lastLogTerm: 2, transfer: false });
const heartbeat = (from: NodeId, to: NodeId = A): Message => ({ type: 'heartbeat', from, to, term: 5, commit: 3, readRound: 0 });
const append = (from: NodeId, to: NodeId = A): Message => ({
  type: 'append',
  from,
  to,
  term: 5,
  prevLogIndex: 3,
  prevLogTerm: 2,
  entries: [{ term: 5, index: 4, type: 'normal', data: Uint8Array.of(1, 2, 3) }],
  commit: 3,
});

function batch(messages: readonly Message[], cluster = CLUSTER): Uint8Array {
  const encoded = encodeRaftBatch(codec, cluster, messages);
  assert.ok(encoded.ok, encoded.ok ? '' : encoded.error);
  return encoded.value;
}

const CONFIG: ClusterConfig = { voters: [A, B, C], learners: [] };
const META: SnapshotMeta = { index: 10, term: 4, config: CONFIG };

function chunk(from: NodeId, data: Uint8Array, offset: number, totalBytes: number): Uint8Array {
  const c: SnapshotChunk = { cluster: CLUSTER, from, to: A, term: 5, snapshot: META, totalBytes, offset, data, done: offset + data.length === totalBytes };
  const encoded = encodeSnapshotChunk(codec, c);
  assert.ok(encoded.ok, encoded.ok ? '' : encoded.error);
  return encoded.value;
}

function reply(bytes: Uint8Array): { nextOffset: number; error?: string } {
  const decoded = decodeSnapshotChunkReply(codec, bytes);
  assert.ok(decoded.ok, decoded.ok ? '' : decoded.error);
  return decoded.value;
}

describe('RaftPeers: raft.messages and the sender certificate', () => {
  it('drops a batch whose messages claim a sender other than the certificate', () => {
    const h = harness();
    h.rpc.deliver(RAFT_MESSAGES_METHOD, batch([vote(B)]), 'node-c');
    h.rpc.deliver(RAFT_MESSAGES_METHOD, batch([append(B), heartbeat(B)]), 'node-c');
    // A certificate whose name merely contains the claimed id is someone else too.
    h.rpc.deliver(RAFT_MESSAGES_METHOD, batch([vote(B)]), 'node-b2');
    h.rpc.deliver(RAFT_MESSAGES_METHOD, batch([vote(B)]), 'NODE-B');
    assert.deepEqual(h.delivered, []);
    assert.equal(h.peers.counters.refusedImpersonation, 4);
    assert.deepEqual({ ...h.peers.counters, refusedImpersonation: 0 }, { refusedForeign: 0, droppedMalformed: 0, sendFailures: 0, refusedImpersonation: 0 });
    const first = h.warnings[0];
    assert.ok(first !== undefined);
    assert.match(first.msg, /another node's name/);
    assert.deepEqual(first.obj, { from: '127.0.0.1:9999', certificate: 'node-c', claimed: 'node-b' });
  });

  it("accepts a batch from the certificate's own node", () => {
    const h = harness();
    const messages = [append(B), heartbeat(B)];
    h.rpc.deliver(RAFT_MESSAGES_METHOD, batch(messages), 'node-b');
    assert.equal(h.delivered.length, 1);
    assert.deepEqual(
      h.delivered[0]!.map((m) => [m.type, m.from, m.to]),
      [['append', B, A], ['heartbeat', B, A]],
    );
    const got = h.delivered[0]![0]!;
    assert.ok(got.type === 'append');
    assert.deepEqual([...got.entries[0]!.data], [1, 2, 3]);
    assert.equal(h.peers.counters.refusedImpersonation, 0);
  });

  it('accepts any sender when there is no certificate identity (no mutual TLS)', () => {
    const h = harness();
    h.rpc.deliver(RAFT_MESSAGES_METHOD, batch([vote(B)]), undefined);
    h.rpc.deliver(RAFT_MESSAGES_METHOD, batch([vote(C)]), undefined);
    assert.deepEqual(h.delivered.map((ms) => ms.map((m) => m.from)), [[B], [C]]);
    assert.equal(h.peers.counters.refusedImpersonation, 0);
  });

  it('an honest sender and an impostor on separate connections: only the honest one gets through', () => {
    const h = harness();
    h.rpc.deliver(RAFT_MESSAGES_METHOD, batch([vote(B)]), 'node-b');
    h.rpc.deliver(RAFT_MESSAGES_METHOD, batch([vote(B)]), 'node-c');
    h.rpc.deliver(RAFT_MESSAGES_METHOD, batch([vote(C)]), 'node-c');
    assert.deepEqual(h.delivered.map((ms) => ms.map((m) => m.from)), [[B], [C]]);
    assert.equal(h.peers.counters.refusedImpersonation, 1);
  });

  it('a batch from another cluster is refused as foreign whatever the identity', () => {
    const h = harness();
    h.rpc.deliver(RAFT_MESSAGES_METHOD, batch([vote(B)], 'other-cluster'), 'node-c');
    assert.deepEqual(h.delivered, []);
    assert.deepEqual([h.peers.counters.refusedForeign, h.peers.counters.refusedImpersonation], [1, 0]);
  });

  it('after stop() nothing is delivered or counted', () => {
    const h = harness();
    h.peers.stop();
    h.rpc.deliver(RAFT_MESSAGES_METHOD, batch([vote(B)]), 'node-c');
    h.rpc.deliver(RAFT_MESSAGES_METHOD, batch([vote(B)]), 'node-b');
    assert.deepEqual(h.delivered, []);
    assert.equal(h.peers.counters.refusedImpersonation, 0);
  });
});

describe('RaftPeers: snapshot chunks and the sender certificate', () => {
  const data = Uint8Array.from({ length: 40 }, (_, i) => i);

  it('refuses a chunk whose from differs from the certificate, before touching the disk', async () => {
    const h = harness();
    const r = reply(await h.rpc.call(RAFT_SNAPSHOT_METHOD, chunk(B, data, 0, data.length), 'node-c'));
    assert.equal(r.nextOffset, 0);
    assert.equal(r.error, "a snapshot from node-b must come from that node's certificate, not node-c's");
    assert.equal(h.peers.counters.refusedImpersonation, 1);
    assert.deepEqual(h.store.calls, []);
    assert.deepEqual(h.delivered, []);
  });

  it('takes a whole snapshot from the named sender and hands the core its metadata', async () => {
    const h = harness();
    const first = reply(await h.rpc.call(RAFT_SNAPSHOT_METHOD, chunk(B, data.subarray(0, 25), 0, data.length), 'node-b'));
    assert.deepEqual(first, { nextOffset: 25 });
    const last = reply(await h.rpc.call(RAFT_SNAPSHOT_METHOD, chunk(B, data.subarray(25), 25, data.length), 'node-b'));
    assert.deepEqual(last, { nextOffset: 40 });
    assert.deepEqual(h.store.calls, ['begin 10 40', 'write 0 25', 'write 25 15', 'finish 10']);
    assert.deepEqual(h.store.data, [...data]);
    assert.deepEqual(h.delivered, [[{ type: 'snapshot', from: B, to: A, term: 5, snapshot: META }]]);
    assert.equal(h.peers.counters.refusedImpersonation, 0);
  });

  it('an impostor cannot continue a transfer another node started', async () => {
    const h = harness();
    assert.deepEqual(reply(await h.rpc.call(RAFT_SNAPSHOT_METHOD, chunk(B, data.subarray(0, 25), 0, data.length), 'node-b')), { nextOffset: 25 });
    const forged = reply(await h.rpc.call(RAFT_SNAPSHOT_METHOD, chunk(B, new Uint8Array(15).fill(0xee), 25, data.length), 'node-c'));
    assert.match(forged.error ?? '', /must come from that node's certificate, not node-c's/);
    assert.deepEqual(h.store.calls, ['begin 10 40', 'write 0 25']);
    assert.deepEqual(h.delivered, []);
    // The genuine sender resumes where it was.
    assert.deepEqual(reply(await h.rpc.call(RAFT_SNAPSHOT_METHOD, chunk(B, data.subarray(25), 25, data.length), 'node-b')), { nextOffset: 40 });
    assert.deepEqual(h.store.data, [...data]);
    assert.equal(h.delivered.length, 1);
  });

  it('accepts a chunk without a certificate identity (no mutual TLS)', async () => {
    const h = harness();
    assert.deepEqual(reply(await h.rpc.call(RAFT_SNAPSHOT_METHOD, chunk(C, data, 0, data.length), undefined)), { nextOffset: 40 });
    assert.deepEqual(h.delivered.map((ms) => ms.map((m) => [m.type, m.from])), [[['snapshot', C]]]);
  });
});
