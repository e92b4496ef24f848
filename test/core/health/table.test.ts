// The pure health table: initial states, TTL expiry at exactly the deadline, pushes resetting
// it, worst-of aggregation, transitions reported once and in order, bounded output, typed
// errors, and a property test against a naive model of random pushes, results and time steps.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { boundOutput, MAX_CHECK_OUTPUT_BYTES, utf8Bytes } from '../../../src/core/health/output.ts';
import { worstStatus, type CheckStatus } from '../../../src/core/health/status.ts';
import { HealthTable, type HealthTransition } from '../../../src/core/health/table.ts';
import type { HealthCheck } from '../../../src/core/scheduler/job.ts';

const ttl = (name: string, ttlMs: number): HealthCheck => ({ type: 'ttl', name, ttlMs });
const http = (name: string): HealthCheck => ({ type: 'http', name, path: '/health', intervalMs: 1000, timeoutMs: 500 });

function value<T, E>(r: { ok: true; value: T } | { ok: false; error: E }): T {
  if (!r.ok) assert.fail(`expected ok, got ${JSON.stringify(r.error)}`);
  return r.value;
}

const brief = (ts: readonly HealthTransition[]) => ts.map((t) => `${t.allocId}/${t.check}@${t.atMs}:${t.from}->${t.to} (${t.allocationFrom}->${t.allocationTo})`);

