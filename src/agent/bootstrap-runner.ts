// Carries out group bootstrap (--bootstrap-expect N; decisions in src/core/bootstrap): reads
// the waiting nodes from gossip, runs the promise round over the gossip port's TCP side
// (sealed with the cluster key, like all gossip), keeps this node's promise on disk, and asks
// the agent to form the cluster with the agreed initial voters.

import { join } from 'node:path';
import { answerForm, answerPromise, decideBootstrap, PROMISE_TTL_MS, type BootstrapView, type Promise_ } from '../core/bootstrap/bootstrap.ts';
import type { Clock, Timer } from '../runtime/clock.ts';
import { readAtomic, writeAtomic } from '../runtime/storage/atomic-file.ts';
import { NodeFileSystem } from '../runtime/storage/node-fs.ts';
import { openPacket, sealPacket, type Keyring } from '../wire/keyring.ts';
import { createWireCodec, type WireMessage } from '../wire/messages.ts';
import type { Gossip } from './gossip.ts';
import type { Logger } from './log.ts';

export const PROMISE_METHOD = 'bootstrap.promise';
export const FORM_METHOD = 'bootstrap.form';
const PROMISE_FILE = 'bootstrap-promise.json';
const ROUND_MS = 1000;
const REQUEST_TIMEOUT_MS = 3000;

export interface BootstrapRunnerInit {
  readonly nodeId: string;
  readonly expect: number;
  readonly dataDir: string;
  readonly gossip: Gossip;
  readonly keyring: Keyring | undefined;
  readonly clock: Clock;
  readonly logger: Logger;
  /** True once this node has Raft state (formed, or added to a cluster by its leader). */
  readonly formed: () => boolean;
  /** Forms the cluster with these initial voters; `originator`: this node proposed them. */
  readonly form: (voters: readonly string[], originator: boolean) => Promise<void>;
}

export class BootstrapRunner {
  readonly #o: BootstrapRunnerInit;
  readonly #log: Logger;
  readonly #codec = createWireCodec();
  #promise: Promise_ | undefined;
  #timer: Timer | undefined;
  #stopped = false;
  #lastReason = '';
  #forming: Promise<void> | undefined;
  /** Promise decisions run one at a time: two proposers must never both see "no promise yet". */
  #serial: Promise<unknown> = Promise.resolve();

  private constructor(init: BootstrapRunnerInit, promise: Promise_ | undefined) {
    this.#o = init;
    this.#promise = promise;
    this.#log = init.logger.child({ component: 'bootstrap' });
  }

