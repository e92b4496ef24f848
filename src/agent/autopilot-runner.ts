// Runs the autopilot (src/core/autopilot) on whichever node leads: about once a second it
// gathers the leader's Raft view and gossip's member list, asks for the one next step, carries
// it out (a configuration change or a leadership transfer) and records it as an event with its
// reason (DESIGN.md, Autopilot: every decision is an event). When the voter set needs nothing,
// it keeps the replicated node registry in step with gossip (one record per round), so joins,
// address or tag changes and departures are events too. It also expires TTL sessions.

import { Autopilot } from '../core/autopilot/autopilot.ts';
import type { AutopilotDecision, AutopilotInput, AutopilotSettings, FollowerProgress, MemberView } from '../core/autopilot/types.ts';
import type { NodeId } from '../core/raft/types.ts';
import type { Clock, Timer } from '../runtime/clock.ts';
import type { Membership } from '../runtime/membership.ts';
import type { Consensus } from './consensus.ts';
import type { Logger } from './log.ts';

const INTERVAL_MS = 1000;
/** Bounds the work of one round; the rest expire in the next rounds. */
const MAX_EXPIRIES_PER_ROUND = 64;

export class AutopilotRunner {
  readonly #autopilot: Autopilot;
  readonly #consensus: Consensus;
  readonly #membership: Membership;
  readonly #clock: Clock;
  readonly #log: Logger;
  #timer: Timer | undefined;
  #busy = false;
  #wasLeader = false;
  #lastWait = '';
  #stopped = false;

  constructor(init: { settings: Partial<AutopilotSettings>; consensus: Consensus; membership: Membership; clock: Clock; logger: Logger }) {
    this.#autopilot = new Autopilot(init.settings);
    this.#consensus = init.consensus;
    this.#membership = init.membership;
    this.#clock = init.clock;
    this.#log = init.logger.child({ component: 'autopilot' });
  }

