// How placement ranks the nodes that can take an instance. Three parts, compared in order (a
// lexicographic score, so that no part can be outweighed by the scale of a later one):
//  1. spread: only for jobs that ask for it, the operator's explicit wish: prefer the attribute
//     values holding fewest instances of the job, so counts stay even (within one, greedily).
//  2. collisions: instances of the same job already on the node (existing or planned). Fewer
//     wins, so instances land apart while a node without one can take it: a penalty, not a rule
//     (with fewer nodes than instances they share).
//  3. fullness after placing: bin-packing, the mean of the cpu and memory fractions in use;
//     the fuller node wins, keeping whole nodes free for large jobs (best fit, as Nomad's
//     default binpack scoring, without its exponential shaping).
// Ties go to the lowest node ID.

export interface PlacementScore {
  /** Weighted mean of the spread boosts, in [-1, 1]; 0 for jobs without spread. */
  readonly spread: number;
  readonly collisions: number;
  /** In [0, 1]. */
  readonly fullness: number;
}

/** Fraction of one resource in use after placing; a node offering none of it counts as full. */
export function usedFraction(capacity: number, usedAfter: number): number {
  return capacity > 0 ? usedAfter / capacity : 1;
}

export function fullness(capCpuMillis: number, capMemoryMB: number, cpuAfterMillis: number, memoryAfterMB: number): number {
  return (usedFraction(capCpuMillis, cpuAfterMillis) + usedFraction(capMemoryMB, memoryAfterMB)) / 2;
}

/**
 * How much a value wants the next instance: (ideal - count) / ideal, clamped to [-1, 1], where
 * ideal is the even share of the job's instances (those already counted plus this one) over
 * the values that can take it. 1 for an empty value; falls as the value fills past its share.
 */
export function spreadBoost(count: number, ideal: number): number {
  const b = (ideal - count) / ideal;
  return b > 1 ? 1 : b < -1 ? -1 : b;
}

/** A node lacking the spread attribute is the last choice for that spread. */
export const MISSING_SPREAD_BOOST = -1;

/** Positive when a ranks above b (node IDs aside). */
export function compareScores(a: PlacementScore, b: PlacementScore): number {
  if (a.spread !== b.spread) return a.spread > b.spread ? 1 : -1;
  if (a.collisions !== b.collisions) return a.collisions < b.collisions ? 1 : -1;
  if (a.fullness !== b.fullness) return a.fullness > b.fullness ? 1 : -1;
  return 0;
}
