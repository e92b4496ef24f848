// A linearizability checker for Sappers' KV histories (DESIGN.md, How we test, 6).
//
// Algorithm: Wing & Gong's search ("Testing and verifying concurrent objects", JPDC 1993) with
// Lowe's memoization ("Testing for linearizability", CCPE 2017), in the shape Porcupine uses
// (github.com/anishathalye/porcupine): the history becomes a doubly linked list of call and
// return entries sorted by time; the search walks it, linearizes a call whose model step is
// legal (lifting its call and return out of the list), and backtracks when it reaches a return
// whose call is not yet linearized. A set of (linearized-ops bitset, model state) pairs already
// explored prunes the search: reaching the same pair again cannot succeed where it failed.
//
// P-compositionality (Herlihy & Wing 1990, locality): a history over many keys is linearizable
// iff each key's sub-history is, so each key is checked on its own, which keeps the bitsets and
// the search small.
//
// The per-key model and revisions. Sappers has ONE revision counter for the whole store, so the
// exact revision a write gets depends on writes to other keys; modelling it exactly would couple
// every key and lose locality. The per-key model instead keeps what is true of ONE key whatever
// the other keys do, so it never rejects a correct execution:
//   - each write to the key gets a revision strictly greater than the previous write's to it;
//   - a read's modRevision, a CAS's expected modRevision (0 = absent) and a 409's reported one
//     are compared with the revision of the key's last write in the linearization;
//   - a write whose answer is unknown has an unknown revision: the state then holds a lower bound
//     (greater than the previous write's) and a short list of values a failed CAS ruled out; the
//     first later op that observes the revision binds it, provided it is >= the bound, not ruled
//     out, and not a revision some definite write in the WHOLE history returned (revisions are
//     unique store-wide).
// Soundness (never accepting a non-linearizable history): every rule above holds in any correct
// execution, and every definite answer is checked against the state; only unknown facts (the
// revision of a write nobody saw answered) are left open, and then only within the bounds above,
// so the checker accepts exactly when SOME choice of those unknowns gives a legal sequential
// order consistent with real time. Two cross-key facts of the global counter are checked on the
// side (checkGlobalRevisions): definite writes return distinct revisions, and a write that
// completed before another was invoked has the smaller revision.
//
// Maybe-applied writes (no answer, or an unknown one) have no return entry: the search may
// linearize them anywhere after their invocation, and a history is accepted once every DEFINITE
// op is linearized (a maybe-applied op never linearized simply did not take effect). This avoids
// the doubling a "took effect / did not" branch per op would cost.
//
// Times: intervals that touch (one op completes in the same millisecond another is invoked) are
// taken as concurrent, since the clock cannot order them.

import { assert, unreachable } from '../../src/core/result.ts';
import { isMaybeApplied, writtenRevision, type History, type Operation } from './history.ts';

export type Outcome = 'ok' | 'illegal' | 'unknown';

export interface CheckOptions {
  /** Search steps allowed per key before the key's answer is "unknown" (default 2,000,000). */
  readonly maxStepsPerKey?: number;
}

/** The model's view of one key (exposed for the timeline). */
export interface KeyState {
  /** undefined: the key does not exist. */
  readonly value: string | undefined;
  /** The last write's revision when revKnown; else a lower bound of it (0 before any write). */
  readonly rev: number;
  readonly revKnown: boolean;
  /** When !revKnown: revisions the unknown one cannot be (a failed CAS compared against them). */
  readonly excluded: readonly number[];
}

export interface KeyResult {
  readonly key: string;
  readonly outcome: Outcome;
  /** This key's operations, in invocation order (reads without an answer left out). */
  readonly ops: readonly Operation[];
  readonly steps: number;
  /** illegal/unknown: the longest sequence of ops the search managed to linearize, in order. */
  readonly longestPrefix: readonly Operation[];
  /** The state after longestPrefix. */
  readonly stateAfterPrefix: KeyState | undefined;
  /** illegal/unknown: a definite op that could not be placed after longestPrefix, and why. */
  readonly stuckOp: Operation | undefined;
  readonly stuckReason: string | undefined;
}

