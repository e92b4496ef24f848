// Random fault schedules for seed sweeps: partitions (symmetric and one-way), heals, crashes,
// restarts and loss changes, drawn from one Random so a seed names one schedule. A schedule is
// plain data, generated up front: it can be printed, and it never depends on what the nodes do.
// The generator keeps it valid (only up nodes crash, only down nodes restart, at most maxDown
// nodes down at once) and ends with everything repaired, so a liveness phase can follow.

import { assert, unreachable } from '../core/result.ts';
import type { Random } from '../core/random.ts';
import type { Simulation } from './simulation.ts';

export type Fault =
  | { readonly kind: 'partition'; readonly groups: ReadonlyArray<ReadonlyArray<string>> }
  | { readonly kind: 'block'; readonly from: string; readonly to: string }
  | { readonly kind: 'heal' }
  | { readonly kind: 'crash'; readonly node: string }
  | { readonly kind: 'restart'; readonly node: string }
  | { readonly kind: 'loss'; readonly probability: number }
  /** The node's disk holds every file sync for durationMs (a slow or stalled disk). */
  | { readonly kind: 'slow-disk'; readonly node: string; readonly durationMs: number }
  /** The node's disk is full (every write fails with no-space) for durationMs. */
  | { readonly kind: 'disk-full'; readonly node: string; readonly durationMs: number };

export type FaultKind = Fault['kind'];

export interface ScheduledFault {
  readonly atMs: number;
  readonly fault: Fault;
}

export interface FaultScheduleOptions {
  /** Node ids (which are also their host names). */
  readonly nodes: readonly string[];
  /** Faults happen in [0, durationMs); at durationMs everything is repaired. */
  readonly durationMs: number;
  /** Mean gap between faults (gaps are uniform in [1, 2 * meanGapMs]). */
  readonly meanGapMs: number;
  /** Most nodes down at once (default: a minority, floor((n - 1) / 2)). */
  readonly maxDown?: number;
  /** Relative weights of the fault kinds (default: all 1, but 0 for disk-full). A weight of 0 disables a kind. */
  readonly weights?: Partial<Record<FaultKind, number>>;
  /** Loss changes draw a probability in [0, maxLossProbability] (default 0.3). */
  readonly maxLossProbability?: number;
  /** Probability that a slow-disk fault is followed by a crash of that node during the stall (default 0.3). */
  readonly crashDuringSlowDiskProbability?: number;
  /** Loss probability restored at the end (default 0). */
  readonly baseLossProbability?: number;
}

const KINDS: readonly FaultKind[] = ['partition', 'block', 'heal', 'crash', 'restart', 'loss', 'slow-disk', 'disk-full'];
/** Off unless asked for: schedules drawn before it existed (saved seeds) stay the same. */
const DEFAULT_WEIGHTS: Partial<Record<FaultKind, number>> = { 'disk-full': 0 };

export function randomFaultSchedule(random: Random, options: FaultScheduleOptions): ScheduledFault[] {
  const nodes = [...options.nodes];
  assert(nodes.length > 0, 'a fault schedule needs nodes');
  assert(options.meanGapMs >= 1 && options.durationMs >= 0, 'meanGapMs >= 1 and durationMs >= 0');
  const maxDown = options.maxDown ?? Math.floor((nodes.length - 1) / 2);
  const maxLoss = options.maxLossProbability ?? 0.3;
  const crashWhileStalled = options.crashDuringSlowDiskProbability ?? 0.3;
  const weightOf = (kind: FaultKind): number => options.weights?.[kind] ?? DEFAULT_WEIGHTS[kind] ?? 1;
  /** Crashed (or about to crash) nodes -> when the crash happens. */
  const down = new Map<string, number>();
  const out: ScheduledFault[] = [];
  let t = 0;
  for (;;) {
    t += 1 + random.int(2 * options.meanGapMs);
    if (t >= options.durationMs) break;
    const up = nodes.filter((n) => !down.has(n));
    const restartable = [...down].filter(([, atMs]) => atMs < t).map(([n]) => n).sort();
    const possible = KINDS.filter((kind) => {
      if (weightOf(kind) <= 0) return false;
      if (kind === 'crash') return down.size < maxDown && up.length > 0;
      if (kind === 'restart') return restartable.length > 0;
      if (kind === 'slow-disk' || kind === 'disk-full') return up.length > 0;
      if (kind === 'partition' || kind === 'block') return nodes.length >= 2;
      return true;
    });
    if (possible.length === 0) continue;
    const kind = pickWeighted(random, possible, weightOf);
    const fault = drawFault(random, kind, nodes, up, restartable, maxLoss);
    if (fault.kind === 'crash') down.set(fault.node, t);
    if (fault.kind === 'restart') down.delete(fault.node);
    out.push({ atMs: t, fault });
    if (fault.kind === 'slow-disk' && down.size < maxDown && random.float() < crashWhileStalled) {
      // Power loss while writes wait for their sync: the case that tears files and tests
      // whether anything was acknowledged before it was durable.
      const crashAtMs = Math.min(t + 1 + random.int(fault.durationMs), options.durationMs - 1);
      if (crashAtMs > t) {
        down.set(fault.node, crashAtMs);
        out.push({ atMs: crashAtMs, fault: { kind: 'crash', node: fault.node } });
      }
    }
  }
  const end = options.durationMs;
  out.push({ atMs: end, fault: { kind: 'heal' } });
  out.push({ atMs: end, fault: { kind: 'loss', probability: options.baseLossProbability ?? 0 } });
  for (const node of [...down.keys()].sort()) out.push({ atMs: end, fault: { kind: 'restart', node } });
  // Stable: faults at one time keep their generation order.
  return out.map((f, i) => ({ f, i })).sort((a, b) => a.f.atMs - b.f.atMs || a.i - b.i).map(({ f }) => f);
}

