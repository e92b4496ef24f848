// JobsService (src/agent/jobs.ts) over the real state machine: the test's World plays the leader
// (reconcile + alloc.plan) and the nodes (alloc.update); the service proposes into it and reads
// from it as the agent does.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AllocCheck, Allocation } from '../../src/core/fsm/allocs.ts';
import type { NodeId } from '../../src/core/fsm/types.ts';
import type { JobSpec } from '../../src/core/scheduler/job.ts';
import { ApiError } from '../../src/api/errors.ts';
import type { AllocOps, LogReadOptions } from '../../src/api/allocs.ts';
import { hostOf, JobsService, specChanges } from '../../src/agent/jobs.ts';
import { job } from '../core/scheduler/fixtures.ts';
import { World } from '../core/scheduler/world.ts';

const web = (over: Partial<JobSpec> = {}): JobSpec => ({ ...job('web', { count: 3 }), ...over });

function setup(nodes = ['a', 'b', 'c'], tags: Record<string, Record<string, string>> = {}, extra: { allocOps?: AllocOps } = {}) {
  const w = new World(nodes, tags);
  const service = new JobsService({
    state: async () => w.fsm,
    propose: async (command) => w.apply(command),
    nodes: () => [...w.nodes.values()],
    leader: () => w.leader,
    settings: () => w.settings,
    wallMs: () => w.nowMs,
    allocOps: () => extra.allocOps,
  });
  return { w, service };
}

async function rejects(promise: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof ApiError, String(e));
    assert.equal(e.code, code);
    assert.match(e.message, message);
    return true;
  });
}

