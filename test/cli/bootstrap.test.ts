// Group bootstrap with real agents: three nodes started with --bootstrap-expect 3, each joining
// the others, form ONE cluster with all three as voters (secure, as by default); after all three
// are SIGKILLed and restarted in a random order the cluster returns with its data; a fourth node
// started later with the same flag becomes a learner of that cluster instead of forming its own.
// Deadlines only guard against hangs.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClientError, SappersClient } from '../../src/client/client.ts';
import type { Status } from '../../src/api/schemas.ts';
import { runCli, startAgent, type AgentProcess } from '../helpers/agent-process.ts';
import { freeGossipPort } from '../helpers/ports.ts';
import { until } from '../helpers/until.ts';

const root = await mkdtemp(join(tmpdir(), 'sappers-bootstrap-'));
const running = new Map<string, AgentProcess>();
after(async () => {
  await Promise.all([...running.values()].map((a) => a.stop('SIGKILL')));
  await rm(root, { recursive: true, force: true });
});

const group = ['b1', 'b2', 'b3'];
/** Gossip ports pinned per node, so every node can --join the others from the start. */
const gossipPorts = new Map<string, number>();


async function start(name: string, joins: readonly string[]): Promise<AgentProcess> {
  const a = await startAgent([
    '--data-dir', join(root, name), '--node-id', name, '--bind', '127.0.0.1', '--gossip-preset', 'local',
    '--gossip-port', String(gossipPorts.get(name)), '--bootstrap-expect', '3',
    ...joins.flatMap((n) => ['--join', `127.0.0.1:${gossipPorts.get(n)}`]),
  ]);
  running.set(name, a);
  return a;
}

const startGroupMember = (name: string): Promise<AgentProcess> => start(name, group.filter((n) => n !== name));
const client = (a: AgentProcess): SappersClient => new SappersClient({ ...a.api, timeoutMs: 15_000 });

/** Every running agent is active under one leader with `voters` as voters; returns the statuses. */
async function oneCluster(voters: readonly string[]): Promise<Status[]> {
  return until(`one cluster with voters ${voters.join(',')} on every running node`, async () => {
    const statuses = await Promise.all([...running.values()].map((a) => client(a).status()));
    const first = statuses[0]!;
    const agree = statuses.every(
      (s) => s.state === 'active' && s.leader !== null && s.leader === first.leader && [...s.voters].sort().join() === [...voters].sort().join(),
    );
    return agree ? statuses : undefined;
  });
}

describe('--bootstrap-expect with real agents', { concurrency: false }, () => {
  it('three nodes started with --bootstrap-expect 3 form one cluster with all three as voters', async () => {
    for (const n of [...group, 'b4']) gossipPorts.set(n, await freeGossipPort());
    await Promise.all(group.map(startGroupMember));
    const statuses = await oneCluster(group);
    assert.equal(new Set(statuses.map((s) => s.leader)).size, 1);
    assert.ok(statuses.every((s) => s.learners.length === 0));

    // Exactly one of them originated (made the CA and proposed the voters); the others were told
    // or adopted the set. Nobody originated a one-node cluster.
    const logs = [...running.values()].map((a) => a.lines.join('\n'));
    assert.equal(logs.filter((l) => /"originator":true[^\n]*formed the cluster with the agreed initial voters/.test(l)).length, 1, logs.join('\n---\n'));
    assert.equal(logs.filter((l) => /formed the cluster with the agreed initial voters/.test(l)).length, 3);
    assert.ok(logs.every((l) => !/originated a new one-node cluster/.test(l)));
    // The promise each node gave is on disk (it must survive a crash during bootstrap).
    for (const n of group) assert.ok((await stat(join(root, n, 'bootstrap-promise.json'))).isFile(), n);

    // Security reached every node: each holds a certificate, and the API wants the token.
    await until('every node certified', async () => {
      const all = await Promise.all([...running.values()].map((a) => client(a).status()));
      return all.every((s) => s.security.mode === 'secure' && s.security.certified) ? true : undefined;
    });
    for (const a of running.values()) {
      await assert.rejects(new SappersClient({ addr: a.addr }).status(), (e: unknown) => e instanceof ClientError && e.status === 401, `${a.nodeId} without a token`);
      await assert.rejects(new SappersClient({ addr: a.addr, token: 'not-the-token' }).status(), (e: unknown) => e instanceof ClientError && e.status === 403, `${a.nodeId} with a wrong token`);
    }

    // A write through any node (a follower here) is readable on all of them.
    const leader = statuses[0]!.leader!;
    const follower = [...running.values()].find((a) => a.nodeId !== leader)!;
    assert.ok((await client(follower).kvPut('formed/by', 'bootstrap-expect')).revision > 0);
    for (const a of running.values()) assert.equal((await client(a).kvGet('formed/by'))?.value, 'bootstrap-expect', a.nodeId);
    const cli = await runCli(['--addr', running.get(leader)!.addr, 'kv', 'get', 'formed/by']);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /bootstrap-expect/);
  });

  it('after all three are SIGKILLed, restarting them in a random order brings the cluster back with its data', async () => {
    await Promise.all([...running.values()].map((a) => a.stop('SIGKILL')));
    running.clear();
    const order = [...group].sort(() => Math.random() - 0.5);
    for (const n of order) await startGroupMember(n);
    await oneCluster(group);
    for (const a of running.values()) assert.equal((await client(a).kvGet('formed/by'))?.value, 'bootstrap-expect', `order ${order.join(',')}`);
    // Formed nodes never bootstrap again: no new proposal, no new CA.
    for (const a of running.values()) assert.ok(a.lines.every((l) => !/formed the cluster|proposed the initial voters/.test(l)), a.nodeId);
    assert.ok((await client(running.get(order[0]!)!).kvPut('after/restart', 'yes')).revision > 0);
  });

  it('a fourth node started later with --bootstrap-expect 3 becomes a learner of the existing cluster', async () => {
    const d = await start('b4', ['b1']);
    const statuses = await until('b4 to be a learner everywhere', async () => {
      const all = await Promise.all([...running.values()].map((a) => client(a).status()));
      return all.every((s) => s.learners.includes('b4') && s.leader !== null && s.state === 'active') ? all : undefined;
    });
    for (const s of statuses) assert.deepEqual([...s.voters].sort(), group);
    assert.ok(d.lines.every((l) => !/formed the cluster|proposed the initial voters/.test(l)), 'b4 formed or proposed');
    await until('b4 to catch up', async () => ((await client(d).kvGet('after/restart', { stale: true }))?.value === 'yes' ? true : undefined));
  });
});
