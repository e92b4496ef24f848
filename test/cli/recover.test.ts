// Quorum loss and operator recover with real agents: with two of three voters gone, writes stop
// (never a split brain); `operator recover` on the survivor makes it the only voter of a new
// epoch with its data; the old voters come back, move their old-epoch state aside, rejoin fresh
// and vote again. Deadlines only guard against hangs.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ClientError } from '../../src/client/client.ts';
import { runCli } from '../helpers/agent-process.ts';
import { agentGroup } from '../helpers/agent-group.ts';
import { until } from '../helpers/until.ts';

const { root, agent, kill, client } = await agentGroup('recover');


describe('quorum loss and operator recover (real agents)', { concurrency: false }, () => {
  it('stops writes without a majority, recovers on the survivor, and takes the others back fresh', async () => {
    const a = await agent('a');
    const joinAddr = `127.0.0.1:${(await client(a).status()).ports.gossip}`;
    await agent('b', ['--join', joinAddr]);
    await agent('c', ['--join', joinAddr]);
    await until('three voters', async () => ((await client(a).status()).voters.length === 3 ? true : undefined));
    await client(a).kvPut('kept', 'across recovery');

    // Two of three voters die: the survivor refuses writes and says no-quorum.
    for (const n of ['b', 'c']) {
      await kill(n);
    }
    await until('no-quorum on the survivor', async () => ((await client(a).status()).state === 'no-quorum' ? true : undefined));
    await assert.rejects(client(a).kvPut('x', 'y'), (e: unknown) => e instanceof ClientError && e.status === 503);

    // Recover on the survivor: a new epoch with a as the only voter, data intact, writes again.
    const refused = await runCli(['--addr', a.addr, 'operator', 'recover']);
    assert.equal(refused.code, 2, 'without a terminal, recover wants --yes');
    const r = await runCli(['--addr', a.addr, 'operator', 'recover', '--yes', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { epoch: number }).epoch, 2);
    const s = await until('the survivor to lead epoch 2', async () => {
      const st = await client(a).status();
      return st.state === 'active' && st.leader === 'a' ? st : undefined;
    });
    assert.deepEqual([s.epoch, s.voters], [2, ['a']]);
    assert.equal((await client(a).kvGet('kept'))?.value, 'across recovery');
    await client(a).kvPut('after', 'recovery');
    // A second recovery is refused while a leader serves.
    const again = await runCli(['--addr', a.addr, 'operator', 'recover', '--yes']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /a leader \(a\) is serving/);

    // The old voters return (epoch 1): they move their state aside, rejoin fresh and vote again.
    const b = await agent('b', ['--join', joinAddr]);
    const c = await agent('c', ['--join', joinAddr]);
    await until('three voters in epoch 2', async () => {
      const statuses = await Promise.all([a, b, c].map((x) => client(x).status()));
      return statuses.every((st) => st.epoch === 2 && st.voters.length === 3 && st.leader !== null) ? true : undefined;
    });
    for (const x of [b, c]) assert.equal((await client(x).kvGet('after'))?.value, 'recovery');
    const aside = (await readdir(join(root, 'b'))).filter((f) => f.startsWith('raft.epoch-1.'));
    assert.equal(aside.length, 1, 'the old-epoch state was moved aside, not deleted');
    const events = await client(a).events(1);
    assert.ok(events.events.some((e) => e.type === 'operator.recover'), 'the recovery is an event');
  });

  it('with --auto-recover-ms, the survivor of a lost majority recovers by itself and records why', async () => {
    const auto = ['--auto-recover-ms', '3000'];
    const d = await agent('d', auto);
    const joinAddr = `127.0.0.1:${(await client(d).status()).ports.gossip}`;
    await agent('e', ['--join', joinAddr, ...auto]);
    await agent('f', ['--join', joinAddr, ...auto]);
    await until('three voters', async () => ((await client(d).status()).voters.length === 3 ? true : undefined));
    await client(d).kvPut('kept', 'across auto recovery');
    for (const n of ['e', 'f']) {
      await kill(n);
    }
    // No command: after no-quorum has lasted 3 s with two voters dead by gossip, d recovers.
    const s = await until('d to lead a new epoch by itself', async () => {
      const st = await client(d).status();
      return st.state === 'active' && st.epoch === 2 && st.leader === 'd' ? st : undefined;
    });
    assert.deepEqual(s.voters, ['d']);
    assert.equal((await client(d).kvGet('kept'))?.value, 'across auto recovery');
    await client(d).kvPut('after', 'auto recovery');
    const events = await client(d).events(1);
    const note = events.events.find((e) => e.type === 'auto.recover');
    assert.ok(note, 'the automatic recovery is an event');
    assert.match(JSON.stringify(note), /autoRecover/);

    // The others return and rejoin the recovered epoch (same number elsewhere would differ by origin).
    const e = await agent('e', ['--join', joinAddr, ...auto]);
    await until('e in epoch 2 with the data', async () => ((await client(e).status()).epoch === 2 && (await client(e).kvGet('after', { stale: true }))?.value === 'auto recovery' ? true : undefined));
  });
});