export interface RevisionViolation {
  readonly message: string;
  readonly ops: readonly Operation[];
}

export interface CheckResult {
  /** ok: linearizable. illegal: not. unknown: some key ran out of steps and none was illegal. */
  readonly outcome: Outcome;
  /** Per key, sorted by key. */
  readonly keys: readonly KeyResult[];
  /** Cross-key facts of the global revision counter that the history breaks. */
  readonly revisionViolations: readonly RevisionViolation[];
  readonly history: History;
}

const DEFAULT_MAX_STEPS_PER_KEY = 2_000_000;
const ABSENT: KeyState = { value: undefined, rev: 0, revKnown: true, excluded: [] };

export function checkHistory(history: History, options: CheckOptions = {}): CheckResult {
  const maxSteps = options.maxStepsPerKey ?? DEFAULT_MAX_STEPS_PER_KEY;
  assert(Number.isSafeInteger(maxSteps) && maxSteps > 0, 'maxStepsPerKey is a positive integer');
  const claimed = new Set<number>();
  for (const op of history) {
    const rev = writtenRevision(op);
    if (rev !== undefined) claimed.add(rev);
  }
  const byKey = new Map<string, Operation[]>();
  for (const op of history) {
    // A read without a definite answer says nothing; a refused write did not happen.
    if (op.kind === 'get' && (op.output.status === 'unknown' || op.completedAtMs === undefined)) continue;
    if (op.output.status === 'refused' && op.completedAtMs !== undefined) continue;
    let list = byKey.get(op.key);
    if (list === undefined) byKey.set(op.key, (list = []));
    list.push(op);
  }
  const keys = [...byKey.keys()].sort().map((key) => checkKey(key, byKey.get(key)!, claimed, maxSteps));
  const revisionViolations = checkGlobalRevisions(history);
  let outcome: Outcome = 'ok';
  if (keys.some((k) => k.outcome === 'unknown')) outcome = 'unknown';
  if (revisionViolations.length > 0 || keys.some((k) => k.outcome === 'illegal')) outcome = 'illegal';
  return { outcome, keys, revisionViolations, history };
}

// ---------------------------------------------------------------------------------------------
// The sequential model of one key.

type Step = { readonly ok: true; readonly state: KeyState } | { readonly ok: false; readonly reason: string };

const legal = (state: KeyState): Step => ({ ok: true, state });
const illegal = (reason: string): Step => ({ ok: false, reason });

/** The key's modRevision as CAS sees it, bound to `observed` when it is unknown. */
function observeModRevision(state: KeyState, observed: number, claimed: ReadonlySet<number>): Step {
  if (state.value === undefined) return observed === 0 ? legal(state) : illegal(`the key is absent (modRevision 0), not at ${observed}`);
  if (observed === 0) return illegal('the key exists (modRevision is not 0)');
  if (state.revKnown) return state.rev === observed ? legal(state) : illegal(`its modRevision is ${state.rev}, not ${observed}`);
  if (observed < state.rev) return illegal(`its modRevision (of a write with no answer) is at least ${state.rev}, not ${observed}`);
  if (state.excluded.includes(observed)) return illegal(`a failed compare-and-swap already showed its modRevision is not ${observed}`);
  if (claimed.has(observed)) return illegal(`revision ${observed} belongs to another write, not to the unanswered write that set the value`);
  return legal({ value: state.value, rev: observed, revKnown: true, excluded: [] });
}

