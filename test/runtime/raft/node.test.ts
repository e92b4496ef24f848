// RaftNode (core + runtime loop + RaftStorage) in the deterministic simulator: the promise API,
// the persist-before-send ordering with the real storage, chunked snapshot transfer to a new
// learner, restart recovery and storage failure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { NodeId } from '../../../src/core/raft/types.ts';
import { RaftNode, RaftNodeError } from '../../../src/runtime/raft/node.ts';
import { RAFT_DEFAULTS } from '../../../src/core/raft/options.ts';
import { ListFsm } from './list-fsm.ts';
import { startSimRaftNode, type SimRaftNode } from '../../../src/sim/raft-node.ts';
import { Simulation } from '../../../src/sim/simulation.ts';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

function cluster(voterCount: number, spares = 0, seed = 7, options: { snapshotEveryEntries?: number } = {}): { sim: Simulation<SimRaftNode>; ids: NodeId[] } {
  const sim = new Simulation<SimRaftNode>({ seed, network: { defaultLink: { delayMinMs: 1, delayMaxMs: 5 } } });
  const voters = Array.from({ length: voterCount }, (_, i) => `n${i + 1}` as NodeId);
  const ids = [...voters, ...Array.from({ length: spares }, (_, i) => `n${voterCount + i + 1}` as NodeId)];
  for (const id of ids) {
    sim.addNode(id, (ctx) =>
      startSimRaftNode(ctx, {
        voters,
        resolve: (to) => (ids.includes(to) ? sim.addressesOf(to).rpc : undefined),
        fsm: new ListFsm(),
        snapshotEveryEntries: options.snapshotEveryEntries ?? 1000,
      }),
    );
  }
  return { sim, ids };
}

function node(sim: Simulation<SimRaftNode>, id: string): RaftNode {
  const n = sim.node(id).instance;
  assert.ok(n !== undefined, `${id} is up`);
  return n.node;
}

function items(sim: Simulation<SimRaftNode>, id: string): string[] {
  return (sim.node(id).instance!.fsm as ListFsm).items;
}

function leaderOf(sim: Simulation<SimRaftNode>): RaftNode {
  const leaders = sim.nodes().filter((n) => n.instance?.node.role === 'leader');
  assert.equal(leaders.length, 1, 'exactly one leader');
  return leaders[0]!.instance!.node;
}

/** Runs the simulation while a promise settles; returns its outcome. */
async function settleWithin<T>(sim: Simulation<SimRaftNode>, p: Promise<T>, ms = 5000): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  let outcome: { ok: true; value: T } | { ok: false; error: unknown } | undefined;
  p.then(
    (value) => (outcome = { ok: true, value }),
    (error: unknown) => (outcome = { ok: false, error }),
  );
  const end = sim.clock.nowMs() + ms;
  while (outcome === undefined && sim.clock.nowMs() < end) {
    const r = await sim.runFor(50);
    assert.ok(r.ok, r.ok ? '' : r.failure.message);
  }
  assert.ok(outcome !== undefined, `did not settle within ${ms} ms`);
  return outcome;
}

test('propose resolves with index, term and the state machine result; followers apply the same', async () => {
  const { sim } = cluster(3);
  await sim.runFor(3000);
  const leader = leaderOf(sim);
  const r = await settleWithin(sim, leader.propose(enc('a')));
  assert.ok(r.ok);
  assert.equal(r.value.result, 1);
  assert.equal(r.value.term, leader.status().term);
  await sim.runFor(500);
  for (const id of ['n1', 'n2', 'n3']) assert.deepEqual(items(sim, id), ['a'], id);
});

test('a follower refuses proposals with the leader as a hint', async () => {
  const { sim, ids } = cluster(3);
  await sim.runFor(3000);
  const leader = leaderOf(sim);
  const follower = node(sim, ids.find((id) => id !== leader.id)!);
  const r = await settleWithin(sim, follower.propose(enc('x')));
  assert.ok(!r.ok);
  assert.ok(r.error instanceof RaftNodeError);
  assert.equal(r.error.code, 'not-leader');
  assert.equal(r.error.leader, leader.id);
});

