// RPC over TCP, optionally TLS or mutual TLS (DESIGN.md: "TCP+TLS RPC (framed, multiplexed)").
// One outgoing connection per peer address carries concurrent requests and one-way messages
// (peer-channel.ts); inbound connections run our handlers (connection.ts). Every queue is
// bounded, every wait has a deadline from the injected Clock, and close() is bounded too.
import { randomInt } from 'node:crypto';
import { connect as netConnect, createServer as netCreateServer, isIP, type Server, type Socket } from 'node:net';
import { checkServerIdentity, connect as tlsConnect, createServer as tlsCreateServer, Server as TlsServer, type PeerCertificate, type TLSSocket } from 'node:tls';
import { assert } from '../../core/result.ts';
import { SeededRandom, type Random } from '../../core/random.ts';
import { SystemClock, type Clock } from '../clock.ts';
import { formatAddress, parseAddress } from './address.ts';
import { Backoff, type BackoffOptions } from './backoff.ts';
import { Connection, newRpcCounters, type ConnectionLimits, type Dispatcher, type RpcCounters } from './connection.ts';
import { PeerChannel, type PeerStats } from './peer-channel.ts';
import { isValidMethod } from './rpc-frame.ts';
import {
  TransportError,
  type Address,
  type MessageHandler,
  type RequestHandler,
  type RequestOptions,
  type RpcTransport,
  type TransportErrorCode,
} from './types.ts';

export type { PeerStats, PeerState } from './peer-channel.ts';
export type { RpcCounters } from './connection.ts';

export interface RpcTlsOptions {
  /** PEM certificate chain of this node (served to clients, presented to servers). */
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
  /** PEM CA(s) that peers' certificates must chain to. */
  readonly ca: string | Buffer;
  /** Mutual TLS: refuse inbound clients without a certificate from `ca`. */
  readonly requireClientCert?: boolean;
  /**
   * Name that servers' certificates are checked against instead of the dialed host (like
   * Nomad's "server.<region>.nomad"), for clusters whose certificates do not list every IP.
   */
  readonly serverName?: string;
  /**
   * How a server's certificate is checked beyond its chain to `ca`: 'hostname' (the default:
   * it must name the dialed host, or serverName) or 'ca' (any certificate from `ca`), for
   * clusters whose nodes are known by the identity in their certificates rather than by
   * address; handlers then check ctx.peerIdentity against who a message claims to be from.
   */
  readonly verifyServer?: 'hostname' | 'ca';
}

export interface TcpRpcTransportOptions {
  /** Local IP to listen on. */
  readonly host: string;
  /** 0 lets the OS pick; localAddress reports the real port. */
  readonly port: number;
  readonly maxFrameBytes?: number;
  /** Default per-request deadline (RequestOptions.timeoutMs overrides it). */
  readonly requestTimeoutMs?: number;
  /** Deadline for TCP connect, TLS handshake and hello exchange. */
  readonly connectTimeoutMs?: number;
  /** Bytes waiting to be sent to one peer (and unsent replies on one inbound connection). */
  readonly maxQueuedBytesPerPeer?: number;
  readonly maxPendingRequestsPerPeer?: number;
  readonly maxConcurrentHandlersPerConnection?: number;
  readonly maxInboundConnections?: number;
  readonly reconnectBackoff?: BackoffOptions;
  /** How long close() lets running handlers reply and queued frames drain. */
  readonly shutdownGraceMs?: number;
  readonly tls?: RpcTlsOptions;
  readonly clock?: Clock;
  /** Jitter for reconnect backoff; seeded from the OS by default. */
  readonly random?: Random;
}

export const RPC_DEFAULTS = {
  maxFrameBytes: 4 * 1024 * 1024,
  requestTimeoutMs: 5_000,
  connectTimeoutMs: 3_000,
  maxQueuedBytesPerPeer: 16 * 1024 * 1024,
  maxPendingRequestsPerPeer: 1024,
  maxConcurrentHandlersPerConnection: 64,
  maxInboundConnections: 1024,
  reconnectBackoff: { initialDelayMs: 100, maxDelayMs: 10_000 },
  shutdownGraceMs: 1_000,
} as const;

/**
 * Told when an outgoing request settles: its method, 'ok' or the TransportError code it failed
 * with, and how long it took by the transport's clock. Must not throw (it runs on the reply path).
 */
export type RequestObserver = (method: string, outcome: 'ok' | TransportErrorCode, elapsedMs: number) => void;