/** The key's modRevision differs from `expected` (a 409 without the actual revision). */
function observeModRevisionIsNot(state: KeyState, expected: number): Step {
  if (state.value === undefined) return expected !== 0 ? legal(state) : illegal('the key is absent, so a compare-and-swap on 0 had to succeed');
  if (expected === 0) return legal(state);
  if (state.revKnown) return state.rev !== expected ? legal(state) : illegal(`its modRevision is ${expected}, so the compare-and-swap had to succeed`);
  if (expected < state.rev || state.excluded.includes(expected)) return legal(state);
  return legal({ ...state, excluded: [...state.excluded, expected].sort((a, b) => a - b) });
}

/** A write to the key takes effect, leaving `value`, with a returned revision or an unknown one. */
function write(state: KeyState, value: string | undefined, revision: number | undefined, claimed: ReadonlySet<number>): Step {
  if (revision === undefined) return legal({ value, rev: state.rev + 1, revKnown: false, excluded: [] });
  if (state.revKnown) {
    return revision > state.rev ? legal({ value, rev: revision, revKnown: true, excluded: [] }) : illegal(`revision ${revision} is not after the key's last write (revision ${state.rev})`);
  }
  // Some revision in [rev, revision), neither ruled out nor another write's, must be left for the
  // unanswered write (the scan stops at the first free one, usually the first).
  for (let r = state.rev; r < revision; r++) if (!state.excluded.includes(r) && !claimed.has(r)) return legal({ value, rev: revision, revKnown: true, excluded: [] });
  return illegal(`revision ${revision} leaves no room for the unanswered write before it (at least ${state.rev})`);
}

function step(state: KeyState, op: Operation, claimed: ReadonlySet<number>): Step {
  const maybe = isMaybeApplied(op);
  switch (op.kind) {
    case 'get': {
      const out = op.output;
      if (out.status === 'not-found') return state.value === undefined ? legal(state) : illegal(`the key holds ${show(state.value)}`);
      assert(out.status === 'ok', 'unanswered reads are dropped before the search');
      if (state.value === undefined) return illegal('the key is absent');
      if (state.value !== out.value) return illegal(`the key holds ${show(state.value)}, not ${show(out.value)}`);
      return observeModRevision(state, out.modRevision, claimed);
    }
    case 'put':
      return write(state, op.input.value, maybe ? undefined : writtenRevision(op), claimed);
    case 'cas': {
      const expected = op.input.expectedModRevision;
      if (!maybe && op.output.status === 'cas-mismatch') return mismatch(state, expected, op.output.actualModRevision, claimed);
      const seen = observeModRevision(state, expected, claimed);
      return seen.ok ? write(seen.state, op.input.value, maybe ? undefined : writtenRevision(op), claimed) : seen;
    }
    case 'delete': {
      const expected = op.input.expectedModRevision;
      const out = op.output;
      if (!maybe && out.status === 'cas-mismatch') {
        if (expected === undefined) return illegal('a delete without ?cas cannot fail a compare-and-swap');
        return mismatch(state, expected, out.actualModRevision, claimed);
      }
      // Without an answer the delete took effect (only if it could) or not at all; and only the
      // taking effect needs linearizing (see the header).
      if (!maybe && out.status === 'not-found') {
        if (state.value !== undefined) return illegal(`the key holds ${show(state.value)}`);
        return expected === undefined || expected === 0 ? legal(state) : illegal(`the key is absent (modRevision 0), so ?cas=${expected} had to fail with a mismatch`);
      }
      if (state.value === undefined) return illegal('the key is absent');
      const seen = expected === undefined ? legal(state) : observeModRevision(state, expected, claimed);
      return seen.ok ? write(seen.state, undefined, maybe ? undefined : writtenRevision(op), claimed) : seen;
    }
    default:
      return unreachable(op);
  }
}

function mismatch(state: KeyState, expected: number, actual: number | undefined, claimed: ReadonlySet<number>): Step {
  if (actual === undefined) return observeModRevisionIsNot(state, expected);
  if (actual === expected) return illegal(`the server reported a mismatch with modRevision ${actual}, the expected one`);
  return observeModRevision(state, actual, claimed);
}

