// The agent's DNS server (issue 6, Services): answers <name>.service.<domain> and friends from
// the agent's local catalog over UDP, and over TCP on the same port so that a client told "TC:
// truncated" can fetch the whole answer (RFC 7766 §5: that is what resolvers such as glibc and
// c-ares do next; without TCP a service with many instances would fail to resolve at all).
//
// Default TTL 0: the answer is the set of instances passing *now*; a cached answer would keep
// sending clients to an instance that just failed its check (push health makes that happen
// within a TTL of seconds). Every node runs an agent, so asking again costs a loopback round
// trip. Consul's DNS interface defaults to 0 for the same reason.
//
// Bounded and hostile-input safe: datagrams over 4096 bytes are dropped unread, nothing a
// client sends can make it throw, TCP connections are capped in number, idle time and message
// size, and everything odd is counted.
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { randomInt } from 'node:crypto';
import { createServer, isIP, type Server as TcpServer, type Socket as TcpSocket } from 'node:net';
import { SeededRandom, type Random } from '../../core/random.ts';
import { assert } from '../../core/result.ts';
import { describeDnsDecodeError } from '../../wire/dns.ts';
import { DnsResponder, MAX_QUERY_BYTES, type DnsLookup, type DnsOutcome, type DnsReply, type DnsTransportKind } from './responder.ts';

export const DEFAULT_DNS_PORT = 7753;
export const DEFAULT_DNS_DOMAIN = 'sappers';
export const DEFAULT_DNS_TTL_SECONDS = 0;
/** EDNS size we advertise: the DNS Flag Day 2020 value, which avoids IP fragmentation. */
export const DEFAULT_MAX_UDP_PAYLOAD_BYTES = 1232;

