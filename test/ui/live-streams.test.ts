// The dashboard's streamed views without a browser: the shared status/members streams
// (live-views.ts: one connection per path however many listeners, the value replaced by every
// event, closed with the last listener) and the log follower's reading of a log stream
// (jobs-logfollow.ts: the tail's partial first line, rotation both ways, the skip when the
// writer outruns the reads, the bounded text). fetch is replaced by a scripted one; no agent.
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isLiveView, LiveViews, type ViewState } from '../../src/ui/live-views.ts';
import { LOG_TAIL_BYTES, LogFollower } from '../../src/ui/pages/jobs-logfollow.ts';
import type { AllocLogs } from '../../src/ui/pages/jobs-parts.ts';

const realFetch = globalThis.fetch;
afterEach(() => {
  globalThis.fetch = realFetch;
});

function until(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const look = (): void => {
      if (check()) resolve();
      else if (Date.now() > deadline) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(look, 5);
    };
    look();
  });
}

/** A scripted agent: every request gets a stream the test writes to. */
function scriptedStreams(): { requests: { path: string; accept: string; aborted: () => boolean; write: (text: string) => void }[] } {
  const requests: { path: string; accept: string; aborted: () => boolean; write: (text: string) => void }[] = [];
  globalThis.fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const encoder = new TextEncoder();
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({ start: (c) => void (controller = c) });
    const signal = init?.signal ?? undefined;
    requests.push({
      path: String(input),
      accept: String((init?.headers as Record<string, string> | undefined)?.['accept']),
      aborted: () => signal?.aborted === true,
      write: (text) => controller.enqueue(encoder.encode(text)),
    });
    return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
  }) as typeof fetch;
  return { requests };
}

describe('LiveViews', () => {
  it('knows which paths are live views', () => {
    assert.equal(isLiveView('/v1/status'), true);
    assert.equal(isLiveView('/v1/members'), true);
    assert.equal(isLiveView('/v1/members?x'), false);
    assert.equal(isLiveView('/v1/jobs'), false);
    assert.equal(isLiveView('toString'), false);
  });

  it('shares one stream per path, passes on each value and closes with the last listener', async () => {
    const { requests } = scriptedStreams();
    const views = new LiveViews();
    const a: ViewState[] = [];
    const b: ViewState[] = [];
    const offA = views.subscribe('/v1/members', (s) => a.push(s));
    const offB = views.subscribe('/v1/members', (s) => b.push(s));
    assert.equal(a[0]?.received, false);
    await until('the stream is asked for', () => requests.length === 1);
    assert.equal(requests[0]?.path, '/v1/members');
    assert.equal(requests[0]?.accept, 'text/event-stream');
    requests[0]?.write(': stream open\n\nevent: members\ndata: [{"id":"n1"}]\n\n');
    await until('the first value', () => a.length === 2 && b.length === 2);
    assert.deepEqual(a[1]?.value, [{ id: 'n1' }]);
    // Other events and broken JSON are ignored; the next value replaces the last.
    requests[0]?.write('event: other\ndata: 1\n\nevent: members\ndata: [\n\nevent: members\ndata: []\n\n');
    await until('the second value', () => a.length === 3);
    assert.deepEqual(a[2]?.value, []);
    // A late listener gets the last value at once, through the same stream.
    const c: ViewState[] = [];
    const offC = views.subscribe('/v1/members', (s) => c.push(s));
    assert.deepEqual(c[0]?.value, []);
    assert.equal(requests.length, 1);
    offA();
    offB();
    assert.equal(requests[0]?.aborted(), false, 'still one listener');
    offC();
    assert.equal(requests[0]?.aborted(), true, 'closed with the last listener');
  });

  it('stop closes the streams and start opens them again for the listeners left', async () => {
    const { requests } = scriptedStreams();
    const views = new LiveViews();
    const seen: ViewState[] = [];
    const off = views.subscribe('/v1/status', (s) => seen.push(s));
    await until('the stream', () => requests.length === 1);
    views.stop();
    assert.equal(requests[0]?.aborted(), true);
    views.start();
    await until('the stream again', () => requests.length === 2);
    requests[1]?.write('event: status\ndata: {"state":"active"}\n\n');
    await until('the value', () => seen.some((s) => s.received));
    off();
    assert.equal(requests[1]?.aborted(), true);
  });
});