function show(value: string): string {
  const quoted = JSON.stringify(value);
  return quoted.length > 40 ? `${quoted.slice(0, 37)}..."` : quoted;
}

function stateKey(state: KeyState, valueIds: Map<string, number>): string {
  let valueId = -1;
  if (state.value !== undefined) {
    valueId = valueIds.get(state.value) ?? valueIds.size;
    if (valueId === valueIds.size) valueIds.set(state.value, valueId);
  }
  const base = `${valueId}:${state.rev}:${state.revKnown ? 1 : 0}`;
  return state.excluded.length === 0 ? base : `${base}:${state.excluded.join(',')}`;
}

// ---------------------------------------------------------------------------------------------
// The search over one key's sub-history.

interface Entry {
  readonly index: number;
  readonly op: Operation;
  readonly isCall: boolean;
  readonly timeMs: number;
  /** The call's return entry (undefined for maybe-applied ops, which have none). */
  match: Entry | undefined;
  prev: Entry | undefined;
  next: Entry | undefined;
}

interface Frame {
  readonly entry: Entry;
  readonly stateBefore: KeyState;
}

function checkKey(key: string, opsIn: readonly Operation[], claimed: ReadonlySet<number>, maxSteps: number): KeyResult {
  const ops = [...opsIn].sort((a, b) => a.invokedAtMs - b.invokedAtMs || a.id - b.id);
  const n = ops.length;
  const entries: Entry[] = [];
  let remainingDefinite = 0;
  ops.forEach((op, index) => {
    const call: Entry = { index, op, isCall: true, timeMs: op.invokedAtMs, match: undefined, prev: undefined, next: undefined };
    entries.push(call);
    if (!isMaybeApplied(op)) {
      assert(op.completedAtMs !== undefined, 'definite ops have a completion');
      const ret: Entry = { index, op, isCall: false, timeMs: op.completedAtMs, match: call, prev: undefined, next: undefined };
      call.match = ret;
      entries.push(ret);
      remainingDefinite++;
    }
  });
  // Calls before returns at equal times: touching intervals are concurrent.
  entries.sort((a, b) => a.timeMs - b.timeMs || (a.isCall === b.isCall ? a.index - b.index : a.isCall ? -1 : 1));
  const head: Entry = { index: -1, op: ops[0]!, isCall: true, timeMs: Number.NEGATIVE_INFINITY, match: undefined, prev: undefined, next: undefined };
  let last = head;
  for (const e of entries) {
    last.next = e;
    e.prev = last;
    last = e;
  }

  // Zobrist hashing of the linearized set: O(1) per change instead of hashing the bitset.
  const zobrist = new Uint32Array(n);
  let seed = 0x9e3779b9;
  for (let i = 0; i < n; i++) {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t ^= t + Math.imul(t ^ (t >>> 7), 61 | t);
    zobrist[i] = (t ^ (t >>> 14)) >>> 0;
  }
  const bits = new Uint32Array(Math.ceil(n / 32) || 1);
  let hash = 0;
  const valueIds = new Map<string, number>();
  const seen = new Map<string, Uint32Array[]>();
  const flip = (i: number): void => {
    bits[i >>> 5]! ^= 1 << (i & 31);
    hash = (hash ^ zobrist[i]!) >>> 0;
  };
  /** Records (bits, state); false when it was explored already. */
  const remember = (state: KeyState): boolean => {
    const k = `${hash}|${stateKey(state, valueIds)}`;
    const list = seen.get(k);
    if (list === undefined) {
      seen.set(k, [bits.slice()]);
      return true;
    }
    for (const other of list) if (equalBits(other, bits)) return false;
    list.push(bits.slice());
    return true;
  };

  const lift = (call: Entry): void => {
    call.prev!.next = call.next;
    if (call.next !== undefined) call.next.prev = call.prev;
    const ret = call.match;
    if (ret !== undefined) {
      ret.prev!.next = ret.next;
      if (ret.next !== undefined) ret.next.prev = ret.prev;
    }
  };
  const unlift = (call: Entry): void => {
    const ret = call.match;
    if (ret !== undefined) {
      ret.prev!.next = ret;
      if (ret.next !== undefined) ret.next.prev = ret;
    }
    call.prev!.next = call;
    if (call.next !== undefined) call.next.prev = call;
  };

  const stack: Frame[] = [];
  let state = ABSENT;
  let entry = head.next;
  let steps = 0;
  let best: { prefix: Operation[]; state: KeyState; stuck: Operation; reason: string } | undefined;
  const result = (outcome: Outcome): KeyResult => ({
    key,
    outcome,
    ops,
    steps,
    longestPrefix: outcome === 'ok' ? [] : (best?.prefix ?? []),
    stateAfterPrefix: outcome === 'ok' ? undefined : best?.state,
    stuckOp: outcome === 'ok' ? undefined : best?.stuck,
    stuckReason: outcome === 'ok' ? undefined : best?.reason,
  });

  while (remainingDefinite > 0) {
    if (++steps > maxSteps) return result('unknown');
    assert(entry !== undefined, 'an unlinearized definite op keeps a return entry in the list');
    if (entry.isCall) {
      const next = step(state, entry.op, claimed);
      if (next.ok) {
        flip(entry.index);
        if (remember(next.state)) {
          stack.push({ entry, stateBefore: state });
          state = next.state;
          lift(entry);
          if (entry.match !== undefined) remainingDefinite--;
          entry = head.next;
          continue;
        }
        flip(entry.index);
      }
      entry = entry.next;
      continue;
    }
    // A return whose call is not linearized: this path is dead.
    if (best === undefined || stack.length > best.prefix.length) {
      const why = step(state, entry.op, claimed);
      best = {
        prefix: stack.map((f) => f.entry.op),
        state,
        stuck: entry.op,
        reason: why.ok ? 'placing it here repeats a combination already explored and found dead' : why.reason,
      };
    }
    const top = stack.pop();
    if (top === undefined) return result('illegal');
    state = top.stateBefore;
    flip(top.entry.index);
    unlift(top.entry);
    if (top.entry.match !== undefined) remainingDefinite++;
    entry = top.entry.next;
  }
  return result('ok');
}