  /** Loads this node's promise and starts answering and proposing. */
  static async start(init: BootstrapRunnerInit): Promise<BootstrapRunner> {
    // A promise lapses only after this node has watched gossip for a whole PROMISE_TTL_MS: while
    // it was down its proposer may have had the set formed, and freed at once on restart it could
    // promise another set before gossip shows it the formed one (test/core/bootstrap/simulation.test.ts).
    const loaded = await readPromise(init.dataDir);
    const promise = loaded === undefined ? undefined : { ...loaded, untilMs: Math.max(loaded.untilMs, init.clock.wallMs() + PROMISE_TTL_MS) };
    const runner = new BootstrapRunner(init, promise);
    init.gossip.stream.handle(PROMISE_METHOD, (body) => runner.#exclusive(() => runner.#onPromise(body)));
    init.gossip.stream.handle(FORM_METHOD, (body) => runner.#onForm(body));
    runner.#log.info({ expect: init.expect }, `waiting for ${init.expect} nodes started with --bootstrap-expect ${init.expect} to form one cluster`);
    runner.#schedule();
    return runner;
  }

  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = this.#o.clock.setTimer(ROUND_MS, () => {
      void this.#round()
        .catch((e: unknown) => this.#log.warn({ err: e instanceof Error ? e.message : String(e) }, 'bootstrap round failed; retrying'))
        .finally(() => this.#schedule());
    });
  }

  #view(): BootstrapView {
    const { nodeId, expect, gossip, clock } = this.#o;
    const peers = gossip.membership
      .members()
      .filter((m) => m.id !== nodeId)
      .map((m) => ({ id: m.id, alive: m.status === 'alive', ...(m.meta.bootstrap === undefined ? {} : { bootstrap: m.meta.bootstrap }) }));
    return { self: nodeId, expect, peers, promise: this.#promise, nowMs: clock.wallMs() };
  }

  async #round(): Promise<void> {
    if (this.#o.formed()) {
      // A leader added this node (it did not form here): it no longer waits, and says so.
      if (this.#forming === undefined) this.#o.gossip.setBootstrap(undefined);
      this.stop();
      return;
    }
    const decision = decideBootstrap(this.#view());
    switch (decision.kind) {
      case 'wait':
      case 'join-existing':
        this.#note(decision.kind === 'wait' ? `waiting: ${decision.reason}` : `not forming: ${decision.reason}; its leader adds this node`);
        // Our own proposal stays in force until it lapses, never dropped here: we may already
        // have told a member to form with it (its answer lost), and a promise to a lower
        // proposer now would let that one form a second cluster with us.
        if (decision.kind === 'join-existing') {
          this.#o.gossip.setBootstrap(undefined);
          this.stop();
        }
        return;
      case 'form':
        this.#note(decision.reason);
        return this.#formOnce(decision.voters, false);
      case 'propose':
        return this.#propose(decision.voters);
    }
  }

  /** One promise round; with every promise, tells the others to form, then forms itself. */
  async #propose(voters: readonly string[]): Promise<void> {
    const { nodeId, clock } = this.#o;
    const own = await this.#exclusive(async () => {
      // A promise granted to another proposer since the decision wins over our own proposal.
      if (decideBootstrap(this.#view()).kind !== 'propose') return false;
      await this.#setPromise({ to: nodeId, voters: [...voters], untilMs: clock.wallMs() + PROMISE_TTL_MS });
      return true;
    });
    if (!own) return;
    const others = voters.filter((v) => v !== nodeId);
    const refusals: string[] = [];
    await Promise.all(
      others.map(async (id) => {
        let reply: WireMessage | undefined;
        try {
          reply = await this.#ask(id, { type: 'bootstrap.promise', body: { from: nodeId, voters: [...voters] } });
        } catch (e) {
          refusals.push(`${id}: ${e instanceof Error ? e.message : String(e)}`);
          return;
        }
        if (reply?.type !== 'bootstrap.promise-reply') refusals.push(`${id}: malformed reply`);
        else if (!reply.body.granted) refusals.push(`${id}: ${reply.body.reason ?? 'refused'}`);
      }),
    );
    if (refusals.length > 0) {
      this.#note(`proposed the initial voters ${voters.join(', ')}; not yet agreed (${refusals.join('; ')})`);
      return;
    }
    this.#log.info({ voters }, 'every initial voter promised; forming the cluster');
    // At least one other member must form before this node does: should this node die right
    // after forming, that member's gossip still tells the rest which set was agreed.
    const acks = await Promise.all(
      others.map((id) =>
        this.#ask(id, { type: 'bootstrap.form', body: { from: nodeId, voters: [...voters] } }).then(
          (r) => r?.type === 'bootstrap.form-reply' && r.body.ok,
          () => false,
        ),
      ),
    );
    if (!acks.some(Boolean)) {
      this.#note('no initial voter confirmed forming; trying again');
      return;
    }
    await this.#formOnce(voters, true);
  }

