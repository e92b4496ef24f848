// Raft in the simulator: real RaftNodes (core + runtime loop + RaftStorage on a SimDisk) on the
// simulated network, under a random fault schedule (symmetric and one-way partitions, loss,
// duplication, reordering, crashes with torn writes, restarts, stalled disks), while a client
// proposes and reads, and the leader changes the configuration (learners added, promoted,
// demoted, removed) and snapshots compact the logs. Checked after every step:
//   Election Safety      at most one leader per term (Raft paper, Figure 3);
//   Log Matching         same index and term => same entry and same history (checked often);
//   Leader Completeness  a new leader holds every entry any node has applied;
//   State Machine Safety no two nodes apply different entries at one index;
//   durability           an acknowledged proposal is applied at its index by everyone;
//   read linearizability a confirmed read point covers every write acknowledged before it;
// and after healing: a leader is elected and commits within livenessPhaseMs.

import type { ConfigChange } from '../core/raft/quorum.ts';
import type { LogIndex, NodeId, Term } from '../core/raft/types.ts';
import type { Random } from '../core/random.ts';
import { RaftNode, RaftNodeError, type StateMachine } from '../runtime/raft/node.ts';
import { applyFaultSchedule, randomFaultSchedule, type FaultKind } from './faults.ts';
import { startSimRaftNode, type SimRaftNode } from './raft-node.ts';
import { Simulation } from './simulation.ts';
import type { Scenario } from './scenarios.ts';

export interface RaftScenarioSettings {
  /** Voter counts to draw from (one per seed). */
  readonly voterChoices: readonly number[];
  /** Nodes that start empty and join as learners. */
  readonly spareNodes: number;
  readonly faultPhaseMs: number;
  readonly livenessPhaseMs: number;
  readonly snapshotEveryEntries: number;
  /** Mean gap between faults during the fault phase. */
  readonly meanFaultGapMs: number;
  /** Extra fault weights over the defaults (e.g. disk-full, off by default). */
  readonly faultWeights?: Partial<Record<FaultKind, number>>;
}

/** A tiny deterministic state machine: a running hash of the commands applied and their count. */
class HashFsm implements StateMachine {
  hash = 0x811c9dc5;
  count = 0;
  readonly #onApply: (index: LogIndex, term: Term, data: Uint8Array) => void;

  constructor(onApply: (index: LogIndex, term: Term, data: Uint8Array) => void) {
    this.#onApply = onApply;
  }

  apply(entry: { index: LogIndex; term: Term; data: Uint8Array }): unknown {
    this.#onApply(entry.index, entry.term, entry.data);
    for (const b of entry.data) this.hash = Math.imul(this.hash ^ b, 0x01000193) >>> 0;
    this.count++;
    return this.count;
  }

  snapshot(): Uint8Array {
    const out = new Uint8Array(8);
    const view = new DataView(out.buffer);
    view.setUint32(0, this.hash);
    view.setUint32(4, this.count);
    return out;
  }

  restore(data: Uint8Array): void {
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    this.hash = view.getUint32(0);
    this.count = view.getUint32(4);
  }
}

/** Global knowledge the invariants compare against. */
class RaftChecker {
  readonly leaders = new Map<Term, NodeId>();
  /** index -> "term:data" as applied by the first node that applied it. */
  readonly applied = new Map<LogIndex, string>();
  /** index -> "term:data" of proposals acknowledged to the client. */
  readonly acked = new Map<LogIndex, string>();
  maxAcked: LogIndex = 0;
  violation: string | undefined;

  fail(message: string): void {
    this.violation ??= message;
  }

  onLeader(id: NodeId, term: Term): void {
    const other = this.leaders.get(term);
    if (other !== undefined && other !== id) this.fail(`Election Safety: ${other} and ${id} both lead term ${term}`);
    this.leaders.set(term, id);
  }

  onApply(id: string, index: LogIndex, term: Term, data: Uint8Array): void {
    const key = `${term}:${new TextDecoder().decode(data)}`;
    const first = this.applied.get(index);
    if (first === undefined) this.applied.set(index, key);
    else if (first !== key) this.fail(`State Machine Safety: ${id} applied ${key} at ${index}, another node applied ${first}`);
    const acked = this.acked.get(index);
    if (acked !== undefined && acked !== key) this.fail(`durability: ${id} applied ${key} at ${index}, but ${acked} was acknowledged there`);
  }

  onAck(index: LogIndex, term: Term, command: string): void {
    const key = `${term}:${command}`;
    const applied = this.applied.get(index);
    if (applied !== undefined && applied !== key) this.fail(`durability: ${key} acknowledged at ${index}, but ${applied} was applied there`);
    this.acked.set(index, key);
    this.maxAcked = Math.max(this.maxAcked, index);
  }
}

