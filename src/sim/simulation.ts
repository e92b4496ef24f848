// A whole simulated cluster from one seed (DESIGN.md, How we test, item 3): the virtual clock,
// the network, one SimDisk per node, per-node clocks that may drift, crash and restart, and
// invariants checked after every step. A failure report always carries the seed and the
// command that replays it.
//
// Determinism rules kept here:
// - Every random stream is derived from (seed, label), e.g. "node/n3/2" for the third node's
//   second incarnation, so adding a node or a subsystem does not shift any other stream.
// - One step runs one clock event, then waits until every microtask it made runnable has run
//   (settle()), then checks the invariants. Node code may await promises freely.
// - A crashed incarnation is fenced off completely: its timers are cancelled, its transports
//   neither deliver nor settle anything, and its disk view fails, so code still "running" from
//   before the crash cannot affect the world after it.

import { assert } from '../core/result.ts';
import { SeededRandom, type Random } from '../core/random.ts';
import type { Clock, Timer } from '../runtime/clock.ts';
import type { FileSystem } from '../runtime/storage/fs.ts';
import type { Address, DatagramTransport, RpcTransport } from '../runtime/transport/types.ts';
import { DriftingClock, VirtualClock } from './clock.ts';
import { SimDisk, type SimDiskOptions } from './disk.ts';
import { SimNetwork, type SimNetworkOptions } from './network.ts';
import { settle } from './settle.ts';
import { Trace, formatTimeMs } from './trace.ts';
import { SimDatagramTransport, SimRpcTransport, type SimDatagramOptions, type SimRpcOptions } from './transport.ts';

/** What a node's code gets: everything it may touch, for this incarnation only. */
export interface NodeContext {
  readonly id: string;
  /** 1 for the first start, then +1 per restart. */
  readonly incarnation: number;
  readonly clock: Clock;
  readonly random: Random;
  readonly datagram: DatagramTransport;
  readonly rpc: RpcTransport;
  readonly disk: FileSystem;
  /** Adds "node <id> <text>" to the trace (one line). */
  log(text: string): void;
}

export type NodeFactory<N> = (ctx: NodeContext) => N | Promise<N>;

export interface SimNode<N> {
  readonly id: string;
  readonly datagramAddress: Address;
  readonly rpcAddress: Address;
  readonly status: 'up' | 'down';
  readonly incarnation: number;
  /** The running incarnation's object, once its factory has resolved; undefined while down. */
  readonly instance: N | undefined;
  /** The node's disk; survives crashes (minus what was not synced). */
  readonly disk: SimDisk;
  /** Local seconds per global second of this node's clock. */
  readonly clockRate: number;
  /** The current incarnation's clock. */
  readonly clock: Clock;
}

export interface AddNodeOptions {
  /** Overrides the drawn clock rate (see SimulationOptions.clockDriftMax). */
  readonly clockRate?: number;
  readonly disk?: SimDiskOptions;
}

export interface SimulationOptions {
  readonly seed: number;
  /** Full replay command for failure reports (default "npm run sim -- --seed <seed>"). */
  readonly replayCommand?: string;
  readonly network?: SimNetworkOptions;
  /** Each node's clock rate is drawn uniformly in [1 - e, 1 + e] (default 0: perfect clocks). */
  readonly clockDriftMax?: number;
  readonly disk?: SimDiskOptions;
  readonly datagram?: SimDatagramOptions;
  readonly rpc?: SimRpcOptions;
  /** Ports of every node's endpoints: "<id>:<port>" (defaults 7702 and 7701, as in DESIGN.md). */
  readonly datagramPort?: number;
  readonly rpcPort?: number;
  /** Trace lines kept in memory (default all; the digest always covers all). */
  readonly traceMaxLines?: number;
  /** Trace lines quoted in a failure report (default 30). */
  readonly reportTraceLines?: number;
}

/** An invariant returns undefined (or nothing) when it holds, or a message saying what broke. */
export type InvariantCheck = () => string | undefined | void;

export interface FailureReport {
  readonly seed: number;
  readonly step: number;
  readonly timeMs: number;
  readonly kind: 'invariant' | 'exception';
  /** The invariant's name, or where the exception came from. */
  readonly name: string;
  readonly message: string;
  /** Stack of the exception, when there is one (not part of the trace). */
  readonly stack?: string;
  readonly traceTail: readonly string[];
  readonly traceDigest: string;
  readonly replayCommand: string;
}

