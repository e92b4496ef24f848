// Workloads in the simulator (issue 6, Tests: "simulation of reconciler and fake driver under
// node failures, flaps and partitions"). One seed builds a small cluster and runs it:
//
//   the replicated state  one authoritative ClusterFsm (Raft itself is simulated elsewhere): the
//                         leader's alloc.plan commands, the nodes' alloc.update batches and the
//                         operator's job commands apply to it in order;
//   the leader            one node at a time runs reconcile() (src/core/scheduler/reconciler.ts)
//                         as the real SchedulerRunner does: debounced on changes, woken at
//                         nextAtMs, idle rounds, a settle wait after winning, plans committed
//                         after a delay on the planSeq basis (a plan in flight when leadership
//                         moves commits or not, at random), reverts registered after the plan.
//                         Its view of the nodes is "gossip": the truth seen through detection
//                         delays (suspect, then dead; alive again a little after), and its own
//                         downSinceMs, which starts afresh when a new leader takes over;
//   the nodes (3-7)       each runs a node-side loop every ~500 ms: it acts on its replica of
//                         its allocations (one tick behind the leader; none while cut off), runs
//                         tasks in a fake driver, applies the restart policy with RestartTracker
//                         (exits and critical health), and reports alloc.update batches to the
//                         leader over a lossy, delayed, in-order link;
//   the fake driver       tasks start after a random delay, turn healthy, and now and then (fault
//                         phase only) crash with an exit code or turn critical; a job version can
//                         be broken ('crash': exits soon after every start; 'unhealthy': its check
//                         goes critical) and a batch task exits 0 after a while;
//   faults (one seeded    node crashes (tasks die; on restart the node has nothing running and
//   schedule, up front)   starts again what its replica says should run, reporting the rest as not
//                         running), flaps shorter than lostGraceMs, isolations (the node keeps
//                         running its tasks, cut off from the leader), leader changes, message
//                         loss, and operator actions: new versions (good or broken, with and
//                         without autoRevert), count changes, stops and starts.
//
// Invariants, after every step (a failure carries the seed, the trace tail and the replay command):
//   1 capacity     no node holds more cpu or memory than it has, counting the allocations that
//                  hold resources (holdsResources);
//   2 instances    per service job and index: at most one active allocation of the current task
//                  hash and at most two overall (old + new during a rollout); at most maxParallel
//                  indexes with two;
//   3 serving      never kill old before new is healthy: an index of a service job that had a
//                  running, healthy task (as the fake driver knows it) loses its last one only
//                  to a fault, never to the scheduler alone. Faults: a task crash or critical
//                  check, a node crash, the kill of an instance the leader declared lost. The
//                  excuse lasts until a task of the index turns healthy again, or while an
//                  instance a fault took down is still wanted (the brief's "count minus the
//                  instances lost to faults"); a kill decided within STALE_VIEW_MS of a fault on
//                  the index (the state had not heard of it yet), or by a node cut off shortly
//                  before or after the decision, is the fault's doing too;
//   4 flaps        an allocation is declared lost only if its node has been unreachable for at
//                  least lostGraceMs (gaps too short for gossip to see the node alive again are
//                  counted as down): no rescheduling on a flap;
//   5 liveness     after the faults heal (the operator also replaces broken current versions)
//                  and a quiet period: every running service job has exactly `count` running,
//                  healthy allocations, one per index, of the current task hash (or, after a
//                  failed rollout, of versions the job has had); system jobs one per node;
//                  leader jobs one, on the leader; batch jobs every index complete; stopped
//                  jobs nothing; and every task the drivers run belongs to one of those.
import { holdsResources, isTerminalClient, MAX_PLAN_ITEMS, type AllocCheck, type AllocClientStatus, type AllocHealth, type Allocation, type AllocUpdateEntry } from '../core/fsm/allocs.ts';
import { ClusterFsm } from '../core/fsm/fsm.ts';
import type { ApplyResult, Command, NodeId } from '../core/fsm/types.ts';
import type { Random } from '../core/random.ts';
import { assert, unreachable } from '../core/result.ts';
import type { JobSpec, JobType, RestartPolicy, UpdatePolicy } from '../core/scheduler/job.ts';
import { reconcile, taskSha256, type ReconcileNode, type ReconcilePlan, type ReconcileSettings } from '../core/scheduler/reconciler.ts';
import { RestartTracker, type TaskEnd } from '../core/scheduler/restart-tracker.ts';
import type { Timer } from '../runtime/clock.ts';
import type { Scenario } from './scenarios.ts';
import { Simulation } from './simulation.ts';

export interface WorkloadsScenarioSettings {
  /** Cluster sizes to draw from (one per seed). */
  readonly nodeChoices: readonly number[];
  readonly faultPhaseMs: number;
  /** Healed time before the liveness check: grace periods, backoffs and rollouts must fit in it. */
  readonly quietPhaseMs: number;
  readonly lostGraceMs: number;
  /** Mean gap between infrastructure faults during the fault phase. */
  readonly meanFaultGapMs: number;
  /** Mean gap between operator actions during the fault phase. */
  readonly meanOperatorGapMs: number;
  /** A bug planted on purpose (tests only): evidence that the invariant meant to catch it does. */
  readonly plantedBug?: PlantedBug | undefined;
}

/**
 * grace: the leader replaces lost nodes' work after a quarter of lostGraceMs (invariant 4).
 * double-place: the leader places every new instance twice (invariant 2).
 * kill-before-healthy: a rolling update stops the old instance as it places the new (invariant 3).
 * overcommit: the leader believes nodes have ten times their capacity (invariant 1).
 * ignore-stops: nodes never stop what they were told to stop (invariant 5: orphans).
 */
export type PlantedBug = 'grace' | 'double-place' | 'kill-before-healthy' | 'overcommit' | 'ignore-stops';

/** How a version of a job behaves in the fake driver (job config `behaviour`). */
export type Behaviour = 'good' | 'crash' | 'unhealthy';

type Range = readonly [number, number];

/** The timing model (ms). Detection delays keep aliveAfter below deadAfter: see invariant 4. */
const TIMING = {
  nodeTick: [400, 600] as Range,
  netDelay: [1, 120] as Range,
  suspectAfter: [300, 1000] as Range,
  deadAfter: [1200, 2500] as Range,
  aliveAfter: [100, 800] as Range,
  election: [300, 1500] as Range,
  leaderSettleMs: 1000,
  debounceMs: 100,
  idleMs: 2000,
  commit: [2, 30] as Range,
  taskStart: [100, 1500] as Range,
  healthy: [100, 800] as Range,
  brokenCrash: [200, 1500] as Range,
  brokenCritical: [200, 800] as Range,
  /** A check critical this long makes the node restart the task (like Nomad's check_restart). */
  criticalRestartMs: 1000,
  stop: [20, 400] as Range,
  batchRun: [500, 6000] as Range,
  meanTaskCrashMs: 60_000,
  meanTaskCriticalMs: 150_000,
  baseLoss: 0.01,
} as const;

/** Longest time gossip takes to see a node alive again: shorter gaps in its unreachability do not count (invariant 4). */
const MAX_ALIVE_AFTER_MS = TIMING.aliveAfter[1];

export type WorkloadFault =
  /** Power loss: tasks die; the node starts again after downMs (a flap when shorter than the grace). */
  | { readonly kind: 'crash'; readonly node: string; readonly downMs: number }
  /** Cut off from the leader and the majority for forMs; its tasks keep running. */
  | { readonly kind: 'isolate'; readonly node: string; readonly forMs: number }
  | { readonly kind: 'leader-change' }
  | { readonly kind: 'loss'; readonly probability: number };

export type OperatorAction =
  | { readonly kind: 'update'; readonly job: string; readonly behaviour: Behaviour; readonly autoRevert: boolean }
  | { readonly kind: 'scale'; readonly job: string; readonly count: number }
  | { readonly kind: 'stop'; readonly job: string }
  | { readonly kind: 'start'; readonly job: string };

type Planned = { readonly atMs: number } & ({ readonly what: 'fault'; readonly fault: WorkloadFault } | { readonly what: 'operator'; readonly action: OperatorAction });

