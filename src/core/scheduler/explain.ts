// Why instances could not be placed, counted over nodes ("3 nodes lack memory, 1 node fails
// constraint tag.zone == a"), for `job status`, "why is this pending" output and events. A node
// counts once under each reason it has, so the counts may add up to more than the nodes.
import { reasonKey, reasonPhrase, type Infeasibility } from './feasibility.ts';

export interface ReasonCount {
  /** Groups equal reasons: reasonPhrase(reason, 2). */
  readonly key: string;
  /** The first node's reason of this key (figures such as free memory are that node's). */
  readonly example: Infeasibility;
  readonly nodes: number;
}

export interface NodeReasons {
  readonly node: string;
  readonly reasons: readonly Infeasibility[];
}

/** Reasons counted by key, most nodes first, then by key for a stable order. */
export function aggregateReasons(perNode: Iterable<NodeReasons>): ReasonCount[] {
  const byKey = new Map<string, { example: Infeasibility; nodes: number }>();
  for (const { reasons } of perNode) {
    const seen = new Set<string>();
    for (const r of reasons) {
      const key = reasonKey(r);
      if (seen.has(key)) continue;
      seen.add(key);
      const entry = byKey.get(key);
      if (entry === undefined) byKey.set(key, { example: r, nodes: 1 });
      else entry.nodes += 1;
    }
  }
  return [...byKey.entries()].map(([key, { example, nodes }]) => ({ key, example, nodes })).sort((a, b) => b.nodes - a.nodes || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

function nodesWord(n: number): string {
  return n === 1 ? '1 node' : `${n} nodes`;
}

/** One line for people: what was looked at and why nothing fit. */
export function summarizeReasons(nodesEvaluated: number, reasons: readonly ReasonCount[], unknownNodes: readonly string[] = []): string {
  const parts: string[] = [];
  if (unknownNodes.length > 0) parts.push(`${nodesWord(unknownNodes.length)} named but not in the cluster (${unknownNodes.join(', ')})`);
  if (nodesEvaluated === 0 && unknownNodes.length === 0) parts.push('no nodes to place on');
  for (const r of reasons) parts.push(`${nodesWord(r.nodes)} ${reasonPhrase(r.example, r.nodes)}`);
  if (parts.length === 0) parts.push(`${nodesWord(nodesEvaluated)} evaluated, none could take it`);
  return parts.join(', ');
}
