import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { median, percentileOfSorted, probeUntilWritable, runLoad, summarize, type LoadOp } from '../../bench/lib/kv-load.ts';
import { benchKey, keyIndexFor } from '../../bench/kv.bench.ts';

describe('percentileOfSorted', () => {
  it('is the nearest rank: the smallest value with at least p% at or below it', () => {
    const v = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    assert.equal(percentileOfSorted(v, 50), 5);
    assert.equal(percentileOfSorted(v, 99), 10);
    assert.equal(percentileOfSorted(v, 100), 10);
    assert.equal(percentileOfSorted(v, 10), 1);
    assert.equal(percentileOfSorted([7], 1), 7);
    assert.ok(Number.isNaN(percentileOfSorted([], 50)));
  });

  it('refuses percentiles outside (0, 100]', () => {
    assert.throws(() => percentileOfSorted([1], 0));
    assert.throws(() => percentileOfSorted([1], 101));
  });

  it('matches a naive count for any sorted input', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 1, maxLength: 200 }), fc.integer({ min: 1, max: 100 }), (raw, p) => {
        const sorted = [...raw].sort((a, b) => a - b);
        const got = percentileOfSorted(sorted, p);
        // At least p% of the values are <= got, and fewer than p% are < got.
        assert.ok(sorted.filter((x) => x <= got).length >= (p / 100) * sorted.length);
        assert.ok(sorted.filter((x) => x < got).length < (p / 100) * sorted.length);
      }),
    );
  });

  it('median sorts its input first', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2);
  });
});

describe('summarize', () => {
  it('gives throughput per second of window and latency percentiles', () => {
    const s = summarize({ ops: 4, windowMs: 2000, latenciesMs: [4, 1, 3, 2] });
    assert.equal(s.opsPerSecond, 2);
    assert.equal(s.p50Ms, 2);
    assert.equal(s.p99Ms, 4);
    assert.equal(s.maxMs, 4);
    assert.equal(s.meanMs, 2.5);
  });

  it('is NaN, not zero, where nothing completed', () => {
    const s = summarize({ ops: 0, windowMs: 1000, latenciesMs: [] });
    assert.equal(s.opsPerSecond, 0);
    assert.ok(Number.isNaN(s.p50Ms) && Number.isNaN(s.maxMs) && Number.isNaN(s.meanMs));
  });
});

describe('bench keys', () => {
  it('every client walks all 1000 keys in 1000 operations', () => {
    for (const client of [0, 1, 17, 63]) {
      const seen = new Set(Array.from({ length: 1000 }, (_, seq) => keyIndexFor(client, seq)));
      assert.equal(seen.size, 1000);
    }
    assert.equal(benchKey(7), 'bench/k0007');
    assert.equal(benchKey(1999), 'bench/k0999');
  });
});

describe('runLoad and probeUntilWritable against a local server', () => {
  let server: Server;
  let port = 0;
  /** Requests fail with 503 until this performance.now(). */
  let failUntil = 0;
  let seen = 0;
  before(async () => {
    server = createServer((req, res) => {
      seen += 1;
      req.resume();
      req.on('end', () => {
        if (performance.now() < failUntil) {
          res.writeHead(503).end('{"error":{"code":"no-leader","message":"x"}}');
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(`{"path":${JSON.stringify(req.url)}}`);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const op = (path: string): LoadOp => ({
    spec: { method: 'PUT', path, headers: {}, body: Buffer.from('v') },
    check: (status, body) => (status === 200 && body.toString().includes(path) ? undefined : `${status}`),
  });

  it('counts only successful operations in the window, and the failures by kind', async () => {
    failUntil = 0;
    const ok = await runLoad({ targets: [{ host: '127.0.0.1', port }], clients: 4, warmupMs: 50, durationMs: 200, op: (c, s) => op(`/k/${c}/${s}`), timeoutMs: 2000, errorPauseMs: 5 });
    assert.ok(ok.ops > 0);
    assert.equal(ok.errors, 0);
    assert.equal(ok.latenciesMs.length, ok.ops);
    assert.ok(ok.latenciesMs.every((l) => l >= 0 && l < 2000));
    assert.equal(ok.windowMs, 200);

    failUntil = Number.POSITIVE_INFINITY;
    const bad = await runLoad({ targets: [{ host: '127.0.0.1', port }], clients: 2, warmupMs: 0, durationMs: 100, op: (c, s) => op(`/k/${c}/${s}`), timeoutMs: 2000, errorPauseMs: 5 });
    assert.equal(bad.ops, 0);
    assert.ok(bad.errors > 0);
    assert.deepEqual([...bad.errorKinds.keys()], ['503']);
  });

  it('a stop signal ends the run early', async () => {
    failUntil = 0;
    const stop = new AbortController();
    setTimeout(() => stop.abort(), 50);
    const t0 = performance.now();
    const r = await runLoad({ targets: [{ host: '127.0.0.1', port }], clients: 2, warmupMs: 0, durationMs: 10_000, op: (c, s) => op(`/k/${c}/${s}`), timeoutMs: 2000, errorPauseMs: 5, stop: stop.signal });
    assert.ok(performance.now() - t0 < 5_000);
    assert.ok(r.windowMs < 5_000);
  });

  it('a connection refused is an error, not a crash', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const deadPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const r = await runLoad({ targets: [{ host: '127.0.0.1', port: deadPort }], clients: 1, warmupMs: 0, durationMs: 50, op: () => op('/x'), timeoutMs: 500, errorPauseMs: 5 });
    assert.equal(r.ops, 0);
    assert.ok(r.errors > 0);
  });

  it('the probe reports when writes first succeed after the start, to within its interval', async () => {
    const from = performance.now();
    failUntil = from + 120;
    const r = await probeUntilWritable({ targets: [{ host: '127.0.0.1', port }], fromMs: from, intervalMs: 10, timeoutMs: 1000, maxInFlight: 20, deadlineMs: 5000, op: (s) => op(`/p/${s}`) });
    assert.ok(r.recoveredAfterMs !== undefined);
    assert.ok(r.recoveredAfterMs >= 120, `recovered after ${r.recoveredAfterMs}`);
    assert.ok(r.failures > 0);
    assert.equal(r.lastFailure, '503');
  });

  it('the probe gives up at its deadline', async () => {
    failUntil = Number.POSITIVE_INFINITY;
    seen = 0;
    const r = await probeUntilWritable({ targets: [{ host: '127.0.0.1', port }], fromMs: performance.now(), intervalMs: 10, timeoutMs: 1000, maxInFlight: 5, deadlineMs: 100, op: (s) => op(`/p/${s}`) });
    assert.equal(r.recoveredAfterMs, undefined);
    assert.ok(seen > 0);
  });
});