export function workloadsScenario(name: string, description: string, settings: WorkloadsScenarioSettings, replayCommand: (seed: number, maxSteps?: number) => string): Scenario {
  return {
    name,
    description,
    async run(options) {
      const sim = new Simulation<unknown>({
        seed: options.seed,
        replayCommand: replayCommand(options.seed, options.maxSteps),
        ...(options.traceMaxLines === undefined ? {} : { traceMaxLines: options.traceMaxLines }),
      });
      if (options.onTraceLine !== undefined) sim.trace.onLine(options.onTraceLine);
      const world = new WorkloadsWorld(sim, settings);
      world.start();
      const endMs = settings.faultPhaseMs + settings.quietPhaseMs;
      const result = await sim.run(options.maxSteps === undefined ? { untilMs: endMs + 1 } : { untilMs: endMs + 1, maxSteps: options.maxSteps });
      sim.trace.record('sim', `end steps=${result.steps} ${result.ok ? 'ok' : 'FAILED'}`);
      return { scenario: name, seed: options.seed, result, traceDigest: sim.trace.digest(), traceLines: sim.trace.count, simulation: sim };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Setup: nodes, jobs, schedules

interface NodeShape {
  readonly id: string;
  readonly cpuMillis: number;
  readonly memoryMB: number;
}

interface JobPlan {
  readonly name: string;
  readonly type: JobType;
  readonly count: number;
  readonly cpuMillis: number;
  readonly memoryMB: number;
  readonly restart: RestartPolicy;
  readonly update: UpdatePolicy;
}

const MAX_SERVICE_COUNT = 5;

function between(r: Random, range: Range): number {
  return range[0] + r.int(range[1] - range[0] + 1);
}

function pick<T>(r: Random, items: readonly T[]): T {
  assert(items.length > 0, 'pick from an empty list');
  return items[r.int(items.length)]!;
}

function exponential(r: Random, meanMs: number): number {
  return Math.round(-meanMs * Math.log(1 - r.float()));
}

function drawNodes(r: Random, count: number): NodeShape[] {
  return Array.from({ length: count }, (_, i) => ({ id: `n${i + 1}`, cpuMillis: 2000 + 1000 * r.int(3), memoryMB: 2048 + 1024 * r.int(3) }));
}

function drawJobs(r: Random, nodes: readonly NodeShape[], sizeFactor: number): JobPlan[] {
  const restart = (): RestartPolicy => ({ attempts: 1 + r.int(3), intervalMs: 5000 + 1000 * r.int(16), delayMs: 100 + 50 * r.int(9), backoff: pick(r, [1, 1.5, 2]), maxDelayMs: 1000 + 500 * r.int(5) });
  const update = (): UpdatePolicy => ({ maxParallel: 1 + r.int(2), healthyDeadlineMs: 6000 + 1000 * r.int(7), minHealthyMs: 300 + 100 * r.int(18), autoRevert: r.int(2) === 0 });
  const sized = (name: string, type: JobType, count: number): JobPlan => ({ name, type, count, cpuMillis: 100 + 50 * r.int(5), memoryMB: 64 + 64 * r.int(4), restart: restart(), update: update() });
  const jobs: JobPlan[] = [];
  const services = 1 + r.int(3);
  for (const n of ['web', 'api', 'cache'].slice(0, services)) jobs.push(sized(n, 'service', 1 + r.int(4)));
  if (r.int(2) === 0) jobs.push(sized('agentd', 'system', 1));
  if (r.int(2) === 0) jobs.push(sized('healer', 'leader', 1));
  if (r.int(5) < 2) jobs.push(sized('report', 'batch', 1 + r.int(3)));
  // Keep the worst case (every service at its largest count plus a full rollout's extra
  // instances) under 40% of the cluster, so that a healed cluster can always place everything.
  const worst = (f: (j: JobPlan) => number): number =>
    jobs.reduce((sum, j) => sum + f(j) * (j.type === 'service' ? MAX_SERVICE_COUNT + j.update.maxParallel : j.type === 'system' ? nodes.length * 2 : j.type === 'leader' ? 2 : j.count), 0);
  const cpu = nodes.reduce((s, n) => s + n.cpuMillis, 0);
  const memory = nodes.reduce((s, n) => s + n.memoryMB, 0);
  const scale = Math.min(1, (0.4 * cpu) / worst((j) => j.cpuMillis), (0.4 * memory) / worst((j) => j.memoryMB));
  return jobs.map((j) => ({ ...j, cpuMillis: Math.max(10, Math.floor(j.cpuMillis * scale * sizeFactor)), memoryMB: Math.max(16, Math.floor(j.memoryMB * scale * sizeFactor)) }));
}

/** Faults and operator actions for the fault phase, as plain data (printed into the trace as they fire). */
function drawSchedule(r: Random, nodes: readonly string[], jobs: readonly JobPlan[], s: WorkloadsScenarioSettings): Planned[] {
  const out: Planned[] = [];
  const maxDown = Math.floor((nodes.length - 1) / 2);
  /** Node outages planned so far: a node is in at most one, and at most maxDown overlap. */
  const outages: { node: string; fromMs: number; toMs: number }[] = [];
  const grace = s.lostGraceMs;
  const outage = (): number => (r.int(2) === 0 ? 300 + r.int(Math.max(1, grace - 1800)) : grace + 1000 + r.int(2 * grace));
  for (let t = 1000 + r.int(s.meanFaultGapMs); t < s.faultPhaseMs; t += 1 + r.int(2 * s.meanFaultGapMs)) {
    const kind = pick(r, ['crash', 'crash', 'isolate', 'isolate', 'leader-change', 'loss'] as const);
    if (kind === 'leader-change') {
      out.push({ atMs: t, what: 'fault', fault: { kind } });
      continue;
    }
    if (kind === 'loss') {
      out.push({ atMs: t, what: 'fault', fault: { kind, probability: pick(r, [0, 0.01, 0.05, 0.1, 0.2]) } });
      continue;
    }
    const length = Math.min(outage(), s.faultPhaseMs - t);
    const overlapping = outages.filter((o) => o.fromMs <= t + length && o.toMs >= t);
    const free = nodes.filter((n) => !overlapping.some((o) => o.node === n));
    if (overlapping.length >= maxDown || free.length === 0) continue;
    const node = pick(r, free);
    outages.push({ node, fromMs: t, toMs: t + length });
    out.push({ atMs: t, what: 'fault', fault: kind === 'crash' ? { kind, node, downMs: length } : { kind, node, forMs: length } });
  }
  const stopped = new Set<string>();
  for (let t = 3000 + r.int(s.meanOperatorGapMs); t < s.faultPhaseMs; t += 1 + r.int(2 * s.meanOperatorGapMs)) {
    const job = pick(r, jobs);
    if (job.type === 'batch') continue;
    if (stopped.has(job.name)) {
      stopped.delete(job.name);
      out.push({ atMs: t, what: 'operator', action: { kind: 'start', job: job.name } });
      continue;
    }
    const roll = r.int(20);
    let action: OperatorAction;
    if (roll < 2) {
      stopped.add(job.name);
      action = { kind: 'stop', job: job.name };
    } else if (roll < 6 && job.type === 'service') {
      action = { kind: 'scale', job: job.name, count: 1 + r.int(MAX_SERVICE_COUNT) };
    } else {
      // Broken versions only for services: a system or leader job has no old instance to keep serving.
      const behaviour: Behaviour = job.type === 'service' && roll >= 13 ? pick(r, ['crash', 'unhealthy'] as const) : 'good';
      action = { kind: 'update', job: job.name, behaviour, autoRevert: r.int(2) === 0 };
    }
    out.push({ atMs: t, what: 'operator', action });
  }
  return out.map((p, i) => ({ p, i })).sort((a, b) => a.p.atMs - b.p.atMs || a.i - b.i).map(({ p }) => p);
}

function specOf(plan: JobPlan, version: number, behaviour: Behaviour, count: number, autoRevert: boolean): JobSpec {
  return {
    job: plan.name,
    type: plan.type,
    count,
    driver: 'fake',
    config: { behaviour },
    env: { VERSION: String(version) },
    resources: { cpuMillis: plan.cpuMillis, memoryMB: plan.memoryMB, ports: [] },
    constraints: [],
    spread: [],
    restart: plan.restart,
    update: { ...plan.update, autoRevert },
    stopTimeoutMs: 1000,
  };
}

function behaviourOf(spec: JobSpec): Behaviour {
  const b = spec.config['behaviour'];
  return b === 'crash' || b === 'unhealthy' ? b : 'good';
}

function describeFault(f: WorkloadFault, graceMs: number): string {
  switch (f.kind) {
    case 'crash':
      return `crash ${f.node} for ${f.downMs}ms${f.downMs < graceMs ? ' (flap)' : ''}`;
    case 'isolate':
      return `isolate ${f.node} for ${f.forMs}ms${f.forMs < graceMs ? ' (flap)' : ''}`;
    case 'leader-change':
      return 'leader-change';
    case 'loss':
      return `loss ${f.probability}`;
    default:
      return unreachable(f);
  }
}

function describeAction(a: OperatorAction): string {
  switch (a.kind) {
    case 'update':
      return `update ${a.job} behaviour=${a.behaviour} autoRevert=${a.autoRevert}`;
    case 'scale':
      return `scale ${a.job} count=${a.count}`;
    case 'stop':
    case 'start':
      return `${a.kind} ${a.job}`;
    default:
      return unreachable(a);
  }
}

// ---------------------------------------------------------------------------------------------
// The world

interface NodeState {
  readonly shape: NodeShape;
  up: boolean;
  isolated: boolean;
  incarnation: number;
  runner: NodeRunner | undefined;
  /** Times it was unreachable from the majority (down or cut off); the last may be open. Bounded. */
  readonly unreachable: { fromMs: number; toMs: number | undefined }[];
  /** Gossip's view, shared by every node (the leader reads it). */
  view: 'alive' | 'suspect' | 'dead';
  viewDeadSinceMs: number | undefined;
  viewTimers: Timer[];
}

const MAX_UNREACHABLE_KEPT = 64;

class WorkloadsWorld {
  readonly sim: Simulation<unknown>;
  readonly settings: WorkloadsScenarioSettings;
  readonly fsm = new ClusterFsm();
  readonly nodes = new Map<string, NodeState>();
  readonly checker: Checker;
  /** Every spec ever registered, by task hash: a node finds what to run from the allocation. */
  readonly specs = new Map<string, JobSpec>();
  readonly reconcileSettings: ReconcileSettings;
  readonly healAtMs: number;
  readonly endMs: number;
  leader: LeaderRole | undefined;
  lossProbability: number = TIMING.baseLoss;
  readonly #jobs: JobPlan[];
  readonly #schedule: Planned[];
  readonly #net: Random;
  readonly #gossip: Random;
  readonly #control: Random;
  readonly #ids: Random;
  #index = 0;
  #term = 0;
  #electing = false;
  #nextVersionTag = new Map<string, number>();
  /** FIFO links: when the last message on each link is delivered. */
  readonly #linkFreeAtMs = new Map<string, number>();

  constructor(sim: Simulation<unknown>, settings: WorkloadsScenarioSettings) {
    this.sim = sim;
    this.settings = settings;
    this.healAtMs = settings.faultPhaseMs;
    this.endMs = settings.faultPhaseMs + settings.quietPhaseMs;
    this.reconcileSettings = { lostGraceMs: settings.lostGraceMs, minNodes: 1, belowMinNodes: 'pause' };
    const setup = sim.random('setup');
    const shapes = drawNodes(setup, pick(setup, settings.nodeChoices));
    // The overcommit plant also asks for more than the cluster has, so that believing in ten
    // times the capacity shows.
    this.#jobs = drawJobs(setup, shapes, settings.plantedBug === 'overcommit' ? 4 : 1);
    this.#schedule = drawSchedule(sim.random('schedule'), shapes.map((s) => s.id), this.#jobs, settings);
    this.#net = sim.random('network');
    this.#gossip = sim.random('gossip');
    this.#control = sim.random('control');
    this.#ids = sim.random('ids');
    for (const shape of shapes) {
      this.nodes.set(shape.id, { shape, up: false, isolated: false, incarnation: 0, runner: undefined, unreachable: [{ fromMs: 0, toMs: undefined }], view: 'alive', viewDeadSinceMs: undefined, viewTimers: [] });
    }
    this.checker = new Checker(this);
  }

  now(): number {
    return this.sim.clock.nowMs();
  }

  trace(source: string, text: string): void {
    this.sim.trace.record(source, text);
  }

  /** Runs fn after delayMs as one simulation step. */
  after(delayMs: number, fn: () => void): Timer {
    return this.sim.clock.setTimer(delayMs, fn);
  }

  start(): void {
    const shapes = [...this.nodes.values()].map((n) => `${n.shape.id}(${n.shape.cpuMillis}m/${n.shape.memoryMB}MB)`);
    this.trace('sim', `nodes ${shapes.join(' ')} lostGrace=${this.settings.lostGraceMs}ms`);
    for (const j of this.#jobs) {
      this.trace('sim', `job ${j.name} ${j.type} count=${j.count} ${j.cpuMillis}m/${j.memoryMB}MB restart=${JSON.stringify(j.restart)} update=${JSON.stringify(j.update)}`);
    }
    for (const id of this.nodes.keys()) this.#bootNode(id);
    for (const j of this.#jobs) this.#register(specOf(j, this.#versionTag(j.name), 'good', j.count, j.update.autoRevert), 'initial');
    this.#scheduleElection();
    for (const p of this.#schedule) {
      this.sim.clock.scheduleAt(p.atMs, () => {
        if (p.what === 'fault') {
          this.trace('sim', `fault ${describeFault(p.fault, this.settings.lostGraceMs)}`);
          this.#applyFault(p.fault);
        } else {
          this.trace('sim', `operator ${describeAction(p.action)}`);
          this.#operate(p.action);
        }
      });
    }
    this.sim.clock.scheduleAt(this.healAtMs, () => this.#heal());
    this.sim.clock.scheduleAt(this.endMs, () => this.checker.checkLiveness());
    this.checker.install();
  }

  // ---- the replicated state ----

  apply(command: Command): ApplyResult {
    this.#index += 1;
    const result = this.fsm.apply(this.#index, command);
    this.leader?.poke();
    return result;
  }

  #register(spec: JobSpec, why: string): void {
    this.specs.set(taskSha256(spec), spec);
    const r = this.apply({ type: 'job.register', atMs: this.now(), spec });
    assert(r.ok, `register ${spec.job}: ${JSON.stringify(r)}`);
    const rec = this.fsm.job(spec.job)!;
    this.trace('fsm', `job ${spec.job} v${rec.version} (${why}) count=${spec.count} behaviour=${behaviourOf(spec)} env=${spec.env['VERSION']} autoRevert=${spec.update.autoRevert} task=${taskSha256(spec).slice(0, 8)}`);
  }

  /** Registers a revert the leader proposes (the spec of an earlier version). */
  registerRevert(spec: JobSpec, fromVersion: number, toVersion: number): void {
    this.#register(spec, `revert of v${fromVersion} to the spec of v${toVersion}`);
  }

  #versionTag(job: string): number {
    const n = (this.#nextVersionTag.get(job) ?? 0) + 1;
    this.#nextVersionTag.set(job, n);
    return n;
  }

  newAllocId(): string {
    return this.#ids.nextUint32().toString(16).padStart(8, '0') + this.#ids.nextUint32().toString(16).padStart(8, '0');
  }

  // ---- operator ----

  #operate(action: OperatorAction): void {
    const plan = this.#jobs.find((j) => j.name === action.job)!;
    const record = this.fsm.job(action.job);
    assert(record !== undefined, `job ${action.job} was registered at start`);
    const spec = record.spec;
    switch (action.kind) {
      case 'update':
        this.#register(specOf(plan, this.#versionTag(plan.name), action.behaviour, spec.count, action.autoRevert), 'operator update');
        return;
      case 'scale':
        this.#register({ ...spec, count: action.count }, 'operator scale');
        return;
      case 'stop':
        this.apply({ type: 'job.deregister', atMs: this.now(), job: action.job });
        this.trace('fsm', `job ${action.job} stopped`);
        return;
      case 'start':
        this.#register(spec, 'operator start');
        return;
      default:
        unreachable(action);
    }
  }

  // ---- faults ----

  #applyFault(f: WorkloadFault): void {
    switch (f.kind) {
      case 'crash': {
        const n = this.nodes.get(f.node)!;
        if (!n.up) return;
        this.#crashNode(f.node);
        this.after(f.downMs, () => {
          if (!n.up) this.#bootNode(f.node);
        });
        return;
      }
      case 'isolate': {
        const n = this.nodes.get(f.node)!;
        if (n.isolated) return;
        n.isolated = true;
        this.#reachabilityChanged(f.node);
        if (this.leader?.id === f.node) this.#loseLeader(`leader ${f.node} cut off from the majority`);
        this.after(f.forMs, () => {
          if (!n.isolated) return;
          n.isolated = false;
          this.trace('sim', `rejoin ${f.node}`);
          this.#reachabilityChanged(f.node);
        });
        return;
      }
      case 'leader-change':
        if (this.leader !== undefined) this.#loseLeader(`leader ${this.leader.id} steps down`);
        return;
      case 'loss':
        this.lossProbability = f.probability;
        return;
      default:
        unreachable(f);
    }
  }

  #heal(): void {
    this.trace('sim', 'heal: every node up and connected, operator replaces broken versions and failed rollouts');
    this.lossProbability = TIMING.baseLoss;
    for (const [id, n] of this.nodes) {
      if (!n.up) this.#bootNode(id);
      if (n.isolated) {
        n.isolated = false;
        this.#reachabilityChanged(id);
      }
    }
    // The operator replaces a broken current version, and deploys afresh a job whose rollout
    // failed (a failed rollout stays failed, possibly with broken older instances restarting in
    // a loop, until someone acts: seed 1356).
    for (const record of this.fsm.jobs()) {
      if (record.status !== 'running') continue;
      const deployment = this.fsm.deployment(record.spec.job);
      const failed = deployment !== undefined && deployment.version === record.version && deployment.status === 'failed';
      if (behaviourOf(record.spec) === 'good' && !failed) continue;
      const plan = this.#jobs.find((j) => j.name === record.spec.job)!;
      this.#register(specOf(plan, this.#versionTag(plan.name), 'good', record.spec.count, record.spec.update.autoRevert), failed ? 'operator deploys again after a failed rollout' : 'operator fixes a broken version');
    }
    if (this.leader === undefined) this.#scheduleElection();
  }

  #crashNode(id: string): void {
    const n = this.nodes.get(id)!;
    assert(n.up, `crash ${id}: already down`);
    n.runner?.crash();
    n.runner = undefined;
    n.up = false;
    this.trace('sim', `crash ${id} incarnation=${n.incarnation}`);
    this.#reachabilityChanged(id);
    if (this.leader?.id === id) this.#loseLeader(`leader ${id} crashed`);
  }

  #bootNode(id: string): void {
    const n = this.nodes.get(id)!;
    assert(!n.up, `boot ${id}: already up`);
    n.up = true;
    n.incarnation += 1;
    n.runner = new NodeRunner(this, id, n.incarnation, this.sim.random(`node/${id}/${n.incarnation}`));
    this.trace('sim', `start ${id} incarnation=${n.incarnation}`);
    this.#reachabilityChanged(id);
    n.runner.start();
  }

  reachable(id: string): boolean {
    const n = this.nodes.get(id);
    return n !== undefined && n.up && !n.isolated;
  }

  /** Truth changed: record it (invariant 4) and let gossip notice it after its delays. */
  #reachabilityChanged(id: string): void {
    const n = this.nodes.get(id)!;
    const now = this.now();
    const reachable = this.reachable(id);
    const last = n.unreachable[n.unreachable.length - 1];
    const open = last !== undefined && last.toMs === undefined;
    if (reachable && open) last.toMs = now;
    if (!reachable && !open) {
      n.unreachable.push({ fromMs: now, toMs: undefined });
      if (n.unreachable.length > MAX_UNREACHABLE_KEPT) n.unreachable.shift();
    }
    for (const t of n.viewTimers) t.cancel();
    n.viewTimers = [];
    const set = (view: NodeState['view']): void => {
      if (n.view === view) return;
      n.view = view;
      n.viewDeadSinceMs = view === 'dead' ? this.now() : undefined;
      this.trace('gossip', `${id} ${view}`);
      this.leader?.poke();
    };
    if (reachable) {
      if (n.view !== 'alive') n.viewTimers.push(this.after(between(this.#gossip, TIMING.aliveAfter), () => set('alive')));
      return;
    }
    if (n.view === 'dead') return;
    const suspectMs = between(this.#gossip, TIMING.suspectAfter);
    const deadMs = between(this.#gossip, TIMING.deadAfter);
    if (n.view === 'alive') n.viewTimers.push(this.after(suspectMs, () => set('suspect')));
    n.viewTimers.push(this.after(Math.max(deadMs, suspectMs + 1), () => set('dead')));
  }

  // ---- leadership ----

  #loseLeader(why: string): void {
    const old = this.leader;
    if (old === undefined) return;
    old.retire();
    this.leader = undefined;
    this.trace('sim', `no leader: ${why}`);
    this.#scheduleElection();
  }

  #scheduleElection(): void {
    if (this.#electing) return;
    this.#electing = true;
    this.after(between(this.#control, TIMING.election), () => {
      this.#electing = false;
      if (this.leader !== undefined) return;
      const candidates = [...this.nodes.keys()].filter((id) => this.reachable(id)).sort();
      if (candidates.length === 0) {
        this.#scheduleElection();
        return;
      }
      const id = pick(this.#control, candidates);
      this.#term += 1;
      this.leader = new LeaderRole(this, id, this.#term, this.now(), this.sim.random(`leader/${this.#term}`));
      this.trace('sim', `leader ${id} term=${this.#term}`);
      this.leader.poke();
    });
  }

  /** The nodes as a leader sees them: gossip's view, with down times counted from when this leader took over at the earliest. */
  reconcileNodes(leader: LeaderRole): ReconcileNode[] {
    return [...this.nodes.values()].map((n) => {
      const self = n.shape.id === leader.id;
      const liveness = self ? 'alive' : n.view;
      const boost = this.settings.plantedBug === 'overcommit' ? 10 : 1;
      const base = { id: n.shape.id, version: '1.0.0', tags: {}, cpuMillis: n.shape.cpuMillis * boost, memoryMB: n.shape.memoryMB * boost, diskFreeMB: 100_000, cpuCores: 4, eligible: true, liveness };
      return liveness === 'dead' ? { ...base, downSinceMs: Math.max(n.viewDeadSinceMs ?? leader.sinceMs, leader.sinceMs) } : base;
    });
  }

  // ---- network ----

  /** A node's report batch to the leader: lossy, delayed, in order per link; dropped when either end is gone at delivery. */
  sendReport(from: NodeRunner, updates: AllocUpdateEntry[]): void {
    const leader = this.leader;
    if (leader === undefined || !this.reachable(from.id)) return;
    if (this.#net.float() < this.lossProbability) return;
    const key = `${from.id}>${leader.id}/${leader.term}`;
    const now = this.now();
    const at = Math.max(now + between(this.#net, TIMING.netDelay), this.#linkFreeAtMs.get(key) ?? 0);
    this.#linkFreeAtMs.set(key, at);
    this.after(at - now, () => {
      if (this.leader !== leader || !leader.active || !from.current() || !this.reachable(from.id)) return;
      this.apply({ type: 'alloc.update', atMs: this.now(), node: from.id as NodeId, updates });
      this.trace(`node ${from.id}`, `report applied: ${updates.map((u) => `${u.id.slice(0, 6)}=${u.client}/${u.health}`).join(' ')}`);
    });
  }

  /** Whether the leader's replication reaches a node this tick. */
  replicates(id: string): boolean {
    return this.leader !== undefined && this.reachable(id) && this.#net.float() >= this.lossProbability;
  }
}

// ---------------------------------------------------------------------------------------------
// The leader's reconciler loop (after src/agent/scheduler-runner.ts)

class LeaderRole {
  readonly id: string;
  readonly term: number;
  readonly sinceMs: number;
  active = true;
  readonly #w: WorkloadsWorld;
  readonly #random: Random;
  #timer: Timer | undefined;
  #dueMs = Number.POSITIVE_INFINITY;
  #busy = false;
  #again = false;

  constructor(world: WorkloadsWorld, id: string, term: number, sinceMs: number, random: Random) {
    this.#w = world;
    this.id = id;
    this.term = term;
    this.sinceMs = sinceMs;
    this.#random = random;
  }

  retire(): void {
    this.active = false;
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  poke(): void {
    this.#arm(TIMING.debounceMs);
  }

  #arm(delayMs: number): void {
    if (!this.active) return;
    if (this.#busy) {
      this.#again = true;
      return;
    }
    const due = this.#w.now() + delayMs;
    if (this.#timer !== undefined && due >= this.#dueMs) return;
    this.#timer?.cancel();
    this.#dueMs = due;
    this.#timer = this.#w.after(Math.max(0, delayMs), () => {
      this.#timer = undefined;
      this.#dueMs = Number.POSITIVE_INFINITY;
      this.#round();
    });
  }

  #round(): void {
    if (!this.active) return;
    const w = this.#w;
    const now = w.now();
    const settledAt = this.sinceMs + TIMING.leaderSettleMs;
    if (now < settledAt) {
      this.#arm(settledAt - now);
      return;
    }
    const fsm = w.fsm;
    const basis = fsm.planSeq;
    const computed = reconcile({
      nowMs: now,
      jobs: fsm.jobs(),
      allocs: fsm.allocs(),
      deployments: fsm.jobs().flatMap((j) => fsm.deployment(j.spec.job) ?? []),
      nodes: w.reconcileNodes(this),
      leader: this.id,
      settings: w.settings.plantedBug === 'grace' ? { ...w.reconcileSettings, lostGraceMs: w.reconcileSettings.lostGraceMs / 4 } : w.reconcileSettings,
      newId: () => w.newAllocId(),
    });
    const plan = plantBug(w.settings.plantedBug, computed, () => w.newAllocId());
    const next = plan.more ? TIMING.debounceMs : plan.nextAtMs === undefined ? TIMING.idleMs : Math.max(TIMING.debounceMs, Math.min(TIMING.idleMs, plan.nextAtMs - now));
    if (plan.place.length + plan.stop.length + plan.deployments.length + plan.reverts.length === 0) {
      this.#arm(next);
      return;
    }
    this.#busy = true;
    w.after(between(this.#random, TIMING.commit), () => {
      this.#busy = false;
      // A plan in flight when leadership moved may still commit (the entry reached a majority) or not.
      if (!this.active && this.#random.int(2) === 0) {
        w.trace(`leader ${this.id}`, `plan basis=${basis} lost with term ${this.term}`);
        return;
      }
      const changes = plan.place.length + plan.stop.length + plan.deployments.length;
      if (changes > 0) {
        const before = new Map(plan.stop.map((s) => [s.id, fsm.alloc(s.id)]));
        const r = w.apply({ type: 'alloc.plan', atMs: now, basis, place: plan.place, stop: plan.stop, deployments: plan.deployments, notes: [] });
        if (!r.ok) {
          w.trace(`leader ${this.id}`, `plan basis=${basis} refused: ${r.code}`);
          this.#arm(TIMING.debounceMs);
          return;
        }
        w.trace(`leader ${this.id}`, `plan basis=${basis} term=${this.term}${describePlan(plan, w)}`);
        w.checker.onPlanApplied(plan.stop, before);
      }
      for (const revert of plan.reverts) w.registerRevert(revert.spec, revert.fromVersion, revert.toVersion);
      if (this.#again) {
        this.#again = false;
        this.#arm(TIMING.debounceMs);
      } else this.#arm(next);
    });
  }
}

function plantBug(bug: PlantedBug | undefined, plan: ReconcilePlan, newId: () => string): ReconcilePlan {
  switch (bug) {
    case 'double-place':
      return { ...plan, place: plan.place.flatMap((p) => [p, { ...p, id: newId(), reason: `${p.reason} (planted duplicate)` }]) };
    case 'kill-before-healthy': {
      const stopping = new Set(plan.stop.map((s) => s.id));
      const early = plan.place.filter((p) => p.replaces !== undefined && p.reason.startsWith('rolling update') && !stopping.has(p.replaces));
      return { ...plan, stop: [...plan.stop, ...early.map((p) => ({ id: p.replaces!, reason: `replaced by ${p.id} (planted: stopped at once)` }))] };
    }
    default:
      return plan;
  }
}

function describePlan(plan: ReconcilePlan, w: WorkloadsWorld): string {
  const parts: string[] = [];
  for (const p of plan.place) parts.push(` place ${p.id.slice(0, 6)} ${p.job}[${p.index}]@${p.node} v${p.jobVersion} (${p.reason})`);
  for (const s of plan.stop) {
    const a = w.fsm.alloc(s.id);
    parts.push(` stop ${s.id.slice(0, 6)}${a === undefined ? '' : ` ${a.job}[${a.index}]@${a.node}`}${s.lost === true ? ' LOST' : ''} (${s.reason})`);
  }
  for (const d of plan.deployments) parts.push(` deployment ${d.job} v${d.version} ${d.status} (${d.reason})`);
  for (const r of plan.reverts) parts.push(` revert ${r.job} v${r.fromVersion}->spec of v${r.toVersion}`);
  return parts.join(';');
}

// ---------------------------------------------------------------------------------------------
// A node: its runner loop and its fake driver

type Phase = 'starting' | 'running' | 'waiting' | 'stopping' | 'done';

interface TaskRecord {
  /** The allocation as this node last saw it in its replica. */
  alloc: Allocation;
  readonly spec: JobSpec;
  readonly tracker: RestartTracker;
  /** Restarts before this node incarnation took the allocation over. */
  readonly restartsBase: number;
  phase: Phase;
  /** Bumped on every phase change: timers of an earlier phase do nothing. */
  gen: number;
  check: 'unknown' | 'passing' | 'critical';
  /** The task has exited or gone critical at least once: until it passes again it reports unhealthy. */
  troubled: boolean;
  final: 'complete' | 'failed' | undefined;
  detail: string;
}

class NodeRunner {
  readonly id: string;
  readonly incarnation: number;
  readonly records = new Map<string, TaskRecord>();
  readonly #w: WorkloadsWorld;
  readonly #random: Random;
  readonly #timers = new Set<Timer>();
  #replica: Allocation[] | undefined;
  #incoming: Allocation[] | undefined;
  #dead = false;

  constructor(world: WorkloadsWorld, id: string, incarnation: number, random: Random) {
    this.#w = world;
    this.id = id;
    this.incarnation = incarnation;
    this.#random = random;
  }

  current(): boolean {
    return !this.#dead;
  }

  start(): void {
    this.#after(between(this.#random, TIMING.nodeTick), () => this.#tick());
  }

  /** Power loss: every task dies with the node (a fault for invariant 3), every timer stops. */
  crash(): void {
    this.#dead = true;
    for (const t of this.#timers) t.cancel();
    this.#timers.clear();
    for (const r of this.records.values()) {
      if (r.phase !== 'done') this.#w.checker.onFault(r.alloc);
    }
    this.#w.checker.onDriverChange();
  }

  #after(delayMs: number, fn: () => void): void {
    const timer = this.#w.after(delayMs, () => {
      this.#timers.delete(timer);
      if (!this.#dead) fn();
    });
    this.#timers.add(timer);
  }

  /** A timer of the record's current phase only. */
  #afterIn(r: TaskRecord, delayMs: number, fn: () => void): void {
    const gen = r.gen;
    this.#after(delayMs, () => {
      if (r.gen === gen) fn();
    });
  }

  #log(text: string): void {
    this.#w.trace(`node ${this.id}`, text);
  }

  #tick(): void {
    // The replica taken last tick arrives now: the node always acts one tick behind the leader.
    if (this.#incoming !== undefined) this.#replica = this.#incoming;
    this.#incoming = undefined;
    if (this.#replica !== undefined) {
      this.#act(this.#replica);
      this.#report(this.#replica);
    }
    if (this.#w.replicates(this.id)) this.#incoming = this.#w.fsm.allocs().filter((a) => a.node === this.id);
    this.#after(between(this.#random, TIMING.nodeTick), () => this.#tick());
  }

  #act(replica: readonly Allocation[]): void {
    const byId = new Map(replica.map((a) => [a.id, a]));
    for (const a of replica) {
      const r = this.records.get(a.id);
      if (r === undefined) {
        if (isTerminalClient(a.client)) continue;
        if (a.desired === 'run') this.#take(a);
        else {
          // After a restart: told to stop something this incarnation never ran. Say it is not running.
          this.records.set(a.id, this.#record(a, 'done', 'complete', 'not running (the node restarted)'));
        }
        continue;
      }
      r.alloc = a;
      if (this.#w.settings.plantedBug === 'ignore-stops') continue;
      if (a.desired === 'stop' || isTerminalClient(a.client)) this.#stop(r, a.client === 'lost' ? 'lost' : 'told to stop');
    }
    for (const [id, r] of this.records) {
      const a = byId.get(id);
      if (a === undefined) this.#stop(r, 'forgotten by the cluster');
      if ((a === undefined || isTerminalClient(a.client)) && r.phase === 'done') this.records.delete(id);
    }
  }

  #record(a: Allocation, phase: Phase, final: TaskRecord['final'], detail: string): TaskRecord {
    const spec = this.#w.specs.get(a.taskSha256);
    assert(spec !== undefined, `no spec for task ${a.taskSha256} of ${a.job}`);
    // A restarted node does not know how often it restarted the task before: it continues from
    // the replicated count, plus one for the restart the crash forces on a task that was running.
    const base = a.restarts + (a.client === 'running' ? 1 : 0);
    return { alloc: a, spec, tracker: new RestartTracker(spec.type, spec.restart), restartsBase: base, phase, gen: 0, check: 'unknown', troubled: false, final, detail };
  }

  #take(a: Allocation): void {
    const r = this.#record(a, 'starting', undefined, 'starting');
    this.records.set(a.id, r);
    this.#log(`take ${a.id.slice(0, 6)} ${a.job}[${a.index}] v${a.jobVersion}`);
    this.#launch(r);
  }

  #set(r: TaskRecord, phase: Phase, detail: string): void {
    r.gen += 1;
    r.phase = phase;
    r.detail = detail;
    this.#w.checker.onDriverChange();
  }

  #launch(r: TaskRecord): void {
    this.#set(r, 'starting', 'starting');
    r.check = 'unknown';
    this.#afterIn(r, between(this.#random, TIMING.taskStart), () => this.#running(r));
  }

  #running(r: TaskRecord): void {
    this.#set(r, 'running', 'running');
    const behaviour = behaviourOf(r.spec);
    const w = this.#w;
    if (behaviour === 'crash') {
      this.#afterIn(r, between(this.#random, TIMING.brokenCrash), () => this.#end(r, { kind: 'exited', exitCode: 1 }));
      return;
    }
    if (behaviour === 'unhealthy') {
      this.#afterIn(r, between(this.#random, TIMING.brokenCritical), () => this.#critical(r, 'broken version'));
      return;
    }
    this.#afterIn(r, between(this.#random, TIMING.healthy), () => {
      // A check that went critical first stays critical until the task restarts.
      if (r.check !== 'unknown') return;
      r.check = 'passing';
      r.troubled = false;
      w.checker.onHealthy(r.alloc);
      w.checker.onDriverChange();
    });
    if (r.spec.type === 'batch') this.#afterIn(r, between(this.#random, TIMING.batchRun), () => this.#end(r, { kind: 'exited', exitCode: 0 }));
    // Faults of good tasks, during the fault phase only.
    const crashIn = exponential(this.#random, TIMING.meanTaskCrashMs);
    const criticalIn = exponential(this.#random, TIMING.meanTaskCriticalMs);
    const code = pick(this.#random, [1, 1, 137, 0]);
    if (w.now() + crashIn < w.healAtMs) {
      this.#afterIn(r, crashIn, () => {
        this.#log(`fault: ${r.alloc.id.slice(0, 6)} ${r.alloc.job}[${r.alloc.index}] exits with code ${code}`);
        w.checker.onFault(r.alloc);
        this.#end(r, { kind: 'exited', exitCode: code });
      });
    }
    if (w.now() + criticalIn < w.healAtMs) {
      this.#afterIn(r, criticalIn, () => {
        w.checker.onFault(r.alloc);
        this.#critical(r, 'fault');
      });
    }
  }

  #critical(r: TaskRecord, why: string): void {
    r.check = 'critical';
    r.troubled = true;
    this.#log(`${r.alloc.id.slice(0, 6)} ${r.alloc.job}[${r.alloc.index}] check critical (${why})`);
    this.#w.checker.onDriverChange();
    this.#afterIn(r, TIMING.criticalRestartMs, () => this.#end(r, { kind: 'unhealthy', detail: 'alive: critical' }));
  }

  /** The task ended on its own (or was stopped for its health): the restart policy decides. */
  #end(r: TaskRecord, end: TaskEnd): void {
    const d = r.tracker.onEnd(end, this.#w.now());
    r.check = 'unknown';
    this.#log(`${r.alloc.id.slice(0, 6)} ${r.alloc.job}[${r.alloc.index}] ${d.action}: ${d.reason}`);
    switch (d.action) {
      case 'restart':
        r.troubled = true;
        this.#set(r, 'waiting', d.reason);
        this.#afterIn(r, d.delayMs, () => this.#launch(r));
        return;
      case 'fail':
        r.final = 'failed';
        this.#set(r, 'done', d.reason);
        return;
      case 'complete':
        r.final = 'complete';
        this.#set(r, 'done', d.reason);
        return;
      default:
        unreachable(d);
    }
  }

  #stop(r: TaskRecord, why: 'lost' | 'told to stop' | 'forgotten by the cluster'): void {
    if (r.phase === 'done' || r.phase === 'stopping') return;
    const wasServing = r.phase === 'running' && r.check === 'passing';
    this.#log(`stop ${r.alloc.id.slice(0, 6)} ${r.alloc.job}[${r.alloc.index}] (${why}: ${r.alloc.desiredReason})${wasServing ? ' while healthy' : ''}`);
    if (why === 'lost') this.#w.checker.onFault(r.alloc);
    if (wasServing) this.#w.checker.onKill(r.alloc);
    r.final = 'complete';
    if (r.phase === 'running') {
      this.#set(r, 'stopping', 'stopping');
      this.#afterIn(r, between(this.#random, TIMING.stop), () => this.#set(r, 'done', 'stopped'));
    } else {
      this.#set(r, 'done', 'stopped');
    }
  }

  #report(replica: readonly Allocation[]): void {
    const updates: AllocUpdateEntry[] = [];
    for (const a of replica) {
      const r = this.records.get(a.id);
      if (r === undefined || isTerminalClient(a.client)) continue;
      const e = entryOf(r);
      const changed = e.client !== a.client || e.clientDetail !== a.clientDetail || e.health !== a.health || e.restarts > a.restarts || !sameStatuses(e.checks, a.checks);
      if (changed) updates.push(e);
    }
    if (updates.length > 0) this.#w.sendReport(this, updates.slice(0, MAX_PLAN_ITEMS));
  }
}

