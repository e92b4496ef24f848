// The node-side restart policy: when a task that ended is started again, when its allocation is
// given up on, and when a batch task is simply done.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { JobType, RestartPolicy } from '../../../src/core/scheduler/job.ts';
import { decideRestart, describeTaskEnd, restartDelayMs, RestartTracker, type TaskEnd } from '../../../src/core/scheduler/restart-tracker.ts';

const policy: RestartPolicy = { attempts: 3, intervalMs: 60_000, delayMs: 1000, backoff: 2, maxDelayMs: 3000 };
const crash: TaskEnd = { kind: 'exited', exitCode: 1 };
const clean: TaskEnd = { kind: 'exited', exitCode: 0 };

describe('restart tracker', () => {
  it('restarts with a delay growing by the backoff, capped, then fails past the attempts', () => {
    const t = new RestartTracker('service', policy);
    const a = t.onEnd(crash, 10_000);
    assert.deepEqual(a, { action: 'restart', atMs: 11_000, delayMs: 1000, attempt: 1, reason: 'exited with code 1; restarting in 1s (attempt 1 of 3)' });
    const b = t.onEnd(crash, 12_000);
    assert.equal(b.action === 'restart' && b.delayMs, 2000);
    const c = t.onEnd(crash, 15_000);
    assert.equal(c.action === 'restart' && c.delayMs, 3000, '4s is capped at maxDelayMs');
    assert.equal(t.restarts, 3);
    const d = t.onEnd(crash, 19_000);
    assert.equal(d.action, 'fail');
    assert.match(d.action === 'fail' ? d.reason : '', /exited with code 1; 3 restart\(s\) within 60s already, giving up/);
    assert.equal(t.restarts, 3, 'a failure is not a restart');
  });

  it('forgets restarts older than the interval, and the backoff starts over', () => {
    const t = new RestartTracker('service', policy);
    for (const at of [0, 1000, 2000]) assert.equal(t.onEnd(crash, at).action, 'restart');
    // At 60,000 the restart at 0 is exactly intervalMs old: out of the window.
    const d = t.onEnd(crash, 60_000);
    assert.equal(d.action, 'restart');
    assert.equal(d.action === 'restart' && d.attempt, 3);
    const later = t.onEnd(crash, 200_000);
    assert.deepEqual(later.action === 'restart' && [later.attempt, later.delayMs], [1, 1000]);
    assert.equal(t.restarts, 5);
  });

  it('a batch task that exits 0 is complete and never restarts; any other end restarts it', () => {
    const t = new RestartTracker('batch', policy);
    assert.deepEqual(t.onEnd(clean, 5), { action: 'complete', reason: 'exited with code 0' });
    assert.equal(t.onEnd(crash, 6).action, 'restart');
    assert.equal(t.onEnd({ kind: 'exited', exitCode: null, signal: 'SIGKILL' }, 7).action, 'restart');
    assert.equal(t.onEnd({ kind: 'unhealthy', detail: 'ttl expired' }, 8).action, 'restart');
    assert.equal(t.restarts, 3);
  });

  it('long-running kinds restart on any exit, exit 0 included, and on critical health', () => {
    for (const type of ['service', 'system', 'leader'] as const) {
      const t = new RestartTracker(type, policy);
      assert.equal(t.onEnd(clean, 0).action, 'restart', type);
      const h = t.onEnd({ kind: 'unhealthy', detail: 'http: 503' }, 1);
      assert.match(h.action === 'restart' ? h.reason : '', /^health critical: http: 503; restarting in 2s/);
    }
  });

  it('with attempts 0 the first end fails the allocation', () => {
    const d = decideRestart({ jobType: 'service', policy: { ...policy, attempts: 0 }, restartsAtMs: [], end: crash, nowMs: 0 });
    assert.deepEqual(d, { action: 'fail', reason: 'exited with code 1; the restart policy allows no restarts, giving up' });
  });

  it('describes ends for operators', () => {
    assert.equal(describeTaskEnd({ kind: 'exited', exitCode: null, signal: 'SIGTERM' }), 'killed by SIGTERM');
    assert.equal(describeTaskEnd({ kind: 'exited', exitCode: null }), 'killed (no exit status)');
    assert.equal(describeTaskEnd({ kind: 'unhealthy', detail: '' }), 'health critical');
  });

  it('never overflows the delay, and refuses a policy that makes no sense or time that goes back', () => {
    assert.equal(restartDelayMs({ ...policy, backoff: 10, maxDelayMs: 5000 }, 10_000), 5000);
    assert.throws(() => new RestartTracker('service', { ...policy, backoff: 0.5 }), /backoff/);
    assert.throws(() => new RestartTracker('service', { ...policy, attempts: 1.5 }), /attempts/);
    assert.throws(() => restartDelayMs(policy, 0), /attempt/);
    const t = new RestartTracker('service', policy);
    t.onEnd(crash, 100);
    assert.throws(() => t.onEnd(crash, 99), /time went back/);
  });

  it('agrees with a naive model that remembers every restart (property)', () => {
    const arbPolicy = fc.record({
      attempts: fc.integer({ min: 0, max: 5 }),
      intervalMs: fc.integer({ min: 0, max: 10_000 }),
      delayMs: fc.integer({ min: 0, max: 1000 }),
      backoff: fc.double({ min: 1, max: 4, noNaN: true }),
      maxDelayMs: fc.integer({ min: 0, max: 5000 }),
    });
    const arbEnd: fc.Arbitrary<TaskEnd> = fc.oneof(
      fc.record({ kind: fc.constant('exited' as const), exitCode: fc.option(fc.integer({ min: 0, max: 3 }), { nil: null }) }),
      fc.record({ kind: fc.constant('unhealthy' as const), detail: fc.constant('x') }),
    );
    const arbType = fc.constantFrom<JobType>('service', 'system', 'batch', 'leader');
    fc.assert(
      fc.property(arbType, arbPolicy, fc.array(fc.tuple(fc.integer({ min: 0, max: 4000 }), arbEnd), { maxLength: 30 }), (type, p, steps) => {
        const t = new RestartTracker(type, p);
        const all: number[] = [];
        let now = 0;
        for (const [gap, end] of steps) {
          now += gap;
          const got = t.onEnd(end, now);
          const done = type === 'batch' && end.kind === 'exited' && end.exitCode === 0;
          const recent = all.filter((x) => x > now - p.intervalMs).length;
          if (done) assert.equal(got.action, 'complete');
          else if (recent >= p.attempts) assert.equal(got.action, 'fail');
          else {
            assert.equal(got.action, 'restart');
            if (got.action !== 'restart') return;
            assert.equal(got.attempt, recent + 1);
            assert.equal(got.delayMs, Math.min(p.maxDelayMs, p.delayMs * p.backoff ** recent));
            assert.equal(got.atMs, now + got.delayMs);
            assert.ok(got.delayMs <= p.maxDelayMs);
            all.push(now);
          }
        }
        assert.equal(t.restarts, all.length);
      }),
    );
  });
});
