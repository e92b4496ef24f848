// Benchmark entry: `npm run bench -- [--quick] [--json] [--no-results] [NAME...]`. Runs the
// named benchmarks (all when none is named) and prints a table per benchmark, or one JSON
// document with --json. Figures measured side by side with a real peer (etcd, serf) come as
// Comparisons: their ratios ours/theirs are printed (a table, or `ratios` in the JSON), and
// after each benchmark its report goes to bench/results/<name>.json with one SVG chart per
// comparison chart, bench/results/<chart>.svg (issue 8), unless --no-results.
// Each benchmark is a function from context to report; add new ones to BENCHMARKS.
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assert } from '../src/core/result.ts';
import { runKvBench, runKvSoakBench } from './kv.bench.ts';
import { runMembershipBench, runMembershipSoakBench } from './membership.bench.ts';
import { runRaftBench } from './raft.bench.ts';
import { runRaftWireBench } from './raft-wire.bench.ts';
import { runSchedulerBench } from './scheduler.bench.ts';
import { runWalBench } from './wal.bench.ts';
import { runWorkloadsBench } from './workloads.bench.ts';
import { groupByChart, ratioSummary, ratioTableRows, reportWithRatios } from './lib/ratios.ts';
import { renderComparisonChart } from './lib/svg-chart.ts';

export interface BenchContext {
  /** Short runs, for a smoke check (seconds, not minutes). */
  readonly quick: boolean;
  readonly repoRoot: string;
}

export interface BenchReport {
  readonly name: string;
  readonly title: string;
  readonly rows: ReadonlyArray<Record<string, string | number>>;
  readonly notes: readonly string[];
  /** Side-by-side figures against a real peer (etcd, serf): ratios in the JSON, one SVG chart each. */
  readonly comparisons?: readonly Comparison[];
}

/**
 * One figure measured for Sappers and for the peer in the same run. Comparisons with the same
 * `chart` are drawn together, one pair of bars per `label`. The ratio is always ours/theirs;
 * `better` says which way is good and `target` is the goal on that ratio, if any.
 */
export interface Comparison {
  /** File-name-safe chart id, e.g. "kv-write-throughput"; the SVG is bench/results/<chart>.svg. */
  readonly chart: string;
  /** Chart title, e.g. "KV writes, 3 nodes, durable: throughput". */
  readonly chartTitle: string;
  /** The x position within the chart, e.g. "64 clients" or "N=25". */
  readonly label: string;
  /** e.g. "writes/s", "ms", "MiB". */
  readonly unit: string;
  /** Peer name and version, e.g. "etcd 3.4.23". */
  readonly peer: string;
  /** undefined when that side could not be measured (the reason goes in the notes). */
  readonly ours: number | undefined;
  readonly theirs: number | undefined;
  readonly better: 'higher' | 'lower';
  readonly target?: { readonly op: '>=' | '<='; readonly ratio: number };
}

const BENCHMARKS: Readonly<Record<string, (ctx: BenchContext) => Promise<BenchReport>>> = {
  wal: runWalBench,
  membership: runMembershipBench,
  'membership-soak': runMembershipSoakBench,
  'raft-wire': runRaftWireBench,
  raft: runRaftBench,
  scheduler: runSchedulerBench,
  workloads: runWorkloadsBench,
  kv: runKvBench,
  'kv-soak': runKvSoakBench,
};

/** Too long for a default run: these run only when named. */
const ON_REQUEST: ReadonlySet<string> = new Set(['membership-soak', 'kv-soak']);

const FLAGS: Readonly<Record<string, string>> = {
  '--quick': 'short runs, for a smoke check',
  '--json': 'one JSON document on stdout (reports with ratios, and a ratios summary) instead of tables',
  '--no-results': 'do not write bench/results/<benchmark>.json and <chart>.svg',
};

function usage(): string {
  const flags = Object.entries(FLAGS).map(([flag, help]) => `  ${flag.padEnd(13)} ${help}`);
  return [
    `usage: node bench/run.ts [--quick] [--json] [--no-results] [${Object.keys(BENCHMARKS).join('|')}]...`,
    ...flags,
    `  all benchmarks but ${[...ON_REQUEST].join(', ')} run when none is named`,
  ].join('\n');
}

