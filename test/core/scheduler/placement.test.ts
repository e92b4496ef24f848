// place(): each score part on small hand-made clusters (bin-packing, collisions of one job,
// spread with weights and existing instances), tie-breaks, ports, failures with their reasons,
// onlyNodes, the bounded scan, and bad input.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DYNAMIC_PORT_RANGE, type Placement } from '../../../src/core/scheduler/job.ts';
import { place, type PlacementAsk, type PlacementPlan } from '../../../src/core/scheduler/placement.ts';
import { fnv1a32, pickDynamicPorts } from '../../../src/core/scheduler/ports.ts';
import { compareScores, fullness, spreadBoost, usedFraction } from '../../../src/core/scheduler/score.ts';
import { indexes, job, node } from './fixtures.ts';

const nodesOf = (plan: PlacementPlan): string[] => plan.placed.map((p) => p.placement.node);
const existing = (jobName: string, index: number, nodeId: string, cpuMillis = 100, memoryMB = 128, ports: Record<string, number> = {}): Placement => ({ job: jobName, index, node: nodeId, cpuMillis, memoryMB, ports });

describe('scores', () => {
  it('fullness is the mean of the cpu and memory fractions after placing', () => {
    assert.equal(fullness(1000, 1000, 500, 1000), 0.75);
    assert.equal(fullness(4000, 8192, 0, 0), 0);
    assert.equal(usedFraction(0, 0), 1, 'a node offering none of a resource counts as full');
  });

  it('spread boost is the share still missing, clamped to [-1, 1]', () => {
    assert.equal(spreadBoost(0, 2), 1);
    assert.equal(spreadBoost(1, 2), 0.5);
    assert.equal(spreadBoost(2, 2), 0);
    assert.equal(spreadBoost(3, 2), -0.5);
    assert.equal(spreadBoost(10, 2), -1);
  });

  it('ranks spread first, then fewer collisions, then fullness', () => {
    assert.ok(compareScores({ spread: 1, collisions: 5, fullness: 0 }, { spread: 0.5, collisions: 0, fullness: 1 }) > 0);
    assert.ok(compareScores({ spread: 0, collisions: 0, fullness: 0 }, { spread: 0, collisions: 1, fullness: 1 }) > 0);
    assert.ok(compareScores({ spread: 0, collisions: 1, fullness: 0.9 }, { spread: 0, collisions: 1, fullness: 0.8 }) > 0);
    assert.equal(compareScores({ spread: 0, collisions: 1, fullness: 0.9 }, { spread: 0, collisions: 1, fullness: 0.9 }), 0);
  });
});

describe('place: bin-packing', () => {
  it('prefers the node that ends fullest', () => {
    const nodes = [node('a'), node('b'), node('c')];
    const placements = [existing('other', 0, 'b', 2000, 4096), existing('other', 1, 'c', 1000, 1024)];
    const plan = place({ asks: [{ job: job('web'), indexes: [0] }] }, { nodes, placements });
    assert.deepEqual(nodesOf(plan), ['b']);
    assert.equal(plan.placed[0]!.score.fullness, fullness(4000, 8192, 2100, 4224));
    assert.equal(plan.placed[0]!.nodesFit, 3);
  });

  it('normalizes over cpu and memory: a node full in both beats one full in one', () => {
    const nodes = [node('a', { cpuMillis: 1000, memoryMB: 1000 }), node('b', { cpuMillis: 1000, memoryMB: 1000 })];
    const placements = [existing('x', 0, 'a', 900, 0), existing('y', 0, 'b', 500, 500)];
    const plan = place({ asks: [{ job: job('web', { cpuMillis: 50, memoryMB: 50 }), indexes: [0] }] }, { nodes, placements });
    assert.deepEqual(nodesOf(plan), ['b'], '(0.95 + 0.05)/2 = 0.5 < (0.55 + 0.55)/2');
  });

  it('packs different jobs onto one node before opening another', () => {
    const nodes = [node('a'), node('b'), node('c')];
    const asks: PlacementAsk[] = ['j1', 'j2', 'j3'].map((name) => ({ job: job(name, { cpuMillis: 1000, memoryMB: 1024 }), indexes: [0] }));
    assert.deepEqual(nodesOf(place({ asks }, { nodes, placements: [] })), ['a', 'a', 'a']);
  });

  it('breaks ties by node ID whatever order nodes come in', () => {
    const plan = place({ asks: [{ job: job('web'), indexes: [0] }] }, { nodes: [node('n3'), node('n1'), node('n2')], placements: [] });
    assert.deepEqual(nodesOf(plan), ['n1']);
  });

  it('counts existing placements but ignores those on nodes it does not know', () => {
    const nodes = [node('a', { cpuMillis: 1000 })];
    const plan = place({ asks: [{ job: job('web', { cpuMillis: 600 }), indexes: [0, 1] }] }, { nodes, placements: [existing('old', 0, 'gone', 5000), existing('x', 0, 'a', 300)] });
    assert.deepEqual(nodesOf(plan), ['a'], '700 free: one fits, the second does not');
    assert.deepEqual(plan.failed[0]!.indexes, [1]);
    assert.equal(plan.failed[0]!.summary, '1 node lacks cpu');
    const tooBig = place({ asks: [{ job: job('web', { cpuMillis: 701 }), indexes: [0] }] }, { nodes, placements: [existing('x', 0, 'a', 300)] });
    assert.deepEqual(nodesOf(tooBig), []);
  });
});

