// The reconciler's rules, each on a small world (test/core/scheduler/world.ts): the real state
// machine applies its plans and the test plays the nodes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { JobSpec } from '../../../src/core/scheduler/job.ts';
import { taskSha256 } from '../../../src/core/scheduler/reconciler.ts';
import { holdsResources } from '../../../src/core/fsm/allocs.ts';
import { job } from './fixtures.ts';
import { World } from './world.ts';

const web = (over: Partial<JobSpec> = {}): JobSpec => ({ ...job('web', { count: 3 }), ...over });
const nodesOf = (w: World, name: string): string[] => w.running(name).map((a) => a.node).sort();

describe('reconcile: placing and keeping count', () => {
  it('places count instances, one per node when it can, and then leaves them alone', () => {
    const w = new World(['a', 'b', 'c']);
    w.register(web());
    w.settle();
    assert.deepEqual(nodesOf(w, 'web'), ['a', 'b', 'c']);
    const plan = w.step();
    assert.equal(plan.place.length + plan.stop.length, 0, 'a settled cluster plans nothing');
  });

  it('scales down from the highest indexes and up again', () => {
    const w = new World(['a', 'b', 'c']);
    w.register(web());
    w.settle();
    w.register(web({ count: 1 }));
    w.settle();
    assert.deepEqual(w.running('web').map((a) => a.index), [0]);
    w.register(web({ count: 2 }));
    w.settle();
    assert.equal(w.running('web').length, 2);
    assert.ok(w.fsm.allocs().some((a) => a.desiredReason === 'scaled down to 1'));
  });

  it('a count change does not restart instances (the task hash leaves out count and update)', () => {
    assert.equal(taskSha256(web({ count: 3 })), taskSha256(web({ count: 7, update: { ...web().update, maxParallel: 4 } })));
    assert.notEqual(taskSha256(web()), taskSha256(web({ env: { A: '1' } })));
  });

  it('stops everything of a stopped job and of a purged one', () => {
    const w = new World(['a', 'b']);
    w.register(web());
    w.register(job('other', { count: 1 }));
    w.settle();
    w.apply({ type: 'job.deregister', job: 'web' });
    w.apply({ type: 'job.deregister', job: 'other', purge: true });
    w.settle();
    assert.equal(w.running().length, 0);
    assert.ok(w.fsm.allocs().some((a) => a.desiredReason === 'job stopped'));
  });
});

describe('reconcile: lost nodes', () => {
  it('waits out the grace period before replacing a dead node instance (no rescheduling on a flap)', () => {
    const w = new World(['a', 'b', 'c', 'd']);
    w.register(web());
    w.settle();
    const victim = w.running('web')[0]!;
    w.setLiveness(victim.node, 'dead');
    w.advance(10_000);
    const early = w.step();
    assert.equal(early.place.length + early.stop.length, 0, 'nothing happens within the grace');
    assert.equal(early.nextAtMs, w.nowMs + 20_000, 'the reconciler asks to run again when the grace ends');
    // The node comes back within the grace: nothing moved.
    w.setLiveness(victim.node, 'alive');
    w.advance(30_000);
    assert.equal(w.step().place.length, 0);

    w.setLiveness(victim.node, 'dead');
    w.advance(30_000);
    w.settle();
    const replaced = w.fsm.alloc(victim.id)!;
    assert.equal(replaced.client, 'lost');
    assert.equal(replaced.desired, 'stop');
    const replacement = w.running('web').find((a) => a.index === victim.index)!;
    assert.equal(replacement.replaces, victim.id);
    assert.notEqual(replacement.node, victim.node);
    assert.match(replacement.desiredReason, /replaces lost/);
  });

  it('replaces at once the instances of a node that left', () => {
    const w = new World(['a', 'b', 'c']);
    w.register(web({ count: 2 }));
    w.settle();
    const victim = w.running('web')[0]!;
    w.setLiveness(victim.node, 'left');
    w.settle();
    assert.equal(w.running('web').length, 2);
    assert.ok(!nodesOf(w, 'web').includes(victim.node));
  });
});

