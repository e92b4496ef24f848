// A naive placement for property tests: the rules of score.ts and feasibility.ts applied the
// slow, obvious way, recomputing every node's usage, collisions and spread counts from the list
// of placements for every instance. The fast path must produce exactly the same plan.
import { nodeAttribute } from '../../../src/core/scheduler/attributes.ts';
import { aggregateReasons, summarizeReasons } from '../../../src/core/scheduler/explain.ts';
import { checkNode, compileJob, staticInfeasibilities, type NodeUsage } from '../../../src/core/scheduler/feasibility.ts';
import type { NodeInfo, Placement } from '../../../src/core/scheduler/job.ts';
import type { ClusterView, PlacementAsk, PlacementRequest } from '../../../src/core/scheduler/placement.ts';
import { pickDynamicPorts } from '../../../src/core/scheduler/ports.ts';
import { compareScores, fullness, MISSING_SPREAD_BOOST, spreadBoost, type PlacementScore } from '../../../src/core/scheduler/score.ts';

export interface ReferencePlan {
  readonly placed: readonly Placement[];
  readonly failed: ReadonlyArray<{ readonly job: string; readonly indexes: readonly number[]; readonly summary: string }>;
}

export function usageOf(nodeId: string, placements: readonly Placement[]): NodeUsage {
  let cpuMillis = 0;
  let memoryMB = 0;
  const ports = new Set<number>();
  for (const p of placements) {
    if (p.node !== nodeId) continue;
    cpuMillis += p.cpuMillis;
    memoryMB += p.memoryMB;
    for (const port of Object.values(p.ports)) ports.add(port);
  }
  return { cpuMillis, memoryMB, ports };
}

function scope(ask: PlacementAsk, sorted: readonly NodeInfo[]): NodeInfo[] {
  return ask.onlyNodes === undefined ? [...sorted] : sorted.filter((n) => ask.onlyNodes!.includes(n.id));
}

function spreadScore(ask: PlacementAsk, node: NodeInfo, candidates: readonly NodeInfo[], all: readonly NodeInfo[], placements: readonly Placement[]): number {
  const spreads = ask.job.spread;
  if (spreads.length === 0) return 0;
  const weights = spreads.map((s) => (Number.isFinite(s.weight) && s.weight > 0 ? s.weight : 1));
  const totalWeight = weights.reduce((a, b) => a + b, 0);
  let sum = 0;
  spreads.forEach((s, k) => {
    const values = new Set(candidates.map((n) => nodeAttribute(n, s.attribute)).filter((v) => v !== undefined));
    const count = (v: string): number => placements.filter((p) => p.job === ask.job.job && all.some((n) => n.id === p.node && nodeAttribute(n, s.attribute) === v)).length;
    const mine = nodeAttribute(node, s.attribute);
    let boost = MISSING_SPREAD_BOOST;
    if (mine !== undefined) {
      // Same order of additions as the fast path (values in first-seen node order) is not
      // needed: counts are integers, sums exact.
      let total = 1;
      for (const v of values) total += count(v);
      boost = spreadBoost(count(mine), total / values.size);
    }
    sum += weights[k]! * boost;
  });
  return sum / totalWeight;
}

export function referencePlace(request: PlacementRequest, cluster: ClusterView): ReferencePlan {
  const sorted = [...cluster.nodes].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const known = new Set(sorted.map((n) => n.id));
  const placements: Placement[] = cluster.placements.filter((p) => known.has(p.node));
  const placed: Placement[] = [];
  const failed: Array<{ job: string; indexes: number[]; summary: string }> = [];
  for (const ask of request.asks) {
    const nodes = scope(ask, sorted);
    const compiled = compileJob(ask.job);
    const candidates = nodes.filter((n) => staticInfeasibilities(compiled, n).length === 0);
    for (let k = 0; k < ask.indexes.length; k++) {
      const index = ask.indexes[k]!;
      let best: NodeInfo | undefined;
      let bestScore: PlacementScore | undefined;
      for (const node of nodes) {
        const usage = usageOf(node.id, placements);
        if (!checkNode(ask.job, node, usage).ok) continue;
        const score: PlacementScore = {
          spread: spreadScore(ask, node, candidates, sorted, placements),
          collisions: placements.filter((p) => p.job === ask.job.job && p.node === node.id).length,
          fullness: fullness(node.cpuMillis, node.memoryMB, usage.cpuMillis + ask.job.resources.cpuMillis, usage.memoryMB + ask.job.resources.memoryMB),
        };
        if (bestScore === undefined || compareScores(score, bestScore) > 0) {
          best = node;
          bestScore = score;
        }
      }
      if (best === undefined) {
        const perNode = nodes.map((n) => {
          const r = checkNode(ask.job, n, usageOf(n.id, placements));
          return { node: n.id, reasons: r.ok ? [] : r.error };
        });
        const unknown = ask.onlyNodes === undefined ? [] : ask.onlyNodes.filter((id) => !known.has(id));
        failed.push({ job: ask.job.job, indexes: ask.indexes.slice(k), summary: summarizeReasons(nodes.length, aggregateReasons(perNode), unknown) });
        break;
      }
      const ports: Record<string, number> = {};
      for (const p of ask.job.resources.ports) if (p.static !== undefined) ports[p.label] = p.static;
      const dynamicLabels = ask.job.resources.ports.filter((p) => p.static === undefined).map((p) => p.label);
      pickDynamicPorts(usageOf(best.id, placements).ports, ask.job.job, index, dynamicLabels).forEach((port, d) => (ports[dynamicLabels[d]!] = port));
      const placement: Placement = { job: ask.job.job, index, node: best.id, cpuMillis: ask.job.resources.cpuMillis, memoryMB: ask.job.resources.memoryMB, ports };
      placements.push(placement);
      placed.push(placement);
    }
  }
  return { placed, failed };
}
