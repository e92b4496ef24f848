// The dashboard shell's logic without a browser: the SSE parser and the stream's reconnect
// from the last id (api.ts), the shared event stream's head-then-follow and throttled news
// (live.ts), the hash router (route-match.ts), the flap counter (flaps.ts) and the text formats.
// fetch is replaced by a scripted one; no agent, no DOM.
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError, apiSend, openStream, SseParser, type StreamMessage } from '../../src/ui/api.ts';
import { FLAP_CHANGES, FLAP_WINDOW_MS, FlapTracker } from '../../src/ui/flaps.ts';
import { formatBytes, formatDuration } from '../../src/ui/format.ts';
import { LiveHub, RECENT_EVENTS, type ClusterEvent } from '../../src/ui/live.ts';
import { matchPath, parseHash } from '../../src/ui/route-match.ts';
import type { Member } from '../../src/ui/types.ts';

const realFetch = globalThis.fetch;
afterEach(() => {
  globalThis.fetch = realFetch;
});

function sseBody(chunks: readonly string[], keepOpen = false): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const c of chunks) controller.enqueue(encoder.encode(c));
      if (!keepOpen) controller.close();
    },
  });
}

function until(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const poll = (): void => {
      if (check()) resolve();
      else if (Date.now() > deadline) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(poll, 10);
    };
    poll();
  });
}

function event(seq: number, type = 'kv.put'): ClusterEvent {
  return { seq, index: seq, atMs: 1000 * seq, type, subject: `s${seq}`, detail: {}, prevHash: '', hash: `h${seq}` };
}

function frame(e: ClusterEvent): string {
  return `event: cluster-event\nid: ${e.seq}\ndata: ${JSON.stringify(e)}\n\n`;
}

describe('SseParser', () => {
  it('reassembles events split anywhere, with CRLF, comments, multi-line data and a sticky id', () => {
    const text = ': stream open\r\n\r\nevent: put\r\nid: 7\r\ndata: {"a":\r\ndata: 1}\r\n\r\ndata: plain\n\nevent: x\nid\ndata:no-space\n\n';
    for (let cut = 0; cut <= text.length; cut++) {
      const got: StreamMessage[] = [];
      const parser = new SseParser((m) => got.push(m));
      parser.push(text.slice(0, cut));
      parser.push(text.slice(cut));
      assert.deepEqual(
        got,
        [
          { event: 'put', data: '{"a":\n1}', id: '7' },
          // The last event id stays until a new one is given (HTML, "Server-sent events").
          { event: 'message', data: 'plain', id: '7' },
          { event: 'x', data: 'no-space', id: '' },
        ],
        `cut at ${cut}`,
      );
    }
  });

  it('refuses an event that never ends instead of growing without bound', () => {
    const parser = new SseParser(() => undefined);
    assert.throws(() => parser.push(`data: ${'x'.repeat(5 * 1024 * 1024)}`), ApiError);
  });
});

describe('openStream', () => {
  it('sends the token, and after the stream ends reconnects from the last id', async () => {
    const calls: { url: string; auth: string | undefined }[] = [];
    globalThis.fetch = (async (input: string | URL | Request, init?: RequestInit) => {
      const headers = (init?.headers ?? {}) as Record<string, string>;
      calls.push({ url: String(input), auth: headers['authorization'] });
      const body = calls.length === 1 ? sseBody([frame(event(1)), frame(event(2))]) : sseBody([frame(event(3))], true);
      return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
    }) as typeof fetch;
    (globalThis as { sessionStorage?: unknown }).sessionStorage = fakeStorage({ 'sappers.token': 'tok' });
    try {
      const seen: string[] = [];
      const errors: unknown[] = [];
      const close = openStream('/v1/events?from=1', (m) => seen.push(m.id ?? ''), { resume: (id) => `/v1/events?from=${Number(id) + 1}`, onError: (e) => errors.push(e) });
      await until('the third event', () => seen.length === 3);
      close();
      assert.deepEqual(seen, ['1', '2', '3']);
      assert.deepEqual(
        calls.map((c) => c.url),
        ['/v1/events?from=1', '/v1/events?from=3'],
      );
      assert.ok(calls.every((c) => c.auth === 'Bearer tok'));
      assert.equal(errors.length, 1, 'the end of the first stream is reported once');
    } finally {
      delete (globalThis as { sessionStorage?: unknown }).sessionStorage;
    }
  });

  it('stops for good on 401 and tells why', async () => {
    let calls = 0;
    globalThis.fetch = (async () => {
      calls++;
      return new Response(JSON.stringify({ error: { code: 'unauthorized', message: 'needs the token' } }), { status: 401, headers: { 'content-type': 'application/json' } });
    }) as typeof fetch;
    const errors: unknown[] = [];
    const close = openStream('/v1/events', () => undefined, { onError: (e) => errors.push(e) });
    await until('the refusal', () => errors.length === 1);
    await new Promise((r) => setTimeout(r, 700));
    close();
    assert.equal(calls, 1, 'no retry after a refused token');
    assert.ok(errors[0] instanceof ApiError && errors[0].status === 401 && errors[0].message === 'needs the token');
  });
});