describe('reconcile: failures', () => {
  it('replaces a failed instance after the restart delay, growing with each failure', () => {
    const w = new World(['a', 'b']);
    w.register(web({ count: 1, restart: { attempts: 1, intervalMs: 60_000, delayMs: 1000, backoff: 2, maxDelayMs: 60_000 } }));
    w.settle();
    const first = w.running('web')[0]!;
    w.report(first.node, [{ id: first.id, client: 'failed', clientDetail: 'exited with code 1' }]);
    let plan = w.step();
    assert.deepEqual(plan.stop.map((s) => s.id), [first.id]);
    assert.equal(plan.place.length, 0, 'the replacement waits for the delay');
    w.advance(1000);
    plan = w.step();
    assert.equal(plan.place.length, 1);
    assert.equal(plan.place[0]!.reschedules, 1);
    w.nodesAct();
    const second = w.running('web')[0]!;
    w.report(second.node, [{ id: second.id, client: 'failed', clientDetail: 'exited with code 1' }]);
    w.step();
    w.advance(1000);
    assert.equal(w.step().place.length, 0, 'the second failure waits twice as long');
    w.advance(1000);
    assert.equal(w.step().place.length, 1);
  });

  it('places the replacement of a failed instance on another node when one can take it', () => {
    const w = new World(['a', 'b']);
    w.register(web({ count: 1, restart: { attempts: 1, intervalMs: 60_000, delayMs: 0, backoff: 1, maxDelayMs: 0 } }));
    w.settle();
    const first = w.running('web')[0]!;
    w.report(first.node, [{ id: first.id, client: 'failed', clientDetail: 'exited with code 1' }]);
    w.settle();
    const second = w.running('web')[0]!;
    assert.notEqual(second.node, first.node);
  });

  it('runs a batch job to completion and does not run finished instances again', () => {
    const w = new World(['a', 'b']);
    w.register({ ...job('once', { count: 2 }), type: 'batch' });
    w.settle();
    for (const a of w.running('once')) w.report(a.node, [{ id: a.id, client: 'complete', clientDetail: 'exited with code 0' }]);
    w.settle();
    assert.equal(w.running('once').length, 0);
    assert.equal(w.fsm.allocs().filter((a) => a.job === 'once').length, 2, 'no new instances after completion');
  });
});

