// A minimal client of serf's agent RPC (msgpack over TCP; documented in hashicorp/serf,
// website/source/docs/agent/rpc.html.markdown): handshake, members, and event streams. Polling
// 25 agents through the `serf members` CLI would fork a Go binary per query and load the very
// machine we measure; one persistent connection per agent costs next to nothing.
//
// Framing: every request is a header {Command, Seq} optionally followed by a body; every
// response is a header {Seq, Error} optionally followed by a body. Which responses carry a
// body depends on the command, so each pending Seq records what it expects.
import { connect, type Socket } from 'node:net';
import { Packr, UnpackrStream } from 'msgpackr';

export interface SerfMember {
  readonly name: string;
  readonly port: number;
  /** alive | leaving | left | failed | none */
  readonly status: string;
}

export interface SerfMemberEvent {
  /** e.g. member-join, member-failed, member-leave, member-update, member-reap */
  readonly event: string;
  readonly members: readonly SerfMember[];
  /** performance.now() when the event arrived here. */
  readonly receivedAtMs: number;
}

type Pending =
  | { readonly kind: 'header-only'; readonly resolve: () => void; readonly reject: (e: Error) => void }
  | { readonly kind: 'with-body'; readonly resolve: (body: unknown) => void; readonly reject: (e: Error) => void }
  | { readonly kind: 'stream'; acked: boolean; readonly ack: (error: Error | undefined) => void; readonly onEvent: (body: unknown) => void };

const packr = new Packr({ useRecords: false });

export class SerfRpcClient {
  readonly #socket: Socket;
  readonly #pending = new Map<number, Pending>();
  #seq = 0;
  /** The header just read, whose body is the next value. */
  #awaitingBody: Pending | undefined;
  #closedError: Error | undefined;

  private constructor(socket: Socket) {
    this.#socket = socket;
    const decoder = new UnpackrStream({ useRecords: false, mapsAsObjects: true });
    socket.pipe(decoder);
    decoder.on('data', (value: unknown) => this.#onValue(value));
    decoder.on('error', (e: Error) => this.#fail(new Error(`serf rpc: undecodable data: ${e.message}`)));
    socket.on('error', (e) => this.#fail(e));
    socket.on('close', () => this.#fail(new Error('serf rpc: connection closed')));
  }

  /** Connects and performs the version-1 handshake. */
  static async connect(host: string, port: number, timeoutMs: number): Promise<SerfRpcClient> {
    const socket = connect({ host, port });
    socket.setNoDelay(true);
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      }),
      timeoutMs,
      `serf rpc connect ${host}:${port}`,
    ).catch((e: unknown) => {
      socket.destroy();
      throw e;
    });
    const client = new SerfRpcClient(socket);
    try {
      await withTimeout(client.#headerOnly('handshake', { Version: 1 }), timeoutMs, 'serf rpc handshake');
    } catch (e) {
      client.close();
      throw e;
    }
    return client;
  }

  async members(timeoutMs: number): Promise<SerfMember[]> {
    const body = (await withTimeout(this.#withBody('members'), timeoutMs, 'serf rpc members')) as { Members?: unknown[] };
    return (body.Members ?? []).map(toMember);
  }

  /** Subscribes to events matching TYPE (e.g. "member-failed,member-leave", or "*"). */
  async stream(type: string, onEvent: (event: SerfMemberEvent) => void, timeoutMs: number): Promise<void> {
    this.#ensureOpen();
    const seq = this.#seq++;
    const acked = new Promise<void>((resolve, reject) => {
      this.#pending.set(seq, {
        kind: 'stream',
        acked: false,
        ack: (error) => (error === undefined ? resolve() : reject(error)),
        onEvent: (body) => {
          const b = body as { Event?: unknown; Members?: unknown[] };
          onEvent({ event: String(b.Event), members: (b.Members ?? []).map(toMember), receivedAtMs: performance.now() });
        },
      });
    });
    this.#write({ Command: 'stream', Seq: seq }, { Type: type });
    await withTimeout(acked, timeoutMs, 'serf rpc stream');
  }

  close(): void {
    this.#socket.destroy();
  }

  #headerOnly(command: string, body?: unknown): Promise<void> {
    this.#ensureOpen();
    const seq = this.#seq++;
    const done = new Promise<void>((resolve, reject) => this.#pending.set(seq, { kind: 'header-only', resolve, reject }));
    this.#write({ Command: command, Seq: seq }, body);
    return done;
  }

  #withBody(command: string): Promise<unknown> {
    this.#ensureOpen();
    const seq = this.#seq++;
    const done = new Promise<unknown>((resolve, reject) => this.#pending.set(seq, { kind: 'with-body', resolve, reject }));
    this.#write({ Command: command, Seq: seq });
    return done;
  }

  #write(header: unknown, body?: unknown): void {
    const parts = [packr.pack(header)];
    if (body !== undefined) parts.push(packr.pack(body));
    this.#socket.write(Buffer.concat(parts));
  }

  #onValue(value: unknown): void {
    const body = this.#awaitingBody;
    if (body !== undefined) {
      this.#awaitingBody = undefined;
      if (body.kind === 'with-body') body.resolve(value);
      else if (body.kind === 'stream') body.onEvent(value);
      return;
    }
    const header = value as { Seq?: unknown; Error?: unknown };
    const seq = Number(header.Seq);
    const error = typeof header.Error === 'string' && header.Error !== '' ? new Error(`serf rpc: ${header.Error}`) : undefined;
    const pending = this.#pending.get(seq);
    if (pending === undefined) {
      this.#fail(new Error(`serf rpc: response for unknown seq ${String(header.Seq)}`));
      return;
    }
    switch (pending.kind) {
      case 'header-only':
        this.#pending.delete(seq);
        if (error === undefined) pending.resolve();
        else pending.reject(error);
        return;
      case 'with-body':
        // serf sends the body even with an error set for members; keep the framing in step.
        this.#pending.delete(seq);
        if (error !== undefined) {
          pending.reject(error);
          this.#awaitingBody = { kind: 'with-body', resolve: () => undefined, reject: () => undefined };
          return;
        }
        this.#awaitingBody = pending;
        return;
      case 'stream':
        if (!pending.acked) {
          pending.acked = true;
          pending.ack(error);
          if (error !== undefined) this.#pending.delete(seq);
          return;
        }
        this.#awaitingBody = pending;
        return;
    }
  }

  #ensureOpen(): void {
    if (this.#closedError !== undefined) throw this.#closedError;
  }

  #fail(error: Error): void {
    if (this.#closedError !== undefined) return;
    this.#closedError = error;
    this.#socket.destroy();
    for (const pending of this.#pending.values()) {
      if (pending.kind === 'stream') {
        if (!pending.acked) pending.ack(error);
      } else pending.reject(error);
    }
    this.#pending.clear();
  }
}

function toMember(raw: unknown): SerfMember {
  const m = raw as { Name?: unknown; Port?: unknown; Status?: unknown };
  return { name: String(m.Name), port: Number(m.Port), status: String(m.Status) };
}

export async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
