// Runs the SWIM core (src/core/swim) over real or simulated transports: datagrams for probes
// and gossip, RPC for push-pull, both sealed by the keyring when one is configured. The only
// place where membership meets clocks and sockets; every decision stays in the core.
import type { Swim } from '../core/swim/swim.ts';
import type { GossipAddress, Member, MemberEvent, Packet, PushPull } from '../core/swim/types.ts';
import type { MessageCodec } from '../wire/codec.ts';
import { describeDecodeError } from '../wire/codec.ts';
import { openPacket, sealPacket, type Keyring } from '../wire/keyring.ts';
import type { WIRE_MESSAGES, WireMessage } from '../wire/messages.ts';
import type { NodeMeta } from '../wire/swim.ts';
import type { Clock, Timer } from './clock.ts';
import { TransportError, type DatagramTransport, type RpcTransport } from './transport/types.ts';

export const PUSH_PULL_METHOD = 'swim.push-pull';

export interface MembershipCounters {
  packetsSent: number;
  packetsReceived: number;
  bytesSent: number;
  bytesReceived: number;
  /** Dropped before parsing: failed authentication, plaintext refused, or sealed without a key. */
  droppedUnauthenticated: number;
  droppedMalformed: number;
  droppedOversize: number;
  pushPulls: number;
  pushPullFailures: number;
}

export interface MembershipLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export interface MembershipOptions {
  readonly swim: Swim<NodeMeta>;
  readonly datagrams: DatagramTransport;
  /** The gossip port's TCP side, for push-pull. */
  readonly stream: RpcTransport;
  readonly codec: MessageCodec<typeof WIRE_MESSAGES>;
  readonly clock: Clock;
  readonly keyring?: Keyring | undefined;
  readonly log?: MembershipLog;
  readonly pushPullTimeoutMs?: number;
  /**
   * Where a member's push-pull endpoint is, given its gossip address. On real hosts UDP and
   * TCP share the gossip port (the default, identity); the simulator keys endpoints by address
   * alone, so it maps them apart.
   */
  readonly streamAddress?: (gossipAddr: GossipAddress) => string;
}

export type MemberListener = (event: MemberEvent<NodeMeta>) => void;

export class Membership {
  readonly counters: MembershipCounters = {
    packetsSent: 0,
    packetsReceived: 0,
    bytesSent: 0,
    bytesReceived: 0,
    droppedUnauthenticated: 0,
    droppedMalformed: 0,
    droppedOversize: 0,
    pushPulls: 0,
    pushPullFailures: 0,
  };
  readonly #o: MembershipOptions;
  readonly #listeners = new Set<MemberListener>();
  #timer: Timer | undefined;
  #timerAtMs = Infinity;
  #stopped = false;