describe('reconcile: rolling updates', () => {
  const v2 = (): JobSpec => web({ env: { VERSION: '2' }, update: { maxParallel: 1, healthyDeadlineMs: 60_000, minHealthyMs: 5000, autoRevert: false } });

  it('starts a new instance next to an old one and stops the old only once the new has been healthy for minHealthy', () => {
    const w = new World(['a', 'b', 'c']);
    w.register(web());
    w.settle();
    w.register(v2());
    const sha2 = taskSha256(v2());
    w.step();
    w.nodesAct();
    const running = w.running('web');
    assert.equal(running.length, 4, 'one new instance runs next to the three old ones');
    assert.equal(running.filter((a) => a.taskSha256 === sha2).length, 1);
    assert.equal(w.step().stop.length, 0, 'the old one stays until the new one has been healthy long enough');
    for (let i = 0; i < 10; i++) {
      w.advance(5000);
      w.settle();
    }
    assert.equal(w.running('web').length, 3);
    assert.ok(w.running('web').every((a) => a.taskSha256 === sha2));
    assert.equal(w.fsm.deployment('web')?.status, 'successful');
  });

  it('with no room next to the old instances (a static port on every node), replaces them in place one at a time', () => {
    const w = new World(['a', 'b', 'c']);
    const pinned = (env: Record<string, string>): JobSpec => ({ ...web({ env, update: { maxParallel: 1, healthyDeadlineMs: 60_000, minHealthyMs: 0, autoRevert: false } }), resources: { cpuMillis: 100, memoryMB: 128, ports: [{ label: 'http', static: 8080 }] } });
    w.register(pinned({}));
    w.settle();
    w.register(pinned({ VERSION: '2' }));
    const plan = w.step();
    assert.equal(plan.place.length, 0);
    assert.equal(plan.stop.length, 1, 'one old instance stops first (maxParallel 1)');
    assert.match(plan.stop[0]!.reason, /replaced in place/);
    assert.equal(plan.blocked.length, 0, 'not reported as blocked: the update goes on');
    w.nodesAct();
    w.step();
    w.nodesAct(() => 'unhealthy');
    const next = w.step();
    assert.equal(next.stop.length, 0, 'the next old instance waits while the first replacement is not healthy');
    assert.equal(w.running('web').filter((a) => a.taskSha256 !== taskSha256(pinned({ VERSION: '2' }))).length, 2);
    w.settle();
    const sha2 = taskSha256(pinned({ VERSION: '2' }));
    assert.equal(w.running('web').length, 3);
    assert.ok(w.running('web').every((a) => a.taskSha256 === sha2));
  });

  it('a broken new version fails the rollout: the new instance stops and the old ones keep serving', () => {
    const w = new World(['a', 'b', 'c']);
    w.register(web());
    w.settle();
    const old = w.running('web').map((a) => a.id).sort();
    w.register(v2());
    const sha2 = taskSha256(v2());
    const broken = (a: { taskSha256: string }): 'healthy' | 'unhealthy' => (a.taskSha256 === sha2 ? 'unhealthy' : 'healthy');
    for (let i = 0; i < 5; i++) {
      w.advance(5000);
      w.settle(broken);
    }
    assert.deepEqual(w.running('web').map((a) => a.id).sort(), old, 'exactly the old instances run');
    assert.equal(w.fsm.deployment('web')?.status, 'failed');
    assert.equal(w.fsm.job('web')?.version, 2, 'without autoRevert the job stays at the new version');
  });

  it('a new instance that its node gives up on fails the rollout at once, without placing it again', () => {
    const w = new World(['a', 'b', 'c']);
    w.register(web());
    w.settle();
    const old = w.running('web').map((a) => a.id).sort();
    w.register(v2());
    w.step();
    const fresh = w.fsm.allocs().find((a) => a.taskSha256 === taskSha256(v2()))!;
    w.report(fresh.node, [{ id: fresh.id, client: 'failed', clientDetail: 'exited with code 1; giving up' }]);
    const plan = w.step();
    assert.equal(plan.place.length, 0, 'no second try of the broken version');
    assert.equal(w.fsm.deployment('web')?.status, 'failed');
    w.settle();
    assert.deepEqual(w.running('web').map((a) => a.id).sort(), old);
  });

  it('with autoRevert a failed rollout registers the old spec again', () => {
    const w = new World(['a', 'b', 'c']);
    w.register(web());
    w.settle();
    const spec = { ...v2(), update: { ...v2().update, autoRevert: true } };
    w.register(spec);
    w.settle((a) => (a.taskSha256 === taskSha256(spec) ? 'unhealthy' : 'healthy'));
    const record = w.fsm.job('web')!;
    assert.equal(record.version, 3);
    assert.equal(taskSha256(record.spec), taskSha256(web()));
    assert.match(w.fsm.deployment('web')!.reason, /reverting to the spec of version 1/);
    assert.equal(w.running('web').length, 3);
  });
});

describe('reconcile: kinds of job', () => {
  it('a system job runs once on every eligible node, and on a node that joins', () => {
    const w = new World(['a', 'b'], { a: { zone: 'x' }, b: { zone: 'x' }, c: { zone: 'y' } });
    w.register({ ...job('agentd', { constraints: [{ attribute: 'tag.zone', operator: '==', value: 'x' }] }), type: 'system' });
    w.settle();
    assert.deepEqual(nodesOf(w, 'agentd'), ['a', 'b']);
    w.nodes.set('c', { ...w.nodes.get('a')!, id: 'c', tags: { zone: 'x' } });
    w.settle();
    assert.deepEqual(nodesOf(w, 'agentd'), ['a', 'b', 'c']);
    assert.equal(new Set(w.running('agentd').map((a) => a.index)).size, 3, 'each instance has its own index');
  });

  it('a leader job follows the Raft leader', () => {
    const w = new World(['a', 'b', 'c']);
    w.register({ ...job('healer'), type: 'leader' });
    w.settle();
    assert.deepEqual(nodesOf(w, 'healer'), ['a']);
    w.leader = 'c';
    w.settle();
    assert.deepEqual(nodesOf(w, 'healer'), ['c']);
    assert.ok(w.fsm.allocs().some((a) => a.desiredReason === 'leadership moved to c'));
  });
});

