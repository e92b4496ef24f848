// Feasibility of one node for one more instance: eligibility, constraints, cpu, memory, static
// and dynamic ports, with every reason reported; and the counting of reasons over nodes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { aggregateReasons, summarizeReasons } from '../../../src/core/scheduler/explain.ts';
import { checkNode, compileJob, describeInfeasibility, DYNAMIC_PORT_COUNT, reasonPhrase, type Infeasibility, type NodeUsage } from '../../../src/core/scheduler/feasibility.ts';
import { DYNAMIC_PORT_RANGE } from '../../../src/core/scheduler/job.ts';
import { job, node } from './fixtures.ts';

function reasons(result: ReturnType<typeof checkNode>): readonly Infeasibility[] {
  return result.ok ? [] : result.error;
}

const usage = (cpuMillis: number, memoryMB: number, ports: number[] = []): NodeUsage => ({ cpuMillis, memoryMB, ports: new Set(ports) });

describe('checkNode', () => {
  it('accepts a node with room and every constraint held', () => {
    const j = job('web', { cpuMillis: 1000, memoryMB: 1024, constraints: [{ attribute: 'tag.zone', operator: '==', value: 'a' }] });
    assert.deepEqual(checkNode(j, node('n1', { tags: { zone: 'a' } })), { ok: true, value: undefined });
  });

  it('refuses an ineligible node', () => {
    assert.deepEqual(reasons(checkNode(job('web'), node('n1', { eligible: false }))), [{ kind: 'ineligible' }]);
  });

  it('fits exactly to the last millicore and megabyte, not one more', () => {
    const j = job('web', { cpuMillis: 1000, memoryMB: 1024 });
    const n = node('n1', { cpuMillis: 3000, memoryMB: 3072 });
    assert.equal(checkNode(j, n, usage(2000, 2048)).ok, true);
    assert.deepEqual(reasons(checkNode(j, n, usage(2001, 2048))), [{ kind: 'cpu', requestedMillis: 1000, freeMillis: 999 }]);
    assert.deepEqual(reasons(checkNode(j, n, usage(2000, 2049))), [{ kind: 'memory', requestedMB: 1024, freeMB: 1023 }]);
  });

  it('reports free resources as zero on an overcommitted node', () => {
    const r = reasons(checkNode(job('web'), node('n1', { cpuMillis: 100, memoryMB: 100 }), usage(500, 500)));
    assert.deepEqual(r, [
      { kind: 'cpu', requestedMillis: 100, freeMillis: 0 },
      { kind: 'memory', requestedMB: 128, freeMB: 0 },
    ]);
  });

  it('reports every reason, not only the first', () => {
    const j = job('web', {
      cpuMillis: 5000,
      memoryMB: 10_000,
      ports: [{ label: 'http', static: 80 }],
      constraints: [
        { attribute: 'tag.zone', operator: '==', value: 'a' },
        { attribute: 'node.version', operator: 'version>=', value: '2.0' },
      ],
    });
    const r = reasons(checkNode(j, node('n1', { eligible: false, tags: { zone: 'b' } }), usage(0, 0, [80])));
    assert.deepEqual(
      r.map((x) => x.kind),
      ['ineligible', 'constraint', 'constraint', 'cpu', 'memory', 'port-in-use'],
    );
    assert.deepEqual(r[1], { kind: 'constraint', constraint: j.constraints[0], actual: 'b' });
  });

  it('needs static ports free', () => {
    const j = job('web', { ports: [{ label: 'http', static: 8080 }, { label: 'grpc', static: 9090 }] });
    assert.equal(checkNode(j, node('n1'), usage(0, 0, [8081])).ok, true);
    assert.deepEqual(reasons(checkNode(j, node('n1'), usage(0, 0, [9090]))), [{ kind: 'port-in-use', label: 'grpc', port: 9090 }]);
  });

  it('refuses a job that asks for one static port twice, on every node', () => {
    const j = job('web', { ports: [{ label: 'a', static: 80 }, { label: 'b', static: 80 }] });
    assert.deepEqual(reasons(checkNode(j, node('n1'))), [{ kind: 'port-conflict', port: 80 }]);
  });

  it('needs enough free ports in the dynamic range, counting the job\'s own static ports there', () => {
    const all = Array.from({ length: DYNAMIC_PORT_COUNT }, (_, i) => DYNAMIC_PORT_RANGE.min + i);
    const j = job('web', { ports: [{ label: 'a' }, { label: 'b' }] });
    assert.equal(checkNode(j, node('n1'), usage(0, 0, all.slice(2))).ok, true);
    assert.deepEqual(reasons(checkNode(j, node('n1'), usage(0, 0, all.slice(1)))), [{ kind: 'dynamic-ports', requested: 2, free: 1 }]);
    const withStatic = job('web', { ports: [{ label: 'a' }, { label: 's', static: DYNAMIC_PORT_RANGE.min }] });
    // Only 20000 free: the static port takes it and the dynamic one has nothing left.
    const onlyMinFree = all.slice(1);
    assert.deepEqual(reasons(checkNode(withStatic, node('n1'), usage(0, 0, onlyMinFree))), [{ kind: 'dynamic-ports', requested: 1, free: 0 }]);
    // 20000 and 20001 free: one each.
    assert.equal(checkNode(withStatic, node('n1'), usage(0, 0, all.slice(2))).ok, true);
    const outside = Array.from({ length: 100 }, (_, i) => 1000 + i);
    assert.equal(checkNode(j, node('n1'), usage(0, 0, [...all.slice(2), ...outside])).ok, true, 'ports outside the range do not count');
  });

  it('takes a compiled job as well as a spec', () => {
    const j = job('web', { constraints: [{ attribute: 'tag.zone', operator: 'exists' }] });
    assert.deepEqual(checkNode(compileJob(j), node('n1')), checkNode(j, node('n1')));
  });

  it('describes reasons with figures and phrases them by node count', () => {
    const r: Infeasibility = { kind: 'memory', requestedMB: 512, freeMB: 100 };
    assert.equal(describeInfeasibility(r), 'lacks memory: 512 MB asked, 100 MB free');
    assert.equal(reasonPhrase(r, 1), 'lacks memory');
    assert.equal(reasonPhrase(r, 3), 'lack memory');
    const c: Infeasibility = { kind: 'constraint', constraint: { attribute: 'tag.zone', operator: '==', value: 'a' }, actual: undefined };
    assert.equal(describeInfeasibility(c), 'fails constraint tag.zone == a (no value)');
    assert.equal(reasonPhrase(c, 1), 'fails constraint tag.zone == a');
    assert.equal(reasonPhrase({ kind: 'ineligible' }, 2), 'are not eligible');
    assert.equal(reasonPhrase({ kind: 'port-in-use', label: 'http', port: 80 }, 1), 'has port 80 in use');
  });
});