  constructor(options: MembershipOptions) {
    this.#o = options;
    options.datagrams.onDatagram((from, data) => this.#onDatagram(from, data));
    options.stream.handle(PUSH_PULL_METHOD, (body) => this.#answerPushPull(body));
    this.#flush();
  }

  get swim(): Swim<NodeMeta> {
    return this.#o.swim;
  }

  members(): Member<NodeMeta>[] {
    return this.#o.swim.members();
  }

  /** A typed subscription to member events; returns the unsubscribe function. */
  subscribe(listener: MemberListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  join(addrs: readonly GossipAddress[]): void {
    this.#o.swim.join(addrs, this.#o.clock.nowMs());
    this.#flush();
  }

  updateMeta(meta: NodeMeta): void {
    this.#o.swim.updateMeta(meta, this.#o.clock.nowMs());
    this.#flush();
  }

  /** Gossips our departure and waits until it has been passed on, or until timeoutMs. */
  async leave(timeoutMs: number): Promise<void> {
    this.#o.swim.leave(this.#o.clock.nowMs());
    this.#flush();
    const deadline = this.#o.clock.nowMs() + timeoutMs;
    while (!this.#o.swim.leaveBroadcastDone() && this.#o.clock.nowMs() < deadline && !this.#stopped) {
      await new Promise<void>((resolve) => this.#o.clock.setTimer(50, resolve));
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#listeners.clear();
  }

  #onDatagram(from: GossipAddress, data: Uint8Array): void {
    if (this.#stopped) return;
    this.counters.packetsReceived++;
    this.counters.bytesReceived += data.length;
    const packet = this.#decode(data, 'swim.packet', from);
    if (!packet) return;
    this.#o.swim.onPacket(from, packet as Packet<NodeMeta>, this.#o.clock.nowMs());
    this.#flush();
  }

  #answerPushPull(body: Uint8Array): Uint8Array {
    if (this.#stopped) throw new Error('membership is stopped');
    const request = this.#decode(body, 'swim.push-pull', 'push-pull');
    if (!request) throw new Error('push-pull request rejected');
    const reply = this.#o.swim.onPushPullRequest(request as PushPull<NodeMeta>, this.#o.clock.nowMs());
    this.#flush();
    const encoded = this.#encode({ type: 'swim.push-pull', body: reply });
    if (!encoded) throw new Error('push-pull reply too large');
    return encoded;
  }

  #decode<T extends 'swim.packet' | 'swim.push-pull'>(data: Uint8Array, type: T, from: string): unknown {
    const opened = openPacket(this.#o.keyring, data);
    if (!opened.ok) {
      this.counters.droppedUnauthenticated++;
      this.#o.log?.debug({ from, reason: opened.error.code }, 'gossip message dropped');
      return undefined;
    }
    const decoded = this.#o.codec.decode(opened.value);
    if (!decoded.ok || decoded.value.type !== type) {
      this.counters.droppedMalformed++;
      this.#o.log?.debug({ from, reason: decoded.ok ? `unexpected ${decoded.value.type}` : describeDecodeError(decoded.error) }, 'gossip message dropped');
      return undefined;
    }
    return decoded.value.body;
  }

  #encode(message: { type: 'swim.packet'; body: Packet<NodeMeta> } | { type: 'swim.push-pull'; body: PushPull<NodeMeta> }): Uint8Array | undefined {
    // Core types brand IDs; the wire schema holds plain strings of the same shape.
    const encoded = this.#o.codec.encode(message as unknown as WireMessage);
    if (!encoded.ok) return undefined;
    return sealPacket(this.#o.keyring, encoded.value);
  }

  /** Sends what the core produced, delivers its events, and re-arms the timer. */
  #flush(): void {
    if (this.#stopped) return;
    const out = this.#o.swim.takeOutput();
    for (const { to, packet } of out.packets) this.#sendPacket(to, packet);
    for (const { to, request } of out.pushPulls) void this.#pushPull(to, request);
    for (const event of out.events) this.#emit(event);
    this.#arm();
  }

  #sendPacket(to: GossipAddress, packet: Packet<NodeMeta>): void {
    let bytes = this.#encode({ type: 'swim.packet', body: packet });
    // The core budgets piggybacked updates by estimate; if the estimate was short, send the
    // probe alone rather than nothing (the updates are retransmitted in later rounds).
    if ((!bytes || bytes.length > this.#o.datagrams.maxDatagramBytes) && packet.probe) {
      this.counters.droppedOversize++;
      bytes = this.#encode({ type: 'swim.packet', body: { probe: packet.probe, updates: [] } });
    }
    if (!bytes || bytes.length > this.#o.datagrams.maxDatagramBytes) {
      this.counters.droppedOversize++;
      return;
    }
    if (this.#o.datagrams.send(to, bytes)) {
      this.counters.packetsSent++;
      this.counters.bytesSent += bytes.length;
    }
  }

  async #pushPull(to: GossipAddress, request: PushPull<NodeMeta>): Promise<void> {
    this.counters.pushPulls++;
    const body = this.#encode({ type: 'swim.push-pull', body: request });
    try {
      if (!body) throw new TransportError('too-large', 'push-pull state too large');
      const response = await this.#o.stream.request(this.#o.streamAddress?.(to) ?? to, PUSH_PULL_METHOD, body, { timeoutMs: this.#o.pushPullTimeoutMs ?? 10_000 });
      if (this.#stopped) return;
      const reply = this.#decode(response, 'swim.push-pull', to);
      if (!reply) throw new TransportError('protocol', 'push-pull reply rejected');
      this.#o.swim.onPushPullReply(to, reply as PushPull<NodeMeta>, this.#o.clock.nowMs());
    } catch (e) {
      if (this.#stopped) return;
      this.counters.pushPullFailures++;
      this.#o.log?.debug({ to, err: e instanceof Error ? e.message : String(e) }, 'push-pull failed');
      this.#o.swim.onPushPullFailed(to, this.#o.clock.nowMs());
    }
    this.#flush();
  }

  #emit(event: MemberEvent<NodeMeta>): void {
    const log = this.#o.log;
    if (log) {
      if (event.kind === 'conflict') log.warn(event, 'two nodes claim one node ID');
      else if (event.kind === 'join-failed') log.warn({ addrs: event.addrs, attempt: event.attempt, retryInMs: event.retryInMs }, 'join failed; retrying');
      else if (event.kind === 'joined') log.info({ via: event.via }, 'joined the cluster');
      else log.info({ member: event.member.id, addr: event.member.addr, incarnation: event.member.incarnation }, `member ${event.kind}`);
    }
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (e) {
        log?.warn({ err: e instanceof Error ? e.message : String(e) }, 'member event listener failed');
      }
    }
  }

  #arm(): void {
    const clock = this.#o.clock;
    const at = this.#o.swim.nextDeadlineMs();
    if (this.#timer && at >= this.#timerAtMs) return;
    this.#timer?.cancel();
    this.#timerAtMs = at;
    this.#timer = clock.setTimer(Math.max(0, at - clock.nowMs()), () => {
      this.#timer = undefined;
      this.#timerAtMs = Infinity;
      if (this.#stopped) return;
      this.#o.swim.tick(clock.nowMs());
      this.#flush();
    });
  }
}