type Entry = AllocUpdateEntry & { readonly client: Exclude<AllocClientStatus, 'lost'>; readonly clientDetail: string; readonly health: AllocHealth; readonly checks: readonly AllocCheck[]; readonly restarts: number };

function entryOf(r: TaskRecord): Entry {
  const client: Exclude<AllocClientStatus, 'lost'> = r.phase === 'done' ? r.final! : r.phase === 'starting' || r.phase === 'waiting' ? 'pending' : 'running';
  const serving = (r.phase === 'running' || r.phase === 'stopping') && r.check === 'passing';
  const health: AllocHealth = isTerminalClient(client) ? 'unknown' : serving ? 'healthy' : r.check === 'critical' || r.troubled ? 'unhealthy' : 'unknown';
  const checks: AllocCheck[] = health === 'unknown' ? [] : [{ name: 'alive', status: health === 'healthy' ? 'passing' : 'critical', output: health === 'healthy' ? '' : r.detail }];
  return { id: r.alloc.id, client, clientDetail: r.detail, health, checks, restarts: r.restartsBase + r.tracker.restarts };
}

function sameStatuses(a: readonly AllocCheck[], b: readonly AllocCheck[]): boolean {
  return a.length === b.length && a.every((c, i) => c.name === b[i]!.name && c.status === b[i]!.status);
}

