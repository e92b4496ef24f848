// Model-based property test: random appends (sequential and concurrent), suffix truncations,
// compactions, clean reopens, full disks and crashes at random points on SimDisk (with torn
// writes). After every recovery the log must equal the model of acknowledged operations; an
// operation in flight at the crash may or may not have happened, and an unacknowledged append
// may survive only as a complete prefix of its records (never a hole, never a torn record).
import { it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SeededRandom } from '../../../src/core/random.ts';
import { StorageError } from '../../../src/runtime/storage/fs.ts';
import { Wal, WalError, type WalOptions } from '../../../src/runtime/storage/wal.ts';
import { SimDisk } from '../../../src/sim/disk.ts';

type Op =
  | { readonly kind: 'append'; readonly sizes: readonly number[]; readonly concurrent: number }
  | { readonly kind: 'truncate'; readonly at: number }
  | { readonly kind: 'drop'; readonly at: number }
  | { readonly kind: 'reopen' }
  | { readonly kind: 'full-disk'; readonly sizes: readonly number[] }
  | {
      readonly kind: 'crash';
      readonly during: 'append' | 'truncate' | 'drop' | 'idle';
      /** Microtask steps between issuing the operation and the crash. */
      readonly steps: number;
      /** Hold syncs (a slow disk), so the crash finds written but unsynced data. */
      readonly slowSync: boolean;
      readonly seed: number;
      readonly at: number;
      readonly sizes: readonly number[];
    };

/** Uniform in [0, max] (fc.double favours edge values, which would rarely compact anything). */
const fraction = (max: number): fc.Arbitrary<number> => fc.integer({ min: 0, max: 1000 }).map((n) => (n / 1000) * max);
const sizes = fc.array(fc.integer({ min: 0, max: 120 }), { minLength: 1, maxLength: 4 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('append' as const), sizes, concurrent: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fraction(1) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('drop' as const), at: fraction(1.5) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reopen' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('full-disk' as const), sizes }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('crash' as const),
      during: fc.constantFrom('append' as const, 'truncate' as const, 'drop' as const, 'idle' as const),
      // The window between write and sync is a tick or two on SimDisk; truncations and
      // compactions take many steps. Cover both.
      steps: fc.oneof(fc.constantFrom(0, 1, 1, 1, 2, 3), fc.integer({ min: 0, max: 80 })),
      slowSync: fc.boolean(),
      seed: fc.integer(),
      at: fraction(1.5),
      sizes,
    }),
  },
);

const OPTIONS: WalOptions = { segmentBytes: 300, maxRecordBytes: 200 };
const DIR = '/node/wal';

/** The acknowledged log: records[k] has index first + k. */
interface Model {
  first: number;
  records: Uint8Array[];
}

const last = (m: Model): number => m.first + m.records.length - 1;

let counter = 0;
function makePayloads(lengths: readonly number[]): Uint8Array[] {
  return lengths.map((n) => {
    const tag = new TextEncoder().encode(`#${counter++}:`);
    const out = new Uint8Array(tag.length + n);
    out.set(tag);
    for (let i = tag.length; i < out.length; i++) out[i] = (counter * 7 + i) & 0xff;
    return out;
  });
}

async function openWal(disk: SimDisk): Promise<Wal> {
  const r = await Wal.open(disk.attach(), DIR, OPTIONS);
  if (!r.ok) throw r.error;
  return r.value.wal;
}

async function readAll(wal: Wal): Promise<Model> {
  const records = wal.lastIndex >= wal.firstIndex ? await wal.readRange(wal.firstIndex, wal.lastIndex + 1) : [];
  return { first: wal.firstIndex, records };
}

function assertPrefix(actual: readonly Uint8Array[], expected: readonly Uint8Array[], what: string): void {
  assert.ok(actual.length <= expected.length, `${what}: ${actual.length} records, at most ${expected.length} expected`);
  actual.forEach((r, k) => assert.deepEqual(r, expected[k], `${what}: record ${k}`));
}

/** What the generated runs exercised, so the test fails if generation stops covering them. */
const seen = { ops: 0, compactions: 0, reopenedAfterCompaction: 0, crashes: 0, tornTails: 0, unackedSurvivors: 0, segmentsMax: 0 };

