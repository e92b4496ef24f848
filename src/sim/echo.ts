// The echo protocol: a tiny protocol whose only job is to exercise the simulator end to end
// (datagrams, RPC requests, one-way RPC messages, timers, async disk I/O, crash and restart)
// and to give the invariant machinery something real to check.
//
// Every node, every ~pingIntervalMs of its own clock, picks a random peer and sends it numbered
// pings: one datagram, one RPC request, and every third time a one-way RPC message. A node that
// receives a ping persists "the highest counter I have acknowledged" (an append-only log of
// CRC-protected records, synced) BEFORE it echoes the ping back. Recovery reads the log up to
// the first bad record (a torn tail), truncates the tail, and continues.
//
// The EchoMonitor is the test's oracle, outside the nodes: it records what was sent, acked and
// recovered, and the invariants check it:
// - an echo is only received for a ping that node sent;
// - a node never recovers a counter below one it acknowledged or persisted (durability);
// - no frame is delivered across an active partition;
// - after the faults are healed, every node receives echoes again (liveness).
// Setting syncBeforeAck to false plants the classic bug (ack before fsync), which the
// durability invariant catches under crashes: see the echo-nosync scenario.

import { assert } from '../core/result.ts';
import type { FileHandle } from '../runtime/storage/fs.ts';
import { crc32c } from '../runtime/storage/crc32c.ts';
import type { Address } from '../runtime/transport/types.ts';
import { hostOf } from './network.ts';
import type { NodeContext, Simulation } from './simulation.ts';

export interface EchoPeer {
  readonly id: string;
  readonly datagram: Address;
  readonly rpc: Address;
}

export interface EchoOptions {
  /** Every node of the cluster (the node itself is skipped when choosing a peer). */
  readonly peers: readonly EchoPeer[];
  readonly monitor: EchoMonitor;
  /** Mean local time between ping rounds (default 20). */
  readonly pingIntervalMs?: number;
  /** RPC request deadline (default 200). */
  readonly requestTimeoutMs?: number;
  /** Sync the log before acking (default true). false is a deliberate bug, for demonstrations. */
  readonly syncBeforeAck?: boolean;
  /** Rewrite the log as one record once it holds this many (default 64): bounded disk use. */
  readonly compactAfterRecords?: number;
}

const DIR = '/echo';
const LOG = '/echo/acked';
const TMP = '/echo/acked.tmp';
const RECORD_BYTES = 8;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A ping is named "<sender>/<incarnation>/<counter>"; the echo carries the same name. */
type PingKey = string;

export class EchoNode {
  readonly #ctx: NodeContext;
  readonly #options: Required<Omit<EchoOptions, 'peers' | 'monitor'>>;
  readonly #peers: readonly EchoPeer[];
  readonly #monitor: EchoMonitor;
  #file: FileHandle;
  #records: number;
  #persisted: number;
  /** Persistence is one operation at a time, in arrival order. */
  #queue: Promise<void> = Promise.resolve();
  #counter = 0;
  #rounds = 0;
  echoesReceived = 0;

