// Everything this node sends to one peer address: at most one connection (dialed lazily, one
// dial at a time), the requests waiting for replies, and the reconnect backoff. After a failed
// dial the channel refuses work with 'unreachable' until the backoff delay has passed, so a
// dead peer costs callers nothing and is not hammered with connection attempts.
import type { Socket } from 'node:net';
import type { Result } from '../../core/result.ts';
import type { Clock, Timer } from '../clock.ts';
import { describeFrameError } from '../../wire/frame.ts';
import type { Backoff } from './backoff.ts';
import { Connection, type CloseReason, type ConnectionLimits, type Dispatcher, type RpcCounters } from './connection.ts';
import { encodeRpcFrame } from './rpc-frame.ts';
import { TransportError, type Address, type TransportErrorCode } from './types.ts';

export type PeerState = 'idle' | 'connecting' | 'open' | 'backoff' | 'closed';

export interface PeerStats {
  readonly state: PeerState;
  /** Bytes accepted for this peer and not yet taken by the kernel. */
  readonly queuedBytes: number;
  /** Requests sent or queued and still waiting for a reply. */
  readonly pendingRequests: number;
  /** Consecutive failed dials (drives the backoff). */
  readonly failedDials: number;
}

export interface PeerChannelDeps {
  readonly clock: Clock;
  readonly limits: ConnectionLimits;
  readonly dispatcher: Dispatcher;
  readonly counters: RpcCounters;
  readonly backoff: Backoff;
  readonly connectTimeoutMs: number;
  readonly maxPendingRequests: number;
  /** Starts a connection attempt (TCP or TLS) to this channel's peer. */
  readonly dial: () => Socket;
}

interface Pending {
  readonly resolve: (body: Uint8Array) => void;
  readonly reject: (error: TransportError) => void;
  readonly timer: Timer;
}

export class PeerChannel {
  readonly address: Address;
  readonly #deps: PeerChannelDeps;
  #connection: Connection | null = null;
  #connectTimer: Timer | null = null;
  readonly #pending = new Map<number, Pending>();
  #lastId = 0;
  #retryAtMs = Number.NEGATIVE_INFINITY;
  #lastDialError = '';
  #lastDialCode: TransportErrorCode = 'unreachable';
  #closed = false;

  constructor(address: Address, deps: PeerChannelDeps) {
    this.address = address;
    this.#deps = deps;
  }

  get stats(): PeerStats {
    let state: PeerState;
    if (this.#closed) state = 'closed';
    else if (this.#connection !== null) state = this.#connection.isOpen ? 'open' : 'connecting';
    else state = this.#backingOff() ? 'backoff' : 'idle';
    return {
      state,
      queuedBytes: this.#connection?.queuedBytes ?? 0,
      pendingRequests: this.#pending.size,
      failedDials: this.#deps.backoff.failures,
    };
  }

  request(method: string, body: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    const refused = this.#refusal();
    if (refused !== null) return Promise.reject(refused);
    if (this.#pending.size >= this.#deps.maxPendingRequests) {
      this.#deps.counters.refusedOverloaded++;
      return Promise.reject(new TransportError('overloaded', `${this.#pending.size} requests to ${this.address} are already pending`));
    }
    const id = this.#allocateId();
    const frame = encodeRpcFrame({ kind: 'request', id, method, body }, this.#deps.limits.maxFrameBytes);
    if (!frame.ok) {
      this.#deps.counters.refusedTooLarge++;
      return Promise.reject(new TransportError('too-large', `request ${describeFrameError(frame.error)}`));
    }
    if (!this.#connect().enqueue(frame.value)) {
      this.#deps.counters.refusedOverloaded++;
      return Promise.reject(new TransportError('overloaded', `outbound queue to ${this.address} is full`));
    }
    return new Promise<Uint8Array>((resolve, reject) => {
      const timer = this.#deps.clock.setTimer(timeoutMs, () => {
        if (this.#pending.delete(id)) reject(new TransportError('timeout', `${method} to ${this.address}: no reply within ${timeoutMs} ms`));
      });
      this.#pending.set(id, { resolve, reject, timer });
    });
  }

  send(method: string, body: Uint8Array): boolean {
    if (this.#refusal() !== null) return false;
    const frame = encodeRpcFrame({ kind: 'message', method, body }, this.#deps.limits.maxFrameBytes);
    if (!frame.ok) {
      this.#deps.counters.refusedTooLarge++;
      return false;
    }
    if (!this.#connect().enqueue(frame.value)) {
      this.#deps.counters.refusedOverloaded++;
      return false;
    }
    return true;
  }

  /** Fails pending requests with 'closed', then flushes and closes the connection. */
  close(graceMs: number): Promise<void> {
    this.#closed = true;
    this.#failPending(new TransportError('closed', 'transport closed'));
    return this.#connection?.shutdown(graceMs, this.#deps.clock) ?? Promise.resolve();
  }

  #refusal(): TransportError | null {
    if (this.#closed) return new TransportError('closed', 'transport closed');
    if (this.#connection === null && this.#backingOff()) {
      return new TransportError(this.#lastDialCode, `${this.address} is unreachable (${this.#lastDialError}); retrying later`);
    }
    return null;
  }

  #backingOff(): boolean {
    return this.#deps.clock.nowMs() < this.#retryAtMs;
  }

  #allocateId(): number {
    // uint32 ids, skipping 0 and any still pending after a wrap-around.
    do {
      this.#lastId = (this.#lastId + 1) >>> 0;
    } while (this.#lastId === 0 || this.#pending.has(this.#lastId));
    return this.#lastId;
  }

  #connect(): Connection {
    if (this.#connection !== null) return this.#connection;
    this.#deps.counters.dials++;
    const connection: Connection = new Connection(this.#deps.dial(), this.address, this.#deps.limits, this.#deps.dispatcher, {
      onOpen: () => {
        this.#connectTimer?.cancel();
        this.#connectTimer = null;
        this.#deps.backoff.reset();
      },
      onReply: (id, reply) => this.#onReply(id, reply),
      onClose: (reason) => this.#onClose(connection, reason),
    }, this.#deps.counters);
    this.#connection = connection;
    this.#connectTimer = this.#deps.clock.setTimer(this.#deps.connectTimeoutMs, () => {
      connection.destroy('unreachable', `no connection within ${this.#deps.connectTimeoutMs} ms`);
    });
    return connection;
  }

  #onReply(id: number, reply: Result<Uint8Array, TransportError>): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) {
      this.#deps.counters.lateReplies++;
      return;
    }
    this.#pending.delete(id);
    pending.timer.cancel();
    if (reply.ok) pending.resolve(reply.value);
    else pending.reject(reply.error);
  }

  #onClose(connection: Connection, reason: CloseReason): void {
    if (this.#connection !== connection) return;
    this.#connection = null;
    this.#connectTimer?.cancel();
    this.#connectTimer = null;
    if (!reason.opened && !this.#closed) {
      this.#deps.counters.dialFailures++;
      this.#lastDialError = reason.detail;
      this.#lastDialCode = reason.code === 'refused' ? 'refused' : 'unreachable';
      this.#retryAtMs = this.#deps.clock.nowMs() + this.#deps.backoff.next();
    }
    this.#failPending(new TransportError(reason.code, `connection to ${this.address}: ${reason.detail}`));
  }

  #failPending(error: TransportError): void {
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) {
      p.timer.cancel();
      p.reject(error);
    }
  }
}