  start(): void {
    this.#schedule();
  }

  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = this.#clock.setTimer(INTERVAL_MS, () => {
      void this.#round().finally(() => this.#schedule());
    });
  }

  async #round(): Promise<void> {
    const node = this.#consensus.node;
    const leading = node.role === 'leader';
    // Observations made in an earlier term may be stale: start over on every new leadership.
    if (leading && !this.#wasLeader) this.#autopilot.reset();
    this.#wasLeader = leading;
    if (!leading || this.#busy) return;
    this.#busy = true;
    try {
      await this.#expireSessions();
      if (await this.#removeRegressed()) return;
      const decision = this.#autopilot.decide(this.#input());
      if (decision.kind === 'wait') await this.#syncRegistry();
      await this.#carryOut(decision);
    } catch (e) {
      this.#log.warn({ err: e instanceof Error ? e.message : String(e) }, 'autopilot step failed; retrying next round');
    } finally {
      this.#busy = false;
    }
  }

  #input(): AutopilotInput {
    const node = this.#consensus.node;
    const status = node.status();
    const progress = new Map<NodeId, FollowerProgress>();
    for (const [id, p] of status.progress) progress.set(id, { match: p.match, recentActive: p.recentActive });
    const members: MemberView[] = this.#membership.members().map((m) => ({
      id: m.id as NodeId,
      status: m.status,
      statusSinceMs: m.sinceMs,
      leaving: this.#consensus.isLeaving(m.id as NodeId),
      tags: m.meta.tags,
      resources: m.meta.resources,
      startedAtMs: m.meta.startedAtMs,
    }));
    return {
      nowMs: this.#clock.nowMs(),
      leader: node.id,
      config: status.config,
      // Raft refuses a change while one is uncommitted, before the leader committed an entry of
      // its term, and during a leadership transfer: all of these mean "wait".
      configChangePending: node.core.log.configIndex > status.commit || node.core.log.term(status.commit) !== status.term || status.transferee !== undefined,
      leaderLastIndex: status.lastIndex,
      members,
      progress,
    };
  }

  async #carryOut(decision: AutopilotDecision): Promise<void> {
    const node = this.#consensus.node;
    if (decision.kind === 'wait') {
      // Waiting is the normal state: log only when the reason changes.
      if (decision.reason !== this.#lastWait) this.#log.debug({ reason: decision.reason }, 'autopilot waits');
      this.#lastWait = decision.reason;
      return;
    }
    this.#lastWait = '';
    if (decision.kind === 'transfer-leadership') {
      this.#log.info({ to: decision.to, reason: decision.reason }, 'autopilot hands over leadership');
      await this.#record('autopilot.transfer-leadership', decision.to, decision.reason);
      await node.transferLeadership(decision.to);
      return;
    }
    this.#log.info({ change: decision.kind, node: decision.node, reason: decision.reason }, 'autopilot changes the voter set');
    await node.proposeConfigChange({ kind: decision.kind, node: decision.node });
    await this.#record(`autopilot.${decision.kind}`, decision.node, decision.reason);
  }

  /**
   * A member whose log went backwards lost its Raft state (its data directory was wiped or moved
   * away): take it out of the configuration, so that it cannot vote with a forgotten vote and so
   * that it rejoins as a new learner (the autopilot adds it back, fed from the start).
   */
  async #removeRegressed(): Promise<boolean> {
    const node = this.#consensus.node;
    const status = node.status();
    for (const [id, p] of status.progress) {
      if (!p.regressed) continue;
      const reason = `${id} answered that its log ends below entry ${p.match}, which it had acknowledged: it lost its Raft state; it is removed and rejoins as a new learner`;
      this.#log.warn({ node: id, match: p.match }, 'a member lost its Raft state; removing it so it rejoins fresh');
      await node.proposeConfigChange({ kind: 'remove', node: id });
      await this.#record('autopilot.remove', id, reason);
      return true;
    }
    return false;
  }

  /**
   * Ends sessions whose TTL passed by the leader's clock; the state machine applies it only if the
   * session really expired by the command's time (a keepalive may have been applied first).
   */
  async #expireSessions(): Promise<void> {
    const atMs = Math.round(this.#clock.wallMs());
    for (const session of this.#consensus.machine.fsm.expiredSessions(atMs).slice(0, MAX_EXPIRIES_PER_ROUND)) {
      await this.#consensus.propose({ type: 'session.destroy', atMs, id: session.id, reason: 'expired' });
    }
  }

  /** Records one gossip member whose registry entry is missing or outdated, or one that left. */
  async #syncRegistry(): Promise<void> {
    const fsm = this.#consensus.machine.fsm;
    const atMs = Math.round(this.#clock.wallMs());
    for (const m of this.#membership.members()) {
      const id = m.id as NodeId;
      const record = fsm.node(id);
      if (m.status === 'alive') {
        const same = record !== undefined && record.rpcAddr === m.meta.rpcAddr && record.httpAddr === m.meta.httpAddr && sameTags(record.tags, m.meta.tags);
        if (same) continue;
        await this.#consensus.propose({ type: 'node.upsert', atMs, id, rpcAddr: m.meta.rpcAddr, httpAddr: m.meta.httpAddr, tags: m.meta.tags });
        return;
      }
      if (m.status === 'left' && record !== undefined) {
        const config = this.#consensus.node.status().config;
        if (config.voters.includes(id) || config.learners.includes(id)) continue;
        await this.#consensus.propose({ type: 'node.remove', atMs, id, reason: 'left the cluster' });
        return;
      }
    }
  }

  /** The decision as an event on the replicated, hash-chained log. */
  async #record(kind: string, subject: string, message: string): Promise<void> {
    await this.#consensus.propose({ type: 'note', atMs: Math.round(this.#clock.wallMs()), kind, subject, message });
  }
}

function sameTags(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}
