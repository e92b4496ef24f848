// The raft scenario with full disks among its faults (npm run sim -- --scenario raft-disk): a
// node whose disk fills freezes, never acknowledges what it could not write, and carries on once
// space returns. CI sweeps the first 60 seeds; saved seeds, each of which once failed:
//   18, 20  a node restarted while its disk was full could not open its storage (the scenario
//           now restarts it once there is space, as an operator would);
//   271     a node re-announced its stale leadership of an old term when it thawed.
import { it } from 'node:test';
import { sweepRaftSeeds } from './raft-sweep.ts';

it('raft-disk: seeds 1-60 keep every safety invariant through full disks and recover', async () => {
  await sweepRaftSeeds(1, 60, { scenario: 'raft-disk' });
});

it('raft-disk: saved seeds pass', async () => {
  for (const seed of [18, 20, 271]) await sweepRaftSeeds(seed, seed, { scenario: 'raft-disk', checkCoverage: false });
});