test('readIndex on a follower waits until it has applied every write acknowledged before', async () => {
  const { sim, ids } = cluster(3);
  await sim.runFor(3000);
  const leader = leaderOf(sim);
  const w = await settleWithin(sim, leader.propose(enc('w1')));
  assert.ok(w.ok);
  const follower = node(sim, ids.find((id) => id !== leader.id)!);
  const r = await settleWithin(sim, follower.readIndex());
  assert.ok(r.ok);
  assert.ok(r.value >= w.value.index);
  assert.ok(follower.status().applied >= r.value);
  assert.ok(items(sim, follower.id).includes('w1'));
});

test('persist before send: no node votes while its disk has not synced the vote', async () => {
  const { sim, ids } = cluster(3);
  await sim.runFor(3000);
  const leader = leaderOf(sim);
  const followers = ids.filter((id) => id !== leader.id);
  // Stall both followers' disks, then kill the leader: an election needs a durable vote.
  for (const id of followers) sim.node(id).disk.pauseSyncs();
  sim.crash(leader.id);
  await sim.runFor(5000);
  for (const id of followers) assert.notEqual(node(sim, id).role, 'leader', `${id} won without a durable vote`);
  for (const id of followers) sim.node(id).disk.resumeSyncs();
  await sim.runFor(3000);
  assert.ok(followers.some((id) => node(sim, id).role === 'leader'));
});

test('leadership transfer hands over to the chosen voter', async () => {
  const { sim, ids } = cluster(3);
  await sim.runFor(3000);
  const leader = leaderOf(sim);
  const target = ids.find((id) => id !== leader.id)!;
  const r = await settleWithin(sim, leader.transferLeadership(target));
  assert.ok(r.ok, r.ok ? '' : String(r.error));
  await sim.runFor(200);
  assert.equal(leaderOf(sim).id, target);
});

test('a new learner is caught up by a chunked snapshot, then promoted', async () => {
  const { sim } = cluster(3, 1, 11, { snapshotEveryEntries: 20 });
  await sim.runFor(3000);
  let leader = leaderOf(sim);
  for (let i = 0; i < 60; i++) {
    const r = await settleWithin(sim, leader.propose(enc(`v${i}`)));
    assert.ok(r.ok);
  }
  assert.ok(leader.status().firstIndex > 1, 'the leader compacted its log');
  const add = await settleWithin(sim, leader.proposeConfigChange({ kind: 'add-learner', node: 'n4' as NodeId }));
  assert.ok(add.ok, add.ok ? '' : String(add.error));
  await sim.runFor(3000);
  assert.deepEqual(items(sim, 'n4'), items(sim, leader.id));
  assert.equal(items(sim, 'n4').length, 60);
  assert.ok(sim.node('n4').instance!.storage !== undefined);
  leader = leaderOf(sim);
  const promote = await settleWithin(sim, leader.proposeConfigChange({ kind: 'promote', node: 'n4' as NodeId }));
  assert.ok(promote.ok, promote.ok ? '' : String(promote.error));
  assert.deepEqual([...leader.status().config.voters].sort(), ['n1', 'n2', 'n3', 'n4']);
});

test('every node crashes and restarts: no acknowledged write is lost', async () => {
  const { sim, ids } = cluster(3, 0, 5, { snapshotEveryEntries: 10 });
  await sim.runFor(3000);
  const leader = leaderOf(sim);
  const acked: string[] = [];
  for (let i = 0; i < 25; i++) {
    const r = await settleWithin(sim, leader.propose(enc(`k${i}`)));
    if (r.ok) acked.push(`k${i}`);
  }
  assert.equal(acked.length, 25);
  for (const id of ids) sim.crash(id);
  for (const id of ids) sim.restart(id);
  await sim.runFor(4000);
  const next = leaderOf(sim);
  const r = await settleWithin(sim, next.propose(enc('after')));
  assert.ok(r.ok);
  await sim.runFor(500);
  for (const id of ids) assert.deepEqual(items(sim, id), [...acked, 'after'], id);
});

