import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRandom } from '../../src/core/random.ts';
import { randomFaultSchedule, applyFaultSchedule } from '../../src/sim/faults.ts';
import { formatFailureReport, Simulation, type NodeContext } from '../../src/sim/simulation.ts';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

/** A chatty node: every 10-30 local ms it gossips to a random peer and asks one over RPC. */
function chatter(peers: readonly string[]) {
  return (ctx: NodeContext) => {
    const received: string[] = [];
    ctx.datagram.onDatagram((from, data) => {
      received.push(dec(data));
      ctx.log(`got ${dec(data)} from ${from}`);
    });
    ctx.rpc.handle('ask', async (body) => {
      await Promise.resolve(); // async handlers interleave with other microtasks
      return enc(`answer to ${dec(body)}`);
    });
    let n = 0;
    const tick = (): void => {
      const peer = peers[ctx.random.int(peers.length)]!;
      n++;
      ctx.datagram.send(`${peer}:7702`, enc(`${ctx.id}#${n}`));
      ctx.rpc.request(`${peer}:7701`, 'ask', enc(`${ctx.id}?${n}`), { timeoutMs: 100 }).then(
        (r) => ctx.log(`rpc ok: ${dec(r)}`),
        (e: Error) => ctx.log(`rpc failed: ${e.message}`),
      );
      ctx.clock.setTimer(10 + ctx.random.int(21), tick);
    };
    ctx.clock.setTimer(ctx.random.int(10), tick);
    return { received };
  };
}

async function chattyRun(seed: number, steps = 2000): Promise<Simulation<{ received: string[] }>> {
  const sim = new Simulation<{ received: string[] }>({
    seed,
    clockDriftMax: 0.01,
    network: { defaultLink: { delayMinMs: 1, delayMaxMs: 20, lossProbability: 0.1, duplicateProbability: 0.05, reorderProbability: 0.1 } },
  });
  const ids = ['n1', 'n2', 'n3', 'n4'];
  for (const id of ids) sim.addNode(id, chatter(ids.filter((p) => p !== id)));
  applyFaultSchedule(sim, randomFaultSchedule(sim.random('faults'), { nodes: ids, durationMs: 2000, meanGapMs: 150 }));
  const result = await sim.run({ maxSteps: steps });
  assert.ok(result.ok, result.ok ? '' : formatFailureReport(result.failure));
  return sim;
}

