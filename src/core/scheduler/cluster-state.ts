// The cluster as one placement run sees it, kept incrementally: every placement adds its cpu,
// memory, ports and job count to its node in O(ports), so scoring a node never rescans what is
// placed (the fast path of issue 6: 10,000 instances over 1,000 nodes). Nodes are held sorted
// by ID in flat typed arrays; a node is known by its index there, which is also the tie-break.
import { assert } from '../result.ts';
import { inDynamicRange, DYNAMIC_PORT_COUNT, type CompiledJob, type NodeUsage } from './feasibility.ts';
import type { NodeInfo, Placement } from './job.ts';

const NO_PORTS: ReadonlySet<number> = new Set();

export class ClusterState {
  /** Sorted by ID. */
  readonly nodes: readonly NodeInfo[];
  readonly capCpuMillis: Float64Array;
  readonly capMemoryMB: Float64Array;
  readonly usedCpuMillis: Float64Array;
  readonly usedMemoryMB: Float64Array;
  /** Free ports of DYNAMIC_PORT_RANGE per node. */
  readonly freeDynamicPorts: Int32Array;
  readonly #indexById = new Map<string, number>();
  readonly #ports: Array<Set<number> | undefined>;
  /**
   * Instances per node of the jobs being placed, existing and planned, by job name. Built on
   * first use from #jobNodes: a cluster running 10,000 one-instance jobs must not cost a
   * per-node array for each of them, only for those in the request.
   */
  readonly #jobCounts = new Map<string, Int32Array>();
  /** Node indexes of the placements of jobs without counts yet. */
  readonly #jobNodes = new Map<string, number[]>();

  constructor(nodes: readonly NodeInfo[], placements: readonly Placement[]) {
    this.nodes = [...nodes].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const n = this.nodes.length;
    this.capCpuMillis = new Float64Array(n);
    this.capMemoryMB = new Float64Array(n);
    this.usedCpuMillis = new Float64Array(n);
    this.usedMemoryMB = new Float64Array(n);
    this.freeDynamicPorts = new Int32Array(n).fill(DYNAMIC_PORT_COUNT);
    this.#ports = new Array<Set<number> | undefined>(n).fill(undefined);
    this.nodes.forEach((node, i) => {
      assert(!this.#indexById.has(node.id), `node ${node.id} listed twice`);
      assert(Number.isFinite(node.cpuMillis) && node.cpuMillis >= 0, `node ${node.id}: cpuMillis ${node.cpuMillis}`);
      assert(Number.isFinite(node.memoryMB) && node.memoryMB >= 0, `node ${node.id}: memoryMB ${node.memoryMB}`);
      this.#indexById.set(node.id, i);
      this.capCpuMillis[i] = node.cpuMillis;
      this.capMemoryMB[i] = node.memoryMB;
    });
    // Placements on nodes the scheduler no longer knows (dead, removed) hold nothing it can use.
    for (const p of placements) {
      const i = this.#indexById.get(p.node);
      if (i !== undefined) this.add(i, p.job, p.cpuMillis, p.memoryMB, Object.values(p.ports));
    }
  }

  get size(): number {
    return this.nodes.length;
  }

  indexOf(nodeId: string): number | undefined {
    return this.#indexById.get(nodeId);
  }

  /** Instances of the job per node index (a live view: placing updates it). */
  jobCounts(job: string): Int32Array {
    let counts = this.#jobCounts.get(job);
    if (counts === undefined) {
      counts = new Int32Array(this.nodes.length);
      for (const i of this.#jobNodes.get(job) ?? []) counts[i]! += 1;
      this.#jobNodes.delete(job);
      this.#jobCounts.set(job, counts);
    }
    return counts;
  }

  ports(i: number): ReadonlySet<number> {
    return this.#ports[i] ?? NO_PORTS;
  }

  usage(i: number): NodeUsage {
    return { cpuMillis: this.usedCpuMillis[i]!, memoryMB: this.usedMemoryMB[i]!, ports: this.ports(i) };
  }

  /** Static ports free and enough dynamic ones left (cpu and memory are checked inline by the caller). */
  portsFit(i: number, compiled: CompiledJob): boolean {
    const used = this.#ports[i];
    if (used !== undefined) for (const { port } of compiled.staticPorts) if (used.has(port)) return false;
    return compiled.dynamicLabels.length === 0 || this.freeDynamicPorts[i]! - compiled.staticInDynamicRange >= compiled.dynamicLabels.length;
  }

  add(i: number, job: string, cpuMillis: number, memoryMB: number, ports: Iterable<number>): void {
    this.usedCpuMillis[i]! += cpuMillis;
    this.usedMemoryMB[i]! += memoryMB;
    let used = this.#ports[i];
    for (const port of ports) {
      if (used === undefined) {
        used = new Set();
        this.#ports[i] = used;
      }
      if (used.has(port)) continue;
      used.add(port);
      if (inDynamicRange(port)) this.freeDynamicPorts[i]! -= 1;
    }
    const counts = this.#jobCounts.get(job);
    if (counts !== undefined) counts[i]! += 1;
    else {
      const list = this.#jobNodes.get(job);
      if (list === undefined) this.#jobNodes.set(job, [i]);
      else list.push(i);
    }
  }
}
