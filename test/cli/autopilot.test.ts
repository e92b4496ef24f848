// The autopilot with real agents: five nodes settle on exactly three voters; a SIGKILLed voter is
// replaced without any command; and after every node is killed at once, restarting them in a
// random order brings the cluster back with its data. Deadlines only guard against hangs.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SappersClient } from '../../src/client/client.ts';
import type { Status } from '../../src/api/schemas.ts';
import { startAgent, type AgentProcess } from '../helpers/agent-process.ts';
import { freeGossipPort } from '../helpers/ports.ts';
import { until } from '../helpers/until.ts';

const root = await mkdtemp(join(tmpdir(), 'sappers-autopilot-'));
const running = new Map<string, AgentProcess>();
after(async () => {
  await Promise.all([...running.values()].map((a) => a.stop('SIGKILL')));
  await rm(root, { recursive: true, force: true });
});

const names = ['n1', 'n2', 'n3', 'n4', 'n5'];
/** Gossip ports pinned per node, so a restarted node is found where it was (as on real hosts). */
const gossipPorts = new Map<string, number>();


async function start(name: string): Promise<AgentProcess> {
  const joins = names.filter((n) => n !== name).flatMap((n) => ['--join', `127.0.0.1:${gossipPorts.get(n)}`]);
  const a = await startAgent([
    '--data-dir', join(root, name), '--node-id', name, '--bind', '127.0.0.1', '--gossip-preset', 'local',
    '--gossip-port', String(gossipPorts.get(name)),
    '--learner-stable-ms', '1000', '--dead-voter-grace-ms', '3000',
    // n1 originates the cluster; the others join it (and, after a full restart, each other).
    ...(name === 'n1' ? [] : joins),
  ]);
  running.set(name, a);
  return a;
}

const client = (a: AgentProcess): SappersClient => new SappersClient({ ...a.api, timeoutMs: 15_000 });


/** Every running agent agrees on one leader and on `voters` voters; returns the statuses. */
async function settled(voters: number): Promise<Status[]> {
  return until(`${voters} voters agreed on by every running node`, async () => {
    const statuses = await Promise.all([...running.values()].map((a) => client(a).status()));
    const first = statuses[0]!;
    const agree = statuses.every((s) => s.state === 'active' && s.leader === first.leader && s.voters.join() === first.voters.join());
    return agree && first.voters.length === voters ? statuses : undefined;
  });
}

describe('autopilot with real agents', { concurrency: false }, () => {
  it('five nodes settle on three voters; a killed voter is replaced without a command', async () => {
    for (const n of names) gossipPorts.set(n, await freeGossipPort());
    for (const n of names) await start(n);
    const [status] = await settled(3);
    assert.equal(status!.learners.length, 2);
    await client(running.get('n1')!).kvPut('before', 'kill');

    // Kill a voter that does not lead: after the grace period a learner takes its place.
    const victim = status!.voters.find((v) => v !== status!.leader)!;
    await running.get(victim)!.stop('SIGKILL');
    running.delete(victim);
    const after = await until(`${victim} replaced`, async () => {
      const s = await client([...running.values()][0]!).status();
      return s.voters.length === 3 && !s.voters.includes(victim) && s.state === 'active' ? s : undefined;
    });
    assert.equal(after.voters.length, 3);
    const events = await client([...running.values()][0]!).events(1);
    assert.ok(events.events.some((e) => e.type === 'autopilot.remove' && e.subject === victim), 'the removal is an event with its reason');
    await start(victim);
  });

  it('after every node is killed at once, restarting them in a random order brings the cluster back', async () => {
    await settled(3);
    await client(running.get('n1')!).kvPut('survives', 'power cut');
    await Promise.all([...running.values()].map((a) => a.stop('SIGKILL')));
    running.clear();
    // A random order, with n1 last: it has no --join (it originated the cluster), so it must find
    // the others through the peers it remembers from before the power cut.
    const order = [...names.filter((n) => n !== 'n1').sort(() => Math.random() - 0.5), 'n1'];
    for (const n of order) await start(n);
    await settled(3);
    for (const a of running.values()) {
      assert.equal((await client(a).kvGet('survives'))?.value, 'power cut', `order ${order.join(',')}`);
      assert.equal((await client(a).kvGet('before'))?.value, 'kill');
    }
  });

  it('a node whose Raft state was moved away rejoins through the peers it remembers instead of originating a new cluster', async () => {
    const before = (await settled(3))[0]!;
    await running.get('n1')!.stop('SIGINT');
    running.delete('n1');
    await rename(join(root, 'n1', 'raft'), join(root, 'n1', 'raft.moved-by-operator'));
    const n1 = await start('n1');
    await until('n1 to rejoin the existing cluster', async () => {
      const s = await client(n1).status();
      return s.leader !== null && s.leader !== 'n1' && s.state === 'active' ? s : undefined;
    });
    assert.equal((await client(n1).kvGet('survives'))?.value, 'power cut');
    assert.notEqual(before.leader, null);
  });
});
