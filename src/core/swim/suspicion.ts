// Lifeguard's dynamic suspicion timeout and local health awareness, as pure functions
// (Dadgar et al., "Lifeguard: Local Health Awareness for More Accurate Failure Detection",
// 2018, sections 4.1 and 4.2).

/**
 * Bounds of the suspicion timeout for a cluster of n members. The minimum grows with log10(n)
 * because an update needs about log(n) rounds to reach everyone, and so does a refutation.
 */
export function suspicionBoundsMs(n: number, suspicionMult: number, maxTimeoutMult: number, probeIntervalMs: number): { minMs: number; maxMs: number } {
  const nodeScale = Math.max(1, Math.log10(Math.max(1, n)));
  const minMs = Math.round(suspicionMult * nodeScale * probeIntervalMs);
  return { minMs, maxMs: minMs * maxTimeoutMult };
}

/**
 * The timeout after `confirmations` independent suspicions of the same node: it starts at maxMs
 * and falls logarithmically towards minMs as confirmations arrive, reaching it at `expected`
 * (Lifeguard 4.2: more independent witnesses, less time for a false positive to persist).
 */
export function suspicionTimeoutMs(confirmations: number, expected: number, minMs: number, maxMs: number): number {
  if (expected <= 0) return minMs;
  const fraction = Math.log(confirmations + 1) / Math.log(expected + 1);
  const timeout = maxMs - fraction * (maxMs - minMs);
  return Math.max(minMs, Math.floor(timeout));
}

/**
 * Lifeguard local health multiplier (LHM): a score in [0, max - 1]. Missed acks and nacks and
 * having to refute a suspicion of ourselves raise it; a successful probe lowers it. Probe
 * timing scales by score + 1, so a node that is itself slow (CPU starved, GC paused) waits
 * longer before accusing others instead of spreading false alarms.
 */
export function adjustAwareness(score: number, delta: number, maxMultiplier: number): number {
  return Math.min(maxMultiplier - 1, Math.max(0, score + delta));
}

/** Retransmissions of one update: enough rounds to reach every member with high probability. */
export function retransmitLimit(retransmitMult: number, n: number): number {
  return retransmitMult * Math.ceil(Math.log10(n + 1));
}

/**
 * Push-pull interval for n members: constant up to 32 members, then stretched so that the
 * total TCP exchange load on the cluster grows only logarithmically (as memberlist does).
 */
export function pushPullIntervalMs(baseMs: number, n: number): number {
  const threshold = 32;
  if (n <= threshold) return baseMs;
  const multiplier = Math.ceil(Math.log2(n) - Math.log2(threshold)) + 1;
  return baseMs * multiplier;
}