export function raftScenario(name: string, description: string, settings: RaftScenarioSettings, replayCommand: (seed: number, maxSteps?: number) => string): Scenario {
  return {
    name,
    description,
    async run(options) {
      const sim = new Simulation<SimRaftNode>({
        seed: options.seed,
        replayCommand: replayCommand(options.seed, options.maxSteps),
        clockDriftMax: 0.01,
        network: { defaultLink: { delayMinMs: 1, delayMaxMs: 8, lossProbability: 0.01, duplicateProbability: 0.01, reorderProbability: 0.05, reorderExtraMaxMs: 15 } },
        ...(options.traceMaxLines === undefined ? {} : { traceMaxLines: options.traceMaxLines }),
      });
      if (options.onTraceLine !== undefined) sim.trace.onLine(options.onTraceLine);
      const setup = sim.random('setup');
      const voterCount = settings.voterChoices[setup.int(settings.voterChoices.length)]!;
      const voters = Array.from({ length: voterCount }, (_, i) => `n${i + 1}` as NodeId);
      const spares = Array.from({ length: settings.spareNodes }, (_, i) => `n${voterCount + i + 1}` as NodeId);
      const all = [...voters, ...spares];
      const checker = new RaftChecker();
      const resolve = (id: NodeId): string | undefined => (all.includes(id) ? sim.addressesOf(id).rpc : undefined);

      for (const id of all) {
        sim.addNode(id, (ctx) =>
          startSimRaftNode(ctx, {
            voters,
            resolve,
            snapshotEveryEntries: settings.snapshotEveryEntries,
            fsm: new HashFsm((index, term, data) => checker.onApply(id, index, term, data)),
            onSoftState: (node, s) => {
              if (s.role === 'leader') {
                checker.onLeader(node.id, s.term);
                checkLeaderCompleteness(node.id, node);
              }
            },
            onFatal: (e, ctx) => {
              // A crashed incarnation's disk fails on purpose; only a live node's failure is a bug.
              const current = sim.node(id);
              if (current.status === 'up' && current.incarnation === ctx.incarnation) checker.fail(`${id} stopped on a storage failure: ${e.message}`);
            },
          }),
        );
      }

      const checkLeaderCompleteness = (id: NodeId, node: RaftNode): void => {
        const log = node.core.log;
        for (const [index, key] of checker.applied) {
          if (index <= log.offsetIndex) continue;
          const term = log.term(index);
          const appliedTerm = Number(key.slice(0, key.indexOf(':')));
          if (term !== appliedTerm) checker.fail(`Leader Completeness: new leader ${id} has term ${term ?? 'nothing'} at ${index}, where ${key} was applied`);
        }
      };

      const upNodes = (): RaftNode[] => sim.nodes().flatMap((n) => (n.status === 'up' && n.instance !== undefined ? [n.instance.node] : []));
      const leaderNode = (): RaftNode | undefined => {
        let best: RaftNode | undefined;
        for (const n of upNodes()) if (n.role === 'leader' && (best === undefined || n.status().term > best.status().term)) best = n;
        return best;
      };

      // --- The client: proposals to whoever leads, reads through random nodes. ----------------
      const client = sim.random('client');
      let seq = 0;
      const endMs = settings.faultPhaseMs + settings.livenessPhaseMs;
      const clientLoop = (): void => {
        if (sim.clock.nowMs() >= endMs - 500) return;
        const leader = leaderNode();
        if (leader !== undefined) {
          const command = `c${++seq}`;
          leader.propose(new TextEncoder().encode(command)).then(
            (a) => checker.onAck(a.index, a.term, command),
            (e: unknown) => {
              if (!(e instanceof RaftNodeError)) checker.fail(`propose failed with a non-Raft error: ${String(e)}`);
            },
          );
        }
        const nodes = upNodes();
        const reader = nodes[client.int(Math.max(1, nodes.length))];
        if (reader !== undefined) {
          const mustCover = checker.maxAcked;
          reader.readIndex({ timeoutMs: 2000 }).then(
            (index) => {
              if (index < mustCover) checker.fail(`read linearizability: ${reader.id} confirmed read point ${index} below ${mustCover}, acknowledged before the read began`);
              if (reader.status().applied < index) checker.fail(`read linearizability: ${reader.id} resolved a read at ${index} before applying it`);
            },
            () => undefined,
          );
        }
        sim.schedule(20 + client.int(120), 'client', clientLoop);
      };
      sim.schedule(100, 'client', clientLoop);

      // --- Configuration changes by the leader during the faults. --------------------------------
      const changes = sim.random('config');
      const changeLoop = (): void => {
        if (sim.clock.nowMs() >= settings.faultPhaseMs) return;
        const leader = leaderNode();
        if (leader !== undefined) {
          const change = pickChange(changes, leader.status().config, all, voterCount);
          if (change !== undefined) {
            sim.trace.record('sim', `propose config ${change.kind} ${change.node} via ${leader.id}`);
            leader.proposeConfigChange(change).catch(() => undefined);
          }
        }
        sim.schedule(800 + changes.int(1500), 'config', changeLoop);
      };
      sim.schedule(1500, 'config', changeLoop);

      // --- Faults, then heal. ---------------------------------------------------------------------
      const schedule = randomFaultSchedule(sim.random('faults'), {
        nodes: all,
        durationMs: settings.faultPhaseMs,
        meanGapMs: settings.meanFaultGapMs,
        baseLossProbability: 0.01,
        maxLossProbability: 0.2,
        // Crashes while a disk holds its syncs lose acknowledged-looking writes: the case that
        // tells a runtime which persists before it sends from one which does not.
        weights: { crash: 2, 'slow-disk': 2, ...settings.faultWeights },
        // Any number of nodes may be down at once (a power cut takes out a majority): safety must
        // hold regardless; liveness is only asked for after everything restarts.
        maxDown: all.length,
        crashDuringSlowDiskProbability: 0.6,
      });
      applyFaultSchedule(sim, schedule);

      // --- Invariants. ----------------------------------------------------------------------------
      sim.invariant('raft safety', () => checker.violation);
      let stepsSinceLogCheck = 0;
      sim.invariant('Log Matching', () => {
        if (++stepsSinceLogCheck < 25) return undefined;
        stepsSinceLogCheck = 0;
        return checkLogMatching(upNodes());
      });

      // Liveness: after the heal, a leader must commit a fresh proposal, and every node catch up.
      let livenessVerdict: string | undefined;
      let committedAfterHeal = false;
      const livenessProbe = (): void => {
        if (committedAfterHeal) return;
        const leader = leaderNode();
        leader?.propose(new TextEncoder().encode(`final${seq++}`)).then(
          (a) => {
            if (!committedAfterHeal) sim.trace.record('sim', `liveness: committed ${a.index} after the heal`);
            committedAfterHeal = true;
          },
          () => undefined,
        );
        sim.schedule(250, 'liveness', livenessProbe);
      };
      sim.schedule(settings.faultPhaseMs + 1, 'liveness', livenessProbe);
      sim.clock.scheduleAt(endMs, () => {
        if (!committedAfterHeal) {
          livenessVerdict = `no leader committed within ${settings.livenessPhaseMs} ms after the heal`;
          return;
        }
        // Voters of the leader's configuration: a removed node is never told it was removed
        // (thesis 4.2.2), so its own view may still list itself.
        const voters = leaderNode()?.status().config.voters ?? [];
        const lagging = upNodes().filter((n) => n.status().applied < checker.maxAcked && voters.includes(n.id));
        if (lagging.length > 0) livenessVerdict = `voters ${lagging.map((n) => `${n.id}@${n.status().applied}`).join(', ')} have not applied acknowledged entry ${checker.maxAcked}`;
      });
      sim.invariant('liveness after healing', () => livenessVerdict);

      const result = await sim.run(options.maxSteps === undefined ? { untilMs: endMs + 1 } : { untilMs: endMs + 1, maxSteps: options.maxSteps });
      sim.trace.record('sim', `end steps=${result.steps} acked=${checker.acked.size} applied=${checker.applied.size} terms=${checker.leaders.size} ${result.ok ? 'ok' : 'FAILED'}`);
      for (const n of sim.nodes()) await n.instance?.node.stop();
      return { scenario: name, seed: options.seed, result, traceDigest: sim.trace.digest(), traceLines: sim.trace.count, simulation: sim as Simulation<unknown> };
    },
  };
}