describe('HealthTable', () => {
  it('starts every check critical with no result yet; an allocation without checks is passing', () => {
    const t = new HealthTable();
    value(t.add('a1', [ttl('app', 1000), http('web')], 5));
    value(t.add('a2', [], 5));
    const s = t.state('a1');
    assert.ok(s !== undefined);
    assert.equal(s.status, 'critical');
    assert.deepEqual(s.checks.map((c) => [c.name, c.type, c.status, c.updatedAtMs, c.changedAtMs, c.expiresAtMs]), [
      ['app', 'ttl', 'critical', undefined, 5, undefined],
      ['web', 'http', 'critical', undefined, 5, undefined],
    ]);
    assert.match(s.checks[0]!.output, /waiting for the first push/);
    assert.equal(t.state('a2')?.status, 'passing');
    assert.equal(t.state('nope'), undefined);
    // Never pushed: nothing to expire.
    assert.equal(t.nextDeadlineMs(), undefined);
  });

  it('expires a TTL at exactly lastPush + ttlMs, not a millisecond before', () => {
    const t = new HealthTable();
    value(t.add('a', [ttl('app', 1000)], 0));
    assert.deepEqual(brief(value(t.push('a', 'app', 'passing', 'ok', 100))), ['a/app@100:critical->passing (critical->passing)']);
    assert.equal(t.nextDeadlineMs(), 1100);
    assert.deepEqual(t.expire(1099), []);
    assert.equal(t.state('a')?.status, 'passing');
    const expired = t.expire(1100);
    assert.deepEqual(brief(expired), ['a/app@1100:passing->critical (passing->critical)']);
    assert.match(expired[0]!.output, /^TTL expired: no push for 1000 ms; last output: ok$/);
    assert.equal(t.nextDeadlineMs(), undefined);
    // Reported once: a later look finds nothing new.
    assert.deepEqual(t.expire(5000), []);
    const c = t.state('a')!.checks[0]!;
    assert.equal(c.changedAtMs, 1100);
    assert.equal(c.updatedAtMs, 100, 'an expiry is not a push');
  });

  it('a late expire() dates the transition at the deadline', () => {
    const t = new HealthTable();
    value(t.add('a', [ttl('app', 1000)], 0));
    value(t.push('a', 'app', 'warning', '', 0));
    assert.deepEqual(brief(t.expire(7777)), ['a/app@1000:warning->critical (warning->critical)']);
    assert.equal(t.state('a')!.checks[0]!.output, 'TTL expired: no push for 1000 ms');
  });

  it('every push resets the TTL, a critical push included; same status reports nothing', () => {
    const t = new HealthTable();
    value(t.add('a', [ttl('app', 1000)], 0));
    value(t.push('a', 'app', 'passing', '', 0));
    assert.deepEqual(value(t.push('a', 'app', 'passing', 'still fine', 999)), []);
    assert.equal(t.nextDeadlineMs(), 1999);
    assert.deepEqual(t.expire(1998), []);
    assert.deepEqual(brief(value(t.push('a', 'app', 'critical', 'db down', 1998))), ['a/app@1998:passing->critical (passing->critical)']);
    assert.equal(t.nextDeadlineMs(), 2998);
    assert.deepEqual(t.expire(2998), [], 'already critical: the expiry changes the output only');
    assert.match(t.state('a')!.checks[0]!.output, /TTL expired.*db down/);
  });

  it('a push at exactly the deadline comes after the expiry it missed', () => {
    const t = new HealthTable();
    value(t.add('a', [ttl('app', 1000)], 0));
    value(t.push('a', 'app', 'passing', '', 0));
    assert.deepEqual(brief(value(t.push('a', 'app', 'passing', '', 1000))), ['a/app@1000:passing->critical (passing->critical)', 'a/app@1000:critical->passing (critical->passing)']);
    assert.equal(t.nextDeadlineMs(), 2000);
  });

  it('aggregates to the worst check and reports the aggregate before and after each change', () => {
    const t = new HealthTable();
    value(t.add('a', [ttl('app', 1000), ttl('db', 5000), http('web')], 0));
    const steps: HealthTransition[] = [
      ...value(t.push('a', 'app', 'passing', '', 1)),
      ...value(t.push('a', 'db', 'warning', 'slow', 2)),
      ...t.record('a', 'web', 'passing', '200 OK', 3),
      ...value(t.push('a', 'db', 'passing', '', 4)),
      ...t.record('a', 'web', 'critical', '500', 5),
      ...t.record('a', 'web', 'passing', '200', 6),
    ];
    assert.deepEqual(brief(steps), [
      'a/app@1:critical->passing (critical->critical)',
      'a/db@2:critical->warning (critical->critical)',
      'a/web@3:critical->passing (critical->warning)',
      'a/db@4:warning->passing (warning->passing)',
      'a/web@5:passing->critical (passing->critical)',
      'a/web@6:critical->passing (critical->passing)',
    ]);
    assert.equal(t.state('a')?.status, 'passing');
    assert.equal(worstStatus([]), 'passing');
    assert.equal(worstStatus(['passing', 'warning', 'passing']), 'warning');
    assert.equal(worstStatus(['warning', 'critical', 'passing']), 'critical');
  });

  it('orders expiries of several allocations by deadline and gives the earliest deadline', () => {
    const t = new HealthTable();
    value(t.add('late', [ttl('x', 3000)], 0));
    value(t.add('early', [ttl('x', 1000)], 0));
    value(t.push('late', 'x', 'passing', '', 0));
    value(t.push('early', 'x', 'passing', '', 500));
    assert.equal(t.nextDeadlineMs(), 1500);
    assert.deepEqual(brief(t.expire(10_000)), ['early/x@1500:passing->critical (passing->critical)', 'late/x@3000:passing->critical (passing->critical)']);
  });

  it('refuses pushes with typed errors: unknown allocation, unknown check, a check that is not ttl', () => {
    const t = new HealthTable();
    value(t.add('a', [ttl('app', 1000), http('web')], 0));
    assert.deepEqual(t.push('b', 'app', 'passing', '', 1), { ok: false, error: { kind: 'unknown-allocation', allocId: 'b' } });
    assert.deepEqual(t.push('a', 'nope', 'passing', '', 1), { ok: false, error: { kind: 'unknown-check', allocId: 'a', check: 'nope', known: ['app', 'web'] } });
    assert.deepEqual(t.push('a', 'web', 'passing', '', 1), { ok: false, error: { kind: 'not-ttl', allocId: 'a', check: 'web', checkType: 'http' } });
    assert.equal(t.state('a')?.checks[1]?.status, 'critical', 'a refused push changes nothing');
  });

  it('add refuses a duplicate and more than maxAllocations; remove forgets, and late results are dropped', () => {
    const t = new HealthTable({ maxAllocations: 2 });
    value(t.add('a', [http('web')], 0));
    assert.deepEqual(t.add('a', [], 0), { ok: false, error: { kind: 'duplicate-allocation', allocId: 'a' } });
    value(t.add('b', [ttl('app', 1000)], 0));
    assert.deepEqual(t.add('c', [], 0), { ok: false, error: { kind: 'too-many-allocations', allocId: 'c', max: 2 } });
    value(t.push('b', 'app', 'passing', '', 0));
    assert.equal(t.remove('b'), true);
    assert.equal(t.remove('b'), false);
    assert.equal(t.nextDeadlineMs(), undefined, 'a removed allocation leaves no deadline behind');
    assert.equal(t.remove('a'), true);
    assert.deepEqual(t.record('a', 'web', 'passing', '', 1), [], 'a result that arrives after remove is dropped');
    assert.equal(t.size, 0);
  });

  it('asserts on programmer errors: duplicate check names, recording into a ttl check, time going back', () => {
    const t = new HealthTable();
    assert.throws(() => t.add('a', [ttl('x', 1000), http('x')], 0), /appears twice/);
    value(t.add('b', [ttl('x', 1000)], 10));
    assert.throws(() => t.record('b', 'x', 'passing', '', 10), /ttl check/);
    assert.throws(() => t.expire(9), /time went backwards/);
  });

  it('bounds pushed and recorded output to 4 KiB of UTF-8 on a character boundary', () => {
    const t = new HealthTable();
    value(t.add('a', [ttl('app', 1000), http('web')], 0));
    value(t.push('a', 'app', 'passing', 'é'.repeat(10_000), 0));
    const pushed = t.state('a')!.checks[0]!.output;
    assert.ok(utf8Bytes(pushed) <= MAX_CHECK_OUTPUT_BYTES);
    assert.ok(utf8Bytes(pushed) > MAX_CHECK_OUTPUT_BYTES - 100);
    assert.match(pushed, /^é+\n\[output truncated: first part of 20000 bytes\]$/);
    t.record('a', 'web', 'critical', `${'x'.repeat(9000)}THE END`, 1, 'tail');
    const recorded = t.state('a')!.checks[1]!.output;
    assert.ok(utf8Bytes(recorded) <= MAX_CHECK_OUTPUT_BYTES);
    assert.match(recorded, /^\[output truncated: last part of 9007 bytes\]\nx+THE END$/);
    // The expiry note and the last output together stay bounded too.
    assert.ok(utf8Bytes(t.expire(1000)[0]!.output) <= MAX_CHECK_OUTPUT_BYTES);
  });

  // Characters of every UTF-8 width, and lone surrogates (3 bytes as U+FFFD).
  const mixedText = fc.array(fc.constantFrom('a', '\n', 'é', '€', '😀', '\ud800', '\udc00'), { maxLength: 300 }).map((a) => a.join(''));

  it('boundOutput: the identity when it fits, never over the bound, never splits a character', () => {
    assert.equal(boundOutput('short'), 'short');
    fc.assert(
      fc.property(mixedText, fc.integer({ min: 64, max: 300 }), fc.constantFrom('head' as const, 'tail' as const), (text, max, keep) => {
        const b = boundOutput(text, max, keep);
        assert.ok(utf8Bytes(b) <= max);
        if (utf8Bytes(text) <= max) assert.equal(b, text);
        else {
          const kept = keep === 'head' ? b.slice(0, b.lastIndexOf('\n[output truncated')) : b.slice(b.indexOf(']\n') + 2);
          assert.ok(keep === 'head' ? text.startsWith(kept) : text.endsWith(kept));
        }
        assert.equal(utf8Bytes(b), Buffer.byteLength(b, 'utf8'));
      }),
      { numRuns: 300 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Property: the table against a naive model that recomputes every status from the history.

type Op =
  | { readonly kind: 'push'; readonly alloc: number; readonly check: number; readonly status: CheckStatus; readonly dtMs: number }
  | { readonly kind: 'record'; readonly alloc: number; readonly status: CheckStatus; readonly dtMs: number }
  | { readonly kind: 'expire'; readonly dtMs: number };

const statusArb = fc.constantFrom<CheckStatus>('passing', 'warning', 'critical');
const dtArb = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 1500 }));
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('push' as const), alloc: fc.integer({ min: 0, max: 2 }), check: fc.integer({ min: 0, max: 2 }), status: statusArb, dtMs: dtArb }),
  fc.record({ kind: fc.constant('record' as const), alloc: fc.integer({ min: 0, max: 2 }), status: statusArb, dtMs: dtArb }),
  fc.record({ kind: fc.constant('expire' as const), dtMs: dtArb }),
);

