// place(request, cluster) -> plan: where each requested instance goes (DESIGN.md, scheduler;
// issue 6). Pure and deterministic: nodes are taken in ID order whatever order they come in,
// asks and their instance indexes in the order given, ties go to the lowest node ID, and the
// optional bounded scan starts at a point hashed from the job name. Same input, same plan.
//
// Per instance: the nodes that satisfy the job's constraints (computed once per job) are
// checked for room (cpu, memory, ports; O(1) each from the incremental ClusterState) and
// ranked by score.ts. Cost is O(candidate nodes) per instance, with no rescans of what is
// placed; `maxScoredNodes` bounds it further for very large clusters (Nomad limits scoring to
// two fitting nodes for plain service jobs, "power of two choices"; Sparrow, SOSP 2013).
//
// Placing only adds load, so once one instance of an ask finds no node, the rest of that ask
// cannot fit either: they fail together, with the reasons counted once over the nodes.
import { assert } from '../result.ts';
import { ClusterState } from './cluster-state.ts';
import { aggregateReasons, summarizeReasons, type NodeReasons, type ReasonCount } from './explain.ts';
import { capacityInfeasibilities, compileJob, staticallyFeasible, staticInfeasibilities, type CompiledJob } from './feasibility.ts';
import type { JobSpec, NodeInfo, Placement } from './job.ts';
import { fnv1a32, pickDynamicPorts } from './ports.ts';
import { fullness, type PlacementScore } from './score.ts';
import { SpreadScorer } from './spread.ts';

/** Instances of one job to place. */
export interface PlacementAsk {
  readonly job: JobSpec;
  /** Instance indexes, placed in this order; each (job, index) at most once per request. */
  readonly indexes: readonly number[];
  /**
   * Only these nodes may take them: a system job's instance for its node, a leader job's on
   * the Raft leader. Absent: any node.
   */
  readonly onlyNodes?: readonly string[];
}

export interface PlacementRequest {
  readonly asks: readonly PlacementAsk[];
  /**
   * Score at most this many nodes that fit, per instance, scanning from a rotating start.
   * Absent: score every node that fits (the best plan). Jobs with spread always score every
   * node, as spreading evenly needs to see every value.
   */
  readonly maxScoredNodes?: number;
}

/** What the scheduler sees of the cluster. */
export interface ClusterView {
  readonly nodes: readonly NodeInfo[];
  /** What holds resources now (the reconciler leaves out what it stops in the same plan). Placements on unknown nodes are ignored. */
  readonly placements: readonly Placement[];
}

export interface PlacedInstance {
  readonly placement: Placement;
  /** The winning node's score. */
  readonly score: PlacementScore;
  /** Nodes that could have taken it among those scored (all candidates unless maxScoredNodes). */
  readonly nodesFit: number;
}

export interface PlacementFailure {
  readonly job: string;
  /** The instances of the ask left unplaced, in ask order. */
  readonly indexes: readonly number[];
  /** Nodes checked: all nodes, or the ask's onlyNodes that exist. */
  readonly nodesEvaluated: number;
  readonly reasons: readonly ReasonCount[];
  /** onlyNodes the cluster does not have. */
  readonly unknownNodes: readonly string[];
  /** e.g. "3 nodes lack memory, 1 node fails constraint tag.zone == a". */
  readonly summary: string;
}

export interface PlacementPlan {
  /** In request order. */
  readonly placed: readonly PlacedInstance[];
  /** One per ask that could not place all its instances, in request order. */
  readonly failed: readonly PlacementFailure[];
}

interface JobPrep {
  readonly compiled: CompiledJob;
  /** Node indexes (ascending) meeting eligibility and constraints: cached per JobSpec object. */
  readonly candidates: Int32Array;
}

export function place(request: PlacementRequest, cluster: ClusterView): PlacementPlan {
  const limit = request.maxScoredNodes;
  assert(limit === undefined || (Number.isSafeInteger(limit) && limit >= 1), `maxScoredNodes must be a positive integer, got ${limit}`);
  const state = new ClusterState(cluster.nodes, cluster.placements);
  const prepared = new Map<JobSpec, JobPrep>();
  const asked = new Set<string>();
  const placed: PlacedInstance[] = [];
  const failed: PlacementFailure[] = [];

  for (const ask of request.asks) {
    const { job } = ask;
    checkAsk(ask, asked);
    let prep = prepared.get(job);
    if (prep === undefined) {
      const compiled = compileJob(job);
      prep = { compiled, candidates: staticCandidates(state, compiled, undefined) };
      prepared.set(job, prep);
    }
    const { compiled } = prep;
    const unknownNodes = ask.onlyNodes === undefined ? [] : ask.onlyNodes.filter((id) => state.indexOf(id) === undefined);
    const candidates = ask.onlyNodes === undefined ? prep.candidates : staticCandidates(state, compiled, ask.onlyNodes);
    const jobCounts = state.jobCounts(job.job);
    const spread = job.spread.length > 0 && candidates.length > 0 ? new SpreadScorer(state, job.spread, candidates, jobCounts) : undefined;
    const scan: Scan = { state, compiled, candidates, jobCounts, spread, limit: spread === undefined ? limit : undefined, cursor: fnv1a32(job.job) % Math.max(1, candidates.length) };

    for (let k = 0; k < ask.indexes.length; k++) {
      const index = ask.indexes[k]!;
      const choice = choose(scan);
      if (choice === undefined) {
        failed.push(explainFailure(state, compiled, ask, ask.indexes.slice(k), unknownNodes));
        break;
      }
      const i = choice.node;
      const ports: Record<string, number> = {};
      for (const { label, port } of compiled.staticPorts) ports[label] = port;
      const dynamic = pickDynamicPorts(state.ports(i), job.job, index, compiled.dynamicLabels);
      compiled.dynamicLabels.forEach((label, d) => (ports[label] = dynamic[d]!));
      const placement: Placement = { job: job.job, index, node: state.nodes[i]!.id, cpuMillis: job.resources.cpuMillis, memoryMB: job.resources.memoryMB, ports };
      state.add(i, job.job, placement.cpuMillis, placement.memoryMB, Object.values(ports));
      spread?.record(i);
      placed.push({ placement, score: choice.score, nodesFit: choice.nodesFit });
    }
  }
  return { placed, failed };
}

