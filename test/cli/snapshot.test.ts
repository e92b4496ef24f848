// Backups with real agents: a three-node cluster saves a snapshot (sappers snapshot save), its
// keys change, and sappers snapshot restore brings the saved keys and sessions back on every node
// through Raft, with the KV revision moving forward and the event chain intact; a damaged file is
// refused with a clear error and changes nothing. Waits are bounded by generous deadlines that
// only guard against hangs.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ClientError } from '../../src/client/client.ts';
import { ClusterFsm } from '../../src/core/fsm/fsm.ts';
import { encodeSnapshotFile } from '../../src/wire/snapshot-file.ts';
import { runCli } from '../helpers/agent-process.ts';
import { agentGroup } from '../helpers/agent-group.ts';
import { until } from '../helpers/until.ts';

const { root, agent, client } = await agentGroup('snapshot');
const BIG_BYTES = 600 * 1024;

describe('snapshot save and restore with real agents', () => {
  it('restores saved keys and sessions on every node, refuses a damaged file, and keeps the event chain', async () => {
    const a = await agent('a');
    const gossip = (await client(a).status()).ports.gossip;
    const nodes = [a, await agent('b', ['--join', `127.0.0.1:${gossip}`]), await agent('c', ['--join', `127.0.0.1:${gossip}`])];
    const leader = await until('three voters and one leader everywhere', async () => {
      const statuses = await Promise.all(nodes.map((x) => client(x).status()));
      return statuses.every((s) => s.voters.length === 3 && s.leader !== null && s.leader === statuses[0]!.leader) ? statuses[0]!.leader! : undefined;
    });
    const follower = nodes.find((n) => n.nodeId !== leader)!;
    const api = client(follower);

    // State to save: plain keys, a value big enough that the restore takes several Raft entries,
    // and a key held by a session.
    await api.kvPut('app/x', '1');
    await api.kvPut('app/y', '2');
    await api.kvPut('app/big', new Uint8Array(BIG_BYTES).fill(0xff));
    const session = await api.sessionCreate(120_000, 'test');
    await api.kvPut('lock', 'held', { session: session.id });

    const file = join(root, 'backup.snap');
    const saved = await runCli(['--addr', follower.addr, 'snapshot', 'save', file, '--json']);
    assert.equal(saved.code, 0, saved.stderr);
    const savedInfo = JSON.parse(saved.stdout) as { revision: number; keys: number; sessions: number; bytes: number; sha256: string; bodySha256: string };
    const bytes = await readFile(file);
    assert.equal(savedInfo.bytes, bytes.length);
    assert.equal(savedInfo.sha256, createHash('sha256').update(bytes).digest('hex'));
    assert.deepEqual([savedInfo.keys, savedInfo.sessions], [4, 1]);
    assert.equal((await stat(file)).mode & 0o777, 0o600, 'the file holds secrets: owner only');

    // Change everything after the save.
    await api.kvPut('app/x', 'changed');
    await api.kvDelete('app/y');
    await api.kvPut('app/z', 'new');
    await api.sessionRelease(session.id);
    assert.equal(await api.kvGet('lock'), undefined);
    const revisionBefore = (await api.kvList('')).revision;

    // Without --yes nothing happens.
    const unconfirmed = await runCli(['--addr', follower.addr, 'snapshot', 'restore', file]);
    assert.equal(unconfirmed.code, 2);
    assert.match(unconfirmed.stderr, /replaces every key and session .* confirm with --yes/);

    // A damaged file is refused (by the CLI before uploading) and changes nothing.
    const damaged = Uint8Array.from(bytes);
    damaged[damaged.length - 10]! ^= 0xff;
    await writeFile(join(root, 'damaged.snap'), damaged);
    const refused = await runCli(['--addr', follower.addr, 'snapshot', 'restore', join(root, 'damaged.snap'), '--yes']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /snapshot refused, nothing was changed: the snapshot file is damaged: its body hashes to sha256/);
    // One whose checksum holds but whose body is not a snapshot is refused by the agent: 400.
    const forged = encodeSnapshotFile({ sappersVersion: '0', createdAtMs: 0, nodeId: 'x', epoch: 1 }, new ClusterFsm().snapshot(), new TextEncoder().encode('not a snapshot'));
    await writeFile(join(root, 'forged.snap'), forged);
    const forgedRun = await runCli(['--addr', follower.addr, 'snapshot', 'restore', join(root, 'forged.snap'), '--yes']);
    assert.equal(forgedRun.code, 1);
    assert.match(forgedRun.stderr, /snapshot refused, nothing was changed: the snapshot file's body is not a valid state machine snapshot.*\(HTTP 400, bad-request\)/);
    const direct = await api.snapshotRestore(damaged).catch((e: unknown) => e);
    assert.ok(direct instanceof ClientError && direct.status === 400 && direct.code === 'bad-request', String(direct));
    assert.equal((await api.kvGet('app/x'))?.value, 'changed');
    assert.equal((await api.kvList('')).revision, revisionBefore);

    // A watch open across the restore is told to re-read: it ends with 'compacted'.
    const watching = new AbortController();
    after(() => watching.abort());
    const watch = api.watch('app/', revisionBefore + 1, watching.signal);
    await api.kvPut('app/watched', 'w');
    // Its first message proves the stream is open before the restore.
    assert.equal((await watch.next()).value?.event, 'put');
    const watchEnd = (async () => {
      const seen: { event: string; data: string }[] = [];
      for await (const m of watch) seen.push({ event: m.event, data: m.data });
      return seen;
    })();

    // The real restore, through a follower.
    const restored = await runCli(['--addr', follower.addr, 'snapshot', 'restore', file, '--yes', '--json']);
    assert.equal(restored.code, 0, restored.stderr);
    const result = JSON.parse(restored.stdout) as { revision: number; sha256: string; keys: number; event: number };
    assert.ok(result.revision > revisionBefore, 'the revision never goes back');
    assert.equal(result.sha256, savedInfo.bodySha256);

    // Every node shows the saved state (stale reads of each node's own copy, once it caught up).
    for (const node of nodes) {
      const c = client(node);
      await until(`${node.nodeId} to apply the restore`, async () => ((await c.kvList('', { stale: true })).revision >= result.revision ? true : undefined));
      const list = await c.kvList('', { stale: true });
      assert.deepEqual(list.entries.map((e) => e.key), ['app/big', 'app/x', 'app/y', 'lock'], node.nodeId);
      assert.equal((await c.kvGet('app/x', { stale: true }))?.value, '1');
      assert.equal((await c.kvGet('app/y', { stale: true }))?.value, '2');
      assert.equal(Buffer.from((await c.kvGet('app/big', { stale: true }))!.value, 'base64').length, BIG_BYTES);
      assert.equal((await c.kvGet('lock', { stale: true }))?.session, session.id);
    }
    assert.deepEqual((await api.sessions()).map((s) => s.id), [session.id]);
    const watched = await watchEnd;
    assert.equal(watched.at(-1)?.event, 'error');
    const reset = JSON.parse(watched.at(-1)!.data) as { code: string; compactedBefore: number };
    assert.deepEqual([reset.code, reset.compactedBefore], ['compacted', result.revision + 1]);

    // The event chain went on: the restore is an event naming the snapshot, and the chain verifies.
    const events = (await client(a).events(1)).events;
    const event = events.find((e) => e.seq === result.event)!;
    assert.equal(event.type, 'restore');
    assert.equal(event.detail['sha256'], savedInfo.bodySha256);
    assert.equal(event.detail['snapshotRevision'], savedInfo.revision);
    const verify = await runCli(['--addr', a.addr, 'events', 'verify']);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    assert.match(verify.stdout, /event log intact/);
  });
});
