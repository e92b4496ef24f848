// The HealthMonitor: TTL checks on virtual time (one timer, expiry at the deadline, pushes
// resetting it, typed push errors), agent-side checks with fake probes on virtual time (first
// run staggered, interval plus jitter, never overlapping itself, timeouts, stop on remove and
// close, what each probe is given), and one run with the real probes on loopback.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import type { HealthCheck } from '../../../src/core/scheduler/job.ts';
import { SeededRandom, type Random } from '../../../src/core/random.ts';
import { SystemClock } from '../../../src/runtime/clock.ts';
import { abortMessage, type CheckResult } from '../../../src/runtime/health/check-result.ts';
import { HealthMonitor, INTERVAL_JITTER_FRACTION, type Checkers, type HealthChange } from '../../../src/runtime/health/monitor.ts';
import { VirtualClock } from '../../../src/sim/clock.ts';

/** float() always returns `f`: jitter becomes exact. */
function fixedRandom(f: number): Random {
  const r: Random = { nextUint32: () => Math.floor(f * 2 ** 32), float: () => f, int: (n) => Math.floor(f * n), fork: () => r };
  return r;
}

const flush = () => new Promise<void>((r) => setImmediate(r));
const brief = (cs: readonly HealthChange[]) => cs.map((c) => `${c.allocId}/${c.check}@${c.atMs}:${c.from}->${c.to}`);
const target = { host: '127.0.0.1', ports: { web: 8080, admin: 9090 }, servicePort: 'web' };

function value<T, E>(r: { ok: true; value: T } | { ok: false; error: E }): T {
  if (!r.ok) assert.fail(`expected ok, got ${JSON.stringify(r.error)}`);
  return r.value;
}

interface Call {
  readonly kind: keyof Checkers;
  readonly arg: unknown;
  readonly signal: AbortSignal;
  resolve(r: CheckResult): void;
}

/** Probes that wait until the test answers them (or answer with their abort reason). */
function manualCheckers(): { checkers: Checkers; calls: Call[] } {
  const calls: Call[] = [];
  const probe = (kind: keyof Checkers) => (arg: unknown, signal: AbortSignal) =>
    new Promise<CheckResult>((resolve) => {
      calls.push({ kind, arg, signal, resolve });
      signal.addEventListener('abort', () => resolve({ status: 'critical', output: abortMessage(signal) }), { once: true });
    });
  return { checkers: { http: probe('http'), tcp: probe('tcp'), exec: probe('exec') }, calls };
}

describe('HealthMonitor: TTL checks', () => {
  it('turns a TTL check critical exactly at the deadline, on one timer, and a push resets it', async () => {
    const clock = new VirtualClock();
    const m = new HealthMonitor({ clock, random: new SeededRandom(1), checkers: manualCheckers().checkers });
    const seen: HealthChange[] = [];
    m.onChange((cs) => seen.push(...cs));
    value(m.add('a1', [{ type: 'ttl', name: 'app', ttlMs: 1000 }, { type: 'ttl', name: 'db', ttlMs: 3000 }], target));
    assert.equal(clock.pendingCount(), 0, 'no deadline before the first push');
    assert.equal(m.status('a1')?.status, 'critical');
    value(m.push('a1', 'app', 'passing', 'ok'));
    value(m.push('a1', 'db', 'passing'));
    assert.equal(clock.pendingCount(), 1, 'one timer for all deadlines');
    assert.equal(m.status('a1')?.status, 'passing');
    clock.advance(999);
    value(m.push('a1', 'app', 'passing', 'still ok'));
    clock.advance(999);
    assert.deepEqual(brief(seen), ['a1/app@0:critical->passing', 'a1/db@0:critical->passing']);
    clock.advance(1);
    assert.deepEqual(brief(seen.slice(2)), ['a1/app@1999:passing->critical']);
    assert.equal(seen[2]!.allocationTo, 'critical');
    assert.equal(seen[2]!.atWallMs, clock.wallMs());
    const view = m.status('a1');
    assert.equal(view?.status, 'critical');
    assert.match(view!.checks[0]!.output, /^TTL expired: no push for 1000 ms; last output: still ok$/);
    assert.equal(view!.checks[0]!.expiresAtMs, null);
    assert.equal(view!.checks[1]!.expiresAtMs, clock.wallMs() + 1001);
    assert.equal(view!.checks[1]!.ttlMs, 3000);
    clock.advance(1001);
    assert.deepEqual(brief(seen.slice(3)), ['a1/db@3000:passing->critical']);
    assert.equal(clock.pendingCount(), 0, 'nothing left to time');
    await m.close();
  });

  it('refuses pushes with typed errors and answers status undefined for an unknown allocation', async () => {
    const clock = new VirtualClock();
    const m = new HealthMonitor({ clock, random: new SeededRandom(1), checkers: manualCheckers().checkers });
    value(m.add('a1', [{ type: 'ttl', name: 'app', ttlMs: 1000 }, { type: 'tcp', name: 'port', intervalMs: 1000, timeoutMs: 100 }], target));
    assert.deepEqual(m.push('zz', 'app', 'passing'), { ok: false, error: { kind: 'unknown-allocation', allocId: 'zz' } });
    assert.deepEqual(m.push('a1', 'nope', 'passing'), { ok: false, error: { kind: 'unknown-check', allocId: 'a1', check: 'nope', known: ['app', 'port'] } });
    assert.deepEqual(m.push('a1', 'port', 'passing'), { ok: false, error: { kind: 'not-ttl', allocId: 'a1', check: 'port', checkType: 'tcp' } });
    assert.deepEqual(m.add('a1', [], target), { ok: false, error: { kind: 'duplicate-allocation', allocId: 'a1' } });
    assert.equal(m.status('zz'), undefined);
    assert.equal(m.remove('a1'), true);
    assert.deepEqual(m.push('a1', 'app', 'passing'), { ok: false, error: { kind: 'unknown-allocation', allocId: 'a1' } });
    await m.close();
  });

  it('an allocation without checks is passing; unsubscribed listeners hear nothing', async () => {
    const clock = new VirtualClock();
    const m = new HealthMonitor({ clock, random: new SeededRandom(1) });
    value(m.add('bare', [], target));
    assert.deepEqual(m.status('bare'), { alloc: 'bare', status: 'passing', checks: [] });
    value(m.add('a', [{ type: 'ttl', name: 't', ttlMs: 1000 }], target));
    let heard = 0;
    const off = m.onChange(() => heard++);
    off();
    value(m.push('a', 't', 'passing'));
    assert.equal(heard, 0);
    await m.close();
  });
});

