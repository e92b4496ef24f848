// A tiny cluster for reconciler tests: the real ClusterFsm holds jobs and allocations, the test
// plays the leader (reconcile, then apply the plan as alloc.plan) and the nodes (alloc.update).
import { ClusterFsm } from '../../../src/core/fsm/fsm.ts';
import type { Allocation, AllocUpdateEntry } from '../../../src/core/fsm/allocs.ts';
import type { ApplyResult, Command, NodeId } from '../../../src/core/fsm/types.ts';
import type { JobSpec } from '../../../src/core/scheduler/job.ts';
import { reconcile, type NodeLiveness, type ReconcileNode, type ReconcilePlan, type ReconcileSettings } from '../../../src/core/scheduler/reconciler.ts';
import { node } from './fixtures.ts';

/** A command without its time (the world's clock fills it in). */
export type Untimed<C> = C extends Command ? Omit<C, 'atMs'> & { atMs?: number } : never;

export class World {
  readonly fsm = new ClusterFsm();
  nowMs = 1_000_000;
  leader: string | undefined = 'a';
  settings: ReconcileSettings = { lostGraceMs: 30_000, minNodes: 1, belowMinNodes: 'pause' };
  readonly nodes = new Map<string, ReconcileNode>();
  #index = 0;
  #ids = 0;
  lastPlan: ReconcilePlan | undefined;

  constructor(nodeIds: readonly string[], tags: Record<string, Record<string, string>> = {}) {
    for (const id of nodeIds) this.nodes.set(id, { ...node(id, { tags: tags[id] ?? {} }), liveness: 'alive' });
  }

  apply(command: Untimed<Command>): ApplyResult {
    this.#index += 1;
    return this.fsm.apply(this.#index, { atMs: this.nowMs, ...command } as Command);
  }

  register(spec: JobSpec): void {
    const r = this.apply({ type: 'job.register', spec });
    if (!r.ok) throw new Error(`register: ${JSON.stringify(r)}`);
  }

  setLiveness(id: string, liveness: NodeLiveness): void {
    const n = this.nodes.get(id)!;
    const down = liveness === 'dead' || liveness === 'left';
    this.nodes.set(id, { ...n, liveness, downSinceMs: down ? (n.downSinceMs ?? this.nowMs) : undefined });
  }

  /** One reconcile round, applied; reverts are registered like the leader does. */
  step(): ReconcilePlan {
    const plan = reconcile({
      nowMs: this.nowMs,
      jobs: this.fsm.jobs(),
      allocs: this.fsm.allocs(),
      deployments: this.fsm.jobs().flatMap((j) => this.fsm.deployment(j.spec.job) ?? []),
      nodes: [...this.nodes.values()],
      leader: this.leader,
      settings: this.settings,
      newId: () => (++this.#ids).toString(16).padStart(8, '0'),
    });
    this.lastPlan = plan;
    const notes = plan.blocked.map((b) => ({ kind: 'sched.blocked', subject: b.job, message: b.summary }));
    if (plan.place.length + plan.stop.length + plan.deployments.length + notes.length > 0) {
      const r = this.apply({ type: 'alloc.plan', basis: this.fsm.planSeq, place: plan.place, stop: plan.stop, deployments: plan.deployments, notes });
      if (!r.ok) throw new Error(`plan refused: ${JSON.stringify(r)}`);
    }
    for (const revert of plan.reverts) this.register(revert.spec);
    return plan;
  }

  report(nodeId: string, updates: AllocUpdateEntry[]): void {
    const r = this.apply({ type: 'alloc.update', node: nodeId as NodeId, updates });
    if (!r.ok) throw new Error(`update refused: ${JSON.stringify(r)}`);
  }

  /** Every node starts what it was told to run and stops what it was told to stop. */
  nodesAct(health: (a: Allocation) => 'healthy' | 'unhealthy' = () => 'healthy'): void {
    const byNode = new Map<string, AllocUpdateEntry[]>();
    for (const a of this.fsm.allocs()) {
      const n = this.nodes.get(a.node);
      if (n === undefined || n.liveness !== 'alive') continue;
      let u: AllocUpdateEntry | undefined;
      if (a.desired === 'run' && a.client === 'pending') u = { id: a.id, client: 'running', health: health(a) };
      else if (a.desired === 'run' && a.client === 'running' && a.health !== health(a)) u = { id: a.id, health: health(a) };
      else if (a.desired === 'stop' && (a.client === 'running' || a.client === 'pending')) u = { id: a.id, client: 'complete', clientDetail: 'stopped' };
      if (u !== undefined) byNode.set(a.node, [...(byNode.get(a.node) ?? []), u]);
    }
    for (const [n, updates] of byNode) this.report(n, updates);
  }

  running(job?: string): Allocation[] {
    return this.fsm.allocs().filter((a) => a.desired === 'run' && a.client === 'running' && (job === undefined || a.job === job));
  }

  /** Reconcile and act until nothing changes (bounded). */
  settle(health?: (a: Allocation) => 'healthy' | 'unhealthy', rounds = 20): void {
    for (let i = 0; i < rounds; i++) {
      const before = this.fsm.appliedIndex;
      const plan = this.step();
      this.nodesAct(health);
      if (this.fsm.appliedIndex === before && !plan.more) return;
    }
  }

  advance(ms: number): void {
    this.nowMs += ms;
  }
}
