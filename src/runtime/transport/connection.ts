// One RPC connection (TCP or TLS): framing, the hello exchange, a bounded outbound queue that
// honours socket backpressure, and inbound dispatch with a bound on concurrently running
// handlers. The same class serves both ends: the dialing side matches replies to its requests,
// the accepting side runs handlers. Nothing a peer sends can throw out of here or grow our
// memory without bound:
//   - a frame is at most maxFrameBytes (checked from the prefix before allocation, frame.ts);
//   - while maxConcurrentHandlers requests run, or our unsent bytes exceed maxQueuedBytes (the
//     peer does not read its responses), we pause reading the socket, so TCP flow control
//     pushes back on the peer instead of our heap absorbing it;
//   - any malformed byte drops the connection ('protocol').
// Worst case memory per connection: maxFrameBytes + 4 (decoder) + one socket read of decoded
// frames waiting in the inbox + maxQueuedBytes + maxConcurrentHandlers responses.
import type { Socket } from 'node:net';
import { err, ok, type Result } from '../../core/result.ts';
import type { Clock, Timer } from '../clock.ts';
import { describeFrameError, FrameDecoder } from '../../wire/frame.ts';
import { decodeRpcEnvelope, encodeRpcFrame, RPC_PROTOCOL_VERSION, type RpcEnvelope } from './rpc-frame.ts';
import { TransportError, type Address, type MessageHandler, type RequestHandler, type TransportErrorCode } from './types.ts';

export interface ConnectionLimits {
  readonly maxFrameBytes: number;
  /** Bound on bytes accepted for sending and not yet taken by the kernel (our queue + socket buffer). */
  readonly maxQueuedBytes: number;
  /** Requests of this connection whose handlers may run at once. */
  readonly maxConcurrentHandlers: number;
}

export interface Dispatcher {
  requestHandler(method: string): RequestHandler | undefined;
  messageHandler(method: string): MessageHandler | undefined;
}

/** Counters shared by all connections of a transport (plain numbers, for metrics and tests). */
export interface RpcCounters {
  /** Outgoing connection attempts. */
  dials: number;
  /** Attempts that closed before the peer's hello (refused, TLS failure, connect timeout). */
  dialFailures: number;
  /** Inbound connections that completed TCP (and TLS) setup. */
  accepted: number;
  /** Connections dropped because the peer sent bytes we could not decode. */
  protocolErrors: number;
  /** Handlers that threw or rejected. */
  handlerErrors: number;
  /** One-way messages for a method without a handler (dropped). */
  unknownMessages: number;
  /** Replies for requests that already timed out (or never existed). */
  lateReplies: number;
  /** Requests or messages refused because they exceed maxFrameBytes. */
  refusedTooLarge: number;
  /** Requests or messages refused because a per-peer bound was reached. */
  refusedOverloaded: number;
  /** Failed TLS handshakes of inbound connections. */
  tlsClientErrors: number;
}

export function newRpcCounters(): RpcCounters {
  return {
    dials: 0,
    dialFailures: 0,
    accepted: 0,
    protocolErrors: 0,
    handlerErrors: 0,
    unknownMessages: 0,
    lateReplies: 0,
    refusedTooLarge: 0,
    refusedOverloaded: 0,
    tlsClientErrors: 0,
  };
}

export interface CloseReason {
  /** 'unreachable' if the peer's hello never arrived, else 'closed' or 'protocol'. */
  readonly code: TransportErrorCode;
  readonly detail: string;
  /** Whether the hello exchange completed (requests may have reached the peer). */
  readonly opened: boolean;
}

export interface ConnectionEvents {
  /** The peer's hello arrived: queued frames are being written. */
  onOpen(): void;
  /** A response or error for one of our requests. */
  onReply(id: number, reply: Result<Uint8Array, TransportError>): void;
  /** Called exactly once, synchronously with the failure or on the socket's 'close'. */
  onClose(reason: CloseReason): void;
}

type State = 'handshaking' | 'open' | 'draining' | 'closed';
type Inbound = Extract<RpcEnvelope, { kind: 'request' | 'message' }>;

