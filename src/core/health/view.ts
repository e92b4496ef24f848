// The health of one allocation as the API shows it: the table's state with times on the wall
// clock (the table keeps monotonic times, which mean nothing outside the process).

import type { CheckStatus } from './status.ts';
import type { AllocationHealthState, CheckType } from './table.ts';

export interface CheckView {
  readonly name: string;
  readonly type: CheckType;
  readonly status: CheckStatus;
  readonly output: string;
  /** Unix epoch ms of the last status change (or of the check's start). */
  readonly changedAtMs: number;
  /** Unix epoch ms of the last push or result; null before the first. */
  readonly updatedAtMs: number | null;
  /** TTL checks: Unix epoch ms by which the next push is due; null when none is pending. */
  readonly expiresAtMs: number | null;
  /** TTL checks only: null for the others. */
  readonly ttlMs: number | null;
}

export interface AllocationHealthView {
  readonly alloc: string;
  /** Worst of the checks; passing when there are none. */
  readonly status: CheckStatus;
  readonly checks: readonly CheckView[];
}

/** `toWallMs` maps a time of the table's clock to Unix epoch ms. */
export function healthView(state: AllocationHealthState, toWallMs: (monotonicMs: number) => number): AllocationHealthView {
  const wall = (t: number | undefined): number | null => (t === undefined ? null : toWallMs(t));
  return {
    alloc: state.allocId,
    status: state.status,
    checks: state.checks.map((c) => ({
      name: c.name,
      type: c.type,
      status: c.status,
      output: c.output,
      changedAtMs: toWallMs(c.changedAtMs),
      updatedAtMs: wall(c.updatedAtMs),
      expiresAtMs: wall(c.expiresAtMs),
      ttlMs: c.ttlMs ?? null,
    })),
  };
}
