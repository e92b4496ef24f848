// An in-memory RpcTransport for benchmarks: several endpoints in one process, joined by a hub
// keyed by address. It keeps the contract of src/runtime/transport/types.ts (one-way messages in
// order per peer, requests answered by the peer's handler, typed TransportErrors, bounded
// queues), but it is a benchmark twin, not a network: no framing, no sockets, no loss, no delay
// beyond one turn of the event loop. Delivery is asynchronous on purpose (setImmediate), so a
// sender never runs the receiver's code inside its own call stack, as on a real connection; the
// only cost it models is one copy of each body (what a socket read would hand the receiver).
// The deterministic simulator has its own twin with faults (src/sim/transport.ts).

import { TransportError, type Address, type MessageHandler, type RequestHandler, type RequestOptions, type RpcTransport } from '../../src/runtime/transport/types.ts';

export interface MemoryRpcOptions {
  /** Default request deadline (RequestOptions.timeoutMs overrides it). */
  readonly requestTimeoutMs?: number;
  /** Messages waiting for delivery from one endpoint to one peer before send() says false. */
  readonly maxQueuedMessagesPerPeer?: number;
  /** Largest body accepted by send() and request(). */
  readonly maxBodyBytes?: number;
}

const DEFAULTS = { requestTimeoutMs: 5_000, maxQueuedMessagesPerPeer: 65_536, maxBodyBytes: 4 * 1024 * 1024 } as const;

/** Where endpoints find each other by address. */
export class MemoryRpcHub {
  readonly #endpoints = new Map<Address, MemoryRpcTransport>();
  #nextPort = 1;

  /** A new endpoint at a fresh address ("memory:N"). */
  listen(options: MemoryRpcOptions = {}): MemoryRpcTransport {
    const address = `memory:${this.#nextPort++}`;
    const transport = new MemoryRpcTransport(this, address, options);
    this.#endpoints.set(address, transport);
    return transport;
  }

  /** The open endpoint at address, if any (used by the transports themselves). */
  endpoint(address: Address): MemoryRpcTransport | undefined {
    return this.#endpoints.get(address);
  }

  detach(address: Address): void {
    this.#endpoints.delete(address);
  }
}

interface Outbound {
  readonly method: string;
  readonly body: Uint8Array;
}

export class MemoryRpcTransport implements RpcTransport {
  readonly localAddress: Address;
  readonly #hub: MemoryRpcHub;
  readonly #requestTimeoutMs: number;
  readonly #maxQueued: number;
  readonly #maxBodyBytes: number;
  readonly #requestHandlers = new Map<string, RequestHandler>();
  readonly #messageHandlers = new Map<string, MessageHandler>();
  /** Per destination: messages not yet delivered, in send order. */
  readonly #queues = new Map<Address, Outbound[]>();
  /** Requests waiting for an answer: rejecting them is how close() settles them. */
  readonly #pending = new Set<(e: TransportError) => void>();
  #closed = false;
  /** Deliveries that threw in a message handler (the real transport counts them too). */
  handlerErrors = 0;

  constructor(hub: MemoryRpcHub, localAddress: Address, options: MemoryRpcOptions) {
    this.#hub = hub;
    this.localAddress = localAddress;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs;
    this.#maxQueued = options.maxQueuedMessagesPerPeer ?? DEFAULTS.maxQueuedMessagesPerPeer;
    this.#maxBodyBytes = options.maxBodyBytes ?? DEFAULTS.maxBodyBytes;
  }

  send(to: Address, method: string, body: Uint8Array): boolean {
    if (this.#closed || body.length > this.#maxBodyBytes || this.#hub.endpoint(to) === undefined) return false;
    let queue = this.#queues.get(to);
    if (queue === undefined) {
      queue = [];
      this.#queues.set(to, queue);
    }
    if (queue.length >= this.#maxQueued) return false;
    queue.push({ method, body: body.slice() });
    if (queue.length === 1) setImmediate(() => this.#drain(to));
    return true;
  }

  /** Delivers everything queued for one peer, in order, in one turn. */
  #drain(to: Address): void {
    const queue = this.#queues.get(to);
    if (queue === undefined || queue.length === 0) return;
    this.#queues.set(to, []);
    const peer = this.#hub.endpoint(to);
    if (peer === undefined || this.#closed) return; // lost with the connection, as on a socket
    for (const m of queue) peer.#deliver(this.localAddress, m);
  }

  #deliver(from: Address, m: Outbound): void {
    if (this.#closed) return;
    const handler = this.#messageHandlers.get(m.method);
    if (handler === undefined) return;
    try {
      handler(m.body, { from, method: m.method });
    } catch {
      this.handlerErrors++;
    }
  }

  request(to: Address, method: string, body: Uint8Array, options?: RequestOptions): Promise<Uint8Array> {
    if (this.#closed) return Promise.reject(new TransportError('closed', 'transport closed'));
    if (body.length > this.#maxBodyBytes) return Promise.reject(new TransportError('too-large', `request of ${body.length} bytes exceeds ${this.#maxBodyBytes}`));
    const timeoutMs = options?.timeoutMs ?? this.#requestTimeoutMs;
    const copy = body.slice();
    return new Promise<Uint8Array>((resolve, reject) => {
      let settled = false;
      const finish = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#pending.delete(fail);
        fn();
      };
      const fail = (e: TransportError): void => finish(() => reject(e));
      const timer = setTimeout(() => fail(new TransportError('timeout', `no reply from ${to} within ${timeoutMs} ms`)), timeoutMs);
      timer.unref();
      this.#pending.add(fail);
      setImmediate(() => {
        const peer = this.#hub.endpoint(to);
        if (peer === undefined) return fail(new TransportError('unreachable', `nobody listens at ${to}`));
        const handler = peer.#requestHandlers.get(method);
        if (handler === undefined) return fail(new TransportError('no-handler', `no handler for method ${JSON.stringify(method)}`));
        let result: Promise<Uint8Array>;
        try {
          result = Promise.resolve(handler(copy, { from: this.localAddress, method }));
        } catch (e) {
          return fail(new TransportError('remote', e instanceof Error ? e.message : String(e)));
        }
        result.then(
          (reply) => finish(() => resolve(reply.slice())),
          (e: unknown) => fail(new TransportError('remote', e instanceof Error ? e.message : String(e))),
        );
      });
    });
  }

  handle(method: string, handler: RequestHandler): void {
    if (this.#requestHandlers.has(method)) throw new Error(`a handler for ${method} is already registered`);
    this.#requestHandlers.set(method, handler);
  }

  onMessage(method: string, handler: MessageHandler): void {
    if (this.#messageHandlers.has(method)) throw new Error(`a message handler for ${method} is already registered`);
    this.#messageHandlers.set(method, handler);
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#hub.detach(this.localAddress);
    this.#queues.clear();
    for (const fail of [...this.#pending]) fail(new TransportError('closed', 'transport closed'));
    return Promise.resolve();
  }
}
