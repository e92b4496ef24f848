import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRandom } from '../../src/core/random.ts';
import { VirtualClock } from '../../src/sim/clock.ts';
import type { Frame } from '../../src/sim/frames.ts';
import { hostOf, SimNetwork, type LinkSettings } from '../../src/sim/network.ts';
import { Trace } from '../../src/sim/trace.ts';

interface Arrival {
  readonly atMs: number;
  readonly from: string;
  readonly seq: number;
}

/** A network with endpoints a:1, b:1, c:1 that record what they receive (datagram byte 0-1 = seq). */
function setup(seed: number, link: Partial<LinkSettings> = {}) {
  const clock = new VirtualClock();
  const trace = new Trace(() => clock.nowMs());
  const net = new SimNetwork(clock, new SeededRandom(seed), trace, { defaultLink: link });
  const got: Record<string, Arrival[]> = { 'a:1': [], 'b:1': [], 'c:1': [] };
  const frames: Record<string, Frame[]> = { 'a:1': [], 'b:1': [], 'c:1': [] };
  for (const addr of Object.keys(got)) {
    net.attach(addr, (from, frame) => {
      frames[addr]!.push(frame);
      if (frame.kind === 'datagram') got[addr]!.push({ atMs: clock.nowMs(), from, seq: seqOf(frame.data) });
    });
  }
  return { clock, trace, net, got, frames };
}

const dgram = (seq: number): Frame => ({ kind: 'datagram', data: Uint8Array.of(seq >> 8, seq & 0xff) });
const seqOf = (data: Uint8Array): number => (data[0]! << 8) | data[1]!;

function sendMany(net: SimNetwork, clock: VirtualClock, from: string, to: string, count: number, gapMs = 0): void {
  for (let i = 0; i < count; i++) {
    net.send(from, to, dgram(i));
    if (gapMs > 0) clock.advance(gapMs);
  }
}

/** A trace-producing run with every fault turned on. */
function faultyRun(seed: number): string {
  const { clock, net, trace } = setup(seed, {
    delayMinMs: 1,
    delayMaxMs: 30,
    lossProbability: 0.2,
    duplicateProbability: 0.2,
    reorderProbability: 0.2,
  });
  for (let i = 0; i < 100; i++) {
    net.send('a:1', i % 2 === 0 ? 'b:1' : 'c:1', dgram(i));
    net.send('b:1', 'a:1', { kind: 'rpc-message', method: 'm', body: Uint8Array.of(i) });
    clock.advance(3);
  }
  clock.advance(1000);
  return trace.text();
}

describe('SimNetwork delay', () => {
  it('delivers every datagram within [delayMinMs, delayMaxMs] and uses the whole range', () => {
    const { clock, net, got } = setup(1, { delayMinMs: 5, delayMaxMs: 15 });
    sendMany(net, clock, 'a:1', 'b:1', 300);
    clock.advance(100);
    const times = got['b:1']!.map((a) => a.atMs);
    assert.equal(times.length, 300);
    for (const t of times) assert.ok(t >= 5 && t <= 15, `arrival at ${t}`);
    assert.equal(Math.min(...times), 5);
    assert.equal(Math.max(...times), 15);
  });

  it('uses per-link settings, directionally, over the defaults', () => {
    const { clock, net, got } = setup(2, { delayMinMs: 1, delayMaxMs: 1 });
    net.setLink('a', 'b', { delayMinMs: 50, delayMaxMs: 50 });
    net.send('a:1', 'b:1', dgram(1));
    net.send('b:1', 'a:1', dgram(2));
    net.send('a:1', 'c:1', dgram(3));
    clock.advance(100);
    assert.deepEqual(got['b:1']!.map((a) => a.atMs), [50]);
    assert.deepEqual(got['a:1']!.map((a) => a.atMs), [1]);
    assert.deepEqual(got['c:1']!.map((a) => a.atMs), [1]);
    net.clearLink('a', 'b');
    net.send('a:1', 'b:1', dgram(4));
    clock.advance(100);
    assert.deepEqual(got['b:1']!.map((a) => a.atMs), [50, 101]);
  });
});

describe('SimNetwork loss', () => {
  it('with loss 1 nothing arrives', () => {
    const { clock, net, got } = setup(3, { lossProbability: 1 });
    sendMany(net, clock, 'a:1', 'b:1', 100);
    clock.advance(100);
    assert.equal(got['b:1']!.length, 0);
    assert.equal(net.stats().dropped.loss, 100);
  });

  it('with loss 0.3 roughly 30% are dropped', () => {
    const { clock, net, got } = setup(4, { lossProbability: 0.3 });
    sendMany(net, clock, 'a:1', 'b:1', 1000);
    clock.advance(100);
    const arrived = got['b:1']!.length;
    // Binomial(1000, 0.7): mean 700, sd 14.5; these bounds are > 6 sd wide.
    assert.ok(arrived > 600 && arrived < 800, `arrived ${arrived}`);
    assert.equal(net.stats().dropped.loss, 1000 - arrived);
  });

  it('never loses a stream frame: loss costs a retransmission delay instead', () => {
    const { clock, net, frames } = setup(5, { lossProbability: 0.5, delayMinMs: 1, delayMaxMs: 1 });
    for (let i = 0; i < 50; i++) net.send('a:1', 'b:1', { kind: 'rpc-message', method: 'm', body: Uint8Array.of(i) });
    clock.advance(1);
    assert.ok(frames['b:1']!.length < 50, 'some frames were held for retransmission');
    clock.advance(10_000);
    assert.equal(frames['b:1']!.length, 50);
  });
});

