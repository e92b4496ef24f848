// What a node offers the scheduler: the operator's offer when set, else every core and memory
// less a reserve; and the agent flags that set it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { nodeInfoOf, reservedMemoryMB } from '../../src/agent/node-info.ts';
import { loadConfig } from '../../src/agent/config.ts';
import type { NodeMeta } from '../../src/wire/swim.ts';

const meta = (over: Partial<NodeMeta> = {}): NodeMeta => ({
  protocol: 1,
  version: '0.1.0',
  tags: { zone: 'a' },
  resources: { cpuCores: 2, memoryTotalBytes: 4096 * 1024 * 1024, memoryFreeBytes: 1024 * 1024 * 1024, diskFreeBytes: 10 * 1024 * 1024 * 1024, load1: 0.5 },
  rpcAddr: '10.0.0.1:7701',
  httpAddr: '10.0.0.1:7700',
  startedAtMs: 1,
  ...over,
});

describe('nodeInfoOf', () => {
  it('offers every core and memory less a tenth (at least 256 MB) by default', () => {
    const n = nodeInfoOf('a', meta(), true);
    assert.equal(n.cpuMillis, 2000);
    assert.equal(n.memoryMB, 4096 - 410);
    assert.equal(reservedMemoryMB(1024), 256);
    assert.equal(reservedMemoryMB(100), 100, 'never more than there is');
    assert.deepEqual([n.diskFreeMB, n.cpuCores, n.eligible, n.tags['zone']], [10240, 2, true, 'a']);
  });

  it('takes the operator’s offer when the node publishes one', () => {
    const n = nodeInfoOf('a', meta({ offer: { cpuMillis: 8000 } }), true);
    assert.equal(n.cpuMillis, 8000);
    assert.equal(n.memoryMB, 4096 - 410, 'memory falls back to the default');
    assert.equal(nodeInfoOf('a', meta({ offer: { memoryMB: 512 } }), true).memoryMB, 512);
  });
});

describe('offer flags', () => {
  it('--offer-cpu-millis and --offer-memory-mb set workloads.offerCpuMillis and offerMemoryMB', () => {
    const r = loadConfig({ flags: { offerCpuMillis: '8000', offerMemoryMb: '2048' }, env: {} });
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.value.workloads.offerCpuMillis, 8000);
    assert.equal(r.value.workloads.offerMemoryMB, 2048);
  });
});