describe('JobsService: run and plan', () => {
  it('plans a new job: created, count instances placed on distinct nodes, nothing proposed', async () => {
    const { w, service } = setup();
    const before = w.fsm.appliedIndex;
    const plan = await service.plan(web(), false);
    assert.equal(w.fsm.appliedIndex, before, 'a plan proposes nothing');
    assert.equal(plan.kind, 'create');
    assert.equal(plan.currentVersion, null);
    assert.equal(plan.nextVersion, 1);
    assert.deepEqual(plan.changes, []);
    assert.deepEqual(plan.place.map((p) => p.index), [0, 1, 2]);
    assert.deepEqual(plan.place.map((p) => p.node).sort(), ['a', 'b', 'c']);
    assert.ok(plan.place.every((p) => p.reason === 'new instance' && p.replaces === null));
    assert.equal(plan.update, null);
    assert.equal(plan.blocked, null);
    assert.equal(plan.paused, null);
  });

  it('runs a job: version 1, the same spec again changes nothing, another spec is version 2', async () => {
    const { service } = setup();
    assert.deepEqual(await service.run(web()), { job: 'web', version: 1, changed: true });
    assert.deepEqual(await service.run(web()), { job: 'web', version: 1, changed: false });
    assert.deepEqual(await service.run(web({ count: 2 })), { job: 'web', version: 2, changed: true });
    assert.equal((await service.plan(web({ count: 2 }), false)).kind, 'unchanged');
  });

  it('refuses an invalid spec with a 400 naming each field', async () => {
    const { service } = setup();
    const bad = { ...web(), count: -1, resources: { cpuMillis: 1, memoryMB: 64, ports: [] } };
    await rejects(service.run(bad), 'bad-request', /invalid job spec:\n {2}count: .*\n {2}resources\.cpuMillis: /);
    await rejects(service.plan({ job: 'x' }, false), 'bad-request', /invalid job spec/);
    await rejects(service.run('not a spec'), 'bad-request', /\(the spec\)/);
  });

  it('plans a scale-up and a scale-down in place: new indexes placed, the highest ones stopped, no update', async () => {
    const { w, service } = setup();
    await service.run(web());
    w.settle();
    const up = await service.plan(web({ count: 5 }), false);
    assert.equal(up.kind, 'in-place');
    assert.equal(up.currentVersion, 1);
    assert.equal(up.nextVersion, 2);
    assert.deepEqual(up.changes, [{ field: 'count', change: 'modified', before: 3, after: 5 }]);
    assert.deepEqual(up.place.map((p) => p.index), [3, 4]);
    assert.deepEqual(up.stop, []);
    assert.equal(up.update, null);

    const down = await service.plan(web({ count: 1 }), false);
    assert.equal(down.kind, 'in-place');
    assert.deepEqual(down.stop.map((s) => [s.index, s.reason]).sort(), [
      [1, 'scaled down to 1'],
      [2, 'scaled down to 1'],
    ]);
    assert.deepEqual(down.place, []);
  });

  it('plans a rolling update: every old instance listed, maxParallel of them replaced now', async () => {
    const { w, service } = setup();
    await service.run(web());
    w.settle();
    const running = w.running('web');
    const plan = await service.plan(web({ env: { COLOR: 'blue' }, update: { ...web().update, maxParallel: 2 } }), false);
    assert.equal(plan.kind, 'rolling-update');
    assert.deepEqual(plan.changes.map((c) => c.field), ['env', 'update']);
    assert.equal(plan.update?.maxParallel, 2);
    assert.deepEqual(plan.update?.outdated.map((o) => o.alloc).sort(), running.map((a) => a.id).sort());
    assert.ok(plan.update?.outdated.every((o) => o.version === 1));
    assert.equal(plan.place.length, 2, 'maxParallel instances start next to the old ones');
    for (const p of plan.place) {
      assert.match(p.reason, /rolling update to version 2/);
      assert.ok(running.some((a) => a.id === p.replaces && a.index === p.index));
    }
    assert.deepEqual(plan.stop, [], 'old instances stop only once their replacements are healthy');
  });

  it('plans a stopped job as started again', async () => {
    const { w, service } = setup();
    await service.run(web());
    w.settle();
    await service.stop('web', false);
    w.settle();
    const plan = await service.plan(web(), false);
    assert.equal(plan.kind, 'start');
    assert.equal(plan.nextVersion, 2);
    assert.equal(plan.place.length, 3);
  });

  it('reports blocked placements with the scheduler\'s reason, and a pause below minNodes', async () => {
    const { w, service } = setup(['a', 'b'], { a: { role: 'web' } });
    const plan = await service.plan(web({ constraints: [{ attribute: 'tag.role', operator: '==', value: 'db' }] }), false);
    assert.deepEqual(plan.place, []);
    assert.equal(plan.blocked?.unplaced, 3);
    assert.match(plan.blocked!.summary, /tag\.role/);

    w.settings = { ...w.settings, minNodes: 3 };
    const paused = await service.plan(web(), false);
    assert.match(paused.paused ?? '', /placement paused: 2 of the 3 nodes/);
    assert.deepEqual(paused.place, []);
  });
});

