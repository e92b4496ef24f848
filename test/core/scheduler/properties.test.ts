// Property tests of place() over random clusters and requests (fixed fast-check seed, see
// test/setup.ts):
//  - it equals a naive reference (reference.ts) placement for placement, port for port, and
//    failure for failure, summary included;
//  - no node gets more cpu or memory than it has free; no port is used twice on a node;
//  - every placed instance's node is eligible and satisfies the job's constraints;
//  - an ask that fails has truly no node left that could take one more instance;
//  - spread keeps per-value counts within one of even when capacity allows;
//  - one job's instances land on distinct nodes when there are enough nodes with room;
//  - the same input gives the same plan, whatever order nodes and placements come in;
//  - with a bounded scan (maxScoredNodes) the safety properties still hold.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { checkNode, compileJob, staticInfeasibilities } from '../../../src/core/scheduler/feasibility.ts';
import type { Constraint, JobSpec, NodeInfo, Placement, PortRequest } from '../../../src/core/scheduler/job.ts';
import { place, type ClusterView, type PlacementPlan, type PlacementRequest } from '../../../src/core/scheduler/placement.ts';
import { job, node } from './fixtures.ts';
import { referencePlace, usageOf } from './reference.ts';

const ZONES = ['a', 'b', 'c'];
const VERSIONS = ['0.9.0', '1.0.0', '1.2.0-rc.1', '1.2.0', '2.0'];

const nodeArb = (id: string): fc.Arbitrary<NodeInfo> =>
  fc.record({
    zone: fc.constantFrom(...ZONES, undefined),
    klass: fc.constantFrom('x', 'y'),
    version: fc.constantFrom(...VERSIONS),
    cpuMillis: fc.oneof({ arbitrary: fc.constant(0), weight: 1 }, { arbitrary: fc.integer({ min: 1, max: 16 }).map((n) => n * 500), weight: 9 }),
    memoryMB: fc.oneof({ arbitrary: fc.constant(0), weight: 1 }, { arbitrary: fc.integer({ min: 1, max: 16 }).map((n) => n * 1024), weight: 9 }),
    eligible: fc.constantFrom(true, true, true, true, true, false),
  }).map(({ zone, klass, version, cpuMillis, memoryMB, eligible }) =>
    node(id, { tags: zone === undefined ? { class: klass } : { zone, class: klass }, version, cpuMillis, memoryMB, eligible, cpuCores: cpuMillis / 1000 }),
  );

const CONSTRAINTS: Constraint[] = [
  { attribute: 'tag.zone', operator: '==', value: 'a' },
  { attribute: 'tag.zone', operator: '!=', value: 'b' },
  { attribute: 'tag.zone', operator: 'in', value: 'a, c' },
  { attribute: 'tag.zone', operator: 'not-in', value: 'c' },
  { attribute: 'tag.zone', operator: 'exists' },
  { attribute: 'tag.zone', operator: 'not-exists' },
  { attribute: 'tag.class', operator: 'regex', value: '^x$' },
  { attribute: 'node.version', operator: 'version>=', value: '1.0' },
  { attribute: 'resources.memoryMB', operator: '>=', value: '4096' },
  { attribute: 'resources.cpuCores', operator: '<', value: '3' },
  { attribute: 'node.id', operator: '!=', value: 'n1' },
];

const PORTS: PortRequest[][] = [[], [], [{ label: 'http' }], [{ label: 'http', static: 8080 }], [{ label: 'http' }, { label: 'admin', static: 20_001 }]];

const jobArb = (name: string): fc.Arbitrary<JobSpec> =>
  fc
    .record({
      cpuMillis: fc.integer({ min: 0, max: 8 }).map((n) => n * 250),
      memoryMB: fc.integer({ min: 0, max: 8 }).map((n) => n * 512),
      ports: fc.constantFrom(...PORTS),
      constraints: fc.oneof({ arbitrary: fc.constant([]), weight: 2 }, { arbitrary: fc.subarray(CONSTRAINTS, { maxLength: 2 }), weight: 1 }),
      spread: fc.constantFrom([], [], [{ attribute: 'tag.zone', weight: 50 }], [{ attribute: 'tag.zone', weight: 70 }, { attribute: 'tag.class', weight: 30 }]),
    })
    .map((shape) => job(name, shape));

interface Scenario {
  readonly cluster: ClusterView;
  readonly request: PlacementRequest;
}