export type RunResult =
  | { readonly ok: true; readonly steps: number; readonly timeMs: number }
  | { readonly ok: false; readonly steps: number; readonly timeMs: number; readonly failure: FailureReport };

export interface RunOptions {
  /** Stop after this many steps in total (counting earlier runs). */
  readonly maxSteps?: number;
  /** Run events due at or before this time, then set the clock to it. */
  readonly untilMs?: number;
}

class NodeState<N> implements SimNode<N> {
  readonly id: string;
  readonly datagramAddress: Address;
  readonly rpcAddress: Address;
  readonly disk: SimDisk;
  readonly clockRate: number;
  readonly localOriginMs: number;
  readonly factory: NodeFactory<N>;
  status: 'up' | 'down' = 'down';
  incarnation = 0;
  instance: N | undefined;
  clock: DriftingClock;
  datagram: SimDatagramTransport | undefined;
  rpc: SimRpcTransport | undefined;

  constructor(fields: {
    id: string;
    datagramAddress: Address;
    rpcAddress: Address;
    disk: SimDisk;
    clockRate: number;
    localOriginMs: number;
    factory: NodeFactory<N>;
    clock: DriftingClock;
  }) {
    this.id = fields.id;
    this.datagramAddress = fields.datagramAddress;
    this.rpcAddress = fields.rpcAddress;
    this.disk = fields.disk;
    this.clockRate = fields.clockRate;
    this.localOriginMs = fields.localOriginMs;
    this.factory = fields.factory;
    this.clock = fields.clock;
  }
}

export class Simulation<N = unknown> {
  readonly seed: number;
  readonly clock: VirtualClock;
  readonly trace: Trace;
  readonly network: SimNetwork;
  readonly #options: SimulationOptions;
  readonly #nodes = new Map<string, NodeState<N>>();
  readonly #invariants: Array<{ readonly name: string; readonly check: InvariantCheck }> = [];
  #steps = 0;
  #failure: FailureReport | undefined;

  constructor(options: SimulationOptions) {
    assert(Number.isSafeInteger(options.seed) && options.seed >= 0 && options.seed <= 0xffffffff, `seed must be an integer in [0, 2^32), got ${options.seed}`);
    const drift = options.clockDriftMax ?? 0;
    assert(drift >= 0 && drift < 1, `clockDriftMax must be in [0, 1), got ${drift}`);
    this.seed = options.seed;
    this.#options = options;
    this.clock = new VirtualClock();
    this.trace = new Trace(() => this.clock.nowMs(), options.traceMaxLines === undefined ? {} : { maxLines: options.traceMaxLines });
    this.network = new SimNetwork(this.clock, this.random('network'), this.trace, options.network);
    this.trace.record('sim', `seed ${this.seed}`);
  }

  /** A random stream for one labelled purpose, independent of every other label's. */
  random(label: string): Random {
    return deriveRandom(this.seed, label);
  }

  get steps(): number {
    return this.#steps;
  }

  get failure(): FailureReport | undefined {
    return this.#failure;
  }

  get replayCommand(): string {
    return this.#options.replayCommand ?? `npm run sim -- --seed ${this.seed}`;
  }

  // ---- nodes ----

  /** The addresses a node with this id has (or will have): "<id>:<port>". */
  addressesOf(id: string): { readonly datagram: Address; readonly rpc: Address } {
    return { datagram: `${id}:${this.#options.datagramPort ?? 7702}`, rpc: `${id}:${this.#options.rpcPort ?? 7701}` };
  }

