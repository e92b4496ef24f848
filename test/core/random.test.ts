import { it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SeededRandom } from '../../src/core/random.ts';

const take = (r: SeededRandom, n: number): number[] => Array.from({ length: n }, () => r.nextUint32());

it('one seed gives one stream; different seeds differ', () => {
  assert.deepEqual(take(new SeededRandom(42), 100), take(new SeededRandom(42), 100));
  assert.notDeepEqual(take(new SeededRandom(42), 10), take(new SeededRandom(43), 10));
  // Pinned values: the stream must not change across platforms or refactors, or saved seeds
  // would stop replaying the runs they recorded.
  assert.deepEqual(take(new SeededRandom(1), 3), [2442144158, 3238099751, 3819917871]);
});

it('float is in [0, 1) and int in [0, max)', () => {
  fc.assert(
    fc.property(fc.integer(), fc.integer({ min: 1, max: 1_000_000 }), (seed, max) => {
      const r = new SeededRandom(seed);
      for (let i = 0; i < 50; i++) {
        const f = r.float();
        assert.ok(f >= 0 && f < 1);
        const n = r.int(max);
        assert.ok(Number.isInteger(n) && n >= 0 && n < max);
      }
    }),
  );
  assert.throws(() => new SeededRandom(1).int(0), /positive safe integer/);
});

it('is roughly uniform (chi-square over 10 buckets, fixed seed)', () => {
  const r = new SeededRandom(7);
  const buckets = new Array<number>(10).fill(0);
  const n = 100_000;
  for (let i = 0; i < n; i++) buckets[r.int(10)]! += 1;
  const expected = n / 10;
  const chi2 = buckets.reduce((s, b) => s + (b - expected) ** 2 / expected, 0);
  assert.ok(chi2 < 27.9, `chi-square ${chi2} (p=0.001 threshold for 9 dof is 27.9)`);
});

it('fork gives an independent, deterministic stream', () => {
  const a = new SeededRandom(5);
  const b = new SeededRandom(5);
  assert.deepEqual(take(a.fork() as SeededRandom, 5), take(b.fork() as SeededRandom, 5));
  assert.notDeepEqual(take(a.fork() as SeededRandom, 5), take(a as SeededRandom, 5));
});
