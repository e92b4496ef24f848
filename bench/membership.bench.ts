// Gossip membership, Sappers agents against HashiCorp serf (Debian package, LAN defaults), both
// as N real processes on 127.0.0.1 of this machine, one system at a time:
//   converge  ms from the first spawn until every agent lists all N as alive
//   detect    ms from SIGKILL of one non-seed agent until every survivor lists it dead
//             (serf: failed)
//   gossip    bytes/s per agent on the gossip ports (UDP + TCP push-pull, IP lengths), counted
//             by nftables on loopback over a steady-state window (full run: 60 s, which spans
//             two push-pull periods (30 s) and our resource republish age (60 s)); the mean, and
//             the median one-second rate (the protocol's quiet cost, without update bursts)
//   RSS       VmRSS per agent after convergence
// and the ratio sappers/serf of each. Target (issue): detection at most half of serf's, with no
// false positives in a 10-minute run at N=25 on a busy machine; that soak is the separate,
// opt-in benchmark `membership-soak` (SAPPERS_BENCH_SOAK_SECONDS overrides its length).
//
// Both systems are polled the same way, every POLL_INTERVAL_MS over a persistent connection
// (our HTTP API; serf's msgpack RPC, see lib/serf-rpc.ts): a sample of agents until they agree,
// then all of them, so a figure is "when the poll first saw it everywhere" (resolution one
// poll interval, the same bias on both sides). Sappers also reports when each observer saw a
// state begin (statusSince), an exact cross-check shown in its own rows. serf has no such field,
// and its pushed member events are no substitute: the agent coalesces them, so member-failed
// arrives about a second after `members` already says failed (measured here with serf 0.8.2).
import { execFileSync } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { buildBundle } from '../scripts/build.ts';
import { BenchChild } from './lib/child.ts';
import { CleanupStack } from './lib/cleanup.ts';
import { startCluster, sleep, type Cluster, type MemberState, type ObservedMember, type SystemName } from './lib/clusters.ts';
import { ensureCommand } from './lib/install.ts';
import { NftGossipCounter } from './lib/nft-counter.ts';
import { PortPicker } from './lib/ports.ts';
import type { BenchContext, BenchReport, Comparison } from './run.ts';

const POLL_INTERVAL_MS = 200;
const VIEW_TIMEOUT_MS = 2_000;
/** Agents polled each round until they agree; then all are checked. */
const SAMPLE_SIZE = 5;
const DETECT_TIMEOUT_MS = 120_000;
const SYSTEMS: readonly SystemName[] = ['sappers', 'serf'];
const MIB = 1024 * 1024;

interface Plan {
  readonly sizes: readonly number[];
  readonly settleMs: number;
  readonly windowMs: number;
  /** Agents killed one after another (each replaced before the next kill). */
  readonly detectRounds: number;
}

interface SystemResult {
  readonly readyMs: number;
  readonly convergeMs: number;
  /** Sappers: from statusSince of the last member to turn alive in the last observer. */
  readonly convergeExactMs: number | undefined;
  readonly gossip: GossipRates | undefined;
  readonly rssMiB: number;
  readonly rssMaxMiB: number;
  /** Median over the kills. */
  readonly detectMs: number;
  readonly detectMaxMs: number;
  /** Sappers: statusSince of "dead" in the last survivor to see it (median over the kills). */
  readonly detectExactMs: number | undefined;
  /** "node-3 saw node-1 suspect": non-alive states of agents that were never killed. */
  readonly falseObservations: readonly string[];
  readonly pollErrors: number;
  readonly notes: readonly string[];
}

type Outcome = { readonly ok: true; readonly result: SystemResult } | { readonly ok: false; readonly reason: string };

function progress(line: string): void {
  process.stderr.write(`[membership] ${line}\n`);
}

