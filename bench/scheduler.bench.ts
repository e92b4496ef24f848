// Scheduler throughput: placements per second of the pure scheduler (src/core/scheduler,
// place()) for 10,000 instances over 1,000 simulated nodes, one thread, several job shapes:
//   bin-pack          100 jobs x 100 instances, mixed sizes, one dynamic port each
//   spread 3 zones    the same, each job spread over tag.zone (3 zones)
//   constraints       the same, each job with 1-3 constraints (tag, version, memory)
//   one job x 10,000  one job: every instance scored against its own collisions
//   bin-pack, loaded  bin-pack onto a cluster already running 10,000 instances
//   bin-pack, bounded bin-pack scoring at most 2 fitting nodes per instance (maxScoredNodes)
// Each plan is timed whole (cluster state built from the input, jobs compiled, every instance
// placed); the median and best of several runs after one warm-up. Quality columns: nodes used,
// the most instances of one job on a node, and the worst spread imbalance (max - min per zone).
// Issue 6's target: at least 10,000 placements/s on one core. Nomad's C1M figure is a published
// reference line only (different workload, hardware and a five-server cluster), not a peer run.
//   node bench/scheduler.bench.ts [--quick]
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { DEFAULT_RESTART, DEFAULT_STOP_TIMEOUT_MS, DEFAULT_UPDATE, type Constraint, type JobSpec, type NodeInfo, type Placement, type Spread } from '../src/core/scheduler/job.ts';
import { place, type ClusterView, type PlacementPlan, type PlacementRequest } from '../src/core/scheduler/placement.ts';
import type { BenchContext, BenchReport } from './run.ts';

const NODES = 1_000;
const JOBS = 100;
const PER_JOB = 100;
const ZONES = ['a', 'b', 'c'];
/** HashiCorp's C1M (2016): a million containers over 5,000 hosts, about 3,750 placements/s across five Nomad servers. */
const NOMAD_C1M_PER_SECOND = 3_750;
const TARGET_PER_SECOND = 10_000;

function simulatedNodes(): NodeInfo[] {
  return Array.from({ length: NODES }, (_, i) => {
    const size = [1, 2, 4][i % 3]!;
    return {
      id: `node-${String(i).padStart(4, '0')}`,
      version: i % 10 === 0 ? '0.9.3' : '1.2.0',
      tags: { zone: ZONES[Math.floor(i / 7) % ZONES.length]!, class: i % 4 === 0 ? 'gpu' : 'std', rack: `r${i % 40}` },
      cpuMillis: 8_000 * size,
      memoryMB: 16_384 * size,
      diskFreeMB: 500_000,
      cpuCores: 8 * size,
      eligible: i % 97 !== 0,
    };
  });
}

function jobSpec(name: string, k: number, extra: { spread?: Spread[]; constraints?: Constraint[] }): JobSpec {
  return {
    job: name,
    type: 'service',
    count: PER_JOB,
    driver: 'process',
    config: { command: 'sleep', args: ['infinity'] },
    env: {},
    resources: { cpuMillis: 100 + (k % 10) * 100, memoryMB: 128 * (1 + (k % 8)), ports: [{ label: 'http' }] },
    constraints: extra.constraints ?? [],
    spread: extra.spread ?? [],
    restart: DEFAULT_RESTART,
    update: DEFAULT_UPDATE,
    stopTimeoutMs: DEFAULT_STOP_TIMEOUT_MS,
  };
}

const CONSTRAINT_POOL: Constraint[] = [
  { attribute: 'tag.class', operator: '==', value: 'std' },
  { attribute: 'node.version', operator: 'version>=', value: '1.0' },
  { attribute: 'resources.memoryMB', operator: '>=', value: '32768' },
  { attribute: 'tag.rack', operator: 'not-in', value: 'r1, r2, r3' },
  { attribute: 'tag.zone', operator: 'regex', value: '^[ab]$' },
];

type Shape = 'plain' | 'spread' | 'constraints';

function manyJobs(shape: Shape, prefix = 'job'): PlacementRequest['asks'] {
  return Array.from({ length: JOBS }, (_, k) => {
    const extra =
      shape === 'spread'
        ? { spread: [{ attribute: 'tag.zone', weight: 50 }] }
        : shape === 'constraints'
          ? { constraints: Array.from({ length: 1 + (k % 3) }, (_, c) => CONSTRAINT_POOL[(k + c) % CONSTRAINT_POOL.length]!) }
          : {};
    return { job: jobSpec(`${prefix}-${String(k).padStart(3, '0')}`, k, extra), indexes: Array.from({ length: PER_JOB }, (_, i) => i) };
  });
}

interface Scenario {
  readonly name: string;
  readonly request: PlacementRequest;
  readonly cluster: ClusterView;
}

