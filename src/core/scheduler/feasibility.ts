// Can this node take one more instance of this job? Hard rules only (scoring is placement.ts):
// eligible, every constraint held, enough free cpu and memory, the static ports free and enough
// of the dynamic range left. Answers with every reason a node fails, not only the first, so
// "why is this pending" can say what would have to change.
import { err, ok, type Result } from '../result.ts';
import { nodeAttribute } from './attributes.ts';
import { compileConstraint, describeConstraint, type CompiledConstraint } from './constraint.ts';
import { DYNAMIC_PORT_RANGE, type Constraint, type JobSpec, type NodeInfo } from './job.ts';

/** What already runs on a node: the sums of its placements and the host ports they hold. */
export interface NodeUsage {
  readonly cpuMillis: number;
  readonly memoryMB: number;
  readonly ports: ReadonlySet<number>;
}

export const EMPTY_USAGE: NodeUsage = { cpuMillis: 0, memoryMB: 0, ports: new Set() };

export type Infeasibility =
  | { readonly kind: 'ineligible' }
  | {
      readonly kind: 'constraint';
      readonly constraint: Constraint;
      /** The node's value; undefined when it has none. */
      readonly actual: string | undefined;
      /** Set when the constraint (or the node's value) cannot be evaluated. */
      readonly invalid?: string;
    }
  | { readonly kind: 'cpu'; readonly requestedMillis: number; readonly freeMillis: number }
  | { readonly kind: 'memory'; readonly requestedMB: number; readonly freeMB: number }
  | { readonly kind: 'port-in-use'; readonly label: string; readonly port: number }
  /** The job asks for one static port under two labels: no node can ever satisfy it. */
  | { readonly kind: 'port-conflict'; readonly port: number }
  | { readonly kind: 'dynamic-ports'; readonly requested: number; readonly free: number };

export type InfeasibilityKind = Infeasibility['kind'];

/** A job with its constraints and ports prepared for checking many nodes. */
export interface CompiledJob {
  readonly job: JobSpec;
  readonly constraints: readonly CompiledConstraint[];
  readonly staticPorts: ReadonlyArray<{ readonly label: string; readonly port: number }>;
  readonly dynamicLabels: readonly string[];
  /** Static ports inside DYNAMIC_PORT_RANGE: each takes one port the dynamic ones could have had. */
  readonly staticInDynamicRange: number;
  /** A static port the job asks for twice, if any. */
  readonly conflictingPort: number | undefined;
}

export const DYNAMIC_PORT_COUNT = DYNAMIC_PORT_RANGE.max - DYNAMIC_PORT_RANGE.min + 1;

export function inDynamicRange(port: number): boolean {
  return port >= DYNAMIC_PORT_RANGE.min && port <= DYNAMIC_PORT_RANGE.max;
}

export function compileJob(job: JobSpec): CompiledJob {
  const staticPorts: Array<{ label: string; port: number }> = [];
  const dynamicLabels: string[] = [];
  const seen = new Set<number>();
  let conflictingPort: number | undefined;
  for (const p of job.resources.ports) {
    if (p.static === undefined) {
      dynamicLabels.push(p.label);
      continue;
    }
    if (seen.has(p.static)) conflictingPort ??= p.static;
    seen.add(p.static);
    staticPorts.push({ label: p.label, port: p.static });
  }
  return {
    job,
    constraints: job.constraints.map(compileConstraint),
    staticPorts,
    dynamicLabels,
    staticInDynamicRange: [...seen].filter(inDynamicRange).length,
    conflictingPort,
  };
}

/** Rules that do not depend on what runs on the node: eligibility and constraints. */
export function staticInfeasibilities(compiled: CompiledJob, node: NodeInfo): Infeasibility[] {
  const out: Infeasibility[] = [];
  if (!node.eligible) out.push({ kind: 'ineligible' });
  for (const c of compiled.constraints) {
    const actual = nodeAttribute(node, c.constraint.attribute);
    const miss = c.check(actual);
    if (miss === undefined) continue;
    out.push(miss.kind === 'invalid' ? { kind: 'constraint', constraint: c.constraint, actual, invalid: miss.detail } : { kind: 'constraint', constraint: c.constraint, actual });
  }
  if (compiled.conflictingPort !== undefined) out.push({ kind: 'port-conflict', port: compiled.conflictingPort });
  return out;
}

/** True when the node satisfies eligibility and every constraint (the fast form of the above). */
export function staticallyFeasible(compiled: CompiledJob, node: NodeInfo): boolean {
  if (!node.eligible || compiled.conflictingPort !== undefined) return false;
  for (const c of compiled.constraints) if (c.check(nodeAttribute(node, c.constraint.attribute)) !== undefined) return false;
  return true;
}

