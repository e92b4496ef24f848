// Spread state for one job during a placement run (score.ts, part 1). For each spread
// attribute: the value of every node, and how many instances of the job each value holds,
// counting instances already running and those placed earlier in the plan. Before each
// placement the boost of every value is computed once (O(values)); scoring a node is then one
// lookup per spread.
import type { ClusterState } from './cluster-state.ts';
import { nodeAttribute } from './attributes.ts';
import type { Spread } from './job.ts';
import { MISSING_SPREAD_BOOST, spreadBoost } from './score.ts';

interface AttributeSpread {
  readonly weight: number;
  /** Per node index: the value's number, or -1 when the node lacks the attribute. */
  readonly valueOf: Int32Array;
  /** Per value number. */
  readonly counts: Int32Array;
  /** Values that some candidate node holds: the values the even share is taken over. */
  readonly active: readonly number[];
  readonly boost: Float64Array;
}

export class SpreadScorer {
  readonly #spreads: AttributeSpread[];
  readonly #totalWeight: number;

  /** `candidates`: the node indexes that may take the job; `jobCounts`: its instances per node. */
  constructor(state: ClusterState, spreads: readonly Spread[], candidates: ArrayLike<number>, jobCounts: Int32Array) {
    // Weights are 1-100 per job.ts; anything not positive counts as 1 rather than vanish.
    const weights = spreads.map((s) => (Number.isFinite(s.weight) && s.weight > 0 ? s.weight : 1));
    this.#totalWeight = weights.reduce((a, b) => a + b, 0);
    this.#spreads = spreads.map((s, k) => {
      const numbers = new Map<string, number>();
      const valueOf = new Int32Array(state.size);
      state.nodes.forEach((node, i) => {
        const value = nodeAttribute(node, s.attribute);
        if (value === undefined) {
          valueOf[i] = -1;
          return;
        }
        let v = numbers.get(value);
        if (v === undefined) {
          v = numbers.size;
          numbers.set(value, v);
        }
        valueOf[i] = v;
      });
      const counts = new Int32Array(numbers.size);
      for (let i = 0; i < state.size; i++) {
        const v = valueOf[i]!;
        if (v >= 0) counts[v]! += jobCounts[i]!;
      }
      const activeSet = new Set<number>();
      for (let c = 0; c < candidates.length; c++) {
        const v = valueOf[candidates[c]!]!;
        if (v >= 0) activeSet.add(v);
      }
      return { weight: weights[k]!, valueOf, counts, active: [...activeSet].sort((a, b) => a - b), boost: new Float64Array(numbers.size) };
    });
  }

  /** Recomputes the boosts for the next instance. */
  prepare(): void {
    for (const s of this.#spreads) {
      if (s.active.length === 0) continue;
      let total = 1;
      for (const v of s.active) total += s.counts[v]!;
      const ideal = total / s.active.length;
      for (const v of s.active) s.boost[v] = spreadBoost(s.counts[v]!, ideal);
    }
  }

  score(i: number): number {
    let sum = 0;
    for (const s of this.#spreads) {
      const v = s.valueOf[i]!;
      sum += s.weight * (v >= 0 ? s.boost[v]! : MISSING_SPREAD_BOOST);
    }
    return sum / this.#totalWeight;
  }

  /** One more instance of the job on node i. */
  record(i: number): void {
    for (const s of this.#spreads) {
      const v = s.valueOf[i]!;
      if (v >= 0) s.counts[v]! += 1;
    }
  }
}
