// Durable storage of one Raft node: the log, the hard state, snapshots, and partially received
// snapshots (Raft paper, Figure 2 "persistent state", section 7 and Figure 13 InstallSnapshot).
//
// Layout under `dir`:
//   wal/                 the log: one WAL record per entry, WAL index = Raft index (wal.ts);
//                        record = msgpack [version, term, type, data, config] (raft-encoding.ts)
//   hardstate            term, vote and commit, replaced atomically (atomic-file.ts)
//   snapshots/snapshot-<index, 16 hex>-<term, 16 hex>.snap
//                        completed snapshots (header, meta, data, CRC-32C trailer), written to
//                        <name>.tmp, fsynced, renamed, directory fsynced; the newest `snapshotsKept`
//                        (default 2) are kept
//   snapshots/incoming-<index>-<term>-<totalBytes>.part
//                        one partially received snapshot, in checksummed frames, so that a
//                        transfer interrupted by a crash or restart resumes where it stopped
//
// Ordering guarantees the runtime node relies on (src/runtime/raft/node.ts):
// - append() calls reach the WAL in call order and share fsyncs (the WAL's group commit: appends
//   issued while a sync runs are written together and covered by the next single sync).
// - saveHardState(hs) is written only after every append() issued before it is durable, so a
//   crash can never leave a commit index that points past the log.
// - compact() and installSnapshot() are ordered with appends by call order; installSnapshot is
//   exclusive (operations called while it runs start after it).
// Any failure of a log or hard state write makes the storage unusable (every later call rejects
// with code 'failed'): after a failed fsync only a reopen, which reads what is really on disk,
// can be trusted (the WAL's rule, see wal.ts). One exception: a full disk (StorageError
// 'no-space') while writing, before any fsync, leaves nothing behind (the WAL rolls a partial
// append back; the hard state's temporary file is removed), so the storage stays usable and the
// same write may be retried once space returns.
//
// Recovery (RaftStorage.open) repairs only what a crash explains and refuses to start on anything
// else, with a RaftStorageError naming the file and the problem (see RaftStorageErrorCode).
//
// How a node uses it:
//   start:      open() -> { storage, state }; Raft core from state (hardState, snapshot, entries);
//               state machine from readSnapshot() when state.snapshot is set; log state.notes.
//   each Ready: installSnapshot(rd.snapshot) if set; then append(rd.entries) and
//               saveHardState(rd.hardState) (may run concurrently); then send messages.
//   snapshots:  saveSnapshot(meta, fsm bytes), then compact(through <= meta.index).
//   receiving:  beginIncoming(meta, total) -> resume offset; writeIncoming(meta, offset, chunk)
//               per chunk; finishIncoming(meta); hand the core the snapshot message; the core's
//               Ready then carries it and installSnapshot(meta) installs the received file.
//               After 'incoming-missing' (e.g. a failed write), call beginIncoming again.
//   stop:       close().

import { join } from 'node:path';
import { assert, err, ok, type Result } from '../../core/result.ts';
import type { Entry, HardState, LogIndex, SnapshotMeta, Term } from '../../core/raft/types.ts';
import { readAtomic, writeAtomic } from './atomic-file.ts';
import { isNoSpace, type FileHandle, type FileSystem } from './fs.ts';
import {
  decodeEntry,
  decodeHardState,
  decodeSnapshotFile,
  encodeEntry,
  encodeFrame,
  encodeHardState,
  encodeIncomingHeader,
  encodeSnapshotHeader,
  encodeSnapshotTrailer,
  FRAME_HEADER_BYTES,
  sameMeta,
  scanIncoming,
} from './raft-encoding.ts';
import { Wal, type WalCorruptionError, type WalOptions } from './wal.ts';

const WAL_DIR = 'wal';
const SNAPSHOT_DIR = 'snapshots';
const HARD_STATE_FILE = 'hardstate';
const SNAPSHOT_NAME = /^snapshot-([0-9a-f]{16})-([0-9a-f]{16})\.snap$/;
const INCOMING_NAME = /^incoming-([0-9a-f]{16})-([0-9a-f]{16})-([0-9a-f]{16})\.part$/;
const GiB = 1024 * 1024 * 1024;
const MiB = 1024 * 1024;
/** Entries read per WAL read during recovery. */
const RECOVERY_READ_BYTES = 16 * MiB;

export type RaftStorageErrorCode =
  // ---- recovery refusals (RaftStorage.open) ----
  /** The WAL is damaged beyond a torn tail (details in `cause`, a WalCorruptionError). */
  | 'wal-corrupt'
  /** The hard state file exists but does not verify or decode. */
  | 'bad-hard-state'
  /** The newest snapshot does not verify, and no older valid one is continued by the log. */
  | 'bad-snapshot'
  /** The log starts after snapshot.index + 1 (or after 1 without a snapshot): entries are missing. */
  | 'log-gap'
  /** The hard state's commit index is beyond both the last entry and the snapshot. */
  | 'commit-beyond-log'
  /** A WAL record verifies but does not decode as a log entry. */
  | 'bad-entry'
  /** Entry terms decrease along the log (or fall below the snapshot's term). */
  | 'term-regression'
  // ---- incoming snapshot transfer ----
  /** writeIncoming at an offset other than the bytes present; `expectedOffset` says where to resume. */
  | 'incoming-offset'
  /** totalBytes above maxSnapshotBytes, or a chunk that would run past totalBytes. */
  | 'incoming-too-large'
  /** finishIncoming before all totalBytes arrived. */
  | 'incoming-incomplete'
  /** No incoming transfer (or a different one) is in progress for this snapshot. */
  | 'incoming-missing'
  /** The received bytes no longer verify when read back (the transfer restarts from 0). */
  | 'incoming-corrupt'
  // ---- use ----
  /** saveSnapshot of more than maxSnapshotBytes. */
  | 'snapshot-too-large'
  /** An earlier write failed; reopen the storage (recovery reads what is really on disk). */
  | 'failed'
  | 'closed';

