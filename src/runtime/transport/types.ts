// Transport contracts. Each has a real implementation in this folder and a simulated twin in
// src/sim/, so the same node code runs on sockets and in the deterministic simulator.

/** "host:port"; IPv6 hosts are bracketed ("[::1]:7702"). Identity never derives from it. */
export type Address = string;

export type TransportErrorCode =
  | 'timeout' // no response within the request's timeout
  | 'unreachable' // could not connect (no route, no answer, TLS handshake failed)
  | 'refused' // the host answered that nothing listens on the port (ECONNREFUSED): its process is not running
  | 'closed' // the transport was closed locally, or the connection dropped mid-request
  | 'overloaded' // a bounded queue is full: the peer is too slow; the caller may retry later
  | 'too-large' // a message exceeds the configured maximum size
  | 'no-handler' // the peer has no handler for the method
  | 'remote' // the peer's handler failed; message carries its description
  | 'protocol'; // the peer sent bytes we could not decode; the connection is dropped

export class TransportError extends Error {
  readonly code: TransportErrorCode;
  constructor(code: TransportErrorCode, message: string) {
    super(message);
    this.name = 'TransportError';
    this.code = code;
  }
}

/** Unreliable, unordered, size-limited datagrams (gossip probes and piggybacked updates). */
export interface DatagramTransport {
  readonly localAddress: Address;
  readonly maxDatagramBytes: number;
  /**
   * Best effort: returns false without sending when data is larger than maxDatagramBytes or the
   * transport is closed. Loss is normal and never reported.
   */
  send(to: Address, data: Uint8Array): boolean;
  /** One handler; a second call replaces the first. */
  onDatagram(handler: (from: Address, data: Uint8Array) => void): void;
  close(): Promise<void>;
}

export interface RequestOptions {
  /** Per-request deadline; defaults to the transport's configured request timeout. */
  readonly timeoutMs?: number;
}

export interface RequestContext {
  /** The address the request came from (the peer's socket address). */
  readonly from: Address;
  /** The method name the request was sent to. */
  readonly method: string;
  /**
   * Under mutual TLS, the common name of the peer's verified client certificate (a Sappers
   * node ID); undefined without TLS. Handlers check it against who a message claims to be from.
   */
  readonly peerIdentity?: string | undefined;
}

export type RequestHandler = (body: Uint8Array, ctx: RequestContext) => Promise<Uint8Array> | Uint8Array;
export type MessageHandler = (body: Uint8Array, ctx: RequestContext) => void;

/**
 * Framed, multiplexed RPC: many concurrent requests and one-way messages share one connection
 * per peer. Bodies are opaque bytes (encoded by src/wire). Bounded everywhere: a slow peer
 * makes calls fail with 'overloaded', never grows our memory.
 */
export interface RpcTransport {
  readonly localAddress: Address;
  /** Rejects with TransportError on timeout, unreachable peer, overload, or remote failure. */
  request(to: Address, method: string, body: Uint8Array, options?: RequestOptions): Promise<Uint8Array>;
  /**
   * One-way message, in order per peer, no response. Returns false when the peer's outbound
   * queue is full or the message is too large (the caller decides whether to drop or retry).
   */
  send(to: Address, method: string, body: Uint8Array): boolean;
  /** Registers the handler for a request method (one per method). */
  handle(method: string, handler: RequestHandler): void;
  /** Registers the handler for a one-way method (one per method). */
  onMessage(method: string, handler: MessageHandler): void;
  /** Stops accepting, fails pending requests with 'closed', flushes and closes connections. */
  close(): Promise<void>;
}