/** A random allowed change that keeps at least `minVoters` voters (so faults still leave a quorum). */
function pickChange(random: Random, config: { voters: readonly NodeId[]; learners: readonly NodeId[] }, all: readonly NodeId[], minVoters: number): ConfigChange | undefined {
  const outsiders = all.filter((id) => !config.voters.includes(id) && !config.learners.includes(id));
  const options: ConfigChange[] = [];
  for (const node of outsiders) options.push({ kind: 'add-learner', node });
  for (const node of config.learners) options.push({ kind: 'promote', node }, { kind: 'remove', node });
  if (config.voters.length > minVoters) for (const node of config.voters) options.push({ kind: 'demote', node }, { kind: 'remove', node });
  if (options.length === 0) return undefined;
  return options[random.int(options.length)];
}

/** Log Matching (Figure 3): two logs with an entry of equal index and term agree up to it. */
function checkLogMatching(nodes: readonly RaftNode[]): string | undefined {
  for (let a = 0; a < nodes.length; a++) {
    for (let b = a + 1; b < nodes.length; b++) {
      const la = nodes[a]!.core.log;
      const lb = nodes[b]!.core.log;
      const lo = Math.max(la.firstIndex, lb.firstIndex);
      const hi = Math.min(la.lastIndex, lb.lastIndex);
      let matched = false;
      for (let i = hi; i >= lo; i--) {
        const ea = la.entry(i);
        const eb = lb.entry(i);
        if (ea === undefined || eb === undefined) continue;
        if (!matched && ea.term === eb.term) matched = true;
        if (!matched) continue;
        if (ea.term !== eb.term || ea.type !== eb.type || !sameBytes(ea.data, eb.data)) {
          return `Log Matching: ${nodes[a]!.id} and ${nodes[b]!.id} share a later entry but differ at ${i} (${ea.term} vs ${eb.term})`;
        }
      }
    }
  }
  return undefined;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