export class RaftStorageError extends Error {
  readonly code: RaftStorageErrorCode;
  /** The file (or directory) concerned, when there is one. */
  readonly file: string | undefined;
  /** 'incoming-offset': the offset the next chunk must start at. */
  readonly expectedOffset: number | undefined;
  constructor(code: RaftStorageErrorCode, message: string, details: { readonly file?: string; readonly expectedOffset?: number; readonly cause?: unknown } = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'RaftStorageError';
    this.code = code;
    this.file = details.file;
    this.expectedOffset = details.expectedOffset;
  }
}

export interface RaftStorageOptions {
  /** Options of the log's WAL (segment size, record and pending limits). */
  readonly wal?: Omit<WalOptions, 'initialIndex'>;
  /** Largest snapshot saved or received (default 1 GiB); snapshots are held in memory whole. */
  readonly maxSnapshotBytes?: number;
  /** Completed snapshot files kept (default 2, at least 1): an older one is a fallback if the newest rots. */
  readonly snapshotsKept?: number;
  /** Incoming chunks are stored in frames of at most this many bytes (default 1 MiB). */
  readonly incomingFrameBytes?: number;
}

interface ResolvedOptions {
  readonly wal: Omit<WalOptions, 'initialIndex'>;
  readonly maxSnapshotBytes: number;
  readonly snapshotsKept: number;
  readonly incomingFrameBytes: number;
}

export interface RecoveredRaftState {
  /** { term: 0, vote: undefined, commit: 0 } when fresh. */
  readonly hardState: HardState;
  /** The newest valid snapshot's meta (restore the state machine from readSnapshot()). */
  readonly snapshot: SnapshotMeta | undefined;
  /** Every log entry after the snapshot, in order: indexes snapshot.index + 1, + 2, ... */
  readonly entries: readonly Entry[];
  /** What recovery found and repaired, for the log (torn tail cut, leftovers removed, ...). */
  readonly notes: readonly string[];
}

interface Incoming {
  readonly meta: SnapshotMeta;
  readonly totalBytes: number;
  readonly path: string;
  readonly handle: FileHandle;
  /** Data bytes written so far (the resume offset). */
  offset: number;
  finished: boolean;
}

const EMPTY_HARD_STATE: HardState = { term: 0, vote: undefined, commit: 0 };
const noop = (): void => undefined;

export class RaftStorage {
  readonly #fs: FileSystem;
  readonly #dir: string;
  readonly #snapshotDir: string;
  readonly #hardStatePath: string;
  readonly #options: ResolvedOptions;
  readonly #wal: Wal;
  /** The newest durable snapshot. */
  #snapshot: SnapshotMeta | undefined;
  /**
   * Terms of the entries issued to the WAL (appended, possibly not yet durable): the entry at
   * #logFirst + k has term #terms[k]. Lets append() check terms and installSnapshot() decide
   * Figure 13 step 6 without reading the log back.
   */
  #terms: Term[];
  #logFirst: LogIndex;
  /** The last hard state issued (for monotonicity checks). */
  #hardState: HardState;
  /** Settles once every WAL operation issued so far has settled. */
  #walIdle: Promise<void> = Promise.resolve();
  /** Hard state writes, one at a time (writeAtomic is not safe against itself). */
  #hardStateChain: Promise<void> = Promise.resolve();
  /** Snapshot-directory operations, one at a time. */
  #snapshotChain: Promise<void> = Promise.resolve();
  /** Call-order admission of log operations; set while anything waits or an exclusive op runs. */
  #gateTail: Promise<void> | undefined;
  #incoming: Incoming | undefined;
  #failure: Error | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;

