// SWIM failure detection and membership with the Lifeguard extensions, as a pure state machine.
// Papers: Das, Gupta, Motivala, "SWIM: Scalable Weakly-consistent Infection-style Process Group
// Membership Protocol" (2002); Dadgar, Phillips, Currey, "Lifeguard" (2018). The shape follows
// hashicorp/memberlist's proven choices (push-pull anti-entropy, suspect-not-dead on merge),
// written anew for a core driven by injected time, an injected PRNG, and explicit outputs.
//
// Driving contract: call tick(nowMs) at or after nextDeadlineMs(), feed every received packet
// and push-pull, and after each call send what takeOutput() returns. Time never goes backwards.
import type { Random } from '../random.ts';
import { BroadcastQueue } from './broadcasts.ts';
import type { SwimConfig } from './config.ts';
import { adjustAwareness, pushPullIntervalMs, retransmitLimit, suspicionBoundsMs, suspicionTimeoutMs } from './suspicion.ts';
import type { GossipAddress, Member, MemberEvent, NodeId, Packet, ProbeMessage, PushPull, SwimOutput, Update } from './types.ts';

export interface SwimOptions<Meta> {
  readonly id: NodeId;
  readonly addr: GossipAddress;
  readonly meta: Meta;
  readonly config: SwimConfig;
  readonly random: Random;
  readonly nowMs: number;
  /** Incarnation to start from, e.g. one past the last one this node used before a restart. */
  readonly incarnation?: number;
  /** Estimated encoded size of an update, for the piggyback budget. */
  readonly sizeOf?: (update: Update<Meta>) => number;
}

interface Probe {
  readonly seq: number;
  readonly target: NodeId;
  readonly indirectAtMs: number;
  acked: boolean;
  indirectSent: boolean;
  expectedNacks: number;
  nacks: number;
}

/** An indirect probe we run on another member's behalf (SWIM 3.1, Lifeguard nack). */
interface Relay {
  readonly originAddr: GossipAddress;
  readonly originSeq: number;
  readonly nackAtMs: number;
}

interface Suspicion {
  readonly incarnation: number;
  readonly startMs: number;
  readonly expected: number;
  readonly minMs: number;
  readonly maxMs: number;
  readonly confirmers: Set<NodeId>;
  deadlineMs: number;
}

const OVERHEAD_BYTES = 64;

export class Swim<Meta> {
  readonly id: NodeId;
  readonly #config: SwimConfig;
  readonly #random: Random;
  readonly #sizeOf: (u: Update<Meta>) => number;
  readonly #members = new Map<NodeId, Member<Meta>>();
  readonly #broadcasts = new BroadcastQueue<Meta>();
  readonly #suspicions = new Map<NodeId, Suspicion>();
  readonly #relays = new Map<number, Relay>();
  readonly #conflictsReported = new Set<string>();
  #packets: Array<{ to: GossipAddress; packet: Packet<Meta> }> = [];
  #pushPulls: Array<{ to: GossipAddress; request: PushPull<Meta> }> = [];
  #events: MemberEvent<Meta>[] = [];
  #awareness = 0;
  #seq = 0;
  #probeOrder: NodeId[] = [];
  #probeIndex = 0;
  #probe: Probe | undefined;
  #nextProbeMs: number;
  #nextGossipMs: number;
  #nextPushPullMs: number;
  #nextReconnectMs: number;
  #nowMs: number;
  #leaving = false;
  #join: { addrs: GossipAddress[]; attempt: number; outstanding: number; retryAtMs: number | undefined } | undefined;