export const scenarioArb: fc.Arbitrary<Scenario> = fc
  .oneof({ arbitrary: fc.constant(0), weight: 1 }, { arbitrary: fc.integer({ min: 1, max: 12 }), weight: 19 })
  .chain((nodeCount) => {
    const ids = Array.from({ length: nodeCount }, (_, i) => `n${i}`);
    const nodes = fc.tuple(...ids.map(nodeArb)) as fc.Arbitrary<NodeInfo[]>;
    const existing = fc.array(
      fc.record({
        job: fc.constantFrom('web', 'db', 'other'),
        index: fc.nat(50),
        node: fc.constantFrom(...ids, 'gone'),
        cpuMillis: fc.integer({ min: 0, max: 4 }).map((n) => n * 250),
        memoryMB: fc.integer({ min: 0, max: 4 }).map((n) => n * 512),
        port: fc.constantFrom(undefined, 8080, 20_000, 20_001),
      }),
      { maxLength: 12 },
    );
    const asks = fc.uniqueArray(fc.constantFrom('web', 'db', 'cache'), { minLength: 1, maxLength: 3 }).chain((names) =>
      fc.tuple(
        ...names.map((name) =>
          fc.record({
            job: jobArb(name),
            // Indexes above 50 do not collide with the existing ones above.
            count: fc.integer({ min: 0, max: 8 }),
            only: nodeCount === 0 ? fc.constant(undefined) : fc.oneof({ arbitrary: fc.constant(undefined), weight: 5 }, { arbitrary: fc.subarray([...ids, 'zz'], { minLength: 1 }), weight: 1 }),
          }),
        ),
      ),
    );
    return fc.record({ nodes, existing, asks });
  })
  .map(({ nodes, existing, asks }) => {
    // Existing placements never share a port on a node (they came from earlier plans).
    const taken = new Set<string>();
    const placements: Placement[] = existing.map((e) => {
      const ports: Record<string, number> = {};
      if (e.port !== undefined && !taken.has(`${e.node}:${e.port}`)) {
        taken.add(`${e.node}:${e.port}`);
        ports['p'] = e.port;
      }
      return { job: e.job, index: e.index, node: e.node, cpuMillis: e.cpuMillis, memoryMB: e.memoryMB, ports };
    });
    const request: PlacementRequest = {
      asks: asks.map((a) => ({ job: a.job, indexes: Array.from({ length: a.count }, (_, i) => 100 + i), ...(a.only === undefined ? {} : { onlyNodes: a.only }) })),
    };
    return { cluster: { nodes, placements }, request };
  });

function simplified(plan: PlacementPlan): { placed: Placement[]; failed: Array<{ job: string; indexes: readonly number[]; summary: string }> } {
  return { placed: plan.placed.map((p) => p.placement), failed: plan.failed.map((f) => ({ job: f.job, indexes: f.indexes, summary: f.summary })) };
}

function checkSafety({ cluster, request }: Scenario, plan: PlacementPlan): void {
  const byId = new Map(cluster.nodes.map((n) => [n.id, n]));
  const planned = plan.placed.map((p) => p.placement);
  for (const n of cluster.nodes) {
    const before = usageOf(n.id, cluster.placements);
    const mine = planned.filter((p) => p.node === n.id);
    if (mine.length === 0) continue;
    const cpu = mine.reduce((s, p) => s + p.cpuMillis, 0);
    const mem = mine.reduce((s, p) => s + p.memoryMB, 0);
    assert.ok(before.cpuMillis + cpu <= n.cpuMillis, `${n.id}: cpu ${before.cpuMillis} + ${cpu} > ${n.cpuMillis}`);
    assert.ok(before.memoryMB + mem <= n.memoryMB, `${n.id}: memory ${before.memoryMB} + ${mem} > ${n.memoryMB}`);
    const ports = mine.flatMap((p) => Object.values(p.ports));
    assert.equal(new Set(ports).size, ports.length, `${n.id}: a port handed out twice in the plan`);
    for (const port of ports) assert.ok(!before.ports.has(port), `${n.id}: port ${port} already in use`);
  }
  for (const { placement } of plan.placed) {
    const n = byId.get(placement.node);
    assert.ok(n !== undefined, `placed on unknown node ${placement.node}`);
    const ask = request.asks.find((a) => a.job.job === placement.job && a.indexes.includes(placement.index))!;
    assert.deepEqual(staticInfeasibilities(compileJob(ask.job), n), [], `${placement.job}[${placement.index}] on ${n.id} breaks a constraint`);
    if (ask.onlyNodes !== undefined) assert.ok(ask.onlyNodes.includes(n.id));
    assert.deepEqual(Object.keys(placement.ports).sort(), ask.job.resources.ports.map((p) => p.label).sort());
  }
  // A failed ask: after the plan, no node in its scope could take one more instance.
  const after = [...cluster.placements, ...planned];
  for (const f of plan.failed) {
    const ask = request.asks.find((a) => a.job.job === f.job)!;
    for (const n of cluster.nodes) {
      if (ask.onlyNodes !== undefined && !ask.onlyNodes.includes(n.id)) continue;
      assert.equal(checkNode(ask.job, n, usageOf(n.id, after)).ok, false, `${f.job} failed but ${n.id} could take it`);
    }
    assert.ok(f.reasons.every((r) => r.nodes <= f.nodesEvaluated));
  }
}