describe('reconcile: minNodes', () => {
  it('pauses placement below minNodes and places once enough nodes are alive', () => {
    const w = new World(['a']);
    w.settings = { ...w.settings, minNodes: 2 };
    w.register(web({ count: 2 }));
    const plan = w.step();
    assert.equal(plan.place.length, 0);
    assert.match(plan.paused ?? '', /placement paused: 1 of the 2 nodes/);
    w.nodes.set('b', { ...w.nodes.get('a')!, id: 'b' });
    w.settle();
    assert.equal(w.running('web').length, 2);
  });

  it("with belowMinNodes 'stop' stops workloads when too few nodes remain", () => {
    const w = new World(['a', 'b']);
    w.settings = { ...w.settings, minNodes: 2, belowMinNodes: 'stop' };
    w.register(web({ count: 2 }));
    w.settle();
    assert.equal(w.running('web').length, 2);
    w.setLiveness('b', 'left');
    w.settle();
    assert.equal(w.running('web').length, 0);
  });
});

describe('reconcile: plans', () => {
  it('a stale plan is refused whole by the state machine', () => {
    const w = new World(['a']);
    w.register(web({ count: 1 }));
    const basis = w.fsm.planSeq;
    w.step();
    const r = w.apply({ type: 'alloc.plan', basis, place: [], stop: [], deployments: [], notes: [{ kind: 'x', subject: 'y', message: 'z' }] });
    assert.equal(r.ok, false);
  });

  it('reports unplaceable instances with the reasons', () => {
    const w = new World(['a']);
    w.register(job('huge', { memoryMB: 1_000_000 }));
    const plan = w.step();
    assert.equal(plan.blocked.length, 1);
    assert.match(plan.blocked[0]!.summary, /memory/);
  });

  it('cuts a large plan and asks to run again', () => {
    const w = new World(Array.from({ length: 20 }, (_, i) => `n${i}`));
    w.register(job('many', { count: 700, cpuMillis: 1, memoryMB: 1 }));
    const plan = w.step();
    assert.equal(plan.more, true);
    assert.equal(plan.place.length, 500);
    w.settle();
    assert.equal(w.running('many').length, 700);
  });
});