export async function runMembershipBench(ctx: BenchContext): Promise<BenchReport> {
  const plan: Plan = ctx.quick ? { sizes: [5], settleMs: 2_000, windowMs: 5_000, detectRounds: 2 } : { sizes: [5, 25], settleMs: 5_000, windowMs: 60_000, detectRounds: 3 };
  const cleanup = new CleanupStack();
  cleanup.install();
  const notes: string[] = [];
  const rows: Array<Record<string, string | number>> = [];
  const comparisons: Comparison[] = [];
  try {
    const serfMissing = ensureCommand('serf', ['version'], 'serf', progress);
    if (serfMissing !== undefined) {
      progress(`serf skipped: ${serfMissing}`);
      notes.push(`serf skipped: ${serfMissing}`);
    }
    const peer = serfMissing === undefined ? `serf ${serfVersion()}` : 'serf';
    const nftMissing = NftGossipCounter.unavailableReason() === undefined ? undefined : (ensureCommand('nft', ['--version'], 'nftables', progress) ?? NftGossipCounter.unavailableReason());
    if (nftMissing !== undefined) notes.push(`gossip bytes n/a: ${nftMissing}`);
    const ports = new PortPicker();
    for (const n of plan.sizes) {
      const outcomes = new Map<SystemName, Outcome>();
      for (const system of SYSTEMS) {
        if (system === 'serf' && serfMissing !== undefined) {
          outcomes.set(system, { ok: false, reason: 'skipped' });
          continue;
        }
        progress(`${system}, N=${n}: starting`);
        try {
          const result = await measureSystem(system, n, plan, { cleanup, ports, repoRoot: ctx.repoRoot, sappersBundle: await bundle(ctx.repoRoot), nftOk: nftMissing === undefined });
          outcomes.set(system, { ok: true, result });
          progress(`${system}, N=${n}: converge ${Math.round(result.convergeMs)} ms, detect ${Math.round(result.detectMs)} ms (median)`);
        } catch (e) {
          const reason = (e as Error).message;
          outcomes.set(system, { ok: false, reason });
          progress(`${system}, N=${n}: FAILED: ${reason}`);
          notes.push(`${system} N=${n} failed: ${reason.split('\n').slice(0, 12).join('\n    ')}`);
        }
      }
      rows.push(...tableRows(n, outcomes));
      comparisons.push(...comparisonsAt(n, outcomes, peer));
      notes.push(...verdicts(n, outcomes));
    }
  } finally {
    cleanup.runAll();
    cleanup.uninstall();
  }
  notes.push(
    `method: agents on 127.0.0.1, one system at a time; seed first, then N-1 at once joining it; polled every ${POLL_INTERVAL_MS} ms ` +
      `(sample of ${SAMPLE_SIZE}, then all); gossip bytes over ${plan.windowMs / 1000} s after ${plan.settleMs / 1000} s settling; ` +
      `${plan.detectRounds} SIGKILLs of non-seed agents, each replaced by a new agent before the next; sappers preset lan with --insecure, serf -profile lan without -encrypt (neither seals its gossip); ${availableParallelism()} CPUs`,
  );
  return {
    name: 'membership',
    title: `Gossip membership: Sappers vs serf, N = ${plan.sizes.join(' and ')} agents on this machine`,
    rows,
    notes,
    comparisons,
  };
}

/** "0.8.2-dev" from `serf version` (Debian's build prints the bare version on its first line). */
function serfVersion(): string {
  const first = execFileSync('serf', ['version'], { encoding: 'utf8', timeout: 10_000 }).split('\n')[0]?.trim() ?? '';
  return first.replace(/^Serf\s+v?/i, '') || 'unknown version';
}

/**
 * The side-by-side figures of one size for the charts: the headline metric of each kind (the
 * polled convergence and median detection, as both systems are measured the same way; mean
 * gossip rate; mean RSS). A failed or skipped side is undefined (the notes say why).
 */
function comparisonsAt(n: number, outcomes: ReadonlyMap<SystemName, Outcome>, peer: string): Comparison[] {
  const label = `N=${n}`;
  const pick = (system: SystemName, value: (r: SystemResult) => number | undefined): number | undefined => {
    const o = outcomes.get(system);
    return o?.ok === true ? value(o.result) : undefined;
  };
  const figure = (chart: string, chartTitle: string, unit: string, value: (r: SystemResult) => number | undefined, target?: Comparison['target']): Comparison => ({
    chart,
    chartTitle,
    label,
    unit,
    peer,
    ours: pick('sappers', value),
    theirs: pick('serf', value),
    better: 'lower',
    ...(target === undefined ? {} : { target }),
  });
  return [
    figure('membership-convergence', 'Membership: convergence, from the first agent start until all see all alive', 'ms', (r) => r.convergeMs),
    // Issue 8's target: failure detection at most half of serf's.
    figure('membership-detection', 'Membership: failure detection, from SIGKILL until every survivor says dead (median)', 'ms', (r) => r.detectMs, { op: '<=', ratio: 0.5 }),
    figure('membership-gossip-bytes', 'Membership: gossip traffic per agent, steady state (UDP + TCP, mean)', 'bytes/s', (r) => r.gossip?.meanBytesPerSec),
    figure('membership-rss', 'Membership: resident memory per agent after convergence (mean)', 'MiB', (r) => r.rssMiB),
  ];
}

