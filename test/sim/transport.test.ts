import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRandom } from '../../src/core/random.ts';
import { TransportError } from '../../src/runtime/transport/types.ts';
import { DriftingClock, VirtualClock } from '../../src/sim/clock.ts';
import { SimNetwork } from '../../src/sim/network.ts';
import { runSettled } from '../../src/sim/settle.ts';
import { SimDatagramTransport, SimRpcTransport, type SimRpcOptions } from '../../src/sim/transport.ts';
import { Trace } from '../../src/sim/trace.ts';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

function world(seed = 1) {
  const clock = new VirtualClock();
  const trace = new Trace(() => clock.nowMs());
  const net = new SimNetwork(clock, new SeededRandom(seed), trace, { defaultLink: { delayMinMs: 5, delayMaxMs: 5 } });
  const rpc = (address: string, options: SimRpcOptions = {}): SimRpcTransport => new SimRpcTransport(net, clock, address, options);
  const run = (ms: number): Promise<number> => runSettled(clock, clock.nowMs() + ms);
  return { clock, trace, net, rpc, run };
}

/** Captures a promise's outcome without an unhandled rejection, for checking after run(). */
function outcome<T>(p: Promise<T>): { value?: T; error?: TransportError; done: boolean } {
  const o: { value?: T; error?: TransportError; done: boolean } = { done: false };
  p.then(
    (v) => Object.assign(o, { value: v, done: true }),
    (e: unknown) => {
      assert.ok(e instanceof TransportError, `expected a TransportError, got ${String(e)}`);
      Object.assign(o, { error: e, done: true });
    },
  );
  return o;
}

describe('SimDatagramTransport', () => {
  it('sends and receives datagrams with the sender address', async () => {
    const { net, run } = world();
    const a = new SimDatagramTransport(net, 'a:7702');
    const b = new SimDatagramTransport(net, 'b:7702');
    const got: string[] = [];
    b.onDatagram((from, data) => got.push(`${from}:${dec(data)}`));
    assert.equal(a.send('b:7702', enc('hi')), true);
    await run(10);
    assert.deepEqual(got, ['a:7702:hi']);
  });

  it('refuses datagrams over maxDatagramBytes and after close', async () => {
    const { net, run } = world();
    const a = new SimDatagramTransport(net, 'a:7702', { maxDatagramBytes: 4 });
    const b = new SimDatagramTransport(net, 'b:7702');
    let got = 0;
    b.onDatagram(() => got++);
    assert.equal(a.send('b:7702', new Uint8Array(5)), false);
    assert.equal(a.send('b:7702', new Uint8Array(4)), true);
    await run(10);
    assert.equal(got, 1);
    a.send('b:7702', new Uint8Array(1));
    await b.close();
    await b.close();
    await run(10);
    assert.equal(got, 1, 'nothing is delivered after close');
    await a.close();
    assert.equal(a.send('b:7702', new Uint8Array(1)), false);
    assert.equal(net.isListening('a:7702'), false);
  });

  it('a second onDatagram replaces the first handler', async () => {
    const { net, run } = world();
    const a = new SimDatagramTransport(net, 'a:7702');
    const b = new SimDatagramTransport(net, 'b:7702');
    const got: string[] = [];
    b.onDatagram(() => got.push('first'));
    b.onDatagram(() => got.push('second'));
    a.send('b:7702', enc('x'));
    await run(10);
    assert.deepEqual(got, ['second']);
  });
});

