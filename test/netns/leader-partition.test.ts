// Three agents as hosts in network namespaces (hosts.ts), with real faults (faults.ts):
// 1. the leader is partitioned away from both others (nftables, both ways): the majority elects a
//    new leader and takes a write; the old leader neither commits a write nor serves a stale
//    linearizable read; after healing it follows and every node reads the majority's value.
// 2. the leader is frozen (SIGSTOP) until the others have elected a new leader, a write goes
//    through another node, then it resumes (SIGCONT): a linearizable read through it returns the
//    new value or an error, never the old one.
// Run by `npm run test:faults` (root; skipped with the reason otherwise). Deadlines only guard
// against hangs; the printed figures are for the report, never asserted.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Status } from '../../src/api/schemas.ts';
import { until } from '../helpers/until.ts';
import { Faults } from './faults.ts';
import { netnsSkipReason, TestNetwork, type Host } from './hosts.ts';

// npm test runs test/**/*.test.ts; these need root and a minute, so only test:faults runs them.
const skip = process.env['SAPPERS_FAULTS'] !== '1' ? 'network-namespace fault tests run with `npm run test:faults`' : netnsSkipReason();
if (skip !== undefined) console.log(`# netns fault tests skipped: ${skip}`);

/** A write that failed or timed out may still be applied: it is "maybe applied". */
type WriteOutcome = { readonly ok: true; readonly revision: number } | { readonly ok: false; readonly error: string };