// ---------------------------------------------------------------------------------------------
// Invariants

/**
 * How far the leader's state may lag the drivers about a fault (a report every ~500 ms, lost now
 * and then, none while there is no leader): invariant 3 excuses a kill decided this soon after a
 * fault on the same index.
 */
const STALE_VIEW_MS = 5000;

/** Stops of instances that are not replaced: they never count as serving old instances. */
const RETIRING = /^(job stopped|job purged|scaled down to )/;

class Checker {
  readonly #w: WorkloadsWorld;
  #checkedIndex = -1;
  #driverDirty = true;
  #violation: { name: string; message: string } | undefined;
  #liveness: string | undefined;
  /** Service job indexes (job\0index) that had a serving task at the last check. */
  readonly #serving = new Set<string>();
  /** The last fault that hit each index, and the last time a task of it turned healthy. */
  readonly #faultAtMs = new Map<string, number>();
  readonly #healthyAtMs = new Map<string, number>();
  /** Allocations a fault took down, until they serve again or are no longer wanted. */
  readonly #downByFault = new Map<string, string>();
  /** The last scheduler kill of a healthy task per index: what, and when the stop was decided. */
  readonly #lastKill = new Map<string, { readonly text: string; readonly atMs: number; readonly decidedAtMs: number; readonly delayedByFault: boolean }>();
  /** When each stop was applied to the state (bounded: forgotten once acted on, or when too many). */
  readonly #stopDecidedAtMs = new Map<string, number>();
  #servingIndex = -1;

