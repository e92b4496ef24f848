// The history a linearizability test records: one entry per KV operation a client sent through
// the HTTP API (DESIGN.md, Interfaces: PUT/GET/DELETE /v1/kv/<key>[?cas=N]), with the time it was
// invoked and the time its answer came back.
//
// What "maybe applied" means here: a write whose answer is not a definite one (a timeout, a
// broken connection, a 5xx such as no-leader, or no answer at all before the test ended) may have
// been proposed and committed, now or at any later time, or never. Its output is
// `{ status: 'unknown' }`, whatever `completedAtMs` says: the checker lets it take effect at any
// point after its invocation (no upper bound, since a proposal can sit in a Raft log and commit
// after the client gave up), or not at all. A read without a definite answer tells nothing and
// the checker ignores it. Definite answers (200, 404 not-found, 409 cas-mismatch) are facts that
// the checker must fit into one sequential order consistent with real time. So is a refusal: a
// write the server says was not applied (503 no-leader: never proposed, or its entry was replaced
// by another leader's) or that never left the client (connection refused) did not happen, and
// a read that returns its value fails the check.

import { assert, err, ok, type Result } from '../../src/core/result.ts';

export type OpKind = 'put' | 'get' | 'cas' | 'delete';

/** The answer did not say whether the operation took effect (timeout, 5xx, no answer). */
export interface UnknownOutput {
  readonly status: 'unknown';
  /** What the client saw, for the timeline (e.g. "timeout after 2000 ms", "503 no-leader"). */
  readonly error?: string | undefined;
}
/** A write that certainly did not take effect (503 no-leader, or the connection was refused). */
export interface RefusedOutput {
  readonly status: 'refused';
  readonly error: string;
}
/** A write that took effect: the store's revision after it (PUT/DELETE answer `{revision}`). */
export interface WrittenOutput {
  readonly status: 'ok';
  readonly revision: number;
}
/** 409: the key's modRevision differed from the expected one (0 = the key exists). */
export interface CasMismatchOutput {
  readonly status: 'cas-mismatch';
  /** The modRevision the server reported, when the client parsed it (0 = absent); else unchecked. */
  readonly actualModRevision?: number | undefined;
}
export interface NotFoundOutput {
  readonly status: 'not-found';
}
/** A linearizable GET (never `?stale`) that found the key. */
export interface ReadOutput {
  readonly status: 'ok';
  readonly value: string;
  readonly modRevision: number;
}

export type PutOutput = WrittenOutput | UnknownOutput | RefusedOutput;
export type CasOutput = WrittenOutput | CasMismatchOutput | UnknownOutput | RefusedOutput;
export type GetOutput = ReadOutput | NotFoundOutput | UnknownOutput;
export type DeleteOutput = WrittenOutput | NotFoundOutput | CasMismatchOutput | UnknownOutput | RefusedOutput;

interface OpBase {
  /** Unique within the history. */
  readonly id: number;
  /** The client (a sequential actor) that sent it; the timeline draws one lane per client. */
  readonly client: string;
  readonly key: string;
  readonly invokedAtMs: number;
  /** undefined: no answer came back (the op is maybe applied if it is a write). */
  readonly completedAtMs: number | undefined;
}

/** PUT /v1/kv/<key> without ?cas. */
export interface PutOp extends OpBase {
  readonly kind: 'put';
  readonly input: { readonly value: string };
  readonly output: PutOutput;
}
/** PUT /v1/kv/<key>?cas=<expectedModRevision> (0 = the key must not exist). */
export interface CasOp extends OpBase {
  readonly kind: 'cas';
  readonly input: { readonly value: string; readonly expectedModRevision: number };
  readonly output: CasOutput;
}
/** GET /v1/kv/<key> (linearizable). */
export interface GetOp extends OpBase {
  readonly kind: 'get';
  readonly input: Record<string, never>;
  readonly output: GetOutput;
}
/** DELETE /v1/kv/<key>[?cas=<expectedModRevision>]. */
export interface DeleteOp extends OpBase {
  readonly kind: 'delete';
  readonly input: { readonly expectedModRevision: number | undefined };
  readonly output: DeleteOutput;
}

