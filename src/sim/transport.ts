// Simulated twins of the real transports (src/runtime/transport/types.ts), over SimNetwork.
// Node code must not be able to tell them apart, so they keep the documented contracts:
// datagrams are best effort and size-limited (send returns false when too large or closed);
// RPC requests fail with a TransportError: 'timeout' (on the node's own clock), 'refused'
// (nobody listens at the address: the network bounces the request), 'no-handler', 'remote'
// (the handler threw or rejected), 'too-large', 'overloaded' (bounded per-peer queue), 'closed'
// (closed locally, or the peer closed while handling the request).
//
// kill() is not part of the contracts: it is how the simulator crashes a node. Unlike close(),
// it settles nothing and tells no peer: the process is gone, so its pending requests never
// complete and the requests it was serving are never answered (peers see timeouts).

import { assert, unreachable } from '../core/result.ts';
import type { Clock, Timer } from '../runtime/clock.ts';
import {
  TransportError,
  type Address,
  type DatagramTransport,
  type MessageHandler,
  type RequestHandler,
  type RequestOptions,
  type RpcTransport,
  type TransportErrorCode,
} from '../runtime/transport/types.ts';
import type { Frame } from './frames.ts';
import type { SimNetwork } from './network.ts';

export interface SimDatagramOptions {
  /** Largest datagram send accepts (default 1400: fits an Ethernet MTU with headers). */
  readonly maxDatagramBytes?: number;
}

export class SimDatagramTransport implements DatagramTransport {
  readonly localAddress: Address;
  readonly maxDatagramBytes: number;
  readonly #network: SimNetwork;
  readonly #epoch: number;
  #handler: ((from: Address, data: Uint8Array) => void) | undefined;
  #closed = false;

  constructor(network: SimNetwork, localAddress: Address, options: SimDatagramOptions = {}) {
    this.#network = network;
    this.localAddress = localAddress;
    this.maxDatagramBytes = options.maxDatagramBytes ?? 1400;
    assert(Number.isSafeInteger(this.maxDatagramBytes) && this.maxDatagramBytes > 0, 'maxDatagramBytes is a positive integer');
    this.#epoch = network.attach(localAddress, (from, frame) => this.#receive(from, frame));
  }

  send(to: Address, data: Uint8Array): boolean {
    if (this.#closed || data.length > this.maxDatagramBytes) return false;
    this.#network.send(this.localAddress, to, { kind: 'datagram', data });
    return true;
  }

  onDatagram(handler: (from: Address, data: Uint8Array) => void): void {
    this.#handler = handler;
  }

  close(): Promise<void> {
    this.kill();
    return Promise.resolve();
  }

  /** The node crashed: stop at once (for datagrams the same as close). */
  kill(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#handler = undefined;
    this.#network.detach(this.localAddress, this.#epoch);
  }

  #receive(from: Address, frame: Frame): void {
    // Anything but a datagram at a datagram port is noise (a misdirected stream); ignore it.
    if (this.#closed || frame.kind !== 'datagram') return;
    this.#handler?.(from, frame.data);
  }
}

export interface SimRpcOptions {
  /** Default per-request deadline on the node's clock (default 10000). */
  readonly requestTimeoutMs?: number;
  /** Largest request, response or message body (default 4 MiB). */
  readonly maxMessageBytes?: number;
  /** Outstanding requests plus undelivered one-way messages allowed per peer (default 256). */
  readonly maxInFlightPerPeer?: number;
}

interface PendingRequest {
  readonly peer: Address;
  readonly resolve: (body: Uint8Array) => void;
  readonly reject: (error: TransportError) => void;
  readonly timer: Timer;
}

interface ServingRequest {
  readonly from: Address;
  readonly id: number;
  readonly replyEpoch: number;
}

export class SimRpcTransport implements RpcTransport {
  readonly localAddress: Address;
  readonly #network: SimNetwork;
  readonly #clock: Clock;
  readonly #requestTimeoutMs: number;
  readonly #maxMessageBytes: number;
  readonly #maxInFlightPerPeer: number;
  readonly #epoch: number;
  #nextId = 1;
  readonly #pending = new Map<number, PendingRequest>();
  readonly #inFlightByPeer = new Map<Address, number>();
  readonly #handlers = new Map<string, RequestHandler>();
  readonly #messageHandlers = new Map<string, MessageHandler>();
  /** Inbound requests whose handler has not finished, keyed "from#id". */
  readonly #serving = new Map<string, ServingRequest>();
  #state: 'open' | 'closed' | 'dead' = 'open';