/** The subset of a pino logger the server uses; a pino Logger fits it. */
export interface DnsLogger {
  debug(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface DnsServerOptions {
  /** IP literal to bind; "::" serves IPv6 and IPv4 (dual stack), "0.0.0.0" IPv4 only. */
  readonly host: string;
  /** 0 lets the OS pick (the same port for UDP and TCP); the handle reports it. */
  readonly port: number;
  /** The zone answered; others get REFUSED. Default "sappers". */
  readonly domain?: string;
  readonly lookup: DnsLookup;
  readonly logger: DnsLogger;
  /** Shuffles answers; default seeded from the OS. */
  readonly random?: Random;
  /** Default 0 (see the top of this file). */
  readonly ttlSeconds?: number;
  /** Advertised in EDNS, in [512, 4096]; default 1232. */
  readonly maxUdpPayloadBytes?: number;
  /** Also serve DNS over TCP on the same port (default true). */
  readonly tcp?: boolean;
  /** Open TCP connections at most; more are closed at once (default 64). */
  readonly maxTcpConnections?: number;
  /** A TCP connection with nothing to read for this long is closed (default 10 s, RFC 7766 §6.2.3). */
  readonly tcpIdleTimeoutMs?: number;
}

export interface DnsServerCounters {
  readonly udpQueries: number;
  readonly tcpQueries: number;
  /** Replies by outcome. */
  readonly outcomes: Readonly<Record<DnsOutcome, number>>;
  /** UDP replies sent with TC because the answer did not fit. */
  readonly truncated: number;
  /** Packets that did not parse: answered FORMERR, or dropped when not even the header was there. */
  readonly malformed: number;
  /** Datagrams over 4096 bytes (or TCP messages announcing more), dropped unread. */
  readonly droppedOversize: number;
  /** Messages with QR set: responses are never answered. */
  readonly droppedResponses: number;
  readonly sendErrors: number;
  /** Errors the UDP socket itself emitted (e.g. ICMP-reported failures on some platforms). */
  readonly socketErrors: number;
  readonly tcpConnections: number;
  /** TCP connections closed on arrival because maxTcpConnections were open. */
  readonly tcpRejected: number;
  /** Instances the lookup returned that could not become records (not an IP, bad port). */
  readonly skippedInstances: number;
}

export interface DnsServer {
  readonly host: string;
  /** The bound port (UDP, and TCP when enabled). */
  readonly port: number;
  readonly counters: DnsServerCounters;
  /** Stops both listeners and closes open TCP connections; idempotent. */
  close(): Promise<void>;
}

const PORT_RETRIES = 8;
/** Replies queued on a TCP connection that the client has not read yet, at most. */
const MAX_TCP_UNREAD_BYTES = 256 * 1024;

export async function startDnsServer(options: DnsServerOptions): Promise<DnsServer> {
  const family = isIP(options.host);
  assert(family !== 0, `DNS bind host must be an IP literal, got ${JSON.stringify(options.host)}`);
  assert(Number.isInteger(options.port) && options.port >= 0 && options.port <= 0xffff, `DNS port must be in [0, 65535], got ${options.port}`);
  const maxTcp = options.maxTcpConnections ?? 64;
  const idleMs = options.tcpIdleTimeoutMs ?? 10_000;
  assert(Number.isInteger(maxTcp) && maxTcp >= 0, 'maxTcpConnections must be a non-negative integer');
  assert(Number.isInteger(idleMs) && idleMs > 0, 'tcpIdleTimeoutMs must be a positive integer');
  const responder = new DnsResponder({
    domain: options.domain ?? DEFAULT_DNS_DOMAIN,
    lookup: options.lookup,
    random: options.random ?? new SeededRandom(randomInt(0x1_0000_0000)),
    ttlSeconds: options.ttlSeconds ?? DEFAULT_DNS_TTL_SECONDS,
    maxUdpPayloadBytes: options.maxUdpPayloadBytes ?? DEFAULT_MAX_UDP_PAYLOAD_BYTES,
  });
  const withTcp = options.tcp ?? true;
  // With port 0 the OS picks a free UDP port, which may be taken for TCP: try a few times.
  let lastError: unknown;
  for (let attempt = 0; attempt < (options.port === 0 && withTcp ? PORT_RETRIES : 1); attempt++) {
    const udp = await bindUdp(options.host, options.port, family);
    const port = udp.address().port;
    if (!withTcp) return new RunningDnsServer(options, responder, udp, null, port, maxTcp, idleMs);
    try {
      const tcp = await listenTcp(options.host, port);
      return new RunningDnsServer(options, responder, udp, tcp, port, maxTcp, idleMs);
    } catch (e) {
      lastError = e;
      await new Promise<void>((resolve) => udp.close(() => resolve()));
    }
  }
  throw new Error(`cannot listen for DNS over TCP on ${options.host}:${options.port}: ${String(lastError)}`, { cause: lastError });
}

function bindUdp(host: string, port: number, family: number): Promise<UdpSocket> {
  const socket = createSocket({ type: family === 6 ? 'udp6' : 'udp4' });
  return new Promise<UdpSocket>((resolve, reject) => {
    const onError = (e: Error): void => {
      socket.close();
      reject(new Error(`cannot bind DNS UDP ${host}:${port}: ${e.message}`, { cause: e }));
    };
    socket.once('error', onError);
    socket.bind({ address: host, port, exclusive: true }, () => {
      socket.off('error', onError);
      resolve(socket);
    });
  });
}

function listenTcp(host: string, port: number): Promise<TcpServer> {
  const server = createServer({ allowHalfOpen: false, noDelay: true });
  return new Promise<TcpServer>((resolve, reject) => {
    const onError = (e: Error): void => {
      server.close();
      reject(e);
    };
    server.once('error', onError);
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', onError);
      resolve(server);
    });
  });
}

