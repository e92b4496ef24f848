// TcpRpcTransport over time: unreachable peers and backoff, connect timeouts, a server that
// restarts on the same port, and clean shutdown on both ends. Time-dependent parts run on a
// ManualClock so the test decides when a backoff or a deadline has passed.
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer } from 'node:net';
import { SeededRandom } from '../../../src/core/random.ts';
import { bytes, helloFrame, isTransportError, ManualClock, portOf, Resources, text, waitFor } from './helpers.ts';

let res: Resources;
beforeEach(() => {
  res = new Resources();
});
afterEach(async () => {
  await res.closeAll();
});

/** A loopback port nobody listens on (bound by the OS, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const a = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (a === null || typeof a !== 'object') throw new Error('no address');
  return a.port;
}

describe('TcpRpcTransport lifecycle', () => {
  it("fails with 'refused' on a closed port (nothing listens), then fails fast while backing off, with growing delays", async () => {
    const clock = new ManualClock();
    const client = await res.rpc({ clock, random: new SeededRandom(1), reconnectBackoff: { initialDelayMs: 1000, maxDelayMs: 8000 } });
    const to = `127.0.0.1:${await closedPort()}`;
    await assert.rejects(client.request(to, 'x', bytes('')), isTransportError('refused', 'ECONNREFUSED'));
    assert.deepEqual([client.counters.dials, client.counters.dialFailures], [1, 1]);
    assert.equal(client.peerStats(to)?.state, 'backoff');

    // While backing off: no dial, an immediate 'refused' (what the last dial found), and send() refuses.
    await assert.rejects(client.request(to, 'x', bytes('')), isTransportError('refused', 'retrying later'));
    assert.equal(client.send(to, 'x', bytes('')), false);
    assert.equal(client.counters.dials, 1);

    // First delay is in [500, 1000) ms; the second in [1000, 2000).
    clock.advance(1000);
    assert.equal(client.peerStats(to)?.state, 'idle');
    await assert.rejects(client.request(to, 'x', bytes('')), isTransportError('refused'));
    assert.equal(client.counters.dials, 2);
    clock.advance(999);
    assert.equal(client.peerStats(to)?.state, 'backoff', 'the second delay is longer than the first ceiling');
    clock.advance(1001);
    assert.equal(client.peerStats(to)?.state, 'idle');
    assert.equal(client.peerStats(to)?.failedDials, 2);
  });

  it("gives up on a connection that never completes the hello within connectTimeoutMs, having delivered nothing", async () => {
    const clock = new ManualClock();
    const received: Buffer[] = [];
    let accepted = 0;
    const { address } = await res.rawServer((socket) => {
      accepted++;
      socket.on('data', (d: Buffer) => received.push(d)); // reads, but never says hello
    });
    const client = await res.rpc({ clock, connectTimeoutMs: 2000, requestTimeoutMs: 60_000 });
    const call = client.request(address, 'x', bytes('payload'));
    assert.equal(client.send(address, 'm', bytes('queued')), true, 'queued while connecting');
    await waitFor(() => accepted === 1 && received.length > 0, 'the TCP connection and our hello');
    assert.equal(client.peerStats(address)?.state, 'connecting');
    clock.advance(1999);
    assert.equal(client.peerStats(address)?.state, 'connecting');
    clock.advance(1);
    await assert.rejects(call, isTransportError('unreachable', 'no connection within 2000 ms'));
    assert.deepEqual(Buffer.concat(received), Buffer.from(helloFrame()), 'only our hello left before the peer answered');
    assert.equal(client.peerStats(address)?.state, 'backoff');
  });

  it('drops an inbound connection that never says hello after connectTimeoutMs', async () => {
    const clock = new ManualClock();
    const server = await res.rpc({ clock, connectTimeoutMs: 1000 });
    const socket = connect({ host: '127.0.0.1', port: portOf(server.localAddress) });
    res.add(() => void socket.destroy());
    socket.on('error', () => {});
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.resume();
    await waitFor(() => server.inboundConnections === 1, 'the server to accept');
    clock.advance(999);
    assert.equal(server.inboundConnections, 1);
    clock.advance(1);
    await closed;
    assert.equal(server.inboundConnections, 0);
  });

  it('forgets idle peers once it has talked to many addresses', async () => {
    const clock = new ManualClock();
    const client = await res.rpc({ clock, reconnectBackoff: { initialDelayMs: 100, maxDelayMs: 100 } });
    const port = await closedPort();
    // 1100 distinct loopback addresses (all of 127/8 is loopback on Linux), none listening.
    const peers = Array.from({ length: 1100 }, (_, i) => `127.0.${(i >> 8) + 1}.${(i & 255) + 1}:${port}`);
    for (const to of peers.slice(0, 1050)) client.send(to, 'x', bytes(''));
    await waitFor(() => client.counters.dialFailures === 1050, 'all dials to fail');
    clock.advance(100); // every backoff is over: all these channels are idle
    assert.equal(client.peerStats(peers[0]!)?.state, 'idle');
    client.send(peers[1050]!, 'x', bytes(''));
    assert.equal(client.peerStats(peers[0]!), undefined, 'an idle peer was forgotten');
    assert.equal(client.peerStats(peers[1050]!)?.state, 'connecting', 'the new peer is kept');
  });

  it('reconnects after the server restarts on the same port', async () => {
    const clock = new ManualClock();
    const first = await res.rpc();
    first.handle('who', () => bytes('first'));
    const port = portOf(first.localAddress);
    const client = await res.rpc({ clock, random: new SeededRandom(7), reconnectBackoff: { initialDelayMs: 100, maxDelayMs: 400 } });
    assert.equal(text(await client.request(first.localAddress, 'who', bytes(''))), 'first');

    await first.close();
    await waitFor(() => client.peerStats(first.localAddress)?.state === 'idle', 'the client to notice the dropped connection');
    await assert.rejects(client.request(first.localAddress, 'who', bytes('')), isTransportError('refused'));

    const second = await res.rpc({ port });
    second.handle('who', () => bytes('second'));
    // Still backing off: fails fast even though the server is back.
    await assert.rejects(client.request(first.localAddress, 'who', bytes('')), isTransportError('refused'));
    clock.advance(400);
    assert.equal(text(await client.request(first.localAddress, 'who', bytes(''))), 'second');
    assert.equal(client.counters.dials, 3);
    assert.equal(client.peerStats(first.localAddress)?.failedDials, 0, 'a successful connection resets the backoff');
  });

  it("close() fails pending requests with 'closed', is idempotent, and refuses later calls", async () => {
    const server = await res.rpc();
    server.handle('hang', () => new Promise<Uint8Array>(() => {}));
    const client = await res.rpc({ shutdownGraceMs: 100 });
    const pending = [1, 2, 3].map(() => client.request(server.localAddress, 'hang', bytes('')));
    await waitFor(() => server.inboundStats()[0]?.handlersInFlight === 3, 'the handlers to start');
    const closing = client.close();
    assert.equal(client.close(), closing, 'the same promise');
    for (const p of pending) await assert.rejects(p, isTransportError('closed'));
    await closing;
    await assert.rejects(client.request(server.localAddress, 'hang', bytes('')), isTransportError('closed'));
    assert.equal(client.send(server.localAddress, 'm', bytes('')), false);
    await client.close();
  });

  it('close() on the server lets in-flight handlers reply, then stops listening', async () => {
    const server = await res.rpc();
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    server.handle('slow', async () => {
      await gate;
      return bytes('made it');
    });
    const client = await res.rpc();
    const call = client.request(server.localAddress, 'slow', bytes(''));
    await waitFor(() => server.inboundStats()[0]?.handlersInFlight === 1, 'the handler to start');
    const closing = server.close();
    release();
    assert.equal(text(await call), 'made it');
    await closing;
    const other = await res.rpc();
    await assert.rejects(other.request(server.localAddress, 'slow', bytes('')), isTransportError('refused'));
  });

  it("close() on the server is bounded: a handler that never finishes is cut after the grace period", async () => {
    const server = await res.rpc({ shutdownGraceMs: 100 });
    server.handle('hang', () => new Promise<Uint8Array>(() => {}));
    const client = await res.rpc();
    const call = client.request(server.localAddress, 'hang', bytes(''), { timeoutMs: 60_000 });
    await waitFor(() => server.inboundStats()[0]?.handlersInFlight === 1, 'the handler to start');
    await server.close();
    await assert.rejects(call, isTransportError('closed'));
  });

  it('close() on the client flushes queued one-way messages, even those queued before the connection opened', async () => {
    const server = await res.rpc();
    const got: string[] = [];
    server.onMessage('note', (body) => got.push(text(body)));
    const client = await res.rpc();
    for (let i = 0; i < 100; i++) assert.equal(client.send(server.localAddress, 'note', bytes(String(i))), true);
    await client.close();
    await waitFor(() => got.length === 100, 'all messages');
    assert.deepEqual(got, Array.from({ length: 100 }, (_, i) => String(i)));
  });

  it("fails requests in flight with 'closed' when the peer drops the connection", async () => {
    const { address } = await res.rawServer((socket) => {
      socket.write(helloFrame());
      socket.once('data', () => setTimeout(() => socket.destroy(), 20));
    });
    const client = await res.rpc();
    await assert.rejects(client.request(address, 'x', bytes('')), isTransportError('closed'));
    assert.equal(client.peerStats(address)?.state, 'idle', 'no backoff after a connection that had opened');
  });
});
