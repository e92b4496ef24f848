// sappers cluster up N / down: a local cluster of real agents for trying Sappers out.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SappersClient } from '../../src/client/client.ts';
import { runCli } from '../helpers/agent-process.ts';

const dir = await mkdtemp(join(tmpdir(), 'sappers-local-cluster-'));
after(async () => {
  // Whatever happened, leave no agent behind.
  await runCli(['cluster', 'down', '--dir', dir, '--purge']);
  await rm(dir, { recursive: true, force: true });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('sappers cluster up / down', { concurrency: false }, () => {
  it('starts three agents that form one cluster, refuses a second start, and stops them all', async () => {
    const up = await runCli(['cluster', 'up', '3', '--dir', dir, '--json']);
    assert.equal(up.code, 0, up.stderr);
    const state = JSON.parse(up.stdout) as { token: string; nodes: { id: string; pid: number; addr: string }[] };
    assert.deepEqual(state.nodes.map((n) => n.id), ['n1', 'n2', 'n3']);
    const status = await new SappersClient({ addr: state.nodes[2]!.addr, token: state.token }).status();
    assert.equal(status.voters.length, 3);
    assert.equal(status.state, 'active');
    await new SappersClient({ addr: state.nodes[1]!.addr, token: state.token }).kvPut('tried', 'it');

    const again = await runCli(['cluster', 'up', '3', '--dir', dir]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already running/);

    const down = await runCli(['cluster', 'down', '--dir', dir]);
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stdout, /stopped 3 nodes/);
    for (const n of state.nodes) assert.equal(alive(n.pid), false, `${n.id} stopped`);
    await assert.rejects(readFile(join(dir, 'cluster.json')), { code: 'ENOENT' });
  });

  it('refuses a bad node count as a usage error', async () => {
    const r = await runCli(['cluster', 'up', '0', '--dir', dir]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /1 to 9/);
  });
});
