// TcpRpcTransport on real loopback sockets: the request/response contract.
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bytes, isTransportError, Resources, text, waitFor } from './helpers.ts';
import type { RequestContext } from '../../../src/runtime/transport/types.ts';

let res: Resources;
beforeEach(() => {
  res = new Resources();
});
afterEach(async () => {
  await res.closeAll();
});

describe('TcpRpcTransport requests', () => {
  it('answers a request and tells the handler who asked and for what', async () => {
    const server = await res.rpc();
    const client = await res.rpc();
    let seen: RequestContext | undefined;
    server.handle('echo', (body, ctx) => {
      seen = ctx;
      return bytes(`echo:${text(body)}`);
    });
    const reply = await client.request(server.localAddress, 'echo', bytes('hi'));
    assert.equal(text(reply), 'echo:hi');
    assert.equal(seen?.method, 'echo');
    assert.match(seen?.from ?? '', /^127\.0\.0\.1:\d+$/);
    // Empty bodies both ways are fine.
    server.handle('empty', () => new Uint8Array(0));
    assert.equal((await client.request(server.localAddress, 'empty', new Uint8Array(0))).length, 0);
  });

  it('multiplexes many concurrent requests over one connection, matching replies by id', async () => {
    const server = await res.rpc();
    const client = await res.rpc();
    server.handle('double', async (body) => {
      const n = Number(text(body));
      // Finish out of order: later requests often reply first.
      await new Promise((r) => setTimeout(r, (n * 7) % 13));
      return bytes(String(n * 2));
    });
    const replies = await Promise.all(Array.from({ length: 300 }, (_, n) => client.request(server.localAddress, 'double', bytes(String(n)))));
    assert.deepEqual(
      replies.map((r) => Number(text(r))),
      Array.from({ length: 300 }, (_, n) => n * 2),
    );
    assert.equal(client.counters.dials, 1, 'one dial for all requests');
    assert.equal(server.counters.accepted, 1, 'one connection carried them all');
    assert.equal(server.inboundConnections, 1);
    assert.equal(client.peerStats(server.localAddress)?.state, 'open');
    assert.equal(client.peerStats(server.localAddress)?.pendingRequests, 0);
  });

  it('delivers one-way messages in order', async () => {
    const server = await res.rpc();
    const client = await res.rpc();
    const got: number[] = [];
    server.onMessage('seq', (body) => got.push(Number(text(body))));
    for (let i = 0; i < 2000; i++) assert.equal(client.send(server.localAddress, 'seq', bytes(String(i))), true);
    await waitFor(() => got.length === 2000, 'all messages');
    assert.deepEqual(got, Array.from({ length: 2000 }, (_, i) => i));
    assert.equal(server.counters.accepted, 1);
  });

  it('drops one-way messages without a handler and counts them', async () => {
    const server = await res.rpc();
    const client = await res.rpc();
    const got: string[] = [];
    server.onMessage('known', (body) => got.push(text(body)));
    assert.equal(client.send(server.localAddress, 'unknown', bytes('x')), true);
    assert.equal(client.send(server.localAddress, 'known', bytes('y')), true);
    await waitFor(() => got.length === 1, 'the known message');
    assert.equal(server.counters.unknownMessages, 1);
  });

  it("reports an unknown method as 'no-handler'", async () => {
    const server = await res.rpc();
    const client = await res.rpc();
    await assert.rejects(client.request(server.localAddress, 'nope', bytes('x')), isTransportError('no-handler', 'nope'));
  });

  it("turns handler failures into 'remote' errors carrying the message, and keeps serving", async () => {
    const server = await res.rpc();
    const client = await res.rpc();
    server.handle('throws', () => {
      throw new Error('boom');
    });
    server.handle('rejects', async () => {
      throw new Error('async boom');
    });
    server.handle('long', () => {
      throw new Error('x'.repeat(10_000));
    });
    server.handle('ok', () => bytes('fine'));
    await assert.rejects(client.request(server.localAddress, 'throws', bytes('')), isTransportError('remote', 'boom'));
    await assert.rejects(client.request(server.localAddress, 'rejects', bytes('')), isTransportError('remote', 'async boom'));
    await assert.rejects(client.request(server.localAddress, 'long', bytes('')), (e: unknown) => {
      assert.ok(isTransportError('remote')(e));
      assert.ok((e as Error).message.length <= 1024, 'long remote messages are cut');
      return true;
    });
    assert.equal(text(await client.request(server.localAddress, 'ok', bytes(''))), 'fine');
    assert.equal(server.counters.handlerErrors, 3);
  });

  it("times out a request that gets no reply, ignores the late reply, and keeps the connection", async () => {
    const server = await res.rpc();
    const client = await res.rpc({ requestTimeoutMs: 10_000 });
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    server.handle('slow', async () => {
      await gate;
      return bytes('late');
    });
    server.handle('fast', () => bytes('fast'));
    await assert.rejects(client.request(server.localAddress, 'slow', bytes(''), { timeoutMs: 30 }), isTransportError('timeout', 'slow'));
    assert.equal(client.peerStats(server.localAddress)?.pendingRequests, 0);
    release();
    await waitFor(() => client.counters.lateReplies === 1, 'the late reply');
    assert.equal(text(await client.request(server.localAddress, 'fast', bytes(''))), 'fast');
    assert.equal(client.counters.dials, 1);
  });

  it('refuses requests and messages over maxFrameBytes on the sender side', async () => {
    const server = await res.rpc({ maxFrameBytes: 4096 });
    const client = await res.rpc({ maxFrameBytes: 4096 });
    server.handle('echo', (body) => body);
    server.handle('big', () => new Uint8Array(5000));
    await assert.rejects(client.request(server.localAddress, 'echo', new Uint8Array(5000)), isTransportError('too-large'));
    assert.equal(client.send(server.localAddress, 'echo', new Uint8Array(5000)), false);
    assert.equal(client.counters.refusedTooLarge, 2);
    // A reply too large for the frame limit becomes a 'too-large' error at the caller.
    await assert.rejects(client.request(server.localAddress, 'big', bytes('')), isTransportError('too-large'));
    assert.equal((await client.request(server.localAddress, 'echo', new Uint8Array(4000))).length, 4000);
  });

  it('asserts on programmer errors: bad method names and duplicate handlers', async () => {
    const t = await res.rpc();
    assert.throws(() => t.handle('', () => new Uint8Array(0)), /assertion failed/);
    assert.throws(() => t.send('127.0.0.1:1', 'x'.repeat(256), new Uint8Array(0)), /assertion failed/);
    t.handle('a', () => new Uint8Array(0));
    assert.throws(() => t.handle('a', () => new Uint8Array(0)), /already registered/);
  });

  it("rejects a malformed address as 'unreachable'", async () => {
    const client = await res.rpc();
    await assert.rejects(client.request('not-an-address', 'x', bytes('')), isTransportError('unreachable'));
    assert.equal(client.send('[::1', 'x', bytes('')), false);
  });

  it('works over IPv6 loopback', async (t) => {
    let server;
    try {
      server = await res.rpc({ host: '::1' });
    } catch {
      t.skip('IPv6 loopback is not available on this machine');
      return;
    }
    const client = await res.rpc({ host: '::1' });
    server.handle('echo', (body, ctx) => bytes(`${text(body)} from ${ctx.from}`));
    assert.match(server.localAddress, /^\[::1\]:\d+$/);
    assert.match(text(await client.request(server.localAddress, 'echo', bytes('v6'))), /^v6 from \[::1\]:\d+$/);
  });
});
