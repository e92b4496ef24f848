// A model of group bootstrap for deterministic simulation: the pure rules of
// src/core/bootstrap/bootstrap.ts driven the way src/agent/bootstrap-runner.ts drives them, over
// a simulated gossip view, network and disk, all on one seeded event queue.
//
// What is modelled, and how it maps to the runner:
// - A round every ROUND_MS after the previous one ended: decide; on 'propose' take our own
//   promise (durably), ask every other member for theirs (each request times out after
//   REQUEST_TIMEOUT_MS), with every promise send 'form' to the others, and form ourselves only
//   once at least one of them acknowledged. 'form' adopts a published set; 'join-existing'
//   clears our gossip metadata and stops the rounds (the handlers keep answering, as they do).
// - Requests are handled atomically on arrival (the runner serializes promise decisions, and
//   persists a granted promise before it replies). Messages are delayed, reordered and lost;
//   a message addressed to an earlier incarnation of a node is lost (its connection died).
// - Durable state per node: the promise and the Raft state (formed voters). A crash loses the
//   round in flight, the gossip view and pending timers; a restart reloads the promise (and
//   keeps it in force for at least PROMISE_TTL_MS more, as the runner does). A node
//   that restarts with Raft state publishes no bootstrap metadata and runs no handlers, like
//   the agent (#awaitingBootstrap is false).
// - Gossip: each node's view of another appears at a random time after both run (partial and
//   asymmetric views), and every later change of that node (crash, restart, metadata) reaches it
//   after a random delay; incarnation-like versions keep views monotonic. A node that formed
//   keeps showing its voters to views even once it crashed (dead members keep their metadata).
//   Views can wrongly show a live node as dead for a while (suspicion).
// - Optionally the cluster's Raft leader hands its configuration to nodes that have none (a
//   member of the set as a voter, anyone else as a learner): an empty node votes for a formed
//   one and is then replicated to (src/core/raft: vote granted to an up-to-date log).

import { PROMISE_TTL_MS, type BootstrapDecision, type BootstrapPeer, type BootstrapView, type Promise_ } from '../../../src/core/bootstrap/bootstrap.ts';
import type { Random } from '../../../src/core/random.ts';
import { EventQueue } from '../../../src/sim/event-queue.ts';

export const ROUND_MS = 1000;
export const REQUEST_TIMEOUT_MS = 3000;
export { PROMISE_TTL_MS };

/** The three pure decisions, so a test can swap in a naive rule. */
export interface BootstrapRules {
  decide(view: BootstrapView): BootstrapDecision;
  answerPromise(view: BootstrapView, formed: boolean, from: string, voters: readonly string[]): { granted: true; promise: Promise_ } | { granted: false; reason: string };
  answerForm(view: BootstrapView, from: string, voters: readonly string[]): { ok: true } | { ok: false; reason: string };
}

/** Runner behaviours that differ between versions (kept to replay a bug that was fixed). */
export interface RunnerBehaviour {
  /**
   * Drop this node's own proposal as soon as a round decides to wait (the runner before the
   * fix): a proposer that already told a member to form could then promise another proposer.
   */
  readonly dropOwnPromiseWhenWaiting: boolean;
  /**
   * On a restart, keep a loaded promise for at least PROMISE_TTL_MS more (the runner now): one
   * that lapsed while the node was down would free it before gossip shows it a formed set.
   */
  readonly rearmPromiseOnRestart: boolean;
}

export interface NetworkSettings {
  readonly lossRate: number;
  readonly minDelayMs: number;
  readonly maxDelayMs: number;
  readonly minGossipDelayMs: number;
  readonly maxGossipDelayMs: number;
  /** A (re)started node has discovered every other running node within this many ms; 'manual': only by discover(). */
  readonly discoverWithinMs: number | 'manual';
}

export interface CrashPoints {
  readonly afterFormSentRate: number;
  readonly afterFormedRate: number;
  readonly minDownMs: number;
  readonly maxDownMs: number;
}

