// Second half of the CI sweep of the raft scenario (see raft-scenario.test.ts), plus replay.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { SCENARIOS } from '../../src/sim/scenarios.ts';
import { sweepRaftSeeds } from './raft-sweep.ts';

it('raft: seeds 251-500 keep every safety invariant and recover after healing', async () => {
  await sweepRaftSeeds(251, 500);
});

it('raft: a seed replays byte for byte', async () => {
  const raft = SCENARIOS.raft!;
  const a = await raft.run({ seed: 9, traceMaxLines: 10 });
  const b = await raft.run({ seed: 9, traceMaxLines: 10 });
  assert.equal(a.traceDigest, b.traceDigest);
  assert.notEqual(a.traceDigest, (await raft.run({ seed: 10, traceMaxLines: 10 })).traceDigest);
});
