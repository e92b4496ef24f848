// Raft under the simulator's random faults (npm run sim -- --scenario raft): safety after every
// step, liveness after healing. CI sweeps 500 seeds, split across two files so they run in
// parallel (this one and raft-scenario-2.test.ts).
import { it } from 'node:test';
import { sweepRaftSeeds } from './raft-sweep.ts';

it('raft: seeds 1-250 keep every safety invariant and recover after healing', async () => {
  await sweepRaftSeeds(1, 250);
});