/** A message on the wire, for scripted drops. */
export interface WireEvent {
  readonly kind: 'promise' | 'form' | 'promise-reply' | 'form-reply';
  readonly from: string;
  readonly to: string;
  readonly atMs: number;
}

type Meta = { readonly kind: 'waiting' } | { readonly kind: 'formed'; readonly voters: readonly string[] } | { readonly kind: 'none' };

interface Published {
  readonly version: number;
  readonly up: boolean;
  readonly meta: Meta;
}

interface ViewEntry extends Published {
  /** Suspicion: shown dead while the node runs. */
  readonly suspected: boolean;
}

export type FormedHow = 'proposed' | 'told' | 'adopted' | 'raft-voter' | 'raft-learner';

interface RaftState {
  readonly voters: readonly string[];
  readonly how: FormedHow;
  readonly atMs: number;
}

interface Round {
  readonly id: number;
  phase: 'promise' | 'form';
  readonly voters: readonly string[];
  pending: Set<string>;
  failures: number;
  acks: number;
}

interface ModelNode {
  readonly id: string;
  started: boolean;
  up: boolean;
  incarnation: number;
  // Durable.
  promise: Promise_ | undefined;
  raft: RaftState | undefined;
  // Lost on a crash.
  runner: 'rounds' | 'handlers-only' | 'none';
  round: Round | undefined;
  view: Map<string, ViewEntry>;
  published: Published;
  raftDeliveryPending: boolean;
}

export interface ModelFigures {
  promiseRequests: number;
  formRequests: number;
  lostMessages: number;
  crashes: number;
  proposals: number;
}

export class BootstrapModel {
  readonly expect: number;
  readonly #rules: BootstrapRules;
  readonly #behaviour: RunnerBehaviour;
  readonly #random: Random;
  readonly #queue = new EventQueue();
  readonly #nodes = new Map<string, ModelNode>();
  #net: NetworkSettings;
  #nowMs = 0;
  #roundSeq = 0;
  #raftDelivery = false;
  #drop: (m: WireEvent) => boolean = () => false;
  #crashPoints: CrashPoints | undefined;
  #suspicions = true;
  readonly #log: string[] = [];
  readonly figures: ModelFigures = { promiseRequests: 0, formRequests: 0, lostMessages: 0, crashes: 0, proposals: 0 };