  private constructor(fs: FileSystem, dir: string, options: ResolvedOptions, wal: Wal, snapshot: SnapshotMeta | undefined, entries: readonly Entry[], hardState: HardState) {
    this.#fs = fs;
    this.#dir = dir;
    this.#snapshotDir = join(dir, SNAPSHOT_DIR);
    this.#hardStatePath = join(dir, HARD_STATE_FILE);
    this.#options = options;
    this.#wal = wal;
    this.#snapshot = snapshot;
    this.#logFirst = wal.firstIndex;
    this.#terms = entries.map((e) => e.term);
    this.#hardState = hardState;
    assert(this.#logFirst === (snapshot?.index ?? 0) + 1, 'the log starts right after the snapshot');
    assert(wal.lastIndex === this.#logFirst + this.#terms.length - 1, 'recovered entries are the whole log');
  }

  /**
   * Opens (creating when absent) the storage in dir and recovers the node's state. Damage that a
   * crash cannot explain is an error value, and then nothing was changed on disk (beyond the
   * WAL's own torn-tail repair). I/O failures reject with StorageError.
   */
  static async open(fs: FileSystem, dir: string, options: RaftStorageOptions = {}): Promise<Result<{ storage: RaftStorage; state: RecoveredRaftState }, RaftStorageError>> {
    const resolved = resolveOptions(options);
    const snapshotDir = join(dir, SNAPSHOT_DIR);
    await fs.mkdirp(dir);
    await fs.mkdirp(snapshotDir);
    const notes: string[] = [];

    const hardStatePath = join(dir, HARD_STATE_FILE);
    const hsFile = await readAtomic(fs, hardStatePath);
    if (!hsFile.ok) return err(new RaftStorageError('bad-hard-state', `hard state unreadable: ${hsFile.error.message}`, { file: hardStatePath, cause: hsFile.error }));
    let hardState = EMPTY_HARD_STATE;
    if (hsFile.value !== undefined) {
      const decoded = decodeHardState(hsFile.value);
      if (!decoded.ok) return err(new RaftStorageError('bad-hard-state', `${hardStatePath}: ${decoded.error}`, { file: hardStatePath }));
      hardState = decoded.value;
    }

    const scanned = await scanSnapshots(fs, snapshotDir);
    const walDir = join(dir, WAL_DIR);
    const opened = await Wal.open(fs, walDir, resolved.wal);
    if (!opened.ok) return err(walCorrupt(opened.error));
    const { wal, recovery } = opened.value;
    let decided: Result<Decision, RaftStorageError>;
    try {
      decided = await decide(wal, hardState, scanned, walDir);
    } catch (e) {
      await wal.close();
      throw e;
    }
    if (!decided.ok) {
      await wal.close();
      return decided;
    }
    const d = decided.value;

    // Every check passed: now repair what the crash left behind.
    try {
      if (recovery.tornTail !== undefined) {
        notes.push(`log: cut a torn write at the end of ${recovery.tornTail.file} (${recovery.tornTail.droppedBytes} bytes from byte ${recovery.tornTail.offset}; never acknowledged)`);
      }
      if (recovery.removedFiles.length > 0) notes.push(`log: removed leftovers of an interrupted operation: ${recovery.removedFiles.join(', ')}`);
      for (const bad of scanned.bad) {
        if (d.snapshot !== undefined && bad.index < d.snapshot.index) {
          await fs.remove(bad.path);
          notes.push(`snapshot ${bad.path} is damaged (${bad.reason}) and older than the one in use: removed`);
        } else {
          await fs.rename(bad.path, `${bad.path}.corrupt`);
          notes.push(`snapshot ${bad.path} is damaged (${bad.reason}): moved aside to ${bad.path}.corrupt; using ${d.snapshot === undefined ? 'no snapshot (the log starts at 1)' : `the older snapshot at index ${d.snapshot.index}`}, which the log continues`);
        }
      }
      for (const name of scanned.leftovers) {
        await fs.remove(join(snapshotDir, name));
        notes.push(`snapshots: removed ${name}, left by an interrupted write`);
      }
      if (scanned.bad.length > 0 || scanned.leftovers.length > 0) await fs.syncDir(snapshotDir);
      for (const name of scanned.ignored) notes.push(`snapshots: ignored unknown file ${name}`);
      for (const name of scanned.quarantined) notes.push(`snapshots: ${name} was moved aside earlier; an operator may inspect and delete it`);
      for (const name of scanned.incoming) notes.push(`snapshots: kept partially received ${name}; a transfer of the same snapshot resumes from it`);

      const snapIndex = d.snapshot?.index ?? 0;
      if (d.divergent !== undefined) {
        notes.push(
          `log: entry ${snapIndex} has term ${d.divergent.logTerm} but snapshot ${snapIndex} has term ${d.divergent.snapshotTerm}: ` +
            `an interrupted snapshot install; discarded the log (entries ${wal.firstIndex}..${wal.lastIndex}) as Figure 13 step 7 says`,
        );
        await wal.truncateSuffix(Math.max(wal.firstIndex, snapIndex + 1));
        await wal.dropPrefix(snapIndex + 1);
      } else if (wal.firstIndex <= snapIndex) {
        const covered = Math.min(wal.lastIndex, snapIndex) - wal.firstIndex + 1;
        notes.push(`log: compacted ${covered} entries at or below the snapshot index ${snapIndex} (compaction had not finished)`);
        await wal.dropPrefix(snapIndex + 1);
      }
      if (d.hardState !== hardState) {
        notes.push(
          `hard state: term ${hardState.term} is below term ${d.hardState.term} of the snapshot or log (a crash between writing them and the hard state); ` +
            `raised to ${d.hardState.term} with no vote (a vote is sent only after it is durable, so none was sent in that term)`,
        );
        await writeAtomic(fs, hardStatePath, encodeHardState(d.hardState));
      }
    } catch (e) {
      await wal.close().catch(noop);
      throw e;
    }
    const storage = new RaftStorage(fs, dir, resolved, wal, d.snapshot, d.entries, d.hardState);
    return ok({ storage, state: { hardState: d.hardState, snapshot: d.snapshot, entries: d.entries, notes } });
  }

  // ---- the log ----

  /**
   * Appends consecutive entries; durable when it resolves. When entries[0].index is at or below
   * the last appended index, the log's suffix from there is replaced (a follower overwriting a
   * conflict, Raft paper 5.3); the caller guarantees it never replaces committed entries, and it
   * must be above the snapshot's index (asserted). Concurrent calls share fsyncs.
   */
  append(entries: readonly Entry[]): Promise<void> {
    if (entries.length === 0) return Promise.resolve();
    return this.#admit(() => this.#append(entries));
  }

  #append(entries: readonly Entry[]): Promise<void> {
    const unusable = this.#unusableError();
    if (unusable !== undefined) return Promise.reject(unusable);
    const first = entries[0]!.index;
    const snapIndex = this.#snapshot?.index ?? 0;
    const next = this.#nextIndex;
    assert(first > snapIndex, `append at ${first} rewrites the snapshot at ${snapIndex}`);
    assert(first <= next, `append at ${first} leaves a gap after the last index ${next - 1}`);
    let prevTerm = this.#termAt(first - 1) ?? 0;
    // The messages are built only on failure: this loop runs for every entry on the hot path.
    entries.forEach((e, k) => {
      if (e.index !== first + k) assert(false, `entries are consecutive (${e.index} where ${first + k} was expected)`);
      if (!Number.isSafeInteger(e.term) || e.term < prevTerm) assert(false, `entry ${e.index} term ${e.term} is below the previous term ${prevTerm}`);
      if ((e.type === 'config') !== (e.config !== undefined)) assert(false, `entry ${e.index} of type ${e.type} ${e.config ? 'carries' : 'lacks'} a configuration`);
      prevTerm = e.term;
    });
    const records = entries.map(encodeEntry);
    const ops: Promise<unknown>[] = [];
    if (first < next) {
      ops.push(this.#wal.truncateSuffix(first));
      this.#terms.length = first - this.#logFirst;
    }
    ops.push(this.#wal.append(records, { expectedFirstIndex: first }));
    for (const e of entries) this.#terms.push(e.term);
    // On a full disk the WAL ends right before `first` (any truncation above ran; the append was
    // rolled back), and so must the terms.
    return this.#trackWal(ops, () => {
      this.#terms.length = Math.min(this.#terms.length, first - this.#logFirst);
    });
  }

  /**
   * Drops log entries up to and including throughIndex, which must be at or below the newest
   * durable snapshot (asserted). When the snapshot is beyond the whole log, the log becomes
   * empty and the next append is at throughIndex + 1. Durable when it resolves.
   */
  compact(throughIndex: LogIndex): Promise<void> {
    return this.#admit(() => {
      const unusable = this.#unusableError();
      if (unusable !== undefined) return Promise.reject(unusable);
      const snapIndex = this.#snapshot?.index ?? 0;
      assert(Number.isSafeInteger(throughIndex) && throughIndex <= snapIndex, `compact(${throughIndex}) needs a durable snapshot at or after it (newest: ${snapIndex})`);
      if (throughIndex < this.#logFirst) return Promise.resolve();
      this.#dropTermsThrough(throughIndex);
      return this.#trackWal([this.#wal.dropPrefix(throughIndex + 1)]);
    });
  }