  private constructor(ctx: NodeContext, options: EchoOptions, file: FileHandle, records: number, persisted: number) {
    this.#ctx = ctx;
    this.#peers = options.peers.filter((p) => p.id !== ctx.id);
    this.#monitor = options.monitor;
    this.#options = {
      pingIntervalMs: options.pingIntervalMs ?? 20,
      requestTimeoutMs: options.requestTimeoutMs ?? 200,
      syncBeforeAck: options.syncBeforeAck ?? true,
      compactAfterRecords: options.compactAfterRecords ?? 64,
    };
    assert(this.#peers.length > 0, 'the echo protocol needs at least one peer');
    assert(this.#options.pingIntervalMs >= 2, 'pingIntervalMs >= 2');
    this.#file = file;
    this.#records = records;
    this.#persisted = persisted;
  }

  /** Recovers the acked counter from disk, then starts serving and pinging. */
  static async start(ctx: NodeContext, options: EchoOptions): Promise<EchoNode> {
    const disk = ctx.disk;
    await disk.mkdirp(DIR);
    await disk.remove(TMP); // a compaction interrupted by a crash
    const content = await disk.readFile(LOG);
    const { value, records } = parseLog(content ?? new Uint8Array(0));
    options.monitor.recovered(ctx.id, ctx.incarnation, value);
    let file: FileHandle;
    if (content === undefined) {
      file = await disk.open(LOG, { create: true });
      await disk.syncDir(DIR);
    } else {
      file = await disk.open(LOG, { create: false });
      if (content.length > records * RECORD_BYTES) {
        // Cut the torn tail, or records appended after it would be unreachable.
        await file.truncate(records * RECORD_BYTES);
        await file.sync();
      }
    }
    ctx.log(`recovered acked=${value} records=${records}${content !== undefined && content.length > records * RECORD_BYTES ? ' (torn tail cut)' : ''}`);
    const node = new EchoNode(ctx, options, file, records, value);
    node.#serve();
    node.#scheduleRound();
    return node;
  }

  get persistedCounter(): number {
    return this.#persisted;
  }

  #serve(): void {
    const { datagram, rpc } = this.#ctx;
    datagram.onDatagram((from, data) => {
      const msg = decodeMessage(data);
      if (msg === undefined) return;
      if (msg.kind === 'echo') {
        this.#onEcho(msg.key, 'datagram');
        return;
      }
      this.#ack(msg.key).then(
        () => datagram.send(from, encodeMessage('echo', msg.key)),
        (e: unknown) => this.#ctx.log(`no ack for ${msg.key}: ${String(e)}`),
      );
    });
    rpc.handle('echo.ping', async (body) => {
      const msg = decodeMessage(body);
      if (msg?.kind !== 'ping') throw new Error('bad ping');
      await this.#ack(msg.key);
      return encodeMessage('echo', msg.key);
    });
    rpc.onMessage('echo.note', (body, ctx) => {
      const msg = decodeMessage(body);
      if (msg?.kind !== 'ping') return;
      this.#ack(msg.key).then(
        () => rpc.send(ctx.from, 'echo.pong', encodeMessage('echo', msg.key)),
        (e: unknown) => this.#ctx.log(`no ack for ${msg.key}: ${String(e)}`),
      );
    });
    rpc.onMessage('echo.pong', (body) => {
      const msg = decodeMessage(body);
      if (msg?.kind === 'echo') this.#onEcho(msg.key, 'message');
    });
  }

  #scheduleRound(): void {
    const mean = this.#options.pingIntervalMs;
    this.#ctx.clock.setTimer(Math.floor(mean / 2) + this.#ctx.random.int(mean), () => {
      this.#round();
      this.#scheduleRound();
    });
  }

  #round(): void {
    const { datagram, rpc, random } = this.#ctx;
    const peer = this.#peers[random.int(this.#peers.length)]!;
    this.#rounds++;
    datagram.send(peer.datagram, encodeMessage('ping', this.#nextKey()));
    const key = this.#nextKey();
    rpc.request(peer.rpc, 'echo.ping', encodeMessage('ping', key), { timeoutMs: this.#options.requestTimeoutMs }).then(
      (body) => {
        const msg = decodeMessage(body);
        if (msg?.kind === 'echo') this.#onEcho(msg.key, 'rpc');
      },
      (e: unknown) => this.#ctx.log(`ping ${key} to ${peer.id} failed: ${e instanceof Error ? e.message : String(e)}`),
    );
    if (this.#rounds % 3 === 0) rpc.send(peer.rpc, 'echo.note', encodeMessage('ping', this.#nextKey()));
  }

  #nextKey(): PingKey {
    const key = `${this.#ctx.id}/${this.#ctx.incarnation}/${++this.#counter}`;
    this.#monitor.pingSent(key);
    return key;
  }

  #onEcho(key: PingKey, via: string): void {
    this.echoesReceived++;
    this.#monitor.echoReceived(this.#ctx.id, key, via, this.#ctx.incarnation);
  }

  /** Persist the ping's counter (if higher), then report the ack: the echo goes out after. */
  async #ack(key: PingKey): Promise<void> {
    const n = counterOf(key);
    await this.#persist(n);
    this.#monitor.acked(this.#ctx.id, n);
  }

  #persist(n: number): Promise<void> {
    const run = async (): Promise<void> => {
      if (n <= this.#persisted) return; // already durable
      if (this.#records >= this.#options.compactAfterRecords) await this.#compact(n);
      else {
        await this.#file.append(encodeRecord(n));
        this.#records++;
        if (this.#options.syncBeforeAck) await this.#file.sync();
      }
      this.#persisted = n;
      this.#monitor.persisted(this.#ctx.id, n);
    };
    const done = this.#queue.then(run);
    this.#queue = done.catch(() => undefined);
    return done;
  }

  /** Write-temp, sync, rename, sync-directory: the log is either the old one or the new one. */
  async #compact(n: number): Promise<void> {
    const disk = this.#ctx.disk;
    const sync = this.#options.syncBeforeAck;
    await this.#file.close();
    await disk.remove(TMP);
    const tmp = await disk.open(TMP, { create: true });
    await tmp.append(encodeRecord(n));
    if (sync) await tmp.sync();
    await tmp.close();
    await disk.rename(TMP, LOG);
    if (sync) await disk.syncDir(DIR);
    this.#file = await disk.open(LOG, { create: false });
    this.#records = 1;
  }
}

// ---- encoding ----

function encodeMessage(kind: 'ping' | 'echo', key: PingKey): Uint8Array {
  return encoder.encode(`${kind} ${key}`);
}

function decodeMessage(data: Uint8Array): { readonly kind: 'ping' | 'echo'; readonly key: PingKey } | undefined {
  const match = /^(ping|echo) ([A-Za-z0-9._-]+\/\d+\/\d+)$/.exec(decoder.decode(data));
  if (match === null) return undefined;
  return { kind: match[1] as 'ping' | 'echo', key: match[2]! };
}

function counterOf(key: PingKey): number {
  return Number(key.slice(key.lastIndexOf('/') + 1));
}