function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let x = seed >>> 0 || 1;
  for (let i = out.length - 1; i > 0; i--) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const j = x % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe('place: properties', () => {
  it('equals the naive reference, and is safe', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const plan = place(s.request, s.cluster);
        assert.deepEqual(simplified(plan), referencePlace(s.request, s.cluster));
        checkSafety(s, plan);
      }),
      { numRuns: 500 },
    );
  });

  it('is deterministic and ignores the order of nodes and placements', () => {
    fc.assert(
      fc.property(scenarioArb, fc.nat(), (s, seed) => {
        const plan = place(s.request, s.cluster);
        assert.deepEqual(place(s.request, s.cluster), plan);
        const permuted = { nodes: shuffled(s.cluster.nodes, seed), placements: shuffled(s.cluster.placements, seed + 1) };
        assert.deepEqual(place(s.request, permuted), plan);
      }),
      { numRuns: 150 },
    );
  });

  it('stays safe and deterministic with a bounded scan', () => {
    fc.assert(
      fc.property(scenarioArb, fc.integer({ min: 1, max: 4 }), (s, limit) => {
        const request = { ...s.request, maxScoredNodes: limit };
        const plan = place(request, s.cluster);
        checkSafety({ cluster: s.cluster, request }, plan);
        assert.deepEqual(place(request, s.cluster), plan);
        assert.ok(plan.placed.every((p) => p.nodesFit <= limit || request.asks.find((a) => a.job.job === p.placement.job)!.job.spread.length > 0));
      }),
      { numRuns: 150 },
    );
  });

  it('keeps spread counts within one of even when capacity allows', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 4 }).chain((zones) =>
          fc.record({
            zones: fc.constant(zones),
            nodeZones: fc.array(fc.integer({ min: 0, max: zones - 1 }), { minLength: 1, maxLength: 12 }).map((z) => [...Array.from({ length: zones }, (_, i) => i), ...z]),
            count: fc.integer({ min: 1, max: 40 }),
            cpuMillis: fc.integer({ min: 0, max: 4 }).map((n) => n * 100),
            sizes: fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 16, maxLength: 16 }),
          }),
        ),
        ({ zones, nodeZones, count, cpuMillis, sizes }) => {
          // Every node can hold every instance: capacity allows any split.
          const nodes = nodeZones.map((z, i) => node(`n${String(i).padStart(2, '0')}`, { tags: { zone: `z${z}` }, cpuMillis: 40 * 400 + sizes[i % sizes.length]! * 100, memoryMB: 1_000_000 }));
          const j = job('web', { cpuMillis, memoryMB: 1, spread: [{ attribute: 'tag.zone', weight: 50 }] });
          const plan = place({ asks: [{ job: j, indexes: Array.from({ length: count }, (_, i) => i) }] }, { nodes, placements: [] });
          assert.equal(plan.placed.length, count);
          const perZone = new Map<string, number>(Array.from({ length: zones }, (_, i) => [`z${i}`, 0]));
          for (const { placement } of plan.placed) {
            const zone = nodes.find((n) => n.id === placement.node)!.tags['zone']!;
            perZone.set(zone, perZone.get(zone)! + 1);
          }
          const counts = [...perZone.values()];
          assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `zone counts ${counts.join(', ')}`);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('lands one job\'s instances on distinct nodes when there are enough nodes with room', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ freeCpu: fc.integer({ min: 1, max: 8 }), usedCpu: fc.integer({ min: 0, max: 8 }) }), { minLength: 1, maxLength: 15 }),
        fc.nat(15),
        (shapes, want) => {
          const count = Math.min(want, shapes.length);
          const nodes = shapes.map((s, i) => node(`n${i}`, { cpuMillis: (s.freeCpu + s.usedCpu) * 1000, memoryMB: 64_000 }));
          // Other jobs' load makes bin-packing prefer some nodes strongly; it must not stack.
          const placements = shapes.map((s, i) => ({ job: `other${i}`, index: 0, node: `n${i}`, cpuMillis: s.usedCpu * 1000, memoryMB: 0, ports: {} }));
          const plan = place({ asks: [{ job: job('web', { cpuMillis: 1000, memoryMB: 1000 }), indexes: Array.from({ length: count }, (_, i) => i) }] }, { nodes, placements });
          assert.equal(plan.placed.length, count);
          assert.equal(new Set(plan.placed.map((p) => p.placement.node)).size, count);
        },
      ),
      { numRuns: 200 },
    );
  });
});