it('after any sequence of operations and crashes, the log equals the acknowledged model', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 40, size: 'max' }), async (ops) => {
      const disk = new SimDisk({ tornWriteProbability: 0.6 });
      let wal = await openWal(disk);
      let model: Model = { first: 1, records: [] };
      try {
        let compacted = false;
        for (const op of ops) {
          seen.ops++;
          switch (op.kind) {
            case 'append': {
              const batches = Array.from({ length: op.concurrent }, () => makePayloads(op.sizes));
              const ranges = await Promise.all(batches.map((b) => wal.append(b)));
              ranges.forEach((r, k) => {
                assert.equal(r.firstIndex, last(model) + 1 + k * op.sizes.length, 'indexes follow call order');
              });
              for (const b of batches) model.records.push(...b);
              break;
            }
            case 'truncate': {
              const from = model.first + Math.floor(op.at * (model.records.length + 1));
              await wal.truncateSuffix(from);
              model.records.length = Math.min(model.records.length, from - model.first);
              break;
            }
            case 'drop': {
              const before = model.first + Math.floor(op.at * (model.records.length + 1));
              await wal.dropPrefix(before);
              if (before > model.first) {
                seen.compactions++;
                compacted = true;
              }
              model = applyDrop(model, before);
              break;
            }
            case 'reopen': {
              await wal.close();
              wal = await openWal(disk);
              if (compacted) seen.reopenedAfterCompaction++;
              break;
            }
            case 'full-disk': {
              disk.setCapacityBytes(disk.usedBytes() + 40);
              const payloads = makePayloads(op.sizes);
              const outcome = await wal.append(payloads).then(
                () => 'ok',
                (e: unknown) => {
                  assert.ok(e instanceof StorageError && e.code === 'no-space', String(e));
                  return 'no-space';
                },
              );
              if (outcome === 'ok') model.records.push(...payloads);
              disk.setCapacityBytes(undefined);
              break;
            }
            case 'crash': {
              const before: Model = { first: model.first, records: [...model.records] };
              let inflight: Promise<unknown> = Promise.resolve();
              let unacked: Uint8Array[] = [];
              let target = 0;
              if (op.slowSync) disk.pauseSyncs();
              if (op.during === 'append') {
                unacked = makePayloads(op.sizes);
                inflight = wal.append(unacked);
              } else if (op.during === 'truncate') {
                target = model.first + Math.floor(Math.min(op.at, 1) * (model.records.length + 1));
                inflight = wal.truncateSuffix(target);
              } else if (op.during === 'drop') {
                target = model.first + Math.floor(op.at * (model.records.length + 1));
                inflight = wal.dropPrefix(target);
              }
              let acked = false;
              const settled = inflight.then(
                () => {
                  acked = true;
                },
                (e: unknown) => {
                  // Only a lost disk view may fail it (the crash), nothing else.
                  assert.ok(e instanceof StorageError || e instanceof WalError, String(e));
                },
              );
              for (let i = 0; i < op.steps; i++) await Promise.resolve();
              const ackedAtCrash = acked;
              const report = disk.crash(new SeededRandom(op.seed));
              seen.crashes++;
              if (report.tornWrites.length > 0) seen.tornTails++;
              await settled;
              wal = await openWal(disk);
              const after = await readAll(wal);
              model = checkAfterCrash(op.during, before, after, unacked, target, ackedAtCrash);
              if (op.during === 'append' && !ackedAtCrash && model.records.length > before.records.length) seen.unackedSurvivors++;
              break;
            }
          }
          seen.segmentsMax = Math.max(seen.segmentsMax, wal.segmentCount);
          assert.equal(wal.firstIndex, model.first, `firstIndex after ${op.kind}`);
          assert.equal(wal.lastIndex, last(model), `lastIndex after ${op.kind}`);
        }
        assert.deepEqual(await readAll(wal), model);
      } finally {
        await wal.close().catch(() => undefined);
      }
    }),
    { numRuns: 150 },
  );
  assert.ok(
    // Loose floors (about half of a typical run): fast-check draws new inputs each run.
    seen.reopenedAfterCompaction > 20 && seen.tornTails > 8 && seen.unackedSurvivors > 3 && seen.segmentsMax > 5,
    `the runs cover compaction, torn tails, surviving unacknowledged appends and rotation: ${JSON.stringify(seen)}`,
  );
});

function applyDrop(model: Model, before: number): Model {
  if (before <= model.first) return model;
  if (before > last(model) + 1) return { first: before, records: [] };
  return { first: before, records: model.records.slice(before - model.first) };
}

/** Checks the recovered log against what was acknowledged and returns it as the new model. */
function checkAfterCrash(during: 'append' | 'truncate' | 'drop' | 'idle', before: Model, after: Model, unacked: Uint8Array[], target: number, acked: boolean): Model {
  switch (during) {
    case 'idle':
      assert.deepEqual(after, before, 'an idle crash loses nothing');
      return after;
    case 'append': {
      assert.equal(after.first, before.first);
      const expected = [...before.records, ...unacked];
      assertPrefix(after.records, expected, 'append in flight');
      assert.ok(after.records.length >= before.records.length + (acked ? unacked.length : 0), 'acknowledged records survive');
      return after;
    }
    case 'truncate': {
      assert.equal(after.first, before.first);
      assertPrefix(after.records, before.records, 'truncate in flight');
      const keep = Math.max(0, Math.min(before.records.length, target - before.first));
      assert.ok(after.records.length >= keep, 'records below the truncation point survive');
      if (acked) assert.equal(after.records.length, keep, 'an acknowledged truncation holds');
      return after;
    }
    case 'drop': {
      const dropped = applyDrop(before, target);
      if (after.first === before.first && !acked) {
        assert.deepEqual(after, before, 'compaction not applied');
      } else {
        assert.deepEqual(after, dropped, 'compaction applied');
      }
      return after;
    }
  }
}