export class Connection {
  /** The peer's socket address (reported to handlers as ctx.from). */
  readonly peer: Address;
  /** The verified certificate name of an inbound mutual-TLS peer (ctx.peerIdentity). */
  readonly peerIdentity: string | undefined;
  readonly #socket: Socket;
  readonly #limits: ConnectionLimits;
  readonly #dispatcher: Dispatcher;
  readonly #events: ConnectionEvents;
  readonly #counters: RpcCounters;
  readonly #decoder: FrameDecoder;
  #state: State = 'handshaking';
  #opened = false;
  /** Decoded requests and one-way messages not yet dispatched, in arrival order. */
  #inbox: Inbound[] = [];
  #inboxHead = 0;
  #handlersInFlight = 0;
  /** Encoded frames not yet handed to the socket. */
  #outbox: Uint8Array[] = [];
  #outboxHead = 0;
  #outboxBytes = 0;
  #paused = false;
  #lastSocketError = '';
  #lastSocketErrno: string | undefined;
  #failure: { code: TransportErrorCode; detail: string } | null = null;
  #graceTimer: Timer | null = null;
  readonly #closed: Promise<void>;
  #resolveClosed: () => void = () => {};

  constructor(
    socket: Socket,
    peer: Address,
    limits: ConnectionLimits,
    dispatcher: Dispatcher,
    events: ConnectionEvents,
    counters: RpcCounters,
    peerIdentity?: string,
  ) {
    this.#socket = socket;
    this.peer = peer;
    this.peerIdentity = peerIdentity;
    this.#limits = limits;
    this.#dispatcher = dispatcher;
    this.#events = events;
    this.#counters = counters;
    this.#decoder = new FrameDecoder(limits.maxFrameBytes);
    this.#closed = new Promise<void>((resolve) => {
      this.#resolveClosed = resolve;
    });
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('drain', () => this.#onDrain());
    socket.on('error', (e: NodeJS.ErrnoException) => {
      this.#lastSocketError = e.message;
      this.#lastSocketErrno = e.code;
    });
    socket.on('close', () => this.#finish());
    // The hello goes out first (Node buffers it until the socket connects). Nothing else is
    // written until the peer's hello arrives, so a connection that fails before that has
    // delivered no request: such failures are 'unreachable', never "maybe executed".
    const hello = encodeRpcFrame({ kind: 'hello', version: RPC_PROTOCOL_VERSION }, limits.maxFrameBytes);
    if (hello.ok) socket.write(hello.value);
    else this.destroy('protocol', describeFrameError(hello.error));
  }

  get isOpen(): boolean {
    return this.#state === 'open';
  }

  get isClosed(): boolean {
    return this.#state === 'closed';
  }

  /** Bytes accepted for sending and not yet taken by the kernel. */
  get queuedBytes(): number {
    return this.#outboxBytes + this.#socket.writableLength;
  }

  get handlersInFlight(): number {
    return this.#handlersInFlight;
  }

  /** Resolves once the connection is closed (for any reason). */
  get closed(): Promise<void> {
    return this.#closed;
  }

  /**
   * Queues an encoded frame. Returns false when closed or draining, or when it would push the
   * queued bytes past maxQueuedBytes (unless force: replies, bounded by the handler limit).
   */
  enqueue(frame: Uint8Array, force = false): boolean {
    if (this.#state === 'closed' || (this.#state === 'draining' && !force)) return false;
    if (!force && this.queuedBytes + frame.length > this.#limits.maxQueuedBytes) return false;
    this.#outbox.push(frame);
    this.#outboxBytes += frame.length;
    this.#flush();
    return true;
  }

  /** Drops the connection now. */
  destroy(code: TransportErrorCode, detail: string): void {
    if (this.#state === 'closed') return;
    this.#failure ??= { code, detail };
    this.#socket.destroy();
    this.#finish();
  }

  /**
   * Graceful close: stop taking requests, let running handlers reply and queued frames reach
   * the kernel, then half-close; destroy at the latest after graceMs. Resolves when closed.
   */
  shutdown(graceMs: number, clock: Clock): Promise<void> {
    if (this.#state === 'closed' || this.#state === 'draining') return this.#closed;
    this.#state = 'draining';
    this.#inbox = [];
    this.#inboxHead = 0;
    if (!this.#opened && this.#outboxBytes === 0) {
      // Still handshaking with nothing to deliver: there is nothing to wait for.
      this.destroy('closed', 'transport closed');
      return this.#closed;
    }
    // Frames queued during the handshake are still delivered if the peer's hello comes in time.
    this.#graceTimer = clock.setTimer(graceMs, () => this.destroy('closed', 'shutdown grace period over'));
    this.#maybeEndDrained();
    return this.#closed;
  }

  #onData(chunk: Buffer): void {
    if (this.#state === 'closed') return;
    if (this.#state === 'draining' && this.#socket.writableEnded) return; // waiting for the peer to close
    const frames = this.#decoder.push(chunk);
    if (!frames.ok) return this.#protocolError(describeFrameError(frames.error));
    for (const payload of frames.value) {
      const decoded = decodeRpcEnvelope(payload);
      if (!decoded.ok) return this.#protocolError(decoded.error);
      const envelope = decoded.value;
      if (!this.#opened) {
        if (envelope.kind !== 'hello') return this.#protocolError(`expected hello, got ${envelope.kind}`);
        if (envelope.version !== RPC_PROTOCOL_VERSION) {
          return this.#protocolError(`peer speaks RPC version ${envelope.version}, this node ${RPC_PROTOCOL_VERSION}`);
        }
        this.#opened = true;
        if (this.#state === 'handshaking') this.#state = 'open';
        this.#events.onOpen();
        this.#flush();
        this.#maybeEndDrained();
        continue;
      }
      switch (envelope.kind) {
        case 'hello':
          return this.#protocolError('second hello');
        case 'response':
          this.#events.onReply(envelope.id, ok(envelope.body));
          break;
        case 'error':
          this.#events.onReply(envelope.id, err(new TransportError(envelope.code, envelope.message)));
          break;
        case 'request':
        case 'message':
          // While draining, new requests are not started: their callers see the connection close.
          if (this.#state === 'open') this.#inbox.push(envelope);
          break;
      }
      if (this.#isClosedNow()) return; // an event handler closed us
    }
    this.#pump();
  }

  /** Re-reads the state after calling out (TypeScript's narrowing cannot see the callee's effect). */
  #isClosedNow(): boolean {
    return this.#state === 'closed';
  }

  #protocolError(detail: string): void {
    this.#counters.protocolErrors++;
    this.destroy('protocol', detail);
  }

  /** Dispatches inbox entries while the bounds allow; pauses reading when they do not. */
  #pump(): void {
    while (this.#state === 'open' && this.#inboxHead < this.#inbox.length) {
      const next = this.#inbox[this.#inboxHead]!;
      if (next.kind === 'request' && (this.#handlersInFlight >= this.#limits.maxConcurrentHandlers || this.queuedBytes >= this.#limits.maxQueuedBytes)) {
        break;
      }
      this.#inboxHead++;
      if (next.kind === 'request') this.#dispatchRequest(next);
      else this.#dispatchMessage(next);
    }
    if (this.#inboxHead === this.#inbox.length) {
      this.#inbox = [];
      this.#inboxHead = 0;
    }
    if (this.#state !== 'open') return;
    const blocked = this.#inboxHead < this.#inbox.length || this.#handlersInFlight >= this.#limits.maxConcurrentHandlers;
    if (blocked && !this.#paused) {
      this.#paused = true;
      this.#socket.pause();
    } else if (!blocked && this.#paused) {
      this.#paused = false;
      this.#socket.resume();
    }
  }

  #dispatchRequest(request: Extract<Inbound, { kind: 'request' }>): void {
    const handler = this.#dispatcher.requestHandler(request.method);
    if (handler === undefined) {
      this.#reply({ kind: 'error', id: request.id, code: 'no-handler', message: `no handler for method ${JSON.stringify(request.method)}` });
      return;
    }
    this.#handlersInFlight++;
    let result: Promise<Uint8Array>;
    try {
      result = Promise.resolve(handler(request.body, { from: this.peer, method: request.method, peerIdentity: this.peerIdentity }));
    } catch (e) {
      result = Promise.reject(e);
    }
    result
      .then(
        (body) => {
          if (!(body instanceof Uint8Array)) {
            this.#counters.handlerErrors++;
            this.#reply({ kind: 'error', id: request.id, code: 'remote', message: `handler for ${request.method} returned a non-bytes value` });
          } else {
            this.#reply({ kind: 'response', id: request.id, body });
          }
        },
        (e: unknown) => {
          this.#counters.handlerErrors++;
          this.#reply({ kind: 'error', id: request.id, code: 'remote', message: e instanceof Error ? e.message : String(e) });
        },
      )
      .finally(() => {
        this.#handlersInFlight--;
        this.#pump();
        this.#maybeEndDrained();
      });
  }

  #dispatchMessage(message: Extract<Inbound, { kind: 'message' }>): void {
    const handler = this.#dispatcher.messageHandler(message.method);
    if (handler === undefined) {
      this.#counters.unknownMessages++;
      return;
    }
    try {
      handler(message.body, { from: this.peer, method: message.method, peerIdentity: this.peerIdentity });
    } catch {
      // There is no caller to tell; the counter makes a buggy handler visible.
      this.#counters.handlerErrors++;
    }
  }

  #reply(envelope: Extract<RpcEnvelope, { kind: 'response' | 'error' }>): void {
    let frame = encodeRpcFrame(envelope, this.#limits.maxFrameBytes);
    if (!frame.ok) {
      frame = encodeRpcFrame(
        { kind: 'error', id: envelope.id, code: 'too-large', message: `response ${describeFrameError(frame.error)}` },
        this.#limits.maxFrameBytes,
      );
    }
    // Forced: replies are bounded by maxConcurrentHandlers, and reading pauses while we are full.
    if (frame.ok) this.enqueue(frame.value, true);
  }

  /** Hands queued frames to the socket until it asks us to wait for 'drain'. */
  #flush(): void {
    if (!this.#opened || this.#state === 'closed' || this.#outboxHead === this.#outbox.length) return;
    this.#socket.cork();
    while (this.#outboxHead < this.#outbox.length && !this.#socket.writableNeedDrain) {
      const frame = this.#outbox[this.#outboxHead]!;
      this.#outbox[this.#outboxHead] = EMPTY;
      this.#outboxHead++;
      this.#outboxBytes -= frame.length;
      this.#socket.write(frame);
    }
    this.#socket.uncork();
    if (this.#outboxHead === this.#outbox.length) {
      this.#outbox = [];
      this.#outboxHead = 0;
    } else if (this.#outboxHead > 1024 && this.#outboxHead * 2 > this.#outbox.length) {
      this.#outbox = this.#outbox.slice(this.#outboxHead);
      this.#outboxHead = 0;
    }
  }

  #onDrain(): void {
    this.#flush();
    this.#pump();
    this.#maybeEndDrained();
  }

  #maybeEndDrained(): void {
    if (this.#state !== 'draining' || !this.#opened || this.#socket.writableEnded) return;
    if (this.#handlersInFlight > 0 || this.queuedBytes > 0) return;
    // Half-close after the last byte; keep reading (and discarding) so we see the peer's FIN
    // and the socket closes, instead of resetting a connection with unread data.
    this.#socket.end();
    if (this.#paused) {
      this.#paused = false;
      this.#socket.resume();
    }
  }

  #finish(): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#graceTimer?.cancel();
    this.#inbox = [];
    this.#outbox = [];
    this.#outboxBytes = 0;
    if (!this.#socket.destroyed) this.#socket.destroy();
    const detail = this.#failure?.detail ?? (this.#lastSocketError || 'connection closed');
    const neverOpened: TransportErrorCode = this.#failure === null && this.#lastSocketErrno === 'ECONNREFUSED' ? 'refused' : 'unreachable';
    const code: TransportErrorCode = this.#failure?.code === 'protocol' ? 'protocol' : this.#opened ? (this.#failure?.code ?? 'closed') : neverOpened;
    this.#events.onClose({ code, detail, opened: this.#opened });
    this.#resolveClosed();
  }
}

const EMPTY = new Uint8Array(0);