  async #formOnce(voters: readonly string[], originator: boolean): Promise<void> {
    this.#forming ??= (async () => {
      await this.#o.form(voters, originator);
      this.#o.gossip.setBootstrap({ expect: this.#o.expect, voters: [...voters] });
      this.#log.info({ voters, originator }, 'formed the cluster with the agreed initial voters');
      this.stop();
    })().finally(() => (this.#forming = undefined));
    return this.#forming;
  }

  async #onPromise(body: Uint8Array): Promise<Uint8Array> {
    const request = this.#open(body, 'bootstrap.promise');
    // A node that gave up forming (a cluster exists) must not help anyone form another.
    if (this.#stopped && !this.#o.formed()) return this.#seal({ type: 'bootstrap.promise-reply', body: { granted: false, reason: `${this.#o.nodeId} joins the existing cluster instead of forming one` } });
    const answer = answerPromise(this.#view(), this.#o.formed(), request.from, request.voters);
    if (answer.granted) await this.#setPromise(answer.promise);
    return this.#seal({ type: 'bootstrap.promise-reply', body: answer.granted ? { granted: true } : { granted: false, reason: answer.reason } });
  }

  async #onForm(body: Uint8Array): Promise<Uint8Array> {
    const request = this.#open(body, 'bootstrap.form');
    if (this.#o.formed()) return this.#seal({ type: 'bootstrap.form-reply', body: { ok: true } });
    const answer = answerForm(this.#view(), request.from, request.voters);
    if (!answer.ok) return this.#seal({ type: 'bootstrap.form-reply', body: { ok: false, reason: answer.reason } });
    await this.#formOnce(request.voters, false);
    return this.#seal({ type: 'bootstrap.form-reply', body: { ok: true } });
  }

  async #ask(id: string, message: { type: 'bootstrap.promise' | 'bootstrap.form'; body: { from: string; voters: string[] } }): Promise<WireMessage | undefined> {
    const member = this.#o.gossip.membership.swim.member(id as never);
    if (member === undefined) throw new Error('not in gossip');
    const encoded = this.#codec.encode(message);
    if (!encoded.ok) throw new Error(`cannot encode ${message.type}`);
    const reply = await this.#o.gossip.stream.request(member.addr, message.type, sealPacket(this.#o.keyring, encoded.value), { timeoutMs: REQUEST_TIMEOUT_MS });
    const opened = openPacket(this.#o.keyring, reply);
    if (!opened.ok) throw new Error(`reply not sealed with our cluster key (${opened.error.code})`);
    const decoded = this.#codec.decode(opened.value);
    return decoded.ok ? decoded.value : undefined;
  }

  #open<T extends 'bootstrap.promise' | 'bootstrap.form'>(body: Uint8Array, type: T): { from: string; voters: string[] } {
    const opened = openPacket(this.#o.keyring, body);
    if (!opened.ok) throw new Error(`${type} refused: not sealed with this cluster's key (${opened.error.code})`);
    const decoded = this.#codec.decode(opened.value);
    if (!decoded.ok || decoded.value.type !== type) throw new Error(`malformed ${type} request`);
    return decoded.value.body as { from: string; voters: string[] };
  }

  #seal(message: { type: 'bootstrap.promise-reply'; body: { granted: boolean; reason?: string } } | { type: 'bootstrap.form-reply'; body: { ok: boolean; reason?: string } }): Uint8Array {
    const encoded = this.#codec.encode(message);
    if (!encoded.ok) throw new Error(`cannot encode ${message.type}`);
    return sealPacket(this.#o.keyring, encoded.value);
  }

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#serial.then(fn, fn);
    this.#serial = run.catch(() => undefined);
    return run;
  }

  /** Persisted before it is acted on or answered: a forgotten promise could be given twice. */
  async #setPromise(promise: Promise_ | undefined): Promise<void> {
    this.#promise = promise;
    await writeAtomic(new NodeFileSystem(), join(this.#o.dataDir, PROMISE_FILE), new TextEncoder().encode(JSON.stringify(promise ?? null)));
  }

  /** Logs a state change once, not every round. */
  #note(reason: string): void {
    if (reason === this.#lastReason) return;
    this.#lastReason = reason;
    this.#log.info({}, reason);
  }
}

async function readPromise(dataDir: string): Promise<Promise_ | undefined> {
  const r = await readAtomic(new NodeFileSystem(), join(dataDir, PROMISE_FILE));
  if (!r.ok) throw new Error(`${join(dataDir, PROMISE_FILE)} is damaged (${r.error.message}); move it away only if no cluster was formed yet`);
  if (r.value === undefined) return undefined;
  try {
    return (JSON.parse(new TextDecoder().decode(r.value)) as Promise_ | null) ?? undefined;
  } catch {
    throw new Error(`${join(dataDir, PROMISE_FILE)} is not JSON; move it away only if no cluster was formed yet`);
  }
}