describe('JobsService: status, list, history, stop', () => {
  it('status counts instances by client status and health, and lists them by index', async () => {
    const { w, service } = setup();
    await service.run(web());
    w.step();
    let status = await service.status('web', false);
    assert.equal(status.status, 'running');
    assert.equal(status.version, 1);
    assert.deepEqual(
      { desired: status.instances.desired, placed: status.instances.placed, pending: status.instances.pending, running: status.instances.running },
      { desired: 3, placed: 3, pending: 3, running: 0 },
    );
    w.nodesAct((a) => (a.index === 0 ? 'unhealthy' : 'healthy'));
    status = await service.status('web', false);
    assert.equal(status.instances.running, 3);
    assert.equal(status.instances.healthy, 2);
    assert.equal(status.instances.unhealthy, 1);
    assert.equal(status.instances.current, 3);
    assert.deepEqual(status.allocations.map((a) => a.index), [0, 1, 2]);
    assert.equal(status.blocked, null);
    assert.equal(status.deployment, null);

    const list = await service.list(false);
    assert.deepEqual(list.map((j) => [j.name, j.status, j.version, j.instances.running]), [['web', 'running', 1, 3]]);
    await rejects(service.status('nope', false), 'not-found', /no job "nope"/);
  });

  it('status names a job the scheduler cannot place and why', async () => {
    const { w, service } = setup(['a']);
    await service.run(web({ resources: { cpuMillis: 100, memoryMB: 100_000, ports: [] } }));
    w.step();
    const status = await service.status('web', false);
    assert.equal(status.instances.placed, 0);
    assert.equal(status.blocked?.unplaced, 3);
    assert.match(status.blocked!.summary, /memory/);
  });

  it('history lists versions newest first with the task hash and the keys that changed', async () => {
    const { service } = setup();
    await service.run(web());
    await service.run(web({ count: 4 }));
    await service.run(web({ count: 4, env: { A: '1' } }));
    const h = await service.history('web', false);
    assert.deepEqual(h.versions.map((v) => [v.version, v.current, v.changed]), [
      [3, true, ['env']],
      [2, false, ['count']],
      [1, false, []],
    ]);
    assert.equal(h.versions[1]!.taskSha256, h.versions[2]!.taskSha256, 'a count change runs the same task');
    assert.notEqual(h.versions[0]!.taskSha256, h.versions[1]!.taskSha256);
    assert.notEqual(h.versions[1]!.specSha256, h.versions[2]!.specSha256);
  });

  it('stop marks the job stopped and the scheduler stops its allocations; purge forgets it; unknown is 404', async () => {
    const { w, service } = setup();
    await service.run(web());
    w.settle();
    assert.deepEqual(await service.stop('web', false), { job: 'web', version: 1, changed: true, purged: false });
    assert.deepEqual(await service.stop('web', false), { job: 'web', version: 1, changed: false, purged: false });
    w.step();
    const status = await service.status('web', false);
    assert.equal(status.status, 'stopped');
    assert.equal(status.instances.desired, 0);
    assert.equal(status.instances.stopping, 3);
    assert.ok(status.allocations.every((a) => a.desired === 'stop' && a.desiredReason === 'job stopped'));
    assert.equal((await service.stop('web', true)).purged, true);
    await rejects(service.status('web', false), 'not-found', /no job/);
    await rejects(service.stop('web', false), 'not-found', /no job "web"/);
  });
});

