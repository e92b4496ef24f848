// sappers exec with real agents (issue 6 item 7): a secure three-node cluster with exec enabled
// runs a command everywhere, output prefixed by node; a filter picks one node; no token, no run;
// a command past --timeout has its process group killed; a fourth node with exec disabled is
// reported as refused and the exit status says so. Deadlines only guard against hangs.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExecPrinter } from '../../src/cli/commands/exec.ts';
import { runCli, type AgentProcess } from '../helpers/agent-process.ts';
import { agentGroup } from '../helpers/agent-group.ts';
import { until } from '../helpers/until.ts';

const { root, agent, client } = await agentGroup('exec');

/** Every agent answers with the token, holds its certificate (RPC needs it), and sees all of `ids` alive. */
async function ready(agents: AgentProcess[], ids: string[]): Promise<void> {
  await until(`${ids.join(', ')} certified and alive everywhere`, async () => {
    for (const a of agents) {
      const status = await client(a).status();
      if (!status.security.certified) return undefined;
      const members = await client(a).members();
      if (!ids.every((id) => members.find((m) => m.id === id)?.status === 'alive')) return undefined;
    }
    return true;
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('exec printer', () => {
  it('prints whole lines per node and stream, however the output was split, and flushes a last partial line at done', () => {
    let out = '';
    let err = '';
    const p = new ExecPrinter((t) => (out += t), (t) => (err += t));
    p.print({ kind: 'targets', nodes: ['a', 'b'], timeoutMs: 90_000 });
    p.print({ kind: 'output', node: 'a', stream: 'stdout', data: 'hel' });
    p.print({ kind: 'output', node: 'b', stream: 'stdout', data: 'one\ntw' });
    p.print({ kind: 'output', node: 'a', stream: 'stderr', data: 'warn\n' });
    p.print({ kind: 'output', node: 'a', stream: 'stdout', data: 'lo\n\nend' });
    p.print({ kind: 'done', node: 'a', done: { exitCode: 0, signal: null } });
    p.print({ kind: 'done', node: 'b', done: { exitCode: null, signal: 'SIGTERM', timedOut: true, error: 'timed out', truncatedBytes: 5 } });
    p.print({ kind: 'summary', summary: { targets: 3, acknowledged: 2, completed: 1, succeeded: 1, refused: [], failed: ['b'], noAnswer: ['c'] } });
    assert.equal(
      out,
      [
        'b: one',
        'a: hello',
        'a: ',
        'a: end',
        '==> a: finished with exit code 0',
        'b: tw',
        '==> b: TIMED OUT after 90s: its process group was killed (SIGTERM)',
        '==> b: output truncated: 5 more bytes were dropped (each node sends at most 1 MiB)',
        '1 / 2 node(s) completed / acknowledged',
        '1 of 3 node(s) did not answer: c',
        '1 node(s) failed: b',
        '',
      ].join('\n'),
    );
    assert.equal(err, 'a: warn\n');
  });
});

describe('sappers exec (real agents)', { concurrency: false }, () => {
  let a: AgentProcess;
  let b: AgentProcess;
  let c: AgentProcess;

  it('runs the command on every node and prints each node\'s output prefixed, then 3 / 3 node(s) completed / acknowledged', async () => {
    a = await agent('a', ['--exec-enabled']);
    const joinAddr = `127.0.0.1:${(await client(a).status()).ports.gossip}`;
    b = await agent('b', ['--exec-enabled', '--join', joinAddr, '--tag', 'zone=eu']);
    c = await agent('c', ['--exec-enabled', '--join', joinAddr, '--tag', 'zone=us']);
    await ready([a, b, c], ['a', 'b', 'c']);

    const r = await runCli(['--addr', a.addr, 'exec', '--', 'sh', '-c', 'echo "hello from $SAPPERS_NODE_ID"; pwd; echo "to stderr" >&2']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    for (const id of ['a', 'b', 'c']) {
      assert.match(r.stdout, new RegExp(`^${id}: hello from ${id}$`, 'm'));
      // It ran in a fresh directory under that node's own data directory.
      assert.match(r.stdout, new RegExp(`^${id}: ${join(root, id, 'exec')}/[0-9a-f-]{36}$`, 'm'));
      assert.match(r.stdout, new RegExp(`^==> ${id}: finished with exit code 0$`, 'm'));
      assert.match(r.stderr, new RegExp(`^${id}: to stderr$`, 'm'));
    }
    assert.match(r.stdout, /\n3 \/ 3 node\(s\) completed \/ acknowledged\n$/);

    // The run is in the cluster's event log.
    await until('the exec.run event', async () => ((await client(a).events(1)).events.some((e) => e.type === 'exec.run' && /on 3 node\(s\)/.test(String(e.detail['message']))) ? true : undefined), 15_000);
  });

  it('a node filter picks the targets, from any node\'s agent; an unknown attribute is a clear error', async () => {
    const one = await runCli(['--addr', b.addr, 'exec', '--node-filter', 'id=c', '--', 'sh', '-c', 'echo "only $SAPPERS_NODE_ID"']);
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stdout, /^c: only c\n==> c: finished with exit code 0\n1 \/ 1 node\(s\) completed \/ acknowledged\n$/);

    const byTag = await runCli(['--addr', a.addr, 'exec', '--json', '--node-filter', 'tag.zone=eu', '--', 'true']);
    assert.equal(byTag.code, 0, byTag.stderr);
    const lines = byTag.stdout.trim().split('\n').map((l) => JSON.parse(l) as { kind: string; nodes?: string[] });
    assert.deepEqual(lines[0], { kind: 'targets', nodes: ['b'], timeoutMs: 60_000 });
    assert.equal(lines.at(-1)!.kind, 'summary');

    const bad = await runCli(['--addr', a.addr, 'exec', '--node-filter', 'zone=eu', '--', 'true']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /unknown attribute "zone" in the node filter; use id, role, version, tag\.KEY \(for a tag, write tag\.zone\) \(HTTP 400, bad-request\)/);
  });

  it('without the management token nothing runs', async () => {
    const marker = join(root, 'must-not-exist');
    const r = await runCli(['--addr', a.addr, 'exec', '--', 'touch', marker], { SAPPERS_TOKEN: '' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /HTTP 401, unauthorized/);
    await assert.rejects(readFile(marker), { code: 'ENOENT' });
  });

  it('a command that runs past --timeout is killed with its whole process group, and the run fails', async () => {
    const pidFile = join(root, 'background.pid');
    const r = await runCli(['--addr', a.addr, 'exec', '--timeout', '1s', '--node-filter', 'id=b', '--', 'sh', '-c', `sleep 60 & echo $! > ${pidFile}; echo started; wait`]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /^b: started$/m);
    assert.match(r.stdout, /^==> b: TIMED OUT after 1s: its process group was killed \(SIGTERM\)$/m);
    assert.match(r.stdout, /^0 \/ 1 node\(s\) completed \/ acknowledged$/m);
    assert.match(r.stdout, /^1 node\(s\) failed: b$/m);
    const pid = Number(await readFile(pidFile, 'utf8'));
    await until('the background sleep to be killed', async () => (alive(pid) ? undefined : true), 10_000, 100);
  });

  it('a node with exec disabled answers so: shown as refused, counted as acknowledged, and the exit status is 1', async () => {
    const joinAddr = `127.0.0.1:${(await client(a).status()).ports.gossip}`;
    const d = await agent('d', ['--join', joinAddr]);
    await ready([a, d], ['a', 'b', 'c', 'd']);
    const r = await runCli(['--addr', a.addr, 'exec', '--', 'echo', 'hi']);
    assert.equal(r.code, 1, r.stderr);
    for (const id of ['a', 'b', 'c']) assert.match(r.stdout, new RegExp(`^${id}: hi$`, 'm'));
    assert.doesNotMatch(r.stdout, /^d: hi$/m);
    assert.match(r.stdout, /^==> d: REFUSED: exec is disabled on this node \(set exec\.enabled: true in its agent config, or start it with --exec-enabled\)$/m);
    assert.match(r.stdout, /^3 \/ 4 node\(s\) completed \/ acknowledged$/m);
    assert.match(r.stdout, /^1 node\(s\) refused: d$/m);
  });
});