  constructor(network: SimNetwork, clock: Clock, localAddress: Address, options: SimRpcOptions = {}) {
    this.#network = network;
    this.#clock = clock;
    this.localAddress = localAddress;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.#maxMessageBytes = options.maxMessageBytes ?? 4 * 1024 * 1024;
    this.#maxInFlightPerPeer = options.maxInFlightPerPeer ?? 256;
    assert(this.#requestTimeoutMs > 0, 'requestTimeoutMs > 0');
    assert(Number.isSafeInteger(this.#maxMessageBytes) && this.#maxMessageBytes > 0, 'maxMessageBytes is a positive integer');
    assert(Number.isSafeInteger(this.#maxInFlightPerPeer) && this.#maxInFlightPerPeer > 0, 'maxInFlightPerPeer is a positive integer');
    this.#epoch = network.attach(localAddress, (from, frame) => this.#receive(from, frame));
  }

  request(to: Address, method: string, body: Uint8Array, options: RequestOptions = {}): Promise<Uint8Array> {
    if (this.#state !== 'open') return rejected('closed', 'transport is closed');
    if (body.length > this.#maxMessageBytes) {
      return rejected('too-large', `request of ${body.length} bytes exceeds ${this.#maxMessageBytes}`);
    }
    if (this.#inFlight(to) >= this.#maxInFlightPerPeer) {
      return rejected('overloaded', `${this.#maxInFlightPerPeer} requests and messages already in flight to ${to}`);
    }
    const timeoutMs = options.timeoutMs ?? this.#requestTimeoutMs;
    assert(Number.isFinite(timeoutMs) && timeoutMs > 0, `request timeoutMs must be positive, got ${timeoutMs}`);
    const id = this.#nextId++;
    this.#addInFlight(to, 1);
    const promise = new Promise<Uint8Array>((resolve, reject) => {
      const timer = this.#clock.setTimer(timeoutMs, () =>
        this.#settle(id, to, new TransportError('timeout', `${method} to ${to}: no response within ${timeoutMs} ms`)),
      );
      this.#pending.set(id, { peer: to, resolve, reject, timer });
    });
    this.#network.send(this.localAddress, to, { kind: 'rpc-request', id, method, body, replyEpoch: this.#epoch });
    return promise;
  }

  send(to: Address, method: string, body: Uint8Array): boolean {
    if (this.#state !== 'open') return false;
    if (body.length > this.#maxMessageBytes) return false;
    if (this.#inFlight(to) >= this.#maxInFlightPerPeer) return false;
    this.#addInFlight(to, 1);
    this.#network.send(this.localAddress, to, { kind: 'rpc-message', method, body }, { onSettled: () => this.#addInFlight(to, -1) });
    return true;
  }

  handle(method: string, handler: RequestHandler): void {
    assert(!this.#handlers.has(method), `a handler for ${method} is already registered`);
    this.#handlers.set(method, handler);
  }

  onMessage(method: string, handler: MessageHandler): void {
    assert(!this.#messageHandlers.has(method), `a message handler for ${method} is already registered`);
    this.#messageHandlers.set(method, handler);
  }

  close(): Promise<void> {
    if (this.#state !== 'open') return Promise.resolve();
    this.#state = 'closed';
    for (const [id, pending] of [...this.#pending]) {
      this.#settle(id, pending.peer, new TransportError('closed', 'transport closed while the request was pending'));
    }
    // The connections close: peers waiting on us learn it now rather than at their timeout.
    for (const s of this.#serving.values()) {
      this.#network.send(this.localAddress, s.from, { kind: 'rpc-reset', id: s.id }, { toEpoch: s.replyEpoch });
    }
    this.#serving.clear();
    this.#network.detach(this.localAddress, this.#epoch);
    return Promise.resolve();
  }

  /** The node crashed: stop at once; nothing pending is ever settled, no peer is told. */
  kill(): void {
    if (this.#state === 'dead') return;
    const wasOpen = this.#state === 'open';
    this.#state = 'dead';
    for (const pending of this.#pending.values()) pending.timer.cancel();
    this.#pending.clear();
    this.#serving.clear();
    if (wasOpen) this.#network.detach(this.localAddress, this.#epoch);
  }

  #receive(from: Address, frame: Frame): void {
    if (this.#state !== 'open') return;
    switch (frame.kind) {
      case 'datagram':
        return; // a datagram at an RPC port: noise
      case 'rpc-request':
        this.#serve(from, frame.id, frame.method, frame.body, frame.replyEpoch);
        return;
      case 'rpc-response': {
        const pending = this.#pending.get(frame.id);
        if (pending === undefined || pending.peer !== from) return; // late: already timed out
        this.#pending.delete(frame.id);
        pending.timer.cancel();
        this.#addInFlight(from, -1);
        pending.resolve(frame.body);
        return;
      }
      case 'rpc-error':
        this.#settle(frame.id, from, new TransportError(frame.code, frame.message));
        return;
      case 'rpc-reset':
        this.#settle(frame.id, from, new TransportError('closed', `${from} closed the connection during the request`));
        return;
      case 'rpc-unreachable':
        this.#settle(frame.id, from, new TransportError('refused', `nothing listens at ${from}`));
        return;
      case 'rpc-message': {
        const handler = this.#messageHandlers.get(frame.method);
        // Like the real transport, a one-way message for an unknown method is dropped.
        if (handler !== undefined) handler(frame.body, { from, method: frame.method });
        return;
      }
      default:
        unreachable(frame);
    }
  }

  #serve(from: Address, id: number, method: string, body: Uint8Array, replyEpoch: number): void {
    const reply = (frame: Frame): void => {
      this.#network.send(this.localAddress, from, frame, { toEpoch: replyEpoch });
    };
    const handler = this.#handlers.get(method);
    if (handler === undefined) {
      reply({ kind: 'rpc-error', id, code: 'no-handler', message: `${this.localAddress} has no handler for ${method}` });
      return;
    }
    const key = `${from}#${id}`;
    this.#serving.set(key, { from, id, replyEpoch });
    let result: Promise<Uint8Array> | Uint8Array;
    try {
      result = handler(body, { from, method });
    } catch (e) {
      result = Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    Promise.resolve(result).then(
      (response) => {
        // Gone from #serving: we were closed (the peer got a reset) or crashed (it gets nothing).
        if (!this.#serving.delete(key)) return;
        assert(response instanceof Uint8Array, `handler for ${method} must return bytes`);
        if (response.length > this.#maxMessageBytes) {
          reply({ kind: 'rpc-error', id, code: 'too-large', message: `response of ${response.length} bytes exceeds ${this.#maxMessageBytes}` });
        } else {
          reply({ kind: 'rpc-response', id, body: response });
        }
      },
      (error: unknown) => {
        if (!this.#serving.delete(key)) return;
        const message = error instanceof Error ? error.message : String(error);
        reply({ kind: 'rpc-error', id, code: 'remote', message: `${method} failed at ${this.localAddress}: ${message}` });
      },
    );
  }

  #settle(id: number, from: Address, error: TransportError): void {
    const pending = this.#pending.get(id);
    if (pending === undefined || pending.peer !== from) return;
    this.#pending.delete(id);
    pending.timer.cancel();
    this.#addInFlight(from, -1);
    pending.reject(error);
  }

  #inFlight(peer: Address): number {
    return this.#inFlightByPeer.get(peer) ?? 0;
  }

  #addInFlight(peer: Address, delta: number): void {
    const next = this.#inFlight(peer) + delta;
    assert(next >= 0, 'per-peer in-flight count never goes negative');
    if (next === 0) this.#inFlightByPeer.delete(peer);
    else this.#inFlightByPeer.set(peer, next);
  }
}

function rejected(code: TransportErrorCode, message: string): Promise<never> {
  return Promise.reject(new TransportError(code, message));
}