  constructor(world: WorkloadsWorld) {
    this.#w = world;
  }

  install(): void {
    const sim = this.#w.sim;
    sim.invariant('1 capacity: no node holds more than it has', () => this.#fsmChecks()?.capacity);
    sim.invariant('2 instances: at most one current and two in all per index, at most maxParallel doubled', () => this.#fsmChecks()?.instances);
    sim.invariant('3 serving: old instances are not killed before new ones are healthy', () => this.#servingCheck());
    sim.invariant('4 flaps: allocations are declared lost only after lostGraceMs', () => (this.#violation?.name === 'flap' ? this.#violation.message : undefined));
    sim.invariant('5 liveness: the healed cluster runs what the jobs ask for', () => this.#liveness);
  }

  onDriverChange(): void {
    this.#driverDirty = true;
  }

  onFault(a: Allocation): void {
    this.#faultAtMs.set(key(a.job, a.index), this.#w.now());
    this.#downByFault.set(a.id, key(a.job, a.index));
  }

  onHealthy(a: Allocation): void {
    this.#healthyAtMs.set(key(a.job, a.index), this.#w.now());
    this.#downByFault.delete(a.id);
  }

  /** An allocation of the index that a fault took down is still wanted and has not served since. */
  #lostInstance(k: string): boolean {
    for (const [id, of] of this.#downByFault) {
      const a = this.#w.fsm.alloc(id);
      if (a === undefined || a.desired !== 'run' || isTerminalClient(a.client)) this.#downByFault.delete(id);
      else if (of === k) return true;
    }
    return false;
  }

  onKill(a: Allocation): void {
    const latest = this.#w.fsm.alloc(a.id) ?? a;
    const now = this.#w.now();
    const decidedAtMs = this.#stopDecidedAtMs.get(a.id) ?? now;
    this.#stopDecidedAtMs.delete(a.id);
    // A node cut off after the decision carries it out only when it is back, on a world that
    // has moved on; one cut off shortly before it had not reported since (seed 2274: a health
    // record from before the cut): either way the fault's doing.
    const delayedByFault = this.#w.nodes.get(a.node)!.unreachable.some((r) => (r.toMs ?? now) > decidedAtMs - STALE_VIEW_MS);
    this.#lastKill.set(key(a.job, a.index), { text: `${a.id.slice(0, 6)} on ${a.node} (${latest.desiredReason}), decided at ${decidedAtMs}, killed at ${now}`, atMs: now, decidedAtMs, delayedByFault });
  }

  /** Invariant 4, at the moment a plan declares allocations lost. */
  onPlanApplied(stops: readonly { id: string; reason: string; lost?: boolean | undefined }[], before: ReadonlyMap<string, Allocation | undefined>): void {
    if (this.#stopDecidedAtMs.size > 10_000) this.#stopDecidedAtMs.clear();
    for (const s of stops) {
      this.#stopDecidedAtMs.set(s.id, this.#w.now());
      // The operator's stop or scale-down takes instances away on purpose (the job may have been
      // started again before the leader acted on the stop): not the scheduler's doing.
      const a = before.get(s.id);
      if (a !== undefined && RETIRING.test(s.reason)) this.#faultAtMs.set(key(a.job, a.index), this.#w.now());
    }
    for (const s of stops) {
      if (s.lost !== true) continue;
      const a = before.get(s.id);
      if (a === undefined || isTerminalClient(a.client)) continue;
      const problem = this.#lostTooEarly(a.node);
      if (problem !== undefined && this.#violation === undefined) this.#violation = { name: 'flap', message: `${a.job}[${a.index}] alloc ${a.id} on ${a.node} declared lost: ${problem}` };
    }
  }

  #lostTooEarly(nodeId: string): string | undefined {
    const n = this.#w.nodes.get(nodeId);
    if (n === undefined) return 'unknown node';
    const now = this.#w.now();
    const grace = this.#w.settings.lostGraceMs;
    const runs = n.unreachable;
    const last = runs[runs.length - 1];
    if (last === undefined) return 'the node was never unreachable';
    if (last.toMs !== undefined && now - last.toMs >= MAX_ALIVE_AFTER_MS) return `the node has been reachable for ${now - last.toMs} ms`;
    let fromMs = last.fromMs;
    for (let i = runs.length - 2; i >= 0; i--) {
      const r = runs[i]!;
      if (r.toMs !== undefined && fromMs - r.toMs < MAX_ALIVE_AFTER_MS) fromMs = r.fromMs;
      else break;
    }
    const downMs = (last.toMs ?? now) - fromMs;
    return downMs >= grace ? undefined : `the node was unreachable for only ${downMs} ms (lostGraceMs ${grace}) from ${fromMs}`;
  }

  #fsmChecks(): { capacity?: string; instances?: string } | undefined {
    const fsm = this.#w.fsm;
    if (fsm.appliedIndex === this.#checkedIndex) return this.#lastFsm;
    this.#checkedIndex = fsm.appliedIndex;
    const allocs = fsm.allocs();
    const out: { capacity?: string; instances?: string } = {};
    const used = new Map<string, { cpu: number; mem: number }>();
    for (const a of allocs) {
      if (!holdsResources(a)) continue;
      const u = used.get(a.node) ?? { cpu: 0, mem: 0 };
      u.cpu += a.cpuMillis;
      u.mem += a.memoryMB;
      used.set(a.node, u);
    }
    for (const [node, u] of used) {
      const shape = this.#w.nodes.get(node)!.shape;
      if (u.cpu > shape.cpuMillis || u.mem > shape.memoryMB) {
        out.capacity = `node ${node} holds ${u.cpu}m cpu / ${u.mem} MB of ${shape.cpuMillis}m / ${shape.memoryMB} MB`;
        break;
      }
    }
    for (const job of fsm.jobs()) {
      if (job.spec.type !== 'service' || out.instances !== undefined) continue;
      const current = taskSha256(job.spec);
      const active = allocs.filter((a) => a.job === job.spec.job && a.desired === 'run' && !isTerminalClient(a.client));
      const byIndex = new Map<number, Allocation[]>();
      for (const a of active) byIndex.set(a.index, [...(byIndex.get(a.index) ?? []), a]);
      let doubled = 0;
      for (const [index, list] of byIndex) {
        const show = (): string => list.map((a) => `${a.id.slice(0, 6)}@${a.node} v${a.jobVersion} ${a.client}/${a.health}`).join(', ');
        if (list.filter((a) => a.taskSha256 === current).length > 1) out.instances = `${job.spec.job}[${index}] has two active allocations of the current task: ${show()}`;
        else if (list.length > 2) out.instances = `${job.spec.job}[${index}] has ${list.length} active allocations: ${show()}`;
        if (list.length === 2) doubled += 1;
      }
      if (out.instances === undefined && doubled > job.spec.update.maxParallel) out.instances = `${job.spec.job} has ${doubled} indexes with two active allocations (maxParallel ${job.spec.update.maxParallel})`;
    }
    this.#lastFsm = out;
    return out;
  }

  #lastFsm: { capacity?: string; instances?: string } | undefined;

  #servingCheck(): string | undefined {
    const w = this.#w;
    // Driver changes, and job changes (a stop and a start between two driver changes must be seen).
    if (!this.#driverDirty && w.fsm.appliedIndex === this.#servingIndex) return undefined;
    this.#driverDirty = false;
    this.#servingIndex = w.fsm.appliedIndex;
    const now = w.now();
    const serving = new Set<string>();
    for (const n of w.nodes.values()) {
      if (!n.up || n.runner === undefined) continue;
      for (const r of n.runner.records.values()) {
        if (r.spec.type !== 'service' || r.phase !== 'running' || r.check !== 'passing') continue;
        const a = w.fsm.alloc(r.alloc.id) ?? r.alloc;
        if (a.desired === 'stop' && RETIRING.test(a.desiredReason)) continue;
        serving.add(key(a.job, a.index));
      }
    }
    const tracked = new Set<string>();
    for (const job of w.fsm.jobs()) {
      if (job.spec.type !== 'service' || job.status !== 'running') continue;
      for (let i = 0; i < job.spec.count; i++) {
        const k = key(job.spec.job, i);
        tracked.add(k);
        const was = this.#serving.has(k);
        const is = serving.has(k);
        if (is) this.#serving.add(k);
        else this.#serving.delete(k);
        if (!was || is) continue;
        const faultAt = this.#faultAtMs.get(k) ?? Number.NEGATIVE_INFINITY;
        const healthyAt = this.#healthyAtMs.get(k) ?? Number.NEGATIVE_INFINITY;
        // Lost to a fault, and nothing has turned healthy since; or an instance of it that a
        // fault took down is still counted on (the count the brief allows: count minus the
        // instances lost to faults).
        if (faultAt >= healthyAt || this.#lostInstance(k)) continue;
        // Killed on a decision taken while the state had not heard yet of a fault on this index
        // (reports take a tick or two, more when lost), or that a fault overtook.
        const kill = this.#lastKill.get(k);
        if (kill !== undefined && kill.atMs === now && (kill.delayedByFault || faultAt >= kill.decidedAtMs - STALE_VIEW_MS)) continue;
        return `${job.spec.job}[${i}] has no healthy instance left at ${now} and no fault explains it; last kill of a healthy instance: ${kill?.text ?? 'none'}`;
      }
    }
    for (const k of [...this.#serving]) if (!tracked.has(k)) this.#serving.delete(k);
    return undefined;
  }

  /** Invariant 5, once, at the end of the quiet period. */
  checkLiveness(): void {
    const w = this.#w;
    w.trace('sim', 'liveness check');
    const problems: string[] = [];
    const allocs = w.fsm.allocs();
    const leader = w.leader?.id;
    if (leader === undefined) problems.push('no leader');
    const tasks = [...w.nodes.values()].flatMap((n) => (n.runner === undefined ? [] : [...n.runner.records.values()].filter((r) => r.phase !== 'done').map((r) => ({ node: n.shape.id, r }))));
    for (const job of w.fsm.jobs()) {
      const name = job.spec.job;
      const mine = allocs.filter((a) => a.job === name);
      const active = mine.filter((a) => a.desired === 'run' && !isTerminalClient(a.client));
      const running = active.filter((a) => a.client === 'running');
      const show = (list: readonly Allocation[]): string => list.map((a) => `${a.id.slice(0, 6)}[${a.index}]@${a.node} v${a.jobVersion} ${a.client}/${a.health}`).join(', ') || 'none';
      if (job.status === 'stopped') {
        if (active.length > 0) problems.push(`${name} is stopped but has active allocations: ${show(active)}`);
        continue;
      }
      if (active.length !== running.length) problems.push(`${name} has allocations not running: ${show(active.filter((a) => a.client !== 'running'))}`);
      const deployment = w.fsm.deployment(name);
      const failed = deployment !== undefined && deployment.version === job.version && deployment.status === 'failed';
      const allowed = new Set([taskSha256(job.spec), ...(failed ? job.history.map((v) => taskSha256(v.spec)) : [])]);
      const wrong = running.filter((a) => !allowed.has(a.taskSha256));
      if (wrong.length > 0) problems.push(`${name} v${job.version} runs other versions${failed ? ' than its history' : ''}: ${show(wrong)}`);
      switch (job.spec.type) {
        case 'service': {
          const indexes = new Set(running.map((a) => a.index));
          if (running.length !== job.spec.count || indexes.size !== job.spec.count || [...indexes].some((i) => i >= job.spec.count)) problems.push(`${name} wants ${job.spec.count} instances, runs ${show(running)}`);
          break;
        }
        case 'system': {
          const nodes = running.map((a) => a.node as string).sort();
          if (nodes.join(',') !== [...w.nodes.keys()].sort().join(',')) problems.push(`${name} should run once on every node, runs ${show(running)}`);
          break;
        }
        case 'leader':
          if (running.length !== 1 || running[0]!.node !== leader) problems.push(`${name} should run once on the leader ${leader ?? '(none)'}, runs ${show(running)}`);
          break;
        case 'batch': {
          const done = new Set(mine.filter((a) => a.client === 'complete' && a.desired === 'run').map((a) => a.index));
          for (let i = 0; i < job.spec.count; i++) if (!done.has(i)) problems.push(`${name}[${i}] never completed; allocations: ${show(mine)}`);
          if (active.length > 0) problems.push(`${name} still has active allocations: ${show(active)}`);
          break;
        }
        default:
          unreachable(job.spec.type);
      }
      if (job.spec.type !== 'batch') {
        const unhealthy = running.filter((a) => a.health !== 'healthy');
        if (unhealthy.length > 0) problems.push(`${name} has unhealthy instances: ${show(unhealthy)}`);
      }
    }
    // The drivers run exactly the running allocations: no orphans, nothing missing.
    const runningIds = new Set(allocs.filter((a) => a.desired === 'run' && a.client === 'running').map((a) => a.id));
    for (const { node, r } of tasks) {
      if (!runningIds.has(r.alloc.id)) problems.push(`orphan task ${r.alloc.id.slice(0, 6)} ${r.alloc.job}[${r.alloc.index}] on ${node} (${r.phase})`);
    }
    const live = new Set(tasks.filter((t) => t.r.phase === 'running').map((t) => t.r.alloc.id));
    for (const id of runningIds) if (!live.has(id)) problems.push(`allocation ${id.slice(0, 6)} is running in the state but not in its node's driver`);
    if (problems.length > 0) this.#liveness = `not converged ${w.settings.quietPhaseMs} ms after healing: ${problems.slice(0, 6).join('; ')}${problems.length > 6 ? ` (+${problems.length - 6} more)` : ''}`;
  }
}

function key(job: string, index: number): string {
  return `${job}\u0000${index}`;
}
