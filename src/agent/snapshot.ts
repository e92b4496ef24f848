// Snapshot save and restore for the agent (GET and PUT /v1/snapshot; the file format is
// src/wire/snapshot-file.ts, the replicated restore commands src/core/fsm/restore.ts).
//
// Save reads the local state machine at one point (the caller makes it linearizable) and writes
// it as a snapshot file. Restore checks the whole file first - nothing is proposed for a file that
// would be refused - then proposes begin, the chunks and commit through Raft, so every replica
// applies the same bytes at the same log position, and the staged upload survives a change of
// leader (it is replicated state). Proposals that fail for want of a leader are retried for a
// while: chunks are idempotent, and a commit whose answer was lost is looked up in the event log.

import { randomUUID } from 'node:crypto';
import type { ClusterFsm, FsmSnapshot } from '../core/fsm/fsm.ts';
import { MAX_RESTORE_BYTES, chunkBody } from '../core/fsm/restore.ts';
import type { ApplyResult, ClusterEvent, Command } from '../core/fsm/types.ts';
import { ApiError } from '../api/errors.ts';
import type { RestoreResult, SavedSnapshot } from '../api/snapshot.ts';
import { createFsmSnapshotCodec, encodeFsmSnapshot } from '../wire/fsm.ts';
import { decodeSnapshotFile, describeSnapshotFileError, encodeSnapshotFile } from '../wire/snapshot-file.ts';
import { VERSION } from '../version.ts';

/** How long one step of a restore keeps retrying while there is no leader (an election). */
const RETRY_FOR_MS = 30_000;
const RETRY_PAUSE_MS = 250;
const RETRYABLE: ReadonlySet<string> = new Set(['no-leader', 'unavailable', 'timeout']);

/** The state as a snapshot file, without a restore being uploaded (its bytes are nobody's backup). */
export function saveSnapshotFile(fsm: ClusterFsm, info: { nodeId: string; epoch: number; createdAtMs: number }): SavedSnapshot {
  const { restoreStaging, ...state }: FsmSnapshot = fsm.snapshot();
  void restoreStaging;
  const body = encodeFsmSnapshot(createFsmSnapshotCodec(), state);
  if (!body.ok) throw new ApiError('internal', body.error);
  const file = encodeSnapshotFile({ sappersVersion: VERSION, ...info }, state, body.value);
  return { file, revision: state.kv.revision, appliedIndex: state.appliedIndex };
}

export interface RestoreDeps {
  /** Proposes through Raft; throws ApiError (no-leader, timeout, ...) when it cannot. */
  propose(command: Command): Promise<ApplyResult>;
  wallMs(): number;
  /** The local state machine after a read barrier. */
  readState(): Promise<ClusterFsm>;
  sleep(ms: number): Promise<void>;
  nowMs(): number;
}

export async function restoreSnapshotFile(file: Uint8Array, deps: RestoreDeps): Promise<RestoreResult> {
  const decoded = decodeSnapshotFile(file);
  if (!decoded.ok) throw new ApiError('bad-request', `snapshot refused, nothing was changed: ${describeSnapshotFileError(decoded.error)}`);
  const { header, body } = decoded.value;
  if (body.length > MAX_RESTORE_BYTES) {
    throw new ApiError('payload-too-large', `the snapshot body has ${body.length} bytes; a restore takes at most ${MAX_RESTORE_BYTES}`);
  }
  const id = randomUUID();
  const sha256 = header.bodySha256;
  const begun = await retrying(deps, () => deps.propose({ type: 'restore.begin', atMs: deps.wallMs(), id, totalBytes: body.length, sha256 }));
  if (!begun.ok) throw new ApiError('bad-request', `restore refused: ${describeRefusal(begun)}`);
  try {
    let seq = 0;
    for (const data of chunkBody(body)) {
      const chunk: Command = { type: 'restore.chunk', atMs: deps.wallMs(), id, seq, data };
      const r = await retrying(deps, () => deps.propose(chunk));
      if (!r.ok) throw refusedUpload(id, r);
      seq++;
    }
  } catch (e) {
    // Free the staged bytes on every replica now rather than at the next restore.
    await deps.propose({ type: 'restore.abort', atMs: deps.wallMs(), id }).catch(() => undefined);
    throw e;
  }
  const committed = await commit(id, deps);
  return {
    id,
    revision: committed.revision,
    event: committed.event,
    sha256,
    bytes: body.length,
    snapshotRevision: header.revision,
    snapshotCreatedAt: header.createdAt,
    keys: header.keys,
    sessions: header.sessions,
  };
}

/** Proposes the commit; when its answer was lost, the event log says what became of it. */
async function commit(id: string, deps: RestoreDeps): Promise<{ revision: number; event: number }> {
  let attempts = 0;
  const result = await retrying(deps, () => {
    attempts++;
    return deps.propose({ type: 'restore.commit', atMs: deps.wallMs(), id });
  });
  if (result.ok) return { revision: result.revision, event: result.event };
  // A retried commit finds no staging when an earlier attempt was applied after all.
  const event = attempts > 1 && result.code === 'not-found' ? outcomeEvent(await deps.readState(), id) : undefined;
  if (event?.type === 'restore') return { revision: Number(event.detail['revision']), event: event.seq };
  if (event?.type === 'restore.failed') throw new ApiError('bad-request', `snapshot refused, nothing was changed: the staged snapshot failed its ${String(event.detail['why'])} check`);
  if (result.code === 'invalid') throw new ApiError('bad-request', `snapshot refused, nothing was changed: ${result.reason}`);
  throw refusedUpload(id, result);
}

/** The newest restore or restore.failed event of upload `id`. */
function outcomeEvent(fsm: ClusterFsm, id: string): ClusterEvent | undefined {
  const events = fsm.events(fsm.eventAnchor.seq + 1);
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i]!;
    if (e.subject === id && (e.type === 'restore' || e.type === 'restore.failed')) return e;
  }
  return undefined;
}

function refusedUpload(id: string, r: Extract<ApplyResult, { ok: false }>): ApiError {
  if (r.code === 'not-found') return new ApiError('conflict', `restore ${id} was replaced by another restore begun meanwhile; nothing of this one was applied`);
  return new ApiError('conflict', `restore ${id} was refused: ${describeRefusal(r)}`);
}

function describeRefusal(r: Extract<ApplyResult, { ok: false }>): string {
  switch (r.code) {
    case 'invalid':
      return r.reason;
    case 'cas-mismatch':
      return `cas-mismatch at ${r.modRevision}`;
    case 'no-session':
      return `no session ${r.session}`;
    default:
      return `${r.code} ${r.subject}`;
  }
}

/** Runs a proposal again while it fails for want of a leader, up to RETRY_FOR_MS. */
async function retrying(deps: RestoreDeps, propose: () => Promise<ApplyResult>): Promise<ApplyResult> {
  const deadline = deps.nowMs() + RETRY_FOR_MS;
  for (;;) {
    try {
      return await propose();
    } catch (e) {
      if (!(e instanceof ApiError) || !RETRYABLE.has(e.code) || deps.nowMs() >= deadline) throw e;
    }
    await deps.sleep(RETRY_PAUSE_MS);
  }
}