function equalBits(a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Cross-key facts of the one revision counter.

/**
 * Definite writes return distinct revisions, and if write A completed before write B was invoked
 * then A's revision is smaller (the counter only grows, in commit order, which respects real time
 * for linearizable writes). Touching intervals are concurrent, as in the search.
 */
export function checkGlobalRevisions(history: History): RevisionViolation[] {
  const writes = history.filter((op) => writtenRevision(op) !== undefined);
  const violations: RevisionViolation[] = [];
  const byRevision = new Map<number, Operation>();
  for (const op of writes) {
    const rev = writtenRevision(op)!;
    const other = byRevision.get(rev);
    if (other !== undefined) violations.push({ message: `two writes returned revision ${rev}`, ops: [other, op] });
    else byRevision.set(rev, op);
  }
  const byInvocation = [...writes].sort((a, b) => a.invokedAtMs - b.invokedAtMs);
  const byCompletion = [...writes].sort((a, b) => a.completedAtMs! - b.completedAtMs!);
  let done = 0;
  let highest: Operation | undefined;
  for (const b of byInvocation) {
    while (done < byCompletion.length && byCompletion[done]!.completedAtMs! < b.invokedAtMs) {
      const a = byCompletion[done++]!;
      if (highest === undefined || writtenRevision(a)! > writtenRevision(highest)!) highest = a;
    }
    if (highest !== undefined && writtenRevision(highest)! >= writtenRevision(b)!) {
      violations.push({
        message: `write #${b.id} was invoked after write #${highest.id} completed, yet returned revision ${writtenRevision(b)} <= ${writtenRevision(highest)}`,
        ops: [highest, b],
      });
    }
  }
  return violations;
}
