// One test per protocol rule, on small clusters in virtual time.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SwimCluster } from './cluster.ts';
import type { MemberStatus, NodeId } from '../../../src/core/swim/types.ts';

const id = SwimCluster.id;
const all = (c: SwimCluster, status: MemberStatus, ids: NodeId[]): Map<NodeId, MemberStatus> => new Map(ids.map((i) => [i, status]));

describe('swim rules', () => {
  it('join: a push-pull with a seed spreads the newcomer to everyone', () => {
    const c = SwimCluster.started(5, { seed: 1 });
    const ids = [0, 1, 2, 3, 4].map(id);
    const t = c.runUntil(() => c.converged(all(c, 'alive', ids)), 30_000);
    assert.ok(t >= 0, 'all five see all five alive');
    assert.ok(c.node(id(3)).events.some((e) => e.kind === 'joined'));
  });

  it('join retries with backoff until a seed answers', () => {
    const c = new SwimCluster({ seed: 2 });
    c.add(id(0));
    c.crash(id(0));
    c.add(id(1), [id(0)]);
    c.runFor(5_000);
    const failures = c.node(id(1)).events.filter((e) => e.kind === 'join-failed');
    assert.ok(failures.length >= 2, `retried (${failures.length} failures)`);
    const delays = failures.map((e) => (e.kind === 'join-failed' ? e.retryInMs : 0));
    assert.ok(delays.every((d) => d > 0 && d <= c.config.joinRetryMaxMs));
    c.restart(id(0), []);
    const t = c.runUntil(() => c.statusOf(id(0), id(1)) === 'alive' && c.statusOf(id(1), id(0)) === 'alive', 60_000);
    assert.ok(t >= 0, 'joined once the seed came back');
    assert.equal(c.node(id(1)).swim.isJoining(), false);
  });

  it('probe and ack: a healthy cluster raises no suspicion and keeps local health at 0', () => {
    const c = SwimCluster.started(4, { seed: 3 });
    c.runFor(60_000);
    for (const n of c.nodes.values()) {
      assert.equal(n.events.filter((e) => e.kind === 'suspect' || e.kind === 'dead').length, 0);
      assert.equal(n.swim.localHealth(), 0);
    }
  });

  it('indirect probe: a member unreachable from one node only is not suspected', () => {
    const c = SwimCluster.started(5, { seed: 4 });
    c.runFor(10_000);
    // n000 cannot talk to n001 directly, but the others relay its probes (SWIM 3.1).
    c.block(id(0), id(1));
    c.block(id(1), id(0));
    c.runFor(30_000);
    for (const n of c.nodes.values()) assert.equal(n.events.filter((e) => e.kind === 'dead').length, 0);
    assert.equal(c.statusOf(id(0), id(1)), 'alive');
  });

  it('suspicion then death: a crashed member is suspected, then declared dead by everyone', () => {
    const c = SwimCluster.started(6, { seed: 5 });
    assert.ok(c.runUntil(() => c.converged(all(c, 'alive', [0, 1, 2, 3, 4, 5].map(id))), 60_000) >= 0);
    c.crash(id(5));
    const others = [0, 1, 2, 3, 4].map(id);
    const t = c.runUntil(() => others.every((o) => c.statusOf(o, id(5)) === 'dead'), 60_000);
    assert.ok(t >= 0, 'every live member marks the crashed one dead');
    const first = c.node(id(0)).events.find((e) => e.kind === 'suspect' && e.member.id === id(5));
    const dead = c.node(id(0)).events.find((e) => e.kind === 'dead' && e.member.id === id(5));
    assert.ok(first && dead && first.atMs < dead.atMs, 'suspect comes before dead');
  });

  it('refutation: a suspected member that is alive refutes with a higher incarnation', () => {
    const c = SwimCluster.started(5, { seed: 6 });
    c.runFor(10_000);
    const before = c.node(id(4)).swim.self().incarnation;
    // n004 goes silent for a little over one probe period; suspicion starts but it refutes.
    c.pause(id(4));
    c.runUntil(() => [0, 1, 2, 3].some((o) => c.statusOf(id(o), id(4)) === 'suspect'), 30_000);
    c.resume(id(4));
    const t = c.runUntil(() => [0, 1, 2, 3].every((o) => c.statusOf(id(o), id(4)) === 'alive'), 30_000);
    assert.ok(t >= 0, 'back to alive everywhere');
    assert.ok(c.node(id(4)).swim.self().incarnation > before, 'incarnation raised');
    assert.ok(c.node(id(4)).swim.localHealth() > 0, 'being suspected raised its own local health score');
  });

  it('leave: a graceful leave is seen as left, not as a failure', () => {
    const c = SwimCluster.started(5, { seed: 7 });
    c.runFor(10_000);
    c.leave(id(2));
    c.runUntil(() => c.node(id(2)).swim.leaveBroadcastDone(), 10_000);
    c.crash(id(2));
    const others = [0, 1, 3, 4].map(id);
    const t = c.runUntil(() => others.every((o) => c.statusOf(o, id(2)) === 'left'), 30_000);
    assert.ok(t >= 0);
    c.runFor(30_000);
    for (const o of others) {
      assert.equal(c.statusOf(o, id(2)), 'left');
      assert.equal(c.node(o).events.filter((e) => e.kind === 'dead' || e.kind === 'suspect').length, 0);
    }
  });

  it('reap: dead members are forgotten after the reap window', () => {
    const c = SwimCluster.started(4, { seed: 8, config: { reapAfterMs: 60_000 } });
    c.runFor(10_000);
    c.crash(id(3));
    c.runUntil(() => c.statusOf(id(0), id(3)) === 'dead', 60_000);
    c.runFor(61_000);
    assert.equal(c.statusOf(id(0), id(3)), undefined);
    assert.ok(c.node(id(0)).events.some((e) => e.kind === 'reap' && e.member.id === id(3)));
  });

  it('restart: the same ID comes back alive with a higher incarnation', () => {
    const c = SwimCluster.started(4, { seed: 9 });
    c.runFor(10_000);
    c.crash(id(3));
    c.runUntil(() => c.statusOf(id(0), id(3)) === 'dead', 60_000);
    const deadInc = c.node(id(0)).swim.member(id(3))!.incarnation;
    c.restart(id(3), [id(0)]);
    const t = c.runUntil(() => [0, 1, 2].every((o) => c.statusOf(id(o), id(3)) === 'alive'), 30_000);
    assert.ok(t >= 0);
    assert.ok(c.node(id(3)).swim.self().incarnation > deadInc);
  });

  it('metadata changes spread as an update event', () => {
    const c = SwimCluster.started(4, { seed: 10 });
    c.runFor(10_000);
    c.node(id(1)).swim.updateMeta({ zone: 'b' }, c.nowMs);
    const t = c.runUntil(() => [0, 2, 3].every((o) => c.node(id(o)).swim.member(id(1))?.meta.zone === 'b'), 10_000);
    assert.ok(t >= 0);
    assert.ok(c.node(id(0)).events.some((e) => e.kind === 'update' && e.member.id === id(1)));
  });

  it('duplicate IDs are detected and reported', () => {
    const c = SwimCluster.started(3, { seed: 11 });
    c.runFor(5_000);
    // A second machine starts with n001's ID at another address.
    const impostor = new SwimCluster({ seed: 1 });
    void impostor;
    const node = c.node(id(1));
    node.swim.onPacket('10.9.9.9:7702', { updates: [{ kind: 'alive', id: id(1), incarnation: node.swim.self().incarnation, addr: '10.9.9.9:7702', meta: { zone: 'x' } }] }, c.nowMs);
    const events = node.swim.takeOutput().events;
    assert.deepEqual(events.filter((e) => e.kind === 'conflict'), [{ kind: 'conflict', id: id(1), ours: node.addr, theirs: '10.9.9.9:7702' }]);
  });
});
