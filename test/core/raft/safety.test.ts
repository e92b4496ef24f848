// The safety properties of section 5.4 of the Raft paper checked over randomized runs, and the
// extensions of the thesis (pre-vote, check-quorum, leadership transfer, ReadIndex, learners,
// configuration changes, snapshots, flow control, fast backtracking, restart recovery), each
// with its own scenario. Every run is seeded: a failure names its seed.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { bytes, nid, RaftHarness } from './harness.ts';
import { PAPER, voteReq } from './direct.ts';

describe('Regressions', () => {
  test('an append lost in an idle cluster is sent again (the entry commits without further proposals)', () => {
    const h = RaftHarness.cluster(3);
    h.elect(1);
    h.run(3);
    h.raft(1).propose(bytes('x'));
    h.processReadies();
    assert.equal(h.queue.filter((m) => m.type === 'append').length, 2);
    h.queue = []; // both appends are lost; the followers are in replicate state
    h.run(3); // a few heartbeat rounds, no new proposal
    for (const id of [1, 2, 3]) assert.deepEqual(h.node(id).fsm, ['x'], `node ${id}`);
  });
});

describe('Regressions (bugs found by these tests)', () => {
  test('a lost answer to a snapshot does not leave the follower behind forever', () => {
    const h = RaftHarness.cluster(3);
    h.elect(1);
    h.isolate(3);
    for (let i = 0; i < 5; i++) h.raft(1).propose(bytes(`a${i}`));
    h.run(2);
    h.snapshotAndCompact(1);
    h.heal();
    // Deliver everything, but lose node 3's answer to the snapshot.
    let snapshotDelivered = false;
    let lost = 0;
    for (let round = 0; round < 5; round++) {
      h.tickAll();
      for (let i = 0; i < 50; i++) {
        h.processReadies();
        h.queue = h.queue.filter((m) => {
          if (m.type === 'snapshot' && m.to === '3') snapshotDelivered = true;
          else if (snapshotDelivered && lost === 0 && m.type === 'append-response' && m.from === '3') return lost++ > 0;
          return true;
        });
        if (h.deliverAll() === 0) break;
      }
    }
    assert.ok(snapshotDelivered && lost === 1);
    h.raft(1).propose(bytes('after'));
    h.run(5);
    assert.deepEqual(h.node(3).fsm, ['a0', 'a1', 'a2', 'a3', 'a4', 'after']);
  });

  test('a leader that demoted itself and restarted before the change committed does not deadlock the cluster', () => {
    // Two voters; leader 2 demotes itself. The change is in effect in its log at once (T 4.1) but
    // reaches nobody. After a restart node 2 is a learner in its own view, while node 1 still
    // needs node 2's vote - and node 2's log is ahead, so node 1 can never win alone.
    const h = RaftHarness.cluster(2);
    h.elect(2);
    const change = h.raft(2).proposeConfigChange({ kind: 'demote', node: nid(2) });
    assert.ok(change.ok);
    h.processReadies();
    h.queue = [];
    h.crash(2);
    h.restart(2);
    h.run(100);
    const leader = h.leader();
    assert.equal(leader, '1');
    assert.deepEqual(h.raft(1).log.config, { voters: ['1'], learners: ['2'] });
    h.raft(1).propose(bytes('y'));
    h.run(3);
    assert.deepEqual(h.node(2).fsm, ['y']);
  });

  test('a node that installed a snapshot and then leads can send that snapshot on', () => {
    const h = RaftHarness.cluster(3);
    h.elect(1);
    h.isolate(3);
    for (let i = 0; i < 5; i++) h.raft(1).propose(bytes(`a${i}`));
    h.run(2);
    h.snapshotAndCompact(1);
    h.heal();
    h.run(3);
    assert.ok(h.log.some((l) => l.startsWith('1->3 snapshot')));
    assert.ok(h.raft(1).transferLeadership(nid(3)).ok);
    h.run(3);
    assert.equal(h.leader(), '3');
    // A new, empty node joins as a learner: everything it needs lies behind node 3's snapshot.
    h.add([4]);
    assert.ok(h.raft(3).proposeConfigChange({ kind: 'add-learner', node: nid(4) }).ok);
    h.run(5);
    assert.ok(h.log.some((l) => l.startsWith('3->4 snapshot')));
    assert.deepEqual(h.node(4).fsm, ['a0', 'a1', 'a2', 'a3', 'a4']);
  });

  test('a commit decided by the leader\'s own disk write reaches the followers without waiting for a heartbeat', () => {
    // One voter and a learner: the leader's own fsync is what commits, in advance().
    const h = new RaftHarness();
    h.add([1], { voters: [nid(1)], learners: [nid(2)] });
    h.add([2], { voters: [nid(1)], learners: [nid(2)] });
    h.elect(1);
    h.raft(1).propose(bytes('x'));
    h.stabilize(); // no tick: no heartbeat
    assert.deepEqual(h.node(1).fsm, ['x']);
    assert.deepEqual(h.node(2).fsm, ['x']);
  });
});

describe('Regressions (bugs found by these tests), continued', () => {
  test('without pre-vote and check-quorum, a node with a higher term still answers a stale leader (Figure 2)', () => {
    // A learner that learned a higher term from a removed node's vote request (it never campaigns
    // itself, so it never tells the leader): unless it answers the stale appends, the leader
    // never learns the newer term and the learner never receives another entry.
    const h = new RaftHarness({ raft: PAPER });
    h.add([1, 2], { voters: [nid(1)], learners: [nid(2)] });
    h.elect(1);
    h.raft(1).propose(bytes('a'));
    h.stabilize();
    h.raft(2).step(voteReq(3, 2, 5, 1, 1)); // node 3 is gone; its request still raises node 2's term
    assert.equal(h.raft(2).term, 5);
    h.raft(1).propose(bytes('b'));
    h.run(50);
    assert.deepEqual(h.node(2).fsm, ['a', 'b']);
    assert.ok(h.raft(1).term > 5);
  });
});