/** [counter u32 BE][crc32c(counter bytes) u32 BE] */
function encodeRecord(n: number): Uint8Array {
  const out = new Uint8Array(RECORD_BYTES);
  const view = new DataView(out.buffer);
  view.setUint32(0, n);
  view.setUint32(4, crc32c(out.subarray(0, 4)));
  return out;
}

/** The last valid record's counter (0 if none), and how many records precede the first bad one. */
export function parseLog(content: Uint8Array): { readonly value: number; readonly records: number } {
  const view = new DataView(content.buffer, content.byteOffset, content.byteLength);
  let value = 0;
  let records = 0;
  for (let at = 0; at + RECORD_BYTES <= content.length; at += RECORD_BYTES) {
    if (view.getUint32(at + 4) !== crc32c(content.subarray(at, at + 4))) break;
    value = view.getUint32(at);
    records++;
  }
  return { value, records };
}

// ---- the oracle ----

export const ECHO_INVARIANTS = {
  echoMatchesPing: 'an echo is only received for a ping that was sent',
  durability: 'a persisted or acked counter never goes backwards after a restart',
  partition: 'no frame is delivered across an active partition',
  liveness: 'after healing, every node receives echoes again',
} as const;

export class EchoMonitor {
  readonly #sent = new Set<PingKey>();
  readonly #highestAcked = new Map<string, number>();
  readonly #highestPersisted = new Map<string, number>();
  readonly #echoesAt = new Map<string, number>();
  readonly #violations = new Map<string, string>();
  #echoes = 0;

  pingSent(key: PingKey): void {
    this.#sent.add(key);
  }

  echoReceived(node: string, key: PingKey, via: string, incarnation: number): void {
    this.#echoes++;
    if (!key.startsWith(`${node}/`) || !this.#sent.has(key)) {
      this.violate(ECHO_INVARIANTS.echoMatchesPing, `${node} (incarnation ${incarnation}) received an echo via ${via} for ${key}, which it never sent`);
    }
    this.#echoesAt.set(node, (this.#echoesAt.get(node) ?? 0) + 1);
  }

  acked(node: string, n: number): void {
    this.#highestAcked.set(node, Math.max(n, this.#highestAcked.get(node) ?? 0));
  }

  persisted(node: string, n: number): void {
    const before = this.#highestPersisted.get(node) ?? 0;
    if (n < before) this.violate(ECHO_INVARIANTS.durability, `${node} persisted ${n} after ${before}`);
    this.#highestPersisted.set(node, Math.max(n, before));
  }

  recovered(node: string, incarnation: number, n: number): void {
    const acked = this.#highestAcked.get(node) ?? 0;
    const persisted = this.#highestPersisted.get(node) ?? 0;
    if (n < acked || n < persisted) {
      this.violate(
        ECHO_INVARIANTS.durability,
        `${node} incarnation ${incarnation} recovered acked counter ${n}, but it had acknowledged ${acked} and persisted ${persisted} before`,
      );
    }
    // What was recovered is what is durable now; later values are checked against it.
    this.#highestPersisted.set(node, Math.max(n, persisted));
  }

  /** Echoes received by node so far. */
  echoCount(node: string): number {
    return this.#echoesAt.get(node) ?? 0;
  }

  get totalEchoes(): number {
    return this.#echoes;
  }

  violate(invariant: string, message: string): void {
    if (!this.#violations.has(invariant)) this.#violations.set(invariant, message);
  }

  violation(invariant: string): string | undefined {
    return this.#violations.get(invariant);
  }
}

/**
 * Registers the echo invariants on sim. Liveness is judged at livenessCheckAtMs: every node
 * must have received an echo after healedAtMs.
 */
export function installEchoInvariants<N>(sim: Simulation<N>, monitor: EchoMonitor, liveness?: { readonly healedAtMs: number; readonly checkAtMs: number }): void {
  sim.network.observe((event) => {
    if (event.kind === 'deliver' && sim.network.isBlocked(hostOf(event.from), hostOf(event.to))) {
      monitor.violate(ECHO_INVARIANTS.partition, `#${event.id} ${event.from} -> ${event.to} delivered across a partition`);
    }
  });
  if (liveness !== undefined) {
    const before = new Map<string, number>();
    sim.clock.scheduleAt(liveness.healedAtMs, () => {
      for (const node of sim.nodes()) before.set(node.id, monitor.echoCount(node.id));
    });
    sim.clock.scheduleAt(liveness.checkAtMs, () => {
      sim.trace.record('sim', 'liveness check');
      const silent = sim.nodes().filter((node) => monitor.echoCount(node.id) <= (before.get(node.id) ?? 0)).map((n) => n.id);
      if (silent.length > 0) {
        monitor.violate(ECHO_INVARIANTS.liveness, `no echo since the heal at ${liveness.healedAtMs} ms for ${silent.join(', ')}`);
      }
    });
  }
  for (const name of Object.values(ECHO_INVARIANTS)) sim.invariant(name, () => monitor.violation(name));
}
