// Timing presets, every field with its unit (DESIGN.md, Protocols). WAN and local follow the
// defaults hashicorp/memberlist arrived at in production. LAN probes twice as often as
// memberlist's LAN (500 ms, timeout 250 ms) with a shorter minimum suspicion (3 probe
// intervals x log10 n, not 4) that is reached only with 2 independent confirmations: failures
// are found in under half of serf's time (bench/membership), while Lifeguard's local health
// multiplier and a 6x longer unconfirmed suspicion keep a slow or paused node from turning the
// shorter deadlines into false alarms (the membership-soak benchmark checks it under load).

export interface SwimConfig {
  /** Time between failure-detector probes of one random member (SWIM's protocol period). */
  readonly probeIntervalMs: number;
  /** How long to wait for a direct ack before asking others to probe indirectly. */
  readonly probeTimeoutMs: number;
  /** Members asked to probe a silent target on our behalf (SWIM's k). */
  readonly indirectChecks: number;
  /** Updates are retransmitted retransmitMult * ceil(log10(n + 1)) times. */
  readonly retransmitMult: number;
  /** Suspicion lasts at least suspicionMult * log10(n) probe intervals (Lifeguard 4.2). */
  readonly suspicionMult: number;
  /**
   * Independent confirmations after which suspicion lasts only the minimum (Lifeguard's K).
   * memberlist ties it to suspicionMult - 2; it is separate here so a short minimum can still
   * demand several witnesses.
   */
  readonly suspicionConfirmations: number;
  /** Without confirmations, suspicion lasts up to this multiple of the minimum. */
  readonly suspicionMaxTimeoutMult: number;
  /** Time between gossip rounds that push pending updates to a few random members. */
  readonly gossipIntervalMs: number;
  /** Members gossiped to per round. */
  readonly gossipNodes: number;
  /** Keep gossiping to a dead member this long, so a falsely accused node can still refute. */
  readonly gossipToTheDeadMs: number;
  /** Time between full-state exchanges with one random member (anti-entropy). */
  readonly pushPullIntervalMs: number;
  /**
   * Time between attempts to reach one random dead member by push-pull. Gossip gives up on
   * the dead after gossipToTheDeadMs; without this, two sides of a long partition that each
   * declared the other dead would never talk again (serf's "reconnect" does the same job).
   */
  readonly reconnectIntervalMs: number;
  /** Lifeguard local health: probe timing stretches up to this multiple when we are slow. */
  readonly awarenessMaxMultiplier: number;
  /** Dead and left members are forgotten after this long. */
  readonly reapAfterMs: number;
  /** Join retries back off from joinRetryMinMs doubling to joinRetryMaxMs, with jitter. */
  readonly joinRetryMinMs: number;
  readonly joinRetryMaxMs: number;
  /** Piggyback budget per datagram, estimated (the wire layer enforces the hard limit). */
  readonly maxPacketBytes: number;
}

const LAN: SwimConfig = {
  probeIntervalMs: 500,
  probeTimeoutMs: 250,
  indirectChecks: 3,
  retransmitMult: 4,
  suspicionMult: 3,
  suspicionConfirmations: 2,
  suspicionMaxTimeoutMult: 6,
  gossipIntervalMs: 200,
  gossipNodes: 3,
  gossipToTheDeadMs: 30_000,
  pushPullIntervalMs: 30_000,
  reconnectIntervalMs: 30_000,
  awarenessMaxMultiplier: 8,
  reapAfterMs: 24 * 3600_000,
  joinRetryMinMs: 500,
  joinRetryMaxMs: 30_000,
  maxPacketBytes: 1400,
};

export const SWIM_PRESETS = {
  lan: LAN,
  wan: { ...LAN, probeIntervalMs: 5000, probeTimeoutMs: 3000, suspicionMult: 6, suspicionConfirmations: 4, gossipIntervalMs: 500, gossipNodes: 4, gossipToTheDeadMs: 60_000, pushPullIntervalMs: 60_000, reconnectIntervalMs: 60_000 },
  local: { ...LAN, probeIntervalMs: 1000, probeTimeoutMs: 200, suspicionMult: 3, suspicionConfirmations: 1, gossipIntervalMs: 100, gossipToTheDeadMs: 15_000, pushPullIntervalMs: 15_000, reconnectIntervalMs: 15_000 },
} as const satisfies Record<string, SwimConfig>;

export type SwimPreset = keyof typeof SWIM_PRESETS;

/** Problems with a configuration, as field: message; empty when it is usable. */
export function checkSwimConfig(c: SwimConfig): string[] {
  const problems: string[] = [];
  const positive = (field: keyof SwimConfig): void => {
    if (!(Number.isFinite(c[field]) && c[field] > 0)) problems.push(`${field}: must be a positive number, got ${c[field]}`);
  };
  for (const field of Object.keys(LAN) as Array<keyof SwimConfig>) positive(field);
  if (c.probeTimeoutMs >= c.probeIntervalMs) problems.push(`probeTimeoutMs: must be less than probeIntervalMs (${c.probeIntervalMs})`);
  if (c.suspicionMult < 1) problems.push('suspicionMult: must be at least 1');
  if (c.suspicionMaxTimeoutMult < 1) problems.push('suspicionMaxTimeoutMult: must be at least 1');
  if (c.joinRetryMaxMs < c.joinRetryMinMs) problems.push('joinRetryMaxMs: must be at least joinRetryMinMs');
  return problems;
}