class RunningDnsServer implements DnsServer {
  readonly host: string;
  readonly port: number;
  readonly #responder: DnsResponder;
  readonly #logger: DnsLogger;
  readonly #udp: UdpSocket;
  readonly #tcp: TcpServer | null;
  readonly #connections = new Set<TcpSocket>();
  readonly #maxTcp: number;
  readonly #idleMs: number;
  #closing: Promise<void> | null = null;
  readonly #c = {
    udpQueries: 0,
    tcpQueries: 0,
    truncated: 0,
    malformed: 0,
    droppedOversize: 0,
    droppedResponses: 0,
    sendErrors: 0,
    socketErrors: 0,
    tcpConnections: 0,
    tcpRejected: 0,
  };
  readonly #outcomes: Record<DnsOutcome, number> = { answer: 0, nodata: 0, nxdomain: 0, refused: 0, notimp: 0, formerr: 0, servfail: 0, badvers: 0 };

  constructor(options: DnsServerOptions, responder: DnsResponder, udp: UdpSocket, tcp: TcpServer | null, port: number, maxTcp: number, idleMs: number) {
    this.host = options.host;
    this.port = port;
    this.#responder = responder;
    this.#logger = options.logger;
    this.#udp = udp;
    this.#tcp = tcp;
    this.#maxTcp = maxTcp;
    this.#idleMs = idleMs;
    udp.on('message', (msg: Buffer, rinfo: RemoteInfo) => this.#onDatagram(msg, rinfo));
    udp.on('error', (e) => {
      this.#c.socketErrors++;
      this.#logger.debug({ err: e.message }, 'DNS UDP socket error');
    });
    tcp?.on('connection', (socket) => this.#onConnection(socket));
    tcp?.on('error', (e) => this.#logger.warn({ err: e.message }, 'DNS TCP listener error'));
  }

  get counters(): DnsServerCounters {
    return { ...this.#c, outcomes: { ...this.#outcomes }, skippedInstances: this.#responder.counters.skippedInstances };
  }

  close(): Promise<void> {
    if (this.#closing === null) {
      for (const socket of this.#connections) socket.destroy();
      this.#connections.clear();
      const udp = new Promise<void>((resolve) => {
        try {
          this.#udp.close(() => resolve());
        } catch {
          resolve();
        }
      });
      const tcp = new Promise<void>((resolve) => (this.#tcp === null ? resolve() : this.#tcp.close(() => resolve())));
      this.#closing = Promise.all([udp, tcp]).then(() => undefined);
    }
    return this.#closing;
  }

  /** Runs the responder and counts; the reply bytes, or null to send nothing. */
  #answer(query: Uint8Array, transport: DnsTransportKind, from: string): Uint8Array | null {
    if (transport === 'udp') this.#c.udpQueries++;
    else this.#c.tcpQueries++;
    const reply: DnsReply = this.#responder.respond(query, transport);
    if (reply.kind === 'drop') {
      if (reply.reason === 'oversize') this.#c.droppedOversize++;
      else if (reply.reason === 'response') this.#c.droppedResponses++;
      else this.#c.malformed++;
      this.#logger.debug({ from, reason: reply.reason, bytes: query.length }, 'DNS packet dropped');
      return null;
    }
    this.#outcomes[reply.outcome]++;
    if (reply.truncated) this.#c.truncated++;
    if (reply.malformed !== undefined) {
      this.#c.malformed++;
      this.#logger.debug({ from, error: describeDnsDecodeError(reply.malformed) }, 'DNS query malformed: FORMERR');
    }
    if (reply.failure !== undefined) {
      const f = reply.failure;
      this.#logger.warn({ err: f instanceof Error ? f.message : String(f) }, 'DNS lookup failed: SERVFAIL');
    }
    return reply.bytes;
  }

  #onDatagram(msg: Buffer, rinfo: RemoteInfo): void {
    if (this.#closing !== null) return;
    const from = `${rinfo.address}:${rinfo.port}`;
    if (msg.length > MAX_QUERY_BYTES) {
      // Not even parsed: checked here too so a huge datagram costs nothing but the count.
      this.#c.udpQueries++;
      this.#c.droppedOversize++;
      return;
    }
    const bytes = this.#answer(new Uint8Array(msg.buffer, msg.byteOffset, msg.length), 'udp', from);
    if (bytes === null) return;
    try {
      this.#udp.send(bytes, rinfo.port, rinfo.address, (e) => {
        if (e) this.#c.sendErrors++;
      });
    } catch {
      this.#c.sendErrors++;
    }
  }

  /** RFC 1035 §4.2.2: each message is preceded by its 2-byte length; queries may be pipelined. */
  #onConnection(socket: TcpSocket): void {
    if (this.#closing !== null || this.#connections.size >= this.#maxTcp) {
      this.#c.tcpRejected++;
      socket.destroy();
      return;
    }
    this.#c.tcpConnections++;
    this.#connections.add(socket);
    const from = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
    socket.setTimeout(this.#idleMs, () => socket.destroy());
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.#connections.delete(socket));
    // At most one partial message (<= 2 + 4096 bytes) is ever buffered per connection.
    let pending: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= 2) {
        const length = pending.readUInt16BE(0);
        if (length > MAX_QUERY_BYTES) {
          this.#c.tcpQueries++;
          this.#c.droppedOversize++;
          socket.destroy();
          return;
        }
        if (pending.length < 2 + length) break;
        const query = new Uint8Array(pending.buffer, pending.byteOffset + 2, length);
        pending = pending.subarray(2 + length);
        const bytes = this.#answer(query, 'tcp', from);
        if (bytes === null) continue;
        const frame = Buffer.alloc(2 + bytes.length);
        frame.writeUInt16BE(bytes.length, 0);
        frame.set(bytes, 2);
        socket.write(frame);
        // A client that pipelines queries but never reads its answers is cut off, not buffered for.
        if (socket.writableLength > MAX_TCP_UNREAD_BYTES) {
          socket.destroy();
          return;
        }
      }
      if (pending.length > 0) pending = Buffer.from(pending); // do not pin a large chunk
    });
  }
}
