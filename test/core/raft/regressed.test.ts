// A follower that lost its durable state (wiped data directory) answers below what it had
// acknowledged; the leader flags it as regressed instead of silently waiting on it forever.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RaftHarness, bytes } from './harness.ts';

test('a follower that lost its log is flagged as regressed by the leader; an honest lagging one is not', () => {
  const h = RaftHarness.cluster(3);
  const leader = h.elect(1)!;
  for (let i = 0; i < 5; i++) h.raft(leader).propose(bytes(`v${i}`));
  h.stabilize();
  h.run(3);
  assert.equal(h.raft(leader).status().progress.get('3' as never)?.regressed, false);

  // Node 2 merely misses entries while isolated: lagging, not regressed.
  h.isolate(2);
  for (let i = 0; i < 3; i++) h.raft(leader).propose(bytes(`w${i}`));
  h.stabilize();
  h.heal();
  h.run(3);
  assert.equal(h.raft(leader).status().progress.get('2' as never)?.regressed, false);

  // Node 3 comes back with an empty disk.
  h.crash(3);
  const disk = h.node(3).disk;
  disk.entries = [];
  disk.snapshot = undefined;
  disk.hardState = { term: 0, vote: undefined, commit: 0 };
  h.restart(3);
  h.raft(leader).propose(bytes('after'));
  h.stabilize();
  h.run(3);
  const p3 = h.raft(leader).status().progress.get('3' as never);
  assert.equal(p3?.regressed, true);
});