describe('HealthMonitor: agent-side checks', () => {
  const tcp: HealthCheck = { type: 'tcp', name: 'port', intervalMs: 10_000, timeoutMs: 2000 };

  it('staggers the first run, then runs every interval plus jitter, never overlapping itself', async () => {
    const clock = new VirtualClock();
    const { checkers, calls } = manualCheckers();
    const m = new HealthMonitor({ clock, random: fixedRandom(0.5), checkers });
    const seen: HealthChange[] = [];
    m.onChange((cs) => seen.push(...cs));
    value(m.add('a1', [tcp], target));
    clock.advance(499);
    assert.equal(calls.length, 0);
    clock.advance(1); // first run at 0.5 * min(10s, 1s)
    assert.equal(calls.length, 1);
    assert.deepEqual(calls[0]!.arg, { host: '127.0.0.1', port: 8080 });
    // The run takes a while: no second run starts meanwhile, however long it takes (up to its timeout).
    clock.advance(1500);
    assert.equal(calls.length, 1);
    calls[0]!.resolve({ status: 'passing', output: 'up' });
    await flush();
    assert.deepEqual(brief(seen), ['a1/port@2000:critical->passing']);
    const nextAt = 2000 + 10_000 + 0.5 * 10_000 * INTERVAL_JITTER_FRACTION;
    clock.runUntil(nextAt - 1);
    assert.equal(calls.length, 1);
    clock.runUntil(nextAt);
    assert.equal(calls.length, 2, 'the next run waits the interval plus jitter after the last one ended');
    calls[1]!.resolve({ status: 'passing', output: 'up' });
    await flush();
    assert.equal(seen.length, 1, 'no transition when the status stays');
    await m.close();
  });

  it('a run that outlasts its timeout is aborted and recorded critical', async () => {
    const clock = new VirtualClock();
    const { checkers, calls } = manualCheckers();
    const m = new HealthMonitor({ clock, random: fixedRandom(0), checkers });
    value(m.add('a1', [tcp], target));
    clock.advance(0);
    assert.equal(calls.length, 1);
    clock.advance(1999);
    assert.equal(calls[0]!.signal.aborted, false);
    clock.advance(1);
    assert.equal(calls[0]!.signal.aborted, true);
    await flush();
    const c = m.status('a1')!.checks[0]!;
    assert.equal(c.output, 'timed out after 2000 ms');
    assert.equal(c.updatedAtMs, clock.wallMs());
    await m.close();
  });

  it('gives each probe its port, path, command, environment and working directory', async () => {
    const clock = new VirtualClock();
    const { checkers, calls } = manualCheckers();
    const m = new HealthMonitor({ clock, random: fixedRandom(0), checkers, baseEnv: { PATH: '/bin', HOME: '/base' } });
    value(
      m.add(
        'a1',
        [
          { type: 'http', name: 'web', path: '/health?deep=1', intervalMs: 5000, timeoutMs: 1000 },
          { type: 'http', name: 'admin', path: '/ready', intervalMs: 5000, timeoutMs: 1000, port: 'admin' },
          { type: 'exec', name: 'script', command: ['/bin/check', '--quick'], intervalMs: 5000, timeoutMs: 1000 },
        ],
        { ...target, env: { SAPPERS_ALLOC_ID: 'a1', HOME: '/alloc' }, cwd: '/data/a1' },
      ),
    );
    clock.advance(0);
    assert.deepEqual(
      calls.map((c) => [c.kind, c.arg]),
      [
        ['http', { host: '127.0.0.1', port: 8080, path: '/health?deep=1' }],
        ['http', { host: '127.0.0.1', port: 9090, path: '/ready' }],
        ['exec', { command: ['/bin/check', '--quick'], env: { PATH: '/bin', HOME: '/alloc', SAPPERS_ALLOC_ID: 'a1' }, cwd: '/data/a1' }],
      ],
    );
    await m.close();
  });

  it('reports a port label the allocation lacks as critical instead of probing', async () => {
    const clock = new VirtualClock();
    const { checkers, calls } = manualCheckers();
    const m = new HealthMonitor({ clock, random: fixedRandom(0), checkers });
    value(m.add('a1', [{ ...tcp, port: 'metrics' }], target));
    clock.advance(0);
    await flush();
    assert.equal(calls.length, 0);
    assert.equal(m.status('a1')!.checks[0]!.output, 'no port labelled "metrics" in this allocation (ports: web, admin)');
    await m.close();
  });

  it('remove stops timers, aborts the run in flight and drops its late result', async () => {
    const clock = new VirtualClock();
    const { checkers, calls } = manualCheckers();
    const m = new HealthMonitor({ clock, random: fixedRandom(0), checkers });
    const seen: HealthChange[] = [];
    m.onChange((cs) => seen.push(...cs));
    value(m.add('a1', [tcp], target));
    value(m.add('a2', [tcp, { type: 'ttl', name: 't', ttlMs: 5000 }], target));
    value(m.push('a2', 't', 'passing'));
    clock.advance(0);
    assert.equal(calls.length, 2);
    assert.equal(m.remove('a1'), true);
    assert.equal(calls[0]!.signal.aborted, true);
    assert.equal(abortMessage(calls[0]!.signal), 'check stopped');
    await flush();
    assert.equal(m.remove('a2'), true);
    await flush();
    assert.deepEqual(brief(seen), ['a2/t@0:critical->passing'], 'nothing recorded for removed allocations');
    assert.equal(clock.pendingCount(), 0, 'no timers left (check intervals, timeouts, the TTL deadline)');
    clock.advance(60_000);
    assert.equal(calls.length, 2);
    await m.close();
  });

  it('close aborts every run and resolves once they have ended', async () => {
    const clock = new VirtualClock();
    const { checkers, calls } = manualCheckers();
    const m = new HealthMonitor({ clock, random: fixedRandom(0), checkers });
    value(m.add('a1', [tcp, { ...tcp, name: 'second' }], target));
    clock.advance(0);
    await m.close();
    assert.ok(calls.every((c) => c.signal.aborted));
    assert.equal(clock.pendingCount(), 0);
    assert.deepEqual(m.allocationIds(), []);
    assert.throws(() => m.add('a2', [], target), /add after close/);
  });
});

