import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RaftHarness, bytes } from './harness.ts';

test('three nodes elect a leader, replicate and apply', () => {
  const h = RaftHarness.cluster(3);
  assert.equal(h.elect(1), '1');
  const p = h.raft(1).propose(bytes('a'));
  assert.ok(p.ok);
  h.stabilize();
  for (const id of [1, 2, 3]) {
    h.run(2);
    assert.deepEqual(h.node(id).fsm, ['a'], `node ${id}`);
  }
});

test('a single node elects itself and commits', () => {
  const h = RaftHarness.cluster(1);
  assert.equal(h.elect(1), '1');
  h.raft(1).propose(bytes('x'));
  h.stabilize();
  assert.deepEqual(h.node(1).fsm, ['x']);
});

test('election by timeout after the leader is isolated', () => {
  const h = RaftHarness.cluster(3);
  h.elect(1);
  h.isolate(1);
  h.run(40);
  const leader = h.leader();
  assert.ok(leader === '2' || leader === '3', `leader ${leader}`);
  h.raft(leader!).propose(bytes('b'));
  h.stabilize();
  h.heal();
  h.run(5);
  assert.equal(h.raft(1).role, 'follower');
  assert.deepEqual(h.node(1).fsm, ['b']);
});
