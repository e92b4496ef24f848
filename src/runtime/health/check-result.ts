// What one run of an agent-side check produces, and the timeout every run is held to. Checkers
// never throw: every failure (refused, timed out, bad command) is a critical result whose output
// says why, because the output is what an operator reads in `alloc status`.

import type { CheckStatus } from '../../core/health/status.ts';
import type { KeepEnd } from '../../core/health/output.ts';
import type { Clock } from '../clock.ts';

export interface CheckResult {
  readonly status: CheckStatus;
  readonly output: string;
  /** Which end of an over-long output matters (exec: the tail; http: the head). */
  readonly keep?: KeepEnd;
}

/** One run of a check; it ends promptly once `signal` aborts, with the abort reason as output. */
export type CheckRun = (signal: AbortSignal) => Promise<CheckResult>;

/** The reason a run is aborted when its time is up; its message becomes the check's output. */
export class CheckTimeout extends Error {
  readonly timeoutMs: number;
  constructor(timeoutMs: number) {
    super(`timed out after ${timeoutMs} ms`);
    this.name = 'CheckTimeout';
    this.timeoutMs = timeoutMs;
  }
}

/** The message of an abort reason (an Error's message, else its text). */
export function abortMessage(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason.message : String(reason);
}

/**
 * Runs `run` with a deadline on `clock`: after timeoutMs its signal aborts with a CheckTimeout.
 * `stop` (optional) aborts it too, e.g. when the allocation is removed.
 */
export async function runWithTimeout(clock: Clock, timeoutMs: number, run: CheckRun, stop?: AbortSignal): Promise<CheckResult> {
  const timeout = new AbortController();
  const timer = clock.setTimer(timeoutMs, () => timeout.abort(new CheckTimeout(timeoutMs)));
  const signal = stop === undefined ? timeout.signal : AbortSignal.any([timeout.signal, stop]);
  try {
    return await run(signal);
  } catch (e) {
    // A checker bug must not take the agent down with it; the check shows the error instead.
    return { status: 'critical', output: `check failed: ${e instanceof Error ? e.message : String(e)}` };
  } finally {
    timer.cancel();
  }
}