  /** Entries [from, toExclusive) that are durable, read back from the WAL. */
  async readEntries(from: LogIndex, toExclusive: LogIndex): Promise<Entry[]> {
    const records = await this.#wal.readRange(from, toExclusive);
    return records.map((r, k) => {
      const e = decodeEntry(from + k, r);
      if (!e.ok) throw new RaftStorageError('bad-entry', `log entry ${from + k} in ${join(this.#dir, WAL_DIR)}: ${e.error}`, { file: join(this.#dir, WAL_DIR) });
      return e.value;
    });
  }

  /** The oldest durable entry's index (newest snapshot + 1 after compaction). */
  get firstIndex(): LogIndex {
    return this.#wal.firstIndex;
  }

  /** The newest durable entry's index; firstIndex - 1 when the log is empty. */
  get lastIndex(): LogIndex {
    return this.#wal.lastIndex;
  }

  // ---- hard state ----

  /**
   * Replaces the hard state; durable when it resolves. Written only after every append() issued
   * before this call is durable (so commit never points past the log after a crash). Terms never
   * decrease and commit is within the appended log or snapshot (asserted).
   */
  saveHardState(hs: HardState): Promise<void> {
    return this.#admit(() => {
      const unusable = this.#unusableError();
      if (unusable !== undefined) return Promise.reject(unusable);
      const lastIndex = Math.max(this.#nextIndex - 1, this.#snapshot?.index ?? 0);
      assert(Number.isSafeInteger(hs.term) && hs.term >= this.#hardState.term, `hard state term ${hs.term} is below the saved term ${this.#hardState.term}`);
      assert(Number.isSafeInteger(hs.commit) && hs.commit >= 0 && hs.commit <= lastIndex, `hard state commit ${hs.commit} is beyond the log (last index ${lastIndex})`);
      const previous = this.#hardState;
      this.#hardState = hs;
      const logWritten = this.#walIdle;
      const write = async (): Promise<void> => {
        await logWritten;
        const unusableNow = this.#unusableError();
        if (unusableNow !== undefined) throw unusableNow;
        try {
          await writeAtomic(this.#fs, this.#hardStatePath, encodeHardState(hs));
        } catch (e) {
          // A full disk leaves the old file in place (writeAtomic removes its temporary file).
          if (isNoSpace(e)) {
            if (this.#hardState === hs) this.#hardState = previous;
          } else {
            this.#fail(e);
          }
          throw e;
        }
      };
      const p = this.#hardStateChain.then(write);
      this.#hardStateChain = p.then(noop, noop);
      return p;
    });
  }

  // ---- snapshots ----

  /** The newest durable snapshot's meta. */
  get snapshotMeta(): SnapshotMeta | undefined {
    return this.#snapshot;
  }

  /**
   * Saves a snapshot taken by this node (meta.index at or after the newest one, asserted); durable
   * when it resolves. Then deletes all but the newest `snapshotsKept` files. Does not compact the
   * log: call compact() for that.
   */
  saveSnapshot(meta: SnapshotMeta, data: Uint8Array): Promise<void> {
    const unusable = this.#unusableError();
    if (unusable !== undefined) return Promise.reject(unusable);
    return this.#withSnapshotLock(async () => {
      assert(this.#snapshot === undefined || meta.index >= this.#snapshot.index, `snapshot at ${meta.index} is older than the saved one at ${this.#snapshot?.index}`);
      if (data.length > this.#options.maxSnapshotBytes) {
        throw new RaftStorageError('snapshot-too-large', `snapshot of ${data.length} bytes exceeds maxSnapshotBytes ${this.#options.maxSnapshotBytes}`);
      }
      await this.#writeSnapshotFile(meta, data);
      this.#snapshot = meta;
      await this.#pruneSnapshots();
    });
  }

  /** The newest snapshot, verified. A file that no longer verifies rejects with 'bad-snapshot'. */
  readSnapshot(): Promise<{ meta: SnapshotMeta; data: Uint8Array } | undefined> {
    const unusable = this.#closed ? this.#unusableError() : undefined;
    if (unusable !== undefined) return Promise.reject(unusable);
    return this.#withSnapshotLock(async () => {
      const meta = this.#snapshot;
      if (meta === undefined) return undefined;
      const path = join(this.#snapshotDir, snapshotName(meta.index, meta.term));
      const file = await this.#fs.readFile(path);
      if (file === undefined) throw new RaftStorageError('bad-snapshot', `snapshot file ${path} is missing`, { file: path });
      const decoded = decodeSnapshotFile(file);
      if (!decoded.ok) throw new RaftStorageError('bad-snapshot', `snapshot file ${path}: ${decoded.error}`, { file: path });
      if (!sameMeta(decoded.value.meta, meta)) throw new RaftStorageError('bad-snapshot', `snapshot file ${path} holds a different meta than its name`, { file: path });
      return { meta, data: decoded.value.data };
    });
  }

  /**
   * Makes the completely received incoming snapshot `meta` (finishIncoming returned ok) the
   * newest snapshot, durably, then adjusts the log as Figure 13 says: if the log holds an entry
   * at meta.index with meta.term, the entries after it are kept (step 6); otherwise the whole log
   * is discarded and the next append is at meta.index + 1 (step 7). Entries at or below
   * meta.index are dropped either way (the snapshot covers them). meta.index must be above the
   * newest snapshot (asserted). Rejects with 'incoming-missing' or 'incoming-corrupt' when the
   * received file is not there or no longer verifies; nothing changed then.
   *
   * Crash safety: the snapshot file is durable before the log changes; recovery redoes the same
   * decision from the files, so a crash at any point ends with the old or the new state.
   */
  installSnapshot(meta: SnapshotMeta): Promise<void> {
    return this.#exclusive(() => this.#withSnapshotLock(() => this.#install(meta)));
  }

  async #install(meta: SnapshotMeta): Promise<void> {
    const unusable = this.#unusableError();
    if (unusable !== undefined) throw unusable;
    const snapIndex = this.#snapshot?.index ?? 0;
    assert(meta.index > snapIndex, `installing snapshot ${meta.index} at or below the current one at ${snapIndex}`);
    const data = await this.#readReceived(meta);
    if (!data.ok) throw data.error;
    // Appends issued before this call go first; the decision below sees them.
    await this.#walIdle;
    const unusableNow = this.#unusableError();
    if (unusableNow !== undefined) throw unusableNow;
    await this.#writeSnapshotFile(meta, data.value);
    this.#snapshot = meta;
    const keep = meta.index >= this.#logFirst && this.#termAt(meta.index) === meta.term;
    const ops: Promise<void>[] = [];
    if (!keep && meta.index + 1 < this.#nextIndex) {
      ops.push(this.#wal.truncateSuffix(meta.index + 1));
      this.#terms.length = meta.index + 1 - this.#logFirst;
    }
    this.#dropTermsThrough(meta.index);
    ops.push(this.#wal.dropPrefix(meta.index + 1));
    await this.#trackWal(ops);
    await this.#closeIncoming(true);
    await this.#pruneSnapshots();
  }

  // ---- incoming snapshot transfer (resumable) ----

  /**
   * Starts or resumes receiving snapshot `meta` of totalBytes bytes. Resolves with the number of
   * bytes already present (the offset to resume at: 0 for a new transfer). A transfer of another
   * snapshot in progress is abandoned and its file deleted (one at a time bounds the disk used).
   */
  beginIncoming(meta: SnapshotMeta, totalBytes: number): Promise<Result<number, RaftStorageError>> {
    assert(Number.isSafeInteger(totalBytes) && totalBytes >= 0, 'totalBytes is a non-negative integer');
    return this.#withSnapshotLock(async () => {
      const unusable = this.#closed ? this.#unusableError() : undefined;
      if (unusable !== undefined) throw unusable;
      if (totalBytes > this.#options.maxSnapshotBytes) {
        return err(new RaftStorageError('incoming-too-large', `incoming snapshot of ${totalBytes} bytes exceeds maxSnapshotBytes ${this.#options.maxSnapshotBytes}`));
      }
      const current = this.#incoming;
      if (current !== undefined && sameMeta(current.meta, meta) && current.totalBytes === totalBytes) return ok(current.offset);
      await this.#closeIncoming(false);
      const name = incomingName(meta.index, meta.term, totalBytes);
      const path = join(this.#snapshotDir, name);
      let removed = false;
      for (const other of await this.#fs.list(this.#snapshotDir)) {
        if (other !== name && INCOMING_NAME.test(other)) {
          await this.#fs.remove(join(this.#snapshotDir, other));
          removed = true;
        }
      }
      if (removed) await this.#fs.syncDir(this.#snapshotDir);
      const existing = await this.#fs.readFile(path);
      if (existing !== undefined) {
        const scan = scanIncoming(existing, this.#maxFrameBytes());
        if (scan.header !== undefined && sameMeta(scan.header.meta, meta) && scan.header.totalBytes === totalBytes && scan.dataBytes <= totalBytes) {
          const handle = await this.#fs.open(path, { create: false });
          try {
            // Cut a torn or garbage tail so the next frame follows the last one that verifies.
            if (scan.validBytes < existing.length) {
              await handle.truncate(scan.validBytes);
              await handle.sync();
            }
          } catch (e) {
            await handle.close().catch(noop);
            throw e;
          }
          this.#incoming = { meta, totalBytes, path, handle, offset: scan.dataBytes, finished: false };
          return ok(scan.dataBytes);
        }
      }
      await this.#fs.remove(path);
      const handle = await this.#fs.open(path, { create: true });
      try {
        await handle.append(encodeIncomingHeader({ meta, totalBytes }));
      } catch (e) {
        await handle.close().catch(noop);
        await this.#fs.remove(path).catch(noop);
        throw e;
      }
      this.#incoming = { meta, totalBytes, path, handle, offset: 0, finished: false };
      return ok(0);
    });
  }

  /**
   * Appends the chunk at offset (which must equal the bytes present; otherwise an
   * 'incoming-offset' error carries the expected offset). Resolves with the new offset. Not
   * fsynced: a crash loses or tears the tail, and beginIncoming then resumes after what verifies.
   */
  writeIncoming(meta: SnapshotMeta, offset: number, chunk: Uint8Array): Promise<Result<number, RaftStorageError>> {
    return this.#withSnapshotLock(async () => {
      const unusable = this.#closed ? this.#unusableError() : undefined;
      if (unusable !== undefined) throw unusable;
      const inc = this.#incoming;
      if (inc === undefined || !sameMeta(inc.meta, meta)) return err(missingIncoming(meta));
      if (offset !== inc.offset) {
        return err(new RaftStorageError('incoming-offset', `chunk at offset ${offset}, but ${inc.offset} bytes of snapshot ${meta.index} are present`, { expectedOffset: inc.offset, file: inc.path }));
      }
      if (offset + chunk.length > inc.totalBytes) {
        return err(new RaftStorageError('incoming-too-large', `chunk of ${chunk.length} bytes at ${offset} runs past the snapshot's ${inc.totalBytes} bytes`, { file: inc.path }));
      }
      if (chunk.length === 0) return ok(inc.offset);
      const step = this.#options.incomingFrameBytes;
      const frames: Uint8Array[] = [];
      for (let pos = 0; pos < chunk.length; pos += step) frames.push(encodeFrame(chunk.subarray(pos, pos + step)));
      const buf = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
      let pos = 0;
      for (const f of frames) {
        buf.set(f, pos);
        pos += f.length;
      }
      try {
        await inc.handle.append(buf);
      } catch (e) {
        // The file may end in half a frame: forget the handle; beginIncoming rescans the file.
        await this.#closeIncoming(false);
        throw e;
      }
      inc.offset += chunk.length;
      inc.finished = false;
      return ok(inc.offset);
    });
  }

  /**
   * Checks that all totalBytes arrived and still verify (every frame's CRC-32C), and makes the
   * file durable. Then installSnapshot(meta) can install it. A file that no longer verifies is
   * deleted ('incoming-corrupt': start the transfer again).
   */
  finishIncoming(meta: SnapshotMeta): Promise<Result<void, RaftStorageError>> {
    return this.#withSnapshotLock(async () => {
      const unusable = this.#closed ? this.#unusableError() : undefined;
      if (unusable !== undefined) throw unusable;
      const inc = this.#incoming;
      if (inc === undefined || !sameMeta(inc.meta, meta)) return err(missingIncoming(meta));
      if (inc.offset !== inc.totalBytes) {
        return err(new RaftStorageError('incoming-incomplete', `snapshot ${meta.index} has ${inc.offset} of ${inc.totalBytes} bytes`, { file: inc.path, expectedOffset: inc.offset }));
      }
      await inc.handle.sync();
      const data = await this.#readIncomingFile(inc);
      if (!data.ok) {
        await this.#closeIncoming(true);
        return err(data.error);
      }
      inc.finished = true;
      return ok(undefined);
    });
  }