describe('reconcile: regressions found by the workloads simulation', () => {
  const version = (n: number): JobSpec => web({ count: 1, env: { VERSION: String(n) }, update: { maxParallel: 1, healthyDeadlineMs: 60_000, minHealthyMs: 5000, autoRevert: false } });
  const activeOf = (w: World, index: number) => w.fsm.allocs().filter((a) => a.job === 'web' && a.index === index && a.desired === 'run' && a.client !== 'lost' && a.client !== 'failed' && a.client !== 'complete');

  it('a version registered during a rollout keeps one older instance in the slot, never three (seed 1)', () => {
    const w = new World(['a', 'b', 'c']);
    w.register(version(1));
    w.settle();
    const v1 = w.running('web')[0]!;
    w.register(version(2));
    w.step();
    w.nodesAct();
    assert.equal(activeOf(w, 0).length, 2, 'v2 starts next to v1');
    const v2 = activeOf(w, 0).find((a) => a.id !== v1.id)!;
    w.register(version(3));
    const plan = w.step();
    assert.ok(activeOf(w, 0).length <= 2, `at most old + new: ${activeOf(w, 0).map((a) => a.jobVersion).join(',')}`);
    assert.deepEqual(plan.stop.map((s) => s.id), [v2.id], 'the rollout in flight is superseded; v1, the healthy old one, stays');
    assert.match(plan.stop[0]!.reason, /^superseded by version 3/);
    assert.equal(plan.place.length, 0, 'the slot still counted as in flight this round');
    w.nodesAct();
    const next = w.step();
    assert.equal(next.place.length, 1);
    assert.equal(next.place[0]!.replaces, v1.id);
    for (let i = 0; i < 10; i++) {
      w.advance(5000);
      w.settle();
    }
    assert.deepEqual(w.running('web').map((a) => a.jobVersion), [3]);
  });

  /** v1 runs healthy on one node; v2 is placed next to it (pending) and not acted on. */
  const rolloutInFlight = (count = 1, nodes = ['a', 'b', 'c']) => {
    const w = new World(nodes);
    const spec = (n: number): JobSpec => ({ ...version(n), count });
    w.register(spec(1));
    w.settle();
    w.register(spec(2));
    w.step();
    const v1 = w.running('web').find((a) => a.index === 0)!;
    const v2 = activeOf(w, 0).find((a) => a.id !== v1.id)!;
    return { w, spec, v1, v2 };
  };

  it('with two older instances and neither surely serving, the slot waits instead of stopping one (seeds 185, 34)', () => {
    const { w, spec, v1, v2 } = rolloutInFlight();
    // v1's node goes down (it may be only cut off and still serving); v2 is not known healthy yet.
    w.setLiveness(v1.node, 'dead');
    w.register(spec(3));
    const plan = w.step();
    assert.deepEqual([plan.stop.length, plan.place.length], [0, 0], 'nothing stopped, no third instance');
    // v2 turns healthy on a live node: now it surely serves and v1 goes.
    w.report(v2.node, [{ id: v2.id, client: 'running', health: 'healthy' }]);
    const after = w.step();
    assert.deepEqual(after.stop.map((s) => s.id), [v1.id]);
    assert.match(after.stop[0]!.reason, new RegExp(`superseded by version 3; ${v2.id} stays`));
  });

  it('with two older instances that both report unhealthy, one goes so that the rollout can go on (seed 680)', () => {
    const { w, spec, v1, v2 } = rolloutInFlight();
    w.report(v1.node, [{ id: v1.id, health: 'unhealthy' }]);
    w.report(v2.node, [{ id: v2.id, client: 'running', health: 'unhealthy' }]);
    w.register(spec(3));
    const plan = w.step();
    assert.equal(plan.stop.length, 1);
    assert.equal(activeOf(w, 0).length, 1);
  });

  it('a slot waiting with two older instances counts against maxParallel (seed 352)', () => {
    const { w, spec, v1 } = rolloutInFlight(2, ['a', 'b', 'c', 'd']);
    w.setLiveness(v1.node, 'dead');
    w.register(spec(3));
    w.step();
    const doubled = [0, 1].filter((i) => activeOf(w, i).length === 2).length;
    assert.equal(doubled, 1, 'at most maxParallel (1) indexes with two active allocations');
  });

  it('a failed rollout keeps the new instance when no old one serves: old on a dead node (seeds 14, 44)', () => {
    const { w, v1, v2 } = rolloutInFlight();
    w.settings = { ...w.settings, lostGraceMs: 120_000 };
    w.setLiveness(v1.node, 'dead');
    w.report(v2.node, [{ id: v2.id, client: 'running' }]);
    w.advance(60_000);
    const plan = w.step();
    assert.equal(w.fsm.deployment('web')?.status, 'failed', 'the deadline was missed: the rollout failed');
    assert.ok(!plan.stop.some((s) => s.id === v2.id), 'but the new instance stays: the old one serves no one');
    assert.equal(w.fsm.alloc(v2.id)!.desired, 'run');
  });

  it('a failed rollout keeps the new instance when no old one serves: old one unhealthy (seed 359)', () => {
    const { w, v1, v2 } = rolloutInFlight();
    w.report(v1.node, [{ id: v1.id, health: 'unhealthy' }]);
    w.report(v2.node, [{ id: v2.id, client: 'running' }]);
    w.advance(60_000);
    const plan = w.step();
    assert.equal(w.fsm.deployment('web')?.status, 'failed');
    assert.ok(!plan.stop.some((s) => s.id === v2.id));
    // With the old instance healthy, the failed new one is stopped as before.
    const other = rolloutInFlight();
    other.w.report(other.v2.node, [{ id: other.v2.id, client: 'running' }]);
    other.w.advance(60_000);
    assert.deepEqual(other.w.step().stop.map((s) => s.id), [other.v2.id]);
  });
});

