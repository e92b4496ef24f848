// Gossip datagrams over node:dgram. Loss is normal for gossip (SWIM tolerates it by design), so
// send never reports failures to the caller: they are counted, for metrics and tests, and
// otherwise ignored. Nothing here ever throws because of what the network or a peer did.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import { assert } from '../../core/result.ts';
import { formatAddress, parseAddress } from './address.ts';
import type { Address, DatagramTransport } from './types.ts';

export interface UdpTransportOptions {
  /** Local IP to bind (IPv4 or IPv6 literal). */
  readonly host: string;
  /** 0 lets the OS pick; localAddress reports the real port. */
  readonly port: number;
  /** Largest datagram sent or accepted; larger ones are refused or dropped. */
  readonly maxDatagramBytes: number;
}

export interface UdpCounters {
  readonly sent: number;
  readonly received: number;
  /** send() refused: larger than maxDatagramBytes. */
  readonly refusedOversize: number;
  /** send() refused: the destination is not a valid host:port. */
  readonly refusedBadAddress: number;
  /** The OS reported an error for a send (no route, family mismatch, ...). */
  readonly sendErrors: number;
  /** Received datagrams larger than maxDatagramBytes, dropped unseen. */
  readonly droppedOversize: number;
  /** Errors emitted by the socket itself (e.g. ICMP-reported failures on some platforms). */
  readonly socketErrors: number;
}

/** The largest UDP payload over IPv4 (65535 - 8 byte UDP header - 20 byte IP header). */
const MAX_UDP_PAYLOAD_BYTES = 65507;

export class UdpTransport implements DatagramTransport {
  readonly localAddress: Address;
  readonly maxDatagramBytes: number;
  readonly #socket: Socket;
  #handler: ((from: Address, data: Uint8Array) => void) | null = null;
  #closing: Promise<void> | null = null;
  #counters = { sent: 0, received: 0, refusedOversize: 0, refusedBadAddress: 0, sendErrors: 0, droppedOversize: 0, socketErrors: 0 };

  static async bind(options: UdpTransportOptions): Promise<UdpTransport> {
    assert(
      Number.isInteger(options.maxDatagramBytes) && options.maxDatagramBytes > 0 && options.maxDatagramBytes <= MAX_UDP_PAYLOAD_BYTES,
      `maxDatagramBytes must be in [1, ${MAX_UDP_PAYLOAD_BYTES}], got ${options.maxDatagramBytes}`,
    );
    const family = isIP(options.host);
    assert(family !== 0, `UDP bind host must be an IP literal, got ${JSON.stringify(options.host)}`);
    const socket = createSocket({ type: family === 6 ? 'udp6' : 'udp4' });
    await new Promise<void>((resolve, reject) => {
      const onError = (e: Error): void => {
        socket.close();
        reject(new Error(`cannot bind UDP ${formatAddress(options.host, options.port)}: ${e.message}`, { cause: e }));
      };
      socket.once('error', onError);
      socket.bind({ address: options.host, port: options.port, exclusive: true }, () => {
        socket.off('error', onError);
        resolve();
      });
    });
    return new UdpTransport(socket, options.maxDatagramBytes);
  }

  private constructor(socket: Socket, maxDatagramBytes: number) {
    this.#socket = socket;
    this.maxDatagramBytes = maxDatagramBytes;
    const bound = socket.address();
    this.localAddress = formatAddress(bound.address, bound.port);
    socket.on('message', (msg: Buffer, rinfo: RemoteInfo) => this.#onMessage(msg, rinfo));
    socket.on('error', () => {
      this.#counters.socketErrors++;
    });
  }

  get counters(): UdpCounters {
    return { ...this.#counters };
  }

  send(to: Address, data: Uint8Array): boolean {
    if (this.#closing !== null) return false;
    if (data.length > this.maxDatagramBytes) {
      this.#counters.refusedOversize++;
      return false;
    }
    const dest = parseAddress(to);
    if (!dest.ok) {
      this.#counters.refusedBadAddress++;
      return false;
    }
    // dgram sends asynchronously; copy so a caller reusing its buffer cannot change what leaves.
    const copy = Buffer.from(data);
    try {
      this.#socket.send(copy, dest.value.port, dest.value.host, (error) => {
        if (error) this.#counters.sendErrors++;
        else this.#counters.sent++;
      });
    } catch {
      // Synchronous argument errors (e.g. the socket closed under us) are loss, too.
      this.#counters.sendErrors++;
      return false;
    }
    return true;
  }

  onDatagram(handler: (from: Address, data: Uint8Array) => void): void {
    this.#handler = handler;
  }

  close(): Promise<void> {
    if (this.#closing === null) {
      this.#handler = null;
      this.#closing = new Promise<void>((resolve) => {
        try {
          this.#socket.close(() => resolve());
        } catch {
          resolve(); // already closed
        }
      });
    }
    return this.#closing;
  }

  #onMessage(msg: Buffer, rinfo: RemoteInfo): void {
    if (msg.length > this.maxDatagramBytes) {
      this.#counters.droppedOversize++;
      return;
    }
    this.#counters.received++;
    const handler = this.#handler;
    if (handler !== null) handler(formatAddress(rinfo.address, rinfo.port), new Uint8Array(msg.buffer, msg.byteOffset, msg.length));
  }
}