function scenarios(nodes: NodeInfo[]): Scenario[] {
  const empty: ClusterView = { nodes, placements: [] };
  const running: Placement[] = place({ asks: manyJobs('plain', 'running') }, empty).placed.map((p) => p.placement);
  return [
    { name: 'bin-pack', request: { asks: manyJobs('plain') }, cluster: empty },
    { name: 'spread over 3 zones', request: { asks: manyJobs('spread') }, cluster: empty },
    { name: 'constraints (1-3 per job)', request: { asks: manyJobs('constraints') }, cluster: empty },
    { name: 'one job x 10,000', request: { asks: [{ job: jobSpec('big', 3, {}), indexes: Array.from({ length: JOBS * PER_JOB }, (_, i) => i) }] }, cluster: empty },
    { name: `bin-pack, ${running.length} running`, request: { asks: manyJobs('plain') }, cluster: { nodes, placements: running } },
    { name: 'bin-pack, 2 nodes scored', request: { asks: manyJobs('plain'), maxScoredNodes: 2 }, cluster: empty },
  ];
}

function quality(plan: PlacementPlan, nodes: readonly NodeInfo[]): { nodesUsed: number; maxPerNode: number; spreadGap: number } {
  const zoneOf = new Map(nodes.map((n) => [n.id, n.tags['zone']!]));
  const perJobNode = new Map<string, number>();
  const perJobZone = new Map<string, Map<string, number>>();
  const used = new Set<string>();
  for (const { placement: p } of plan.placed) {
    used.add(p.node);
    const key = `${p.job}\u0000${p.node}`;
    perJobNode.set(key, (perJobNode.get(key) ?? 0) + 1);
    const zones = perJobZone.get(p.job) ?? new Map(ZONES.map((z) => [z, 0]));
    zones.set(zoneOf.get(p.node)!, (zones.get(zoneOf.get(p.node)!) ?? 0) + 1);
    perJobZone.set(p.job, zones);
  }
  let spreadGap = 0;
  for (const zones of perJobZone.values()) spreadGap = Math.max(spreadGap, Math.max(...zones.values()) - Math.min(...zones.values()));
  return { nodesUsed: used.size, maxPerNode: Math.max(0, ...perJobNode.values()), spreadGap };
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export async function runSchedulerBench(ctx: BenchContext): Promise<BenchReport> {
  const runs = ctx.quick ? 2 : 7;
  const nodes = simulatedNodes();
  const rows: Array<Record<string, string | number>> = [];
  const notes: string[] = [];
  let worstMedian = Infinity;
  for (const s of scenarios(nodes)) {
    const asked = s.request.asks.reduce((n, a) => n + a.indexes.length, 0);
    let plan = place(s.request, s.cluster); // warm-up: let the JIT settle
    const seconds: number[] = [];
    for (let r = 0; r < runs; r++) {
      const start = performance.now();
      plan = place(s.request, s.cluster);
      seconds.push((performance.now() - start) / 1000);
    }
    const placed = plan.placed.length;
    const perSecond = placed / median(seconds);
    worstMedian = Math.min(worstMedian, perSecond);
    const q = quality(plan, nodes);
    rows.push({
      scenario: s.name,
      asked,
      placed,
      'ms/plan (median)': Math.round(median(seconds) * 1000 * 10) / 10,
      'placements/s (median)': Math.round(perSecond),
      'placements/s (best)': Math.round(placed / Math.min(...seconds)),
      'x Nomad C1M': Math.round((perSecond / NOMAD_C1M_PER_SECOND) * 10) / 10,
      'nodes used': q.nodesUsed,
      'max of a job on a node': q.maxPerNode,
      'spread gap': q.spreadGap,
    });
    if (plan.failed.length > 0) notes.push(`${s.name}: ${plan.failed.length} asks left instances unplaced, e.g. ${plan.failed[0]!.job}: ${plan.failed[0]!.summary}`);
  }
  notes.push(
    `${NODES} nodes (8, 16 or 32 cores; 16, 32 or 64 GiB; 3 zones; 1 in 97 ineligible); each plan timed whole, median and best of ${runs} after one warm-up; one thread; node ${process.version}`,
    `Nomad C1M reference: ~${NOMAD_C1M_PER_SECOND} placements/s across five servers, HashiCorp's published figure (2016), not measured here and not the same workload or hardware; 'x Nomad C1M' = median / ${NOMAD_C1M_PER_SECOND}`,
    `target (issue 6): at least ${TARGET_PER_SECOND} placements/s on one core: ${worstMedian >= TARGET_PER_SECOND ? 'MET' : 'NOT MET'} in every scenario (slowest median ${Math.round(worstMedian)}/s)`,
    `'spread gap': largest (max - min) of one job's instances per zone; 'max of a job on a node': most instances of one job sharing a node`,
  );
  return {
    name: 'scheduler',
    title: `Scheduler: placing ${JOBS * PER_JOB} instances over ${NODES} simulated nodes (pure place(), one core)`,
    rows,
    notes,
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  // Standalone (run.ts is not imported: importing it runs every registered benchmark).
  const report = await runSchedulerBench({ quick: process.argv.includes('--quick'), repoRoot: '' });
  process.stdout.write(`${report.title}\n`);
  for (const row of report.rows) process.stdout.write(`  ${Object.entries(row).map(([k, v]) => `${k}=${v}`).join('  ')}\n`);
  process.stdout.write(`  ${report.notes.join('\n  ')}\n`);
}