describe('Simulation determinism', () => {
  it('the same seed gives a byte-identical trace; another seed a different one', async () => {
    const a = await chattyRun(7);
    const b = await chattyRun(7);
    const c = await chattyRun(8);
    assert.ok(a.trace.count > 1000, `trace has ${a.trace.count} lines`);
    assert.equal(b.trace.text(), a.trace.text());
    assert.equal(b.trace.digest(), a.trace.digest());
    assert.notEqual(c.trace.text(), a.trace.text());
    assert.notEqual(c.trace.digest(), a.trace.digest());
    // The trace says what happened, without object identities or wall time.
    const text = a.trace.text();
    for (const word of ['sim crash', 'rpc ok: answer to', 'net deliver', 'reason=loss']) assert.ok(text.includes(word), word);
    assert.doesNotMatch(text, /\[object|Object|undefined|NaN/);
  });

  it("adding a node does not change another node's random stream", () => {
    const draws = (ids: string[]): number[] => {
      const sim = new Simulation({ seed: 3 });
      let got: number[] = [];
      for (const id of ids) {
        sim.addNode(id, (ctx) => {
          if (ctx.id === 'n2') got = [ctx.random.nextUint32(), ctx.random.nextUint32()];
        });
      }
      return got;
    };
    assert.deepEqual(draws(['n1', 'n2']), draws(['n0', 'n5', 'n2', 'n1']));
  });
});

describe('Simulation crash and restart', () => {
  it('drops messages to a crashed node, cancels its timers, and restarts it with a new incarnation', async () => {
    const sim = new Simulation<{ got: string[] }>({ seed: 11 });
    const timerFired: number[] = [];
    const starts: number[] = [];
    sim.addNode('a', (ctx) => {
      ctx.clock.setTimer(50, () => ctx.datagram.send('b:7702', enc('late')));
      return { got: [] };
    });
    sim.addNode('b', (ctx) => {
      starts.push(ctx.incarnation);
      const got: string[] = [];
      ctx.datagram.onDatagram((_from, data) => got.push(dec(data)));
      ctx.clock.setTimer(100, () => timerFired.push(ctx.incarnation));
      return { got };
    });
    await sim.runFor(10);
    sim.crash('b');
    assert.equal(sim.node('b').status, 'down');
    assert.equal(sim.node('b').instance, undefined);
    await sim.runFor(200);
    assert.equal(sim.network.stats().dropped.down, 1, "a's datagram to the dead b was dropped");
    assert.deepEqual(timerFired, [], "the crashed incarnation's timer never fired");
    sim.restart('b');
    await sim.runFor(200);
    assert.deepEqual(starts, [1, 2]);
    assert.deepEqual(timerFired, [2]);
    assert.equal(sim.node('b').incarnation, 2);
    assert.deepEqual(sim.node('b').instance?.got, []);
  });

  it('drops frames in flight to and from the node when it crashes', async () => {
    const sim = new Simulation({ seed: 12, network: { defaultLink: { delayMinMs: 20, delayMaxMs: 20 } } });
    const got: string[] = [];
    sim.addNode('a', (ctx) => {
      ctx.datagram.onDatagram((_f, d) => got.push(dec(d)));
      ctx.datagram.send('b:7702', enc('to b'));
    });
    sim.addNode('b', (ctx) => {
      ctx.datagram.onDatagram((_f, d) => got.push(dec(d)));
      if (ctx.incarnation === 1) ctx.datagram.send('a:7702', enc('from b'));
    });
    await sim.runFor(10);
    sim.crash('b');
    sim.restart('b');
    await sim.runFor(100);
    assert.deepEqual(got, []);
    assert.equal(sim.network.stats().dropped.crash, 2);
  });

  it('loses unsynced disk writes across a crash and keeps synced ones', async () => {
    const sim = new Simulation<{ recovered: string }>({ seed: 13, disk: { tornWriteProbability: 0 } });
    sim.addNode('a', async (ctx) => {
      const recovered = dec((await ctx.disk.readFile('/data/log')) ?? new Uint8Array(0));
      if (ctx.incarnation === 1) {
        await ctx.disk.mkdirp('/data');
        const f = await ctx.disk.open('/data/log', { create: true });
        await ctx.disk.syncDir('/data');
        await f.append(enc('synced;'));
        await f.sync();
        await f.append(enc('unsynced;'));
      }
      return { recovered };
    });
    await sim.runFor(1);
    sim.crash('a');
    sim.restart('a');
    await sim.runFor(1);
    assert.equal(sim.node('a').instance?.recovered, 'synced;');
  });

  it('fences off a crashed incarnation: its late disk calls fail and its transports stay silent', async () => {
    const sim = new Simulation({ seed: 14 });
    let oldDisk: NodeContext['disk'] | undefined;
    let oldRpc: NodeContext['rpc'] | undefined;
    sim.addNode('a', (ctx) => {
      if (ctx.incarnation > 1) return;
      oldDisk = ctx.disk;
      oldRpc = ctx.rpc;
    });
    sim.addNode('b', (ctx) => ctx.rpc.handle('x', () => enc('y')));
    await sim.runFor(1);
    sim.crash('a');
    sim.restart('a');
    await assert.rejects(oldDisk!.mkdirp('/x'), /lost in a crash/);
    await assert.rejects(oldRpc!.request('b:7701', 'x', enc('')), /closed/);
  });
});

describe('Simulation clock drift', () => {
  it("runs each node's clock at its own rate, for time and for timers", async () => {
    const sim = new Simulation({ seed: 15 });
    const firedAt: Record<string, number> = {};
    const make = (ctx: NodeContext): void => {
      ctx.clock.setTimer(1000, () => (firedAt[ctx.id] = sim.clock.nowMs()));
    };
    sim.addNode('fast', make, { clockRate: 1.1 });
    sim.addNode('slow', make, { clockRate: 0.9 });
    sim.addNode('true', make);
    await sim.runFor(2000);
    assert.ok(Math.abs(firedAt['fast']! - 1000 / 1.1) < 1e-6);
    assert.ok(Math.abs(firedAt['slow']! - 1000 / 0.9) < 1e-6);
    assert.equal(firedAt['true'], 1000);
    assert.ok(Math.abs(sim.node('fast').clock.nowMs() - 2200) < 1e-6);
    assert.ok(Math.abs(sim.node('slow').clock.nowMs() - 1800) < 1e-6);
  });

  it('draws rates within 1 +/- clockDriftMax, different per node, none when off', () => {
    const sim = new Simulation({ seed: 16, clockDriftMax: 0.05 });
    const rates = ['a', 'b', 'c', 'd'].map((id) => sim.addNode(id, () => {}).clockRate);
    for (const r of rates) assert.ok(r >= 0.95 && r <= 1.05, `rate ${r}`);
    assert.equal(new Set(rates).size, 4);
    const still = new Simulation({ seed: 16 });
    assert.equal(still.addNode('a', () => {}).clockRate, 1);
  });
});

describe('Simulation invariants and failure reports', () => {
  it('a failing invariant stops the run and reports the seed, step, message, trace and replay command', async () => {
    const sim = new Simulation({ seed: 4242, reportTraceLines: 5 });
    let ticks = 0;
    sim.addNode('a', (ctx) => {
      const tick = (): void => {
        ticks++;
        ctx.log(`tick ${ticks}`);
        ctx.clock.setTimer(10, tick);
      };
      ctx.clock.setTimer(10, tick);
    });
    sim.invariant('fewer than five ticks', () => (ticks >= 5 ? `ticked ${ticks} times` : undefined));
    const result = await sim.run({ maxSteps: 1000 });
    assert.equal(result.ok, false);
    assert.ok(!result.ok);
    assert.equal(result.failure.step, 5);
    assert.equal(ticks, 5, 'the run stopped at the failing step');
    const text = formatFailureReport(result.failure);
    assert.match(text, /SIMULATION FAILED \(seed 4242\)/);
    assert.match(text, /seed: +4242/);
    assert.match(text, /step: +5 at t=50\.000 ms/);
    assert.match(text, /invariant: fewer than five ticks/);
    assert.match(text, /message: ticked 5 times/);
    assert.match(text, /node a tick 5/);
    assert.match(text, /replay: +npm run sim -- --seed 4242\n/);
    assert.equal(result.failure.traceTail.length, 5);
    // A failed simulation stays failed.
    assert.equal(await sim.step(), false);
  });

  it('uses the replay command it was given (e.g. with a scenario name)', async () => {
    const sim = new Simulation({ seed: 1, replayCommand: 'npm run sim -- --seed 1 --scenario other' });
    sim.invariant('never', () => 'always broken');
    const result = await sim.run();
    assert.ok(!result.ok);
    assert.match(formatFailureReport(result.failure), /replay: +npm run sim -- --seed 1 --scenario other/);
  });

  it('reports an exception thrown by node code as a failure with the seed', async () => {
    const sim = new Simulation({ seed: 99 });
    sim.addNode('a', (ctx) => {
      ctx.clock.setTimer(5, () => {
        throw new Error('node bug');
      });
    });
    const result = await sim.run();
    assert.ok(!result.ok);
    assert.equal(result.failure.kind, 'exception');
    assert.match(result.failure.message, /node bug/);
    assert.match(formatFailureReport(result.failure), /--seed 99/);
  });

  it('a factory that rejects fails the run', async () => {
    const sim = new Simulation({ seed: 97 });
    sim.addNode('a', async () => {
      throw new Error('cannot start');
    });
    const result = await sim.run();
    assert.ok(!result.ok);
    assert.equal(result.failure.name, 'start a');
  });
});

describe('Fault schedules', () => {
  it('are valid, bounded, deterministic per seed, and end repaired', () => {
    const nodes = ['n1', 'n2', 'n3', 'n4', 'n5'];
    for (let seed = 0; seed < 50; seed++) {
      const schedule = randomFaultSchedule(new SeededRandom(seed), { nodes, durationMs: 5000, meanGapMs: 100 });
      assert.deepEqual(randomFaultSchedule(new SeededRandom(seed), { nodes, durationMs: 5000, meanGapMs: 100 }), schedule);
      const down = new Set<string>();
      let last = 0;
      for (const { atMs, fault } of schedule) {
        assert.ok(atMs >= last && atMs <= 5000);
        last = atMs;
        if (fault.kind === 'crash') {
          assert.ok(!down.has(fault.node));
          down.add(fault.node);
          assert.ok(down.size <= 2, 'a minority at most is down');
        }
        if (fault.kind === 'restart') {
          assert.ok(down.delete(fault.node));
        }
        if (fault.kind === 'loss') assert.ok(fault.probability >= 0 && fault.probability <= 0.3);
      }
      assert.equal(down.size, 0, 'every crashed node is restarted by the end');
      const atEnd = schedule.filter((f) => f.atMs === 5000).map((f) => f.fault);
      assert.deepEqual(atEnd.slice(0, 2), [{ kind: 'heal' }, { kind: 'loss', probability: 0 }]);
    }
    const kinds = new Set(randomFaultSchedule(new SeededRandom(1), { nodes, durationMs: 20_000, meanGapMs: 100 }).map((f) => f.fault.kind));
    assert.deepEqual([...kinds].sort(), ['block', 'crash', 'heal', 'loss', 'partition', 'restart', 'slow-disk']);
  });

  it('respects weights', () => {
    const schedule = randomFaultSchedule(new SeededRandom(5), {
      nodes: ['a', 'b', 'c'],
      durationMs: 10_000,
      meanGapMs: 50,
      weights: { crash: 0, restart: 0, loss: 0, block: 0, 'slow-disk': 0 },
    });
    assert.deepEqual([...new Set(schedule.map((f) => f.fault.kind))].sort(), ['heal', 'loss', 'partition']);
    assert.equal(schedule.filter((f) => f.fault.kind === 'loss').length, 1, 'only the final loss reset');
  });
});