export type Operation = PutOp | CasOp | GetOp | DeleteOp;
export type History = readonly Operation[];

/** A write whose effect is not known: it may take effect at any time after its invocation, or never. */
export function isMaybeApplied(op: Operation): boolean {
  return op.kind !== 'get' && (op.output.status === 'unknown' || op.completedAtMs === undefined);
}

/** The revision a definite, successful write returned (undefined for reads and other answers). */
export function writtenRevision(op: Operation): number | undefined {
  if (op.kind === 'get' || op.completedAtMs === undefined) return undefined;
  return op.output.status === 'ok' ? op.output.revision : undefined;
}

/**
 * Checks that a history is well formed (as recorded, or as loaded from a saved JSON file): unique
 * ids, finite times, completion not before invocation, outputs that fit the kind. Returns every
 * problem found, so a broken recorder is fixed in one round.
 */
export function validateHistory(history: unknown): Result<History, string[]> {
  if (!Array.isArray(history)) return err(['the history is not an array']);
  const problems: string[] = [];
  const ids = new Set<number>();
  history.forEach((raw: unknown, index) => {
    const where = `operation ${index}`;
    if (typeof raw !== 'object' || raw === null) {
      problems.push(`${where} is not an object`);
      return;
    }
    const op = raw as Record<string, unknown>;
    if (typeof op['id'] !== 'number' || !Number.isSafeInteger(op['id'])) problems.push(`${where}: id is not an integer`);
    else if (ids.has(op['id'])) problems.push(`${where}: id ${op['id']} is used twice`);
    else ids.add(op['id']);
    if (typeof op['client'] !== 'string') problems.push(`${where}: client is not a string`);
    if (typeof op['key'] !== 'string') problems.push(`${where}: key is not a string`);
    const invoked = op['invokedAtMs'];
    const completed = op['completedAtMs'];
    if (typeof invoked !== 'number' || !Number.isFinite(invoked)) problems.push(`${where}: invokedAtMs is not a finite number`);
    if (completed !== undefined && completed !== null && (typeof completed !== 'number' || !Number.isFinite(completed))) problems.push(`${where}: completedAtMs is neither a finite number nor absent`);
    if (typeof invoked === 'number' && typeof completed === 'number' && completed < invoked) problems.push(`${where}: completed at ${completed} ms, before its invocation at ${invoked} ms`);
    const input = op['input'];
    const output = op['output'];
    if (typeof input !== 'object' || input === null) problems.push(`${where}: input is not an object`);
    if (typeof output !== 'object' || output === null) {
      problems.push(`${where}: output is not an object`);
      return;
    }
    const inp = (input ?? {}) as Record<string, unknown>;
    const out = output as Record<string, unknown>;
    const status = out['status'];
    const kind = op['kind'];
    if (kind !== 'put' && kind !== 'cas' && kind !== 'get' && kind !== 'delete') {
      problems.push(`${where}: kind ${JSON.stringify(kind)} is not put, cas, get or delete`);
      return;
    }
    if (typeof status !== 'string' || !OUTPUTS_OF[kind].includes(status)) problems.push(`${where}: a ${kind} cannot answer ${JSON.stringify(status)}`);
    if (status !== 'unknown' && typeof completed !== 'number') problems.push(`${where}: a definite answer (${JSON.stringify(status)}) needs completedAtMs`);
    if ((kind === 'put' || kind === 'cas') && typeof inp['value'] !== 'string') problems.push(`${where}: a ${kind} needs input.value (a string)`);
    if (kind === 'cas' && !isRevision(inp['expectedModRevision'])) problems.push(`${where}: a cas needs input.expectedModRevision (an integer >= 0)`);
    if (kind === 'delete' && inp['expectedModRevision'] !== undefined && inp['expectedModRevision'] !== null && !isRevision(inp['expectedModRevision'])) problems.push(`${where}: input.expectedModRevision is not an integer >= 0`);
    if (status === 'ok' && kind !== 'get' && !isPositiveRevision(out['revision'])) problems.push(`${where}: a successful ${kind} needs output.revision (an integer >= 1)`);
    if (status === 'ok' && kind === 'get') {
      if (typeof out['value'] !== 'string') problems.push(`${where}: a successful get needs output.value (a string)`);
      if (!isPositiveRevision(out['modRevision'])) problems.push(`${where}: a successful get needs output.modRevision (an integer >= 1)`);
    }
    if (status === 'cas-mismatch' && out['actualModRevision'] !== undefined && out['actualModRevision'] !== null && !isRevision(out['actualModRevision'])) problems.push(`${where}: output.actualModRevision is not an integer >= 0`);
  });
  if (problems.length > 0) return err(problems);
  // JSON has no undefined: a saved history writes null (or omits the field); normalize back.
  return ok((history as Record<string, unknown>[]).map(normalize));
}

