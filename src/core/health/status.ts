// Check statuses and how they combine (issue 6, item 5 "Health, pushed"). The three values and
// their order are Consul's (passing < warning < critical): an allocation is as healthy as its
// least healthy check, so one critical check makes the whole instance critical.

export type CheckStatus = 'passing' | 'warning' | 'critical';

export const CHECK_STATUSES: readonly CheckStatus[] = ['passing', 'warning', 'critical'];

const SEVERITY: Readonly<Record<CheckStatus, number>> = { passing: 0, warning: 1, critical: 2 };

export function isCheckStatus(value: unknown): value is CheckStatus {
  return value === 'passing' || value === 'warning' || value === 'critical';
}

/** The less healthy of two statuses. */
export function worseStatus(a: CheckStatus, b: CheckStatus): CheckStatus {
  return SEVERITY[b] > SEVERITY[a] ? b : a;
}

/**
 * The aggregate status of an allocation: the worst of its checks. An allocation without checks
 * is passing (the caller only tracks allocations that are running, so "running" is its health).
 */
export function worstStatus(statuses: Iterable<CheckStatus>): CheckStatus {
  let worst: CheckStatus = 'passing';
  for (const s of statuses) worst = worseStatus(worst, s);
  return worst;
}