function drawFault(random: Random, kind: FaultKind, nodes: string[], up: string[], down: string[], maxLoss: number): Fault {
  switch (kind) {
    case 'partition': {
      // Each node joins one of two or three sides; an empty side just means a smaller split.
      const sides = 2 + random.int(2);
      const groups: string[][] = Array.from({ length: sides }, () => []);
      for (const n of nodes) groups[random.int(sides)]!.push(n);
      return { kind, groups: groups.filter((g) => g.length > 0) };
    }
    case 'block': {
      const from = nodes[random.int(nodes.length)]!;
      const others = nodes.filter((n) => n !== from);
      return { kind, from, to: others[random.int(others.length)]! };
    }
    case 'heal':
      return { kind };
    case 'crash':
      return { kind, node: up[random.int(up.length)]! };
    case 'restart':
      return { kind, node: down[random.int(down.length)]! };
    case 'loss':
      return { kind, probability: Math.round(random.float() * maxLoss * 100) / 100 };
    case 'slow-disk':
      return { kind, node: up[random.int(up.length)]!, durationMs: 10 + random.int(191) };
    case 'disk-full':
      return { kind, node: up[random.int(up.length)]!, durationMs: 100 + random.int(3000) };
    default:
      return unreachable(kind);
  }
}

function pickWeighted<T>(random: Random, items: readonly T[], weight: (item: T) => number): T {
  const total = items.reduce((sum, item) => sum + weight(item), 0);
  let x = random.float() * total;
  for (const item of items) {
    x -= weight(item);
    if (x < 0) return item;
  }
  return items[items.length - 1]!;
}

export function formatFault(fault: Fault): string {
  switch (fault.kind) {
    case 'partition':
      return `partition ${fault.groups.map((g) => g.join(',')).join(' | ')}`;
    case 'block':
      return `block ${fault.from} -> ${fault.to}`;
    case 'heal':
      return 'heal';
    case 'crash':
      return `crash ${fault.node}`;
    case 'restart':
      return `restart ${fault.node}`;
    case 'loss':
      return `loss ${fault.probability}`;
    case 'slow-disk':
      return `slow-disk ${fault.node} ${fault.durationMs}ms`;
    case 'disk-full':
      return `disk-full ${fault.node} ${fault.durationMs}ms`;
    default:
      return unreachable(fault);
  }
}

/** Applies one fault now. Crashing a down node or restarting an up one is skipped (traced). */
export function applyFault<N>(sim: Simulation<N>, fault: Fault): void {
  switch (fault.kind) {
    case 'partition':
      sim.network.partition(fault.groups);
      return;
    case 'block':
      sim.network.block(fault.from, fault.to);
      return;
    case 'heal':
      sim.network.heal();
      return;
    case 'crash':
      if (sim.node(fault.node).status === 'up') sim.crash(fault.node);
      else sim.trace.record('sim', `skip crash ${fault.node}: already down`);
      return;
    case 'restart':
      if (sim.node(fault.node).status !== 'down') {
        sim.trace.record('sim', `skip restart ${fault.node}: already up`);
      } else if (sim.node(fault.node).disk.capacityBytes !== undefined) {
        // A node cannot start on a full disk (its storage refuses to open with a clear error);
        // the operator, or systemd, starts it again once there is space.
        sim.schedule(100, `restart ${fault.node} once its disk has space`, () => applyFault(sim, fault));
      } else {
        sim.restart(fault.node);
      }
      return;
    case 'loss':
      sim.network.setDefaultLink({ lossProbability: fault.probability });
      return;
    case 'slow-disk': {
      // Syncs wait until resumed; a crash in between drops them (and resets the pause).
      const disk = sim.node(fault.node).disk;
      disk.pauseSyncs();
      sim.schedule(fault.durationMs, `disk ${fault.node} resumes syncs`, () => disk.resumeSyncs());
      return;
    }
    case 'disk-full': {
      // Full from now: not one more byte fits. The disk outlives a crash and restart meanwhile.
      const disk = sim.node(fault.node).disk;
      disk.setCapacityBytes(disk.usedBytes());
      sim.schedule(fault.durationMs, `disk ${fault.node} has space again`, () => disk.setCapacityBytes(undefined));
      return;
    }
    default:
      unreachable(fault);
  }
}

/** Schedules every fault at its time (relative to now). */
export function applyFaultSchedule<N>(sim: Simulation<N>, schedule: readonly ScheduledFault[]): void {
  const start = sim.clock.nowMs();
  for (const { atMs, fault } of schedule) {
    sim.clock.scheduleAt(start + atMs, () => {
      sim.trace.record('sim', `fault ${formatFault(fault)}`);
      applyFault(sim, fault);
    });
  }
}
