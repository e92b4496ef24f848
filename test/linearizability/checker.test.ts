import { strict as assert } from 'node:assert';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { SeededRandom } from '../../src/core/random.ts';
import { checkHistory, type CheckResult } from './checker.ts';
import { explain, saveHistory } from './explain.ts';
import { generateLinearizableHistory, type GenerateOptions } from './generate.ts';
import { HistoryRecorder, validateHistory, type CasOp, type DeleteOp, type GetOp, type Operation, type PutOp } from './history.ts';

// A tiny notation for hand-written histories: [invokedAtMs, completedAtMs | undefined].
type Span = readonly [number, number | undefined];
class H {
  readonly ops: Operation[] = [];
  put(client: string, key: string, value: string, [inv, comp]: Span, revision: number | 'unknown'): this {
    const op: PutOp = { id: this.ops.length, client, key, kind: 'put', input: { value }, invokedAtMs: inv, completedAtMs: comp, output: revision === 'unknown' ? { status: 'unknown' } : { status: 'ok', revision } };
    this.ops.push(op);
    return this;
  }
  cas(client: string, key: string, value: string, expectedModRevision: number, [inv, comp]: Span, out: CasOp['output']): this {
    const op: CasOp = { id: this.ops.length, client, key, kind: 'cas', input: { value, expectedModRevision }, invokedAtMs: inv, completedAtMs: comp, output: out };
    this.ops.push(op);
    return this;
  }
  get(client: string, key: string, [inv, comp]: Span, read: readonly [string, number] | 'not-found'): this {
    const op: GetOp = { id: this.ops.length, client, key, kind: 'get', input: {}, invokedAtMs: inv, completedAtMs: comp, output: read === 'not-found' ? { status: 'not-found' } : { status: 'ok', value: read[0], modRevision: read[1] } };
    this.ops.push(op);
    return this;
  }
  del(client: string, key: string, expectedModRevision: number | undefined, [inv, comp]: Span, out: DeleteOp['output']): this {
    const op: DeleteOp = { id: this.ops.length, client, key, kind: 'delete', input: { expectedModRevision }, invokedAtMs: inv, completedAtMs: comp, output: out };
    this.ops.push(op);
    return this;
  }
}
const h = (): H => new H();

function expectIllegal(history: readonly Operation[]): CheckResult {
  const result = checkHistory(history);
  assert.equal(result.outcome, 'illegal', explain(result));
  return result;
}
function expectOk(history: readonly Operation[]): void {
  const result = checkHistory(history);
  assert.equal(result.outcome, 'ok', explain(result));
}

