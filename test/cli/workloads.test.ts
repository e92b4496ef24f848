// Workloads with real agents and real processes (issue 6's list): a spread job lands one
// instance per zone; an app that stops pushing its TTL is restarted; DNS answers only passing
// instances; a rolling update to a broken version fails and keeps the old instances serving; a
// leader job follows the Raft leader; a SIGKILLed node's instance is replaced once the grace
// period has passed (not before), and the node, back, stops what it no longer should run;
// minNodes holds placement back until enough nodes are alive. The apps are small node scripts
// that push their health with their own SAPPERS_TOKEN. Deadlines only guard against hangs.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Resolver } from 'node:dns/promises';
import type { SappersClient } from '../../src/client/client.ts';
import type { JobSpec } from '../../src/core/scheduler/job.ts';
import { parseJobFile } from '../../src/wire/job-file.ts';
import { agentGroup } from '../helpers/agent-group.ts';
import type { AgentProcess } from '../helpers/agent-process.ts';
import { until } from '../helpers/until.ts';

const LOST_GRACE_MS = 3000;
const group = await agentGroup('workloads');

/**
 * An app that pushes `passing` for its TTL check every 300 ms, `pushes` times (forever when
 * absent), and keeps running afterwards; with `exitCode` it exits at once instead.
 */
function app(options: { pushes?: number; exitCode?: number } = {}): string {
  if (options.exitCode !== undefined) return `process.exit(${options.exitCode})`;
  return [
    `const limit = ${options.pushes ?? -1}; let sent = 0;`,
    'const push = () => fetch(`${process.env.SAPPERS_ADDR}/v1/health/${process.env.SAPPERS_ALLOC_ID}/alive`, {',
    "  method: 'PUT', headers: { authorization: `Bearer ${process.env.SAPPERS_TOKEN}`, 'content-type': 'application/json' },",
    "  body: JSON.stringify({ status: 'passing', output: 'ok' }) }).then((r) => { if (!r.ok) console.error('push refused', r.status); }, (e) => console.error(e.message));",
    'setInterval(() => { if (limit < 0 || sent < limit) { sent += 1; push(); } }, 300);',
  ].join('\n');
}

/** A job file: `lines` at the top level, the app run by node, `ports` under resources. */
function job(name: string, lines: readonly string[], script: string, ports: readonly string[] = []): JobSpec {
  const text = [
    `job: ${name}`,
    'driver: process',
    ...lines,
    'config:',
    `  command: ${JSON.stringify(process.execPath)}`,
    `  args: ["-e", ${JSON.stringify(script)}]`,
    'resources:',
    // Limits are enforced where the host has cgroups: node needs a fifth of a core to start
    // promptly and about 50 MB of memory.
    '  cpu: 200',
    '  memoryMB: 128',
    ...ports,
  ].join('\n');
  const parsed = parseJobFile(`${name}.yaml`, text);
  if (!parsed.ok) throw new Error(parsed.error.map((e) => `${e.source}: ${e.field}: ${e.message}`).join('\n'));
  return parsed.value;
}

const HTTP_PORT = ['  ports:', '    http: {}'];
const ttlService = (name: string): string[] => ['service:', `  name: ${name}`, '  port: http', '  checks:', '    - type: ttl', '      name: alive', '      ttl: 1s'];

async function running(api: SappersClient, jobName: string, count: number): Promise<Awaited<ReturnType<SappersClient['allocs']>>> {
  return until(`${count} running instance(s) of ${jobName}`, async () => {
    const allocs = (await api.allocs({ job: jobName })).filter((a) => a.desired === 'run' && a.client === 'running');
    return allocs.length === count ? allocs : undefined;
  });
}

