import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { didYouMean, editDistance, suggestion } from '../../src/wire/suggest.ts';

describe('did you mean', () => {
  it('matches case and separator variants, then close slips', () => {
    const keys = ['count', 'stopTimeout', 'memoryMB', 'maxParallel', 'type'];
    assert.equal(didYouMean('stop_timeout', keys), 'stopTimeout');
    assert.equal(didYouMean('MEMORYMB', keys), 'memoryMB');
    assert.equal(didYouMean('cuont', keys), 'count');
    assert.equal(didYouMean('typ', keys), 'type');
    assert.equal(didYouMean('maxParalel', keys), 'maxParallel');
    assert.equal(didYouMean('zzz', keys), undefined);
    assert.equal(didYouMean('', keys), undefined);
    assert.equal(suggestion('cont', keys), ' (did you mean "count"?)');
    assert.equal(suggestion('xyz', keys), '');
  });

  it('edit distance is a metric with swaps counted once', () => {
    assert.equal(editDistance('ab', 'ba'), 1);
    assert.equal(editDistance('kitten', 'sitting'), 3);
    assert.equal(editDistance('', 'abc'), 3);
    fc.assert(
      fc.property(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), (a, b) => {
        const d = editDistance(a, b);
        assert.equal(d, editDistance(b, a));
        assert.equal(d === 0, a === b);
        assert.ok(d <= Math.max(a.length, b.length));
      }),
      { numRuns: 500 },
    );
  });
});