  /** Creates a node with a fresh disk and starts its first incarnation now. */
  addNode(id: string, factory: NodeFactory<N>, options: AddNodeOptions = {}): SimNode<N> {
    assert(/^[A-Za-z0-9._-]+$/.test(id), `node id ${JSON.stringify(id)} must be a host-like name`);
    assert(!this.#nodes.has(id), `node ${id} already exists`);
    const driftRandom = this.random(`drift/${id}`);
    const drift = this.#options.clockDriftMax ?? 0;
    const drawnRate = drift > 0 ? 1 - drift + 2 * drift * driftRandom.float() : 1;
    const clockRate = options.clockRate ?? drawnRate;
    // Processes do not share a monotonic origin; with drift on, do not let them pretend to.
    const localOriginMs = drift > 0 ? driftRandom.int(1_000_000) : 0;
    const node = new NodeState<N>({
      id,
      datagramAddress: this.addressesOf(id).datagram,
      rpcAddress: this.addressesOf(id).rpc,
      disk: new SimDisk(options.disk ?? this.#options.disk ?? {}),
      clockRate,
      localOriginMs,
      factory,
      clock: new DriftingClock(this.clock, { rate: clockRate, localOriginMs }),
    });
    this.#nodes.set(id, node);
    this.trace.record('sim', `add ${id} clock-rate=${clockRate.toFixed(6)}`);
    this.#start(node);
    return node;
  }

  node(id: string): SimNode<N> {
    const node = this.#nodes.get(id);
    assert(node !== undefined, `no node ${id}`);
    return node;
  }

  /** All nodes, in the order they were added. */
  nodes(): ReadonlyArray<SimNode<N>> {
    return [...this.#nodes.values()];
  }

  /**
   * Crashes a node like a power loss: its timers are cancelled, its transports stop, frames in
   * flight from and to it are lost, and its disk loses what was not synced (maybe tearing the
   * last write).
   */
  crash(id: string): void {
    const node = this.#mustGet(id);
    assert(node.status === 'up', `crash ${id}: node is already down`);
    node.status = 'down';
    node.instance = undefined;
    node.clock.kill();
    node.datagram?.kill();
    node.rpc?.kill();
    this.network.crashHost(id);
    const report = node.disk.crash(this.random(`disk/${id}/${node.incarnation}`));
    const torn = report.tornWrites.map((t) => ` torn=${t.path}:+${t.survivedBytes}B/garbage=${t.garbageBytes}B`).join('');
    this.trace.record('sim', `crash ${id} incarnation=${node.incarnation}${torn}`);
  }

  /** Starts a crashed node again: a new incarnation of the factory over the same disk. */
  restart(id: string): void {
    const node = this.#mustGet(id);
    assert(node.status === 'down', `restart ${id}: node is up`);
    this.#start(node);
  }

  // ---- scheduling and invariants ----

  /** Runs fn after delayMs of global time, as one step; label goes to the trace. */
  schedule(delayMs: number, label: string, fn: () => void): Timer {
    return this.clock.setTimer(delayMs, () => {
      this.trace.record('sim', label);
      fn();
    });
  }

  /** Registers a check run after every step (and by checkInvariants). */
  invariant(name: string, check: InvariantCheck): void {
    this.#invariants.push({ name, check });
  }

  /** Runs every invariant now; returns the failure (also kept in `failure`), if any. */
  checkInvariants(): FailureReport | undefined {
    if (this.#failure !== undefined) return this.#failure;
    for (const { name, check } of this.#invariants) {
      let message: string | undefined;
      try {
        message = check() ?? undefined;
      } catch (e) {
        message = `threw: ${describeError(e)}`;
      }
      if (message !== undefined) {
        this.#fail('invariant', name, message);
        return this.#failure;
      }
    }
    return undefined;
  }

  // ---- running ----

  /**
   * Runs the next event, lets the microtasks it caused settle, then checks the invariants.
   * Returns false when nothing was left to run or the simulation has failed.
   */
  async step(): Promise<boolean> {
    if (this.#failure !== undefined) return false;
    let ran: boolean;
    try {
      ran = this.clock.step();
    } catch (e) {
      this.#steps++;
      this.#fail('exception', 'event', describeError(e), e);
      return false;
    }
    if (!ran) return false;
    this.#steps++;
    await settle();
    return this.checkInvariants() === undefined;
  }

  /** Steps until the limits are reached, nothing is left, or an invariant fails. */
  async run(options: RunOptions = {}): Promise<RunResult> {
    const maxSteps = options.maxSteps ?? Number.POSITIVE_INFINITY;
    const onRejection = (reason: unknown): void => {
      this.#fail('exception', 'unhandled rejection', describeError(reason), reason);
    };
    // Node code that forgets to handle a rejection is a bug worth a seed, not a crashed runner.
    process.on('unhandledRejection', onRejection);
    try {
      await settle();
      if (this.checkInvariants() === undefined) {
        while (this.#steps < maxSteps) {
          const next = this.clock.nextEventAtMs();
          if (next === undefined || (options.untilMs !== undefined && next > options.untilMs)) break;
          if (!(await this.step())) break;
        }
      }
      if (this.#failure === undefined && options.untilMs !== undefined && this.#steps < maxSteps && options.untilMs > this.clock.nowMs()) {
        this.clock.runUntil(options.untilMs);
      }
    } finally {
      process.off('unhandledRejection', onRejection);
    }
    const base = { steps: this.#steps, timeMs: this.clock.nowMs() };
    return this.#failure === undefined ? { ok: true, ...base } : { ok: false, ...base, failure: this.#failure };
  }

  /** run({ untilMs: now + ms }). */
  runFor(ms: number, maxSteps?: number): Promise<RunResult> {
    return this.run(maxSteps === undefined ? { untilMs: this.clock.nowMs() + ms } : { untilMs: this.clock.nowMs() + ms, maxSteps });
  }

  // ---- internals ----

  #mustGet(id: string): NodeState<N> {
    const node = this.#nodes.get(id);
    assert(node !== undefined, `no node ${id}`);
    return node;
  }

  #start(node: NodeState<N>): void {
    node.incarnation++;
    node.status = 'up';
    const incarnation = node.incarnation;
    node.clock = new DriftingClock(this.clock, { rate: node.clockRate, localOriginMs: node.localOriginMs });
    node.datagram = new SimDatagramTransport(this.network, node.datagramAddress, this.#options.datagram ?? {});
    node.rpc = new SimRpcTransport(this.network, node.clock, node.rpcAddress, this.#options.rpc ?? {});
    const ctx: NodeContext = {
      id: node.id,
      incarnation,
      clock: node.clock,
      random: this.random(`node/${node.id}/${incarnation}`),
      datagram: node.datagram,
      rpc: node.rpc,
      disk: node.disk.attach(),
      log: (text) => {
        if (node.incarnation === incarnation && node.status === 'up') this.trace.record(`node ${node.id}`, text);
      },
    };
    this.trace.record('sim', `start ${node.id} incarnation=${incarnation}`);
    let created: N | Promise<N>;
    try {
      created = node.factory(ctx);
    } catch (e) {
      this.#fail('exception', `start ${node.id}`, describeError(e), e);
      return;
    }
    Promise.resolve(created).then(
      (instance) => {
        if (node.incarnation === incarnation && node.status === 'up') node.instance = instance;
      },
      (e: unknown) => {
        if (node.incarnation === incarnation && node.status === 'up') this.#fail('exception', `start ${node.id}`, describeError(e), e);
      },
    );
  }

  #fail(kind: FailureReport['kind'], name: string, message: string, error?: unknown): void {
    if (this.#failure !== undefined) return;
    const stack = stackOf(error);
    this.trace.record('sim', `FAILED ${kind} ${name}: ${message.split('\n')[0]}`);
    this.#failure = {
      seed: this.seed,
      step: this.#steps,
      timeMs: this.clock.nowMs(),
      kind,
      name,
      message,
      ...(stack === undefined ? {} : { stack }),
      traceTail: this.trace.tail(this.#options.reportTraceLines ?? 30),
      traceDigest: this.trace.digest(),
      replayCommand: this.replayCommand,
    };
  }
}

/** The failure report as printed: seed, step, what failed, the last trace lines, how to replay. */
export function formatFailureReport(report: FailureReport): string {
  const lines = [
    `SIMULATION FAILED (seed ${report.seed})`,
    `  seed:    ${report.seed}`,
    `  step:    ${report.step} at t=${formatTimeMs(report.timeMs)} ms`,
    `  ${report.kind === 'invariant' ? 'invariant' : 'exception'}: ${report.name}`,
    `  message: ${report.message}`,
    `  last ${report.traceTail.length} trace lines:`,
    ...report.traceTail.map((l) => `    ${l}`),
    ...(report.stack === undefined ? [] : [`  stack:`, ...report.stack.split('\n').slice(1, 8).map((l) => `    ${l.trim()}`)]),
    `  replay:  ${report.replayCommand}`,
  ];
  return lines.join('\n') + '\n';
}

/** A generator seeded from (seed, label) with FNV-1a, so streams do not depend on creation order. */
export function deriveRandom(seed: number, label: string): SeededRandom {
  let h = 0x811c9dc5;
  const text = `${seed >>> 0}/${label}`;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return new SeededRandom(h);
}

/** Name and message only: stacks hold file paths, which would make traces machine-dependent. */
function describeError(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

function stackOf(e: unknown): string | undefined {
  return e instanceof Error ? e.stack : undefined;
}