describe('workloads on a three-node cluster', () => {
  let nodes: AgentProcess[] = [];
  let api: SappersClient;

  it('forms a cluster whose nodes sit in three zones', async () => {
    const flags = ['--lost-grace-ms', String(LOST_GRACE_MS)];
    const a = await group.agent('a', [...flags, '--tag', 'zone=z1']);
    const gossip = (await group.client(a).status()).ports.gossip;
    nodes = [a, await group.agent('b', [...flags, '--tag', 'zone=z2', '--join', `127.0.0.1:${gossip}`]), await group.agent('c', [...flags, '--tag', 'zone=z3', '--join', `127.0.0.1:${gossip}`])];
    api = group.client(a);
    await until('three voters', async () => ((await api.status()).voters.length === 3 ? true : undefined));
  });

  it('a count 3 job spread over zones lands one instance per node', async () => {
    await api.jobRun(job('spread', ['count: 3', 'spread:', '  - attribute: tag.zone'], app()));
    const allocs = await running(api, 'spread', 3);
    assert.deepEqual(allocs.map((a) => a.node).sort(), ['a', 'b', 'c']);
  });

  it('restarts an app that stops pushing its TTL, and DNS answers only passing instances', async () => {
    // Index 0 pushes for good; index 1 pushes three times, then goes silent.
    const script = `if (process.env.SAPPERS_ALLOC_INDEX === '0') { ${app()} } else { ${app({ pushes: 3 })} }`;
    await api.jobRun(job('pinger', ['count: 2', ...ttlService('pinger')], script, HTTP_PORT));
    const [first, second] = (await running(api, 'pinger', 2)).sort((x, y) => x.index - y.index);
    await until('the silent instance restarted after its TTL ran out', async () => ((await api.alloc(second!.id)).restarts >= 1 ? true : undefined));
    assert.equal((await api.alloc(first!.id)).restarts, 0, 'the instance that keeps pushing is left alone');

    const status = await api.status();
    const resolver = new Resolver();
    resolver.setServers([`127.0.0.1:${status.ports.dns}`]);
    const passingPort = await until('the passing instance in the catalog', async () => {
      const service = await api.service('pinger', { passing: true });
      return service.instances.length >= 1 ? service.instances.find((i) => i.alloc === first!.id)?.port ?? undefined : undefined;
    });
    // Between its restarts the silent instance is critical: DNS must never name it then.
    for (let i = 0; i < 5; i++) {
      const catalog = await api.service('pinger');
      const critical = catalog.instances.filter((x) => x.status !== 'passing').map((x) => x.port);
      const records = await resolver.resolveSrv('pinger.service.sappers');
      assert.ok(records.some((r) => r.port === passingPort), 'the passing instance is answered');
      for (const r of records) assert.ok(!critical.includes(r.port) || r.port === passingPort, `DNS answered a critical instance (port ${r.port})`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await assert.rejects(resolver.resolve4('nothing.service.sappers'), (e: NodeJS.ErrnoException) => e.code === 'ENOTFOUND');
    await api.jobStop('pinger');
  });

  it('a rolling update to a broken version fails and the old instances keep serving', async () => {
    const update = ['update:', '  maxParallel: 1', '  minHealthy: 1s', '  healthyDeadline: 6s', '  autoRevert: false', 'restart:', '  attempts: 1', '  delay: 0s'];
    await api.jobRun(job('roll', ['count: 2', ...ttlService('roll'), ...update], app(), HTTP_PORT));
    const old = await until('both instances healthy', async () => {
      const allocs = (await api.allocs({ job: 'roll' })).filter((a) => a.client === 'running' && a.health === 'healthy');
      return allocs.length === 2 ? allocs.map((a) => a.id).sort() : undefined;
    });
    const broken = await api.jobRun(job('roll', ['count: 2', ...ttlService('roll'), ...update], app({ exitCode: 1 }), HTTP_PORT));
    assert.equal(broken.version, 2);
    await until('the rollout failed', async () => ((await api.jobStatus('roll')).deployment?.status === 'failed' ? true : undefined));
    const allocs = await api.allocs({ job: 'roll' });
    const serving = allocs.filter((a) => a.desired === 'run' && a.client === 'running').map((a) => a.id).sort();
    assert.deepEqual(serving, old, 'exactly the old instances still run');
    assert.ok(allocs.some((a) => a.jobVersion === 2 && a.desired === 'stop'), 'the broken instance was stopped');
    await api.jobStop('roll');
  });

  it('a leader job follows the leader; a killed node is replaced after the grace period, and stops its leftovers when back', async () => {
    await api.jobRun({ ...job('healer', [], app()), type: 'leader' });
    const leader = (await api.status()).leader!;
    const [healer] = await running(api, 'healer', 1);
    assert.equal(healer!.node, leader);

    const victim = leader;
    const spreadOnVictim = (await api.allocs({ job: 'spread' })).find((a) => a.node === victim && a.desired === 'run')!;
    const killedAtMs = Date.now();
    await group.kill(victim);
    const survivor = nodes.find((n) => n.nodeId !== victim)!;
    api = group.client(survivor);
    const newLeader = await until('a new leader', async () => {
      const l = (await api.status()).leader;
      return l !== null && l !== victim ? l : undefined;
    });
    await until('the leader job on the new leader', async () =>
      (await api.allocs({ job: 'healer' })).some((a) => a.node === newLeader && a.desired === 'run' && a.client === 'running') ? true : undefined,
    );
    const old = await api.alloc(healer!.id);
    assert.equal(old.desired, 'stop', 'the old leader’s instance is to stop');

    const replacement = await until('the lost spread instance replaced', async () =>
      (await api.allocs({ job: 'spread' })).find((a) => a.index === spreadOnVictim.index && a.node !== victim && a.desired === 'run' && a.client === 'running'),
    );
    const view = await api.alloc(replacement.id);
    assert.ok(view.createdAtMs >= killedAtMs + LOST_GRACE_MS, `replaced ${view.createdAtMs - killedAtMs} ms after the kill, within the ${LOST_GRACE_MS} ms grace`);
    assert.equal((await api.alloc(spreadOnVictim.id)).client, 'lost');

    // The node comes back: it takes up its old tasks and stops the ones the cluster moved away.
    const back = await group.agent(victim, ['--lost-grace-ms', String(LOST_GRACE_MS), '--tag', `zone=${victim === 'a' ? 'z1' : victim === 'b' ? 'z2' : 'z3'}`, '--join', `127.0.0.1:${(await api.status()).ports.gossip}`]);
    await until('the returned node stopped its old healer', async () => {
      const old = await group.client(back).alloc(healer!.id);
      return old.desired === 'stop' && old.client === 'complete' ? true : undefined;
    });
    await running(api, 'healer', 1);
  });
});

describe('minNodes', () => {
  it('holds placement back until enough nodes are alive', async () => {
    const small = await agentGroup('min-nodes');
    const a = await small.agent('m1', ['--min-nodes', '2']);
    const api = small.client(a);
    await api.jobRun(job('waiting', ['count: 2'], app()));
    await until('the scheduler paused', async () => ((await api.events(1)).events.some((e) => e.type === 'sched.paused') ? true : undefined));
    assert.equal((await api.allocs({ job: 'waiting' })).length, 0, 'nothing placed with one node of two');
    assert.equal((await api.status()).state, 'waiting-for-nodes');
    await small.agent('m2', ['--min-nodes', '2', '--join', `127.0.0.1:${(await api.status()).ports.gossip}`]);
    await running(api, 'waiting', 2);
  });
});
