// The safety properties of section 5.4 of the Raft paper checked over randomized runs, and the
// extensions of the thesis (pre-vote, check-quorum, leadership transfer, ReadIndex, learners,
// configuration changes, snapshots, flow control, fast backtracking, restart recovery), each
// with its own scenario. Every run is seeded: a failure names its seed.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { bytes, RaftHarness } from './harness.ts';

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