describe('place: instances of one job kept apart', () => {
  it('puts instances on distinct nodes while there are nodes without one', () => {
    const nodes = [node('a'), node('b'), node('c')];
    const plan = place({ asks: [{ job: job('web'), indexes: indexes(3) }] }, { nodes, placements: [] });
    assert.deepEqual(nodesOf(plan), ['a', 'b', 'c'], 'bin-packing alone would stack them on a');
  });

  it('shares nodes when instances outnumber them (a penalty, not a rule), evenly', () => {
    const plan = place({ asks: [{ job: job('web'), indexes: indexes(5) }] }, { nodes: [node('a'), node('b')], placements: [] });
    assert.deepEqual(nodesOf(plan), ['a', 'b', 'a', 'b', 'a']);
    assert.deepEqual(plan.placed.map((p) => p.score.collisions), [0, 0, 1, 1, 2]);
  });

  it('counts instances already running, whatever their index or version', () => {
    const nodes = [node('a'), node('b')];
    const plan = place({ asks: [{ job: job('web'), indexes: [7] }] }, { nodes, placements: [existing('web', 3, 'a')] });
    assert.deepEqual(nodesOf(plan), ['b']);
  });

  it('keeps apart instances of one job asked in two asks', () => {
    const v1 = job('web');
    const v2 = job('web', { memoryMB: 256 });
    const plan = place({ asks: [{ job: v1, indexes: [0] }, { job: v2, indexes: [1] }] }, { nodes: [node('a'), node('b')], placements: [] });
    assert.deepEqual(nodesOf(plan), ['a', 'b']);
  });
});

describe('place: spread', () => {
  const zoned = (id: string, zone: string | undefined, over = {}) => node(id, { tags: zone === undefined ? {} : { zone }, ...over });

  it('evens instances over attribute values, before keeping them apart', () => {
    // Zone a has one node, zone b three: spread puts two in each, so a's node takes two.
    const nodes = [zoned('a1', 'a'), zoned('b1', 'b'), zoned('b2', 'b'), zoned('b3', 'b')];
    const j = job('web', { spread: [{ attribute: 'tag.zone', weight: 100 }] });
    const plan = place({ asks: [{ job: j, indexes: indexes(4) }] }, { nodes, placements: [] });
    assert.deepEqual(nodesOf(plan).sort(), ['a1', 'a1', 'b1', 'b2']);
  });

  it('counts instances already running toward the even share', () => {
    const nodes = [zoned('a1', 'a'), zoned('b1', 'b'), zoned('c1', 'c')];
    const j = job('web', { spread: [{ attribute: 'tag.zone', weight: 50 }] });
    const placements = [existing('web', 0, 'a1'), existing('web', 1, 'a1'), existing('web', 2, 'b1')];
    const plan = place({ asks: [{ job: j, indexes: [3, 4, 5] }] }, { nodes, placements });
    assert.deepEqual(nodesOf(plan), ['c1', 'b1', 'c1']);
  });

  it('avoids nodes without the attribute while others can take it', () => {
    const nodes = [zoned('a1', 'a'), zoned('none', undefined), zoned('z1', 'z')];
    const j = job('web', { spread: [{ attribute: 'tag.zone', weight: 50 }] });
    const plan = place({ asks: [{ job: j, indexes: indexes(5) }] }, { nodes, placements: [] });
    assert.equal(nodesOf(plan).filter((n) => n === 'none').length, 0);
  });

  it('takes the share over the values that can still take an instance', () => {
    // Zone b's only node is full: zone a takes everything rather than nothing.
    const nodes = [zoned('a1', 'a'), zoned('a2', 'a'), zoned('b1', 'b', { cpuMillis: 50 })];
    const j = job('web', { spread: [{ attribute: 'tag.zone', weight: 50 }] });
    const plan = place({ asks: [{ job: j, indexes: indexes(3) }] }, { nodes, placements: [] });
    assert.deepEqual(nodesOf(plan), ['a1', 'a2', 'a1']);
  });

  it('weighs several spreads', () => {
    // rack and zone disagree on node x vs y; the heavier spread wins.
    const nodes = [node('x', { tags: { zone: 'a', rack: 'r1' } }), node('y', { tags: { zone: 'b', rack: 'r2' } })];
    const placements = [existing('web', 0, 'z'), existing('web', 1, 'w')];
    const cluster = { nodes: [...nodes, node('z', { tags: { zone: 'a', rack: 'r2' }, eligible: false }), node('w', { tags: { zone: 'a', rack: 'r2' }, eligible: false })], placements };
    // Running: zone a 2, rack r2 2. Zone prefers y (zone b), rack prefers x (rack r1).
    const zoneHeavy = job('web', { spread: [{ attribute: 'tag.zone', weight: 90 }, { attribute: 'tag.rack', weight: 10 }] });
    const rackHeavy = job('web', { spread: [{ attribute: 'tag.zone', weight: 10 }, { attribute: 'tag.rack', weight: 90 }] });
    assert.deepEqual(nodesOf(place({ asks: [{ job: zoneHeavy, indexes: [2] }] }, cluster)), ['y']);
    assert.deepEqual(nodesOf(place({ asks: [{ job: rackHeavy, indexes: [2] }] }, cluster)), ['x']);
  });
});