describe('SimRpcTransport requests', () => {
  it('round-trips a request to an async handler, with the caller address in the context', async () => {
    const { rpc, run, clock } = world();
    const a = rpc('a:7701');
    const b = rpc('b:7701');
    b.handle('echo', async (body, ctx) => enc(`${ctx.from} ${ctx.method} ${dec(body)}`));
    const r = outcome(a.request('b:7701', 'echo', enc('hello')));
    await run(100);
    assert.equal(dec(r.value!), 'a:7701 echo hello');
    assert.equal(clock.nowMs(), 100);
  });

  it("fails with 'no-handler' for an unknown method", async () => {
    const { rpc, run } = world();
    const a = rpc('a:7701');
    rpc('b:7701');
    const r = outcome(a.request('b:7701', 'nope', enc('')));
    await run(100);
    assert.equal(r.error?.code, 'no-handler');
  });

  it("fails with 'remote' and the handler's message when it throws or rejects", async () => {
    const { rpc, run } = world();
    const a = rpc('a:7701');
    const b = rpc('b:7701');
    b.handle('sync', () => {
      throw new Error('boom');
    });
    b.handle('async', async () => {
      throw new Error('later boom');
    });
    const r1 = outcome(a.request('b:7701', 'sync', enc('')));
    const r2 = outcome(a.request('b:7701', 'async', enc('')));
    await run(100);
    assert.equal(r1.error?.code, 'remote');
    assert.match(r1.error!.message, /boom/);
    assert.equal(r2.error?.code, 'remote');
    assert.match(r2.error!.message, /later boom/);
  });

  it("times out on the caller's clock when the peer never answers (partitioned)", async () => {
    const { rpc, run, net, clock } = world();
    const a = rpc('a:7701', { requestTimeoutMs: 300 });
    const b = rpc('b:7701');
    b.handle('echo', (body) => body);
    net.partition([['a'], ['b']]);
    const r = outcome(a.request('b:7701', 'echo', enc('x')));
    const r2 = outcome(a.request('b:7701', 'echo', enc('x'), { timeoutMs: 50 }));
    await run(299);
    assert.equal(r.done, false);
    assert.equal(r2.error?.code, 'timeout');
    await run(1);
    assert.equal(r.error?.code, 'timeout');
    assert.equal(clock.nowMs(), 300);
  });

  it('times out by the local clock, so a fast-running clock times out sooner in global time', async () => {
    const { net, run, clock } = world();
    const fast = new DriftingClock(clock, { rate: 2 });
    const a = new SimRpcTransport(net, fast, 'a:7701', { requestTimeoutMs: 100 });
    net.partition([['a'], ['b']]);
    const r = outcome(a.request('b:7701', 'x', enc('')));
    await run(49);
    assert.equal(r.done, false);
    await run(1);
    assert.equal(r.error?.code, 'timeout');
  });

  it("fails with 'refused' when nothing listens at the address, without waiting for the timeout", async () => {
    const { rpc, run } = world();
    const a = rpc('a:7701', { requestTimeoutMs: 10_000 });
    const r = outcome(a.request('b:7701', 'echo', enc('x')));
    await run(20);
    assert.equal(r.error?.code, 'refused');
  });

  it("a killed (crashed) peer is 'refused' for new requests; in-flight ones time out", async () => {
    const { rpc, run } = world();
    const a = rpc('a:7701', { requestTimeoutMs: 1000 });
    const b = rpc('b:7701');
    b.handle('slow', () => new Promise(() => {}));
    const inFlight = outcome(a.request('b:7701', 'slow', enc('')));
    await run(10);
    b.kill();
    const fresh = outcome(a.request('b:7701', 'slow', enc('')));
    await run(20);
    assert.equal(fresh.error?.code, 'refused');
    assert.equal(inFlight.done, false);
    await run(1000);
    assert.equal(inFlight.error?.code, 'timeout');
  });

  it("rejects requests and responses over maxMessageBytes with 'too-large'", async () => {
    const { rpc, run } = world();
    const a = rpc('a:7701', { maxMessageBytes: 8 });
    const b = rpc('b:7701', { maxMessageBytes: 8 });
    b.handle('big', () => new Uint8Array(9));
    const req = outcome(a.request('b:7701', 'big', new Uint8Array(9)));
    const resp = outcome(a.request('b:7701', 'big', new Uint8Array(8)));
    assert.equal(a.send('b:7701', 'm', new Uint8Array(9)), false);
    await run(100);
    assert.equal(req.error?.code, 'too-large');
    assert.equal(resp.error?.code, 'too-large');
  });

  it("bounds requests and messages in flight per peer with 'overloaded'", async () => {
    const { rpc, run } = world();
    const a = rpc('a:7701', { maxInFlightPerPeer: 3, requestTimeoutMs: 1000 });
    const b = rpc('b:7701');
    rpc('c:7701').handle('ok', () => enc('ok'));
    b.handle('hang', () => new Promise(() => {}));
    const hung = [0, 1, 2].map(() => outcome(a.request('b:7701', 'hang', enc(''))));
    const over = outcome(a.request('b:7701', 'hang', enc('')));
    assert.equal(a.send('b:7701', 'm', enc('')), false);
    const other = outcome(a.request('c:7701', 'ok', enc('')));
    await run(10);
    assert.equal(over.error?.code, 'overloaded');
    assert.equal(dec(other.value!), 'ok', 'another peer is not affected');
    await run(1000);
    assert.deepEqual(hung.map((h) => h.error?.code), ['timeout', 'timeout', 'timeout']);
    // Timeouts free the slots again.
    assert.equal(a.send('b:7701', 'm', enc('')), true);
  });
});

