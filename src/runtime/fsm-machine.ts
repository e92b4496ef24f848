// The cluster's state machine as the Raft runtime sees it (src/runtime/raft/node.ts StateMachine):
// log entries and snapshots are bytes; ClusterFsm (src/core/fsm) works on typed commands. This
// adapter decodes each committed entry with the fsm.* schemas (src/wire/fsm.ts), applies it, and
// hands the ApplyResult back to the proposer.
//
// An entry that does not decode is a bug (a proposer that skipped encodeCommand) or corruption
// that got past the log's checksums. It must neither crash the node (every replica would crash on
// the same entry, and again after each restart) nor make replicas diverge. So it is skipped:
// ClusterFsm.skip(index) moves the applied index and nothing else, and the proposer gets
// { ok: false, code: 'invalid', reason }. Every replica decodes the same bytes with the same
// schemas, so every replica skips it. The reason text stays out of the replicated state on
// purpose: it comes from library error messages, which may differ between two builds during a
// rolling upgrade, while the state (and the event hash chain) must not.

import { ClusterFsm, FSM_DEFAULTS } from '../core/fsm/fsm.ts';
import type { ApplyResult, Command } from '../core/fsm/types.ts';
import { assert, type Result } from '../core/result.ts';
import {
  createFsmCodec,
  createFsmSnapshotCodec,
  decodeCommand,
  decodeFsmSnapshot,
  encodeCommand,
  encodeFsmSnapshot,
  MAX_FSM_REASON_CHARS,
  type FsmCodec,
  type FsmSnapshotCodec,
} from '../wire/fsm.ts';
import { decodeRestorableSnapshot } from '../wire/snapshot-file.ts';
import type { StateMachine } from './raft/node.ts';

/** A snapshot that cannot be restored: the node refuses it and keeps its current state. */
export class FsmSnapshotError extends Error {
  override readonly name = 'FsmSnapshotError';
}

export interface FsmMachineOptions {
  /**
   * The state machine to drive; a fresh ClusterFsm with the defaults when absent, which decodes
   * restore.commit bodies with the snapshot codec (one given here must be built the same way).
   */
  readonly fsm?: ClusterFsm;
  /** Commands in log entries; createFsmCodec() when absent. Proposers must encode with the same (see encodeCommand). */
  readonly codec?: FsmCodec;
  /** Snapshots; createFsmSnapshotCodec() when absent. */
  readonly snapshotCodec?: FsmSnapshotCodec;
  /** Told about every entry skipped as undecodable (for a log line and a metric). */
  readonly onInvalidEntry?: (index: number, reason: string) => void;
}

export class FsmMachine implements StateMachine {
  readonly #fsm: ClusterFsm;
  readonly #codec: FsmCodec;
  readonly #snapshotCodec: FsmSnapshotCodec;
  readonly #onInvalidEntry: ((index: number, reason: string) => void) | undefined;

  constructor(options: FsmMachineOptions = {}) {
    this.#codec = options.codec ?? createFsmCodec();
    const snapshotCodec = options.snapshotCodec ?? createFsmSnapshotCodec();
    this.#snapshotCodec = snapshotCodec;
    this.#fsm = options.fsm ?? new ClusterFsm(FSM_DEFAULTS, (body) => decodeRestorableSnapshot(snapshotCodec, body));
    this.#onInvalidEntry = options.onInvalidEntry;
  }

  /** The state, for reads (queries only: every change goes through the log). */
  get fsm(): ClusterFsm {
    return this.#fsm;
  }

  /** The bytes to propose for a command: the format apply() decodes. */
  encodeCommand(command: Command): Result<Uint8Array, string> {
    return encodeCommand(this.#codec, command);
  }

  apply(entry: { readonly index: number; readonly term: number; readonly data: Uint8Array }): ApplyResult {
    // Entries apply once, in order (the runtime guarantees it; a replay would double-apply).
    assert(entry.index > this.#fsm.appliedIndex, `apply at ${entry.index} after ${this.#fsm.appliedIndex}: entries apply once, in order`);
    const decoded = decodeCommand(this.#codec, entry.data);
    if (!decoded.ok) {
      this.#fsm.skip(entry.index);
      this.#onInvalidEntry?.(entry.index, decoded.error);
      const reason = `log entry ${entry.index} (term ${entry.term}) is not a valid command and was skipped: ${decoded.error}`;
      return { ok: false, code: 'invalid', reason: reason.length <= MAX_FSM_REASON_CHARS ? reason : `${reason.slice(0, MAX_FSM_REASON_CHARS - 1)}…` };
    }
    return this.#fsm.apply(entry.index, decoded.value);
  }

  /**
   * The whole state as bytes. Throws when it cannot be encoded (over the snapshot size limit, or
   * a broken invariant): writing a snapshot that no node could restore would be worse, and the
   * Raft node stops on the error (onFatal) with the log intact.
   */
  snapshot(): Uint8Array {
    const encoded = encodeFsmSnapshot(this.#snapshotCodec, this.#fsm.snapshot());
    if (!encoded.ok) throw new FsmSnapshotError(`cannot take a state machine snapshot: ${encoded.error}`);
    return encoded.value;
  }

  /**
   * Replaces the state with a snapshot's, all or nothing: the bytes are decoded and checked in
   * full before anything changes. A bad snapshot throws FsmSnapshotError and the node refuses it.
   */
  restore(data: Uint8Array): void {
    const decoded = decodeFsmSnapshot(this.#snapshotCodec, data);
    if (!decoded.ok) throw new FsmSnapshotError(`refusing the state machine snapshot (${data.byteLength} bytes): ${decoded.error}`);
    this.#fsm.restore(decoded.value);
  }
}
