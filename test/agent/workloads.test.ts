// The node-side runner over the fake driver: the real state machine says what to run (the test
// plays the leader), the runner starts, restarts, stops, reports, and takes its tasks up again
// after an "agent restart" (a new runner on the same FakeHost and data directory).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { ClusterFsm } from '../../src/core/fsm/fsm.ts';
import type { AllocPlacement } from '../../src/core/fsm/allocs.ts';
import type { ApplyResult, Command, NodeId } from '../../src/core/fsm/types.ts';
import { taskSha256 } from '../../src/core/scheduler/reconciler.ts';
import type { JobSpec } from '../../src/core/scheduler/job.ts';
import { SeededRandom } from '../../src/core/random.ts';
import { SystemClock } from '../../src/runtime/clock.ts';
import { HealthMonitor } from '../../src/runtime/health/monitor.ts';
import { FakeDriver, FakeHost } from '../../src/drivers/fake/driver.ts';
import { WorkloadsRunner, type WorkloadsConsensus } from '../../src/agent/workloads.ts';
import { job as jobSpec } from '../core/scheduler/fixtures.ts';
import { until } from '../helpers/until.ts';

const waitFor = (what: string, probe: () => boolean | Promise<boolean>): Promise<true> => until(what, async () => ((await probe()) ? true : undefined), 10_000, 20);

const clock = new SystemClock();
const logger = pino({ level: 'silent' });
const roots: string[] = [];
after(async () => {
  for (const r of roots) await rm(r, { recursive: true, force: true });
});

/** The state machine behind a "consensus" that applies every proposal at once. */
class LocalConsensus implements WorkloadsConsensus {
  readonly machine = { fsm: new ClusterFsm() };
  #index = 0;
  async propose(command: Command): Promise<ApplyResult> {
    this.#index += 1;
    return this.machine.fsm.apply(this.#index, command);
  }
  async linearizableRead(): Promise<void> {}
}

function spec(over: Partial<JobSpec> = {}): JobSpec {
  return { ...jobSpec('web'), driver: 'fake', config: {}, restart: { attempts: 2, intervalMs: 60_000, delayMs: 10, backoff: 1, maxDelayMs: 10 }, ...over };
}

let ids = 0;
async function place(c: LocalConsensus, s: JobSpec, node = 'n1'): Promise<string> {
  const record = c.machine.fsm.job(s.job)!;
  const id = (++ids).toString(16).padStart(16, '0');
  const p: AllocPlacement = { id, job: s.job, jobVersion: record.version, taskSha256: taskSha256(s), index: 0, node: node as NodeId, cpuMillis: 100, memoryMB: 128, ports: {}, reason: 'test', reschedules: 0 };
  const r = await c.propose({ type: 'alloc.plan', atMs: 1, basis: c.machine.fsm.planSeq, place: [p], stop: [], deployments: [], notes: [] });
  assert.ok(r.ok, JSON.stringify(r));
  return id;
}

async function stopAlloc(c: LocalConsensus, id: string): Promise<void> {
  const r = await c.propose({ type: 'alloc.plan', atMs: 1, basis: c.machine.fsm.planSeq, place: [], stop: [{ id, reason: 'test stop' }], deployments: [], notes: [] });
  assert.ok(r.ok);
}

async function runner(dataDir: string, host: FakeHost, c: LocalConsensus): Promise<WorkloadsRunner> {
  const r = new WorkloadsRunner({
    nodeId: 'n1',
    dataDir,
    drivers: [new FakeDriver({ host, clock })],
    health: new HealthMonitor({ clock, random: new SeededRandom(1) }),
    apiUrl: () => 'http://127.0.0.1:1',
    checkHost: '127.0.0.1',
    clock,
    logger,
  });
  await r.start();
  r.attach(c);
  return r;
}

async function setup(): Promise<{ dataDir: string; host: FakeHost; c: LocalConsensus }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'sappers-workloads-'));
  roots.push(dataDir);
  const c = new LocalConsensus();
  return { dataDir, host: new FakeHost(), c };
}

