// The simulated network between simulated endpoints (DESIGN.md, How we test, item 3): delay,
// loss, duplication, reordering, symmetric and asymmetric partitions, all drawn from one
// injected Random so that one seed replays one run. Every send, delivery, duplicate and drop is
// a line in the trace.
//
// Model:
// - An endpoint is an Address ("host:port"). Links, partitions and crashes are between HOSTS
//   (the part before the last ':'), as on a real network: a node's gossip and RPC ports share
//   a fate. Two endpoints on one host talk over loopback: no delay, loss or partition (unless a
//   link from the host to itself is set explicitly).
// - Datagram frames are lossy: each send may be lost, duplicated (the copy gets its own delay)
//   and delayed by a uniform draw in [delayMinMs, delayMaxMs]; a fraction gets an extra delay
//   (reorderProbability, up to reorderExtraMaxMs) so that later datagrams overtake it.
// - Stream frames (the RPC connection) are reliable and ordered per (from, to) pair, like TCP:
//   a "lost" stream frame costs a retransmission delay instead, and no frame is delivered
//   before an earlier one on the same pair. Duplication and reordering do not apply.
// - A partition drops frames when they are sent and also when they arrive (a frame in flight
//   when the cable is cut is lost), so nothing is ever delivered across an active partition.
// - A frame to an address where nobody listens is dropped; an RPC request additionally bounces
//   back as 'rpc-unreachable' (the connection is refused). Frames addressed to an endpoint
//   epoch (replies on a connection) are dropped when that endpoint was closed or restarted.

import { assert } from '../core/result.ts';
import type { Random } from '../core/random.ts';
import type { Address } from '../runtime/transport/types.ts';
import type { VirtualClock } from './clock.ts';
import { copyFrame, describeFrame, isStreamFrame, type Frame } from './frames.ts';
import { formatTimeMs, type Trace } from './trace.ts';

export interface LinkSettings {
  /** One-way delay, uniform in [delayMinMs, delayMaxMs], whole milliseconds. */
  readonly delayMinMs: number;
  readonly delayMaxMs: number;
  /** Probability that a datagram is lost (for stream frames: that it needs a retransmission). */
  readonly lossProbability: number;
  /** Probability that a datagram is delivered twice. */
  readonly duplicateProbability: number;
  /** Probability that a datagram is held back by an extra delay, so later ones overtake it. */
  readonly reorderProbability: number;
  /** The extra delay of a held-back datagram is uniform in [1, reorderExtraMaxMs]. */
  readonly reorderExtraMaxMs: number;
}

export const DEFAULT_LINK: LinkSettings = {
  delayMinMs: 1,
  delayMaxMs: 10,
  lossProbability: 0,
  duplicateProbability: 0,
  reorderProbability: 0,
  reorderExtraMaxMs: 50,
};

const LOOPBACK_LINK: LinkSettings = { ...DEFAULT_LINK, delayMinMs: 0, delayMaxMs: 0 };

export interface SimNetworkOptions {
  readonly defaultLink?: Partial<LinkSettings>;
  /** Extra delay of a stream frame whose first transmission was lost (default 200, a TCP RTO). */
  readonly retransmitDelayMs?: number;
  /** Bound on frames in flight in the whole network; beyond it sends are dropped (default 100000). */
  readonly maxInFlight?: number;
}

export type DropReason = 'loss' | 'partition' | 'down' | 'crash' | 'overflow';

export type NetEvent =
  | { readonly kind: 'send'; readonly id: number; readonly from: Address; readonly to: Address; readonly frame: Frame; readonly dueMs: number }
  | { readonly kind: 'duplicate'; readonly id: number; readonly copyOf: number; readonly from: Address; readonly to: Address; readonly frame: Frame; readonly dueMs: number }
  | { readonly kind: 'deliver'; readonly id: number; readonly from: Address; readonly to: Address; readonly frame: Frame }
  | { readonly kind: 'drop'; readonly id: number; readonly from: Address; readonly to: Address; readonly frame: Frame; readonly reason: DropReason };

export interface NetStats {
  readonly sent: number;
  readonly delivered: number;
  readonly duplicated: number;
  readonly dropped: Readonly<Record<DropReason, number>>;
}

/** What the network knows about a listening endpoint. */
export interface EndpointReceiver {
  (from: Address, frame: Frame): void;
}

export interface SendOptions {
  /** Deliver only to this epoch of the endpoint (a reply on a connection). */
  readonly toEpoch?: number;
  /** Called once when the frame is delivered or dropped (not for duplicates). */
  readonly onSettled?: (outcome: 'delivered' | 'dropped') => void;
}