test('a full disk freezes the node with a clear error instead of acknowledging; it resumes once space returns', async () => {
  const { sim } = cluster(1);
  await sim.runFor(1000);
  const leader = leaderOf(sim);
  const disk = sim.node(leader.id).disk;
  disk.setCapacityBytes(disk.usedBytes());
  const r = await settleWithin(sim, leader.propose(enc('x'.repeat(100))));
  assert.ok(!r.ok);
  assert.ok(r.error instanceof RaftNodeError);
  assert.equal(r.error.code, 'no-space');
  assert.match(r.error.message, /disk of node .* is full/);
  assert.ok(leader.diskFull !== undefined);
  // Frozen: refused at once, nothing applied, however long it stays full.
  await sim.runFor(5000);
  const refused = await settleWithin(sim, leader.propose(enc('y')));
  assert.ok(!refused.ok && refused.error instanceof RaftNodeError && refused.error.code === 'no-space');
  assert.deepEqual(items(sim, leader.id), []);

  disk.setCapacityBytes(undefined);
  await sim.runFor(3000);
  assert.equal(leader.diskFull, undefined);
  const after = await settleWithin(sim, leader.propose(enc('z')));
  assert.ok(after.ok, `a write after space returned: ${after.ok ? '' : (after.error as Error).message}`);
  // The entry whose write failed was kept and retried: it commits too, before 'z'.
  assert.deepEqual(items(sim, leader.id), ['x'.repeat(100), 'z']);
});

test('a follower whose disk fills freezes; the others go on, and it catches up once space returns', async () => {
  const { sim, ids } = cluster(3);
  await sim.runFor(3000);
  const leader = leaderOf(sim);
  const follower = ids.find((id) => id !== leader.id)!;
  const disk = sim.node(follower).disk;
  disk.setCapacityBytes(disk.usedBytes());
  const acked: string[] = [];
  for (let i = 0; i < 10; i++) {
    const r = await settleWithin(sim, leader.propose(enc(`k${i}`)));
    if (r.ok) acked.push(`k${i}`);
  }
  assert.equal(acked.length, 10, 'a majority without the full disk commits');
  await sim.runFor(2000);
  assert.deepEqual(items(sim, follower), []);
  disk.setCapacityBytes(undefined);
  await sim.runFor(4000);
  assert.deepEqual(items(sim, follower), acked);
});

/** Virtual ms from now until some node other than `old` leads (the simulation's clock, not wall time). */
async function msUntilNewLeader(sim: Simulation<SimRaftNode>, old: string, limitMs = 10_000): Promise<number> {
  const start = sim.clock.nowMs();
  while (sim.clock.nowMs() - start < limitMs) {
    await sim.runFor(10);
    if (sim.nodes().some((n) => n.id !== old && n.status === 'up' && n.instance?.node.role === 'leader')) return sim.clock.nowMs() - start;
  }
  assert.fail(`no new leader within ${limitMs} ms`);
}

test('a crashed leader (its host refuses connections) is replaced well within the election timeout; a silent one only after it', async () => {
  // The simulated nodes tick every 50 ms (src/sim/raft-node.ts); heartbeats go every tick.
  const tickMs = 50;
  const electionMs = RAFT_DEFAULTS.electionTicks * tickMs;
  for (const seed of [7, 8, 9, 10, 11]) {
    const { sim } = cluster(3, 0, seed);
    await sim.runFor(3000);
    const crashed = leaderOf(sim).id;
    sim.crash(crashed);
    const afterCrash = await msUntilNewLeader(sim, crashed);
    assert.ok(afterCrash < electionMs, `seed ${seed}: a new leader ${afterCrash} ms after the crash; the election timeout alone is at least ${electionMs} ms`);

    // Cut off (no refusal, just silence): nobody may jump the gun.
    const { sim: other, ids } = cluster(3, 0, seed);
    await other.runFor(3000);
    const isolated = leaderOf(other).id;
    other.network.partition([[isolated], ids.filter((id) => id !== isolated)]);
    const afterPartition = await msUntilNewLeader(other, isolated);
    // Counted from the last heartbeat, up to one tick before the cut.
    assert.ok(afterPartition >= electionMs - tickMs, `seed ${seed}: a new leader ${afterPartition} ms after a silent partition, sooner than the election timeout ${electionMs} ms allows`);
  }
});
