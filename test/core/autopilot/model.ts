// A model cluster for the autopilot, in simulated time (one step = one second = one autopilot
// call on the leader). No Raft core and no gossip core: just enough of both to feed the autopilot
// realistic inputs and to apply its decisions the way the agent will.
//  - Gossip: a crashed node is suspect after 1 s and dead after 4 s; a gracefully leaving node
//    is 'alive' + leaving until it is out of the configuration, then 'left'; dead and left nodes
//    are reaped from the member list after reapMs (then the autopilot sees them as unknown).
//  - Raft: the log grows every step; a running member catches up catchUpMs after it entered the
//    configuration or restarted; a new leader is the most up-to-date running voter and exists
//    only while a majority of the voters runs; a change is pending for one step and while its
//    configuration lacks a running majority; a new leader cannot change the config in its first
//    step (it must commit an entry of its term first).
// Every step checks the autopilot's safety contract, and failures carry the event log.

import assert from 'node:assert/strict';
import { Autopilot } from '../../../src/core/autopilot/autopilot.ts';
import type { AutopilotDecision, AutopilotSettings, MemberView, NodeResources } from '../../../src/core/autopilot/types.ts';
import { applyConfigChange, isSafeSuccessor, isWellFormed, majority } from '../../../src/core/raft/quorum.ts';
import type { ClusterConfig, NodeId } from '../../../src/core/raft/types.ts';
import type { MemberStatus } from '../../../src/core/swim/types.ts';

export const STEP_MS = 1000;
const SUSPECT_AFTER_MS = 1000;
const DEAD_AFTER_MS = 4000;
const ENTRIES_PER_STEP = 10;

export function nid(id: string | number): NodeId {
  return String(id) as NodeId;
}

export interface ModelNodeSpec {
  readonly id: NodeId;
  readonly hub?: boolean;
  readonly resources?: NodeResources;
  readonly startedAtMs?: number;
}

interface ModelNode {
  readonly id: NodeId;
  hub: boolean;
  resources: NodeResources;
  startedAtMs: number;
  running: boolean;
  leaving: boolean;
  /** Left for good (graceful leave finished). */
  gone: boolean;
  gossip: { status: MemberStatus; sinceMs: number } | undefined;
  crashedAtMs: number | undefined;
  /** When it (re)entered the configuration or restarted while in it; caught up catchUpMs later. */
  syncingSinceMs: number | undefined;
  match: number;
}

export interface ModelOptions {
  readonly settings: Partial<AutopilotSettings>;
  readonly catchUpMs?: number;
  readonly reapMs?: number;
}

export const DEFAULT_RESOURCES: NodeResources = { cpuCores: 4, memoryFreeBytes: 8 * 1024 ** 3, diskFreeBytes: 100 * 1024 ** 3 };

export class ModelCluster {
  nowMs = 0;
  config: ClusterConfig;
  leader: NodeId | undefined;
  pending = false;
  lastIndex = 1;
  readonly nodes = new Map<NodeId, ModelNode>();
  readonly log: string[] = [];
  /** Every decision taken, with its time and leader. */
  readonly decisions: Array<{ readonly atMs: number; readonly leader: NodeId; readonly decision: AutopilotDecision }> = [];
  readonly #autopilots = new Map<NodeId, Autopilot>();
  readonly #settings: Partial<AutopilotSettings>;
  readonly #catchUpMs: number;
  readonly #reapMs: number;
  #leaderSinceStep = true;

  /** A cluster whose first voter leads; every listed node runs and is alive in gossip. */
  constructor(specs: readonly ModelNodeSpec[], config: ClusterConfig, options: ModelOptions) {
    this.#settings = options.settings;
    this.#catchUpMs = options.catchUpMs ?? 2000;
    this.#reapMs = options.reapMs ?? 120_000;
    for (const s of specs) this.#addNode(s);
    this.config = config;
    for (const id of [...config.voters, ...config.learners]) {
      const n = this.#node(id);
      n.match = this.lastIndex;
      n.syncingSinceMs = -this.#catchUpMs;
    }
    this.leader = config.voters[0];
    this.#leaderSinceStep = false;
  }

  /** A one-node cluster (the originator) plus nothing else. */
  static origin(spec: ModelNodeSpec, options: ModelOptions): ModelCluster {
    return new ModelCluster([spec], { voters: [spec.id], learners: [] }, options);
  }

  // --- events ---------------------------------------------------------------------------------

  join(spec: ModelNodeSpec): void {
    assert.ok(!this.nodes.has(spec.id), `${spec.id} exists`);
    this.#addNode({ ...spec, startedAtMs: spec.startedAtMs ?? this.nowMs });
    this.note(`join ${spec.id}`);
  }

  crash(id: NodeId): void {
    const n = this.#node(id);
    assert.ok(n.running, `${id} is not running`);
    n.running = false;
    n.crashedAtMs = this.nowMs;
    n.syncingSinceMs = undefined;
    this.note(`crash ${id}`);
  }

