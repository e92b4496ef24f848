// WAL throughput on the real disk: 1 KiB records, (a) one append awaited at a time, so every
// record pays its own fdatasync, versus (b) many concurrent appenders whose appends the WAL
// batches into shared fdatasyncs (group commit). The gap between the two is the reason the WAL
// batches (DESIGN.md, Dependencies).
import { statfs } from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeFileSystem } from '../src/runtime/storage/node-fs.ts';
import { Wal } from '../src/runtime/storage/wal.ts';
import { CountingFileSystem } from './lib/counting-fs.ts';
import type { BenchContext, BenchReport } from './run.ts';

const RECORD_BYTES = 1024;
const TMPFS_MAGIC = 0x01021994;

interface Scenario {
  readonly name: string;
  readonly appenders: number;
}

const SCENARIOS: readonly Scenario[] = [
  { name: 'fsync per entry (1 appender)', appenders: 1 },
  { name: 'group commit (8 appenders)', appenders: 8 },
  { name: 'group commit (64 appenders)', appenders: 64 },
];

export async function runWalBench(ctx: BenchContext): Promise<BenchReport> {
  const durationMs = ctx.quick ? 1000 : 5000;
  const { dir, where } = await benchDir(ctx.repoRoot);
  const rows: Array<Record<string, string | number>> = [];
  try {
    for (const scenario of SCENARIOS) {
      const r = await runScenario(join(dir, scenario.name.replace(/\W+/g, '-')), scenario.appenders, durationMs);
      rows.push({
        scenario: scenario.name,
        appends: r.appends,
        seconds: round(r.seconds, 2),
        'appends/s': Math.round(r.appends / r.seconds),
        'MiB/s': round((r.appends * RECORD_BYTES) / r.seconds / (1024 * 1024), 2),
        fdatasyncs: r.syncs,
        'appends/sync': round(r.appends / Math.max(1, r.syncs), 1),
        'p50 ms': round(percentile(r.latenciesMs, 0.5), 2),
        'p99 ms': round(percentile(r.latenciesMs, 0.99), 2),
      });
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const perEntry = rows[0]?.['appends/s'];
  const batched = rows[rows.length - 1]?.['appends/s'];
  const speedup = typeof perEntry === 'number' && typeof batched === 'number' && perEntry > 0 ? round(batched / perEntry, 1) : 'n/a';
  return {
    name: 'wal',
    title: `WAL appends, ${RECORD_BYTES}-byte records, ${durationMs / 1000} s per scenario`,
    rows,
    notes: [`directory: ${where}`, `group commit (64) vs fsync per entry: ${speedup}x appends/s`],
  };
}

async function runScenario(dir: string, appenders: number, durationMs: number): Promise<{ appends: number; seconds: number; syncs: number; latenciesMs: number[] }> {
  const fs = new CountingFileSystem(new NodeFileSystem());
  const opened = await Wal.open(fs, dir);
  if (!opened.ok) throw opened.error;
  const wal = opened.value.wal;
  const payload = new Uint8Array(RECORD_BYTES).fill(0x5a);
  const latenciesMs: number[] = [];
  let appends = 0;
  const syncsBefore = fs.counts().syncs;
  const start = performance.now();
  const deadline = start + durationMs;
  const appender = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const t = performance.now();
      await wal.append([payload]);
      latenciesMs.push(performance.now() - t);
      appends++;
    }
  };
  await Promise.all(Array.from({ length: appenders }, appender));
  const seconds = (performance.now() - start) / 1000;
  const syncs = fs.counts().syncs - syncsBefore;
  await wal.close();
  return { appends, seconds, syncs, latenciesMs };
}

/** os.tmpdir() unless it is a tmpfs (where fsync costs nothing); then a directory in the repo. */
async function benchDir(repoRoot: string): Promise<{ dir: string; where: string }> {
  const tmp = tmpdir();
  const stats = await statfs(tmp);
  if (stats.type !== TMPFS_MAGIC) {
    const dir = await mkdtemp(join(tmp, 'sappers-bench-wal-'));
    return { dir, where: `${dir} (os.tmpdir(), not tmpfs)` };
  }
  const dir = await mkdtemp(join(repoRoot, 'bench', '.tmp-wal-'));
  return { dir, where: `${dir} (in the repo: os.tmpdir() is tmpfs)` };
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