describe('SimNetwork duplication', () => {
  it('delivers some datagrams twice with equal content when duplication is on', () => {
    const { clock, net, got } = setup(6, { duplicateProbability: 0.3 });
    sendMany(net, clock, 'a:1', 'b:1', 200);
    clock.advance(100);
    const seqs = got['b:1']!.map((a) => a.seq);
    const dupCount = seqs.length - new Set(seqs).size;
    assert.ok(dupCount > 20 && dupCount < 100, `duplicates ${dupCount}`);
    assert.equal(net.stats().duplicated, dupCount);
    assert.deepEqual([...new Set(seqs)].sort((x, y) => x - y), [...Array(200).keys()]);
  });

  it('never duplicates without duplication, nor on streams', () => {
    const { clock, net, got, frames } = setup(7, { duplicateProbability: 1 });
    net.setLink('b', 'c', { duplicateProbability: 0 });
    sendMany(net, clock, 'b:1', 'c:1', 100);
    for (let i = 0; i < 100; i++) net.send('a:1', 'b:1', { kind: 'rpc-message', method: 'm', body: Uint8Array.of(i) });
    clock.advance(100);
    assert.equal(got['c:1']!.length, 100);
    assert.equal(frames['b:1']!.length, 100);
  });
});

describe('SimNetwork reordering', () => {
  it('lets a later datagram overtake an earlier one when reordering is on', () => {
    const { clock, net, got } = setup(8, { delayMinMs: 10, delayMaxMs: 10, reorderProbability: 0.2, reorderExtraMaxMs: 20 });
    sendMany(net, clock, 'a:1', 'b:1', 100, 1);
    clock.advance(100);
    const seqs = got['b:1']!.map((a) => a.seq);
    assert.equal(seqs.length, 100);
    const overtakes = seqs.filter((s, i) => i > 0 && s < seqs[i - 1]!).length;
    assert.ok(overtakes >= 5, `overtakes ${overtakes}`);
  });

  it('keeps order with a constant delay and no reordering (the control)', () => {
    const { clock, net, got } = setup(8, { delayMinMs: 10, delayMaxMs: 10 });
    sendMany(net, clock, 'a:1', 'b:1', 100, 1);
    clock.advance(100);
    assert.deepEqual(got['b:1']!.map((a) => a.seq), [...Array(100).keys()]);
  });

  it('keeps stream frames in order per pair despite jitter and reordering', () => {
    const { clock, net, frames } = setup(9, { delayMinMs: 1, delayMaxMs: 50, reorderProbability: 1 });
    for (let i = 0; i < 100; i++) {
      net.send('a:1', 'b:1', { kind: 'rpc-message', method: 'm', body: Uint8Array.of(i) });
      clock.advance(1);
    }
    clock.advance(1000);
    const order = frames['b:1']!.map((f) => (f.kind === 'rpc-message' ? f.body[0] : -1));
    assert.deepEqual(order, [...Array(100).keys()]);
  });
});

