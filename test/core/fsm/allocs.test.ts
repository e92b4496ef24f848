// Allocations in the replicated state: alloc.plan applies only on its planSeq basis and whole;
// alloc.update changes only the reporting node's allocations and never moves a terminal status;
// terminal allocations are bounded per job; events are grouped; snapshots carry it all.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterFsm } from '../../../src/core/fsm/fsm.ts';
import { MAX_TERMINAL_PER_JOB, type AllocPlacement } from '../../../src/core/fsm/allocs.ts';
import type { ApplyResult, Command, NodeId } from '../../../src/core/fsm/types.ts';
import { createFsmSnapshotCodec, decodeFsmSnapshot, encodeFsmSnapshot } from '../../../src/wire/fsm.ts';
import { job } from '../scheduler/fixtures.ts';
import type { Untimed } from '../scheduler/world.ts';

class Fsm {
  readonly fsm = new ClusterFsm();
  #index = 0;
  apply(c: Untimed<Command>, atMs = 1000 + this.#index): ApplyResult {
    this.#index += 1;
    return this.fsm.apply(this.#index, { atMs, ...c } as Command);
  }
}

let ids = 0;
function placement(node: string, index = 0, over: Partial<AllocPlacement> = {}): AllocPlacement {
  return { id: (++ids).toString(16).padStart(16, '0'), job: 'web', jobVersion: 1, taskSha256: 'a'.repeat(64), index, node: node as NodeId, cpuMillis: 100, memoryMB: 64, ports: {}, reason: 'new instance', reschedules: 0, ...over };
}

function plan(f: Fsm, place: AllocPlacement[], stop: { id: string; reason: string; lost?: boolean }[] = [], basis = f.fsm.planSeq): ApplyResult {
  return f.apply({ type: 'alloc.plan', basis, place, stop, deployments: [], notes: [] });
}

describe('alloc.plan', () => {
  it('applies on its basis, is refused whole on a stale one, and records grouped events', () => {
    const f = new Fsm();
    f.apply({ type: 'job.register', spec: job('web', { count: 3 }) });
    const basis = f.fsm.planSeq;
    assert.ok(plan(f, [placement('a', 0), placement('b', 1), placement('c', 2)]).ok);
    assert.equal(f.fsm.allocs().length, 3);
    const events = f.fsm.events(1).filter((e) => e.type === 'sched.place');
    assert.equal(events.length, 1, 'one event for the three placements with the same reason');
    assert.equal(events[0]!.detail['count'], 3);
    const stale = plan(f, [placement('a', 3)], [], basis);
    assert.deepEqual(stale, { ok: false, code: 'cas-mismatch', modRevision: basis + 1 });
    assert.equal(f.fsm.allocs().length, 3, 'nothing of a stale plan applies');
  });

  it('refuses a plan stopping an unknown allocation or reusing an ID', () => {
    const f = new Fsm();
    const p = placement('a');
    assert.ok(plan(f, [p]).ok);
    assert.equal(plan(f, [], [{ id: 'ffffffffffffffff', reason: 'x' }]).ok, false);
    assert.equal(plan(f, [p]).ok, false);
  });

  it('a lost stop marks the client lost; later reports from that node change nothing', () => {
    const f = new Fsm();
    f.apply({ type: 'job.register', spec: job('web') });
    const p = placement('a');
    plan(f, [p]);
    plan(f, [], [{ id: p.id, reason: 'node a has been dead for 30s', lost: true }]);
    assert.equal(f.fsm.alloc(p.id)!.client, 'lost');
    f.apply({ type: 'alloc.update', node: 'a' as NodeId, updates: [{ id: p.id, client: 'running' }] });
    assert.equal(f.fsm.alloc(p.id)!.client, 'lost', 'a terminal status never moves');
  });
});

describe('alloc.update', () => {
  it('changes only the reporting node’s allocations, tracks healthy-since, and groups status events', () => {
    const f = new Fsm();
    const mine = placement('a');
    const theirs = placement('b');
    plan(f, [mine, theirs]);
    f.apply({ type: 'alloc.update', node: 'a' as NodeId, updates: [{ id: mine.id, client: 'running', health: 'healthy' }, { id: theirs.id, client: 'failed' }] }, 5000);
    assert.equal(f.fsm.alloc(mine.id)!.client, 'running');
    assert.equal(f.fsm.alloc(mine.id)!.healthySinceMs, 5000);
    assert.equal(f.fsm.alloc(theirs.id)!.client, 'pending', 'a node cannot speak for another node’s allocation');
    f.apply({ type: 'alloc.update', node: 'a' as NodeId, updates: [{ id: mine.id, health: 'healthy', restarts: 1 }] }, 6000);
    assert.equal(f.fsm.alloc(mine.id)!.healthySinceMs, 5000, 'staying healthy keeps the time it became healthy');
    f.apply({ type: 'alloc.update', node: 'a' as NodeId, updates: [{ id: mine.id, health: 'unhealthy' }] }, 7000);
    assert.equal(f.fsm.alloc(mine.id)!.healthySinceMs, undefined);
    const changes = f.fsm.events(1).filter((e) => e.type === 'alloc.status').map((e) => e.detail['change']);
    assert.deepEqual(changes, ['client running', 'health healthy', 'health unhealthy']);
  });
});

describe('bounds and snapshots', () => {
  it('keeps at most MAX_TERMINAL_PER_JOB finished allocations per job, and none of a purged job', () => {
    const f = new Fsm();
    f.apply({ type: 'job.register', spec: job('web') });
    for (let i = 0; i < MAX_TERMINAL_PER_JOB + 5; i++) {
      const p = placement('a', i);
      plan(f, [p]);
      f.apply({ type: 'alloc.update', node: 'a' as NodeId, updates: [{ id: p.id, client: 'complete' }] });
      plan(f, [], [{ id: p.id, reason: 'done' }]);
    }
    assert.equal(f.fsm.allocs().length, MAX_TERMINAL_PER_JOB);
    f.apply({ type: 'job.deregister', job: 'web', purge: true });
    assert.equal(f.fsm.allocs().length, 0);
  });

  it('a job registered under a purged job’s name does not inherit its finished allocations', () => {
    const f = new Fsm();
    f.apply({ type: 'job.register', spec: job('web') });
    const p = placement('a');
    plan(f, [p]);
    f.apply({ type: 'job.deregister', job: 'web', purge: true });
    // The purge came before the allocation finished: it is stopped and reported complete later.
    plan(f, [], [{ id: p.id, reason: 'job purged' }]);
    f.apply({ type: 'alloc.update', node: 'a' as NodeId, updates: [{ id: p.id, client: 'complete' }] });
    f.apply({ type: 'job.register', spec: job('web') });
    assert.equal(f.fsm.allocs().filter((a) => a.job === 'web').length, 0);
  });

  it('round-trips allocations and deployments through the snapshot codec', () => {
    const f = new Fsm();
    f.apply({ type: 'job.register', spec: job('web', { count: 1 }) });
    const p = placement('a', 0, { ports: { http: 21000 }, replaces: 'abcdef0123456789' });
    f.apply({ type: 'alloc.plan', basis: 0, place: [p], stop: [], deployments: [{ job: 'web', version: 1, status: 'running', reason: 'rolling update' }], notes: [] });
    f.apply({ type: 'alloc.update', node: 'a' as NodeId, updates: [{ id: p.id, client: 'running', health: 'healthy', checks: [{ name: 'alive', status: 'passing', output: 'ok' }] }] });
    const codec = createFsmSnapshotCodec();
    const bytes = encodeFsmSnapshot(codec, f.fsm.snapshot());
    assert.ok(bytes.ok);
    const decoded = decodeFsmSnapshot(codec, bytes.value);
    assert.ok(decoded.ok, decoded.ok ? '' : decoded.error);
    const copy = new ClusterFsm();
    copy.restore(decoded.value);
    assert.deepEqual(copy.allocs(), f.fsm.allocs());
    assert.deepEqual(copy.deployment('web'), f.fsm.deployment('web'));
    assert.equal(copy.planSeq, f.fsm.planSeq);
  });
});
