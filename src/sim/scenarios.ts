// Named simulation scenarios for `npm run sim`. A scenario builds a Simulation from a seed,
// installs its invariants and fault schedule, and runs it; the CLI replays or sweeps seeds.
//
// echo: five echo nodes on a lossy, duplicating, reordering network with drifting clocks; a
//   random fault schedule (partitions, one-way blocks, crashes with torn writes, restarts,
//   loss changes, stalled disks) for faultPhaseMs, then everything healed and a liveness phase.
// echo-nosync: the same with the ack-before-fsync bug planted; the durability invariant is
//   expected to catch it (evidence that the simulator finds real bugs).
// workloads: the reconciler, node runners and fake drivers under node crashes, flaps,
//   isolations, leader changes and job updates (see workloads-scenario.ts for the invariants).

import { applyFaultSchedule, randomFaultSchedule } from './faults.ts';
import { EchoMonitor, EchoNode, installEchoInvariants } from './echo.ts';
import { Simulation, type RunResult } from './simulation.ts';
import { raftScenario } from './raft-scenario.ts';
import { swimScenario } from './swim-scenario.ts';
import { workloadsScenario } from './workloads-scenario.ts';

export interface ScenarioRunOptions {
  readonly seed: number;
  /** Stop after this many steps (default: run the whole scenario). */
  readonly maxSteps?: number;
  /** Called with every trace line as it is recorded (e.g. to print the trace). */
  readonly onTraceLine?: (line: string) => void;
  /** Trace lines kept in memory (default all). */
  readonly traceMaxLines?: number;
}

export interface ScenarioOutcome {
  readonly scenario: string;
  readonly seed: number;
  readonly result: RunResult;
  readonly traceDigest: string;
  readonly traceLines: number;
  readonly simulation: Simulation<unknown>;
}

export interface Scenario {
  readonly name: string;
  readonly description: string;
  run(options: ScenarioRunOptions): Promise<ScenarioOutcome>;
}

export const DEFAULT_SCENARIO = 'raft';

/** The command that replays one seed of a scenario (scenario and steps only when not default). */
export function replayCommand(scenario: string, seed: number, maxSteps?: number): string {
  let cmd = `npm run sim -- --seed ${seed}`;
  if (scenario !== DEFAULT_SCENARIO) cmd += ` --scenario ${scenario}`;
  if (maxSteps !== undefined) cmd += ` --steps ${maxSteps}`;
  return cmd;
}

interface EchoScenarioSettings {
  readonly nodes: number;
  readonly faultPhaseMs: number;
  readonly livenessPhaseMs: number;
  readonly syncBeforeAck: boolean;
}

function echoScenario(name: string, description: string, settings: EchoScenarioSettings): Scenario {
  return {
    name,
    description,
    async run(options) {
      const sim = new Simulation<EchoNode>({
        seed: options.seed,
        replayCommand: replayCommand(name, options.seed, options.maxSteps),
        clockDriftMax: 0.01,
        network: {
          defaultLink: { delayMinMs: 1, delayMaxMs: 15, lossProbability: 0.05, duplicateProbability: 0.05, reorderProbability: 0.1, reorderExtraMaxMs: 30 },
        },
        ...(options.traceMaxLines === undefined ? {} : { traceMaxLines: options.traceMaxLines }),
      });
      if (options.onTraceLine !== undefined) sim.trace.onLine(options.onTraceLine);
      const ids = Array.from({ length: settings.nodes }, (_, i) => `n${i + 1}`);
      const peers = ids.map((id) => ({ id, ...sim.addressesOf(id) }));
      const monitor = new EchoMonitor();
      const healedAtMs = settings.faultPhaseMs;
      const endMs = settings.faultPhaseMs + settings.livenessPhaseMs;
      installEchoInvariants(sim, monitor, { healedAtMs, checkAtMs: endMs });
      for (const id of ids) {
        sim.addNode(id, (ctx) => EchoNode.start(ctx, { peers, monitor, syncBeforeAck: settings.syncBeforeAck }));
      }
      const schedule = randomFaultSchedule(sim.random('faults'), {
        nodes: ids,
        durationMs: settings.faultPhaseMs,
        meanGapMs: 80,
        baseLossProbability: 0.05,
        // Stalled disks often enough that crashes land while writes wait for their sync.
        weights: { 'slow-disk': 3, crash: 2 },
      });
      applyFaultSchedule(sim, schedule);
      const result = await sim.run(options.maxSteps === undefined ? { untilMs: endMs } : { untilMs: endMs, maxSteps: options.maxSteps });
      sim.trace.record('sim', `end steps=${result.steps} echoes=${monitor.totalEchoes} ${result.ok ? 'ok' : 'FAILED'}`);
      return {
        scenario: name,
        seed: options.seed,
        result,
        traceDigest: sim.trace.digest(),
        traceLines: sim.trace.count,
        simulation: sim as Simulation<unknown>,
      };
    },
  };
}