describe('SimNetwork partitions', () => {
  it('symmetric: blocks both directions between groups only, restored after heal', () => {
    const { clock, net, got } = setup(10);
    net.partition([['a'], ['b', 'c']]);
    const sendAll = (): void => {
      for (const from of ['a:1', 'b:1', 'c:1']) for (const to of ['a:1', 'b:1', 'c:1']) if (from !== to) net.send(from, to, dgram(0));
      clock.advance(100);
    };
    sendAll();
    assert.deepEqual(got['a:1']!.map((x) => x.from), []);
    assert.deepEqual(got['b:1']!.map((x) => x.from), ['c:1']);
    assert.deepEqual(got['c:1']!.map((x) => x.from), ['b:1']);
    assert.equal(net.stats().dropped.partition, 4);
    net.heal();
    for (const k of Object.keys(got)) got[k] = [];
    sendAll();
    assert.deepEqual(got['a:1']!.map((x) => x.from).sort(), ['b:1', 'c:1']);
    assert.deepEqual(got['b:1']!.map((x) => x.from).sort(), ['a:1', 'c:1']);
  });

  it('hosts not named in a partition are together in the rest group', () => {
    const { net } = setup(11);
    net.partition([['a']]);
    assert.equal(net.isBlocked('a', 'b'), true);
    assert.equal(net.isBlocked('b', 'c'), false);
    assert.equal(net.isBlocked('a', 'a'), false);
  });

  it('asymmetric: blocks A->B only, restored after unblock', () => {
    const { clock, net, got } = setup(12);
    net.block('a', 'b');
    net.send('a:1', 'b:1', dgram(1));
    net.send('b:1', 'a:1', dgram(2));
    clock.advance(100);
    assert.equal(got['b:1']!.length, 0);
    assert.deepEqual(got['a:1']!.map((x) => x.seq), [2]);
    net.unblock('a', 'b');
    net.send('a:1', 'b:1', dgram(3));
    clock.advance(100);
    assert.deepEqual(got['b:1']!.map((x) => x.seq), [3]);
    net.block('b', 'a');
    net.send('b:1', 'a:1', dgram(4));
    net.send('a:1', 'b:1', dgram(5));
    clock.advance(100);
    assert.deepEqual(got['a:1']!.map((x) => x.seq), [2]);
    assert.deepEqual(got['b:1']!.map((x) => x.seq), [3, 5]);
    net.heal();
    net.send('b:1', 'a:1', dgram(6));
    clock.advance(100);
    assert.deepEqual(got['a:1']!.map((x) => x.seq), [2, 6]);
  });

  it('drops frames in flight when a partition starts before they arrive', () => {
    const { clock, net, got, frames } = setup(13, { delayMinMs: 10, delayMaxMs: 10 });
    net.send('a:1', 'b:1', dgram(1));
    net.send('a:1', 'b:1', { kind: 'rpc-message', method: 'm', body: Uint8Array.of(1) });
    clock.advance(5);
    net.partition([['a'], ['b']]);
    clock.advance(5);
    net.heal();
    clock.advance(100);
    assert.equal(got['b:1']!.length, 0);
    assert.equal(frames['b:1']!.length, 0);
    assert.equal(net.stats().dropped.partition, 2);
  });
});

describe('SimNetwork endpoints and crashes', () => {
  it('drops frames to an address nobody listens at, and bounces RPC requests as unreachable', () => {
    const { clock, net, frames } = setup(14);
    net.send('a:1', 'z:1', dgram(1));
    net.send('a:1', 'z:1', { kind: 'rpc-request', id: 7, method: 'm', body: new Uint8Array(0), replyEpoch: 1 });
    clock.advance(100);
    assert.equal(net.stats().dropped.down, 2);
    assert.deepEqual(frames['a:1'], [{ kind: 'rpc-unreachable', id: 7 }]);
  });

  it('does not deliver a reply addressed to an older epoch of an endpoint', () => {
    const { clock, net } = setup(15);
    const received: Frame[] = [];
    const e1 = net.attach('d:1', () => assert.fail('old epoch must not receive'));
    net.send('a:1', 'd:1', { kind: 'rpc-response', id: 1, body: new Uint8Array(0) }, { toEpoch: e1 });
    net.detach('d:1', e1);
    net.attach('d:1', (_from, f) => received.push(f));
    clock.advance(100);
    assert.deepEqual(received, []);
    assert.equal(net.stats().dropped.down, 1);
  });

  it('crashHost drops everything in flight from and to the host', () => {
    const { clock, net, got } = setup(16, { delayMinMs: 10, delayMaxMs: 10 });
    net.send('a:1', 'b:1', dgram(1));
    net.send('b:1', 'c:1', dgram(2));
    net.send('c:1', 'a:1', dgram(3));
    clock.advance(5);
    net.crashHost('b');
    clock.advance(100);
    assert.equal(got['b:1']!.length, 0);
    assert.equal(got['c:1']!.length, 0);
    assert.deepEqual(got['a:1']!.map((x) => x.seq), [3]);
    assert.equal(net.stats().dropped.crash, 2);
  });

  it('copies frames, so a sender reusing its buffer cannot change what was sent', () => {
    const { clock, net, got } = setup(17);
    const buf = Uint8Array.of(0, 1);
    net.send('a:1', 'b:1', { kind: 'datagram', data: buf });
    buf[1] = 9;
    clock.advance(100);
    assert.deepEqual(got['b:1']!.map((x) => x.seq), [1]);
  });

  it('parses hosts out of addresses', () => {
    assert.equal(hostOf('n1:7702'), 'n1');
    assert.equal(hostOf('[::1]:7702'), '::1');
    assert.equal(hostOf('127.0.0.1:80'), '127.0.0.1');
    assert.equal(hostOf('plain'), 'plain');
  });
});

describe('SimNetwork trace', () => {
  it('is byte-identical for the same seed and differs between seeds', () => {
    const first = faultyRun(42);
    assert.equal(faultyRun(42), first);
    assert.notEqual(faultyRun(43), first);
    for (const word of ['send #', 'deliver #', 'reason=loss', 'dup #']) assert.ok(first.includes(word), word);
  });
});
