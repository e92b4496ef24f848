// A Raft cluster of real agent processes on 127.0.0.1: it forms by itself (one founder, the
// others --join and are promoted by the autopilot), serves writes through any node, survives a
// SIGKILLed leader with every acknowledged write intact, and takes the old leader back.
// Waits are bounded by generous deadlines that only guard against hangs.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ClientError } from '../../src/client/client.ts';
import type { Status } from '../../src/api/schemas.ts';
import { runCli } from '../helpers/agent-process.ts';
import { agentGroup } from '../helpers/agent-group.ts';
import { until } from '../helpers/until.ts';

const { running, agent, client } = await agentGroup('cluster');


describe('a Raft cluster of real agents', { concurrency: false }, () => {
  it('forms with three voters, writes through a follower, survives a SIGKILLed leader, and takes it back', async () => {
    const a = await agent('a');
    const gossip = (await client(a).status()).ports.gossip;
    const b = await agent('b', ['--join', `127.0.0.1:${gossip}`]);
    const c = await agent('c', ['--join', `127.0.0.1:${gossip}`]);
    const all = [a, b, c];

    // The autopilot adds the joiners as learners, then promotes them: three voters, one leader.
    const formed = await until('three voters and one leader everywhere', async () => {
      const statuses = await Promise.all(all.map((x) => client(x).status()));
      const ok = statuses.every((s) => s.voters.length === 3 && s.leader !== null && s.leader === statuses[0]!.leader && s.state === 'active');
      return ok ? statuses : undefined;
    });
    const leaderId = formed[0]!.leader!;
    // The leader records every member in the replicated node registry: each join is an event.
    await until('node.join events for all three', async () => {
      const page = await client(a).events(1);
      const joined = new Set(page.events.filter((e) => e.type === 'node.join').map((e) => e.subject));
      return ['a', 'b', 'c'].every((id) => joined.has(id)) ? true : undefined;
    });
    const autopilotEvents = (await client(a).events(1)).events.filter((e) => e.type.startsWith('autopilot.'));
    assert.ok(autopilotEvents.some((e) => e.type === 'autopilot.promote' && e.detail['message'] !== undefined), 'promotions are events with their reason');
    const follower = all.find((x) => x.nodeId !== leaderId)!;

    // Asked through a follower, `operator raft peers` shows the leader's view, with progress.
    const peers = await runCli(['--addr', follower.addr, 'operator', 'raft', 'peers', '--json']);
    assert.equal(peers.code, 0, peers.stderr);
    const view = JSON.parse(peers.stdout) as { isLeader: boolean; peers: { id: string; role: string; match: number | null }[] };
    assert.equal(view.isLeader, true);
    assert.deepEqual(view.peers.map((p) => p.id).sort(), ['a', 'b', 'c']);
    assert.equal(view.peers.filter((p) => p.role === 'leader').length, 1);
    assert.ok(view.peers.every((p) => typeof p.match === 'number'));

    // A write through a follower is forwarded to the leader and readable (linearizably) everywhere.
    const put = await client(follower).kvPut('greeting', 'hello');
    assert.ok(put.revision > 0);
    for (const x of all) assert.equal((await client(x).kvGet('greeting'))?.value, 'hello');
    const acked: string[] = ['greeting'];
    for (let i = 0; i < 20; i++) {
      await client(all[i % 3]!).kvPut(`k/${i}`, `v${i}`);
      acked.push(`k/${i}`);
    }
    // Compare-and-swap through the CLI, from a follower.
    const cas = await runCli(['--addr', follower.addr, 'kv', 'put', 'greeting', 'again', '--cas', '0']);
    assert.equal(cas.code, 1);
    assert.match(cas.stderr, /compare-and-swap failed on "greeting": its modRevision is 1/);

    // SIGKILL the leader: the two others elect a new one, and no acknowledged write is lost.
    const oldLeader = running.get(leaderId)!;
    await oldLeader.stop('SIGKILL');
    running.delete(leaderId);
    const survivors = all.filter((x) => x !== oldLeader);
    const newLeader = await until('a new leader', async () => {
      const s: Status = await client(survivors[0]!).status();
      return s.leader !== null && s.leader !== leaderId && s.state === 'active' ? s.leader : undefined;
    });
    assert.notEqual(newLeader, leaderId);
    for (const key of acked) assert.ok(await client(survivors[0]!).kvGet(key), `acknowledged ${key} survived`);
    await until('a write after failover', async () => (await client(survivors[1]!).kvPut('after', 'failover')).revision);

    // The old leader restarts from its data dir and catches up as a follower.
    const survivorGossip = (await client(survivors[0]!).status()).ports.gossip;
    const back = await agent(leaderId, ['--join', `127.0.0.1:${survivorGossip}`]);
    await until('the restarted node to catch up', async () => ((await client(back).kvGet('after', { stale: true }))?.value === 'failover' ? true : undefined));
    const s = await client(back).status();
    assert.equal(s.voters.length, 3);
    assert.notEqual(s.leader, null);
  });

  it('shrinks by graceful leaves down to one node that still accepts writes', async () => {
    const nodes = [...running.values()];
    assert.equal(nodes.length, 3);
    // Leave the leader first (it hands over), then another: one node must remain, voting alone.
    const leaderId = (await client(nodes[0]!).status()).leader!;
    const order = [running.get(leaderId)!, ...nodes.filter((n) => n.nodeId !== leaderId)];
    for (const leaving of order.slice(0, 2)) {
      const r = await runCli(['--addr', leaving.addr, 'leave', '--json']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), { removed: true });
      // The agent stops by itself once it is out, and exits cleanly.
      const code = await until(`${leaving.nodeId} to exit`, async () => leaving.child.exitCode ?? undefined, 20_000);
      assert.equal(code, 0);
      running.delete(leaving.nodeId);
    }
    const last = order[2]!;
    const s = await until('the last node to lead alone', async () => {
      const st = await client(last).status();
      return st.leader === last.nodeId && st.voters.length === 1 ? st : undefined;
    });
    assert.deepEqual(s.voters, [last.nodeId]);
    assert.equal((await client(last).kvPut('alone', 'still writable')).revision > 0, true);
    assert.equal((await client(last).kvGet('greeting'))?.value, 'hello');
  });

  it('refuses a malformed write with a clear error', async () => {
    const a = running.get('a') ?? running.values().next().value!;
    await assert.rejects(client(a).kvPut('x', 'v', { cas: -1 as number }), (e: unknown) => e instanceof ClientError && e.status === 400 && /cas must be an integer/.test(e.message));
  });
});