function normalize(raw: Record<string, unknown>): Operation {
  const completed = raw['completedAtMs'];
  const input = { ...(raw['input'] as Record<string, unknown>) };
  if (raw['kind'] === 'delete' && input['expectedModRevision'] === null) input['expectedModRevision'] = undefined;
  if (raw['kind'] === 'delete' && !('expectedModRevision' in input)) input['expectedModRevision'] = undefined;
  const output = { ...(raw['output'] as Record<string, unknown>) };
  if (output['actualModRevision'] === null) delete output['actualModRevision'];
  return { ...raw, input, output, completedAtMs: typeof completed === 'number' ? completed : undefined } as unknown as Operation;
}

function isRevision(x: unknown): boolean {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

function isPositiveRevision(x: unknown): boolean {
  return isRevision(x) && (x as number) >= 1;
}

/** One operation in flight, returned by HistoryRecorder.invoke. */
export interface PendingOp {
  readonly id: number;
}

type InputOf<K extends OpKind> = Extract<Operation, { kind: K }>['input'];
const OUTPUTS_OF: Record<OpKind, readonly string[]> = {
  put: ['ok', 'unknown', 'refused'],
  cas: ['ok', 'cas-mismatch', 'unknown', 'refused'],
  get: ['ok', 'not-found', 'unknown'],
  delete: ['ok', 'not-found', 'cas-mismatch', 'unknown', 'refused'],
};

/**
 * Records a history as clients run: invoke before sending the request, complete when the answer
 * (or the decision to give up) arrives. Times come from an injected clock (monotonic, ms) so one
 * recorder can serve many concurrent clients. Bounded: at most maxOps operations.
 */
export class HistoryRecorder {
  readonly #nowMs: () => number;
  readonly #maxOps: number;
  readonly #ops: Operation[] = [];
  readonly #pending = new Map<number, number>();

  constructor(options: { nowMs: () => number; maxOps?: number }) {
    this.#nowMs = options.nowMs;
    this.#maxOps = options.maxOps ?? 1_000_000;
    assert(Number.isSafeInteger(this.#maxOps) && this.#maxOps > 0, 'maxOps is a positive integer');
  }

  get size(): number {
    return this.#ops.length;
  }

  invoke<K extends OpKind>(client: string, key: string, kind: K, input: InputOf<K>): PendingOp {
    assert(this.#ops.length < this.#maxOps, `the history holds at most ${this.#maxOps} operations`);
    const id = this.#ops.length;
    const op = { id, client, key, kind, input, output: { status: 'unknown' }, invokedAtMs: this.#nowMs(), completedAtMs: undefined } as Operation;
    this.#ops.push(op);
    this.#pending.set(id, id);
    return { id };
  }

  /** The answer arrived (use `{status: 'unknown', error}` for timeouts and 5xx). Once per op. */
  complete(pending: PendingOp, output: Operation['output']): void {
    const index = this.#pending.get(pending.id);
    assert(index !== undefined, `operation ${pending.id} is not pending`);
    this.#pending.delete(pending.id);
    const op = this.#ops[index];
    assert(op !== undefined, 'pending op exists');
    assert(OUTPUTS_OF[op.kind].includes(output.status), `a ${op.kind} cannot answer ${output.status}`);
    this.#ops[index] = { ...op, output, completedAtMs: this.#nowMs() } as Operation;
  }

  /** Everything recorded so far; operations still pending have no completion (maybe applied). */
  history(): History {
    return [...this.#ops];
  }
}