describe('WorkloadsRunner', () => {
  it('starts what is placed on its node with the SAPPERS_ environment, and reports it running and healthy', async () => {
    const { dataDir, host, c } = await setup();
    await c.propose({ type: 'job.register', atMs: 1, spec: spec({ env: { MODE: 'test' } }) });
    const id = await place(c, spec({ env: { MODE: 'test' } }));
    await place(c, spec({ env: { MODE: 'test' } }), 'n2');
    const r = await runner(dataDir, host, c);
    await waitFor('running', () => c.machine.fsm.alloc(id)?.client === 'running');
    assert.equal(c.machine.fsm.alloc(id)?.health, 'healthy', 'without checks a running instance is healthy');
    assert.deepEqual(host.running(), [id], 'only its own node’s allocation runs here');
    const env = host.starts[0]!.env;
    assert.equal(env['SAPPERS_ALLOC_ID'], id);
    assert.equal(env['MODE'], 'test');
    assert.equal(env['SAPPERS_TOKEN'], r.allocToken(id));
    assert.ok(r.isAllocToken(`Bearer ${r.allocToken(id)}`, id));
    assert.ok(!r.isAllocToken(`Bearer ${r.allocToken(id)}`, 'ffffffffffffffff'), 'the token is good for its own allocation only');
    await r.stopAll();
  });

  it('restarts a crashing task per its policy, then reports it failed', async () => {
    const { dataDir, host, c } = await setup();
    await c.propose({ type: 'job.register', atMs: 1, spec: spec() });
    const id = await place(c, spec());
    const r = await runner(dataDir, host, c);
    for (let i = 0; i < 3; i++) {
      await waitFor(`start ${i + 1}`, () => host.starts.length === i + 1 && host.running().includes(id));
      host.exit(id, { exitCode: 3 });
    }
    await waitFor('failed', () => c.machine.fsm.alloc(id)?.client === 'failed');
    const a = c.machine.fsm.alloc(id)!;
    assert.equal(a.restarts, 2);
    assert.match(a.clientDetail, /3/);
    await r.stopAll();
  });

  it('stops what the leader stops and reports it complete', async () => {
    const { dataDir, host, c } = await setup();
    await c.propose({ type: 'job.register', atMs: 1, spec: spec() });
    const id = await place(c, spec());
    const r = await runner(dataDir, host, c);
    await waitFor('running', () => c.machine.fsm.alloc(id)?.client === 'running');
    await stopAlloc(c, id);
    await waitFor('complete', () => c.machine.fsm.alloc(id)?.client === 'complete');
    assert.deepEqual(host.running(), []);
    assert.equal(host.stops.length, 1);
    await r.stopAll();
  });

  it('takes its tasks up again after an agent restart: no duplicate start, and a stop still works', async () => {
    const { dataDir, host, c } = await setup();
    await c.propose({ type: 'job.register', atMs: 1, spec: spec() });
    const id = await place(c, spec());
    const first = await runner(dataDir, host, c);
    await waitFor('running', () => c.machine.fsm.alloc(id)?.client === 'running');
    await first.detachAll();
    assert.deepEqual(host.running(), [id], 'a detached workload keeps running');
    const second = await runner(dataDir, host, c);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(host.starts.length, 1, 'the restarted agent did not start a second copy');
    await stopAlloc(c, id);
    await waitFor('complete', () => c.machine.fsm.alloc(id)?.client === 'complete');
    assert.deepEqual(host.running(), []);
    await second.stopAll();
  });

  it('restarts a task that died while the agent was away, and stops orphans the state no longer names', async () => {
    const { dataDir, host, c } = await setup();
    await c.propose({ type: 'job.register', atMs: 1, spec: spec() });
    const id = await place(c, spec());
    const first = await runner(dataDir, host, c);
    await waitFor('running', () => c.machine.fsm.alloc(id)?.client === 'running');
    await first.detachAll();
    host.exit(id, { exitCode: 1 });
    const second = await runner(dataDir, host, c);
    await waitFor('restarted', () => host.starts.length === 2 && host.running().includes(id));
    await waitFor('restart reported', () => c.machine.fsm.alloc(id)?.restarts === 1);
    await second.detachAll();

    // A state that no longer names the allocation (a fresh state machine stands in for a purge).
    const fresh = new LocalConsensus();
    const third = await runner(dataDir, host, fresh);
    await waitFor('orphan stopped', () => host.running().length === 0);
    await waitFor('its directory removed', async () => (await readdir(join(dataDir, 'allocs'))).length === 0);
    await third.stopAll();
  });
});