export const SCENARIOS: Readonly<Record<string, Scenario>> = {
  echo: echoScenario('echo', 'echo protocol, 5 nodes, random faults for 2 s, then 1 s of healed liveness', {
    nodes: 5,
    faultPhaseMs: 2000,
    livenessPhaseMs: 1000,
    syncBeforeAck: true,
  }),
  'echo-nosync': echoScenario('echo-nosync', 'echo with the ack-before-fsync bug planted: durability must fail', {
    nodes: 5,
    faultPhaseMs: 2000,
    livenessPhaseMs: 1000,
    syncBeforeAck: false,
  }),
  swim: swimScenario(
    'swim',
    'SWIM membership, 7 nodes, random partitions, loss, crashes and restarts for 60 s, then 60 s healed: every node must see every node alive',
    { nodes: 7, faultPhaseMs: 60_000, livenessPhaseMs: 60_000 },
    (seed, maxSteps) => replayCommand('swim', seed, maxSteps),
  ),
  raft: raftScenario(
    'raft',
    'Raft, 3/5/7 voters plus 2 spare nodes, a client writing and reading, configuration changes and snapshots, random partitions, loss, crashes with torn writes and restarts for 8 s, then 6 s healed: safety after every step, then a leader must commit',
    { voterChoices: [3, 5, 7], spareNodes: 2, faultPhaseMs: 8000, livenessPhaseMs: 6000, snapshotEveryEntries: 40, meanFaultGapMs: 400 },
    (seed, maxSteps) => replayCommand('raft', seed, maxSteps),
  ),
  'raft-disk': raftScenario(
    'raft-disk',
    'the raft scenario with full disks too: a node\'s disk fills for 0.1-3 s (it must freeze, never acknowledge or lose a write, and carry on once space returns)',
    { voterChoices: [3, 5], spareNodes: 1, faultPhaseMs: 8000, livenessPhaseMs: 6000, snapshotEveryEntries: 40, meanFaultGapMs: 400, faultWeights: { 'disk-full': 3 } },
    (seed, maxSteps) => replayCommand('raft-disk', seed, maxSteps),
  ),
  workloads: workloadsScenario(
    'workloads',
    'reconciler, node runners and fake drivers, 3-7 nodes, node crashes, flaps, isolations, leader changes, loss, job updates (broken versions too), scaling and stops for 90 s, then 60 s healed: capacity, instances per index, no kill before healthy, no rescheduling on flaps after every step, then everything runs as asked',
    { nodeChoices: [3, 4, 5, 6, 7], faultPhaseMs: 90_000, quietPhaseMs: 60_000, lostGraceMs: 8000, meanFaultGapMs: 4000, meanOperatorGapMs: 6000 },
    (seed, maxSteps) => replayCommand('workloads', seed, maxSteps),
  ),
};