interface MeasureDeps {
  readonly cleanup: CleanupStack;
  readonly ports: PortPicker;
  readonly repoRoot: string;
  readonly sappersBundle: string;
  readonly nftOk: boolean;
}

async function measureSystem(system: SystemName, n: number, plan: Plan, deps: MeasureDeps): Promise<SystemResult> {
  const cluster = await startCluster(system, n, { cleanup: deps.cleanup, ports: deps.ports, repoRoot: deps.repoRoot, sappersBundle: deps.sappersBundle, startTimeoutMs: 30_000 + 2_000 * n });
  const notes: string[] = [];
  try {
    const all = cluster.nodes.map((_, i) => i);
    const names = cluster.nodes.map((node) => node.name);
    const latest = new Map<number, ObservedMember[]>();

    // Convergence: every agent lists all N, alive.
    const converged = await pollUntilAll(cluster, all, (_, view) => missingAlive(view, names), {
      timeoutMs: 60_000 + 2_000 * n,
      onView: (i, view) => latest.set(i, view),
    });
    if (converged.doneAtMs === undefined) throw new Error(`no convergence within the time limit: ${converged.lastProblem}`);
    const convergeMs = converged.doneAtMs - cluster.timing.firstSpawnMs;
    const convergeExactMs = exactConvergence(latest, cluster.timing.firstSpawnEpochMs);
    progress(`${system}, N=${n}: all ${n} see all alive after ${Math.round(convergeMs)} ms; settling ${plan.settleMs / 1000} s`);

    // Steady state: no polling during the window, so only gossip and the agents run.
    await sleep(plan.settleMs);
    let gossip: GossipRates | undefined;
    if (deps.nftOk) {
      const counter = NftGossipCounter.create(deps.cleanup, system, cluster.nodes.map((node) => node.gossipPort));
      try {
        gossip = await measureGossip(counter, n, plan.windowMs);
      } finally {
        counter.close();
      }
    } else {
      await sleep(plan.windowMs);
    }
    const rss = cluster.nodes.map((node) => node.child.rssBytes());
    if (rss.some((r) => r === undefined)) throw new Error(`an agent exited during the steady-state window: ${exitedAgents(cluster)}`);
    const rssValues = rss as number[];
    const rssMiB = rssValues.reduce((a, b) => a + b, 0) / rssValues.length / MIB;
    const rssMaxMiB = Math.max(...rssValues) / MIB;

    // Detection: SIGKILL a non-seed agent, wait until every survivor says dead; then start a
    // replacement (a new name), wait until all see it, and kill the next one.
    const falseObservations = new Set<string>();
    const killed = new Set<string>();
    const detections: number[] = [];
    const exactDetections: number[] = [];
    let pollErrors = converged.errors;
    for (let round = 0; round < plan.detectRounds; round++) {
      const victimIndex = 1 + ((Math.floor(n / 2) - 1 + round) % (n - 1));
      const victim = cluster.nodes[victimIndex]!.name;
      const survivors = liveIndices(cluster).filter((i) => i !== victimIndex);
      killed.add(victim);
      latest.clear();
      const killAtMs = performance.now();
      const killAtEpochMs = Date.now();
      cluster.kill(victimIndex);
      const detected = await pollUntilAll(
        cluster,
        survivors,
        (_, view) => {
          const seen = view.find((m) => m.name === victim);
          return seen === undefined || seen.state === 'dead' || seen.state === 'left' ? undefined : `${victim} still ${seen.state}`;
        },
        {
          timeoutMs: DETECT_TIMEOUT_MS,
          onView: (i, view) => {
            latest.set(i, view);
            for (const m of view) if (!killed.has(m.name) && m.state !== 'alive') falseObservations.add(`${cluster.nodes[i]?.name} saw ${m.name} ${m.state}`);
          },
        },
      );
      pollErrors += detected.errors;
      if (detected.doneAtMs === undefined) throw new Error(`the SIGKILLed ${victim} was not marked dead everywhere within ${DETECT_TIMEOUT_MS} ms: ${detected.lastProblem}`);
      detections.push(detected.doneAtMs - killAtMs);
      progress(`${system}, N=${n}: kill ${round + 1}/${plan.detectRounds}: ${victim} dead everywhere after ${Math.round(detected.doneAtMs - killAtMs)} ms`);
      const finalStates = [...latest.values()].map((view) => view.find((m) => m.name === victim)?.state ?? 'absent');
      const unusual = finalStates.filter((s) => s !== 'dead');
      if (unusual.length > 0) notes.push(`${system} N=${n}: ${victim} seen as ${[...new Set(unusual)].join(', ')} (not dead) by ${unusual.length} survivors`);
      if (system === 'sappers') {
        const since = [...latest.values()].map((view) => view.find((m) => m.name === victim)?.stateSinceEpochMs);
        if (since.every((s) => s !== undefined && Number.isFinite(s))) exactDetections.push(Math.max(...(since as number[])) - killAtEpochMs);
      }
      if (liveIndices(cluster).length !== n - 1) throw new Error(`agents exited on their own during the run: ${exitedAgents(cluster, killed)}`);
      if (round + 1 < plan.detectRounds) {
        await cluster.addNode(30_000);
        const live = liveIndices(cluster);
        const liveNames = live.map((i) => cluster.nodes[i]!.name);
        const rejoined = await pollUntilAll(cluster, live, (_, view) => missingAlive(view, liveNames), { timeoutMs: 60_000 + 2_000 * n });
        pollErrors += rejoined.errors;
        if (rejoined.doneAtMs === undefined) throw new Error(`the replacement agent was not seen by all within the time limit: ${rejoined.lastProblem}`);
      }
    }

    return {
      readyMs: cluster.timing.allReadyAfterMs,
      convergeMs,
      convergeExactMs: system === 'sappers' ? convergeExactMs : undefined,
      gossip,
      rssMiB,
      rssMaxMiB,
      detectMs: median(detections),
      detectMaxMs: Math.max(...detections),
      detectExactMs: exactDetections.length === detections.length ? median(exactDetections) : undefined,
      falseObservations: [...falseObservations],
      pollErrors,
      notes,
    };
  } finally {
    await cluster.close();
  }
}

