// Per-agent health state of the allocations running on a node (issue 6, item 5 "Health,
// pushed"). Pure: time comes in as nowMs arguments (the runtime passes its monotonic clock), so
// the simulator and property tests drive it exactly; the runtime arms one timer at
// nextDeadlineMs() and forwards the transitions it gets back to the leader in batches.
//
// Semantics (Consul's, where Sappers has no reason to differ):
// - Every check starts critical: an instance is not healthy until it has shown it is, so a
//   rolling update never counts a fresh instance as healthy by default. `updatedAtMs` is
//   undefined until the first result, which lets a restart policy grant a start-up grace period
//   (Nomad's check_restart.grace) without a fourth status.
// - A TTL check takes the status the app pushes and turns critical when ttlMs passes without a
//   push: at exactly lastPush + ttlMs it has expired (the app had ttlMs, not a millisecond more).
//   Any push, critical included, starts a new TTL.
// - Agent-side checks (http, tcp, exec) take the result of their last run; they never expire.
// - Before any change at time t, expiries due at or before t are applied first, so the
//   transitions reported are exactly the status history, in order, each change once.

import { assert, err, ok, type Result } from '../result.ts';
import type { HealthCheck } from '../scheduler/job.ts';
import { boundOutput, MAX_CHECK_OUTPUT_BYTES, type KeepEnd } from './output.ts';
import { worstStatus, type CheckStatus } from './status.ts';

export type CheckType = HealthCheck['type'];

export interface CheckState {
  readonly name: string;
  readonly type: CheckType;
  readonly status: CheckStatus;
  /** Bounded to MAX_CHECK_OUTPUT_BYTES of UTF-8. */
  readonly output: string;
  /** When the status last changed (or the check was added). */
  readonly changedAtMs: number;
  /** When the last push or result arrived; undefined before the first. */
  readonly updatedAtMs: number | undefined;
  /** TTL checks: the push deadline; undefined before the first push and after an expiry. */
  readonly expiresAtMs: number | undefined;
  /** TTL checks only. */
  readonly ttlMs: number | undefined;
}

export interface AllocationHealthState {
  readonly allocId: string;
  /** Worst of the checks; passing when there are none. */
  readonly status: CheckStatus;
  readonly checks: readonly CheckState[];
}

/** One status change of one check, with the allocation's aggregate before and after it. */
export interface HealthTransition {
  readonly allocId: string;
  readonly check: string;
  readonly checkType: CheckType;
  readonly from: CheckStatus;
  readonly to: CheckStatus;
  readonly output: string;
  readonly atMs: number;
  /** Equal when other checks keep the allocation where it was. */
  readonly allocationFrom: CheckStatus;
  readonly allocationTo: CheckStatus;
}

export type HealthAddError =
  | { readonly kind: 'duplicate-allocation'; readonly allocId: string }
  | { readonly kind: 'too-many-allocations'; readonly allocId: string; readonly max: number };

export type HealthPushError =
  | { readonly kind: 'unknown-allocation'; readonly allocId: string }
  | { readonly kind: 'unknown-check'; readonly allocId: string; readonly check: string; readonly known: readonly string[] }
  | { readonly kind: 'not-ttl'; readonly allocId: string; readonly check: string; readonly checkType: Exclude<CheckType, 'ttl'> };

export interface HealthTableOptions {
  /** Allocations tracked at once (default 4096; a node runs far fewer). */
  readonly maxAllocations?: number;
  readonly maxOutputBytes?: number;
}

export const DEFAULT_MAX_ALLOCATIONS = 4096;

interface MutableCheck {
  readonly name: string;
  readonly type: CheckType;
  readonly ttlMs: number | undefined;
  status: CheckStatus;
  output: string;
  changedAtMs: number;
  updatedAtMs: number | undefined;
  expiresAtMs: number | undefined;
}

interface Allocation {
  readonly checks: Map<string, MutableCheck>;
}

export class HealthTable {
  readonly #allocations = new Map<string, Allocation>();
  readonly #maxAllocations: number;
  readonly #maxOutputBytes: number;
  #lastNowMs = -Infinity;