describe('reasons over nodes', () => {
  const memory = (freeMB: number): Infeasibility => ({ kind: 'memory', requestedMB: 512, freeMB });
  const zone: Infeasibility = { kind: 'constraint', constraint: { attribute: 'tag.zone', operator: '==', value: 'a' }, actual: 'b' };

  it('counts each reason once per node, most nodes first', () => {
    const counted = aggregateReasons([
      { node: 'n1', reasons: [memory(10)] },
      { node: 'n2', reasons: [memory(20), zone] },
      { node: 'n3', reasons: [memory(30)] },
      { node: 'n4', reasons: [{ kind: 'port-in-use', label: 'a', port: 80 }, { kind: 'port-in-use', label: 'b', port: 80 }] },
    ]);
    assert.deepEqual(
      counted.map((r) => [r.key, r.nodes]),
      [
        ['lack memory', 3],
        ['fail constraint tag.zone == a', 1],
        ['have port 80 in use', 1],
      ],
    );
    assert.deepEqual(counted[0]!.example, memory(10), 'the first node is the example');
    assert.equal(summarizeReasons(4, counted), '3 nodes lack memory, 1 node fails constraint tag.zone == a, 1 node has port 80 in use');
  });

  it('says when there was nothing to place on', () => {
    assert.equal(summarizeReasons(0, []), 'no nodes to place on');
    assert.equal(summarizeReasons(0, [], ['n9']), '1 node named but not in the cluster (n9)');
  });
});