describe('reconcile: capacity under report latency (workloads simulation)', () => {
  it('room of a pending allocation told to stop is not handed out until its node says it ended (seed 3, jobs x3)', () => {
    const w = new World(['a']);
    const big = (name: string): JobSpec => job(name, { cpuMillis: 3000 });
    w.register(big('first'));
    w.step();
    const first = w.fsm.allocs()[0]!;
    assert.equal(first.client, 'pending');
    w.apply({ type: 'job.deregister', job: 'first' });
    w.step();
    assert.deepEqual([w.fsm.alloc(first.id)!.desired, w.fsm.alloc(first.id)!.client], ['stop', 'pending']);
    w.register(big('second'));
    w.step();
    // The node had started it: its report arrives after the stop.
    w.report('a', [{ id: first.id, client: 'running', health: 'healthy' }]);
    const held = w.fsm.allocs().filter(holdsResources).reduce((sum, a) => sum + a.cpuMillis, 0);
    assert.ok(held <= 4000, `node a holds ${held}m cpu of 4000m`);
    assert.equal(w.running('second').length + w.fsm.allocs().filter((a) => a.job === 'second').length, 0, 'the second job waits for the room');
    w.report('a', [{ id: first.id, client: 'complete', clientDetail: 'stopped' }]);
    w.settle();
    assert.equal(w.running('second').length, 1, 'placed once the node has stopped the first');
  });
});

describe('reconcile: auto-revert target (workloads simulation)', () => {
  const activeOf = (w: World, index: number) => w.fsm.allocs().filter((a) => a.job === 'web' && a.index === index && a.desired === 'run' && a.client !== 'lost' && a.client !== 'failed' && a.client !== 'complete');
  it('reverts to the newest version old instances run healthy, not to a broken one restarting in a slot (seed 3775)', () => {
    const w = new World(['a', 'b', 'c']);
    const spec = (n: number, autoRevert: boolean): JobSpec => web({ count: 2, env: { VERSION: String(n) }, update: { maxParallel: 1, healthyDeadlineMs: 60_000, minHealthyMs: 1000, autoRevert } });
    const unhealthy = (a: { id: string; node: string }) => w.report(a.node, [{ id: a.id, client: 'running', health: 'unhealthy' }]);
    w.register(spec(1, false));
    w.settle();
    const [v1a, v1b] = w.running('web').sort((x, y) => x.index - y.index);
    // v2 is broken: its rollout fails, and it stays failed (no autoRevert).
    w.register(spec(2, false));
    w.step();
    unhealthy(activeOf(w, 0).find((a) => a.jobVersion === 2)!);
    w.step();
    assert.equal(w.fsm.deployment('web')?.status, 'failed');
    // v1 in slot 1 fails; its replacement is the current version, the broken v2, restarting there.
    w.report(v1b!.node, [{ id: v1b!.id, client: 'failed', clientDetail: 'exited with code 1' }]);
    w.step();
    w.advance(120_000);
    w.step();
    const broken = activeOf(w, 1).find((a) => a.jobVersion === 2)!;
    unhealthy(broken);
    // v3 (good, autoRevert) rolls into slot 0 and fails there.
    w.register(spec(3, true));
    w.step();
    unhealthy(activeOf(w, 0).find((a) => a.jobVersion === 3)!);
    const plan = w.step();
    assert.equal(plan.reverts.length, 1);
    assert.equal(plan.reverts[0]!.toVersion, 1, `reverted to v${plan.reverts[0]!.toVersion}; v1 (${v1a!.id}) is what runs healthy`);
    assert.equal(taskSha256(w.fsm.job('web')!.spec), taskSha256(spec(1, false)));
  });
});