function read(offset: number, text: string, size: number): AllocLogs {
  const bytes = new TextEncoder().encode(text);
  return { alloc: 'a1', stream: 'stdout', data: Buffer.from(bytes).toString('base64'), offset, nextOffset: offset + bytes.length, size };
}

describe('LogFollower', () => {
  it('starts at the tail without its partial first line, then appends and resumes from nextOffset', () => {
    const f = new LogFollower();
    assert.equal(f.next, -LOG_TAIL_BYTES);
    assert.equal(f.receive(read(100, 'tial\nline one\n', 114)), undefined);
    assert.equal(f.text, 'line one\n');
    assert.equal(f.next, 114);
    assert.equal(f.receive(read(114, 'line two\n', 123)), undefined);
    assert.equal(f.text, 'line one\nline two\n');
    assert.equal(f.size, 123);
  });

  it('keeps a whole file read from 0, and decodes characters split across reads', () => {
    const f = new LogFollower();
    const euro = new TextEncoder().encode('€\n');
    f.receive({ ...read(0, '', 1), data: Buffer.from(euro.slice(0, 1)).toString('base64'), nextOffset: 1 });
    f.receive({ ...read(1, '', 4), data: Buffer.from(euro.slice(1)).toString('base64'), nextOffset: 4 });
    assert.equal(f.text, '€\n');
  });

  it('marks a rotation when the agent read from 0 (the file shrank below our offset)', () => {
    const f = new LogFollower();
    f.receive(read(0, 'old output\n', 11));
    assert.equal(f.receive(read(0, 'new\n', 4)), undefined);
    assert.equal(f.text, 'old output\n--- log rotated ---\nnew\n');
    assert.equal(f.next, 4);
  });

  it('asks for a new stream from 0 when the file was truncated under an offset that still fits', () => {
    const f = new LogFollower();
    // We read the first 100 bytes of a 1000-byte file; then it is truncated and written again
    // up to 500 bytes before the next read: offset 100 still fits, but the size went down.
    f.receive(read(0, 'x'.repeat(99) + '\n', 1000));
    assert.equal(f.receive(read(100, 'middle\n', 500)), 0);
    assert.match(f.text, /--- log rotated ---\n$/);
    assert.ok(!f.text.includes('middle'), 'the read from the middle of the new file is not shown');
    assert.equal(f.next, 0);
    assert.equal(f.receive(read(0, 'fresh\n', 60)), undefined);
    assert.match(f.text, /--- log rotated ---\nfresh\n$/);
  });

  it('skips to the tail, with a marker, when the writer outruns the reads', () => {
    const f = new LogFollower();
    f.receive(read(0, 'a\n', 2));
    const reopenAt = f.receive(read(2, 'b\n', 2 + 4 * LOG_TAIL_BYTES));
    assert.equal(reopenAt, -LOG_TAIL_BYTES);
    assert.match(f.text, /b\n--- \d+ bytes skipped ---\n$/);
  });

  it('keeps at most its bound of text, cut at a line break', () => {
    const f = new LogFollower(50);
    let offset = 0;
    for (let i = 0; i < 20; i++) {
      const r = read(offset, `line ${i}\n`, offset + 7 + String(i).length);
      f.receive(r);
      offset = r.nextOffset;
    }
    assert.ok(f.text.length <= 50);
    assert.ok(f.text.endsWith('line 19\n'));
    assert.match(f.text, /^line \d+\n/);
  });
});