describe('apiSend', () => {
  it('sends objects as JSON and strings and bytes as they are', async () => {
    const sent: { type: string | undefined; body: unknown }[] = [];
    globalThis.fetch = (async (_input: string | URL | Request, init?: RequestInit) => {
      sent.push({ type: (init?.headers as Record<string, string>)['content-type'], body: init?.body });
      return new Response('{"revision":2}', { status: 200, headers: { 'content-type': 'application/json' } });
    }) as typeof fetch;
    assert.deepEqual(await apiSend('PUT', '/v1/kv/a', 'text'), { revision: 2 });
    await apiSend('PUT', '/v1/kv/a', new Uint8Array([1, 2]));
    await apiSend('POST', '/v1/jobs', { spec: { job: 'x' } });
    await apiSend('DELETE', '/v1/kv/a');
    assert.deepEqual(sent, [
      { type: 'text/plain; charset=utf-8', body: 'text' },
      { type: 'application/octet-stream', body: new Uint8Array([1, 2]) },
      { type: 'application/json', body: '{"spec":{"job":"x"}}' },
      { type: undefined, body: undefined },
    ]);
  });

  it('turns an API error into ApiError with its code and message, and a network failure into status 0', async () => {
    globalThis.fetch = (async () => new Response('{"error":{"code":"conflict","message":"modRevision is 5"}}', { status: 409, headers: { 'content-type': 'application/json' } })) as typeof fetch;
    await assert.rejects(apiSend('PUT', '/v1/kv/a?cas=4', 'x'), (e: unknown) => e instanceof ApiError && e.status === 409 && e.code === 'conflict' && e.message === 'modRevision is 5');
    globalThis.fetch = (async () => {
      throw new TypeError('fetch failed');
    }) as typeof fetch;
    await assert.rejects(apiSend('DELETE', '/v1/kv/a'), (e: unknown) => e instanceof ApiError && e.status === 0 && e.code === 'unreachable');
  });
});

describe('LiveHub', () => {
  it('loads the recent events, then reports only newer ones as news, throttled', async () => {
    const head = 250;
    const urls: string[] = [];
    let push: ((e: ClusterEvent) => void) | undefined;
    globalThis.fetch = (async (input: string | URL | Request) => {
      const url = String(input);
      urls.push(url);
      if (url.startsWith('/v1/events?limit=1')) return new Response(JSON.stringify({ head: { seq: head } }), { status: 200, headers: { 'content-type': 'application/json' } });
      const encoder = new TextEncoder();
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let s = head - RECENT_EVENTS + 1; s <= head; s++) controller.enqueue(encoder.encode(frame(event(s))));
          push = (e) => controller.enqueue(encoder.encode(frame(e)));
        },
      });
      return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
    }) as typeof fetch;
    const hub = new LiveHub();
    let news = 0;
    hub.onNews(() => news++);
    hub.start();
    try {
      await until('the recent events', () => hub.recent.length === RECENT_EVENTS);
      assert.equal(urls[1], `/v1/events?from=${head - RECENT_EVENTS + 1}`);
      assert.equal(hub.state, 'live');
      await new Promise((r) => setTimeout(r, 400));
      assert.equal(news, 0, 'replayed events are not news');
      for (let s = head + 1; s <= head + 5; s++) push!(event(s, 'autopilot.promote'));
      await until('news', () => news > 0);
      await new Promise((r) => setTimeout(r, 400));
      assert.equal(news, 1, 'a burst is one piece of news');
      assert.equal(hub.recent.at(-1)?.seq, head + 5);
    } finally {
      hub.stop();
    }
  });
});