describe('leader partitioned away, and paused, on network-namespace hosts', { skip: skip ?? false, concurrency: false }, () => {
  let net: TestNetwork;
  let faults: Faults;

  before(async () => {
    net = await TestNetwork.create({ hosts: 3, agentArgs: ['--gossip-preset', 'local'] });
    faults = new Faults(net);
    console.log(`# run ${net.run}: hosts ${net.hosts.map((h) => `${h.name}=${h.ip}`).join(' ')}`);
    await net.startAll();
  });
  after(async () => {
    await net?.destroy();
  });

  const statusOf = (h: Host, timeoutMs = 3_000): Promise<Status> => net.client(h, timeoutMs).status();

  /** Every host in `hosts` reports the same leader (one of `hosts`) and three voters; returns the leader. */
  async function agreedLeader(hosts: readonly Host[], what: string, not?: string): Promise<Host> {
    try {
      const leader = await until(what, async () => {
        const statuses = await Promise.all(hosts.map((h) => statusOf(h)));
        const first = statuses[0]!;
        const agree = statuses.every((s) => s.state === 'active' && s.leader !== null && s.leader === first.leader && s.voters.length === 3);
        if (!agree || first.leader === not) return undefined;
        return hosts.find((h) => h.name === first.leader);
      }, 90_000);
      return leader;
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${net.logTail()}`);
    }
  }

  async function tryPut(h: Host, key: string, value: string, timeoutMs: number): Promise<WriteOutcome> {
    try {
      const { revision } = await net.client(h, timeoutMs).kvPut(key, value);
      return { ok: true, revision };
    } catch (e) {
      return { ok: false, error: (e as Error).message };
    }
  }

  /** A linearizable read through `h` that is allowed to fail, never to be stale. */
  async function tryGet(h: Host, key: string, timeoutMs: number): Promise<{ ok: true; value: string | undefined } | { ok: false; error: string }> {
    try {
      const entry = await net.client(h, timeoutMs).kvGet(key);
      return { ok: true, value: entry?.value };
    } catch (e) {
      return { ok: false, error: (e as Error).message };
    }
  }

  /** Every host reads `key` linearizably and all agree; returns the value. */
  async function everyoneReads(key: string): Promise<string | undefined> {
    return until(`every host reads ${key} linearizably, the same value`, async () => {
      const values = await Promise.all(net.hosts.map(async (h) => (await net.client(h, 5_000).kvGet(key))?.value));
      return values.every((v) => v === values[0]) ? { value: values[0] } : undefined;
    }, 60_000).then((r) => r.value);
  }

  it('a partitioned leader loses leadership; the majority elects another, takes writes; after healing everyone reads the majority\'s value', async () => {
    const oldLeader = await agreedLeader(net.hosts, 'three voters and one leader on every host');
    const majority = net.hosts.filter((h) => h !== oldLeader);
    await net.client(oldLeader).kvPut('k', 'v0');

    const partitionedAt = Date.now();
    await faults.partition([oldLeader], majority);
    const newLeader = await agreedLeader(majority, 'a new leader among the majority', oldLeader.name);
    const electedMs = Date.now() - partitionedAt;
    const write = await until('a write through the majority', async () => {
      const r = await tryPut(majority[0]!, 'k', 'v1', 5_000);
      return r.ok ? r : undefined;
    }, 60_000);
    const firstWriteMs = Date.now() - partitionedAt;
    console.log(`# partition: old leader ${oldLeader.name}, new leader ${newLeader.name} after ${electedMs} ms, first majority write after ${firstWriteMs} ms (revision ${write.revision})`);

    // The old leader, asked while cut off, cannot commit: the write fails or times out ("maybe
    // applied", checked after healing). A success here would be a write acknowledged by one node.
    const stale = await tryPut(oldLeader, 'k', 'stale-write', 8_000);
    assert.equal(stale.ok, false, `the partitioned old leader acknowledged a write it cannot have committed: ${JSON.stringify(stale)}`);
    // Nor may it answer a linearizable read with the value the majority has overwritten.
    const read = await tryGet(oldLeader, 'k', 8_000);
    console.log(`# partition: write through the old leader -> ${stale.ok ? 'ok' : stale.error}; linearizable read -> ${read.ok ? JSON.stringify(read.value) : read.error}`);
    if (read.ok) assert.equal(read.value, 'v1', 'a partitioned node served a stale linearizable read');

    const healedAt = Date.now();
    await faults.healPartitions();
    const leaderAfter = await agreedLeader(net.hosts, 'the old leader follows again', undefined);
    const old = await statusOf(oldLeader);
    assert.notEqual(old.leader, null);
    console.log(`# heal: every host agrees on leader ${leaderAfter.name} after ${Date.now() - healedAt} ms; old leader ${oldLeader.name} is ${old.leader === oldLeader.name ? 'leader again' : 'a follower'}`);

    // The value is the majority's, or the old leader's write if it was applied after all (it failed
    // or timed out, so it may have been); never v0, and the same on every host.
    const value = await everyoneReads('k');
    console.log(`# heal: every host reads k = ${JSON.stringify(value)}`);
    assert.ok(value === 'v1' || value === 'stale-write', `after healing the cluster reads ${JSON.stringify(value)}`);
    // A fresh write through the old leader works again (it is forwarded or it leads).
    await until('a write through the old leader after healing', async () => ((await tryPut(oldLeader, 'k2', 'after-heal', 5_000)).ok ? true : undefined), 60_000);
    assert.equal(await everyoneReads('k2'), 'after-heal');
  });

  it('a leader paused past the election timeout does not serve a stale linearizable read when it resumes', async () => {
    const oldLeader = await agreedLeader(net.hosts, 'one leader before the pause');
    const others = net.hosts.filter((h) => h !== oldLeader);
    await net.client(oldLeader).kvPut('p', 'before-pause');
    await everyoneReads('p');

    const pausedAt = Date.now();
    faults.pause(oldLeader);
    let resumed = false;
    try {
      // Longer than the election timeout by construction: until the others have elected a new leader.
      const newLeader = await agreedLeader(others, 'a new leader while the old one is frozen', oldLeader.name);
      const electedMs = Date.now() - pausedAt;
      await until('a write through another node', async () => ((await tryPut(others[0]!, 'p', 'after-pause', 5_000)).ok ? true : undefined), 60_000);
      console.log(`# pause: old leader ${oldLeader.name} frozen; new leader ${newLeader.name} after ${electedMs} ms`);

      // The read is sent while the old leader is still frozen, so it waits in its socket and is
      // among the first things it handles when it wakes, with its stale belief that it leads.
      const early = tryGet(oldLeader, 'p', 15_000);
      await new Promise((r) => setTimeout(r, 200));
      faults.resume(oldLeader);
      resumed = true;
      const late = tryGet(oldLeader, 'p', 15_000);
      const [r1, r2] = await Promise.all([early, late]);
      console.log(`# pause: reads through the resumed old leader -> ${[r1, r2].map((r) => (r.ok ? JSON.stringify(r.value) : r.error)).join('; ')}`);
      for (const r of [r1, r2]) if (r.ok) assert.equal(r.value, 'after-pause', 'the resumed old leader served a stale linearizable read');
    } finally {
      if (!resumed && oldLeader.agent?.running()) faults.resume(oldLeader);
    }
    await agreedLeader(net.hosts, 'every host agrees on one leader after the resume');
    assert.equal(await everyoneReads('p'), 'after-pause');
  });
});