describe('place: ports', () => {
  it('hands out static ports as asked and dynamic ports from the range, none reused on a node', () => {
    const j = job('web', { ports: [{ label: 'http' }, { label: 'admin', static: 9000 }, { label: 'metrics' }] });
    const plan = place({ asks: [{ job: j, indexes: [0] }] }, { nodes: [node('a')], placements: [] });
    const ports = plan.placed[0]!.placement.ports;
    assert.equal(ports['admin'], 9000);
    for (const label of ['http', 'metrics']) {
      const p = ports[label]!;
      assert.ok(p >= DYNAMIC_PORT_RANGE.min && p <= DYNAMIC_PORT_RANGE.max, `${label} ${p}`);
    }
    assert.notEqual(ports['http'], ports['metrics']);
  });

  it('steps over ports in use, starting from a hashed point', () => {
    const start = DYNAMIC_PORT_RANGE.min + (fnv1a32('web\u00000\u0000http') % (DYNAMIC_PORT_RANGE.max - DYNAMIC_PORT_RANGE.min + 1));
    assert.deepEqual(pickDynamicPorts(new Set(), 'web', 0, ['http']), [start]);
    assert.deepEqual(pickDynamicPorts(new Set([start, start + 1]), 'web', 0, ['http']), [start + 2 > DYNAMIC_PORT_RANGE.max ? DYNAMIC_PORT_RANGE.min : start + 2]);
  });

  it('wraps around the end of the range', () => {
    const all = new Set<number>();
    for (let p = DYNAMIC_PORT_RANGE.min + 1; p <= DYNAMIC_PORT_RANGE.max; p++) all.add(p);
    assert.deepEqual(pickDynamicPorts(all, 'web', 0, ['http']), [DYNAMIC_PORT_RANGE.min]);
    assert.throws(() => pickDynamicPorts(all, 'web', 0, ['a', 'b']), /assertion failed/);
  });

  it('moves to another node when a static port is taken', () => {
    const j = job('web', { ports: [{ label: 'http', static: 80 }] });
    const plan = place({ asks: [{ job: j, indexes: indexes(2) }] }, { nodes: [node('a')], placements: [] });
    assert.deepEqual(nodesOf(plan), ['a']);
    assert.equal(plan.failed[0]!.summary, '1 node has port 80 in use');
    const two = place({ asks: [{ job: j, indexes: indexes(2) }] }, { nodes: [node('a'), node('b')], placements: [existing('db', 0, 'b', 0, 0, { x: 80 })] });
    assert.deepEqual(nodesOf(two), ['a']);
  });
});

