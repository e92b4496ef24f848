// TcpRpcTransport against peers that misbehave: oversize and garbage frames, floods, and peers
// that never read. The transport must drop the offender, bound its memory, and keep serving.
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import fc from 'fast-check';
import { encodeFrame } from '../../../src/wire/frame.ts';
import { encodeRpcFrame } from '../../../src/runtime/transport/rpc-frame.ts';
import { bytes, helloFrame, isTransportError, portOf, Resources, text, waitFor } from './helpers.ts';
import type { TcpRpcTransport } from '../../../src/runtime/transport/rpc.ts';

let res: Resources;
beforeEach(() => {
  res = new Resources();
});
afterEach(async () => {
  await res.closeAll();
});

/** Connects a raw socket, writes the chunks, and resolves with what came back once the server closes it. */
function rawExchange(address: string, chunks: readonly Uint8Array[]): Promise<{ received: Buffer }> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect({ host: '127.0.0.1', port: portOf(address) });
    const received: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('the server did not drop the connection within 5 s'));
    }, 5000);
    socket.on('data', (d: Buffer) => received.push(d));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ received: Buffer.concat(received) });
    });
    socket.on('connect', () => {
      for (const c of chunks) socket.write(c);
    });
  });
}

async function assertStillServes(server: TcpRpcTransport): Promise<void> {
  const client = await res.rpc();
  assert.equal(text(await client.request(server.localAddress, 'ping', bytes(''))), 'pong');
}

function lengthPrefix(size: number): Uint8Array {
  const h = new Uint8Array(4);
  new DataView(h.buffer).setUint32(0, size, false);
  return h;
}

function frame(payload: number[]): Uint8Array {
  const r = encodeFrame(Uint8Array.from(payload), 1 << 20);
  assert.ok(r.ok);
  return r.value;
}