interface InFlight {
  readonly id: number;
  readonly from: Address;
  readonly to: Address;
  readonly frame: Frame;
  readonly toEpoch: number | undefined;
  readonly onSettled: ((outcome: 'delivered' | 'dropped') => void) | undefined;
  cancel: () => void;
}

export class SimNetwork {
  readonly #clock: VirtualClock;
  readonly #random: Random;
  readonly #trace: Trace;
  readonly #retransmitDelayMs: number;
  readonly #maxInFlight: number;
  #defaultLink: LinkSettings;
  readonly #links = new Map<string, LinkSettings>();
  readonly #endpoints = new Map<Address, { readonly epoch: number; readonly receive: EndpointReceiver }>();
  #nextEpoch = 1;
  #nextPacketId = 1;
  readonly #inFlight = new Map<number, InFlight>();
  /** Last scheduled delivery time per stream (from>to), to keep streams in order. */
  readonly #streamTailMs = new Map<string, number>();
  /** Symmetric partition: host -> group index; hosts not listed are together in group -1. */
  #groups: Map<string, number> | undefined;
  /** Asymmetric blocks "fromHost>toHost". */
  readonly #blocked = new Set<string>();
  readonly #observers: Array<(event: NetEvent) => void> = [];
  #sent = 0;
  #delivered = 0;
  #duplicated = 0;
  readonly #dropped: Record<DropReason, number> = { loss: 0, partition: 0, down: 0, crash: 0, overflow: 0 };