describe('linearizability checker: known-bad histories are caught', () => {
  it('a stale read after a completed write', () => {
    const r = expectIllegal(h().put('a', 'x', '1', [0, 10], 1).put('a', 'x', '2', [20, 30], 2).get('b', 'x', [40, 50], ['1', 1]).ops);
    assert.equal(r.keys[0]?.stuckOp?.id, 2);
  });
  it('a lost write: a completed put never seen while later reads see the older value', () => {
    expectIllegal(h().put('a', 'x', 'old', [0, 10], 1).put('a', 'x', 'new', [20, 30], 2).get('b', 'x', [25, 35], ['new', 2]).get('b', 'x', [40, 50], ['old', 1]).ops);
    expectIllegal(h().put('a', 'x', 'old', [0, 10], 1).put('a', 'x', 'new', [20, 30], 2).get('b', 'x', [40, 50], ['old', 1]).get('c', 'x', [60, 70], ['old', 1]).ops);
  });
  it('non-monotonic reads during a long concurrent write', () => {
    expectIllegal(h().put('a', 'x', 'a', [0, 10], 1).put('a', 'x', 'b', [20, 100], 2).get('b', 'x', [30, 40], ['b', 2]).get('b', 'x', [50, 60], ['a', 1]).ops);
  });
  it('a CAS succeeding twice on the same expected revision', () => {
    expectIllegal(h().put('a', 'x', 'a', [0, 10], 1).cas('b', 'x', 'b', 1, [20, 30], { status: 'ok', revision: 2 }).cas('c', 'x', 'c', 1, [20, 35], { status: 'ok', revision: 3 }).ops);
    // Create-if-absent (cas 0) twice.
    expectIllegal(h().cas('b', 'x', 'b', 0, [0, 30], { status: 'ok', revision: 1 }).cas('c', 'x', 'c', 0, [0, 35], { status: 'ok', revision: 2 }).ops);
  });
  it('a read of a value whose write was refused (503 no-leader, connection refused): refused means not applied', () => {
    const refused = { status: 'refused', error: 'h1: 503 no-leader: no leader is known right now' } as const;
    expectIllegal(h().put('a', 'x', 'a', [0, 10], 1).cas('b', 'x', 'b', 1, [20, 30], refused).get('c', 'x', [40, 50], ['b', 2]).ops);
    // A refused delete did not remove the key either.
    expectIllegal(h().put('a', 'x', 'a', [0, 10], 1).del('b', 'x', undefined, [20, 30], refused).get('c', 'x', [40, 50], 'not-found').ops);
  });
  it('a read of a value never written', () => {
    expectIllegal(h().put('a', 'x', 'a', [0, 10], 1).get('b', 'x', [20, 30], ['zzz', 1]).ops);
    // Even with an unanswered write of another value around.
    expectIllegal(h().put('a', 'x', 'a', [0, 10], 1).put('c', 'x', 'b', [5, undefined], 'unknown').get('b', 'x', [20, 30], ['c', 7]).ops);
    // Never written to THIS key (keys are separate).
    expectIllegal(h().put('a', 'y', 'a', [0, 10], 1).get('b', 'x', [20, 30], ['a', 1]).ops);
  });
  it('a delete, then a later-started read of the old value', () => {
    expectIllegal(h().put('a', 'x', 'a', [0, 10], 1).del('a', 'x', undefined, [20, 30], { status: 'ok', revision: 2 }).get('b', 'x', [40, 50], ['a', 1]).ops);
  });
  it('concurrent but impossible orderings: two readers disagree on the order of two writes', () => {
    expectIllegal(
      h()
        .put('w1', 'x', 'a', [0, 100], 1)
        .put('w2', 'x', 'b', [0, 100], 2)
        .get('r1', 'x', [10, 20], ['a', 1])
        .get('r1', 'x', [30, 40], ['b', 2])
        .get('r2', 'x', [10, 20], ['b', 2])
        .get('r2', 'x', [30, 40], ['a', 1]).ops,
    );
  });
  it('the same orderings without revision help (same revision numbers unknown): values alone decide', () => {
    // Both writes unanswered: the readers still cannot both be right.
    expectIllegal(
      h()
        .put('w1', 'x', 'a', [0, undefined], 'unknown')
        .put('w2', 'x', 'b', [0, undefined], 'unknown')
        .get('r1', 'x', [10, 20], ['a', 5])
        .get('r1', 'x', [30, 40], ['b', 6])
        .get('r2', 'x', [10, 20], ['b', 6])
        .get('r2', 'x', [30, 40], ['a', 5]).ops,
    );
  });
  it('a read returning the right value with the wrong modRevision', () => {
    expectIllegal(h().put('a', 'x', 'a', [0, 10], 1).put('a', 'x', 'b', [20, 30], 2).get('b', 'x', [40, 50], ['b', 1]).ops);
  });
  it('a CAS reported as a mismatch although nothing else could have changed the key', () => {
    expectIllegal(h().put('a', 'x', 'a', [0, 10], 1).cas('a', 'x', 'b', 1, [20, 30], { status: 'cas-mismatch' }).ops);
    expectIllegal(h().cas('a', 'x', 'b', 0, [20, 30], { status: 'cas-mismatch' }).ops);
    expectIllegal(h().put('a', 'x', 'a', [0, 10], 1).cas('a', 'x', 'b', 7, [20, 30], { status: 'cas-mismatch', actualModRevision: 4 }).ops);
  });
  it('a delete answered not-found while the key exists, and a failed delete of a missing key with a mismatch', () => {
    expectIllegal(h().put('a', 'x', 'a', [0, 10], 1).del('b', 'x', undefined, [20, 30], { status: 'not-found' }).ops);
    expectIllegal(h().del('b', 'x', 0, [20, 30], { status: 'cas-mismatch' }).ops);
  });
  it('an unanswered write seen before it was invoked', () => {
    expectIllegal(h().get('b', 'x', [0, 10], ['b', 5]).put('a', 'x', 'b', [20, undefined], 'unknown').ops);
  });
  it('an unanswered write whose revision would collide with an answered one', () => {
    expectIllegal(h().put('a', 'x', 'a', [0, 10], 3).put('c', 'x', 'b', [5, undefined], 'unknown').put('d', 'y', 'q', [0, 10], 4).get('b', 'x', [20, 30], ['b', 4]).ops);
  });
  it('an unanswered write read with two different revisions', () => {
    expectIllegal(h().put('a', 'x', 'b', [0, undefined], 'unknown').get('b', 'x', [10, 20], ['b', 5]).get('b', 'x', [30, 40], ['b', 6]).ops);
  });
  it('an unanswered write squeezed between revisions that other writes all returned', () => {
    const history = (last: number): Operation[] =>
      h()
        .put('a', 'x', 'a', [0, 10], 1)
        .del('a', 'x', undefined, [12, 15], { status: 'ok', revision: 2 })
        .put('b', 'x', 'b', [20, undefined], 'unknown')
        .put('c', 'y', 'q', [20, 30], 3)
        // A failed create: the unanswered put took effect by now (its revision unseen).
        .cas('d', 'x', 'z', 0, [31, 35], { status: 'cas-mismatch' })
        .put('d', 'x', 'c', [40, 50], last).ops;
    // Revision 3 is y's, 4 the next write's: no revision is left for the unanswered put.
    expectIllegal(history(4));
    expectOk(history(5));
  });
  it('a write returning a revision below an earlier write to the same key', () => {
    expectIllegal(h().put('a', 'x', 'a', [0, 10], 5).put('a', 'x', 'b', [20, 30], 4).ops);
  });
  it('cross-key: revisions that go back in real time, or repeat', () => {
    const back = expectIllegal(h().put('a', 'x', 'a', [0, 10], 5).put('a', 'y', 'b', [20, 30], 3).ops);
    assert.equal(back.revisionViolations.length, 1);
    const twice = expectIllegal(h().put('a', 'x', 'a', [0, 10], 5).put('b', 'y', 'b', [0, 30], 5).ops);
    assert.match(twice.revisionViolations[0]?.message ?? '', /two writes returned revision 5/);
  });
});

