import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DriftingClock, VirtualClock } from '../../src/sim/clock.ts';
import { EventQueue } from '../../src/sim/event-queue.ts';

describe('EventQueue', () => {
  it('pops by time, then by insertion order (property, against a sort)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 20 }), fc.boolean()), { maxLength: 200 }), (items) => {
        const q = new EventQueue();
        const handles = items.map(([t], i) => q.schedule(t, () => i));
        items.forEach(([, cancel], i) => {
          if (cancel) handles[i]!.cancel();
        });
        const expected = items
          .map(([t, cancel], i) => ({ t, cancel, i }))
          .filter((x) => !x.cancel)
          .sort((a, b) => a.t - b.t || a.i - b.i)
          .map((x) => x.i);
        assert.equal(q.size, expected.length);
        const got: number[] = [];
        for (let e = q.pop(); e !== undefined; e = q.pop()) got.push(e.fn() as unknown as number);
        assert.deepEqual(got, expected);
      }),
    );
  });

  it('stays correct across compaction of many cancelled events', () => {
    const q = new EventQueue();
    const keep: number[] = [];
    for (let i = 0; i < 5000; i++) {
      const h = q.schedule(i % 97, () => {});
      if (i % 5 === 0) keep.push(i);
      else h.cancel();
    }
    assert.equal(q.size, keep.length);
    let last = -1;
    let n = 0;
    for (let e = q.pop(); e !== undefined; e = q.pop()) {
      assert.ok(e.atMs >= last);
      last = e.atMs;
      n++;
    }
    assert.equal(n, keep.length);
  });
});

describe('VirtualClock', () => {
  it('does not move until stepped, then jumps to the next timer', () => {
    const clock = new VirtualClock({ startMs: 100, wallOriginMs: 1_000_000 });
    const fired: string[] = [];
    clock.setTimer(50, () => fired.push(`a@${clock.nowMs()}`));
    clock.setTimer(10, () => fired.push(`b@${clock.nowMs()}`));
    assert.equal(clock.nowMs(), 100);
    assert.equal(clock.wallMs(), 1_000_100);
    assert.equal(clock.step(), true);
    assert.deepEqual(fired, ['b@110']);
    assert.equal(clock.step(), true);
    assert.deepEqual(fired, ['b@110', 'a@150']);
    assert.equal(clock.step(), false);
    assert.equal(clock.nowMs(), 150);
  });

  it('runs ties in scheduling order, including timers set by callbacks', () => {
    const clock = new VirtualClock();
    const order: string[] = [];
    clock.setTimer(5, () => {
      order.push('first');
      clock.setTimer(0, () => order.push('nested'));
    });
    clock.setTimer(5, () => order.push('second'));
    clock.advance(5);
    assert.deepEqual(order, ['first', 'second', 'nested']);
  });

  it('never fires a cancelled timer, and cancel is idempotent', () => {
    const clock = new VirtualClock();
    let fired = 0;
    const t = clock.setTimer(10, () => fired++);
    t.cancel();
    t.cancel();
    clock.setTimer(20, () => fired += 10);
    clock.advance(100);
    assert.equal(fired, 10);
    assert.equal(clock.pendingCount(), 0);
  });

  it('advance runs exactly the due timers and lands on the target time', () => {
    const clock = new VirtualClock();
    const fired: number[] = [];
    for (const d of [1, 5, 10, 11]) clock.setTimer(d, () => fired.push(d));
    assert.equal(clock.advance(10), 3);
    assert.deepEqual(fired, [1, 5, 10]);
    assert.equal(clock.nowMs(), 10);
    assert.equal(clock.nextEventAtMs(), 11);
    assert.throws(() => clock.runUntil(5), /past/);
  });

  it('treats negative delays as zero and rejects non-finite ones', () => {
    const clock = new VirtualClock({ startMs: 7 });
    let at = -1;
    clock.setTimer(-3, () => (at = clock.nowMs()));
    clock.step();
    assert.equal(at, 7);
    assert.throws(() => clock.setTimer(Number.NaN, () => {}), /finite/);
  });
});

describe('DriftingClock', () => {
  it('runs at its rate: local time and local timers scale against global time', () => {
    const global = new VirtualClock();
    const fast = new DriftingClock(global, { rate: 1.25, localOriginMs: 1000 });
    const slow = new DriftingClock(global, { rate: 0.8 });
    const firedAt: Record<string, number> = {};
    fast.setTimer(100, () => (firedAt['fast'] = global.nowMs()));
    slow.setTimer(100, () => (firedAt['slow'] = global.nowMs()));
    global.advance(200);
    assert.equal(fast.nowMs(), 1000 + 250);
    assert.equal(slow.nowMs(), 160);
    assert.equal(firedAt['fast'], 80); // 100 local ms at 1.25x
    assert.equal(firedAt['slow'], 125); // 100 local ms at 0.8x
  });

  it('kill cancels every pending timer and ignores new ones', () => {
    const global = new VirtualClock();
    const clock = new DriftingClock(global, { rate: 1 });
    let fired = 0;
    clock.setTimer(10, () => fired++);
    clock.setTimer(20, () => fired++);
    assert.equal(clock.pendingCount(), 2);
    clock.kill();
    clock.setTimer(5, () => fired++);
    global.advance(100);
    assert.equal(fired, 0);
    assert.equal(global.pendingCount(), 0);
  });
});
