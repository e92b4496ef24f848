// Benchmark entry: `npm run bench -- [--quick] [--json] [NAME...]`. Runs the named benchmarks
// (all when none is named) and prints a table per benchmark, or one JSON document with --json.
// Each benchmark is a function from context to report; add new ones to BENCHMARKS.
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runMembershipBench, runMembershipSoakBench } from './membership.bench.ts';
import { runRaftBench } from './raft.bench.ts';
import { runRaftWireBench } from './raft-wire.bench.ts';
import { runSchedulerBench } from './scheduler.bench.ts';
import { runWalBench } from './wal.bench.ts';
import { runWorkloadsBench } from './workloads.bench.ts';

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
};

/** Too long for a default run: these run only when named. */
const ON_REQUEST: ReadonlySet<string> = new Set(['membership-soak']);

function usage(): string {
  return `usage: node bench/run.ts [--quick] [--json] [${Object.keys(BENCHMARKS).join('|')}]...`;
}

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
    if (f !== '--quick' && f !== '--json') {
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
  const selected = names.length > 0 ? names : Object.keys(BENCHMARKS).filter((n) => !ON_REQUEST.has(n));
  const reports: BenchReport[] = [];
  for (const name of selected) {
    const run = BENCHMARKS[name];
    if (run === undefined) continue;
    const report = await run(ctx);
    reports.push(report);
    if (!flags.has('--json')) {
      const notes = report.notes.map((n) => `  ${n}\n`).join('');
      process.stdout.write(`\n${report.title}\n\n${formatTable(report.rows)}\n${notes}`);
    }
  }
  if (flags.has('--json')) {
    const env = { node: process.version, platform: `${process.platform}-${process.arch}`, quick: ctx.quick, date: new Date().toISOString() };
    process.stdout.write(`${JSON.stringify({ env, reports }, null, 2)}\n`);
  }
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
