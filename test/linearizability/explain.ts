// What a person reads when the checker says no: a timeline per failing key (one lane per client,
// each op drawn as its interval), the longest linearizable prefix the search found, and the op
// it could not place with the model's reason. saveHistory keeps the evidence (JSON that
// validateHistory loads back, and the timeline as text) so a failure can be replayed offline.

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { checkHistory, type CheckResult, type KeyResult, type KeyState } from './checker.ts';
import { isMaybeApplied, type History, type Operation } from './history.ts';

const LANE_COLUMNS = 100;
/** Bound on the ops drawn per key (the JSON keeps them all): the ones nearest the stuck op. */
const MAX_OPS_DRAWN = 60;

export function explain(result: CheckResult): string {
  const lines: string[] = [];
  const ops = result.history.length;
  const illegalKeys = result.keys.filter((k) => k.outcome === 'illegal');
  const unknownKeys = result.keys.filter((k) => k.outcome === 'unknown');
  lines.push(`linearizability: ${result.outcome.toUpperCase()} (${ops} operations, ${result.keys.length} keys; illegal keys: ${illegalKeys.length}, undecided keys: ${unknownKeys.length})`);
  for (const v of result.revisionViolations) {
    lines.push('', `revision counter violated: ${v.message}`);
    for (const op of v.ops) lines.push(`  ${describeOp(op)}`);
  }
  for (const k of [...illegalKeys, ...unknownKeys]) lines.push('', ...explainKey(k));
  return lines.join('\n') + '\n';
}

function explainKey(k: KeyResult): string[] {
  const lines: string[] = [];
  const verdict = k.outcome === 'illegal' ? 'not linearizable' : `undecided after ${k.steps} search steps (raise maxStepsPerKey)`;
  lines.push(`key ${JSON.stringify(k.key)}: ${verdict}; ${k.ops.length} operations`);
  const drawn = nearest(k.ops, k.stuckOp, MAX_OPS_DRAWN);
  if (drawn.length < k.ops.length) lines.push(`  (drawing the ${drawn.length} operations nearest the stuck one; the saved JSON has all)`);
  const linearizedAt = new Map<number, number>();
  k.longestPrefix.forEach((op, i) => linearizedAt.set(op.id, i + 1));
  lines.push(...lanes(drawn, k.stuckOp));
  lines.push('', '  operations (L<n>: n-th in the longest linearized prefix; !! could not be placed; ? maybe applied):');
  for (const op of drawn) {
    const mark = op.id === k.stuckOp?.id ? '!!' : linearizedAt.has(op.id) ? `L${linearizedAt.get(op.id)}` : '  ';
    lines.push(`  ${mark.padStart(5)} ${describeOp(op)}`);
  }
  lines.push('', `  longest linearizable prefix found (${k.longestPrefix.length} of ${k.ops.length}):`);
  const shown = k.longestPrefix.slice(-20);
  if (shown.length < k.longestPrefix.length) lines.push(`    ... ${k.longestPrefix.length - shown.length} earlier ops`);
  for (const op of shown) lines.push(`    ${describeOp(op)}`);
  if (k.stateAfterPrefix !== undefined) lines.push(`  state after it: ${describeState(k.stateAfterPrefix)}`);
  if (k.stuckOp !== undefined) {
    lines.push(`  could not place: ${describeOp(k.stuckOp)}`);
    lines.push(`    because ${k.stuckReason ?? 'no legal position exists'}`);
  }
  return lines;
}

function nearest(ops: readonly Operation[], stuck: Operation | undefined, max: number): Operation[] {
  if (ops.length <= max) return [...ops];
  const centre = stuck === undefined ? 0 : Math.max(0, ops.findIndex((op) => op.id === stuck.id));
  const from = Math.max(0, Math.min(centre - Math.floor(max / 2), ops.length - max));
  return ops.slice(from, from + max);
}

