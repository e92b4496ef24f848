// Server-sent events for the streaming routes (watch, events). Bounded: a client that stops
// reading is disconnected once its unsent backlog passes a limit, rather than growing our memory.

import type { FastifyReply, FastifyRequest } from 'fastify';

const MAX_BACKLOG_BYTES = 4 * 1024 * 1024;
/** A comment line now and then keeps proxies from closing an idle stream. */
const KEEPALIVE_MS = 15_000;

export interface SseStream {
  /** Sends one event; false once the stream is closed. */
  send(event: string, id: string | number | undefined, data: unknown): boolean;
  close(): void;
  readonly closed: boolean;
  /** Runs when the client goes away or the stream is closed. */
  onClose(fn: () => void): void;
}

export function wantsEventStream(request: FastifyRequest): boolean {
  return (request.headers.accept ?? '').includes('text/event-stream');
}

export function openSse(request: FastifyRequest, reply: FastifyReply): SseStream {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  res.write(': stream open\n\n');
  let closed = false;
  const closers: (() => void)[] = [];
  const keepalive = setInterval(() => {
    if (!closed) res.write(': keepalive\n\n');
  }, KEEPALIVE_MS);
  keepalive.unref();
  const close = (): void => {
    if (closed) return;
    closed = true;
    clearInterval(keepalive);
    for (const fn of closers) fn();
    res.end();
  };
  request.raw.on('close', close);
  return {
    send(event, id, data) {
      if (closed) return false;
      if (res.writableLength > MAX_BACKLOG_BYTES) {
        // The client does not keep up: tell it why, then let it reconnect from its last id.
        res.write(`event: error\ndata: ${JSON.stringify({ code: 'slow-consumer', message: `more than ${MAX_BACKLOG_BYTES} bytes unread; reconnect from the last id` })}\n\n`);
        close();
        return false;
      }
      res.write(`event: ${event}\n${id === undefined ? '' : `id: ${id}\n`}data: ${JSON.stringify(data)}\n\n`);
      return true;
    },
    close,
    get closed() {
      return closed;
    },
    onClose(fn) {
      closers.push(fn);
    },
  };
}

/** Coalesces bursts of changes (a write storm moves the commit index on every entry). */
const LIVE_DEBOUNCE_MS = 250;

/**
 * A live view over SSE: the current value at once (event `name`), then again whenever
 * `subscribe` reports a change and the value differs from the last one sent. For views whose
 * changes have no event of their own in the log (gossip status, Raft roles), so that clients
 * follow them without polling.
 */
export function streamLiveView(request: FastifyRequest, reply: FastifyReply, name: string, view: () => unknown, subscribe: (changed: () => void) => () => void): FastifyReply {
  const stream = openSse(request, reply);
  let last = '';
  let timer: NodeJS.Timeout | undefined;
  const push = (): void => {
    timer = undefined;
    const value = view();
    const text = JSON.stringify(value);
    if (text === last) return;
    last = text;
    stream.send(name, undefined, value);
  };
  push();
  const unsubscribe = subscribe(() => {
    timer ??= setTimeout(push, LIVE_DEBOUNCE_MS);
  });
  stream.onClose(() => {
    unsubscribe();
    if (timer !== undefined) clearTimeout(timer);
  });
  return reply;
}