/** Free dynamic-range ports on a node holding `ports`. */
export function freeDynamicPorts(ports: ReadonlySet<number>): number {
  let used = 0;
  for (const p of ports) if (inDynamicRange(p)) used++;
  return DYNAMIC_PORT_COUNT - used;
}

/** Rules about room on the node: cpu, memory, static ports, dynamic ports. */
export function capacityInfeasibilities(compiled: CompiledJob, node: NodeInfo, usage: NodeUsage): Infeasibility[] {
  const out: Infeasibility[] = [];
  const { cpuMillis, memoryMB } = compiled.job.resources;
  const freeMillis = node.cpuMillis - usage.cpuMillis;
  const freeMB = node.memoryMB - usage.memoryMB;
  if (cpuMillis > freeMillis) out.push({ kind: 'cpu', requestedMillis: cpuMillis, freeMillis: Math.max(0, freeMillis) });
  if (memoryMB > freeMB) out.push({ kind: 'memory', requestedMB: memoryMB, freeMB: Math.max(0, freeMB) });
  for (const { label, port } of compiled.staticPorts) if (usage.ports.has(port)) out.push({ kind: 'port-in-use', label, port });
  const requested = compiled.dynamicLabels.length;
  if (requested > 0) {
    const free = freeDynamicPorts(usage.ports) - compiled.staticInDynamicRange;
    if (requested > free) out.push({ kind: 'dynamic-ports', requested, free: Math.max(0, free) });
  }
  return out;
}

/** Every reason the node cannot take one more instance of the job, or ok. */
export function checkNode(job: JobSpec | CompiledJob, node: NodeInfo, usage: NodeUsage = EMPTY_USAGE): Result<undefined, readonly Infeasibility[]> {
  const compiled = 'staticPorts' in job ? job : compileJob(job);
  const reasons = [...staticInfeasibilities(compiled, node), ...capacityInfeasibilities(compiled, node, usage)];
  return reasons.length === 0 ? ok(undefined) : err(reasons);
}

/**
 * The reason with node-specific figures left out, as a verb phrase agreeing with a node count,
 * so that reasons of many nodes can be counted together: "3 nodes lack memory", "1 node fails
 * constraint tag.zone == a". reasonPhrase(r, 2) is the key reasons are grouped by.
 */
export function reasonPhrase(r: Infeasibility, nodes: number): string {
  const one = nodes === 1;
  switch (r.kind) {
    case 'ineligible':
      return one ? 'is not eligible' : 'are not eligible';
    case 'constraint': {
      const what = `constraint ${describeConstraint(r.constraint)}${r.invalid === undefined ? '' : ` (${r.invalid})`}`;
      return `${one ? 'fails' : 'fail'} ${what}`;
    }
    case 'cpu':
      return one ? 'lacks cpu' : 'lack cpu';
    case 'memory':
      return one ? 'lacks memory' : 'lack memory';
    case 'port-in-use':
      return `${one ? 'has' : 'have'} port ${r.port} in use`;
    case 'port-conflict':
      return `${one ? 'refuses' : 'refuse'} a job asking for static port ${r.port} twice`;
    case 'dynamic-ports':
      return one ? 'lacks free dynamic ports' : 'lack free dynamic ports';
  }
}

export function reasonKey(r: Infeasibility): string {
  return reasonPhrase(r, 2);
}

/** One node's reason with its figures, for a node-by-node explanation. */
export function describeInfeasibility(r: Infeasibility): string {
  switch (r.kind) {
    case 'ineligible':
      return 'node is not eligible (down, draining or leaving)';
    case 'constraint': {
      const actual = r.actual === undefined ? 'no value' : `value ${JSON.stringify(r.actual)}`;
      return r.invalid === undefined ? `fails constraint ${describeConstraint(r.constraint)} (${actual})` : `fails constraint ${describeConstraint(r.constraint)}: ${r.invalid}`;
    }
    case 'cpu':
      return `lacks cpu: ${r.requestedMillis} millicores asked, ${r.freeMillis} free`;
    case 'memory':
      return `lacks memory: ${r.requestedMB} MB asked, ${r.freeMB} MB free`;
    case 'port-in-use':
      return `port ${r.port} (${r.label}) is in use`;
    case 'port-conflict':
      return `job asks for static port ${r.port} twice`;
    case 'dynamic-ports':
      return `lacks dynamic ports: ${r.requested} asked, ${r.free} free`;
  }
}