describe('SimRpcTransport one-way messages', () => {
  it('delivers messages in order per peer despite jitter, loss and reordering', async () => {
    const { rpc, run, net } = world();
    net.setDefaultLink({ delayMinMs: 1, delayMaxMs: 40, lossProbability: 0.3, reorderProbability: 0.5 });
    const a = rpc('a:7701');
    const b = rpc('b:7701');
    const got: number[] = [];
    b.onMessage('n', (body, ctx) => {
      assert.equal(ctx.from, 'a:7701');
      got.push(body[0]!);
    });
    for (let i = 0; i < 100; i++) {
      assert.equal(a.send('b:7701', 'n', Uint8Array.of(i)), true);
      await run(1);
    }
    await run(5000);
    assert.deepEqual(got, [...Array(100).keys()]);
  });

  it('drops messages for a method without a handler', async () => {
    const { rpc, run } = world();
    const a = rpc('a:7701');
    const b = rpc('b:7701');
    const got: string[] = [];
    b.onMessage('known', () => got.push('known'));
    a.send('b:7701', 'unknown', enc(''));
    a.send('b:7701', 'known', enc(''));
    await run(100);
    assert.deepEqual(got, ['known']);
  });

  it('registers one handler per method', () => {
    const { rpc } = world();
    const a = rpc('a:7701');
    a.handle('m', (b) => b);
    assert.throws(() => a.handle('m', (b) => b), /already registered/);
    a.onMessage('m', () => {});
    assert.throws(() => a.onMessage('m', () => {}), /already registered/);
  });
});

describe('SimRpcTransport close and restart', () => {
  it("close fails pending requests with 'closed', then refuses new work", async () => {
    const { rpc, run } = world();
    const a = rpc('a:7701');
    const b = rpc('b:7701');
    b.handle('hang', () => new Promise(() => {}));
    const pending = outcome(a.request('b:7701', 'hang', enc('')));
    await run(10);
    await a.close();
    await a.close();
    await run(1);
    assert.equal(pending.error?.code, 'closed');
    const after = outcome(a.request('b:7701', 'hang', enc('')));
    await run(1);
    assert.equal(after.error?.code, 'closed');
    assert.equal(a.send('b:7701', 'm', enc('')), false);
  });

  it("a peer closing while serving our request gives 'closed' before the timeout", async () => {
    const { rpc, run } = world();
    const a = rpc('a:7701', { requestTimeoutMs: 10_000 });
    const b = rpc('b:7701');
    let finish: (v: Uint8Array) => void = () => {};
    b.handle('slow', () => new Promise((resolve) => (finish = resolve)));
    const r = outcome(a.request('b:7701', 'slow', enc('')));
    await run(10);
    await b.close();
    finish(enc('too late'));
    await run(20);
    assert.equal(r.error?.code, 'closed');
  });

  it('a reply to a crashed incarnation never reaches the restarted one', async () => {
    const { rpc, run } = world();
    const a1 = rpc('a:7701');
    const b = rpc('b:7701');
    let finish: (v: Uint8Array) => void = () => {};
    b.handle('slow', () => new Promise((resolve) => (finish = resolve)));
    outcome(a1.request('b:7701', 'slow', enc('old')));
    await run(10);
    a1.kill();
    const a2 = rpc('a:7701', { requestTimeoutMs: 100 });
    b.handle('fast', () => enc('fast'));
    const r = outcome(a2.request('b:7701', 'fast', enc('')));
    finish(enc('stale reply for id 1'));
    await run(100);
    assert.equal(dec(r.value!), 'fast');
  });
});