function checkAsk(ask: PlacementAsk, asked: Set<string>): void {
  const { job } = ask;
  const { cpuMillis, memoryMB } = job.resources;
  assert(Number.isFinite(cpuMillis) && cpuMillis >= 0 && Number.isFinite(memoryMB) && memoryMB >= 0, `job ${job.job}: resources must be finite and non-negative`);
  for (const index of ask.indexes) {
    assert(Number.isSafeInteger(index) && index >= 0, `job ${job.job}: instance index ${index}`);
    const key = `${job.job}\u0000${index}`;
    assert(!asked.has(key), `job ${job.job}: instance ${index} asked twice in one request`);
    asked.add(key);
  }
}

function staticCandidates(state: ClusterState, compiled: CompiledJob, onlyNodes: readonly string[] | undefined): Int32Array {
  const out: number[] = [];
  if (onlyNodes === undefined) {
    for (let i = 0; i < state.size; i++) if (staticallyFeasible(compiled, state.nodes[i]!)) out.push(i);
  } else {
    const indexes = new Set<number>();
    for (const id of onlyNodes) {
      const i = state.indexOf(id);
      if (i !== undefined) indexes.add(i);
    }
    for (const i of [...indexes].sort((a, b) => a - b)) if (staticallyFeasible(compiled, state.nodes[i]!)) out.push(i);
  }
  return Int32Array.from(out);
}

interface Scan {
  readonly state: ClusterState;
  readonly compiled: CompiledJob;
  readonly candidates: Int32Array;
  readonly jobCounts: Int32Array;
  readonly spread: SpreadScorer | undefined;
  readonly limit: number | undefined;
  /** Where the bounded scan starts next (a position in candidates). */
  cursor: number;
}

interface Choice {
  readonly node: number;
  readonly score: PlacementScore;
  readonly nodesFit: number;
}

/**
 * The best node for one more instance, or undefined when none fits. The hot loop of the
 * scheduler: flat arrays, no allocation per node.
 */
function choose(scan: Scan): Choice | undefined {
  const { state, compiled, candidates, jobCounts, spread, limit } = scan;
  const cpu = compiled.job.resources.cpuMillis;
  const mem = compiled.job.resources.memoryMB;
  const checkPorts = compiled.staticPorts.length > 0 || compiled.dynamicLabels.length > 0;
  const { capCpuMillis, capMemoryMB, usedCpuMillis, usedMemoryMB } = state;
  const n = candidates.length;
  if (n === 0) return undefined;
  spread?.prepare();
  const bounded = limit !== undefined && limit < n;
  const start = bounded ? scan.cursor : 0;

  let best = -1;
  let bestSpread = -Infinity;
  let bestCollisions = Infinity;
  let bestFullness = -Infinity;
  let fit = 0;
  let step = 0;
  for (; step < n; step++) {
    let c = start + step;
    if (c >= n) c -= n;
    const i = candidates[c]!;
    const cpuAfter = usedCpuMillis[i]! + cpu;
    if (cpuAfter > capCpuMillis[i]!) continue;
    const memAfter = usedMemoryMB[i]! + mem;
    if (memAfter > capMemoryMB[i]!) continue;
    if (checkPorts && !state.portsFit(i, compiled)) continue;
    fit++;
    const s = spread === undefined ? 0 : spread.score(i);
    const collisions = jobCounts[i]!;
    const full = fullness(capCpuMillis[i]!, capMemoryMB[i]!, cpuAfter, memAfter);
    let better: boolean;
    if (s !== bestSpread) better = s > bestSpread;
    else if (collisions !== bestCollisions) better = collisions < bestCollisions;
    else if (full !== bestFullness) better = full > bestFullness;
    else better = i < best; // only reachable out of ID order, in a bounded scan that wrapped
    if (better) {
      best = i;
      bestSpread = s;
      bestCollisions = collisions;
      bestFullness = full;
    }
    if (bounded && fit >= limit) {
      step++;
      break;
    }
  }
  if (bounded) scan.cursor = (start + step) % n;
  if (best < 0) return undefined;
  return { node: best, score: { spread: bestSpread, collisions: bestCollisions, fullness: bestFullness }, nodesFit: fit };
}

function explainFailure(state: ClusterState, compiled: CompiledJob, ask: PlacementAsk, indexes: readonly number[], unknownNodes: readonly string[]): PlacementFailure {
  const scope: number[] = [];
  if (ask.onlyNodes === undefined) for (let i = 0; i < state.size; i++) scope.push(i);
  else for (const id of new Set(ask.onlyNodes)) {
    const i = state.indexOf(id);
    if (i !== undefined) scope.push(i);
  }
  scope.sort((a, b) => a - b);
  const perNode: NodeReasons[] = scope.map((i) => {
    const node = state.nodes[i]!;
    return { node: node.id, reasons: [...staticInfeasibilities(compiled, node), ...capacityInfeasibilities(compiled, node, state.usage(i))] };
  });
  const reasons = aggregateReasons(perNode);
  return { job: ask.job.job, indexes, nodesEvaluated: scope.length, reasons, unknownNodes, summary: summarizeReasons(scope.length, reasons, unknownNodes) };
}