  recover(id: NodeId): void {
    const n = this.#node(id);
    assert.ok(!n.running && !n.gone, `${id} cannot recover`);
    n.running = true;
    n.crashedAtMs = undefined;
    n.startedAtMs = this.nowMs;
    n.gossip = { status: 'alive', sinceMs: this.nowMs };
    if (this.isMember(id)) n.syncingSinceMs = this.nowMs;
    this.note(`recover ${id}`);
  }

  leave(id: NodeId): void {
    const n = this.#node(id);
    assert.ok(n.running, `${id} is not running`);
    n.leaving = true;
    this.note(`leave ${id} (announced)`);
  }

  setResources(id: NodeId, resources: NodeResources): void {
    this.#node(id).resources = resources;
  }

  // --- stepping -------------------------------------------------------------------------------

  /** One second: gossip and replication move, then the leader's autopilot takes one step. */
  step(): AutopilotDecision | undefined {
    this.nowMs += STEP_MS;
    this.lastIndex += ENTRIES_PER_STEP;
    this.#updateGossip();
    this.#commitPending();
    this.#ensureLeader();
    this.#replicate();
    const leader = this.leader;
    if (leader === undefined) return undefined;
    if (this.#leaderSinceStep) {
      // The new leader has not yet committed an entry of its own term: no config change yet.
      this.#leaderSinceStep = false;
      this.pending = true;
    }
    const decision = this.#autopilot(leader).decide({
      nowMs: this.nowMs,
      leader,
      config: this.config,
      configChangePending: this.pending,
      leaderLastIndex: this.lastIndex,
      members: this.members(),
      progress: this.#progress(leader),
    });
    this.decisions.push({ atMs: this.nowMs, leader, decision });
    if (decision.kind !== 'wait') this.note(`${leader}: ${decision.kind} ${'node' in decision ? decision.node : decision.to} - ${decision.reason}`);
    this.#apply(leader, decision);
    return decision;
  }

  run(steps: number): void {
    for (let i = 0; i < steps; i++) this.step();
  }

  /** Steps until `done` holds (checked after each step); returns the steps taken or -1. */
  runUntil(done: () => boolean, maxSteps: number): number {
    for (let i = 1; i <= maxSteps; i++) {
      this.step();
      if (done()) return i;
    }
    return -1;
  }

  // --- views ----------------------------------------------------------------------------------

  members(): MemberView[] {
    const out: MemberView[] = [];
    for (const n of this.nodes.values()) {
      if (n.gossip === undefined) continue;
      out.push({
        id: n.id,
        status: n.gossip.status,
        statusSinceMs: n.gossip.sinceMs,
        leaving: n.leaving,
        tags: n.hub ? { hub: 'true' } : {},
        resources: n.resources,
        startedAtMs: n.startedAtMs,
      });
    }
    return out;
  }

  isMember(id: NodeId): boolean {
    return this.config.voters.includes(id) || this.config.learners.includes(id);
  }

  running(id: NodeId): boolean {
    return this.#node(id).running;
  }

  /** Nodes that run and have not announced a leave. */
  healthyNodes(): NodeId[] {
    return [...this.nodes.values()].filter((n) => n.running && !n.leaving).map((n) => n.id);
  }

  runningVoters(): NodeId[] {
    return this.config.voters.filter((id) => this.#node(id).running);
  }

  /** A leader exists and a majority of the voters runs: writes can commit. */
  writable(): boolean {
    return this.leader !== undefined && this.runningVoters().length >= majority(this.config.voters.length);
  }

  note(line: string): void {
    this.log.push(`t=${this.nowMs / 1000}s ${line}`);
  }

  /** The recent history, for assertion messages. */
  trace(lines = 40): string {
    return `\n  config ${JSON.stringify(this.config)} leader ${this.leader}\n  ${this.log.slice(-lines).join('\n  ')}`;
  }

  // --- internals ------------------------------------------------------------------------------

  #addNode(s: ModelNodeSpec): void {
    this.nodes.set(s.id, {
      id: s.id,
      hub: s.hub ?? false,
      resources: s.resources ?? DEFAULT_RESOURCES,
      startedAtMs: s.startedAtMs ?? 0,
      running: true,
      leaving: false,
      gone: false,
      gossip: { status: 'alive', sinceMs: this.nowMs },
      crashedAtMs: undefined,
      syncingSinceMs: undefined,
      match: 0,
    });
  }

  #node(id: NodeId): ModelNode {
    const n = this.nodes.get(id);
    assert.ok(n !== undefined, `unknown node ${id}`);
    return n;
  }

  #autopilot(id: NodeId): Autopilot {
    let ap = this.#autopilots.get(id);
    if (ap === undefined) {
      ap = new Autopilot(this.#settings);
      this.#autopilots.set(id, ap);
    }
    return ap;
  }

  #updateGossip(): void {
    for (const n of this.nodes.values()) {
      if (n.gone) {
        if (n.gossip !== undefined && this.nowMs - n.gossip.sinceMs >= this.#reapMs) n.gossip = undefined;
        continue;
      }
      if (n.leaving && n.running && !this.isMember(n.id)) {
        // The graceful leave completes once the node is out of the configuration.
        n.running = false;
        n.gone = true;
        n.gossip = { status: 'left', sinceMs: this.nowMs };
        this.note(`${n.id} left`);
        continue;
      }
      if (n.running || n.crashedAtMs === undefined) continue;
      const downMs = this.nowMs - n.crashedAtMs;
      if (downMs >= DEAD_AFTER_MS && n.gossip?.status !== 'dead') {
        if (n.gossip !== undefined) n.gossip = { status: 'dead', sinceMs: n.crashedAtMs + DEAD_AFTER_MS };
      } else if (downMs >= SUSPECT_AFTER_MS && n.gossip?.status === 'alive') {
        n.gossip = { status: 'suspect', sinceMs: n.crashedAtMs + SUSPECT_AFTER_MS };
      }
      if (n.gossip?.status === 'dead' && this.nowMs - n.gossip.sinceMs >= this.#reapMs) n.gossip = undefined;
    }
  }

  #commitPending(): void {
    if (!this.pending) return;
    if (this.leader !== undefined && this.runningVoters().length >= majority(this.config.voters.length)) this.pending = false;
  }

  #ensureLeader(): void {
    const current = this.leader;
    if (current !== undefined && this.#node(current).running && this.config.voters.includes(current)) {
      // Check-quorum (thesis 6.2): a leader without a running majority steps down.
      if (this.runningVoters().length >= majority(this.config.voters.length)) return;
      this.note(`leader ${current} steps down: no running majority`);
      this.leader = undefined;
    }
    const running = this.runningVoters();
    if (running.length < majority(this.config.voters.length)) {
      if (this.leader !== undefined) this.note('no leader: quorum lost');
      this.leader = undefined;
      return;
    }
    const best = running.sort((a, b) => this.#node(b).match - this.#node(a).match || (a < b ? -1 : 1))[0];
    if (best !== this.leader) {
      this.leader = best;
      this.#leaderSinceStep = true;
      if (best !== undefined) this.#node(best).match = this.lastIndex;
      this.note(`elected ${best}`);
    }
  }

  #replicate(): void {
    for (const n of this.nodes.values()) {
      if (!n.running || !this.isMember(n.id)) {
        if (!this.isMember(n.id)) n.syncingSinceMs = undefined;
        continue;
      }
      if (n.syncingSinceMs === undefined) n.syncingSinceMs = this.nowMs;
      if (n.id === this.leader || this.nowMs - n.syncingSinceMs >= this.#catchUpMs) n.match = this.lastIndex;
    }
  }

  #progress(leader: NodeId): Map<NodeId, { match: number; recentActive: boolean }> {
    const out = new Map<NodeId, { match: number; recentActive: boolean }>();
    for (const id of [...this.config.voters, ...this.config.learners]) {
      if (id === leader) continue;
      const n = this.#node(id);
      out.set(id, { match: n.match, recentActive: n.running });
    }
    return out;
  }

  /** Applies a decision as the agent would, checking the autopilot's contract first. */
  #apply(leader: NodeId, d: AutopilotDecision): void {
    assert.ok(d.reason.length > 0, 'every decision has a reason');
    switch (d.kind) {
      case 'wait':
        return;
      case 'transfer-leadership': {
        assert.ok(d.to !== leader, `transfer to self${this.trace()}`);
        assert.ok(this.config.voters.includes(d.to), `transfer to non-voter ${d.to}${this.trace()}`);
        if (this.#node(d.to).running) {
          this.leader = d.to;
          this.#leaderSinceStep = true;
          this.note(`leadership moved to ${d.to}`);
        }
        return;
      }
      default: {
        assert.ok(!this.pending, `config change ${d.kind} ${d.node} while one is pending${this.trace()}`);
        if (d.kind === 'demote' || d.kind === 'remove') assert.notEqual(d.node, leader, `the leader takes itself out${this.trace()}`);
        const next = applyConfigChange(this.config, { kind: d.kind, node: d.node });
        assert.ok(!('error' in next), `invalid change ${d.kind} ${d.node}: ${'error' in next ? next.error : ''}${this.trace()}`);
        assert.ok(isWellFormed(next.config) && isSafeSuccessor(this.config, next.config), `unsafe successor${this.trace()}`);
        // The safety contract, in gossip's terms (what the autopilot can know): a majority of the
        // new voter set is alive.
        const alive = (id: NodeId): boolean => id === leader || this.nodes.get(id)?.gossip?.status === 'alive';
        const up = next.config.voters.filter(alive).length;
        assert.ok(up >= majority(next.config.voters.length), `decision ${d.kind} ${d.node} leaves ${up} of ${next.config.voters.length} voters alive${this.trace()}`);
        const wasMember = this.isMember(d.node);
        this.config = next.config;
        this.pending = true;
        const n = this.#node(d.node);
        if (!wasMember && n.running) n.syncingSinceMs = this.nowMs;
      }
    }
  }
}
