// A concurrent KV load that records a history for the linearizability checker
// (test/linearizability/history.ts, DESIGN.md How we test 6, issue 8 item 2).
//
// K clients, each a sequential actor, loop over put / get / cas / delete on a few keys; every
// request goes to a host picked at random (writes sent to a follower are forwarded, reads are
// linearizable: never `?stale`). Each op is invoked on the recorder before the request leaves and
// completed with the answer mapped as history.ts says:
//   200                      -> ok (a write's {revision}; a read's value and modRevision)
//   404                      -> not-found (get, delete)
//   409 compare-and-swap ... -> cas-mismatch, with the modRevision the server reported
//   timeout, no connection, 5xx, anything else -> unknown ("maybe applied" for a write)
// An answer this mapping does not expect (a 4xx other than those, a 404 to a put) is recorded as
// unknown, which the checker treats soundly, AND listed in `unexpected`, so the test can fail on
// it: it means the client or the API is wrong, not the cluster.
//
// Values are unique per op (client id and counter), so a read names the one write it saw.
// Bounded: each request has a timeout, the whole load has maxOps, and stop() waits at most one
// request timeout for the clients to finish.
import { setTimeout as sleep } from 'node:timers/promises';
import { ClientError, SappersClient } from '../../src/client/client.ts';
import { assert } from '../../src/core/result.ts';
import type { Random } from '../../src/core/random.ts';
import type { HistoryRecorder, Operation } from '../linearizability/history.ts';

/** A host's HTTP API (hosts.ts Host satisfies it). */
export interface LoadTarget {
  readonly name: string;
  readonly api: { readonly addr: string; readonly token: string };
}

export interface KvLoadOptions {
  readonly targets: readonly LoadTarget[];
  readonly recorder: HistoryRecorder;
  /** Picks hosts, keys and op kinds (seeded, so a run's choices can be replayed; timing cannot). */
  readonly random: Random;
  readonly keys: readonly string[];
  /** Concurrent clients (default 6). */
  readonly clients?: number;
  /** Per request (default 3000). */
  readonly requestTimeoutMs?: number;
  /** The load stops by itself after this many ops (default 20000). */
  readonly maxOps?: number;
  /** Pause between a client's ops, 0 to this (default 20): keeps the history's size sane. */
  readonly maxThinkMs?: number;
  /**
   * After an op without a definite answer the client backs off, from this (default 50) doubling
   * to maxBackoffMs (default 800), jittered, as a real client retrying would. Without it a
   * client facing a fast refusal (503 no-leader, connection refused) spins, and the hundreds of
   * maybe-applied writes it leaves make the checker's search explode (each may take effect at
   * any later point, or never).
   */
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** Prefix of client names and values (default "c"). */
  readonly clientPrefix?: string;
}

export interface LoadSummary {
  readonly ops: number;
  /** Ops whose output is unknown (maybe-applied writes and unanswered reads). */
  readonly unknown: number;
  readonly byKind: Readonly<Record<Operation['kind'], number>>;
  readonly byStatus: Readonly<Record<string, number>>;
  /** Answers the mapping did not expect (at most MAX_UNEXPECTED kept). */
  readonly unexpected: readonly string[];
}

const MAX_UNEXPECTED = 50;
/** The 409 message of a failed compare-and-swap (src/agent/agent.ts writeOutcome). */
const CAS_MISMATCH = /compare-and-swap failed .*its modRevision is (\d+)/;

type Output = Operation['output'];

/**
 * Runs the load until stop() or maxOps. Construct, then start(); stop() resolves when every
 * client has finished its current request (bounded by the request timeout).
 */
export class KvLoad {
  readonly #o: Required<Omit<KvLoadOptions, 'random'>> & { random: Random };
  readonly #clients: Map<string, SappersClient>;
  readonly #unexpected: string[] = [];
  #stopped = false;
  #running: Promise<void> | undefined;