describe('router', () => {
  const routes = [{ pattern: '#/' }, { pattern: '#/jobs' }, { pattern: '#/jobs/:name' }, { pattern: '#/allocs/:id' }] as const;
  it('matches paths, decodes parameters and keeps the query apart', () => {
    assert.equal(parseHash('').path, '#/');
    assert.equal(parseHash('#').path, '#/');
    assert.equal(matchPath(routes, parseHash('').path)?.route.pattern, '#/');
    assert.deepEqual(matchPath(routes, '#/jobs/web%2Fapi')?.params, { name: 'web/api' });
    assert.equal(matchPath(routes, '#/jobs/')?.route.pattern, '#/jobs');
    const loc = parseHash('#/jobs?filter=a%20b');
    assert.equal(loc.path, '#/jobs');
    assert.equal(loc.query.get('filter'), 'a b');
    assert.equal(matchPath(routes, '#/nothing'), undefined);
    assert.equal(matchPath(routes, '#/jobs/a/b'), undefined);
    assert.deepEqual(matchPath(routes, '#/allocs/%E0%A4%A')?.params, { id: '%E0%A4%A' }, 'a bad escape is kept as it is');
  });
});

describe('FlapTracker', () => {
  const member = (status: Member['status'], statusSince: string): Member =>
    ({ id: 'n1', addr: '', status, role: 'voter', incarnation: 0, version: '', protocol: 1, tags: {}, resources: { cpuCores: 1, memoryTotalBytes: 1, memoryFreeBytes: 1, diskFreeBytes: 1, load1: 0 }, rpcAddr: '', httpAddr: '', startedAt: '', statusSince }) as Member;

  it('calls a node flapping after enough status changes in the window, and forgets old ones', () => {
    const t = new FlapTracker();
    t.observe([member('alive', 't0')], 0);
    t.observe([member('dead', 't1')], 2000);
    t.observe([member('alive', 't2')], 4000);
    assert.deepEqual(t.flapping(4000), [], 'two changes are not flapping');
    // Same status, newer statusSince: it went away and came back between two looks.
    t.observe([member('alive', 't4')], 6000);
    assert.equal(FLAP_CHANGES, 4);
    assert.deepEqual(t.flapping(6000), [{ id: 'n1', changes: 4, status: 'alive' }]);
    assert.deepEqual(t.flapping(2000 + FLAP_WINDOW_MS + 1), [], 'changes older than the window do not count');
  });

  it('counts nothing for a steady node', () => {
    const t = new FlapTracker();
    for (let i = 0; i < 100; i++) t.observe([member('alive', 't0')], i * 2000);
    assert.deepEqual(t.flapping(200_000), []);
  });
});

describe('formats', () => {
  it('prints sizes and durations', () => {
    assert.equal(formatBytes(0), '0 B');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(25276510208), '23.5 GiB');
    assert.equal(formatDuration(0), '0s');
    assert.equal(formatDuration(125), '2m 5s');
    assert.equal(formatDuration(93784), '1d 2h');
    assert.equal(formatDuration(3600), '1h');
  });
});

function fakeStorage(initial: Record<string, string>): Storage {
  const map = new Map(Object.entries(initial));
  return {
    get length() {
      return map.size;
    },
    clear: () => map.clear(),
    getItem: (k: string) => map.get(k) ?? null,
    key: (i: number) => [...map.keys()][i] ?? null,
    removeItem: (k: string) => void map.delete(k),
    setItem: (k: string, v: string) => void map.set(k, v),
  };
}