interface BenchEnv {
  readonly node: string;
  readonly platform: string;
  readonly cpus: number;
  readonly cpuModel: string;
  readonly quick: boolean;
  readonly date: string;
}

/** The result files of REPORT: <name>.json (the report with ratios, and ENV) and <chart>.svg each. */
function resultFiles(report: BenchReport, env: BenchEnv): Array<{ readonly file: string; readonly content: string }> {
  assert(SAFE_FILE_NAME.test(report.name), `benchmark name ${report.name} is not file-name-safe`);
  const files = [{ file: `${report.name}.json`, content: `${JSON.stringify({ env, report: reportWithRatios(report), ratios: ratioSummary([report]) }, null, 2)}\n` }];
  for (const [chart, comparisons] of groupByChart(report.comparisons ?? [])) {
    assert(SAFE_FILE_NAME.test(chart), `chart id ${chart} is not file-name-safe`);
    files.push({ file: `${chart}.svg`, content: renderComparisonChart(comparisons) });
  }
  return files;
}

const SAFE_FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export function formatTable(rows: ReadonlyArray<Record<string, string | number>>): string {
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cell = (v: string | number | undefined): string => (v === undefined ? '' : String(v));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values: string[]): string => values.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ');
  return [line(columns), line(widths.map((w) => '-'.repeat(w))), ...rows.map((r) => line(columns.map((c) => cell(r[c]))))].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const flags = new Set(argv.filter((a) => a.startsWith('--')));
  const names = argv.filter((a) => !a.startsWith('--'));
  for (const f of flags) {
    if (!Object.hasOwn(FLAGS, f)) {
      process.stderr.write(`unknown flag ${f}\n${usage()}\n`);
      return 2;
    }
  }
  const unknown = names.filter((n) => !(n in BENCHMARKS));
  if (unknown.length > 0) {
    process.stderr.write(`unknown benchmark ${unknown.join(', ')}\n${usage()}\n`);
    return 2;
  }
  const ctx: BenchContext = { quick: flags.has('--quick'), repoRoot: dirname(dirname(fileURLToPath(import.meta.url))) };
  const env: BenchEnv = {
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    quick: ctx.quick,
    date: new Date().toISOString(),
  };
  const resultsDir = join(ctx.repoRoot, 'bench', 'results');
  const selected = names.length > 0 ? names : Object.keys(BENCHMARKS).filter((n) => !ON_REQUEST.has(n));
  const reports: BenchReport[] = [];
  const chartsWritten = new Map<string, string>();
  let exitCode = 0;
  for (const name of selected) {
    const run = BENCHMARKS[name];
    if (run === undefined) continue;
    const report = await run(ctx);
    reports.push(report);
    if (!flags.has('--json')) {
      const notes = report.notes.map((n) => `  ${n}\n`).join('');
      process.stdout.write(`\n${report.title}\n\n${formatTable(report.rows)}\n${notes}`);
      if (report.comparisons !== undefined && report.comparisons.length > 0) {
        process.stdout.write(`\n${report.name}: ours vs peer\n\n${formatTable(ratioTableRows(report.comparisons))}\n`);
      }
    }
    // Written as each benchmark ends, so a long run that fails later keeps what it measured.
    if (!flags.has('--no-results')) {
      for (const chart of groupByChart(report.comparisons ?? []).keys()) {
        const owner = chartsWritten.get(chart);
        assert(owner === undefined, `chart id ${chart} used by both ${owner} and ${report.name}`);
        chartsWritten.set(chart, report.name);
      }
      const files = resultFiles(report, env);
      try {
        mkdirSync(resultsDir, { recursive: true });
        for (const { file, content } of files) {
          const path = join(resultsDir, file);
          writeFileSync(path, content);
          process.stderr.write(`wrote ${path}\n`);
        }
      } catch (e) {
        process.stderr.write(`could not write the results of ${report.name} to ${resultsDir}: ${(e as Error).message}\n`);
        exitCode = 1;
      }
    }
  }
  if (flags.has('--json')) {
    const withRatios = reports.map(reportWithRatios);
    process.stdout.write(`${JSON.stringify({ env, reports: withRatios, ratios: ratioSummary(reports) }, null, 2)}\n`);
  }
  return exitCode;
}

process.exitCode = await main(process.argv.slice(2));