describe('JobsService: allocations', () => {
  it('filters by job and node and finds one by a unique prefix of 4 or more characters', async () => {
    const { w, service } = setup();
    await service.run(web({ count: 5 }));
    await service.run(job('other', { count: 1 }));
    w.settle();
    assert.equal((await service.allocs({}, false)).length, 6);
    assert.equal((await service.allocs({ job: 'web' }, false)).length, 5);
    const onA = await service.allocs({ node: 'a' }, false);
    assert.ok(onA.length >= 1 && onA.every((a) => a.node === 'a'));
    assert.equal((await service.allocs({ job: 'web', node: 'nowhere' }, false)).length, 0);

    // The world's IDs are 00000001, 00000002, ...
    const one = await service.alloc('00000001', false);
    assert.equal(one.id, '00000001');
    const placed = w.apply({
      type: 'alloc.plan',
      basis: w.fsm.planSeq,
      place: [{ id: 'abcd1234ef567890', job: 'other', jobVersion: 1, taskSha256: 'x', index: 5, node: 'a' as NodeId, cpuMillis: 10, memoryMB: 1, ports: {}, reason: 'test', reschedules: 0 }],
      stop: [],
      deployments: [],
      notes: [],
    });
    assert.ok(placed.ok);
    assert.equal((await service.alloc('abcd', false)).id, 'abcd1234ef567890');
    assert.equal((await service.alloc('ABCD1234', false)).id, 'abcd1234ef567890', 'prefixes are case-insensitive');
    await rejects(service.alloc('0000', false), 'bad-request', /"0000" is ambiguous: it matches 00000001 \(\w+\[0\] on [abc]\), 00000002 .* and 1 more; give more characters/);
    await rejects(service.alloc('000', false), 'bad-request', /at least 4 characters/);
    await rejects(service.alloc('ffff', false), 'not-found', /no allocation "ffff"/);
    await rejects(service.alloc('web-1', false), 'not-found', /no allocation/);
  });

  it('gives the full record with the node address from the registry', async () => {
    const { w, service } = setup(['a']);
    w.apply({ type: 'node.upsert', id: 'a' as NodeId, rpcAddr: '10.1.2.3:7701', httpAddr: '10.1.2.3:7700', tags: {} });
    await service.run(web({ count: 1, resources: { cpuMillis: 100, memoryMB: 64, ports: [{ label: 'http' }] } }));
    w.settle();
    const a = await service.alloc(w.running('web')[0]!.id, false);
    assert.equal(a.nodeAddress, '10.1.2.3');
    assert.equal(typeof a.ports['http'], 'number');
    assert.equal(a.client, 'running');
    assert.equal(a.replaces, null);
  });

  it('reads logs and restarts through AllocOps with the resolved allocation; no ops is unavailable', async () => {
    const calls: string[] = [];
    const ops: AllocOps = {
      logs: async (a: Allocation, o: LogReadOptions) => {
        calls.push(`logs ${a.id}@${a.node} ${o.stream} ${o.offset} ${o.limit}`);
        return { data: new TextEncoder().encode('hello\n'), offset: 0, nextOffset: 6, size: 6 };
      },
      restart: async (a: Allocation) => void calls.push(`restart ${a.id}@${a.node}`),
    };
    const { w, service } = setup(['b'], {}, { allocOps: ops });
    await service.run(web({ count: 1 }));
    w.settle();
    const id = w.running('web')[0]!.id;
    const read = await service.logs(id.slice(0, 6), { stream: 'stderr', offset: -100, limit: 10 });
    assert.deepEqual(read, { alloc: id, stream: 'stderr', data: Buffer.from('hello\n').toString('base64'), offset: 0, nextOffset: 6, size: 6 });
    assert.deepEqual(await service.restart(id), { alloc: id, node: 'b' });
    assert.deepEqual(calls, [`logs ${id}@b stderr -100 10`, `restart ${id}@b`]);

    const failing = setup(['a'], {}, { allocOps: { ...ops, restart: async () => Promise.reject(new Error('allocation x is not running on this node')) } });
    await failing.service.run(web({ count: 1 }));
    failing.w.settle();
    await rejects(failing.service.restart(failing.w.running('web')[0]!.id), 'conflict', /is not running on this node/);

    const bare = setup(['a']);
    await bare.service.run(web({ count: 1 }));
    bare.w.settle();
    await rejects(bare.service.logs(bare.w.running('web')[0]!.id, { stream: 'stdout', offset: 0, limit: 10 }), 'unavailable', /no workloads/);
  });

  it('refuses to restart an allocation that is not running', async () => {
    const { w, service } = setup(['a'], {}, { allocOps: { logs: async () => ({ data: new Uint8Array(0), offset: 0, nextOffset: 0, size: 0 }), restart: async () => undefined } });
    await service.run(web({ count: 1 }));
    w.step();
    const id = w.fsm.allocs()[0]!.id;
    await rejects(service.restart(id), 'conflict', /is not running \(desired run, client pending\)/);
  });
});