interface GossipRates {
  readonly meanBytesPerSec: number;
  /** The median one-second rate: the quiet protocol cost, without bursts of metadata updates. */
  readonly medianBytesPerSec: number;
  readonly meanPacketsPerSec: number;
  readonly udpShare: number | undefined;
}

/** Gossip rates per agent over WINDOWMS, from counter readings once a second. */
async function measureGossip(counter: NftGossipCounter, n: number, windowMs: number): Promise<GossipRates> {
  const first = counter.read();
  const t0 = performance.now();
  const perSecond: number[] = [];
  let previous = first;
  let previousAt = t0;
  let last = first;
  while (performance.now() - t0 < windowMs) {
    await sleep(Math.min(1_000, windowMs - (performance.now() - t0)));
    last = counter.read();
    const now = performance.now();
    const bytes = last.udpBytes + last.tcpBytes - previous.udpBytes - previous.tcpBytes;
    if (now - previousAt > 100) perSecond.push(bytes / ((now - previousAt) / 1000) / n);
    previous = last;
    previousAt = now;
  }
  const seconds = (performance.now() - t0) / 1000;
  const udp = last.udpBytes - first.udpBytes;
  const tcp = last.tcpBytes - first.tcpBytes;
  const sorted = [...perSecond].sort((a, b) => a - b);
  return {
    meanBytesPerSec: (udp + tcp) / seconds / n,
    medianBytesPerSec: sorted[Math.floor(sorted.length / 2)] ?? 0,
    meanPacketsPerSec: (last.packets - first.packets) / seconds / n,
    udpShare: udp + tcp > 0 ? udp / (udp + tcp) : undefined,
  };
}

