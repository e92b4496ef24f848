// sappers job / alloc / services with a real agent (issue 6, items 1 and 6): a secure one-node
// cluster runs a small job of real processes. Plan, run (watched and detached), status, list,
// history after a change, allocations and their logs, the service catalog, a blocked job,
// stop and purge, and job file errors at FILE:LINE:COL. Deadlines only guard against hangs.
//
// The tasks watch the agent's PID and exit within a second of it, so the SIGKILL at the end of
// the file (workloads outlive a killed agent by design) leaves no process behind.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AllocSummary, JobHistoryView, JobPlanView, JobStatusView } from '../../src/api/jobs.ts';
import type { ServiceView } from '../../src/api/services.ts';
import { CLI, runCli, testSecrets, type AgentProcess } from '../helpers/agent-process.ts';
import { agentGroup } from '../helpers/agent-group.ts';
import { until } from '../helpers/until.ts';

const { root, agent, client } = await agentGroup('jobs');

function jobFile(a: AgentProcess, over: { name?: string; count?: number; color?: string; constraint?: string } = {}): string {
  const lines = [
    `job: ${over.name ?? 'hello'}`,
    `count: ${over.count ?? 2}`,
    'driver: process',
    'config:',
    '  command: /bin/sh',
    // Says hello on both streams, then lives as long as the agent does.
    '  args: ["-c", "echo \\"hello $COLOR $SAPPERS_ALLOC_ID\\"; echo \\"oops $COLOR\\" >&2; while kill -0 $AGENT_PID 2>/dev/null; do sleep 0.3; done"]',
    'env:',
    `  AGENT_PID: "${a.child.pid}"`,
    `  COLOR: ${over.color ?? 'red'}`,
    'resources:',
    '  cpu: 10m',
    '  memoryMB: 16',
    '  ports: [http]',
    'update:',
    '  minHealthy: 1s',
    'stopTimeout: 2s',
    'service:',
    `  name: ${over.name ?? 'hello'}`,
    '  port: http',
    '  tags: [v1]',
  ];
  if (over.constraint !== undefined) lines.push('constraints:', `  - "${over.constraint}"`);
  return `${lines.join('\n')}\n`;
}

async function file(name: string, text: string): Promise<string> {
  const path = join(root, name);
  await writeFile(path, text);
  return path;
}