  constructor(options: KvLoadOptions) {
    this.#o = {
      clients: 6,
      requestTimeoutMs: 3_000,
      maxOps: 20_000,
      maxThinkMs: 20,
      minBackoffMs: 50,
      maxBackoffMs: 800,
      clientPrefix: 'c',
      ...options,
    };
    assert(this.#o.targets.length > 0, 'the load needs at least one target');
    assert(this.#o.keys.length > 0, 'the load needs at least one key');
    assert(Number.isSafeInteger(this.#o.clients) && this.#o.clients > 0, 'clients is a positive integer');
    this.#clients = new Map(this.#o.targets.map((t) => [t.name, new SappersClient({ ...t.api, timeoutMs: this.#o.requestTimeoutMs })]));
  }

  start(): void {
    assert(this.#running === undefined, 'the load starts once');
    const loops = Array.from({ length: this.#o.clients }, (_, i) => this.#client(`${this.#o.clientPrefix}${i}`, this.#o.random.fork()));
    this.#running = Promise.all(loops).then(() => undefined);
  }

  /** Stops the clients and waits for their last requests. */
  async stop(): Promise<LoadSummary> {
    this.#stopped = true;
    await this.#running;
    return this.summary();
  }

  summary(): LoadSummary {
    const history = this.#o.recorder.history();
    const byKind = { put: 0, get: 0, cas: 0, delete: 0 };
    const byStatus: Record<string, number> = {};
    let unknown = 0;
    for (const op of history) {
      byKind[op.kind]++;
      const status = op.completedAtMs === undefined ? 'unknown' : op.output.status;
      byStatus[`${op.kind}:${status}`] = (byStatus[`${op.kind}:${status}`] ?? 0) + 1;
      if (status === 'unknown') unknown++;
    }
    return { ops: history.length, unknown, byKind, byStatus, unexpected: [...this.#unexpected] };
  }

  async #client(name: string, random: Random): Promise<void> {
    const { keys, recorder, maxOps, maxThinkMs, minBackoffMs, maxBackoffMs } = this.#o;
    let backoffMs = 0;
    /** The modRevision this client last saw per key (0 = it saw the key absent): what its CAS expects. */
    const seen = new Map<string, number>();
    let counter = 0;
    while (!this.#stopped && recorder.size < maxOps) {
      const key = keys[random.int(keys.length)]!;
      const target = this.#o.targets[random.int(this.#o.targets.length)]!;
      const client = this.#clients.get(target.name)!;
      const roll = random.int(100);
      const value = `${name}-${counter++}`;
      let out: Output;
      if (roll < 35) {
        const p = recorder.invoke(name, key, 'get', {});
        out = await this.#send(target, 'get', async () => {
          const e = await client.kvGet(key);
          return e === undefined ? { status: 'not-found' } : { status: 'ok', value: e.value, modRevision: e.modRevision };
        });
        recorder.complete(p, out);
        if (out.status === 'ok' && 'modRevision' in out) seen.set(key, out.modRevision);
        if (out.status === 'not-found') seen.set(key, 0);
      } else if (roll < 60) {
        const p = recorder.invoke(name, key, 'put', { value });
        out = await this.#send(target, 'put', async () => ({ status: 'ok', revision: (await client.kvPut(key, value)).revision }));
        recorder.complete(p, out);
        if (out.status === 'ok' && 'revision' in out) seen.set(key, out.revision);
      } else if (roll < 85) {
        const expectedModRevision = seen.get(key) ?? 0;
        const p = recorder.invoke(name, key, 'cas', { value, expectedModRevision });
        out = await this.#send(target, 'cas', async () => ({ status: 'ok', revision: (await client.kvPut(key, value, { cas: expectedModRevision })).revision }));
        recorder.complete(p, out);
        if (out.status === 'ok' && 'revision' in out) seen.set(key, out.revision);
        if (out.status === 'cas-mismatch' && out.actualModRevision !== undefined) seen.set(key, out.actualModRevision);
      } else {
        // Half the deletes are conditional on the last modRevision seen.
        const expected = random.int(2) === 0 ? seen.get(key) : undefined;
        const expectedModRevision = expected === 0 ? undefined : expected;
        const p = recorder.invoke(name, key, 'delete', { expectedModRevision });
        out = await this.#send(target, 'delete', async () => ({
          status: 'ok',
          revision: (await client.kvDelete(key, expectedModRevision === undefined ? {} : { cas: expectedModRevision })).revision,
        }));
        recorder.complete(p, out);
        if (out.status === 'ok' || out.status === 'not-found') seen.set(key, 0);
        if (out.status === 'cas-mismatch' && out.actualModRevision !== undefined) seen.set(key, out.actualModRevision);
      }
      if (out.status === 'unknown' || out.status === 'refused') {
        backoffMs = Math.min(maxBackoffMs, backoffMs === 0 ? minBackoffMs : backoffMs * 2);
        if (!this.#stopped) await sleep(backoffMs / 2 + random.int(Math.floor(backoffMs / 2) + 1));
      } else {
        backoffMs = 0;
        if (maxThinkMs > 0 && !this.#stopped) await sleep(random.int(maxThinkMs + 1));
      }
    }
  }

  /** Sends one request and maps its answer (history.ts); never throws. */
  async #send(target: LoadTarget, kind: Operation['kind'], request: () => Promise<Output>): Promise<Output> {
    try {
      return await request();
    } catch (e) {
      if (!(e instanceof ClientError)) return this.#unexpectedAnswer(target, kind, `${(e as Error).name}: ${(e as Error).message}`);
      const seen = `${target.name}: ${e.status === 0 ? e.code : `${e.status} ${e.code}`}: ${e.message}`.slice(0, 300);
      // Certainly not applied: the server never proposed it or its entry was replaced (503
      // no-leader, API contract), or the request never left (connection refused).
      const refused = (e.status === 503 && e.code === 'no-leader') || (e.status === 0 && e.code === 'unreachable' && e.message.includes('ECONNREFUSED'));
      if (refused && kind !== 'get') return { status: 'refused', error: seen };
      // No answer, or the server could not say (timeout, crash, full disk): maybe applied.
      if (e.status === 0 || e.status >= 500) return { status: 'unknown', error: seen };
      if (e.status === 404 && (kind === 'get' || kind === 'delete')) return { status: 'not-found' };
      if (e.status === 409 && (kind === 'cas' || kind === 'delete')) {
        const m = CAS_MISMATCH.exec(e.message);
        if (m !== null) return { status: 'cas-mismatch', actualModRevision: Number(m[1]) };
      }
      return this.#unexpectedAnswer(target, kind, seen);
    }
  }

  #unexpectedAnswer(target: LoadTarget, kind: Operation['kind'], what: string): Output {
    const line = `${kind} via ${target.name}: ${what}`;
    if (this.#unexpected.length < MAX_UNEXPECTED) this.#unexpected.push(line);
    return { status: 'unknown', error: `unexpected answer: ${line}` };
  }
}
