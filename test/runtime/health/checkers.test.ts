// The agent-side probes against real loopback servers and real processes: http status mapping,
// timeouts (a server that never answers), bounded bodies, redirects; tcp accept and refusal;
// exec exit codes, bounded tail output, a clean environment, and the kill of the whole process
// group on timeout. No timing thresholds are asserted: timeouts are short and only their
// outcome is checked.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { utf8Bytes, MAX_CHECK_OUTPUT_BYTES } from '../../../src/core/health/output.ts';
import { SystemClock } from '../../../src/runtime/clock.ts';
import { runWithTimeout, type CheckRun } from '../../../src/runtime/health/check-result.ts';
import { execCheck } from '../../../src/runtime/health/exec-check.ts';
import { httpCheck, statusOfCode } from '../../../src/runtime/health/http-check.ts';
import { tcpCheck } from '../../../src/runtime/health/tcp-check.ts';

const clock = new SystemClock();
const run = (timeoutMs: number, r: CheckRun) => runWithTimeout(clock, timeoutMs, r);

function listen(server: Server | TcpServer, host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => {
      const a = server.address();
      assert.ok(a !== null && typeof a === 'object');
      resolve(a.port);
    });
  });
}

/** A port nothing listens on (bound by the OS, then released). */
async function closedPort(): Promise<number> {
  const s = createTcpServer();
  const port = await listen(s);
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('http check', () => {
  let server: Server;
  let port: number;
  const sockets = new Set<Socket>();
  const routes: Record<string, (res: ServerResponse) => void> = {
    '/ok': (res) => res.end('all good'),
    '/busy': (res) => res.writeHead(429).end('slow down'),
    '/broken': (res) => res.writeHead(500).end('db down'),
    '/big': (res) => res.end('y'.repeat(1_000_000)),
    '/hang': () => {},
    '/stall-body': (res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('partial');
    },
    '/slash': (res) => res.writeHead(301, { location: '/ok' }).end(),
    '/loop': (res) => res.writeHead(302, { location: '/loop' }).end(),
    '/elsewhere': (res) => res.writeHead(302, { location: 'http://127.0.0.2:9/ok' }).end(),
  };

  before(async () => {
    server = createServer((req, res) => (routes[req.url ?? ''] ?? ((r: ServerResponse) => r.writeHead(404).end()))(res));
    server.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    port = await listen(server);
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });

  const get = (path: string, timeoutMs = 2000) => run(timeoutMs, (signal) => httpCheck({ host: '127.0.0.1', port, path }, signal));

  it('maps 2xx to passing, 429 to warning, anything else to critical, with the status line and body', async () => {
    assert.deepEqual(await get('/ok'), { status: 'passing', output: `HTTP GET http://127.0.0.1:${port}/ok: 200 OK\nall good`, keep: 'head' });
    const busy = await get('/busy');
    assert.equal(busy.status, 'warning');
    assert.match(busy.output, /429 Too Many Requests\nslow down$/);
    const broken = await get('/broken');
    assert.equal(broken.status, 'critical');
    assert.match(broken.output, /500 Internal Server Error\ndb down$/);
    assert.equal((await get('/nothing')).status, 'critical');
    assert.deepEqual([200, 204, 299, 300, 404, 429, 503].map(statusOfCode), ['passing', 'passing', 'passing', 'critical', 'critical', 'warning', 'critical']);
  });

  it('reads a large body only up to the output bound', async () => {
    const big = await get('/big');
    assert.equal(big.status, 'passing');
    const body = big.output.slice(big.output.indexOf('\n') + 1);
    assert.equal(body, 'y'.repeat(MAX_CHECK_OUTPUT_BYTES));
  });

  it('times out on a server that never answers', async () => {
    const hung = await get('/hang', 150);
    assert.deepEqual(hung, { status: 'critical', output: `HTTP GET http://127.0.0.1:${port}/hang: timed out after 150 ms` });
  });

  it('keeps the status code when the body stalls past the timeout', async () => {
    const stalled = await get('/stall-body', 1000);
    assert.equal(stalled.status, 'passing');
    assert.match(stalled.output, /200 OK \(body cut short: timed out after 1000 ms\)\npartial$/);
  });

  it('follows same-origin redirects up to a bound, and not to another host', async () => {
    const followed = await get('/slash');
    assert.equal(followed.status, 'passing');
    assert.match(followed.output, /\/ok: 200 OK/);
    const loop = await get('/loop');
    assert.equal(loop.status, 'critical');
    assert.match(loop.output, /302 Found\nstopped after 3 redirects$/);
    const away = await get('/elsewhere');
    assert.equal(away.status, 'critical');
    assert.match(away.output, /redirect to http:\/\/127\.0\.0\.2:9\/ok not followed/);
  });

  it('is critical when the connection is refused', async () => {
    const p = await closedPort();
    const refused = await run(2000, (signal) => httpCheck({ host: '127.0.0.1', port: p, path: '/' }, signal));
    assert.equal(refused.status, 'critical');
    assert.match(refused.output, /ECONNREFUSED/);
  });

  it('speaks to an IPv6 loopback address when the host has one', async (t) => {
    const v6 = createServer((_req, res) => res.end('six'));
    let p: number;
    try {
      p = await listen(v6, '::1');
    } catch {
      t.skip('no IPv6 loopback here');
      return;
    }
    try {
      const r = await run(2000, (signal) => httpCheck({ host: '::1', port: p, path: '/' }, signal));
      assert.deepEqual(r, { status: 'passing', output: `HTTP GET http://[::1]:${p}/: 200 OK\nsix`, keep: 'head' });
    } finally {
      await new Promise<void>((r) => v6.close(() => r()));
    }
  });
});

describe('tcp check', () => {
  it('passes when the port accepts a connection and is critical when refused', async () => {
    const server = createTcpServer((s) => s.destroy());
    const port = await listen(server);
    try {
      assert.deepEqual(await run(2000, (signal) => tcpCheck({ host: '127.0.0.1', port }, signal)), { status: 'passing', output: `TCP connect 127.0.0.1:${port}: success` });
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
    const refused = await run(2000, (signal) => tcpCheck({ host: '127.0.0.1', port }, signal));
    assert.equal(refused.status, 'critical');
    assert.match(refused.output, new RegExp(`^TCP connect 127.0.0.1:${port}: .*ECONNREFUSED`));
  });

  it('is critical, without connecting, when its signal has already aborted', async () => {
    const ac = new AbortController();
    ac.abort(new Error('check stopped'));
    assert.deepEqual(await tcpCheck({ host: '127.0.0.1', port: 9 }, ac.signal), { status: 'critical', output: 'TCP connect 127.0.0.1:9: check stopped' });
  });
});

describe('exec check', () => {
  const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin' };
  const sh = (script: string, timeoutMs = 5000, extraEnv: Record<string, string> = {}) =>
    run(timeoutMs, (signal) => execCheck({ command: ['/bin/sh', '-c', script], env: { ...env, ...extraEnv } }, signal));

  it('maps exit 0 to passing, 1 to warning, others and signals to critical', async () => {
    assert.deepEqual(await sh('echo fine'), { status: 'passing', output: 'fine\n', keep: 'tail' });
    assert.deepEqual(await sh('echo degraded >&2; exit 1'), { status: 'warning', output: 'degraded\n', keep: 'tail' });
    assert.deepEqual(await sh('exit 2'), { status: 'critical', output: '/bin/sh: exit status 2', keep: 'tail' });
    const killed = await sh('echo bye; kill -TERM $$');
    assert.equal(killed.status, 'critical');
    assert.equal(killed.output, 'bye\n/bin/sh: ended by signal SIGTERM');
  });

  it('is critical when the program cannot be started', async () => {
    const r = await run(2000, (signal) => execCheck({ command: ['/nonexistent/check'], env }, signal));
    assert.equal(r.status, 'critical');
    assert.match(r.output, /^could not run \/nonexistent\/check: .*ENOENT/);
  });

  it('runs with only the environment it is given', async () => {
    const r = await sh('echo "$FOO-$HOME-$SAPPERS_SECRET"', 5000, { FOO: 'bar' });
    assert.equal(r.output, 'bar--\n');
  });

  it('keeps the tail of a long output, within the bound', async () => {
    const r = await sh(`i=0; while [ $i -lt 2000 ]; do echo "line $i of noise"; i=$((i+1)); done; echo THE END`);
    assert.equal(r.status, 'passing');
    assert.ok(utf8Bytes(r.output) <= MAX_CHECK_OUTPUT_BYTES, `${utf8Bytes(r.output)} bytes`);
    assert.match(r.output, /^\[output truncated: last part of \d+ bytes\]\n/);
    assert.match(r.output, /line 1999 of noise\nTHE END\n$/);
  });

  it('kills the whole process group when its time is up', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sappers-exec-check-'));
    try {
      const pidFile = join(dir, 'pid');
      const r = await sh(`sleep 30 & echo $! > ${pidFile}; echo started; wait`, 1000);
      assert.equal(r.status, 'critical');
      assert.equal(r.output, 'started\n/bin/sh: timed out after 1000 ms; killed');
      await waitGone(Number(readFileSync(pidFile, 'utf8').trim()));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('takes the exit status of a command whose leftover child holds its output open, and kills the child', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sappers-exec-check-'));
    try {
      const pidFile = join(dir, 'pid');
      const r = await sh(`sleep 30 & echo $! > ${pidFile}; exit 1`, 1000);
      assert.equal(r.status, 'warning');
      await waitGone(Number(readFileSync(pidFile, 'utf8').trim()));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** Waits until pid is gone or a zombie (killed, not yet reaped by its new parent). */
async function waitGone(pid: number): Promise<void> {
  assert.ok(Number.isSafeInteger(pid) && pid > 0, `pid ${pid}`);
  for (let i = 0; i < 200; i++) {
    let state: string;
    try {
      state = /^State:\s+(\S)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '';
    } catch {
      return;
    }
    if (state === 'Z' || state === 'X') return;
    await new Promise((r) => setTimeout(r, 10));
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone
  }
  assert.fail(`process ${pid} survived the check's kill`);
}
