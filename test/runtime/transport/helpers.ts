// Shared helpers for the transport tests: a manual clock, cleanup tracking, polling, raw peers.
import { createServer, type Server, type Socket } from 'node:net';
import type { Clock, Timer } from '../../../src/runtime/clock.ts';
import { TcpRpcTransport, type TcpRpcTransportOptions } from '../../../src/runtime/transport/rpc.ts';
import { TransportError, type TransportErrorCode } from '../../../src/runtime/transport/types.ts';
import { encodeRpcFrame, RPC_PROTOCOL_VERSION } from '../../../src/runtime/transport/rpc-frame.ts';
import { parseAddress } from '../../../src/runtime/transport/address.ts';

/** Time moves only when the test says so; due timers fire in deadline order. */
export class ManualClock implements Clock {
  #now = 0;
  #timers: Array<{ at: number; seq: number; fn: () => void; cancelled: boolean }> = [];
  #seq = 0;

  nowMs(): number {
    return this.#now;
  }

  wallMs(): number {
    return 1_700_000_000_000 + this.#now;
  }

  setTimer(delayMs: number, fn: () => void): Timer {
    const timer = { at: this.#now + Math.max(0, delayMs), seq: this.#seq++, fn, cancelled: false };
    this.#timers.push(timer);
    return { cancel: () => void (timer.cancelled = true) };
  }

  advance(ms: number): void {
    const until = this.#now + ms;
    for (;;) {
      this.#timers = this.#timers.filter((t) => !t.cancelled);
      this.#timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.#timers[0];
      if (next === undefined || next.at > until) break;
      this.#timers.shift();
      this.#now = next.at;
      next.fn();
    }
    this.#now = until;
  }
}

export const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
export const text = (data: Uint8Array): string => new TextDecoder().decode(data);

export function portOf(address: string): number {
  const parsed = parseAddress(address);
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.value.port;
}

/** Polls until cond holds; fails loudly (not silently) after a generous bound. */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export function isTransportError(code: TransportErrorCode, messagePart?: string): (e: unknown) => boolean {
  return (e: unknown) => {
    if (!(e instanceof TransportError)) throw new Error(`expected TransportError(${code}), got ${String(e)}`);
    if (e.code !== code) throw new Error(`expected code ${code}, got ${e.code}: ${e.message}`);
    if (messagePart !== undefined && !e.message.includes(messagePart)) throw new Error(`expected message with ${messagePart}, got ${e.message}`);
    return true;
  };
}

/** Collects transports and raw servers/sockets so every test can close them in finally. */
export class Resources {
  readonly #closers: Array<() => Promise<void> | void> = [];

  async rpc(options: Partial<TcpRpcTransportOptions> = {}): Promise<TcpRpcTransport> {
    const t = await TcpRpcTransport.listen({ host: '127.0.0.1', port: 0, ...options });
    this.#closers.push(() => t.close());
    return t;
  }

  /** A raw TCP server; onSocket sees every accepted socket. */
  async rawServer(onSocket: (socket: Socket) => void): Promise<{ server: Server; address: string }> {
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => sockets.delete(socket));
      onSocket(socket);
    });
    await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
    this.#closers.push(
      () =>
        new Promise<void>((resolve) => {
          for (const s of sockets) s.destroy();
          server.close(() => resolve());
        }),
    );
    const a = server.address();
    if (a === null || typeof a !== 'object') throw new Error('no address');
    return { server, address: `127.0.0.1:${a.port}` };
  }

  add(closer: () => Promise<void> | void): void {
    this.#closers.push(closer);
  }

  async closeAll(): Promise<void> {
    for (const close of this.#closers.reverse()) {
      try {
        await close();
      } catch {
        // keep closing the rest
      }
    }
  }
}

/** The hello frame a well-behaved peer sends first. */
export function helloFrame(): Uint8Array {
  const r = encodeRpcFrame({ kind: 'hello', version: RPC_PROTOCOL_VERSION }, 1024);
  if (!r.ok) throw new Error('hello does not encode');
  return r.value;
}