  constructor(init: { ids: readonly string[]; expect: number; rules: BootstrapRules; behaviour: RunnerBehaviour; random: Random; network: NetworkSettings }) {
    this.expect = init.expect;
    this.#rules = init.rules;
    this.#behaviour = init.behaviour;
    this.#random = init.random;
    this.#net = init.network;
    for (const id of init.ids) {
      if (this.#nodes.has(id)) throw new Error(`assertion failed: duplicate model node ${id}`);
      this.#nodes.set(id, {
        id,
        started: false,
        up: false,
        incarnation: 0,
        promise: undefined,
        raft: undefined,
        runner: 'none',
        round: undefined,
        view: new Map(),
        published: { version: 0, up: false, meta: { kind: 'waiting' } },
        raftDeliveryPending: false,
      });
    }
  }

  get nowMs(): number {
    return this.#nowMs;
  }

  ids(): string[] {
    return [...this.#nodes.keys()];
  }

  /** Raft state per node (undefined: none yet). */
  raftOf(id: string): { voters: readonly string[]; how: FormedHow; atMs: number } | undefined {
    return this.#node(id).raft;
  }

  isUp(id: string): boolean {
    return this.#node(id).up;
  }

  /** The last lines of the event log, for failure messages. */
  trace(lines = 60): string {
    return '\n' + this.#log.slice(-lines).join('\n');
  }

  // --- Scheduling (tests and schedules call these) -------------------------------------------

  at(atMs: number, fn: () => void): void {
    this.#queue.schedule(Math.max(atMs, this.#nowMs), fn);
  }

  start(id: string, atMs: number): void {
    this.at(atMs, () => this.#boot(this.#node(id)));
  }

  crash(id: string, atMs: number): void {
    this.at(atMs, () => {
      const n = this.#node(id);
      if (!n.up) return;
      n.up = false;
      n.round = undefined;
      n.runner = 'none';
      n.view = new Map();
      n.raftDeliveryPending = false;
      this.figures.crashes++;
      this.#note(`${id} crashed${n.promise ? ` holding promise to ${n.promise.to} for ${n.promise.voters.join(',')}` : ''}`);
      this.#publish(n, { up: false, meta: n.published.meta });
    });
  }

  restart(id: string, atMs: number): void {
    this.at(atMs, () => {
      const n = this.#node(id);
      if (n.up || !n.started) return;
      this.#boot(n);
    });
  }

  /** `observer` learns of `subject` now (idempotent), as gossip's join or push-pull would. */
  discover(observer: string, subject: string, atMs: number): void {
    this.at(atMs, () => this.#discoverNow(this.#node(observer), this.#node(subject)));
  }

  /** `observer` wrongly shows `subject` as dead for `forMs`. */
  suspect(observer: string, subject: string, atMs: number, forMs: number): void {
    this.at(atMs, () => {
      const o = this.#node(observer);
      const entry = o.view.get(subject);
      if (!this.#suspicions || !o.up || entry === undefined || !entry.up) return;
      o.view.set(subject, { ...entry, suspected: true });
      const inc = o.incarnation;
      this.at(this.#nowMs + forMs, () => {
        const now = o.view.get(subject);
        if (o.incarnation === inc && now !== undefined && now.suspected) o.view.set(subject, { ...now, suspected: false });
      });
    });
  }

  /** Scripted loss: messages for which `drop` is true are lost (on top of random loss). */
  dropMessages(drop: (m: WireEvent) => boolean): void {
    this.#drop = drop;
  }

  setNetwork(network: NetworkSettings, atMs: number): void {
    this.at(atMs, () => (this.#net = network));
  }

  /**
   * Crashes at the moments that matter: right after a proposer sent 'form' (before any answer)
   * and right after a node formed, each with its rate, down for a random time in the range.
   */
  setCrashPoints(points: CrashPoints | undefined, atMs: number): void {
    this.at(atMs, () => (this.#crashPoints = points));
  }

  /** From now on, no view wrongly suspects anyone, and suspicions in force end. */
  endSuspicions(atMs: number): void {
    this.at(atMs, () => {
      this.#suspicions = false;
      for (const n of this.#nodes.values()) for (const [id, e] of n.view) if (e.suspected) n.view.set(id, { ...e, suspected: false });
    });
  }

  /** From now on the cluster's leader hands its configuration to nodes without one. */
  enableRaftDelivery(atMs: number): void {
    this.at(atMs, () => {
      this.#raftDelivery = true;
      this.#raftTick();
    });
  }

  /**
   * Runs events until `untilMs`, calling `check` after every one (it throws to stop). Returns
   * false if `until` became true first.
   */
  run(untilMs: number, check: () => void, until?: () => boolean): boolean {
    for (;;) {
      const next = this.#queue.peekTimeMs();
      if (next === undefined || next > untilMs) break;
      const ev = this.#queue.pop()!;
      this.#nowMs = ev.atMs;
      ev.fn();
      check();
      if (until?.()) return false;
    }
    this.#nowMs = Math.max(this.#nowMs, untilMs);
    return true;
  }

  /**
   * Safety: every node with Raft state has the same voters, N distinct existing IDs; a node
   * formed as a voter is in the set, a learner is not. Returns what is wrong, or undefined.
   */
  safetyViolation(): string | undefined {
    let first: { id: string; key: string } | undefined;
    for (const n of this.#nodes.values()) {
      const r = n.raft;
      if (r === undefined) continue;
      const key = [...r.voters].sort().join(',');
      if (r.voters.length !== this.expect) return `${n.id} formed with ${r.voters.length} voters (${key}), expected ${this.expect}`;
      if (new Set(r.voters).size !== r.voters.length) return `${n.id} formed with duplicate voters ${key}`;
      const unknown = r.voters.find((v) => !this.#nodes.has(v));
      if (unknown !== undefined) return `${n.id} formed with an unknown voter ${unknown}`;
      if ((r.how === 'raft-learner') === r.voters.includes(n.id)) return `${n.id} has Raft state (${r.how}) that ${r.how === 'raft-learner' ? 'lists' : 'does not list'} it as a voter`;
      if (first === undefined) first = { id: n.id, key };
      else if (first.key !== key) return `two clusters: ${first.id} formed with ${first.key}, ${n.id} with ${key}`;
    }
    return undefined;
  }

  // --- Node lifecycle ------------------------------------------------------------------------

  #boot(n: ModelNode): void {
    const first = !n.started;
    n.started = true;
    n.up = true;
    n.incarnation++;
    n.round = undefined;
    n.view = new Map();
    // As the agent: Raft state means no bootstrap at all (no metadata, no handlers).
    n.runner = n.raft === undefined ? 'rounds' : 'none';
    if (n.runner === 'rounds' && n.promise !== undefined && this.#behaviour.rearmPromiseOnRestart) {
      n.promise = { ...n.promise, untilMs: Math.max(n.promise.untilMs, this.#nowMs + PROMISE_TTL_MS) };
    }
    this.#note(`${n.id} ${first ? 'started' : 'restarted'}${n.raft ? ` with Raft state ${n.raft.voters.join(',')}` : ''}${n.promise ? ` holding promise to ${n.promise.to} for ${n.promise.voters.join(',')}` : ''}`);
    this.#publish(n, { up: true, meta: n.raft === undefined ? { kind: 'waiting' } : { kind: 'none' } });
    // Gossip's join: this node learns of every running node, the others learn of it (a restart
    // reaches those who knew it through #publish).
    const within = this.#net.discoverWithinMs;
    for (const other of this.#nodes.values()) {
      if (within === 'manual' || other === n || !other.started) continue;
      this.discover(n.id, other.id, this.#nowMs + this.#randomMs(0, within));
      if (first && other.up) this.discover(other.id, n.id, this.#nowMs + this.#randomMs(0, within));
    }
    if (n.runner === 'rounds') this.#scheduleRound(n);
  }

  #discoverNow(o: ModelNode, s: ModelNode): void {
    if (!o.up || o.view.has(s.id) || !s.started) return;
    o.view.set(s.id, { ...s.published, suspected: false });
  }

  /** A change of `n` as gossip carries it: to each node that knows `n`, after a delay. */
  #publish(n: ModelNode, next: { up: boolean; meta: Meta }): void {
    const published: Published = { version: n.published.version + 1, ...next };
    n.published = published;
    for (const o of this.#nodes.values()) {
      if (o === n || !o.up || !o.view.has(n.id)) continue;
      const inc = o.incarnation;
      this.at(this.#nowMs + this.#randomMs(this.#net.minGossipDelayMs, this.#net.maxGossipDelayMs), () => {
        const entry = o.view.get(n.id);
        if (o.incarnation !== inc || entry === undefined || entry.version >= published.version) return;
        o.view.set(n.id, { ...published, suspected: entry.suspected && published.up });
      });
    }
  }

  #view(n: ModelNode): BootstrapView {
    const peers: BootstrapPeer[] = [];
    for (const [id, e] of n.view) {
      const alive = e.up && !e.suspected;
      const bootstrap = e.meta.kind === 'waiting' ? { expect: this.expect, voters: [] } : e.meta.kind === 'formed' ? { expect: this.expect, voters: e.meta.voters } : undefined;
      peers.push(bootstrap === undefined ? { id, alive } : { id, alive, bootstrap });
    }
    return { self: n.id, expect: this.expect, peers, promise: n.promise, nowMs: this.#nowMs };
  }

  // --- Rounds (BootstrapRunner.#round and #propose) ------------------------------------------

  #scheduleRound(n: ModelNode): void {
    const inc = n.incarnation;
    this.at(this.#nowMs + ROUND_MS, () => {
      if (n.incarnation !== inc || !n.up || n.runner !== 'rounds') return;
      this.#round(n);
    });
  }

  #round(n: ModelNode): void {
    if (n.raft !== undefined) {
      n.runner = 'handlers-only';
      return;
    }
    const decision = this.#rules.decide(this.#view(n));
    switch (decision.kind) {
      case 'wait':
      case 'join-existing':
        if (this.#behaviour.dropOwnPromiseWhenWaiting && n.promise?.to === n.id) {
          this.#note(`${n.id} drops its own proposal ${n.promise.voters.join(',')} (${decision.reason})`);
          n.promise = undefined;
        }
        if (decision.kind === 'join-existing') {
          this.#note(`${n.id} joins the existing cluster: ${decision.reason}`);
          this.#publish(n, { up: true, meta: { kind: 'none' } });
          n.runner = 'handlers-only';
          return;
        }
        this.#scheduleRound(n);
        return;
      case 'form':
        this.#form(n, decision.voters, 'adopted');
        return;
      case 'propose':
        this.#propose(n, decision.voters);
        return;
    }
  }

  #propose(n: ModelNode, voters: readonly string[]): void {
    this.figures.proposals++;
    // Our own promise first, durably (the runner re-decides under its lock; here it is atomic).
    n.promise = { to: n.id, voters: [...voters], untilMs: this.#nowMs + PROMISE_TTL_MS };
    const others = voters.filter((v) => v !== n.id);
    const round: Round = { id: ++this.#roundSeq, phase: 'promise', voters, pending: new Set(others), failures: 0, acks: 0 };
    n.round = round;
    this.#note(`${n.id} proposes ${voters.join(',')} (round ${round.id})`);
    this.#sendPhase(n, round, 'promise');
  }

  #sendPhase(n: ModelNode, round: Round, phase: 'promise' | 'form'): void {
    round.phase = phase;
    round.pending = new Set(round.voters.filter((v) => v !== n.id));
    for (const to of [...round.pending]) {
      // #ask: a member gossip does not know cannot be asked.
      if (!n.view.has(to)) {
        round.pending.delete(to);
        round.failures++;
        continue;
      }
      this.#request(n, to, round, phase);
    }
    const inc = n.incarnation;
    this.at(this.#nowMs + REQUEST_TIMEOUT_MS, () => {
      if (n.incarnation !== inc || n.round !== round || round.phase !== phase) return;
      round.failures += round.pending.size;
      round.pending.clear();
      this.#phaseDone(n, round);
    });
    if (round.pending.size === 0) this.#phaseDone(n, round);
  }

  #phaseDone(n: ModelNode, round: Round): void {
    if (round.phase === 'promise') {
      if (round.failures > 0) return this.#endRound(n);
      this.#note(`${n.id} has every promise for ${round.voters.join(',')}; sends form`);
      round.failures = 0;
      this.#sendPhase(n, round, 'form');
      this.#maybeCrash(n, this.#crashPoints?.afterFormSentRate ?? 0);
      return;
    }
    if (round.acks === 0) return this.#endRound(n);
    this.#form(n, round.voters, 'proposed');
  }

  #endRound(n: ModelNode): void {
    n.round = undefined;
    this.#scheduleRound(n);
  }

  #onReply(n: ModelNode, inc: number, roundId: number, phase: 'promise' | 'form', from: string, ok: boolean): void {
    const round = n.round;
    if (n.incarnation !== inc || !n.up || round === undefined || round.id !== roundId || round.phase !== phase || !round.pending.delete(from)) return;
    if (phase === 'form' && ok) round.acks++;
    if (!ok) round.failures++;
    if (round.pending.size === 0) this.#phaseDone(n, round);
  }

  #form(n: ModelNode, voters: readonly string[], how: FormedHow): void {
    if (n.raft !== undefined) return;
    n.raft = { voters: [...voters], how, atMs: this.#nowMs };
    n.round = undefined;
    n.runner = 'handlers-only';
    this.#note(`${n.id} forms with ${voters.join(',')} (${how})`);
    this.#publish(n, { up: true, meta: { kind: 'formed', voters: [...voters] } });
    this.#maybeCrash(n, this.#crashPoints?.afterFormedRate ?? 0);
  }

  #maybeCrash(n: ModelNode, rate: number): void {
    const points = this.#crashPoints;
    if (points === undefined || rate === 0 || this.#random.float() >= rate) return;
    this.crash(n.id, this.#nowMs);
    this.restart(n.id, this.#nowMs + this.#randomMs(points.minDownMs, points.maxDownMs));
  }

  // --- Messages (BootstrapRunner.#onPromise and #onForm) ---------------------------------------

  #request(from: ModelNode, to: string, round: Round, phase: 'promise' | 'form'): void {
    if (phase === 'promise') this.figures.promiseRequests++;
    else this.figures.formRequests++;
    const target = this.#node(to);
    const targetInc = target.incarnation;
    const fromInc = from.incarnation;
    const voters = [...round.voters];
    this.#send({ kind: phase, from: from.id, to, atMs: this.#nowMs }, () => {
      if (!target.up || target.incarnation !== targetInc) return;
      const ok = phase === 'promise' ? this.#onPromise(target, from.id, voters) : this.#onForm(target, from.id, voters);
      this.#send({ kind: `${phase}-reply`, from: to, to: from.id, atMs: this.#nowMs }, () => this.#onReply(from, fromInc, round.id, phase, to, ok));
    });
  }

  #send(m: WireEvent, deliver: () => void): void {
    if (this.#random.float() < this.#net.lossRate || this.#drop(m)) {
      this.figures.lostMessages++;
      return;
    }
    this.at(this.#nowMs + this.#randomMs(this.#net.minDelayMs, this.#net.maxDelayMs), deliver);
  }

  #onPromise(n: ModelNode, from: string, voters: readonly string[]): boolean {
    if (n.runner === 'none') return false; // no handler: the request fails
    const answer = this.#rules.answerPromise(this.#view(n), n.raft !== undefined, from, voters);
    if (!answer.granted) return false;
    // Persisted before the reply leaves (the model's disk write is synchronous).
    n.promise = answer.promise;
    return true;
  }

  #onForm(n: ModelNode, from: string, voters: readonly string[]): boolean {
    if (n.runner === 'none') return false;
    if (n.raft !== undefined) return true;
    if (!this.#rules.answerForm(this.#view(n), from, voters).ok) return false;
    this.#form(n, voters, 'told');
    return true;
  }

  // --- The cluster's leader bringing in nodes without Raft state ------------------------------

  #raftTick(): void {
    const source = [...this.#nodes.values()].find((s) => s.up && s.raft !== undefined && s.raft.how !== 'raft-learner');
    for (const n of this.#nodes.values()) {
      if (source === undefined || !n.up || n.raft !== undefined || n.raftDeliveryPending) continue;
      const voters = source.raft!.voters;
      n.raftDeliveryPending = true;
      const inc = n.incarnation;
      this.at(this.#nowMs + this.#randomMs(500, 2000), () => {
        if (n.incarnation !== inc || !n.up) return;
        n.raftDeliveryPending = false;
        if (n.raft !== undefined) return;
        n.raft = { voters: [...voters], how: voters.includes(n.id) ? 'raft-voter' : 'raft-learner', atMs: this.#nowMs };
        this.#note(`${n.id} gets the configuration ${voters.join(',')} from the leader (${n.raft.how})`);
      });
    }
    this.at(this.#nowMs + 500, () => this.#raftTick());
  }

  // --- Helpers -------------------------------------------------------------------------------

  #node(id: string): ModelNode {
    const n = this.#nodes.get(id);
    if (n === undefined) throw new Error(`assertion failed: no model node ${id}`);
    return n;
  }

  #randomMs(min: number, max: number): number {
    return max <= min ? min : min + this.#random.int(max - min + 1);
  }

  #note(line: string): void {
    this.#log.push(`${String(this.#nowMs).padStart(7)} ms  ${line}`);
    if (this.#log.length > 400) this.#log.splice(0, 200);
  }
}