describe('place: what cannot be placed', () => {
  it('fails the rest of an ask together, with reasons counted over the nodes', () => {
    const nodes = [node('a', { tags: { zone: 'a' }, memoryMB: 1024 }), node('b', { tags: { zone: 'a' }, memoryMB: 1024 }), node('c', { tags: { zone: 'a' }, memoryMB: 512 }), node('d', { tags: { zone: 'b' } })];
    const j = job('web', { memoryMB: 1024, constraints: [{ attribute: 'tag.zone', operator: '==', value: 'a' }] });
    const plan = place({ asks: [{ job: j, indexes: [0, 1, 2, 3] }] }, { nodes, placements: [] });
    assert.deepEqual(nodesOf(plan), ['a', 'b']);
    assert.equal(plan.failed.length, 1);
    const f = plan.failed[0]!;
    assert.deepEqual(f.indexes, [2, 3]);
    assert.equal(f.nodesEvaluated, 4);
    assert.equal(f.summary, '3 nodes lack memory, 1 node fails constraint tag.zone == a');
  });

  it('says so when there are no nodes or none eligible', () => {
    assert.equal(place({ asks: [{ job: job('web'), indexes: [0] }] }, { nodes: [], placements: [] }).failed[0]!.summary, 'no nodes to place on');
    const plan = place({ asks: [{ job: job('web'), indexes: [0] }] }, { nodes: [node('a', { eligible: false })], placements: [] });
    assert.equal(plan.failed[0]!.summary, '1 node is not eligible');
  });

  it('goes on with the next ask after one fails', () => {
    const nodes = [node('a', { memoryMB: 1000 })];
    const plan = place({ asks: [{ job: job('big', { memoryMB: 2000 }), indexes: [0] }, { job: job('small', { memoryMB: 100 }), indexes: [0] }] }, { nodes, placements: [] });
    assert.deepEqual(plan.failed.map((f) => f.job), ['big']);
    assert.deepEqual(plan.placed.map((p) => p.placement.job), ['small']);
  });
});

describe('place: onlyNodes', () => {
  it('places only on the named nodes (a system job instance, a leader job)', () => {
    const nodes = [node('a'), node('b'), node('c')];
    const plan = place({ asks: [{ job: job('sys'), indexes: [0], onlyNodes: ['c'] }, { job: job('sys'), indexes: [1], onlyNodes: ['b'] }] }, { nodes, placements: [] });
    assert.deepEqual(nodesOf(plan), ['c', 'b']);
  });

  it('explains over the named nodes and names unknown ones', () => {
    const nodes = [node('a'), node('b', { eligible: false })];
    const plan = place({ asks: [{ job: job('leader-task'), indexes: [0], onlyNodes: ['b', 'zz'] }] }, { nodes, placements: [] });
    assert.equal(plan.failed[0]!.nodesEvaluated, 1);
    assert.deepEqual(plan.failed[0]!.unknownNodes, ['zz']);
    assert.equal(plan.failed[0]!.summary, '1 node named but not in the cluster (zz), 1 node is not eligible');
  });
});

describe('place: bounded scan (maxScoredNodes)', () => {
  it('scores at most that many fitting nodes, moving its start along', () => {
    const nodes = Array.from({ length: 10 }, (_, i) => node(`n${i}`));
    const plan = place({ asks: [{ job: job('web'), indexes: indexes(10) }], maxScoredNodes: 2 }, { nodes, placements: [] });
    assert.ok(plan.placed.every((p) => p.nodesFit <= 2));
    assert.equal(new Set(nodesOf(plan)).size, 10, 'the rotating start still lands each instance on a fresh node');
  });

  it('still finds the one node with room', () => {
    const nodes = Array.from({ length: 10 }, (_, i) => node(`n${i}`, { memoryMB: i === 7 ? 8192 : 10 }));
    const plan = place({ asks: [{ job: job('web'), indexes: [0] }], maxScoredNodes: 1 }, { nodes, placements: [] });
    assert.deepEqual(nodesOf(plan), ['n7']);
  });

  it('is ignored for jobs with spread', () => {
    const nodes = Array.from({ length: 6 }, (_, i) => node(`n${i}`, { tags: { zone: i < 4 ? 'a' : 'b' } }));
    const j = job('web', { spread: [{ attribute: 'tag.zone', weight: 1 }] });
    const plan = place({ asks: [{ job: j, indexes: [0] }], maxScoredNodes: 1 }, { nodes, placements: [] });
    assert.equal(plan.placed[0]!.nodesFit, 6);
  });
});

describe('place: bad input is a programmer error', () => {
  it('asserts on duplicate nodes, duplicate instances, bad indexes and a bad limit', () => {
    assert.throws(() => place({ asks: [] }, { nodes: [node('a'), node('a')], placements: [] }), /listed twice/);
    assert.throws(() => place({ asks: [{ job: job('w'), indexes: [0, 0] }] }, { nodes: [node('a')], placements: [] }), /asked twice/);
    assert.throws(() => place({ asks: [{ job: job('w'), indexes: [-1] }] }, { nodes: [node('a')], placements: [] }), /instance index/);
    assert.throws(() => place({ asks: [{ job: job('w', { cpuMillis: Number.NaN }), indexes: [0] }] }, { nodes: [node('a')], placements: [] }), /resources/);
    assert.throws(() => place({ asks: [], maxScoredNodes: 0 }, { nodes: [], placements: [] }), /maxScoredNodes/);
    assert.throws(() => place({ asks: [] }, { nodes: [node('a', { memoryMB: -1 })], placements: [] }), /memoryMB/);
  });
});
