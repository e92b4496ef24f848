// Rotating the cluster key in a running cluster of real agents (issue 5, `sappers keyring`):
// install a new key, use it, remove the old one, through the CLI at any node. Every node follows
// the replicated keyring; a node that was down during install catches up by itself; one that
// missed use and remove rejoins once given the new key file; a new node that
// holds only the new key joins; the primary cannot be removed. Deadlines only guard against hangs.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { KeyringChangeResult, KeyringView } from '../../src/api/keyring.ts';
import { ClientError } from '../../src/client/client.ts';
import { createKeyFile } from '../../src/cli/commands/keygen.ts';
import { runCli, type AgentProcess } from '../helpers/agent-process.ts';
import { agentGroup } from '../helpers/agent-group.ts';
import { until } from '../helpers/until.ts';

const { root, agent, kill, client } = await agentGroup('keyring');

async function cli(a: AgentProcess, args: string[]): Promise<string> {
  const r = await runCli(['--addr', a.addr, 'keyring', ...args]);
  assert.equal(r.code, 0, `keyring ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function list(a: AgentProcess): Promise<KeyringView> {
  return JSON.parse(await cli(a, ['list', '--json'])) as KeyringView;
}

/** Waits until every agent's own keyring (the one sealing its gossip) is `keys` with `primary`. */
async function localKeyringIs(agents: AgentProcess[], primary: string, keys: string[]): Promise<void> {
  await until(`local keyrings ${primary} / ${keys.join(',')}`, async () => {
    const views = await Promise.all(agents.map((a) => client(a).keyring({ stale: true })));
    return views.every((v) => v.local.primary === primary && [...v.local.keys].sort().join() === [...keys].sort().join()) ? true : undefined;
  });
}

async function allAlive(agents: AgentProcess[], ids: string[]): Promise<void> {
  await until(`${ids.join(', ')} alive at every node`, async () => {
    const views = await Promise.all(agents.map((a) => client(a).members()));
    return views.every((ms) => ids.every((id) => ms.find((m) => m.id === id)?.status === 'alive')) ? true : undefined;
  });
}

describe('cluster key rotation (real agents)', { concurrency: false }, () => {
  it('installs, uses and removes keys at one node; every node follows, a node that missed it rejoins with the new key file, a new node joins with it', async () => {
    const a = await agent('a');
    const joinAddr = `127.0.0.1:${(await client(a).status()).ports.gossip}`;
    const b = await agent('b', ['--join', joinAddr]);
    await agent('c', ['--join', joinAddr]);
    await until('three voters', async () => ((await client(a).status()).voters.length === 3 ? true : undefined));

    await allAlive([a, b], ['a', 'b', 'c']);
    const before = await list(b);
    assert.equal(before.keys.length, 1);
    const oldFp = before.primary;
    assert.deepEqual(before.local, { primary: oldFp, keys: [oldFp] });
    assert.match(await cli(b, ['list']), /^FINGERPRINT\s+CLUSTER\s+THIS NODE \(b\)\n\S+\s+primary\s+primary\nb uses the cluster keyring\n$/);

    // c is down (SIGKILL: no leave) while the new key is installed.
    await kill('c');
    await until('c dead at a', async () => ((await client(a).members()).find((m) => m.id === 'c')?.status === 'dead' ? true : undefined));

    const newKeyFile = join(root, 'new.key');
    await createKeyFile(newKeyFile, false);
    const installed = JSON.parse(await cli(a, ['install', '--key-file', newKeyFile, '--json'])) as KeyringChangeResult;
    const newFp = installed.fingerprint;
    assert.notEqual(newFp, oldFp);
    assert.deepEqual(installed.keys, [{ fingerprint: oldFp, primary: true }, { fingerprint: newFp, primary: false }]);
    await localKeyringIs([a, b], oldFp, [oldFp, newFp]);

    // c returns knowing only the old key, which still seals the cluster's gossip: it rejoins,
    // and the replicated state brings it the new key.
    const c = await agent('c', ['--join', joinAddr]);
    await localKeyringIs([a, b, c], oldFp, [oldFp, newFp]);
    await allAlive([a, b, c], ['a', 'b', 'c']);

    // b is down for the rest of the rotation (a and c are a quorum).
    await kill('b');

    // Through another node, by fingerprint (what list shows).
    const used = await cli(c, ['use', newFp]);
    assert.match(used, new RegExp(`key ${newFp} is the primary.*\\n.*sappers keyring remove ${oldFp}`));
    await localKeyringIs([a, c], newFp, [oldFp, newFp]);

    // The primary cannot go: 409 through the API and a failing CLI.
    await assert.rejects(client(a).keyringChange('remove', newFp), (e: unknown) => e instanceof ClientError && e.status === 409 && e.code === 'conflict');
    const refused = await runCli(['--addr', a.addr, 'keyring', 'remove', newFp]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /primary.*HTTP 409, conflict/);

    await cli(a, ['remove', oldFp]);
    await localKeyringIs([a, c], newFp, [newFp]);
    const after = await list(c);
    assert.deepEqual({ primary: after.primary, keys: after.keys }, { primary: newFp, keys: [{ fingerprint: newFp, primary: true }] });
    // A key that is not installed (any more): 404.
    await assert.rejects(client(a).keyringChange('use', oldFp), (e: unknown) => e instanceof ClientError && e.status === 404);
    await allAlive([a, c], ['a', 'c']);

    // b missed the switch to the new key and the removal of its only key, and comes back on new
    // ports: as "keyring --help" says, it is given the new key file (the changed file's key
    // becomes primary in its remembered keyring).
    await until('b dead at a', async () => ((await client(a).members()).find((m) => m.id === 'b')?.status === 'dead' ? true : undefined));
    const b2 = await agent('b', ['--join', joinAddr, '--cluster-key-file', newKeyFile]);
    await allAlive([a, b2, c], ['a', 'b', 'c']);

    // A new node given only the new key joins, gets its certificate and sees everyone.
    const d = await agent('d', ['--join', joinAddr, '--cluster-key-file', newKeyFile]);
    await allAlive([a, b2, c, d], ['a', 'b', 'c', 'd']);
    await localKeyringIs([a, b2, c, d], newFp, [newFp]);
    await client(d).kvPut('rotated', 'yes');
    assert.equal((await client(b2).kvGet('rotated'))?.value, 'yes');
  });
});
