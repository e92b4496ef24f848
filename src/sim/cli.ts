// `npm run sim`: replay one seed of a simulation scenario, or sweep many (DESIGN.md, How we
// test, item 3: "Every failure prints the seed; npm run sim -- --seed S replays it").
//
//   npm run sim -- --seed 42 [--steps N] [--trace] [--scenario raft]
//   npm run sim -- --seeds 100 [--from 1] [--steps N] [--scenario raft]
//
// Exit status: 0 all runs passed, 1 a run failed (the seeds and replay commands are printed),
// 2 usage error.

import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_SCENARIO, replayCommand, SCENARIOS, type ScenarioOutcome } from './scenarios.ts';
import { formatFailureReport } from './simulation.ts';
import { formatTimeMs } from './trace.ts';

export interface CliIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

const MAX_SEED = 0xffffffff;

function usage(): string {
  const scenarios = Object.values(SCENARIOS)
    .map((s) => `  ${s.name.padEnd(14)} ${s.description}${s.name === DEFAULT_SCENARIO ? ' (default)' : ''}`)
    .join('\n');
  return `Usage:
  npm run sim -- --seed S [--steps N] [--trace] [--scenario NAME]
      Replay one seed: prints the outcome and the SHA-256 of the trace (--trace prints the trace).
  npm run sim -- --seeds N [--from S] [--steps N] [--scenario NAME]
      Sweep seeds S .. S+N-1 (default S = 1): prints a summary and every failing seed.

Options:
  --seed S        seed to replay (integer 0 .. ${MAX_SEED})
  --seeds N       number of seeds to sweep
  --from S        first seed of a sweep (default 1)
  --steps N       stop each run after N steps (default: the whole scenario)
  --trace         print the full trace of a --seed run
  --scenario NAME scenario to run (default ${DEFAULT_SCENARIO})
  -h, --help      this help

Scenarios:
${scenarios}

Exit status: 0 passed, 1 a run failed, 2 usage error.
`;
}

class UsageError extends Error {}

function parseInteger(name: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError(`--${name} needs a whole number, got ${JSON.stringify(value)}`);
  const n = Number(value);
  if (n < min || n > max) throw new UsageError(`--${name} must be in [${min}, ${max}], got ${value}`);
  return n;
}

/** Runs the CLI; returns the exit status. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: {
        seed: { type: 'string' },
        seeds: { type: 'string' },
        from: { type: 'string' },
        steps: { type: 'string' },
        trace: { type: 'boolean', default: false },
        scenario: { type: 'string', default: DEFAULT_SCENARIO },
        help: { type: 'boolean', short: 'h', default: false },
      },
      allowPositionals: false,
      strict: true,
    });
  } catch (e) {
    io.err(`sim: ${e instanceof Error ? e.message : String(e)}\n\n${usage()}`);
    return 2;
  }
  const v = parsed.values;
  if (v.help) {
    io.out(usage());
    return 0;
  }
  try {
    const seed = parseInteger('seed', v.seed, 0, MAX_SEED);
    const seeds = parseInteger('seeds', v.seeds, 1, MAX_SEED);
    const from = parseInteger('from', v.from, 0, MAX_SEED);
    const steps = parseInteger('steps', v.steps, 1, Number.MAX_SAFE_INTEGER);
    const scenario = SCENARIOS[v.scenario];
    if (scenario === undefined) throw new UsageError(`unknown scenario ${JSON.stringify(v.scenario)} (known: ${Object.keys(SCENARIOS).join(', ')})`);
    if ((seed === undefined) === (seeds === undefined)) throw new UsageError('give either --seed S or --seeds N');
    if (seed !== undefined && from !== undefined) throw new UsageError('--from goes with --seeds');
    if (seeds !== undefined && v.trace) throw new UsageError('--trace goes with --seed');
    if (seeds !== undefined && (from ?? 1) + seeds - 1 > MAX_SEED) throw new UsageError(`--from + --seeds - 1 must not exceed ${MAX_SEED}`);

    if (seed !== undefined) {
      const outcome = await scenario.run({ seed, ...(steps === undefined ? {} : { maxSteps: steps }) });
      if (v.trace) io.out(outcome.simulation.trace.text());
      io.out(`${describeOutcome(outcome)}\n`);
      if (!outcome.result.ok) {
        io.err(formatFailureReport(outcome.result.failure));
        return 1;
      }
      return 0;
    }

    const first = from ?? 1;
    const failed: ScenarioOutcome[] = [];
    let totalSteps = 0;
    for (let s = first; s < first + seeds!; s++) {
      // Keep only a failure report's worth of trace per run: a sweep may be long.
      const outcome = await scenario.run({ seed: s, traceMaxLines: 100, ...(steps === undefined ? {} : { maxSteps: steps }) });
      totalSteps += outcome.result.steps;
      if (!outcome.result.ok) {
        failed.push(outcome);
        io.out(`FAILED ${describeOutcome(outcome)}\n`);
      }
    }
    io.out(
      `scenario ${scenario.name}: ${seeds} seeds (${first}..${first + seeds! - 1}), ${seeds! - failed.length} passed, ${failed.length} failed, ${totalSteps} steps\n`,
    );
    if (failed.length === 0) return 0;
    io.err(formatFailureReport((failed[0]!.result as { failure: Parameters<typeof formatFailureReport>[0] }).failure));
    io.err(`failing seeds: ${failed.map((o) => o.seed).join(' ')}\nreplay with:\n${failed.map((o) => `  ${replayCommand(scenario.name, o.seed, steps)}`).join('\n')}\n`);
    return 1;
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`sim: ${e.message}\n\n${usage()}`);
      return 2;
    }
    throw e;
  }
}

function describeOutcome(o: ScenarioOutcome): string {
  const r = o.result;
  const status = r.ok ? 'ok' : `FAILED at step ${r.failure.step}: ${r.failure.name}`;
  return `scenario ${o.scenario} seed ${o.seed}: ${status}; ${r.steps} steps, t=${formatTimeMs(r.timeMs)} ms, ${o.traceLines} trace lines, trace sha256 ${o.traceDigest}`;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const code = await runCli(process.argv.slice(2), {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
  });
  process.exitCode = code;
}
