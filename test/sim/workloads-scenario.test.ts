// The reconciler, node runners (restart tracker) and fake drivers under node crashes, flaps,
// isolations, leader changes and operator actions (npm run sim -- --scenario workloads): the
// five invariants after every step over a sweep of seeds, the faults really happening, replay,
// and a planted bug per invariant to show each one fires.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { SCENARIOS, replayCommand } from '../../src/sim/scenarios.ts';
import { formatFailureReport } from '../../src/sim/simulation.ts';
import { workloadsScenario, type PlantedBug, type WorkloadsScenarioSettings } from '../../src/sim/workloads-scenario.ts';

const workloads = SCENARIOS.workloads!;

// Saved seeds, each of which once failed and stays beyond the CI range: 352 (maxParallel), 359
// (failed rollout with a broken old instance), 680 (superseded rollout) and 3775 (auto-revert to
// a broken version) were reconciler bugs; 865 (stale health after a flap), 2274 (health from
// before an isolation), 2771 (a job stopped and started again before the leader acted on the
// stop) and 1356 (a failed rollout nobody redeployed) were gaps in this checker or its operator.
const SAVED = [352, 359, 680, 865, 1356, 2274, 2771, 3775];

it('workloads: seeds 1-150 and the saved seeds keep every invariant, and the faults really happen', async () => {
  const seen = { crashes: 0, flaps: 0, isolations: 0, lost: 0, leaders: 0, failedRollouts: 0, reverts: 0, restarts: 0, gaveUp: 0, superseded: 0, killedHealthy: 0 };
  const seeds = [...Array.from({ length: 150 }, (_, i) => i + 1), ...SAVED];
  for (const seed of seeds) {
    const outcome = await workloads.run({
      seed,
      traceMaxLines: 40,
      onTraceLine: (l) => {
        if (l.includes(' sim crash ')) seen.crashes++;
        if (l.includes(' (flap)')) seen.flaps++;
        if (l.includes(' fault isolate ')) seen.isolations++;
        if (l.includes(' LOST (')) seen.lost++;
        if (/ sim leader n\d+ term=/.test(l)) seen.leaders++;
        if (/ deployment \S+ v\d+ failed/.test(l)) seen.failedRollouts++;
        if (l.includes(' revert ')) seen.reverts++;
        if (l.includes(' restart: ')) seen.restarts++;
        if (l.includes(' fail: ')) seen.gaveUp++;
        if (l.includes('(superseded by version')) seen.superseded++;
        if (l.includes(') while healthy')) seen.killedHealthy++;
      },
    });
    assert.ok(outcome.result.ok, outcome.result.ok ? '' : formatFailureReport(outcome.result.failure));
  }
  // Evidence the sweep is not vacuous: every path the invariants guard is taken many times.
  const n = seeds.length;
  for (const [name, min] of Object.entries({ crashes: n, flaps: n, isolations: n, lost: n, leaders: 2 * n, failedRollouts: n / 2, reverts: n / 10, restarts: n, gaveUp: n / 2, superseded: n / 10, killedHealthy: n })) {
    assert.ok(seen[name as keyof typeof seen] >= min, `${name}: ${seen[name as keyof typeof seen]} (at least ${min} expected) ${JSON.stringify(seen)}`);
  }
});

it('workloads: a seed replays byte for byte', async () => {
  const a = await workloads.run({ seed: 7, traceMaxLines: 10 });
  const b = await workloads.run({ seed: 7, traceMaxLines: 10 });
  assert.equal(a.traceDigest, b.traceDigest);
  assert.notEqual(a.traceDigest, (await workloads.run({ seed: 8, traceMaxLines: 10 })).traceDigest);
});

it('workloads: each invariant catches the bug planted for it, with the seed and the replay command', async () => {
  const base: WorkloadsScenarioSettings = { nodeChoices: [3, 4, 5, 6, 7], faultPhaseMs: 90_000, quietPhaseMs: 60_000, lostGraceMs: 8000, meanFaultGapMs: 4000, meanOperatorGapMs: 6000 };
  const expected: Record<PlantedBug, RegExp> = {
    grace: /^4 flaps/,
    'double-place': /^2 instances/,
    'kill-before-healthy': /^3 serving/,
    overcommit: /^1 capacity/,
    'ignore-stops': /^(5 liveness|1 capacity)/,
  };
  for (const [bug, name] of Object.entries(expected) as [PlantedBug, RegExp][]) {
    const scenario = workloadsScenario(`workloads-${bug}`, 'test only', { ...base, plantedBug: bug }, (seed) => replayCommand(`workloads-${bug}`, seed));
    let caught = 0;
    for (let seed = 1; seed <= 5; seed++) {
      const outcome = await scenario.run({ seed, traceMaxLines: 30 });
      if (outcome.result.ok) continue;
      assert.match(outcome.result.failure.name, name, `${bug}: ${outcome.result.failure.name}: ${outcome.result.failure.message}`);
      const report = formatFailureReport(outcome.result.failure);
      assert.match(report, new RegExp(`seed ${seed}`));
      assert.match(report, new RegExp(`npm run sim -- --seed ${seed} --scenario workloads-${bug}`));
      caught++;
    }
    assert.ok(caught >= 4, `${bug} was caught on ${caught} of 5 seeds`);
  }
});