describe('sappers job, alloc and services (a real agent)', { concurrency: false }, () => {
  let a: AgentProcess;
  let cli: (...args: string[]) => ReturnType<typeof runCli>;
  let helloFile: string;

  it('reports job file errors at FILE:LINE:COL with exit 2, before sending anything', async () => {
    a = await agent('a');
    cli = (...args: string[]) => runCli(['--addr', a.addr, ...args]);
    const bad = await file('bad.yaml', 'job: hello\ndriver: process\ncont: 3\nresources:\n  cpu: 2\n');
    for (const r of await Promise.all(['run', 'plan'].map((command) => cli('job', command, bad)))) {
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`${bad}:3:1: cont: unknown field "cont" \\(did you mean "count"\\?\\)`));
      assert.match(r.stderr, new RegExp(`${bad}:5:8: resources\\.cpu: `));
    }
    assert.deepEqual(await client(a).jobs(), [], 'nothing was registered');
  });

  it('plans a new job: every instance placed on the node, nothing registered', async () => {
    helloFile = await file('hello.yaml', jobFile(a));
    await until('a leader that can plan', async () => ((await client(a).status()).leader === 'a' ? true : undefined));
    const r = await cli('job', 'plan', helloFile);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\+ Job "hello": new, version 1$/m);
    assert.match(r.stdout, /^ {2}\+ hello\[0\] on a: new instance; ports http=\d+$/m);
    assert.match(r.stdout, /^ {2}\+ hello\[1\] on a: new instance; ports http=\d+$/m);
    const json = JSON.parse((await cli('job', 'plan', helloFile, '--json')).stdout) as JobPlanView;
    assert.equal(json.kind, 'create');
    assert.equal(json.place.length, 2);
    assert.deepEqual(await client(a).jobs(), []);
  });

  it('runs it and watches until both instances run and are healthy', async () => {
    const r = await cli('job', 'run', helloFile, '--timeout', '60s');
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /^Job "hello" registered: version 1$/m);
    assert.match(r.stdout, /placed 2\/2, running 2, healthy 2/);
    assert.match(r.stdout, /^Version 1 is running: 2 of 2 instance\(s\) healthy$/m);

    const again = await cli('job', 'run', helloFile, '--detach');
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^Job "hello" unchanged: version 1 already runs this spec$/m);
  });

  it('shows the job in status and list, and its allocations', async () => {
    // Independent reads run side by side (each CLI run starts a Node process).
    const [table, json, list, listNoName, allocsJson, listed, missing] = await Promise.all([
      cli('job', 'status', 'hello'),
      cli('job', 'status', 'hello', '--json'),
      cli('job', 'list'),
      cli('job', 'status'),
      cli('alloc', 'list', '--job', 'hello', '--json'),
      cli('alloc', 'list'),
      cli('alloc', 'status', 'ffffffff'),
    ]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^Version\s+1$/m);
    assert.match(table.stdout, /^Instances\s+desired 2, placed 2, pending 0, running 2, healthy 2, unhealthy 0$/m);
    assert.match(table.stdout, /^[0-9a-f]{8}\s+0\s+a\s+1\s+run\s+running\s+healthy/m);
    const status = JSON.parse(json.stdout) as JobStatusView;
    assert.equal(status.spec.env['COLOR'], 'red');
    assert.equal(status.instances.healthy, 2);
    assert.equal(status.allocations.length, 2);

    for (const r of [list, listNoName]) {
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^hello\s+service\s+running\s+1\s+2\s+2\s+2\s+2\s+/m);
    }

    const allocs = JSON.parse(allocsJson.stdout) as AllocSummary[];
    assert.equal(allocs.length, 2);
    assert.ok(allocs.every((x) => x.node === 'a' && x.desired === 'run' && x.jobVersion === 1));
    assert.equal((await client(a).allocs({ job: 'hello', node: 'nowhere' })).length, 0);
    assert.match(listed.stdout, /^ID\s+JOB\s+INDEX\s+NODE/m);

    const id = allocs[0]!.id;
    const one = await cli('alloc', 'status', id.slice(0, 6));
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stdout, new RegExp(`^ID\\s+${id}$`, 'm'));
    assert.match(one.stdout, /^Node\s+a \(127\.0\.0\.1\)$/m);
    assert.match(one.stdout, /^Ports\s+http=\d+$/m);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no allocation "ffffffff" \(HTTP 404, not-found\)/);
  });

  it("prints an allocation's stdout, stderr, the last lines, and follows it", async () => {
    const [first] = await client(a).allocs({ job: 'hello' });
    const id = first!.id;
    const [out, err] = await Promise.all([cli('alloc', 'logs', id.slice(0, 8)), cli('alloc', 'logs', id, '--stderr', '--tail', '1')]);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout, `hello red ${id}\n`);
    assert.equal(err.stdout, 'oops red\n');

    // -f prints what is there, keeps going, and stops cleanly on Ctrl-C.
    const follower = spawn(process.execPath, [CLI, '--addr', a.addr, 'alloc', 'logs', '-f', id], { env: { ...process.env, SAPPERS_TOKEN: testSecrets().token }, stdio: ['ignore', 'pipe', 'pipe'] });
    after(() => void follower.kill('SIGKILL'));
    let followed = '';
    follower.stdout.on('data', (d: Buffer) => (followed += d.toString()));
    await until('the followed log', async () => (followed.includes(`hello red ${id}`) ? true : undefined), 20_000);
    follower.kill('SIGINT');
    const [code] = (await once(follower, 'exit')) as [number | null];
    assert.equal(code, 0);
  });

  it('lists the service and its passing instances', async () => {
    const [list, passing, unknown] = await Promise.all([cli('services'), cli('services', 'hello', '--passing', '--json'), cli('services', 'nope')]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^hello\s+2\s+2\s+0\s+0\s+hello\s+v1$/m);
    const view = JSON.parse(passing.stdout) as ServiceView;
    assert.equal(view.instances.length, 2);
    const allocs = await client(a).allocs({ job: 'hello' });
    for (const i of view.instances) {
      assert.ok(allocs.some((x) => x.id === i.alloc));
      assert.equal(i.address, '127.0.0.1');
      assert.equal(i.port, (await client(a).alloc(i.alloc)).ports['http']);
    }
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no service "nope"/);
  });

  it('plans and runs a change as a rolling update; history shows both versions and what changed', async () => {
    const blue = await file('hello-blue.yaml', jobFile(a, { color: 'blue' }));
    const plan = await cli('job', 'plan', blue);
    assert.equal(plan.code, 0, plan.stderr);
    assert.match(plan.stdout, /^~ Job "hello": rolling update, version 1 -> 2/m);
    assert.match(plan.stdout, /^ {2}~ env \(changed; see --json\)$/m);
    assert.match(plan.stdout, /^Rolling update: 2 instance\(s\) run an older version; 1 at a time/m);
    assert.match(plan.stdout, /^ {2}\+ hello\[\d\] on a: rolling update to version 2 \(replaces [0-9a-f]{8}\)/m);

    const run = await cli('job', 'run', blue, '--detach', '--json');
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), { job: 'hello', version: 2, changed: true });
    const done = await until(
      'the rolling update to succeed',
      async () => {
        const s = await client(a).jobStatus('hello');
        return s.deployment?.version === 2 && s.deployment.status === 'successful' ? s : undefined;
      },
      60_000,
    );
    assert.equal(done.instances.current, 2);
    assert.ok(done.allocations.filter((x) => x.jobVersion === 1).every((x) => x.desired === 'stop'));

    const [history, historyJson] = await Promise.all([cli('job', 'history', 'hello'), cli('job', 'history', 'hello', '--json')]);
    assert.equal(history.code, 0, history.stderr);
    assert.match(history.stdout, /^2\s+yes\s+\S+ \(\d+s ago\)\s+[0-9a-f]{12}\s+env$/m);
    assert.match(history.stdout, /^1\s+-\s+\S+ \(\d+s ago\)\s+[0-9a-f]{12}\s+-$/m);
    const json = JSON.parse(historyJson.stdout) as JobHistoryView;
    assert.deepEqual(json.versions.map((v) => [v.version, v.changed]), [
      [2, ['env']],
      [1, []],
    ]);
    assert.notEqual(json.versions[0]!.taskSha256, json.versions[1]!.taskSha256);
  });

  it('restarts an allocation in place', async () => {
    const [target] = (await client(a).allocs({ job: 'hello' })).filter((x) => x.desired === 'run' && x.client === 'running');
    const r = await cli('alloc', 'restart', target!.id.slice(0, 8));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `Restarting allocation ${target!.id} on node a\n`);
    await until('the restart to be reported', async () => ((await client(a).alloc(target!.id)).restarts >= 1 ? true : undefined), 20_000);
  });

  it('a job no node can take: plan and run say it is blocked and why (exit 1), and it stays registered', async () => {
    const db = await file('db.yaml', jobFile(a, { name: 'db', count: 1, constraint: 'tag.role == db' }));
    const plan = await cli('job', 'plan', db);
    assert.equal(plan.code, 1);
    assert.match(plan.stdout, /^Blocked: 1 instance\(s\) cannot be placed: .*tag\.role/m);
    const run = await cli('job', 'run', db);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.match(run.stdout, /placed 0\/1, running 0, healthy 0/);
    assert.match(run.stdout, /^Rollout blocked: 1 instance\(s\) cannot be placed: .*tag\.role.*; the job stays registered/m);
    const status = await cli('job', 'status', 'db');
    assert.match(status.stdout, /^Blocked\s+1 instance\(s\) cannot be placed/m);
  });

  it('stops a job (its allocations told to stop), then purges it', async () => {
    const r = await cli('job', 'stop', 'hello');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'Job "hello" stopped (version 2): the scheduler stops its allocations\n');
    await until(
      'every allocation of hello told to stop and stopped',
      async () => {
        const allocs = await client(a).allocs({ job: 'hello' });
        return allocs.length > 0 && allocs.every((x) => x.desired === 'stop' && x.client !== 'running') ? true : undefined;
      },
      30_000,
    );
    assert.equal((await client(a).jobStatus('hello')).status, 'stopped');
    assert.equal((await cli('job', 'stop', 'hello')).stdout, 'Job "hello" was already stopped (version 2)\n');

    const purge = await cli('job', 'stop', 'hello', '--purge');
    assert.equal(purge.code, 0, purge.stderr);
    const [gone, nope] = await Promise.all([cli('job', 'status', 'hello'), cli('job', 'stop', 'nope'), client(a).jobStop('db', { purge: true })]);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /no job "hello" \(HTTP 404, not-found\)/);
    assert.equal(nope.code, 1);
  });
});