/** Our own frames (hello, error replies) must always fit. */
const MIN_FRAME_BYTES = 2048;
const KEEPALIVE_INITIAL_DELAY_MS = 15_000;
/** Channel-map size above which idle channels are forgotten when a new peer is added. */
const CHANNEL_SWEEP_THRESHOLD = 1024;

export class TcpRpcTransport implements RpcTransport {
  readonly localAddress: Address;
  readonly #server: Server;
  readonly #options: TcpRpcTransportOptions;
  /** Current credentials; replaced by setTlsCredentials (a node that enrolls or renews). */
  #tls: RpcTlsOptions | undefined;
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #limits: ConnectionLimits;
  readonly #requestTimeoutMs: number;
  readonly #counters = newRpcCounters();
  readonly #requestHandlers = new Map<string, RequestHandler>();
  readonly #messageHandlers = new Map<string, MessageHandler>();
  readonly #dispatcher: Dispatcher;
  readonly #channels = new Map<Address, PeerChannel>();
  readonly #inbound = new Set<Connection>();
  readonly #requestObservers = new Set<RequestObserver>();
  /** Every accepted raw socket, including those still in the TLS handshake. */
  readonly #rawSockets = new Set<Socket>();
  #closing: Promise<void> | null = null;

  static async listen(options: TcpRpcTransportOptions): Promise<TcpRpcTransport> {
    assert(isIP(options.host) !== 0, `RPC listen host must be an IP literal, got ${JSON.stringify(options.host)}`);
    const server = options.tls === undefined
      ? netCreateServer({ noDelay: true, keepAlive: true, keepAliveInitialDelay: KEEPALIVE_INITIAL_DELAY_MS })
      : tlsCreateServer({
          cert: options.tls.cert,
          key: options.tls.key,
          ca: options.tls.ca,
          requestCert: options.tls.requireClientCert ?? false,
          rejectUnauthorized: options.tls.requireClientCert ?? false,
          minVersion: 'TLSv1.2',
          // A client that stalls its handshake must not hold a connection slot for long.
          handshakeTimeout: options.connectTimeoutMs ?? RPC_DEFAULTS.connectTimeoutMs,
          noDelay: true,
          keepAlive: true,
          keepAliveInitialDelay: KEEPALIVE_INITIAL_DELAY_MS,
        });
    server.maxConnections = options.maxInboundConnections ?? RPC_DEFAULTS.maxInboundConnections;
    await new Promise<void>((resolve, reject) => {
      const onError = (e: Error): void => {
        reject(new Error(`cannot listen for RPC on ${formatAddress(options.host, options.port)}: ${e.message}`, { cause: e }));
      };
      server.once('error', onError);
      server.listen({ host: options.host, port: options.port, exclusive: true }, () => {
        server.off('error', onError);
        resolve();
      });
    });
    return new TcpRpcTransport(server, options);
  }

