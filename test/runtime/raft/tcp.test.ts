// Three RaftNodes on the real parts: TcpRpcTransport on loopback, RaftStorage with fsync on the
// real file system, the system clock. Waits are bounded by generous deadlines that only guard
// against hangs; nothing here measures speed.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SeededRandom } from '../../../src/core/random.ts';
import type { NodeId } from '../../../src/core/raft/types.ts';
import { SystemClock } from '../../../src/runtime/clock.ts';
import { RaftNode } from '../../../src/runtime/raft/node.ts';
import { ListFsm } from './list-fsm.ts';
import { openRaftState } from '../../../src/runtime/raft/open.ts';
import type { RaftStorage } from '../../../src/runtime/storage/raft-storage.ts';
import { NodeFileSystem } from '../../../src/runtime/storage/node-fs.ts';
import { TcpRpcTransport } from '../../../src/runtime/transport/rpc.ts';

interface Running {
  node: RaftNode;
  fsm: ListFsm;
  rpc: TcpRpcTransport;
  storage: RaftStorage;
}

const clock = new SystemClock();
const ids = ['a', 'b', 'c'] as NodeId[];
const root = await mkdtemp(join(tmpdir(), 'sappers-raft-tcp-'));
const addresses = new Map<NodeId, string>();
const running = new Map<NodeId, Running>();
after(async () => {
  for (const r of running.values()) await stopNode(r);
  await rm(root, { recursive: true, force: true });
});

async function startNode(id: NodeId, seed: number): Promise<Running> {
  const opened = await openRaftState(new NodeFileSystem(), join(root, id), { bootstrap: { voters: ids, learners: [] } });
  assert.ok(opened.ok, opened.ok ? '' : opened.error.message);
  // A restarted node keeps its port when it can, as an agent with a configured RPC port would.
  const port = Number(addresses.get(id)?.split(':')[1] ?? 0);
  const rpc = await TcpRpcTransport.listen({ host: '127.0.0.1', port, clock });
  addresses.set(id, rpc.localAddress);
  const fsm = new ListFsm();
  const node = new RaftNode({
    id,
    cluster: 'tcp-test',
    clock,
    random: new SeededRandom(seed),
    rpc,
    store: opened.value.storage,
    fsm,
    resolve: (peer) => addresses.get(peer),
    restored: opened.value.restored,
    snapshotData: opened.value.snapshotData,
    tickMs: 20,
    snapshotEveryEntries: 30,
    snapshotKeepEntries: 5,
  });
  node.start();
  const r = { node, fsm, rpc, storage: opened.value.storage };
  running.set(id, r);
  return r;
}

async function stopNode(r: Running): Promise<void> {
  await r.node.stop();
  await r.rpc.close();
  await r.storage.close();
}

async function waitFor<T>(what: string, probe: () => T | undefined, deadlineMs = 20_000): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const leader = (): RaftNode | undefined => [...running.values()].map((r) => r.node).find((n) => n.role === 'leader');

test('three nodes over TCP elect, replicate, survive losing the leader, and catch a restarted node up by snapshot', async () => {
  for (const [i, id] of ids.entries()) await startNode(id, i + 1);
  // Ports are known only after every node listens; nodes resolve peers lazily, so this is fine.
  const first = await waitFor('a leader', leader);
  for (let i = 0; i < 20; i++) await first.propose(new TextEncoder().encode(`x${i}`));
  const r = await first.readIndex();
  assert.ok(r >= 21);

  // The leader goes away for good (its process would be gone): the others elect and continue.
  const old = running.get(first.id)!;
  running.delete(first.id);
  await stopNode(old);
  const second = await waitFor('a new leader', () => {
    const l = leader();
    return l !== undefined && l.id !== first.id ? l : undefined;
  });
  for (let i = 20; i < 80; i++) await second.propose(new TextEncoder().encode(`x${i}`));
  assert.ok(second.status().firstIndex > 1, 'the new leader compacted its log behind a snapshot');

  // The old leader restarts from its disk; entries it lacks were compacted, so it needs a snapshot.
  const back = await startNode(first.id, 99);
  const want = Array.from({ length: 80 }, (_, i) => `x${i}`);
  await waitFor('the restarted node to catch up', () => (back.fsm.items.length === 80 ? true : undefined));
  assert.deepEqual(back.fsm.items, want);
  // It applied only 21 entries before it left (below the snapshot threshold), so a snapshot it
  // holds now came from the leader, streamed in chunks over TCP.
  assert.ok((back.node.core.latestSnapshot?.index ?? 0) > 21, 'caught up from a snapshot');
  for (const r of running.values()) {
    await waitFor(`${r.node.id} to apply everything`, () => (r.fsm.items.length === 80 ? true : undefined));
    assert.deepEqual(r.fsm.items, want);
  }
});