  constructor(clock: VirtualClock, random: Random, trace: Trace, options: SimNetworkOptions = {}) {
    this.#clock = clock;
    this.#random = random;
    this.#trace = trace;
    this.#defaultLink = validLink({ ...DEFAULT_LINK, ...options.defaultLink });
    this.#retransmitDelayMs = options.retransmitDelayMs ?? 200;
    this.#maxInFlight = options.maxInFlight ?? 100_000;
    assert(this.#retransmitDelayMs >= 0, 'retransmitDelayMs >= 0');
    assert(this.#maxInFlight >= 1, 'maxInFlight >= 1');
  }

  // ---- endpoints ----

  /** Starts listening at address; returns the endpoint's epoch (unique per attach). */
  attach(address: Address, receive: EndpointReceiver): number {
    assert(!this.#endpoints.has(address), `address ${address} is already in use`);
    const epoch = this.#nextEpoch++;
    this.#endpoints.set(address, { epoch, receive });
    return epoch;
  }

  /** Stops listening; only the given epoch may detach itself (a stale close is harmless). */
  detach(address: Address, epoch: number): void {
    if (this.#endpoints.get(address)?.epoch === epoch) this.#endpoints.delete(address);
  }

  isListening(address: Address): boolean {
    return this.#endpoints.has(address);
  }

  // ---- settings ----

  setDefaultLink(settings: Partial<LinkSettings>): void {
    this.#defaultLink = validLink({ ...this.#defaultLink, ...settings });
    this.#trace.record('net', `default-link ${formatSettings(settings)}`);
  }

  /** Overrides settings on the directed link fromHost -> toHost (merged over its current ones). */
  setLink(fromHost: string, toHost: string, settings: Partial<LinkSettings>): void {
    this.#links.set(linkKey(fromHost, toHost), validLink({ ...this.link(fromHost, toHost), ...settings }));
    this.#trace.record('net', `link ${fromHost} -> ${toHost} ${formatSettings(settings)}`);
  }

  /** Removes the overrides of one directed link (back to the defaults). */
  clearLink(fromHost: string, toHost: string): void {
    this.#links.delete(linkKey(fromHost, toHost));
    this.#trace.record('net', `link ${fromHost} -> ${toHost} cleared`);
  }

  /** The settings in force on the directed link fromHost -> toHost. */
  link(fromHost: string, toHost: string): LinkSettings {
    const explicit = this.#links.get(linkKey(fromHost, toHost));
    if (explicit !== undefined) return explicit;
    return fromHost === toHost ? LOOPBACK_LINK : this.#defaultLink;
  }

  // ---- partitions ----

  /**
   * Splits the hosts into groups that cannot reach each other (both directions). Hosts not
   * named form one more group together. Replaces the previous symmetric partition; asymmetric
   * blocks stay.
   */
  partition(groups: ReadonlyArray<ReadonlyArray<string>>): void {
    const map = new Map<string, number>();
    groups.forEach((group, i) => {
      for (const host of group) {
        assert(!map.has(host), `host ${host} is in two partition groups`);
        map.set(host, i);
      }
    });
    this.#groups = map;
    this.#trace.record('net', `partition ${groups.map((g) => [...g].join(',')).join(' | ')} | rest`);
  }

  /** Blocks fromHost -> toHost only (an asymmetric partition: replies may still flow back). */
  block(fromHost: string, toHost: string): void {
    this.#blocked.add(linkKey(fromHost, toHost));
    this.#trace.record('net', `block ${fromHost} -> ${toHost}`);
  }

  unblock(fromHost: string, toHost: string): void {
    this.#blocked.delete(linkKey(fromHost, toHost));
    this.#trace.record('net', `unblock ${fromHost} -> ${toHost}`);
  }

  /** Removes every partition and block. */
  heal(): void {
    this.#groups = undefined;
    this.#blocked.clear();
    this.#trace.record('net', 'heal');
  }

  isBlocked(fromHost: string, toHost: string): boolean {
    if (fromHost === toHost) return false;
    if (this.#blocked.has(linkKey(fromHost, toHost))) return true;
    if (this.#groups === undefined) return false;
    return (this.#groups.get(fromHost) ?? -1) !== (this.#groups.get(toHost) ?? -1);
  }

  // ---- traffic ----

  /** Sends a frame (copied); returns its packet id. Loss is silent to the sender, as on a wire. */
  send(from: Address, to: Address, frame: Frame, options: SendOptions = {}): number {
    const id = this.#nextPacketId++;
    const fromHost = hostOf(from);
    const toHost = hostOf(to);
    const link = this.link(fromHost, toHost);
    const stream = isStreamFrame(frame);
    const copy = copyFrame(frame);
    this.#sent++;

    if (this.isBlocked(fromHost, toHost)) {
      this.#dropAtSend(id, from, to, copy, 'partition', options.onSettled);
      return id;
    }
    if (this.#inFlight.size >= this.#maxInFlight) {
      this.#dropAtSend(id, from, to, copy, 'overflow', options.onSettled);
      return id;
    }
    // Draws in a fixed order: loss, delay, reorder, duplicate (and the duplicate's delay).
    const lost = link.lossProbability > 0 && this.#random.float() < link.lossProbability;
    if (lost && !stream) {
      this.#dropAtSend(id, from, to, copy, 'loss', options.onSettled);
      return id;
    }
    let dueMs = this.#clock.nowMs() + this.#drawDelayMs(link);
    if (stream) {
      if (lost) dueMs += this.#retransmitDelayMs;
      const key = linkKey(from, to);
      dueMs = Math.max(dueMs, this.#streamTailMs.get(key) ?? 0);
      this.#streamTailMs.set(key, dueMs);
    } else {
      dueMs += this.#drawReorderMs(link);
    }
    this.#trace.record('net', `send #${id} ${from} -> ${to} ${describeFrame(copy)} due=${formatTimeMs(dueMs)}`);
    this.#emit({ kind: 'send', id, from, to, frame: copy, dueMs });
    this.#schedule(id, from, to, copy, dueMs, options.toEpoch, options.onSettled);

    if (!stream && link.duplicateProbability > 0 && this.#random.float() < link.duplicateProbability) {
      const dupId = this.#nextPacketId++;
      const dupDueMs = this.#clock.nowMs() + this.#drawDelayMs(link) + this.#drawReorderMs(link);
      const dup = copyFrame(copy);
      this.#duplicated++;
      this.#trace.record('net', `dup #${id} as #${dupId} due=${formatTimeMs(dupDueMs)}`);
      this.#emit({ kind: 'duplicate', id: dupId, copyOf: id, from, to, frame: dup, dueMs: dupDueMs });
      this.#schedule(dupId, from, to, dup, dupDueMs, options.toEpoch, undefined);
    }
    return id;
  }

  /**
   * A host crashed: every frame in flight from or to it is lost (its NIC queues and its
   * connections die with it). Endpoints are detached by their transports, not here.
   */
  crashHost(host: string): void {
    const victims = [...this.#inFlight.values()].filter((p) => hostOf(p.from) === host || hostOf(p.to) === host);
    for (const p of victims) {
      p.cancel();
      this.#inFlight.delete(p.id);
      this.#drop(p, 'crash');
    }
  }

  /** Frames scheduled for delivery and not yet delivered or dropped. */
  inFlightCount(): number {
    return this.#inFlight.size;
  }

  observe(listener: (event: NetEvent) => void): () => void {
    this.#observers.push(listener);
    return () => {
      const i = this.#observers.indexOf(listener);
      if (i >= 0) this.#observers.splice(i, 1);
    };
  }

  stats(): NetStats {
    return { sent: this.#sent, delivered: this.#delivered, duplicated: this.#duplicated, dropped: { ...this.#dropped } };
  }

  // ---- internals ----

  #schedule(
    id: number,
    from: Address,
    to: Address,
    frame: Frame,
    dueMs: number,
    toEpoch: number | undefined,
    onSettled: ((outcome: 'delivered' | 'dropped') => void) | undefined,
  ): void {
    const packet: InFlight = { id, from, to, frame, toEpoch, onSettled, cancel: () => {} };
    const timer = this.#clock.scheduleAt(dueMs, () => {
      this.#inFlight.delete(id);
      this.#arrive(packet);
    });
    packet.cancel = () => timer.cancel();
    this.#inFlight.set(id, packet);
  }

  #arrive(p: InFlight): void {
    if (this.isBlocked(hostOf(p.from), hostOf(p.to))) {
      this.#drop(p, 'partition');
      return;
    }
    const endpoint = this.#endpoints.get(p.to);
    if (endpoint === undefined || (p.toEpoch !== undefined && endpoint.epoch !== p.toEpoch)) {
      this.#drop(p, 'down');
      if (p.frame.kind === 'rpc-request') {
        // Connection refused: the requester learns at once instead of waiting for its timeout.
        this.send(p.to, p.from, { kind: 'rpc-unreachable', id: p.frame.id }, { toEpoch: p.frame.replyEpoch });
      }
      return;
    }
    this.#delivered++;
    this.#trace.record('net', `deliver #${p.id} ${p.from} -> ${p.to} ${describeFrame(p.frame)}`);
    this.#emit({ kind: 'deliver', id: p.id, from: p.from, to: p.to, frame: p.frame });
    p.onSettled?.('delivered');
    endpoint.receive(p.from, p.frame);
  }

  #dropAtSend(
    id: number,
    from: Address,
    to: Address,
    frame: Frame,
    reason: DropReason,
    onSettled: ((outcome: 'delivered' | 'dropped') => void) | undefined,
  ): void {
    this.#trace.record('net', `send #${id} ${from} -> ${to} ${describeFrame(frame)}`);
    this.#emit({ kind: 'send', id, from, to, frame, dueMs: this.#clock.nowMs() });
    this.#drop({ id, from, to, frame, toEpoch: undefined, onSettled, cancel: () => {} }, reason);
  }

  #drop(p: InFlight, reason: DropReason): void {
    this.#dropped[reason]++;
    this.#trace.record('net', `drop #${p.id} ${p.from} -> ${p.to} ${describeFrame(p.frame)} reason=${reason}`);
    this.#emit({ kind: 'drop', id: p.id, from: p.from, to: p.to, frame: p.frame, reason });
    p.onSettled?.('dropped');
  }

  #drawDelayMs(link: LinkSettings): number {
    return link.delayMinMs + this.#random.int(link.delayMaxMs - link.delayMinMs + 1);
  }

  #drawReorderMs(link: LinkSettings): number {
    if (link.reorderProbability <= 0 || this.#random.float() >= link.reorderProbability) return 0;
    return 1 + this.#random.int(link.reorderExtraMaxMs);
  }

  #emit(event: NetEvent): void {
    for (const observer of this.#observers) observer(event);
  }
}

/** The host part of "host:port" ("[::1]:7702" -> "::1"); an address without a port is a host. */
export function hostOf(address: Address): string {
  const colon = address.lastIndexOf(':');
  if (colon < 0 || (address.startsWith('[') && !address.slice(0, colon).endsWith(']'))) return address;
  const host = address.slice(0, colon);
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

function linkKey(from: string, to: string): string {
  return `${from}>${to}`;
}

function validLink(link: LinkSettings): LinkSettings {
  const probability = (name: string, p: number): void => assert(p >= 0 && p <= 1, `${name} must be in [0, 1], got ${p}`);
  assert(
    Number.isSafeInteger(link.delayMinMs) && Number.isSafeInteger(link.delayMaxMs) && link.delayMinMs >= 0 && link.delayMaxMs >= link.delayMinMs,
    `delays must be whole milliseconds with 0 <= min <= max, got [${link.delayMinMs}, ${link.delayMaxMs}]`,
  );
  assert(Number.isSafeInteger(link.reorderExtraMaxMs) && link.reorderExtraMaxMs >= 1, 'reorderExtraMaxMs is a whole number >= 1');
  probability('lossProbability', link.lossProbability);
  probability('duplicateProbability', link.duplicateProbability);
  probability('reorderProbability', link.reorderProbability);
  return link;
}

function formatSettings(settings: Partial<LinkSettings>): string {
  const keys = Object.keys(settings).sort() as Array<keyof LinkSettings>;
  return keys.map((k) => `${k}=${settings[k]}`).join(' ') || '(none)';
}