describe('linearizability checker: known-good histories are accepted', () => {
  it('an empty history and a single read of nothing', () => {
    expectOk([]);
    expectOk(h().get('a', 'x', [0, 1], 'not-found').ops);
  });
  it('concurrent overlapping writes and reads in either order', () => {
    expectOk(
      h()
        .put('w1', 'x', 'a', [0, 100], 2)
        .put('w2', 'x', 'b', [0, 100], 1)
        .get('r1', 'x', [10, 20], ['b', 1])
        .get('r1', 'x', [30, 40], ['a', 2])
        .get('r2', 'x', [10, 50], ['a', 2]).ops,
    );
  });
  it('intervals that touch are concurrent (the clock cannot order them)', () => {
    expectOk(h().put('a', 'x', 'a', [0, 10], 1).put('a', 'x', 'b', [10, 20], 2).get('b', 'x', [20, 30], ['a', 1]).ops);
  });
  it('a maybe-applied write that took effect, late', () => {
    expectOk(h().put('a', 'x', 'a', [0, 10], 1).put('b', 'x', 'b', [20, 25], 'unknown').get('c', 'x', [30, 40], ['a', 1]).get('c', 'x', [500, 510], ['b', 9]).ops);
    // Refused writes are left out: the reads fit the one definite write.
    expectOk(h().put('a', 'x', 'a', [0, 10], 1).cas('b', 'x', 'b', 1, [20, 30], { status: 'refused', error: 'connection refused' }).get('c', 'x', [40, 50], ['a', 1]).ops);
  });
  it('a maybe-applied write that never took effect', () => {
    expectOk(h().put('a', 'x', 'a', [0, 10], 1).put('b', 'x', 'b', [20, undefined], 'unknown').get('c', 'x', [30, 40], ['a', 1]).get('c', 'x', [50, 60], ['a', 1]).ops);
  });
  it('a maybe-applied CAS and delete bound by later observations', () => {
    expectOk(
      h()
        .put('a', 'x', 'a', [0, 10], 1)
        .cas('b', 'x', 'b', 1, [20, 30], { status: 'unknown', error: 'timeout' })
        .cas('c', 'x', 'c', 4, [40, 50], { status: 'ok', revision: 6 })
        .del('d', 'x', 6, [60, undefined], { status: 'unknown' })
        .get('e', 'x', [70, 80], 'not-found').ops,
    );
  });
  it('a CAS mismatch against an unanswered write, then a successful CAS on its revision', () => {
    expectOk(
      h()
        .put('a', 'x', 'b', [0, undefined], 'unknown')
        // A failed create shows the unanswered put took effect by now, without its revision.
        .cas('b', 'x', 'z', 0, [5, 8], { status: 'cas-mismatch' })
        .cas('b', 'x', 'c', 3, [10, 20], { status: 'cas-mismatch' })
        .cas('b', 'x', 'c', 4, [30, 40], { status: 'ok', revision: 5 })
        .get('b', 'x', [50, 60], ['c', 5]).ops,
    );
    // ...but not on a revision the mismatch already ruled out.
    expectIllegal(
      h()
        .put('a', 'x', 'b', [0, undefined], 'unknown')
        // A failed create shows the unanswered put took effect by now, without its revision.
        .cas('b', 'x', 'z', 0, [5, 8], { status: 'cas-mismatch' })
        .cas('b', 'x', 'c', 3, [10, 20], { status: 'cas-mismatch' })
        .cas('b', 'x', 'c', 3, [30, 40], { status: 'ok', revision: 5 }).ops,
    );
  });
  it('deletes, not-found, and re-creation', () => {
    expectOk(
      h()
        .del('a', 'x', undefined, [0, 10], { status: 'not-found' })
        .cas('a', 'x', 'a', 0, [20, 30], { status: 'ok', revision: 1 })
        .del('a', 'x', 1, [40, 50], { status: 'ok', revision: 2 })
        .del('a', 'x', 0, [60, 70], { status: 'not-found' })
        .del('a', 'x', 5, [60, 70], { status: 'cas-mismatch', actualModRevision: 0 })
        .put('a', 'x', 'a', [80, 90], 3)
        .get('b', 'x', [100, 110], ['a', 3]).ops,
    );
  });
  it('many keys, each with its own concurrent traffic, one global revision', () => {
    const b = h();
    let rev = 0;
    for (let k = 0; k < 50; k++) {
      const t = k * 5;
      b.put('w', `k${k}`, `v${k}`, [t, t + 20], ++rev).get(`r${k % 3}`, `k${k}`, [t + 1, t + 2], 'not-found').get(`r${k % 3}`, `k${k}`, [t + 25, t + 30], [`v${k}`, rev]);
    }
    expectOk(b.ops);
  });
  it('reads without an answer are ignored', () => {
    expectOk(h().put('a', 'x', 'a', [0, 10], 1).get('b', 'x', [20, undefined], 'not-found').ops);
  });
});