  constructor(options: SwimOptions<Meta>) {
    this.id = options.id;
    this.#config = options.config;
    this.#random = options.random;
    this.#nowMs = options.nowMs;
    this.#sizeOf = options.sizeOf ?? estimateSize;
    this.#members.set(options.id, {
      id: options.id,
      addr: options.addr,
      incarnation: options.incarnation ?? 0,
      status: 'alive',
      meta: options.meta,
      sinceMs: options.nowMs,
    });
    // Announce ourselves: whoever we meet first (a seed, or anyone we probe) spreads the news,
    // instead of relying on the seed alone (a newcomer that only the seed knows is one lost
    // packet away from staying unknown until the next push-pull).
    this.#broadcastAlive(false);
    // Stagger the timers so that nodes started together do not probe in lockstep.
    this.#nextProbeMs = options.nowMs + this.#random.int(options.config.probeIntervalMs);
    this.#nextGossipMs = options.nowMs + this.#random.int(options.config.gossipIntervalMs);
    this.#nextPushPullMs = options.nowMs + this.#pushPullPeriodMs();
    this.#nextReconnectMs = options.nowMs + options.config.reconnectIntervalMs;
  }

  // ---- queries ----------------------------------------------------------------------------

  self(): Member<Meta> {
    return this.#member(this.id);
  }

  members(): Member<Meta>[] {
    return [...this.#members.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  member(id: NodeId): Member<Meta> | undefined {
    return this.#members.get(id);
  }

  /** Lifeguard local health score: 0 is healthy; higher means our own timing is suspect. */
  localHealth(): number {
    return this.#awareness;
  }

  /** Live members (alive or suspect), self included: the n of the log(n) formulas. */
  liveCount(): number {
    let n = 0;
    for (const m of this.#members.values()) if (m.status === 'alive' || m.status === 'suspect') n++;
    return n;
  }

  pendingBroadcasts(): number {
    return this.#broadcasts.size;
  }

  isJoining(): boolean {
    return this.#join !== undefined;
  }

  nextDeadlineMs(): number {
    let next = Math.min(this.#nextProbeMs, this.#nextGossipMs, this.#nextPushPullMs, this.#nextReconnectMs);
    if (this.#probe && !this.#probe.acked && !this.#probe.indirectSent) next = Math.min(next, this.#probe.indirectAtMs);
    for (const s of this.#suspicions.values()) next = Math.min(next, s.deadlineMs);
    for (const r of this.#relays.values()) next = Math.min(next, r.nackAtMs);
    if (this.#join?.retryAtMs !== undefined) next = Math.min(next, this.#join.retryAtMs);
    return next;
  }

  takeOutput(): SwimOutput<Meta> {
    const out = { packets: this.#packets, pushPulls: this.#pushPulls, events: this.#events };
    this.#packets = [];
    this.#pushPulls = [];
    this.#events = [];
    return out;
  }

  // ---- commands ---------------------------------------------------------------------------

  /** Joins through seed addresses: a push-pull with each, retried with backoff until one answers. */
  join(addrs: readonly GossipAddress[], nowMs: number): void {
    this.#advance(nowMs);
    const self = this.self().addr;
    const targets = [...new Set(addrs)].filter((a) => a !== self);
    if (targets.length === 0) return;
    this.#join = { addrs: targets, attempt: 0, outstanding: 0, retryAtMs: undefined };
    this.#attemptJoin();
  }

  /** Publishes new metadata: a higher incarnation makes every member take it (SWIM 4.2). */
  updateMeta(meta: Meta, nowMs: number): void {
    this.#advance(nowMs);
    const self = this.self();
    this.#setMember({ ...self, meta, incarnation: self.incarnation + 1 });
    this.#broadcastAlive(true);
  }

  /** Graceful leave: tell everyone we are leaving, so they mark us 'left', not failed. */
  leave(nowMs: number): void {
    this.#advance(nowMs);
    if (this.#leaving) return;
    this.#leaving = true;
    this.#join = undefined;
    const self = this.self();
    this.#setMember({ ...self, status: 'left', sinceMs: nowMs });
    this.#broadcasts.push({ kind: 'dead', id: this.id, incarnation: self.incarnation, from: this.id }, true);
    // Hand the news to a few members right away rather than waiting for the gossip timer.
    this.#gossip();
  }

  /** True once a leave has been gossiped enough times that the cluster will hear it. */
  leaveBroadcastDone(): boolean {
    if (!this.#leaving) return false;
    // With nobody left to tell, there is nothing to wait for.
    const audience = [...this.#members.values()].some((m) => m.id !== this.id && (m.status === 'alive' || m.status === 'suspect'));
    return !audience || !this.#broadcasts.pending().some((u) => u.id === this.id);
  }

  tick(nowMs: number): void {
    this.#advance(nowMs);
    if (this.#probe) this.#continueProbe(nowMs);
    if (nowMs >= this.#nextProbeMs) {
      if (this.#probe && !this.#probe.acked) this.#finishProbe();
      this.#probe = undefined;
      if (!this.#leaving) this.#startProbe(nowMs);
      this.#nextProbeMs = nowMs + this.#scaled(this.#config.probeIntervalMs);
    }
    for (const [seq, relay] of this.#relays) {
      if (nowMs >= relay.nackAtMs) {
        this.#relays.delete(seq);
        this.#send(relay.originAddr, { kind: 'nack', seq: relay.originSeq, from: this.id });
      }
    }
    for (const [id, s] of this.#suspicions) {
      if (nowMs >= s.deadlineMs) {
        this.#suspicions.delete(id);
        const m = this.#members.get(id);
        if (m && m.status === 'suspect' && m.incarnation === s.incarnation) {
          this.#onDead({ kind: 'dead', id, incarnation: s.incarnation, from: this.id });
        }
      }
    }
    if (nowMs >= this.#nextGossipMs) {
      this.#gossip();
      this.#nextGossipMs = nowMs + this.#config.gossipIntervalMs;
    }
    if (nowMs >= this.#nextPushPullMs) {
      this.#periodicPushPull();
      this.#nextPushPullMs = nowMs + this.#pushPullPeriodMs();
    }
    if (nowMs >= this.#nextReconnectMs) {
      this.#reconnect();
      this.#nextReconnectMs = nowMs + this.#config.reconnectIntervalMs;
    }
    if (this.#join?.retryAtMs !== undefined && nowMs >= this.#join.retryAtMs) this.#attemptJoin();
    this.#reap(nowMs);
  }

  onPacket(from: GossipAddress, packet: Packet<Meta>, nowMs: number): void {
    this.#advance(nowMs);
    // Updates first: an ack's piggybacked refutation must land before we judge the probe.
    for (const update of packet.updates) this.#onUpdate(update);
    if (packet.probe) this.#onProbeMessage(from, packet.probe, nowMs);
  }

  /**
   * Answers a push-pull started by a peer: merge its state, return ours. Merging first means a
   * peer that believed us dead gets our refutation (a higher incarnation) in the very reply.
   */
  onPushPullRequest(request: PushPull<Meta>, nowMs: number): PushPull<Meta> {
    this.#advance(nowMs);
    this.#merge(request);
    return this.#localState(false);
  }

  onPushPullReply(to: GossipAddress, reply: PushPull<Meta>, nowMs: number): void {
    this.#advance(nowMs);
    this.#merge(reply);
    if (this.#join) {
      this.#join = undefined;
      this.#events.push({ kind: 'joined', via: to });
    }
  }

  onPushPullFailed(to: GossipAddress, nowMs: number): void {
    this.#advance(nowMs);
    const join = this.#join;
    if (!join || !join.addrs.includes(to) || join.outstanding === 0) return;
    join.outstanding -= 1;
    if (join.outstanding > 0) return;
    // Every seed failed this round: back off exponentially, with jitter so restarts spread.
    const capMs = Math.min(this.#config.joinRetryMaxMs, this.#config.joinRetryMinMs * 2 ** Math.min(join.attempt - 1, 20));
    const retryInMs = Math.round(capMs / 2 + this.#random.float() * (capMs / 2));
    join.retryAtMs = nowMs + retryInMs;
    this.#events.push({ kind: 'join-failed', addrs: [...join.addrs], attempt: join.attempt, retryInMs });
  }

  // ---- probing (SWIM 3, Lifeguard 4.1) ------------------------------------------------------

  #startProbe(nowMs: number): void {
    const target = this.#nextProbeTarget();
    if (!target) return;
    const seq = this.#nextSeq();
    this.#probe = {
      seq,
      target: target.id,
      indirectAtMs: nowMs + this.#scaled(this.#config.probeTimeoutMs),
      acked: false,
      indirectSent: false,
      expectedNacks: 0,
      nacks: 0,
    };
    // Buddy system (Lifeguard 4.3): a suspect learns it is suspected from the probe itself.
    const buddy: Update<Meta> | undefined =
      target.status === 'suspect' ? { kind: 'suspect', id: target.id, incarnation: target.incarnation, from: this.id } : undefined;
    this.#send(target.addr, { kind: 'ping', seq, target: target.id, from: this.id, fromAddr: this.self().addr }, buddy);
  }

  #continueProbe(nowMs: number): void {
    const probe = this.#probe;
    if (!probe || probe.acked || probe.indirectSent || nowMs < probe.indirectAtMs) return;
    probe.indirectSent = true;
    const target = this.#members.get(probe.target);
    if (!target) return;
    const helpers = this.#randomMembers(this.#config.indirectChecks, (m) => m.status === 'alive' && m.id !== probe.target);
    probe.expectedNacks = helpers.length;
    for (const helper of helpers) {
      this.#send(helper.addr, {
        kind: 'indirect-ping',
        seq: probe.seq,
        target: target.id,
        targetAddr: target.addr,
        from: this.id,
        fromAddr: this.self().addr,
      });
    }
  }

  /** The probe period ended without an ack: judge our own health, then suspect the target. */
  #finishProbe(): void {
    const probe = this.#probe!;
    // Lifeguard 4.1: missing nacks mean our own messages are not getting through, so the
    // silence may be our fault; with no helpers to ask, count the failure against ourselves.
    const missingNacks = probe.expectedNacks > 0 ? Math.max(0, probe.expectedNacks - probe.nacks) : 1;
    this.#awareness = adjustAwareness(this.#awareness, missingNacks, this.#config.awarenessMaxMultiplier);
    const target = this.#members.get(probe.target);
    if (target && (target.status === 'alive' || target.status === 'suspect')) {
      this.#onSuspect({ kind: 'suspect', id: target.id, incarnation: target.incarnation, from: this.id });
    }
  }

  #onProbeMessage(from: GossipAddress, message: ProbeMessage, nowMs: number): void {
    switch (message.kind) {
      case 'ping':
        // A ping meant for a previous owner of this address is not ours to answer.
        if (message.target !== this.id) return;
        this.#send(from, { kind: 'ack', seq: message.seq, from: this.id });
        return;
      case 'indirect-ping': {
        if (message.target === this.id) {
          this.#send(from, { kind: 'ack', seq: message.seq, from: this.id });
          return;
        }
        const seq = this.#nextSeq();
        // Nack a little before the requester's own deadline, so it arrives in time to count.
        this.#relays.set(seq, { originAddr: from, originSeq: message.seq, nackAtMs: nowMs + Math.floor(this.#scaled(this.#config.probeTimeoutMs) * 0.8) });
        this.#send(message.targetAddr, { kind: 'ping', seq, target: message.target, from: this.id, fromAddr: this.self().addr });
        return;
      }
      case 'ack': {
        const relay = this.#relays.get(message.seq);
        if (relay) {
          this.#relays.delete(message.seq);
          this.#send(relay.originAddr, { kind: 'ack', seq: relay.originSeq, from: message.from });
          return;
        }
        const probe = this.#probe;
        if (probe && probe.seq === message.seq && !probe.acked) {
          probe.acked = true;
          this.#awareness = adjustAwareness(this.#awareness, -1, this.#config.awarenessMaxMultiplier);
        }
        return;
      }
      case 'nack': {
        const probe = this.#probe;
        if (probe && probe.seq === message.seq) probe.nacks += 1;
        return;
      }
    }
  }

  /** Round-robin over a shuffled list (SWIM 4.3): every member is probed within n periods. */
  #nextProbeTarget(): Member<Meta> | undefined {
    for (let checked = 0; checked <= this.#probeOrder.length; checked++) {
      if (this.#probeIndex >= this.#probeOrder.length) {
        this.#probeOrder = this.#shuffle([...this.#members.keys()].filter((id) => id !== this.id));
        this.#probeIndex = 0;
        if (this.#probeOrder.length === 0) return undefined;
      }
      const m = this.#members.get(this.#probeOrder[this.#probeIndex++]!);
      if (m && (m.status === 'alive' || m.status === 'suspect')) return m;
    }
    return undefined;
  }

  // ---- dissemination (SWIM 4.1) -------------------------------------------------------------

  #gossip(): void {
    if (this.#broadcasts.size === 0) return;
    const nowMs = this.#nowMs;
    const targets = this.#randomMembers(this.#config.gossipNodes, (m) => {
      if (m.status === 'alive' || m.status === 'suspect') return true;
      // Keep telling a dead node for a while: if it is alive behind a partition, it refutes.
      return m.status === 'dead' && nowMs - m.sinceMs < this.#config.gossipToTheDeadMs;
    });
    for (const target of targets) {
      const updates = this.#takeUpdates();
      if (updates.length === 0) break;
      this.#packets.push({ to: target.addr, packet: { updates } });
    }
  }

  #send(to: GossipAddress, probe: ProbeMessage, first?: Update<Meta>): void {
    // A queued update about the same node as `first` would only repeat it.
    const updates = this.#takeUpdates(first ? this.#sizeOf(first) : 0).filter((u) => !first || u.id !== first.id);
    this.#packets.push({ to, packet: { probe, updates: first ? [first, ...updates] : updates } });
  }

  #takeUpdates(reservedBytes = 0): Update<Meta>[] {
    const limit = retransmitLimit(this.#config.retransmitMult, this.liveCount());
    return this.#broadcasts.take(this.#config.maxPacketBytes - OVERHEAD_BYTES - reservedBytes, limit, this.#sizeOf);
  }

  #broadcastAlive(priority: boolean): void {
    const self = this.self();
    this.#broadcasts.push({ kind: 'alive', id: self.id, incarnation: self.incarnation, addr: self.addr, meta: self.meta }, priority);
  }

  // ---- state updates (SWIM 4.2 with memberlist's refinements) --------------------------------

  #onUpdate(update: Update<Meta>): void {
    switch (update.kind) {
      case 'alive':
        return this.#onAlive(update);
      case 'suspect':
        return this.#onSuspect(update);
      case 'dead':
        return this.#onDead(update);
    }
  }

  #onAlive(a: Extract<Update<Meta>, { kind: 'alive' }>): void {
    if (a.id === this.id) {
      const self = this.self();
      if (a.addr !== self.addr) this.#reportConflict(a.id, self.addr, a.addr);
      // Someone spreads an older or foreign view of us: outbid it, unless we are leaving.
      if (!this.#leaving && (a.incarnation > self.incarnation || (a.incarnation === self.incarnation && a.addr !== self.addr))) this.#refute(a.incarnation);
      return;
    }
    const known = this.#members.get(a.id);
    if (!known) {
      const member: Member<Meta> = { id: a.id, addr: a.addr, incarnation: a.incarnation, status: 'alive', meta: a.meta, sinceMs: this.#nowMs };
      this.#setMember(member);
      this.#insertIntoProbeOrder(a.id);
      this.#broadcasts.push(a);
      this.#events.push({ kind: 'join', member });
      return;
    }
    // Another address for a member that is not gone: two machines claim one ID. Keep the one we
    // know (as memberlist does) so the claimants cannot outbid each other forever and flip the
    // address peers use; a node that really moved is accepted once its old self is dead.
    if (a.addr !== known.addr && (known.status === 'alive' || known.status === 'suspect')) {
      this.#reportConflict(a.id, known.addr, a.addr);
      return;
    }
    if (a.incarnation <= known.incarnation) return;
    const member: Member<Meta> = {
      id: a.id,
      addr: a.addr,
      incarnation: a.incarnation,
      status: 'alive',
      meta: a.meta,
      sinceMs: known.status === 'alive' ? known.sinceMs : this.#nowMs,
    };
    this.#suspicions.delete(a.id);
    this.#setMember(member);
    this.#broadcasts.push(a);
    if (known.status === 'dead' || known.status === 'left') {
      this.#insertIntoProbeOrder(a.id);
      this.#events.push({ kind: 'join', member });
    } else if (known.status === 'suspect') {
      this.#events.push({ kind: 'alive', member });
    } else if (known.addr !== a.addr || !sameMeta(known.meta, a.meta)) {
      this.#events.push({ kind: 'update', member });
    }
  }

  #onSuspect(s: Extract<Update<Meta>, { kind: 'suspect' }>): void {
    const known = this.#members.get(s.id);
    if (!known || s.incarnation < known.incarnation || known.status === 'dead' || known.status === 'left') return;
    if (s.id === this.id) {
      if (!this.#leaving) {
        // Being suspected hints that our own messages are late (Lifeguard 4.1).
        this.#awareness = adjustAwareness(this.#awareness, 1, this.#config.awarenessMaxMultiplier);
        this.#refute(s.incarnation);
      }
      return;
    }
    if (known.status === 'suspect' && s.incarnation === known.incarnation) {
      const suspicion = this.#suspicions.get(s.id);
      if (suspicion && !suspicion.confirmers.has(s.from)) {
        // An independent confirmation shortens the timeout (Lifeguard 4.2); pass it on so
        // others can count it too.
        suspicion.confirmers.add(s.from);
        const confirmations = suspicion.confirmers.size - 1;
        suspicion.deadlineMs = suspicion.startMs + suspicionTimeoutMs(confirmations, suspicion.expected, suspicion.minMs, suspicion.maxMs);
        this.#broadcasts.push(s);
      }
      return;
    }
    const member: Member<Meta> = { ...known, incarnation: s.incarnation, status: 'suspect', sinceMs: this.#nowMs };
    this.#setMember(member);
    const n = this.liveCount();
    const { minMs, maxMs } = suspicionBoundsMs(n, this.#config.suspicionMult, this.#config.suspicionMaxTimeoutMult, this.#config.probeIntervalMs);
    // Expect that many confirmations, or as many as the other members can give (memberlist
    // drops to none when the cluster is too small; fewer witnesses is safer than none).
    const expected = Math.max(0, Math.min(this.#config.suspicionConfirmations, n - 2));
    this.#suspicions.set(s.id, {
      incarnation: s.incarnation,
      startMs: this.#nowMs,
      expected,
      minMs,
      maxMs,
      confirmers: new Set([s.from]),
      deadlineMs: this.#nowMs + suspicionTimeoutMs(0, expected, minMs, maxMs),
    });
    this.#broadcasts.push(s);
    this.#events.push({ kind: 'suspect', member, by: s.from });
  }

  #onDead(d: Extract<Update<Meta>, { kind: 'dead' }>): void {
    const known = this.#members.get(d.id);
    if (!known || d.incarnation < known.incarnation || known.status === 'dead' || known.status === 'left') return;
    if (d.id === this.id) {
      if (!this.#leaving) this.#refute(d.incarnation);
      return;
    }
    const left = d.from === d.id;
    const member: Member<Meta> = { ...known, incarnation: d.incarnation, status: left ? 'left' : 'dead', sinceMs: this.#nowMs };
    this.#suspicions.delete(d.id);
    this.#setMember(member);
    this.#broadcasts.push(d);
    this.#events.push(left ? { kind: 'leave', member } : { kind: 'dead', member, by: d.from });
  }

  /** Answers an accusation with a higher incarnation (SWIM 4.2), sent before anything else. */
  #refute(accusedIncarnation: number): void {
    const self = this.self();
    this.#setMember({ ...self, incarnation: Math.max(self.incarnation, accusedIncarnation) + 1, status: 'alive' });
    this.#broadcastAlive(true);
  }

  #reportConflict(id: NodeId, ours: GossipAddress, theirs: GossipAddress): void {
    const key = `${id}\u0000${theirs}`;
    if (this.#conflictsReported.has(key)) return;
    this.#conflictsReported.add(key);
    this.#events.push({ kind: 'conflict', id, ours, theirs });
  }

  // ---- anti-entropy --------------------------------------------------------------------------

  #attemptJoin(): void {
    const join = this.#join!;
    join.attempt += 1;
    join.outstanding = join.addrs.length;
    join.retryAtMs = undefined;
    for (const addr of join.addrs) this.#pushPulls.push({ to: addr, request: this.#localState(true) });
  }

  #periodicPushPull(): void {
    const [peer] = this.#randomMembers(1, (m) => m.status === 'alive');
    if (peer) this.#pushPulls.push({ to: peer.addr, request: this.#localState(false) });
  }

  /** Tries one random dead (not left) member: if it is alive after all, the exchange heals us. */
  #reconnect(): void {
    if (this.#leaving) return;
    const [peer] = this.#randomMembers(1, (m) => m.status === 'dead');
    if (peer) this.#pushPulls.push({ to: peer.addr, request: this.#localState(false) });
  }

  #localState(join: boolean): PushPull<Meta> {
    return {
      from: this.id,
      join,
      members: [...this.#members.values()].map(({ id, addr, incarnation, status, meta }) => ({ id, addr, incarnation, status, meta })),
    };
  }

  /**
   * Merges a peer's full state. A peer's "dead" becomes our "suspect": one node's verdict,
   * possibly from the far side of a partition, should not kill a member outright here. Dead,
   * suspect and left members we have never heard of are not adopted: there is nothing to learn
   * from a stranger's obituary, and probing it would only produce a suspicion of our own.
   */
  #merge(state: PushPull<Meta>): void {
    for (const m of state.members) {
      switch (m.status) {
        case 'alive':
          this.#onAlive({ kind: 'alive', id: m.id, incarnation: m.incarnation, addr: m.addr, meta: m.meta });
          break;
        case 'left':
          this.#onDead({ kind: 'dead', id: m.id, incarnation: m.incarnation, from: m.id });
          break;
        case 'suspect':
        case 'dead':
          this.#onSuspect({ kind: 'suspect', id: m.id, incarnation: m.incarnation, from: state.from });
          break;
      }
    }
  }

  #reap(nowMs: number): void {
    for (const m of [...this.#members.values()]) {
      if ((m.status === 'dead' || m.status === 'left') && m.id !== this.id && nowMs - m.sinceMs >= this.#config.reapAfterMs) {
        this.#members.delete(m.id);
        this.#broadcasts.forget(m.id);
        this.#events.push({ kind: 'reap', member: m });
      }
    }
  }

  // ---- helpers -------------------------------------------------------------------------------

  #advance(nowMs: number): void {
    if (nowMs < this.#nowMs) throw new Error(`assertion failed: time went backwards (${nowMs} < ${this.#nowMs})`);
    this.#nowMs = nowMs;
  }

  #member(id: NodeId): Member<Meta> {
    const m = this.#members.get(id);
    if (!m) throw new Error(`assertion failed: unknown member ${id}`);
    return m;
  }

  #setMember(member: Member<Meta>): void {
    this.#members.set(member.id, member);
  }

  #scaled(ms: number): number {
    return ms * (this.#awareness + 1);
  }

  #pushPullPeriodMs(): number {
    return pushPullIntervalMs(this.#config.pushPullIntervalMs, this.liveCount());
  }

  #nextSeq(): number {
    this.#seq = (this.#seq + 1) % Number.MAX_SAFE_INTEGER;
    return this.#seq;
  }

  #insertIntoProbeOrder(id: NodeId): void {
    // A random position keeps the round-robin fair to newcomers (memberlist does the same).
    const at = this.#probeIndex + this.#random.int(this.#probeOrder.length - this.#probeIndex + 1);
    this.#probeOrder.splice(at, 0, id);
  }

  #randomMembers(k: number, keep: (m: Member<Meta>) => boolean): Member<Meta>[] {
    const candidates = [...this.#members.values()].filter((m) => m.id !== this.id && keep(m));
    return this.#shuffle(candidates).slice(0, k);
  }

  #shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.#random.int(i + 1);
      [items[i], items[j]] = [items[j]!, items[i]!];
    }
    return items;
  }
}

function sameMeta(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

/** Rough encoded size of an update; the runtime may pass the codec's exact measure instead. */
function estimateSize<Meta>(update: Update<Meta>): number {
  const base = 24 + update.id.length;
  switch (update.kind) {
    case 'alive':
      return base + update.addr.length + JSON.stringify(update.meta ?? null).length;
    case 'suspect':
    case 'dead':
      return base + update.from.length;
  }
}