  private constructor(server: Server, options: TcpRpcTransportOptions) {
    this.#server = server;
    this.#options = options;
    this.#tls = options.tls;
    this.#clock = options.clock ?? new SystemClock();
    this.#random = options.random ?? new SeededRandom(randomInt(2 ** 32));
    const maxFrameBytes = options.maxFrameBytes ?? RPC_DEFAULTS.maxFrameBytes;
    const maxQueuedBytes = options.maxQueuedBytesPerPeer ?? Math.max(RPC_DEFAULTS.maxQueuedBytesPerPeer, 2 * maxFrameBytes);
    this.#limits = {
      maxFrameBytes,
      maxQueuedBytes,
      maxConcurrentHandlers: options.maxConcurrentHandlersPerConnection ?? RPC_DEFAULTS.maxConcurrentHandlersPerConnection,
    };
    assert(maxFrameBytes >= MIN_FRAME_BYTES && maxFrameBytes < 2 ** 32, `maxFrameBytes must be in [${MIN_FRAME_BYTES}, 2^32)`);
    assert(maxQueuedBytes >= maxFrameBytes + 4, 'maxQueuedBytesPerPeer must hold at least one full frame');
    assert(this.#limits.maxConcurrentHandlers >= 1, 'maxConcurrentHandlersPerConnection must be >= 1');
    this.#requestTimeoutMs = options.requestTimeoutMs ?? RPC_DEFAULTS.requestTimeoutMs;
    assert(this.#requestTimeoutMs > 0, 'requestTimeoutMs must be positive');
    this.#dispatcher = {
      requestHandler: (method) => this.#requestHandlers.get(method),
      messageHandler: (method) => this.#messageHandlers.get(method),
    };
    const bound = server.address();
    assert(bound !== null && typeof bound === 'object', 'a listening TCP server has an address');
    this.localAddress = formatAddress(bound.address, bound.port);

    server.on('connection', (socket: Socket) => {
      this.#rawSockets.add(socket);
      socket.on('close', () => this.#rawSockets.delete(socket));
      if (options.tls === undefined) this.#accept(socket);
    });
    if (options.tls !== undefined) {
      server.on('secureConnection', (socket: TLSSocket) => this.#accept(socket, verifiedName(socket)));
      server.on('tlsClientError', () => {
        this.#counters.tlsClientErrors++;
      });
    }
    // Accept errors (e.g. EMFILE) must not crash the node; the listener keeps going.
    server.on('error', () => {});
  }

  get counters(): Readonly<RpcCounters> {
    return { ...this.#counters };
  }

  /** What this transport holds for one peer address, or undefined if it never talked to it. */
  peerStats(to: Address): PeerStats | undefined {
    return this.#channels.get(to)?.stats;
  }

  /** Inbound connections currently open. */
  get inboundConnections(): number {
    return this.#inbound.size;
  }

  /** Per inbound connection: unsent reply bytes and running handlers (both bounded). */
  inboundStats(): Array<{ readonly from: Address; readonly queuedBytes: number; readonly handlersInFlight: number }> {
    return [...this.#inbound].map((c) => ({ from: c.peer, queuedBytes: c.queuedBytes, handlersInFlight: c.handlersInFlight }));
  }

  request(to: Address, method: string, body: Uint8Array, options?: RequestOptions): Promise<Uint8Array> {
    assert(isValidMethod(method), `RPC method must be 1..255 UTF-8 bytes, got ${JSON.stringify(method)}`);
    const timeoutMs = options?.timeoutMs ?? this.#requestTimeoutMs;
    assert(timeoutMs > 0, `timeoutMs must be positive, got ${timeoutMs}`);
    if (this.#closing !== null) return Promise.reject(new TransportError('closed', 'transport closed'));
    const channel = this.#channel(to);
    if (channel === null) return Promise.reject(new TransportError('unreachable', `invalid address ${JSON.stringify(to)}`));
    if (this.#requestObservers.size === 0) return channel.request(method, body, timeoutMs);
    const startedMs = this.#clock.nowMs();
    const settled = (outcome: 'ok' | TransportErrorCode): void => {
      const elapsedMs = this.#clock.nowMs() - startedMs;
      for (const observer of this.#requestObservers) observer(method, outcome, elapsedMs);
    };
    return channel.request(method, body, timeoutMs).then(
      (reply) => {
        settled('ok');
        return reply;
      },
      (e: unknown) => {
        // Channels reject only with TransportError; anything else is reported as a closed request.
        settled(e instanceof TransportError ? e.code : 'closed');
        throw e;
      },
    );
  }

  /** Observes every outgoing request's outcome and latency (metrics); returns the unsubscribe function. */
  observeRequests(observer: RequestObserver): () => void {
    this.#requestObservers.add(observer);
    return () => {
      this.#requestObservers.delete(observer);
    };
  }

  send(to: Address, method: string, body: Uint8Array): boolean {
    assert(isValidMethod(method), `RPC method must be 1..255 UTF-8 bytes, got ${JSON.stringify(method)}`);
    if (this.#closing !== null) return false;
    return this.#channel(to)?.send(method, body) ?? false;
  }

  handle(method: string, handler: RequestHandler): void {
    assert(isValidMethod(method), `RPC method must be 1..255 UTF-8 bytes, got ${JSON.stringify(method)}`);
    assert(!this.#requestHandlers.has(method), `a handler for ${method} is already registered`);
    this.#requestHandlers.set(method, handler);
  }

  onMessage(method: string, handler: MessageHandler): void {
    assert(isValidMethod(method), `RPC method must be 1..255 UTF-8 bytes, got ${JSON.stringify(method)}`);
    assert(!this.#messageHandlers.has(method), `a message handler for ${method} is already registered`);
    this.#messageHandlers.set(method, handler);
  }

  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    const graceMs = this.#options.shutdownGraceMs ?? RPC_DEFAULTS.shutdownGraceMs;
    const listenerClosed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    await Promise.all([
      ...[...this.#channels.values()].map((c) => c.close(graceMs)),
      ...[...this.#inbound].map((c) => c.shutdown(graceMs, this.#clock)),
    ]);
    // Sockets still in a TLS handshake never became connections: cut them too.
    for (const socket of this.#rawSockets) socket.destroy();
    await listenerClosed;
  }

  #channel(to: Address): PeerChannel | null {
    const existing = this.#channels.get(to);
    if (existing !== undefined) return existing;
    const target = parseAddress(to);
    if (!target.ok) return null;
    if (this.#channels.size >= CHANNEL_SWEEP_THRESHOLD) this.#sweepChannels();
    const { host, port } = target.value;
    const channel = new PeerChannel(to, {
      clock: this.#clock,
      limits: this.#limits,
      dispatcher: this.#dispatcher,
      counters: this.#counters,
      backoff: new Backoff(this.#options.reconnectBackoff ?? RPC_DEFAULTS.reconnectBackoff, this.#random.fork()),
      connectTimeoutMs: this.#options.connectTimeoutMs ?? RPC_DEFAULTS.connectTimeoutMs,
      maxPendingRequests: this.#options.maxPendingRequestsPerPeer ?? RPC_DEFAULTS.maxPendingRequestsPerPeer,
      dial: () => this.#dial(host, port),
    });
    this.#channels.set(to, channel);
    return channel;
  }

  /**
   * Forgets peers we hold nothing for (no connection, no pending request, not backing off), so
   * that talking to many addresses over a long life does not grow the channel map for ever.
   */
  #sweepChannels(): void {
    for (const [address, channel] of this.#channels) {
      const stats = channel.stats;
      if (stats.state === 'idle' && stats.pendingRequests === 0) this.#channels.delete(address);
    }
  }

  /**
   * Replaces this node's certificate, key and trusted CA for new connections, both ways (a node
   * that just got its certificate from the cluster, or renewed it). Connections already open
   * keep the credentials they were made with. Only for a transport created with TLS.
   */
  setTlsCredentials(credentials: Pick<RpcTlsOptions, 'cert' | 'key' | 'ca'>): void {
    const current = this.#tls;
    assert(current !== undefined && this.#server instanceof TlsServer, 'setTlsCredentials needs a transport created with tls');
    this.#server.setSecureContext({ cert: credentials.cert, key: credentials.key, ca: credentials.ca, minVersion: 'TLSv1.2' });
    this.#tls = { ...current, ...credentials };
  }

  #dial(host: string, port: number): Socket {
    const tls = this.#tls;
    const common = { host, port, noDelay: true, keepAlive: true, keepAliveInitialDelay: KEEPALIVE_INITIAL_DELAY_MS };
    if (tls === undefined) return netConnect(common);
    const serverName = tls.serverName;
    return tlsConnect({
      ...common,
      cert: tls.cert,
      key: tls.key,
      ca: tls.ca,
      minVersion: 'TLSv1.2',
      rejectUnauthorized: true,
      // SNI carries names only, never IP literals (RFC 6066, section 3).
      ...(serverName !== undefined ? { servername: serverName } : isIP(host) === 0 ? { servername: host } : {}),
      ...(tls.verifyServer === 'ca'
        ? { checkServerIdentity: () => undefined }
        : serverName !== undefined
          ? { checkServerIdentity: (_host: string, cert: PeerCertificate) => checkServerIdentity(serverName, cert) }
          : {}),
    });
  }

  #accept(socket: Socket, peerIdentity?: string): void {
    if (this.#closing !== null) {
      socket.destroy();
      return;
    }
    this.#counters.accepted++;
    socket.setNoDelay(true);
    // A peer that connects but never says hello would hold a slot of maxInboundConnections.
    const connectTimeoutMs = this.#options.connectTimeoutMs ?? RPC_DEFAULTS.connectTimeoutMs;
    const helloTimer = this.#clock.setTimer(connectTimeoutMs, () => {
      if (!connection.isOpen) connection.destroy('closed', `no hello within ${connectTimeoutMs} ms`);
    });
    const connection: Connection = new Connection(
      socket,
      formatAddress(socket.remoteAddress ?? 'unknown', socket.remotePort ?? 0),
      this.#limits,
      this.#dispatcher,
      {
        onOpen: () => helloTimer.cancel(),
        // We never send requests on inbound connections, so every reply here is stray.
        onReply: () => {
          this.#counters.lateReplies++;
        },
        onClose: () => {
          helloTimer.cancel();
          this.#inbound.delete(connection);
        },
      },
      this.#counters,
      peerIdentity,
    );
    this.#inbound.add(connection);
  }
}

/** The common name of a mutual-TLS client's certificate, when the handshake verified it. */
function verifiedName(socket: TLSSocket): string | undefined {
  if (!socket.authorized) return undefined;
  const cn = socket.getPeerCertificate().subject?.CN;
  return typeof cn === 'string' && cn !== '' ? cn : undefined;
}