describe('HealthMonitor with the real probes', () => {
  it('runs http, tcp and exec checks against loopback and reaches passing, then stops cleanly', { timeout: 20_000 }, async () => {
    let healthy = false;
    const http = createServer((_req, res) => res.writeHead(healthy ? 200 : 503).end(healthy ? 'ok' : 'starting'));
    const tcp = createTcpServer((s) => s.destroy());
    const listen = (s: typeof http | typeof tcp) =>
      new Promise<number>((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as { port: number }).port)));
    const [httpPort, tcpPort] = [await listen(http), await listen(tcp)];
    const m = new HealthMonitor({ clock: new SystemClock(), random: new SeededRandom(7) });
    try {
      const changes: HealthChange[] = [];
      const passing = new Promise<void>((resolve) =>
        m.onChange((cs) => {
          changes.push(...cs);
          if (cs.some((c) => c.allocationTo === 'passing')) resolve();
        }),
      );
      value(
        m.add(
          'a1',
          [
            { type: 'http', name: 'web', path: '/health', intervalMs: 20, timeoutMs: 1000 },
            { type: 'tcp', name: 'port', intervalMs: 20, timeoutMs: 1000, port: 'raw' },
            { type: 'exec', name: 'script', command: ['/bin/sh', '-c', 'echo "$SAPPERS_ALLOC_ID fine"'], intervalMs: 20, timeoutMs: 2000 },
          ],
          { host: '127.0.0.1', ports: { web: httpPort, raw: tcpPort }, servicePort: 'web', env: { SAPPERS_ALLOC_ID: 'a1' } },
        ),
      );
      // The http check sees 503 until the app is ready; the others pass.
      while (!changes.some((c) => c.check === 'port') || !changes.some((c) => c.check === 'script')) await new Promise((r) => setTimeout(r, 10));
      assert.equal(m.status('a1')?.status, 'critical');
      assert.match(m.status('a1')!.checks[0]!.output, /503 Service Unavailable\nstarting$/);
      healthy = true;
      await passing;
      const view = m.status('a1')!;
      assert.deepEqual(view.checks.map((c) => c.status), ['passing', 'passing', 'passing']);
      assert.equal(view.checks[2]!.output, 'a1 fine\n');
    } finally {
      await m.close();
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
      await new Promise<void>((r) => tcp.close(() => r()));
    }
  });
});