/** One lane per client: '[' invocation, ']' completion, '?' an interval with no known end. */
function lanes(ops: readonly Operation[], stuck: Operation | undefined): string[] {
  if (ops.length === 0) return [];
  const start = Math.min(...ops.map((op) => op.invokedAtMs));
  const end = Math.max(...ops.map((op) => op.completedAtMs ?? op.invokedAtMs), start + 1);
  const col = (t: number): number => Math.min(LANE_COLUMNS - 1, Math.floor(((t - start) / (end - start)) * (LANE_COLUMNS - 1)));
  const clients = [...new Set(ops.map((op) => op.client))].sort();
  const width = Math.max(...clients.map((c) => c.length), 6);
  const out = [`  ${'time'.padEnd(width)} ${start} ms ${'.'.repeat(Math.max(0, LANE_COLUMNS - 20))} ${end} ms`];
  for (const client of clients) {
    // Overlapping ops of one client (a recorder bug, or a client with many requests in flight)
    // go on extra rows of the same lane.
    const rows: string[][] = [];
    for (const op of ops.filter((o) => o.client === client)) {
      const from = col(op.invokedAtMs);
      const maybe = isMaybeApplied(op);
      const to = op.completedAtMs === undefined ? LANE_COLUMNS - 1 : col(op.completedAtMs);
      let row = rows.find((r) => r.slice(from, to + 1).every((c) => c === ' '));
      if (row === undefined) rows.push((row = new Array<string>(LANE_COLUMNS).fill(' ')));
      for (let c = from; c <= to; c++) row[c] = maybe ? '?' : '-';
      row[from] = '[';
      if (op.completedAtMs !== undefined) row[to] = ']';
      const label = `${op.id === stuck?.id ? '!!' : ''}${op.id}`;
      for (let i = 0; i < label.length && from + 1 + i < to; i++) row[from + 1 + i] = label[i]!;
    }
    rows.forEach((row, i) => out.push(`  ${(i === 0 ? client : '').padEnd(width)} ${row.join('')}`));
  }
  return out;
}

export function describeOp(op: Operation): string {
  const when = `[${op.invokedAtMs}..${op.completedAtMs ?? '?'}]`;
  const maybe = isMaybeApplied(op) ? ' ? maybe applied' : '';
  let call: string;
  switch (op.kind) {
    case 'put':
      call = `put(${JSON.stringify(op.input.value)})`;
      break;
    case 'cas':
      call = `cas(${JSON.stringify(op.input.value)} if modRevision=${op.input.expectedModRevision})`;
      break;
    case 'get':
      call = 'get()';
      break;
    case 'delete':
      call = op.input.expectedModRevision === undefined ? 'delete()' : `delete(if modRevision=${op.input.expectedModRevision})`;
      break;
  }
  const out = op.output;
  let answer: string;
  switch (out.status) {
    case 'ok':
      answer = 'value' in out ? `${JSON.stringify(out.value)} @ modRevision ${out.modRevision}` : `ok, revision ${out.revision}`;
      break;
    case 'not-found':
      answer = 'not found';
      break;
    case 'cas-mismatch':
      answer = out.actualModRevision === undefined ? 'cas mismatch' : `cas mismatch (modRevision ${out.actualModRevision})`;
      break;
    case 'unknown':
      answer = `unknown${out.error === undefined ? '' : ` (${out.error})`}`;
      break;
    case 'refused':
      answer = `refused, not applied (${out.error})`;
      break;
  }
  return `#${op.id} ${op.client} ${when} ${op.key}: ${call} -> ${answer}${maybe}`;
}

function describeState(s: KeyState): string {
  if (s.value === undefined) return `absent (last write at ${s.revKnown ? '' : 'least '}revision ${s.rev})`;
  const rev = s.revKnown ? `modRevision ${s.rev}` : `modRevision unknown, >= ${s.rev}${s.excluded.length > 0 ? `, not ${s.excluded.join('/')}` : ''}`;
  return `${JSON.stringify(s.value)} @ ${rev}`;
}

/**
 * Writes `<dir>/<name>.json` (the history; validateHistory loads it back) and
 * `<dir>/<name>.timeline.txt` (explain of the result, checked here if not given). Returns both paths.
 */
export async function saveHistory(dir: string, name: string, history: History, result?: CheckResult): Promise<{ jsonPath: string; timelinePath: string }> {
  if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new Error(`history name ${JSON.stringify(name)} must be a plain file name`);
  await mkdir(dir, { recursive: true });
  const jsonPath = join(dir, `${name}.json`);
  const timelinePath = join(dir, `${name}.timeline.txt`);
  // completedAtMs: null keeps "no answer" visible in the file (JSON drops undefined fields).
  const json = JSON.stringify(history.map((op) => ({ ...op, completedAtMs: op.completedAtMs ?? null })), null, 1);
  await writeFile(jsonPath, json + '\n');
  await writeFile(timelinePath, explain(result ?? checkHistory(history)));
  return { jsonPath, timelinePath };
}