describe('TcpRpcTransport with hostile peers', () => {
  it('disconnects a peer that declares an oversize frame and keeps serving others', async () => {
    const server = await res.rpc({ maxFrameBytes: 4096 });
    server.handle('ping', () => bytes('pong'));
    // Right after the hello, and without one: a 4 GiB claim and one byte over the limit.
    for (const chunks of [[helloFrame(), lengthPrefix(0xffffffff)], [lengthPrefix(4097)], [helloFrame(), lengthPrefix(4097), new Uint8Array(100)]]) {
      await rawExchange(server.localAddress, chunks);
    }
    assert.equal(server.counters.protocolErrors, 3);
    await waitFor(() => server.inboundConnections === 0, 'dropped connections to be forgotten');
    await assertStillServes(server);
  });

  it('survives garbage bytes, bad hellos and malformed envelopes', async () => {
    const server = await res.rpc();
    server.handle('ping', () => bytes('pong'));
    const cases: Uint8Array[][] = [
      [bytes('GET / HTTP/1.1\r\nHost: x\r\n\r\n')],
      [frame([0, 0x53, 0x50, 0x52, 0x53, 0, 99])], // hello, version 99
      [frame([0, 1, 2, 3, 4, 0, 1])], // hello, wrong magic
      [frame([1, 0, 0, 0, 1, 1, 0x61])], // a request before any hello
      [helloFrame(), helloFrame()], // a second hello
      [helloFrame(), frame([9])], // unknown kind
      [helloFrame(), frame([])], // empty frame
      [helloFrame(), frame([1, 0, 0, 0, 1, 200, 0x61])], // method longer than the frame
      [helloFrame(), frame([1, 0, 0, 0, 1, 1, 0xff])], // method not UTF-8
      [helloFrame(), frame([1, 0, 0, 0, 1, 0])], // empty method
      [helloFrame(), frame([3, 0, 0, 0, 1, 77, 0, 0])], // unknown error code
    ];
    for (const chunks of cases) await rawExchange(server.localAddress, chunks);
    assert.equal(server.counters.protocolErrors, cases.length);

    // Random bytes after a valid hello: never a crash, always either served or dropped.
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 64 }), async (junk) => {
        const socket = connect({ host: '127.0.0.1', port: portOf(server.localAddress) });
        socket.on('error', () => {});
        await new Promise<void>((r) => socket.once('connect', () => r()));
        socket.write(helloFrame());
        socket.write(junk);
        // Give the server a moment to process, then hang up ourselves if it did not.
        await new Promise((r) => setTimeout(r, 2));
        socket.destroy();
      }),
      { numRuns: 50, seed: 42 },
    );
    await assertStillServes(server);
  });

  it("fails the client's pending request with 'protocol' when the server answers garbage", async () => {
    const { address } = await res.rawServer((socket) => {
      socket.write(helloFrame());
      socket.once('data', () => socket.write(frame([2, 0, 0]))); // a truncated response
    });
    const client = await res.rpc();
    await assert.rejects(client.request(address, 'x', bytes('')), isTransportError('protocol'));
    assert.equal(client.counters.protocolErrors, 1);
  });

  it('bounds concurrently running handlers per connection and pauses reading', async () => {
    const server = await res.rpc({ maxConcurrentHandlersPerConnection: 4 });
    const client = await res.rpc();
    let running = 0;
    let maxRunning = 0;
    let started = 0;
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    server.handle('work', async (body) => {
      started++;
      running++;
      maxRunning = Math.max(maxRunning, running);
      await gate;
      running--;
      return body;
    });
    const calls = Array.from({ length: 200 }, (_, i) => client.request(server.localAddress, 'work', bytes(String(i))));
    await waitFor(() => started === 4, 'the first four handlers');
    // However long the flood waits, no fifth handler starts while four are running.
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(started, 4);
    release();
    const replies = await Promise.all(calls);
    assert.deepEqual(replies.map(text), Array.from({ length: 200 }, (_, i) => String(i)));
    assert.equal(maxRunning, 4);
  });

  it("refuses with 'overloaded' past the pending-request bound", async () => {
    const server = await res.rpc();
    const client = await res.rpc({ maxPendingRequestsPerPeer: 3 });
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    server.handle('wait', async () => {
      await gate;
      return bytes('done');
    });
    const held = [1, 2, 3].map(() => client.request(server.localAddress, 'wait', bytes('')));
    await assert.rejects(client.request(server.localAddress, 'wait', bytes('')), isTransportError('overloaded'));
    assert.equal(client.counters.refusedOverloaded, 1);
    release();
    assert.deepEqual((await Promise.all(held)).map(text), ['done', 'done', 'done']);
    assert.equal(text(await client.request(server.localAddress, 'wait', bytes(''))), 'done', 'room again once replies came');
  });

  it('applies backpressure to a peer that never reads: bounded queue, send() false, overloaded', async () => {
    const maxQueuedBytesPerPeer = 256 * 1024;
    const { address } = await res.rawServer((socket) => {
      socket.write(helloFrame());
      socket.pause(); // never read: the kernel buffers fill, then ours
    });
    // Short grace: at close, the queued bytes can never drain to this peer.
    const client = await res.rpc({ maxFrameBytes: 64 * 1024, maxQueuedBytesPerPeer, shutdownGraceMs: 50 });
    const body = new Uint8Array(60 * 1024);
    let accepted = 0;
    let maxQueued = 0;
    // Loopback kernel buffers hold a few MB; 2000 x 60 KB is far beyond them.
    for (let i = 0; i < 2000; i++) {
      if (!client.send(address, 'fill', body)) break;
      accepted++;
      maxQueued = Math.max(maxQueued, client.peerStats(address)?.queuedBytes ?? 0);
      await new Promise((r) => setImmediate(r)); // let the socket hand bytes to the kernel
    }
    assert.ok(accepted < 2000, 'send() eventually returns false');
    assert.ok(accepted > 0);
    const stats = client.peerStats(address);
    assert.equal(stats?.state, 'open');
    assert.ok((stats?.queuedBytes ?? Infinity) <= maxQueuedBytesPerPeer, `queued ${stats?.queuedBytes} > ${maxQueuedBytesPerPeer}`);
    assert.ok(maxQueued <= maxQueuedBytesPerPeer);
    await assert.rejects(client.request(address, 'x', body), isTransportError('overloaded'));
    assert.equal(client.send(address, 'fill', body), false);
  });

  it('stops reading requests from a peer that never reads its replies (bounded reply queue)', async () => {
    const maxQueuedBytesPerPeer = 128 * 1024;
    const maxConcurrentHandlersPerConnection = 4;
    const server = await res.rpc({ maxFrameBytes: 64 * 1024, maxQueuedBytesPerPeer, maxConcurrentHandlersPerConnection, shutdownGraceMs: 50 });
    let handled = 0;
    server.handle('big', () => {
      handled++;
      return new Uint8Array(60 * 1024);
    });
    const socket = connect({ host: '127.0.0.1', port: portOf(server.localAddress) });
    res.add(() => void socket.destroy());
    socket.on('error', () => {});
    await new Promise<void>((r) => socket.once('connect', () => r()));
    socket.pause(); // never read the replies
    socket.write(helloFrame());
    for (let id = 1; id <= 2000; id++) {
      const r = encodeRpcFrame({ kind: 'request', id, method: 'big', body: new Uint8Array(0) }, 1024);
      assert.ok(r.ok);
      socket.write(r.value);
    }
    // Wait until the server stops making progress: the kernel buffers and then its queue are full.
    let last = -1;
    while (handled !== last) {
      last = handled;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(handled < 2000, `the server stopped taking requests (handled ${handled})`);
    const [stats] = server.inboundStats();
    assert.ok(stats !== undefined);
    const bound = maxQueuedBytesPerPeer + maxConcurrentHandlersPerConnection * (64 * 1024 + 4);
    assert.ok(stats.queuedBytes <= bound, `queued ${stats.queuedBytes} > ${bound}`);
    // Others are still served meanwhile.
    server.handle('ping', () => bytes('pong'));
    await assertStillServes(server);
  });

  it('drops a frame whose envelope is fine but whose payload is malformed error text', async () => {
    // An error reply whose message is not UTF-8 is a protocol error, not a crash.
    const bad = encodeRpcFrame({ kind: 'error', id: 1, code: 'remote', message: 'ab' }, 1024);
    assert.ok(bad.ok);
    const corrupted = Uint8Array.from(bad.value);
    corrupted[corrupted.length - 1] = 0xff;
    const { address } = await res.rawServer((socket) => {
      socket.write(helloFrame());
      socket.once('data', () => socket.write(corrupted));
    });
    const client = await res.rpc();
    await assert.rejects(client.request(address, 'x', bytes('')), isTransportError('protocol'));
  });
});