  constructor(options: HealthTableOptions = {}) {
    this.#maxAllocations = options.maxAllocations ?? DEFAULT_MAX_ALLOCATIONS;
    this.#maxOutputBytes = options.maxOutputBytes ?? MAX_CHECK_OUTPUT_BYTES;
    assert(Number.isSafeInteger(this.#maxAllocations) && this.#maxAllocations > 0, 'maxAllocations is a positive integer');
  }

  get size(): number {
    return this.#allocations.size;
  }

  has(allocId: string): boolean {
    return this.#allocations.has(allocId);
  }

  /** Starts tracking a running allocation; every check starts critical (see the top of the file). */
  add(allocId: string, checks: readonly HealthCheck[], nowMs: number): Result<void, HealthAddError> {
    this.#advance(nowMs);
    if (this.#allocations.has(allocId)) return err({ kind: 'duplicate-allocation', allocId });
    if (this.#allocations.size >= this.#maxAllocations) return err({ kind: 'too-many-allocations', allocId, max: this.#maxAllocations });
    const map = new Map<string, MutableCheck>();
    for (const c of checks) {
      // Admission (validateJobSpec) refuses duplicate names, so one here is a bug upstream.
      assert(!map.has(c.name), `check name ${JSON.stringify(c.name)} appears twice in allocation ${allocId}`);
      if (c.type === 'ttl') assert(Number.isFinite(c.ttlMs) && c.ttlMs > 0, `ttlMs of check ${c.name} must be positive`);
      map.set(c.name, {
        name: c.name,
        type: c.type,
        ttlMs: c.type === 'ttl' ? c.ttlMs : undefined,
        status: 'critical',
        output: c.type === 'ttl' ? `waiting for the first push (TTL ${c.ttlMs} ms)` : 'not checked yet',
        changedAtMs: nowMs,
        updatedAtMs: undefined,
        expiresAtMs: undefined,
      });
    }
    this.#allocations.set(allocId, { checks: map });
    return ok(undefined);
  }

  /** Stops tracking; false if it was not tracked. No transitions: the allocation is gone. */
  remove(allocId: string): boolean {
    return this.#allocations.delete(allocId);
  }

  /** An app's push to one of its TTL checks. Expiries due by nowMs come first in the result. */
  push(allocId: string, check: string, status: CheckStatus, output: string, nowMs: number): Result<HealthTransition[], HealthPushError> {
    const found = this.#find(allocId, check);
    if (!found.ok) return found;
    const c = found.value;
    if (c.type !== 'ttl') return err({ kind: 'not-ttl', allocId, check, checkType: c.type });
    const out = this.expire(nowMs);
    assert(c.ttlMs !== undefined, 'a ttl check has ttlMs');
    c.expiresAtMs = nowMs + c.ttlMs;
    c.updatedAtMs = nowMs;
    this.#set(allocId, c, status, boundOutput(output, this.#maxOutputBytes, 'head'), nowMs, out);
    return ok(out);
  }

  /**
   * The result of one run of an agent-side check. A result for an allocation no longer tracked
   * (removed while its check ran) is dropped. Recording into a TTL check is a programmer error.
   */
  record(allocId: string, check: string, status: CheckStatus, output: string, nowMs: number, keep: KeepEnd = 'head'): HealthTransition[] {
    const out = this.expire(nowMs);
    const a = this.#allocations.get(allocId);
    if (a === undefined) return out;
    const c = a.checks.get(check);
    assert(c !== undefined, `no check ${JSON.stringify(check)} in allocation ${allocId}`);
    assert(c.type !== 'ttl', `check ${check} is a ttl check: its status is pushed, not recorded`);
    c.updatedAtMs = nowMs;
    this.#set(allocId, c, status, boundOutput(output, this.#maxOutputBytes, keep), nowMs, out);
    return out;
  }

  /** Turns every TTL check whose deadline is at or before nowMs critical. */
  expire(nowMs: number): HealthTransition[] {
    this.#advance(nowMs);
    const due: Array<{ allocId: string; check: MutableCheck; atMs: number }> = [];
    for (const [allocId, a] of this.#allocations) {
      for (const c of a.checks.values()) {
        if (c.expiresAtMs !== undefined && c.expiresAtMs <= nowMs) due.push({ allocId, check: c, atMs: c.expiresAtMs });
      }
    }
    // In deadline order (stable for equal deadlines), so transitions come out as they happened.
    due.sort((x, y) => x.atMs - y.atMs);
    const out: HealthTransition[] = [];
    for (const { allocId, check: c, atMs } of due) {
      c.expiresAtMs = undefined;
      const last = c.output === '' ? '' : `; last output: ${c.output}`;
      const output = boundOutput(`TTL expired: no push for ${c.ttlMs} ms${last}`, this.#maxOutputBytes, 'head');
      // The check turned critical at its deadline, not when the caller noticed.
      this.#set(allocId, c, 'critical', output, atMs, out);
    }
    return out;
  }

  /** The earliest TTL deadline of any tracked check, for the runtime's single timer. */
  nextDeadlineMs(): number | undefined {
    let next: number | undefined;
    for (const a of this.#allocations.values()) {
      for (const c of a.checks.values()) {
        if (c.expiresAtMs !== undefined && (next === undefined || c.expiresAtMs < next)) next = c.expiresAtMs;
      }
    }
    return next;
  }

  /** The allocation's checks as they are (call expire(now) first to see due expiries). */
  state(allocId: string): AllocationHealthState | undefined {
    const a = this.#allocations.get(allocId);
    if (a === undefined) return undefined;
    const checks = [...a.checks.values()].map((c) => ({ ...c }));
    return { allocId, status: aggregate(a), checks };
  }

  allocationIds(): string[] {
    return [...this.#allocations.keys()];
  }

  #find(allocId: string, check: string): Result<MutableCheck, HealthPushError> {
    const a = this.#allocations.get(allocId);
    if (a === undefined) return err({ kind: 'unknown-allocation', allocId });
    const c = a.checks.get(check);
    if (c === undefined) return err({ kind: 'unknown-check', allocId, check, known: [...a.checks.keys()] });
    return ok(c);
  }

  #set(allocId: string, c: MutableCheck, status: CheckStatus, output: string, atMs: number, out: HealthTransition[]): void {
    const a = this.#allocations.get(allocId);
    assert(a !== undefined, `allocation ${allocId} is tracked`);
    const before = aggregate(a);
    const from = c.status;
    c.output = output;
    if (from === status) return;
    c.status = status;
    c.changedAtMs = atMs;
    out.push({ allocId, check: c.name, checkType: c.type, from, to: status, output, atMs, allocationFrom: before, allocationTo: aggregate(a) });
  }

  #advance(nowMs: number): void {
    assert(Number.isFinite(nowMs), `nowMs must be finite, got ${nowMs}`);
    // The runtime passes a monotonic clock; time going back would reorder transitions.
    assert(nowMs >= this.#lastNowMs, `time went backwards: ${nowMs} < ${this.#lastNowMs}`);
    this.#lastNowMs = nowMs;
  }
}

function aggregate(a: Allocation): CheckStatus {
  return worstStatus(Array.from(a.checks.values(), (c) => c.status));
}