describe('JobsService: services', () => {
  const svc = (checks: JobSpec['service'] extends infer S ? (S extends { checks: infer C } ? C : never) : never) => ({
    name: 'web',
    port: 'http',
    tags: ['frontend'],
    checks,
  });

  it('lists running instances with address, port and the worst check as status; ?passing keeps passing ones', async () => {
    const { w, service } = setup(['a', 'b', 'c']);
    for (const [id, host] of [['a', '10.0.0.1'], ['b', '10.0.0.2'], ['c', '[fd00::3]']] as const) {
      w.apply({ type: 'node.upsert', id: id as NodeId, rpcAddr: `${host}:7701`, httpAddr: `${host}:7700`, tags: {} });
    }
    const spec = web({ resources: { cpuMillis: 100, memoryMB: 64, ports: [{ label: 'http' }] }, service: svc([{ type: 'ttl', name: 'alive', ttlMs: 10_000 }, { type: 'tcp', name: 'port', intervalMs: 10_000, timeoutMs: 1000 }]) });
    await service.run(spec);
    await service.run(job('plain', { count: 1 }));
    w.settle();
    const byIndex = new Map(w.running('web').map((a) => [a.index, a]));
    const checks = (alive: AllocCheck['status'], port: AllocCheck['status']): AllocCheck[] => [
      { name: 'alive', status: alive, output: '' },
      { name: 'port', status: port, output: '' },
    ];
    w.report(byIndex.get(0)!.node, [{ id: byIndex.get(0)!.id, checks: checks('passing', 'passing') }]);
    w.report(byIndex.get(1)!.node, [{ id: byIndex.get(1)!.id, checks: checks('passing', 'warning') }]);
    w.report(byIndex.get(2)!.node, [{ id: byIndex.get(2)!.id, checks: checks('warning', 'critical') }]);

    assert.deepEqual(await service.services(false), [{ name: 'web', tags: ['frontend'], jobs: ['web'], instances: 3, passing: 1, warning: 1, critical: 1 }]);
    const view = await service.service('web', { passing: false }, false);
    assert.equal(view.instances.length, 3);
    const i0 = view.instances.find((i) => i.alloc === byIndex.get(0)!.id)!;
    assert.equal(i0.status, 'passing');
    assert.equal(i0.port, byIndex.get(0)!.ports['http']);
    assert.equal(i0.address, { a: '10.0.0.1', b: '10.0.0.2', c: 'fd00::3' }[i0.node as 'a' | 'b' | 'c']);
    assert.equal(view.instances.find((i) => i.alloc === byIndex.get(2)!.id)!.status, 'critical');
    const passing = await service.service('web', { passing: true }, false);
    assert.deepEqual(passing.instances.map((i) => i.alloc), [byIndex.get(0)!.id]);
    await rejects(service.service('nope', { passing: false }, false), 'not-found', /no service "nope"/);
  });

  it('without checks an instance passes only when healthy; a stopped instance leaves the catalog; a declared service with none running is listed', async () => {
    const { w, service } = setup(['a', 'b']);
    await service.run(web({ count: 2, resources: { cpuMillis: 100, memoryMB: 64, ports: [{ label: 'http' }] }, service: svc([]) }));
    w.settle((a) => (a.index === 0 ? 'healthy' : 'unhealthy'));
    const view = await service.service('web', { passing: false }, false);
    assert.deepEqual(view.instances.map((i) => i.status).sort(), ['critical', 'passing']);
    assert.equal(view.instances[0]!.address, null, 'no registry entry: no address');
    await service.run(web({ count: 0, resources: { cpuMillis: 100, memoryMB: 64, ports: [{ label: 'http' }] }, service: svc([]) }));
    w.settle();
    assert.deepEqual(await service.services(false), [{ name: 'web', tags: ['frontend'], jobs: ['web'], instances: 0, passing: 0, warning: 0, critical: 0 }]);
  });
});

describe('helpers', () => {
  it('specChanges names top-level keys added, removed and modified', () => {
    const a = web();
    const b = { ...web({ count: 4 }), service: { name: 's', port: 'p', tags: [], checks: [] } };
    assert.deepEqual(specChanges(a, b).map((c) => [c.field, c.change]), [
      ['count', 'modified'],
      ['service', 'added'],
    ]);
    assert.deepEqual(specChanges(b, a).map((c) => [c.field, c.change]), [
      ['count', 'modified'],
      ['service', 'removed'],
    ]);
    assert.deepEqual(specChanges(a, { ...a }), []);
  });

  it('hostOf takes the host of an address', () => {
    assert.equal(hostOf('10.0.0.1:7701'), '10.0.0.1');
    assert.equal(hostOf('[::1]:7701'), '::1');
    assert.equal(hostOf('node.example:7701'), 'node.example');
    assert.equal(hostOf(''), null);
    assert.equal(hostOf(undefined), null);
  });
});
