// Runs a range of seeds of the raft scenario, failing with the full report of the first failing
// seed, and checks that the faults and protocol paths the invariants guard really happened.
import assert from 'node:assert/strict';
import { SCENARIOS } from '../../src/sim/scenarios.ts';
import { formatFailureReport } from '../../src/sim/simulation.ts';

export async function sweepRaftSeeds(first: number, last: number, options: { checkCoverage?: boolean; scenario?: 'raft' | 'raft-disk' } = {}): Promise<void> {
  const raft = SCENARIOS[options.scenario ?? 'raft']!;
  const seen = { crashes: 0, tornWrites: 0, leaders: 0, configs: 0, snapshotsSent: 0, diskFull: 0, diskBack: 0, leaderForgotten: 0 };
  for (let seed = first; seed <= last; seed++) {
    const outcome = await raft.run({
      seed,
      traceMaxLines: 40,
      onTraceLine: (l) => {
        if (l.includes(' sim crash ')) seen.crashes++;
        if (l.includes(' torn=')) seen.tornWrites++;
        if (l.includes(' role leader ')) seen.leaders++;
        if (l.includes(' config@')) seen.configs++;
        if (l.includes('raft snapshot installed')) seen.snapshotsSent++;
        if (l.includes('disk full: raft frozen')) seen.diskFull++;
        if (l.includes('refuses connections (its process is gone)')) seen.leaderForgotten++;
        if (l.includes('disk has space again: raft resumed')) seen.diskBack++;
      },
    });
    assert.ok(outcome.result.ok, outcome.result.ok ? '' : formatFailureReport(outcome.result.failure));
  }
  if (options.checkCoverage === false) return;
  const seeds = last - first + 1;
  // Evidence the sweep is not vacuous: every kind of event happens many times across the seeds.
  assert.ok(seen.crashes > seeds, `crashes: ${seen.crashes}`);
  assert.ok(seen.tornWrites > seeds / 10, `torn writes: ${seen.tornWrites}`);
  assert.ok(seen.leaders > seeds, `leaders elected: ${seen.leaders}`);
  assert.ok(seen.configs > seeds, `config entries applied: ${seen.configs}`);
  assert.ok(seen.snapshotsSent > seeds / 10, `snapshots installed from a leader: ${seen.snapshotsSent}`);
  assert.ok(seen.leaderForgotten > seeds / 4, `crashed leaders noticed by their refused port: ${seen.leaderForgotten}`);
  if (options.scenario === 'raft-disk') {
    assert.ok(seen.diskFull > seeds, `nodes frozen on a full disk: ${seen.diskFull}`);
    assert.ok(seen.diskBack > seeds / 2, `nodes resumed after space returned: ${seen.diskBack}`);
  }
}