  /** Waits for operations in progress, then closes files. Later calls reject with 'closed'. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    // Operations called before close() (or while it drains) finish first.
    while (this.#gateTail !== undefined) await this.#gateTail;
    await this.#walIdle;
    await this.#hardStateChain;
    await this.#snapshotChain;
    this.#closed = true;
    await this.#closeIncoming(false);
    await this.#wal.close();
  }

  // ---- internals ----

  get #nextIndex(): LogIndex {
    return this.#logFirst + this.#terms.length;
  }

  /** Term of an issued entry, or of the snapshot's last entry; undefined when unknown. */
  #termAt(index: LogIndex): Term | undefined {
    if (index >= this.#logFirst && index < this.#nextIndex) return this.#terms[index - this.#logFirst];
    if (this.#snapshot !== undefined && index === this.#snapshot.index) return this.#snapshot.term;
    if (index === 0) return 0;
    return undefined;
  }

  /** Mirrors Wal.dropPrefix(throughIndex + 1) in the term cache. */
  #dropTermsThrough(throughIndex: LogIndex): void {
    if (throughIndex < this.#logFirst) return;
    if (throughIndex >= this.#nextIndex - 1) this.#terms = [];
    else this.#terms = this.#terms.slice(throughIndex + 1 - this.#logFirst);
    this.#logFirst = throughIndex + 1;
  }

  /**
   * Settles with the WAL operations; a failure makes the storage unusable, except a full disk
   * that left the WAL usable, after which `onNoSpace` puts the in-memory index back in step.
   */
  #trackWal(ops: readonly Promise<unknown>[], onNoSpace?: () => void): Promise<void> {
    const p = Promise.all(ops).then(
      () => undefined,
      (e: unknown) => {
        if (onNoSpace !== undefined && isNoSpace(e) && !this.#wal.failed) onNoSpace();
        else this.#fail(e);
        throw e;
      },
    );
    this.#walIdle = p.then(noop, noop);
    return p;
  }

  #fail(e: unknown): void {
    this.#failure ??= e instanceof Error ? e : new Error(String(e));
  }

  #unusableError(): RaftStorageError | undefined {
    if (this.#closed) return new RaftStorageError('closed', `Raft storage in ${this.#dir} is closed`);
    if (this.#failure !== undefined) {
      return new RaftStorageError('failed', `Raft storage in ${this.#dir} failed earlier and must be reopened: ${this.#failure.message}`, { cause: this.#failure });
    }
    return undefined;
  }

  /**
   * Starts a log operation in call order: at once when nothing is queued, otherwise after every
   * operation called before it has started (and after a running exclusive one has finished).
   * `start` must hand its work to the WAL synchronously, so the WAL's queue keeps call order.
   */
  #admit<T>(start: () => Promise<T>): Promise<T> {
    const previous = this.#gateTail;
    if (previous === undefined) return start();
    let release: () => void = noop;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.#gateTail = mine;
    return previous.then(() => {
      if (this.#gateTail === mine) this.#gateTail = undefined;
      release();
      return start();
    });
  }

  /** Runs after everything called before it has started; everything called later waits for it to finish. */
  #exclusive<T>(run: () => Promise<T>): Promise<T> {
    const previous = this.#gateTail ?? Promise.resolve();
    let release: () => void = noop;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.#gateTail = mine;
    return previous.then(run).finally(() => {
      if (this.#gateTail === mine) this.#gateTail = undefined;
      release();
    });
  }

  #withSnapshotLock<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.#snapshotChain.then(fn);
    this.#snapshotChain = p.then(noop, noop);
    return p;
  }

  /** Writes a complete snapshot file: temporary name, fsync, rename, fsync of the directory. */
  async #writeSnapshotFile(meta: SnapshotMeta, data: Uint8Array): Promise<void> {
    const path = join(this.#snapshotDir, snapshotName(meta.index, meta.term));
    const tmp = `${path}.tmp`;
    await this.#fs.remove(tmp);
    const handle = await this.#fs.open(tmp, { create: true });
    try {
      const header = encodeSnapshotHeader(meta, data.length);
      await handle.append(header);
      if (data.length > 0) await handle.append(data);
      await handle.append(encodeSnapshotTrailer(header, data));
      await handle.sync();
    } catch (e) {
      await handle.close().catch(noop);
      await this.#fs.remove(tmp).catch(noop);
      throw e;
    }
    await handle.close();
    await this.#fs.rename(tmp, path);
    await this.#fs.syncDir(this.#snapshotDir);
  }

  /** Deletes completed snapshot files beyond the newest `snapshotsKept` (never the current one). */
  async #pruneSnapshots(): Promise<void> {
    const current = this.#snapshot === undefined ? undefined : snapshotName(this.#snapshot.index, this.#snapshot.term);
    const files = (await this.#fs.list(this.#snapshotDir))
      .map(parseSnapshotName)
      .filter((s): s is ParsedSnapshotName => s !== undefined)
      .sort(newestFirst);
    let kept = 0;
    let removed = false;
    for (const f of files) {
      if (f.name === current || kept < this.#options.snapshotsKept - (current === undefined ? 0 : 1)) {
        if (f.name !== current) kept++;
        continue;
      }
      await this.#fs.remove(join(this.#snapshotDir, f.name));
      removed = true;
    }
    if (removed) await this.#fs.syncDir(this.#snapshotDir);
  }

  async #readReceived(meta: SnapshotMeta): Promise<Result<Uint8Array, RaftStorageError>> {
    const inc = this.#incoming;
    if (inc === undefined || !sameMeta(inc.meta, meta) || !inc.finished) return err(missingIncoming(meta));
    return this.#readIncomingFile(inc);
  }

  /** Reads back a received file, verifies every frame, and assembles the data. */
  async #readIncomingFile(inc: Incoming): Promise<Result<Uint8Array, RaftStorageError>> {
    const file = (await this.#fs.readFile(inc.path)) ?? new Uint8Array(0);
    const scan = scanIncoming(file, this.#maxFrameBytes());
    const problem =
      scan.header === undefined
        ? 'its header frame does not verify'
        : !sameMeta(scan.header.meta, inc.meta) || scan.header.totalBytes !== inc.totalBytes
          ? 'its header describes another snapshot'
          : scan.validBytes !== file.length
            ? `a frame at byte ${scan.validBytes} does not verify`
            : scan.dataBytes !== inc.totalBytes
              ? `it holds ${scan.dataBytes} of ${inc.totalBytes} bytes`
              : undefined;
    if (problem !== undefined) return err(new RaftStorageError('incoming-corrupt', `received snapshot ${inc.path}: ${problem}`, { file: inc.path }));
    const data = new Uint8Array(inc.totalBytes);
    let pos = 0;
    for (const piece of scan.pieces) {
      data.set(piece, pos);
      pos += piece.length;
    }
    return ok(data);
  }

  async #closeIncoming(deleteFile: boolean): Promise<void> {
    const inc = this.#incoming;
    if (inc === undefined) return;
    this.#incoming = undefined;
    await inc.handle.close().catch(noop);
    if (deleteFile) {
      await this.#fs.remove(inc.path);
      await this.#fs.syncDir(this.#snapshotDir);
    }
  }

  #maxFrameBytes(): number {
    // The header frame is small; data frames are at most incomingFrameBytes.
    return Math.max(this.#options.incomingFrameBytes, 64 * 1024) + FRAME_HEADER_BYTES;
  }
}

// ---- recovery ----

interface ParsedSnapshotName {
  readonly name: string;
  readonly index: LogIndex;
  readonly term: Term;
}

interface ScannedSnapshots {
  /** Valid snapshots, newest first. */
  readonly valid: ReadonlyArray<{ readonly meta: SnapshotMeta; readonly path: string }>;
  /** Damaged snapshot files (name parses, content does not verify or disagrees with the name). */
  readonly bad: ReadonlyArray<{ readonly path: string; readonly index: LogIndex; readonly reason: string }>;
  /** Index of the newest snapshot file, valid or not. */
  readonly newestIndex: LogIndex | undefined;
  readonly newestPath: string | undefined;
  readonly leftovers: readonly string[];
  readonly incoming: readonly string[];
  readonly quarantined: readonly string[];
  readonly ignored: readonly string[];
}

async function scanSnapshots(fs: FileSystem, dir: string): Promise<ScannedSnapshots> {
  const names = await fs.list(dir);
  const leftovers: string[] = [];
  const incoming: string[] = [];
  const quarantined: string[] = [];
  const ignored: string[] = [];
  const parsed: ParsedSnapshotName[] = [];
  for (const name of names) {
    const p = parseSnapshotName(name);
    if (p !== undefined) parsed.push(p);
    else if (name.endsWith('.tmp')) leftovers.push(name);
    else if (INCOMING_NAME.test(name)) incoming.push(name);
    else if (name.endsWith('.corrupt')) quarantined.push(name);
    else ignored.push(name);
  }
  parsed.sort(newestFirst);
  const valid: Array<{ meta: SnapshotMeta; path: string }> = [];
  const bad: Array<{ path: string; index: LogIndex; reason: string }> = [];
  for (const p of parsed) {
    const path = join(dir, p.name);
    const file = await fs.readFile(path);
    if (file === undefined) continue;
    const decoded = decodeSnapshotFile(file);
    if (!decoded.ok) {
      bad.push({ path, index: p.index, reason: decoded.error });
    } else if (decoded.value.meta.index !== p.index || decoded.value.meta.term !== p.term) {
      bad.push({ path, index: p.index, reason: `holds snapshot ${decoded.value.meta.index} of term ${decoded.value.meta.term}, not what its name says` });
    } else {
      valid.push({ meta: decoded.value.meta, path });
    }
  }
  const newest = parsed[0];
  return {
    valid,
    bad,
    newestIndex: newest?.index,
    newestPath: newest === undefined ? undefined : join(dir, newest.name),
    leftovers,
    incoming,
    quarantined,
    ignored,
  };
}

interface Decision {
  readonly snapshot: SnapshotMeta | undefined;
  readonly entries: readonly Entry[];
  readonly hardState: HardState;
  /** Set when the log's entry at the snapshot index has another term (an interrupted install). */
  readonly divergent: { readonly logTerm: Term; readonly snapshotTerm: Term } | undefined;
}

/** Checks the recovered pieces against each other; changes nothing. */
async function decide(wal: Wal, hardState: HardState, snaps: ScannedSnapshots, walDir: string): Promise<Result<Decision, RaftStorageError>> {
  const first = wal.firstIndex;
  const last = wal.lastIndex;
  // The newest valid snapshot, if it is the newest file; otherwise an older valid one only when
  // the log continues it (then nothing is lost: the log replays what the damaged one held).
  let chosen = snaps.valid[0];
  const newestBad = snaps.bad[0];
  if (newestBad !== undefined && (chosen === undefined || newestBad.index > chosen.meta.index)) {
    chosen = snaps.valid.find((s) => first <= s.meta.index + 1);
    // A log that still starts at 1 needs no snapshot at all.
    if (chosen === undefined && first !== 1) {
      const others = snaps.valid.length === 0 ? 'no older valid snapshot exists' : `the log starts at ${first}, after every older valid snapshot`;
      return err(new RaftStorageError('bad-snapshot', `snapshot ${newestBad.path} is damaged (${newestBad.reason}) and ${others}: refusing to guess`, { file: newestBad.path }));
    }
  }
  const snapshot = chosen?.meta;
  const snapIndex = snapshot?.index ?? 0;
  const snapTerm = snapshot?.term ?? 0;
  if (first > snapIndex + 1) {
    const what =
      snapshot === undefined
        ? `there is no snapshot, but the log starts at ${first}`
        : `the log starts at ${first}, but snapshot ${chosen?.path} ends at ${snapIndex}`;
    return err(new RaftStorageError('log-gap', `log ahead of snapshot: ${what}; entries ${snapIndex + 1}..${first - 1} are missing`, { file: walDir }));
  }

  // Read from the snapshot's own index (when still in the log) to compare terms (Figure 13, 6).
  const start = Math.max(first, snapIndex);
  const read: Entry[] = [];
  for (let from = start; from <= last; ) {
    const records = await wal.readRange(from, last + 1, RECOVERY_READ_BYTES);
    for (const r of records) {
      const e = decodeEntry(from, r);
      if (!e.ok) return err(new RaftStorageError('bad-entry', `log entry ${from} in ${walDir} does not decode: ${e.error}`, { file: walDir }));
      const prev = read[read.length - 1];
      if (prev !== undefined && e.value.term < prev.term) {
        return err(new RaftStorageError('term-regression', `log entry ${from} in ${walDir} has term ${e.value.term}, below term ${prev.term} of entry ${prev.index}`, { file: walDir }));
      }
      read.push(e.value);
      from++;
    }
  }
  const atSnapshot = read[0] !== undefined && read[0].index === snapIndex && snapshot !== undefined ? read[0] : undefined;
  const divergent = atSnapshot !== undefined && atSnapshot.term !== snapTerm ? { logTerm: atSnapshot.term, snapshotTerm: snapTerm } : undefined;
  const entries = divergent !== undefined ? [] : read.filter((e) => e.index > snapIndex);
  const firstKept = entries[0];
  if (firstKept !== undefined && firstKept.term < snapTerm) {
    return err(new RaftStorageError('term-regression', `log entry ${firstKept.index} in ${walDir} has term ${firstKept.term}, below the snapshot's term ${snapTerm}`, { file: walDir }));
  }
  const lastKept = entries[entries.length - 1];
  const lastIndex = lastKept?.index ?? snapIndex;
  if (hardState.commit > lastIndex) {
    const why = divergent !== undefined ? ' (the log was discarded: it diverges from the snapshot)' : '';
    return err(
      new RaftStorageError('commit-beyond-log', `hard state commit ${hardState.commit} is beyond the last log index ${lastIndex}${why} and the snapshot at ${snapIndex}: committed entries are missing`, {
        file: walDir,
      }),
    );
  }
  // A node's term is never below a term in its log or snapshot; only a crash between writing
  // those and the hard state that carries the new term leaves it so (see the note in open()).
  const maxTerm = Math.max(snapTerm, lastKept?.term ?? 0);
  const repaired = hardState.term < maxTerm ? { term: maxTerm, vote: undefined, commit: hardState.commit } : hardState;
  return ok({ snapshot, entries, hardState: repaired, divergent });
}

function walCorrupt(e: WalCorruptionError): RaftStorageError {
  return new RaftStorageError('wal-corrupt', e.message, { file: e.file, cause: e });
}

function missingIncoming(meta: SnapshotMeta): RaftStorageError {
  return new RaftStorageError('incoming-missing', `no complete incoming transfer of snapshot ${meta.index} (term ${meta.term}) is in progress`);
}

function hex16(n: number): string {
  return n.toString(16).padStart(16, '0');
}

export function snapshotName(index: LogIndex, term: Term): string {
  return `snapshot-${hex16(index)}-${hex16(term)}.snap`;
}

export function incomingName(index: LogIndex, term: Term, totalBytes: number): string {
  return `incoming-${hex16(index)}-${hex16(term)}-${hex16(totalBytes)}.part`;
}

function parseSnapshotName(name: string): ParsedSnapshotName | undefined {
  const m = SNAPSHOT_NAME.exec(name);
  if (m === null) return undefined;
  const index = Number.parseInt(m[1]!, 16);
  const term = Number.parseInt(m[2]!, 16);
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(term)) return undefined;
  return { name, index, term };
}

function newestFirst(a: ParsedSnapshotName, b: ParsedSnapshotName): number {
  return b.index - a.index || b.term - a.term;
}

function resolveOptions(o: RaftStorageOptions): ResolvedOptions {
  const resolved: ResolvedOptions = {
    wal: o.wal ?? {},
    maxSnapshotBytes: o.maxSnapshotBytes ?? GiB,
    snapshotsKept: o.snapshotsKept ?? 2,
    incomingFrameBytes: o.incomingFrameBytes ?? MiB,
  };
  assert(Number.isSafeInteger(resolved.maxSnapshotBytes) && resolved.maxSnapshotBytes > 0, 'maxSnapshotBytes is a positive integer');
  assert(Number.isSafeInteger(resolved.snapshotsKept) && resolved.snapshotsKept >= 1, 'snapshotsKept >= 1');
  assert(Number.isSafeInteger(resolved.incomingFrameBytes) && resolved.incomingFrameBytes > 0 && resolved.incomingFrameBytes < 0x1_0000_0000, 'incomingFrameBytes fits a u32');
  return resolved;
}