interface PollResult {
  /** performance.now() when the round that found every observer satisfied ended. */
  readonly doneAtMs: number | undefined;
  readonly errors: number;
  readonly lastProblem: string;
}

/**
 * Polls OBSERVERS' views until CHECK passes for all (it returns a problem, or undefined when
 * satisfied): first a sample, which costs the agents less while nothing is settled yet, then all.
 */
async function pollUntilAll(
  cluster: Cluster,
  observers: readonly number[],
  check: (index: number, view: ObservedMember[]) => string | undefined,
  options: { readonly timeoutMs: number; readonly onView?: (index: number, view: ObservedMember[]) => void },
): Promise<PollResult> {
  const deadline = performance.now() + options.timeoutMs;
  const sample = pickSample(observers, SAMPLE_SIZE);
  let current = sample;
  let errors = 0;
  let lastProblem = 'not polled yet';
  while (performance.now() < deadline) {
    const roundStart = performance.now();
    const results = await Promise.all(
      current.map((i) =>
        cluster.view(i, VIEW_TIMEOUT_MS).then(
          (view) => ({ i, view, error: undefined }),
          (e: unknown) => ({ i, view: undefined, error: (e as Error).message }),
        ),
      ),
    );
    const doneAtMs = performance.now();
    const problems: string[] = [];
    for (const r of results) {
      if (r.view === undefined) {
        errors++;
        problems.push(`${cluster.nodes[r.i]?.name}: ${r.error}`);
        continue;
      }
      options.onView?.(r.i, r.view);
      const problem = check(r.i, r.view);
      if (problem !== undefined) problems.push(`${cluster.nodes[r.i]?.name}: ${problem}`);
    }
    if (problems.length === 0) {
      if (current.length === observers.length) return { doneAtMs, errors, lastProblem: '' };
      current = observers;
      continue;
    }
    lastProblem = `${problems.length} of ${current.length} polled agents not there yet, e.g. ${problems[0]}`;
    await sleep(Math.max(0, POLL_INTERVAL_MS - (performance.now() - roundStart)));
  }
  return { doneAtMs: undefined, errors, lastProblem };
}

/** Spread over the list: the first, the last, and evenly between. */
function pickSample(observers: readonly number[], size: number): readonly number[] {
  if (observers.length <= size) return observers;
  const out = new Set<number>();
  for (let k = 0; k < size; k++) out.add(observers[Math.round((k * (observers.length - 1)) / (size - 1))]!);
  return [...out];
}

function missingAlive(view: readonly ObservedMember[], names: readonly string[]): string | undefined {
  const alive = new Set(view.filter((m) => m.state === 'alive').map((m) => m.name));
  const missing = names.filter((name) => !alive.has(name));
  return missing.length === 0 ? undefined : `sees ${names.length - missing.length}/${names.length} alive (missing ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', ...' : ''})`;
}

function exactConvergence(views: ReadonlyMap<number, ObservedMember[]>, firstSpawnEpochMs: number): number | undefined {
  let last = Number.NEGATIVE_INFINITY;
  for (const view of views.values()) {
    for (const m of view) {
      if (m.stateSinceEpochMs === undefined || !Number.isFinite(m.stateSinceEpochMs)) return undefined;
      last = Math.max(last, m.stateSinceEpochMs);
    }
  }
  return Number.isFinite(last) ? last - firstSpawnEpochMs : undefined;
}

function liveIndices(cluster: Cluster): number[] {
  return cluster.nodes.flatMap((node, i) => (node.child.running ? [i] : []));
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? Number.NaN : sorted.length % 2 === 1 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
}

function exitedAgents(cluster: Cluster, except: ReadonlySet<string> = new Set()): string {
  return cluster.nodes
    .filter((node) => !except.has(node.name) && !node.child.running)
    .map((node) => `${node.name} (${node.child.exitReason ?? '?'}): ${node.child.outputTail.trim().split('\n').slice(-5).join(' | ')}`)
    .join('; ');
}