/** Each allocation i has ttl checks t0..t1 (ttl 500 and 1000 ms) and one http check "h"; "t2" does not exist. */
const TTLS = [500, 1000];
const checksOf = (): HealthCheck[] => [ttl('t0', TTLS[0]!), ttl('t1', TTLS[1]!), http('h')];

interface ModelCheck {
  status: CheckStatus;
  deadline: number | undefined;
}

describe('HealthTable against a model', () => {
  it('reports exactly the status changes of the model, once each and in time order', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
        const table = new HealthTable();
        const model = new Map<string, Map<string, ModelCheck>>();
        let now = 0;
        for (let i = 0; i < 3; i++) {
          value(table.add(`a${i}`, checksOf(), 0));
          model.set(`a${i}`, new Map(['t0', 't1', 'h'].map((n) => [n, { status: 'critical' as CheckStatus, deadline: undefined }])));
        }
        const modelExpire = (): string[] => {
          const due: Array<{ a: string; c: string; m: ModelCheck; at: number }> = [];
          for (const [a, checks] of model) for (const [c, m] of checks) if (m.deadline !== undefined && m.deadline <= now) due.push({ a, c, m, at: m.deadline });
          due.sort((x, y) => x.at - y.at);
          const out: string[] = [];
          for (const d of due) {
            d.m.deadline = undefined;
            if (d.m.status !== 'critical') out.push(`${d.a}/${d.c}@${d.at}:${d.m.status}->critical`);
            d.m.status = 'critical';
          }
          return out;
        };
        const modelSet = (a: string, c: string, status: CheckStatus): string[] => {
          const m = model.get(a)!.get(c)!;
          const out = m.status === status ? [] : [`${a}/${c}@${now}:${m.status}->${status}`];
          m.status = status;
          return out;
        };
        const lastTo = new Map<string, CheckStatus>();
        for (const op of ops) {
          now += op.dtMs;
          let got: HealthTransition[];
          let want: string[];
          if (op.kind === 'expire') {
            got = table.expire(now);
            want = modelExpire();
          } else if (op.kind === 'record') {
            got = table.record(`a${op.alloc}`, 'h', op.status, 'r', now);
            want = [...modelExpire(), ...modelSet(`a${op.alloc}`, 'h', op.status)];
          } else {
            const a = `a${op.alloc}`;
            const c = `t${op.check}`;
            const r = table.push(a, c, op.status, 'p', now);
            if (op.check === 2) {
              assert.equal(r.ok, false);
              continue;
            }
            got = value(r);
            want = modelExpire();
            model.get(a)!.get(c)!.deadline = now + TTLS[op.check]!;
            want.push(...modelSet(a, c, op.status));
          }
          assert.deepEqual(got.map((t) => `${t.allocId}/${t.check}@${t.atMs}:${t.from}->${t.to}`), want);
          for (const t of got) {
            const key = `${t.allocId}/${t.check}`;
            assert.equal(t.from, lastTo.get(key) ?? 'critical', 'each transition starts where the last ended');
            assert.ok(t.atMs <= now);
            lastTo.set(key, t.to);
          }
          // States and aggregates agree with the model.
          for (const [a, checks] of model) {
            const s = table.state(a)!;
            for (const c of s.checks) assert.equal(c.status, checks.get(c.name)!.status);
            assert.equal(s.status, worstStatus([...checks.values()].map((m) => m.status)));
          }
          const deadlines = [...model.values()].flatMap((m) => [...m.values()].map((c) => c.deadline)).filter((d): d is number => d !== undefined);
          assert.equal(table.nextDeadlineMs(), deadlines.length === 0 ? undefined : Math.min(...deadlines));
        }
      }),
      { numRuns: 300 },
    );
  });
});
