// Histories that are linearizable by construction, for the checker's property tests and its
// benchmark: run a random sequential execution of Sappers' KV semantics (one global revision,
// CAS on modRevision, delete of a missing key is not-found), give op i the linearization point
// i * spacingMs, then stretch each op's interval randomly around its point (invocation at or
// before it, completion at or after it). The points stay inside the intervals, so that sequential
// order is a witness linearization. Some writes lose their answer ("maybe applied"): either they
// took effect in the execution, or they are ghosts that never did.

import type { Random } from '../../src/core/random.ts';
import type { Operation } from './history.ts';

export interface GenerateOptions {
  readonly ops: number;
  readonly keys: number;
  /** Distinct values per key: few make reads ambiguous, which is harder for the checker. */
  readonly values: number;
  readonly clients: number;
  readonly spacingMs: number;
  /** Each side of an interval extends up to this far past the op's linearization point. */
  readonly maxStretchMs: number;
  /** Probability that a write's answer is lost (half of those never took effect). */
  readonly unknownWriteRate: number;
}

export function generateLinearizableHistory(random: Random, o: GenerateOptions): Operation[] {
  const store = new Map<string, { value: string; modRevision: number }>();
  let revision = 0;
  const history: Operation[] = [];
  for (let i = 0; i < o.ops; i++) {
    const key = `k${random.int(o.keys)}`;
    const value = `v${random.int(o.values)}`;
    const point = i * o.spacingMs + o.maxStretchMs;
    const invokedAtMs = point - random.int(o.maxStretchMs + 1);
    let completedAtMs: number | undefined = point + random.int(o.maxStretchMs + 1);
    const base = { id: i, client: `c${random.int(o.clients)}`, key, invokedAtMs };
    const current = store.get(key);
    const currentRev = current?.modRevision ?? 0;
    // Usually the revision a client would have read; sometimes a stale or made-up one.
    const expected = random.float() < 0.6 ? currentRev : random.int(revision + 2);
    const lost = random.float() < o.unknownWriteRate;
    const ghost = lost && random.float() < 0.5;
    if (lost && random.float() < 0.5) completedAtMs = undefined;
    const unknown = { status: 'unknown', error: 'generated: answer lost' } as const;
    const kind = (['put', 'get', 'cas', 'delete'] as const)[random.int(4)]!;
    switch (kind) {
      case 'get':
        history.push({ ...base, kind, input: {}, completedAtMs: completedAtMs ?? point, output: current === undefined ? { status: 'not-found' } : { status: 'ok', value: current.value, modRevision: current.modRevision } });
        break;
      case 'put': {
        if (!ghost) store.set(key, { value, modRevision: ++revision });
        history.push({ ...base, kind, input: { value }, completedAtMs, output: lost ? unknown : { status: 'ok', revision } });
        break;
      }
      case 'cas': {
        const applies = expected === currentRev;
        if (applies && !ghost) store.set(key, { value, modRevision: ++revision });
        const output = lost ? unknown : applies ? { status: 'ok' as const, revision } : { status: 'cas-mismatch' as const, ...(random.float() < 0.5 ? { actualModRevision: currentRev } : {}) };
        history.push({ ...base, kind, input: { value, expectedModRevision: expected }, completedAtMs, output });
        break;
      }
      case 'delete': {
        const withCas = random.float() < 0.5;
        const mismatched = withCas && expected !== currentRev;
        const applies = !mismatched && current !== undefined;
        if (applies && !ghost) {
          store.delete(key);
          revision++;
        }
        const output = lost
          ? unknown
          : mismatched
            ? { status: 'cas-mismatch' as const, ...(random.float() < 0.5 ? { actualModRevision: currentRev } : {}) }
            : applies
              ? { status: 'ok' as const, revision }
              : { status: 'not-found' as const };
        history.push({ ...base, kind, input: { expectedModRevision: withCas ? expected : undefined }, completedAtMs, output });
        break;
      }
    }
  }
  return history;
}