function tableRows(n: number, outcomes: ReadonlyMap<SystemName, Outcome>): Array<Record<string, string | number>> {
  const metrics: ReadonlyArray<{ readonly metric: string; readonly value: (r: SystemResult) => number | undefined; readonly digits: number }> = [
    { metric: 'agents up, ms from first start', value: (r) => r.readyMs, digits: 0 },
    { metric: 'converge, ms from first start', value: (r) => r.convergeMs, digits: 0 },
    { metric: 'converge, ms (sappers statusSince)', value: (r) => r.convergeExactMs, digits: 0 },
    { metric: 'converge, ms after all agents up', value: (r) => r.convergeMs - r.readyMs, digits: 0 },
    { metric: 'detect, ms from SIGKILL (median)', value: (r) => r.detectMs, digits: 0 },
    { metric: 'detect, ms from SIGKILL (max)', value: (r) => r.detectMaxMs, digits: 0 },
    { metric: 'detect, ms (sappers statusSince, median)', value: (r) => r.detectExactMs, digits: 0 },
    { metric: 'gossip bytes/s per agent (mean)', value: (r) => r.gossip?.meanBytesPerSec, digits: 0 },
    { metric: 'gossip bytes/s per agent (median second)', value: (r) => r.gossip?.medianBytesPerSec, digits: 0 },
    { metric: 'gossip packets/s per agent (mean)', value: (r) => r.gossip?.meanPacketsPerSec, digits: 1 },
    { metric: 'gossip UDP share of bytes', value: (r) => r.gossip?.udpShare, digits: 2 },
    { metric: 'RSS MiB per agent (mean)', value: (r) => r.rssMiB, digits: 1 },
    { metric: 'RSS MiB per agent (max)', value: (r) => r.rssMaxMiB, digits: 1 },
    { metric: 'false suspicions seen', value: (r) => r.falseObservations.length, digits: 0 },
  ];
  return metrics.map(({ metric, value, digits }) => {
    const cell = (system: SystemName): { text: string | number; num: number | undefined } => {
      const o = outcomes.get(system);
      if (o === undefined || !o.ok) return { text: o?.reason === 'skipped' ? 'skipped' : 'failed', num: undefined };
      const v = value(o.result);
      return v === undefined ? { text: 'n/a', num: undefined } : { text: round(v, digits), num: v };
    };
    const ours = cell('sappers');
    const theirs = cell('serf');
    const ratio = ours.num !== undefined && theirs.num !== undefined && theirs.num > 0 ? round(ours.num / theirs.num, 2) : 'n/a';
    return { N: n, metric, sappers: ours.text, serf: theirs.text, 'sappers/serf': ratio };
  });
}