describe('linearizability checker: bounds, explanation, saving', () => {
  it('reports unknown, not a hang, when the step budget runs out', () => {
    // Many concurrent unanswered writes of distinct values and reads that bind some of them.
    const b = h();
    for (let i = 0; i < 30; i++) b.put(`w${i}`, 'x', `v${i}`, [0, undefined], 'unknown');
    for (let i = 0; i < 30; i++) b.get(`r${i}`, 'x', [10 + i * 10, 15 + i * 10], [`v${(i * 7) % 30}`, 100 + i]);
    const result = checkHistory(b.ops, { maxStepsPerKey: 500 });
    assert.equal(result.outcome, 'unknown');
    assert.equal(result.keys[0]?.steps, 501);
    assert.match(explain(result), /undecided after 501 search steps/);
  });
  it('explains a failure: lanes per client, the longest prefix and the op that could not be placed', () => {
    const result = expectIllegal(h().put('alice', 'x', '1', [0, 10], 1).put('alice', 'x', '2', [20, 30], 2).get('bob', 'x', [40, 50], ['1', 1]).ops);
    const text = explain(result);
    assert.match(text, /NOT|ILLEGAL/);
    assert.match(text, /\n  alice +\[/);
    assert.match(text, /\n  bob +\s+\[!!2/);
    assert.match(text, /longest linearizable prefix found \(2 of 3\)/);
    assert.match(text, /could not place: #2 bob \[40\.\.50\] x: get\(\) -> "1" @ modRevision 1/);
    assert.match(text, /because the key holds "2", not "1"/);
  });
  it('saves the history as JSON that loads back, and the timeline as text', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sappers-lin-'));
    try {
      const history = h().put('a', 'x', 'a', [0, 10], 1).put('b', 'x', 'b', [5, undefined], 'unknown').del('c', 'x', undefined, [20, 30], { status: 'ok', revision: 3 }).get('a', 'x', [40, 50], ['a', 1]).ops;
      const { jsonPath, timelinePath } = await saveHistory(dir, 'stale-after-delete', history);
      const loaded = validateHistory(JSON.parse(await readFile(jsonPath, 'utf8')));
      assert.ok(loaded.ok, loaded.ok ? '' : loaded.error.join('\n'));
      assert.deepEqual(loaded.value, history);
      assert.equal(checkHistory(loaded.value).outcome, 'illegal');
      assert.match(await readFile(timelinePath, 'utf8'), /could not place: #3/);
      await assert.rejects(saveHistory(dir, '../escape', history), /plain file name/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
  it('validateHistory lists every problem of a malformed history', () => {
    const bad = validateHistory([
      { id: 1, client: 'a', key: 'x', kind: 'put', input: {}, output: { status: 'ok' }, invokedAtMs: 5, completedAtMs: 3 },
      { id: 1, client: 'a', key: 'x', kind: 'get', input: {}, output: { status: 'cas-mismatch' }, invokedAtMs: 0, completedAtMs: 1 },
      { id: 2, client: 'a', key: 'x', kind: 'frob', input: {}, output: {}, invokedAtMs: 0 },
      { id: 3, client: 'a', key: 'x', kind: 'get', input: {}, output: { status: 'not-found' }, invokedAtMs: 0, completedAtMs: null },
    ]);
    assert.ok(!bad.ok);
    const text = bad.error.join('\n');
    for (const expected of [/before its invocation/, /needs input.value/, /needs output.revision/, /id 1 is used twice/, /cannot answer "cas-mismatch"/, /kind "frob"/, /needs completedAtMs/]) assert.match(text, expected);
    assert.ok(!validateHistory({}).ok);
  });
  it('HistoryRecorder records invocations and answers with the injected clock', () => {
    let now = 100;
    const recorder = new HistoryRecorder({ nowMs: () => now, maxOps: 3 });
    const p = recorder.invoke('c1', 'x', 'put', { value: 'a' });
    const g = recorder.invoke('c2', 'x', 'get', {});
    now = 110;
    recorder.complete(p, { status: 'ok', revision: 1 });
    assert.throws(() => recorder.complete(p, { status: 'ok', revision: 1 }), /not pending/);
    now = 120;
    recorder.invoke('c1', 'x', 'delete', { expectedModRevision: 1 });
    assert.throws(() => recorder.invoke('c1', 'x', 'get', {}), /at most 3/);
    assert.throws(() => recorder.complete(g, { status: 'cas-mismatch' }), /cannot answer/);
    const history = recorder.history();
    assert.deepEqual(history.map((op) => [op.kind, op.invokedAtMs, op.completedAtMs, op.output.status]), [
      ['put', 100, 110, 'ok'],
      ['get', 100, undefined, 'unknown'],
      ['delete', 120, undefined, 'unknown'],
    ]);
    assert.equal(checkHistory(history).outcome, 'ok');
  });
});

const smallHistories: GenerateOptions = { ops: 60, keys: 3, values: 3, clients: 4, spacingMs: 10, maxStretchMs: 30, unknownWriteRate: 0.15 };

describe('linearizability checker: properties', () => {
  it('accepts every stretched sequential execution', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), (seed) => {
        const history = generateLinearizableHistory(new SeededRandom(seed), smallHistories);
        const result = checkHistory(history);
        assert.equal(result.outcome, 'ok', explain(result));
      }),
      { numRuns: 150 },
    );
  });
  it('rejects it once a completed read returns a value never written', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.nat(), (seed, pick) => {
        const history = generateLinearizableHistory(new SeededRandom(seed), smallHistories);
        const reads = history.filter((op): op is GetOp => op.kind === 'get');
        fc.pre(reads.length > 0);
        const victim = reads[pick % reads.length]!;
        const modRevision = victim.output.status === 'ok' ? victim.output.modRevision : 1;
        const mutated = history.map((op) => (op.id === victim.id ? { ...victim, output: { status: 'ok' as const, value: 'never-written', modRevision } } : op));
        const result = checkHistory(mutated);
        assert.equal(result.outcome, 'illegal');
        const key = result.keys.find((k) => k.key === victim.key);
        assert.equal(key?.outcome, 'illegal');
      }),
      { numRuns: 150 },
    );
  });
  it('benchmark (printed, not asserted): 10,000 ops over 10 keys', () => {
    const history = generateLinearizableHistory(new SeededRandom(8), { ops: 10_000, keys: 10, values: 5, clients: 16, spacingMs: 2, maxStretchMs: 40, unknownWriteRate: 0.05 });
    const started = performance.now();
    const result = checkHistory(history);
    const elapsedMs = performance.now() - started;
    assert.equal(result.outcome, 'ok', explain(result));
    const steps = result.keys.reduce((sum, k) => sum + k.steps, 0);
    console.log(`linearizability benchmark: 10000 ops, 10 keys, one op invoked every 2 ms, intervals up to 80 ms (up to 40 in flight), 5% unanswered writes: ${elapsedMs.toFixed(0)} ms, ${steps} search steps`);
  });
});
