import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { crc32c } from '../../src/runtime/storage/crc32c.ts';
import { ECHO_INVARIANTS, EchoMonitor, EchoNode, installEchoInvariants, parseLog } from '../../src/sim/echo.ts';
import { SCENARIOS } from '../../src/sim/scenarios.ts';
import { formatFailureReport, Simulation } from '../../src/sim/simulation.ts';

function record(n: number): Uint8Array {
  const out = new Uint8Array(8);
  const view = new DataView(out.buffer);
  view.setUint32(0, n);
  view.setUint32(4, crc32c(out.subarray(0, 4)));
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function echoCluster(seed: number, ids: string[], options: { syncBeforeAck?: boolean; tornWriteProbability?: number } = {}) {
  const sim = new Simulation<EchoNode>({ seed, disk: { tornWriteProbability: options.tornWriteProbability ?? 0.5 } });
  const monitor = new EchoMonitor();
  const peers = ids.map((id) => ({ id, ...sim.addressesOf(id) }));
  installEchoInvariants(sim, monitor);
  for (const id of ids) sim.addNode(id, (ctx) => EchoNode.start(ctx, { peers, monitor, syncBeforeAck: options.syncBeforeAck ?? true }));
  return { sim, monitor };
}

describe('echo log format', () => {
  it('recovers the last valid counter and stops at a torn or garbage tail', () => {
    assert.deepEqual(parseLog(new Uint8Array(0)), { value: 0, records: 0 });
    assert.deepEqual(parseLog(concat(record(3), record(9))), { value: 9, records: 2 });
    assert.deepEqual(parseLog(concat(record(3), record(9).subarray(0, 5))), { value: 3, records: 1 });
    const garbage = record(12);
    garbage[7] = garbage[7]! ^ 1;
    assert.deepEqual(parseLog(concat(record(3), garbage, record(20))), { value: 3, records: 1 });
  });
});

describe('echo protocol', () => {
  it('exchanges echoes over datagrams, RPC requests and one-way messages', async () => {
    const { sim, monitor } = echoCluster(1, ['n1', 'n2', 'n3']);
    const result = await sim.runFor(500);
    assert.ok(result.ok, result.ok ? '' : formatFailureReport(result.failure));
    const text = sim.trace.text();
    for (const kind of ['datagram', 'rpc-request', 'rpc-response', 'rpc-message echo.note', 'rpc-message echo.pong']) assert.ok(text.includes(kind), kind);
    for (const id of ['n1', 'n2', 'n3']) {
      assert.ok(monitor.echoCount(id) > 10, `${id} got ${monitor.echoCount(id)} echoes`);
      assert.ok(sim.node(id).instance!.persistedCounter > 0);
    }
  });

  it('survives a crash while syncs are stalled: cuts the torn tail and keeps appending readable records', async () => {
    const { sim } = echoCluster(2, ['n1', 'n2'], { tornWriteProbability: 1 });
    await sim.runFor(200);
    const disk = sim.node('n1').disk;
    disk.pauseSyncs();
    await sim.runFor(60);
    const before = sim.node('n1').instance!.persistedCounter;
    sim.crash('n1');
    assert.match(sim.trace.tail(1)[0]!, /crash n1 incarnation=1 torn=\/echo\/acked/);
    sim.restart('n1');
    const result = await sim.runFor(300);
    assert.ok(result.ok, result.ok ? '' : formatFailureReport(result.failure));
    assert.ok(sim.trace.text().includes('(torn tail cut)'));
    const node = sim.node('n1').instance!;
    assert.ok(node.persistedCounter >= before && node.persistedCounter > 0);
    const log = (await disk.readFile('/echo/acked'))!;
    assert.equal(parseLog(log).records * 8, log.length, 'no bytes after the last valid record');
    assert.equal(parseLog(log).value, node.persistedCounter);
  });

  it('flags an echo for a ping that was never sent', async () => {
    const sim = new Simulation<unknown>({ seed: 3 });
    const monitor = new EchoMonitor();
    const peers = ['n1', 'rogue'].map((id) => ({ id, ...sim.addressesOf(id) }));
    installEchoInvariants(sim, monitor);
    sim.addNode('n1', (ctx) => EchoNode.start(ctx, { peers, monitor }));
    sim.addNode('rogue', (ctx) => {
      ctx.clock.setTimer(50, () => ctx.datagram.send('n1:7702', new TextEncoder().encode('echo n1/1/999')));
    });
    const result = await sim.runFor(200);
    assert.ok(!result.ok);
    assert.equal(result.failure.name, ECHO_INVARIANTS.echoMatchesPing);
    assert.match(result.failure.message, /n1\/1\/999, which it never sent/);
  });

  it('catches the planted ack-before-fsync bug with the durability invariant', async () => {
    const { sim } = echoCluster(4, ['n1', 'n2', 'n3'], { syncBeforeAck: false, tornWriteProbability: 0 });
    await sim.runFor(300);
    sim.crash('n2');
    sim.restart('n2');
    const result = await sim.runFor(10);
    assert.ok(!result.ok);
    assert.equal(result.failure.name, ECHO_INVARIANTS.durability);
    assert.match(result.failure.message, /n2 incarnation 2 recovered acked counter 0, but it had acknowledged \d+/);
  });

  it('does not flag the correct protocol for the same crash', async () => {
    const { sim } = echoCluster(4, ['n1', 'n2', 'n3'], { tornWriteProbability: 0 });
    await sim.runFor(300);
    sim.crash('n2');
    sim.restart('n2');
    const result = await sim.runFor(300);
    assert.ok(result.ok, result.ok ? '' : formatFailureReport(result.failure));
  });
});

describe('echo scenario sweeps', () => {
  it('passes 20 seeds with random faults, and the faults really happened', async () => {
    const seen = { crash: 0, partition: 0, block: 0, slowDisk: 0, torn: 0, loss: 0, dup: 0 };
    for (let seed = 1; seed <= 20; seed++) {
      const outcome = await SCENARIOS['echo']!.run({ seed });
      assert.ok(outcome.result.ok, outcome.result.ok ? '' : formatFailureReport(outcome.result.failure));
      const text = outcome.simulation.trace.text();
      const count = (w: string): number => text.split(w).length - 1;
      seen.crash += count('sim crash');
      seen.partition += count('net partition');
      seen.block += count('net block');
      seen.slowDisk += count('fault slow-disk');
      seen.torn += count(' torn=');
      seen.loss += count('reason=loss');
      seen.dup += count('net dup');
      assert.match(text, /sim liveness check/);
    }
    for (const [fault, n] of Object.entries(seen)) assert.ok(n > 0, `no ${fault} in the whole sweep`);
  });

  it('the planted bug fails most seeds, always on durability, with the replay command', async () => {
    let failures = 0;
    for (let seed = 1; seed <= 5; seed++) {
      const outcome = await SCENARIOS['echo-nosync']!.run({ seed, traceMaxLines: 50 });
      if (outcome.result.ok) continue;
      failures++;
      assert.equal(outcome.result.failure.name, ECHO_INVARIANTS.durability);
      assert.equal(outcome.result.failure.replayCommand, `npm run sim -- --seed ${seed} --scenario echo-nosync`);
    }
    assert.ok(failures >= 3, `only ${failures} of 5 seeds caught the bug`);
  });

  it('replays a seed byte for byte; another seed differs', async () => {
    const a = await SCENARIOS['echo']!.run({ seed: 77 });
    const b = await SCENARIOS['echo']!.run({ seed: 77 });
    const c = await SCENARIOS['echo']!.run({ seed: 78 });
    assert.equal(b.simulation.trace.text(), a.simulation.trace.text());
    assert.equal(b.traceDigest, a.traceDigest);
    assert.notEqual(c.traceDigest, a.traceDigest);
  });
});