function verdicts(n: number, outcomes: ReadonlyMap<SystemName, Outcome>): string[] {
  const out: string[] = [];
  const ours = outcomes.get('sappers');
  const theirs = outcomes.get('serf');
  for (const [system, o] of outcomes) {
    if (!o.ok) continue;
    out.push(...o.result.notes);
    if (o.result.falseObservations.length > 0) out.push(`${system} N=${n} false suspicions: ${o.result.falseObservations.slice(0, 6).join('; ')}`);
    if (o.result.pollErrors > 0) out.push(`${system} N=${n}: ${o.result.pollErrors} polls failed or timed out (${VIEW_TIMEOUT_MS} ms)`);
  }
  if (ours?.ok === true && theirs?.ok === true) {
    const ratio = ours.result.detectMs / theirs.result.detectMs;
    out.push(`target N=${n}: detection at most half of serf's: ${ratio <= 0.5 ? 'MET' : 'NOT MET'} (sappers/serf ${round(ratio, 2)})`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// membership-soak: both clusters at once on a machine kept busy by one CPU spinner per core,
// polled every second for the whole run. A false positive is any agent, never killed, that some
// other agent lists as anything but alive (or not at all).

const SOAK_POLL_MS = 1_000;

interface SoakTracker {
  polls: number;
  pollErrors: number;
  /** Alive -> not alive transitions per (observer, member), by the state entered. */
  readonly transitions: Map<MemberState | 'missing', number>;
  readonly falselyDead: Set<string>;
  readonly suspected: Set<string>;
  readonly last: Map<string, MemberState | 'missing'>;
  readonly pushedFailures: string[];
  finalAllAlive: string;
}

export async function runMembershipSoakBench(ctx: BenchContext): Promise<BenchReport> {
  const n = ctx.quick ? 5 : 25;
  const override = Number(process.env.SAPPERS_BENCH_SOAK_SECONDS);
  const durationMs = (Number.isFinite(override) && override > 0 ? override : ctx.quick ? 30 : 600) * 1000;
  const cleanup = new CleanupStack();
  cleanup.install();
  const notes: string[] = [];
  const rows: Array<Record<string, string | number>> = [];
  const clusters: Cluster[] = [];
  const loadSamples: number[] = [];
  try {
    const serfMissing = ensureCommand('serf', ['version'], 'serf', progress);
    if (serfMissing !== undefined) notes.push(`serf skipped: ${serfMissing}`);
    const ports = new PortPicker();
    const spinners = availableParallelism();
    for (let i = 0; i < spinners; i++) BenchChild.start(cleanup, `cpu spinner ${i}`, process.execPath, ['-e', 'for (;;) {}']);
    progress(`soak: ${spinners} CPU spinners running; starting N=${n} of each system`);

    const trackers = new Map<SystemName, SoakTracker>();
    const failed = new Map<SystemName, string>();
    for (const system of SYSTEMS) {
      if (system === 'serf' && serfMissing !== undefined) continue;
      try {
        const cluster = await startCluster(system, n, { cleanup, ports, repoRoot: ctx.repoRoot, sappersBundle: await bundle(ctx.repoRoot), startTimeoutMs: 60_000 + 4_000 * n });
        clusters.push(cluster);
        const names = cluster.nodes.map((node) => node.name);
        const converged = await pollUntilAll(cluster, cluster.nodes.map((_, i) => i), (_, view) => missingAlive(view, names), { timeoutMs: 120_000 + 4_000 * n });
        if (converged.doneAtMs === undefined) throw new Error(`no convergence: ${converged.lastProblem}`);
        progress(`soak: ${system} converged after ${Math.round(converged.doneAtMs - cluster.timing.firstSpawnMs)} ms`);
        const tracker = newTracker();
        trackers.set(system, tracker);
        if (cluster.watchFailures !== undefined) {
          const watch = cluster.watchFailures;
          await Promise.all(cluster.nodes.map((node, i) => watch(i, (name, event) => tracker.pushedFailures.push(`${node.name}: ${event} ${name}`))));
        }
      } catch (e) {
        failed.set(system, (e as Error).message);
        progress(`soak: ${system} FAILED: ${(e as Error).message}`);
        notes.push(`${system} failed to start or converge: ${(e as Error).message.split('\n').slice(0, 12).join('\n    ')}`);
      }
    }

    const active = clusters.filter((c) => trackers.has(c.system));
    progress(`soak: observing ${active.map((c) => c.system).join(' and ') || 'nothing'} for ${durationMs / 1000} s`);
    const start = performance.now();
    let nextReport = start + 60_000;
    while (active.length > 0 && performance.now() - start < durationMs) {
      const roundStart = performance.now();
      await Promise.all(active.map((cluster) => soakRound(cluster, trackers.get(cluster.system)!)));
      loadSamples.push(loadavg()[0] ?? 0);
      for (const cluster of active) {
        const died = cluster.nodes.filter((node) => !node.child.running);
        if (died.length > 0 && !failed.has(cluster.system)) failed.set(cluster.system, `agents exited on their own: ${exitedAgents(cluster)}`);
      }
      if (performance.now() >= nextReport) {
        nextReport += 60_000;
        const summary = active.map((c) => `${c.system} false-dead ${trackers.get(c.system)!.falselyDead.size}`).join(', ');
        progress(`soak: ${Math.round((performance.now() - start) / 1000)} s, ${summary}`);
      }
      await sleep(Math.max(0, SOAK_POLL_MS - (performance.now() - roundStart)));
    }
    const seconds = (performance.now() - start) / 1000;
    for (const cluster of active) {
      const tracker = trackers.get(cluster.system)!;
      const names = cluster.nodes.map((node) => node.name);
      const final = await pollUntilAll(cluster, cluster.nodes.map((_, i) => i), (_, view) => missingAlive(view, names), { timeoutMs: 30_000 });
      tracker.finalAllAlive = final.doneAtMs !== undefined ? 'yes' : `no: ${final.lastProblem}`;
    }

    for (const system of SYSTEMS) {
      const tracker = trackers.get(system);
      if (tracker === undefined) {
        rows.push({ system, N: n, result: system === 'serf' && serfMissing !== undefined ? 'skipped' : 'failed' });
        continue;
      }
      rows.push({
        system,
        N: n,
        seconds: Math.round(seconds),
        polls: tracker.polls,
        'poll errors': tracker.pollErrors,
        'members falsely dead': tracker.falselyDead.size,
        'dead sightings': tracker.transitions.get('dead') ?? 0,
        'suspect sightings': tracker.transitions.get('suspect') ?? 0,
        'missing sightings': tracker.transitions.get('missing') ?? 0,
        'failed events (pushed)': system === 'serf' ? tracker.pushedFailures.length : 'n/a',
        'all alive at end': tracker.finalAllAlive === 'yes' ? 'yes' : 'no',
      });
      if (tracker.finalAllAlive !== 'yes') notes.push(`${system}: at the end ${tracker.finalAllAlive}`);
      if (tracker.falselyDead.size > 0) notes.push(`${system} falsely dead: ${[...tracker.falselyDead].slice(0, 10).join(', ')}`);
      if (tracker.suspected.size > 0) notes.push(`${system} suspected at some point: ${[...tracker.suspected].slice(0, 10).join(', ')}`);
      if (tracker.pushedFailures.length > 0) notes.push(`${system} pushed failure events: ${tracker.pushedFailures.slice(0, 6).join('; ')}`);
      const failure = failed.get(system);
      if (failure !== undefined) notes.push(`${system}: ${failure}`);
      const clean = tracker.falselyDead.size === 0 && tracker.transitions.size === 0 && tracker.finalAllAlive === 'yes' && failure === undefined;
      notes.push(`target ${system}: zero false positives over ${Math.round(seconds)} s at N=${n}: ${clean ? 'MET' : 'NOT MET'}`);
    }
    const meanLoad = loadSamples.length > 0 ? loadSamples.reduce((a, b) => a + b, 0) / loadSamples.length : 0;
    notes.push(
      `method: both systems at once with ${spinners} CPU spinner processes (one per CPU) at normal priority; every agent polled every ` +
        `${SOAK_POLL_MS / 1000} s; mean load average ${round(meanLoad, 1)} on ${availableParallelism()} CPUs`,
    );
  } finally {
    await Promise.all(clusters.map((c) => c.close()));
    cleanup.runAll();
    cleanup.uninstall();
  }
  return {
    name: 'membership-soak',
    title: `Membership false positives: N = ${n} of each system, ${durationMs / 1000} s, machine busy`,
    rows,
    notes,
  };
}

function newTracker(): SoakTracker {
  return {
    polls: 0,
    pollErrors: 0,
    transitions: new Map(),
    falselyDead: new Set(),
    suspected: new Set(),
    last: new Map(),
    pushedFailures: [],
    finalAllAlive: 'not checked',
  };
}

async function soakRound(cluster: Cluster, tracker: SoakTracker): Promise<void> {
  const names = cluster.nodes.map((node) => node.name);
  await Promise.all(
    cluster.nodes.map(async (node, i) => {
      let view: ObservedMember[];
      try {
        view = await cluster.view(i, VIEW_TIMEOUT_MS);
      } catch {
        tracker.pollErrors++;
        return;
      }
      tracker.polls++;
      const byName = new Map(view.map((m) => [m.name, m]));
      for (const name of names) {
        const m = byName.get(name);
        const state = m?.state ?? 'missing';
        const key = `${node.name}>${name}`;
        const before = tracker.last.get(key) ?? 'alive';
        tracker.last.set(key, state);
        if (state !== 'alive' && before === 'alive') tracker.transitions.set(state, (tracker.transitions.get(state) ?? 0) + 1);
        if (state === 'dead' || state === 'left' || state === 'missing') tracker.falselyDead.add(name);
        if (state === 'suspect') tracker.suspected.add(name);
      }
    }),
  );
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** Builds dist/sappers.mjs once per run: agents are measured as they ship. */
let built: Promise<string> | undefined;
function bundle(repoRoot: string): Promise<string> {
  const outfile = join(repoRoot, 'dist', 'sappers.mjs');
  built ??= buildBundle(outfile).then(() => outfile);
  return built;
}
