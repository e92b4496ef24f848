// A segmented write-ahead log of index-addressed records, for Raft's log (Raft paper, section
// 5.3: entries are identified by consecutive indexes; a follower truncates a conflicting suffix;
// section 7: compaction discards a prefix covered by a snapshot).
//
// Durability contract: append() resolves only after the records are fdatasync'ed. Appends issued
// while a sync is in flight are written together and covered by the next single sync (group
// commit), so throughput grows with concurrency while each caller still waits for its own
// durability.
//
// On disk, in directory `dir`:
//   <16 hex digits of the first index>.wal   segments, sorted by name = sorted by index
//   wal.meta                                 first index after compaction (an atomic file)
//
// Segment header (24 bytes, little endian): "SWAL", u32 version, u64 first index, u32 zero,
// u32 CRC-32C of bytes 0..20.
// Record: u32 payload length, u32 CRC-32C (over length, index and payload), u64 index, payload.
//
// Recovery (Wal.open) trusts nothing it cannot check. The only damage it repairs by itself is
// the one a crash produces: the tail of the last segment after the last good record, where no
// valid record follows (a torn, unacknowledged write), and a last segment whose creation was
// cut short before its header was complete. Anything else (a bad record followed by good ones,
// a bad record in an older segment, a gap in the indexes, a header that disagrees with its file
// name) is returned as a WalCorruptionError naming the file and byte offset: wiping it would
// silently lose acknowledged entries.
//
// Known limit: if the storage persists the pages of one unsynced write out of order (a later
// page without an earlier one), the result looks like a bad record followed by a good one and is
// reported as corruption rather than repaired; an operator then decides.

import { join } from 'node:path';
import { assert, err, ok, type Result } from '../../core/result.ts';
import { readAtomic, writeAtomic } from './atomic-file.ts';
import { crc32c } from './crc32c.ts';
import type { FileHandle, FileSystem } from './fs.ts';
import { StorageError } from './fs.ts';

export const SEGMENT_HEADER_BYTES = 24;
export const RECORD_HEADER_BYTES = 16;
const SEGMENT_MAGIC = [0x53, 0x57, 0x41, 0x4c] as const; // "SWAL"
const SEGMENT_VERSION = 1;
const META_FILE = 'wal.meta';
const SEGMENT_NAME = /^([0-9a-f]{16})\.wal$/;
const MiB = 1024 * 1024;

export interface WalOptions {
  /** A new segment starts once the active one holds this many bytes (default 64 MiB). */
  readonly segmentBytes?: number;
  /** Largest payload of one record (default 16 MiB). */
  readonly maxRecordBytes?: number;
  /** Bytes of appends accepted but not yet durable; beyond it append() rejects (default 64 MiB). */
  readonly maxPendingBytes?: number;
  /** Index of the first record of a brand-new, empty log (default 1). */
  readonly initialIndex?: number;
  /** Older segments kept open for reads (default 4). */
  readonly readHandleCacheSize?: number;
}

export interface TornTail {
  readonly file: string;
  /** Byte offset where the first bad or incomplete record started; the file now ends here. */
  readonly offset: number;
  readonly droppedBytes: number;
}

export interface WalRecovery {
  readonly firstIndex: number;
  /** firstIndex - 1 when the log is empty. */
  readonly lastIndex: number;
  readonly segments: number;
  /** Set when the last segment ended in a torn write that was cut off. */
  readonly tornTail: TornTail | undefined;
  /** Files deleted as leftovers of an interrupted compaction, reset or segment creation. */
  readonly removedFiles: readonly string[];
}

export type WalCorruptionKind =
  | 'bad-segment-header'
  | 'segment-header-mismatch'
  | 'bad-record'
  | 'index-gap'
  | 'bad-meta'
  | 'meta-mismatch';

/** The log on disk is damaged in a way a crash cannot explain. Nothing was deleted. */
export class WalCorruptionError extends StorageError {
  readonly kind: WalCorruptionKind;
  readonly file: string;
  readonly offset: number;
  constructor(kind: WalCorruptionKind, file: string, offset: number, detail: string) {
    super('corrupt', file, `WAL corruption (${kind}) in ${file} at byte ${offset}: ${detail}`);
    this.name = 'WalCorruptionError';
    this.kind = kind;
    this.file = file;
    this.offset = offset;
  }
}

export type WalErrorCode =
  /** A record is larger than maxRecordBytes. */
  | 'record-too-large'
  /** Accepting the append would exceed maxPendingBytes; retry after earlier appends finish. */
  | 'backpressure'
  /** append({ expectedFirstIndex }) did not match the index the log would assign. */
  | 'index-mismatch'
  /** The index is below firstIndex (compacted away). */
  | 'compacted'
  /** The index is above lastIndex. */
  | 'out-of-range'
  /** An earlier append in the same pipeline failed, so this one was not written. */
  | 'aborted'
  | 'closed'
  /** A sync or rollback failed; the in-memory view can no longer be trusted. Reopen the log. */
  | 'failed';

export class WalError extends Error {
  readonly code: WalErrorCode;
  constructor(code: WalErrorCode, message: string, options?: { cause: unknown }) {
    super(message, options);
    this.name = 'WalError';
    this.code = code;
  }
}

export interface IndexRange {
  readonly firstIndex: number;
  readonly lastIndex: number;
}

export interface AppendOptions {
  /** When set, the append fails with 'index-mismatch' unless its first record gets this index. */
  readonly expectedFirstIndex?: number;
}

interface Segment {
  readonly firstIndex: number;
  readonly name: string;
  readonly path: string;
  /** Byte offset of each record in the file; record firstIndex + i is at offsets[i]. */
  offsets: number[];
  /** Bytes of valid content (header and whole records). */
  size: number;
}

interface AppendOp {
  readonly kind: 'append';
  readonly records: readonly Uint8Array[];
  readonly bytes: number;
  readonly expectedFirstIndex: number | undefined;
  readonly resolve: (range: IndexRange) => void;
  readonly reject: (e: Error) => void;
}

interface ControlOp {
  readonly kind: 'control';
  readonly run: () => Promise<void>;
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
}

type Op = AppendOp | ControlOp;

interface ResolvedOptions {
  readonly segmentBytes: number;
  readonly maxRecordBytes: number;
  readonly maxPendingBytes: number;
  readonly initialIndex: number;
  readonly readHandleCacheSize: number;
}

export class Wal {
  readonly #fs: FileSystem;
  readonly #dir: string;
  readonly #options: ResolvedOptions;
  /** Oldest first; never empty; the last one is active (appended to). */
  #segments: Segment[];
  #active: FileHandle;
  #firstIndex: number;
  #lastIndex: number;
  readonly #readHandles = new Map<string, FileHandle>();
  readonly #queue: Op[] = [];
  #pendingBytes = 0;
  #working = false;
  #closed = false;
  #failure: Error | undefined;
  #idleWaiters: Array<() => void> = [];
  /** Reads in progress. Control ops (truncate, compaction) wait for them, and they for those. */
  #activeReads = 0;
  #readsDrained: Array<() => void> = [];
  #controlRunning: Promise<void> | undefined;
  /** Handles to close once no read can be using them. */
  #retired: FileHandle[] = [];

  private constructor(fs: FileSystem, dir: string, options: ResolvedOptions, segments: Segment[], active: FileHandle, firstIndex: number) {
    this.#fs = fs;
    this.#dir = dir;
    this.#options = options;
    this.#segments = segments;
    this.#active = active;
    this.#firstIndex = firstIndex;
    const last = segments[segments.length - 1];
    assert(last !== undefined, 'at least one segment');
    this.#lastIndex = last.firstIndex + last.offsets.length - 1;
  }

  /**
   * Opens (creating when absent) the log in dir and recovers it. Corruption that a crash cannot
   * explain is an error value; I/O failures reject with StorageError.
   */
  static async open(fs: FileSystem, dir: string, options: WalOptions = {}): Promise<Result<{ wal: Wal; recovery: WalRecovery }, WalCorruptionError>> {
    const resolved = resolveOptions(options);
    await fs.mkdirp(dir);
    const recovered = await recover(fs, dir, resolved);
    if (!recovered.ok) return recovered;
    const { segments, firstIndex, tornTail, removedFiles } = recovered.value;
    const lastSegment = segments[segments.length - 1];
    assert(lastSegment !== undefined, 'recovery leaves at least one segment');
    const active = await fs.open(lastSegment.path, { create: false });
    const wal = new Wal(fs, dir, resolved, segments, active, firstIndex);
    return ok({
      wal,
      recovery: { firstIndex, lastIndex: wal.lastIndex, segments: segments.length, tornTail, removedFiles },
    });
  }

  /** The oldest readable index (after compaction). */
  /** True once a failure left the WAL unusable until it is reopened (a failed fsync, truncation or rollback). */
  get failed(): boolean {
    return this.#failure !== undefined;
  }

  get firstIndex(): number {
    return this.#firstIndex;
  }

  /** The newest durable index; firstIndex - 1 when the log is empty. */
  get lastIndex(): number {
    return this.#lastIndex;
  }

  /** Number of segment files (for tests and metrics). */
  get segmentCount(): number {
    return this.#segments.length;
  }

  /**
   * Appends records with consecutive indexes after lastIndex (after earlier pending appends).
   * Resolves with the assigned range once the records are durable. If it rejects, none of its
   * records are in the log, and appends queued behind it are rejected with 'aborted' too
   * (a log has no holes); later appends work again (e.g. once disk space returns).
   */
  append(records: readonly Uint8Array[], options: AppendOptions = {}): Promise<IndexRange> {
    assert(records.length > 0, 'append needs at least one record');
    const unusable = this.#unusableError();
    if (unusable !== undefined) return Promise.reject(unusable);
    let bytes = 0;
    for (const r of records) {
      if (r.length > this.#options.maxRecordBytes) {
        return Promise.reject(new WalError('record-too-large', `record of ${r.length} bytes exceeds maxRecordBytes ${this.#options.maxRecordBytes}`));
      }
      bytes += RECORD_HEADER_BYTES + r.length;
    }
    if (this.#pendingBytes + bytes > this.#options.maxPendingBytes) {
      return Promise.reject(
        new WalError('backpressure', `append of ${bytes} bytes would exceed maxPendingBytes ${this.#options.maxPendingBytes} (${this.#pendingBytes} pending)`),
      );
    }
    this.#pendingBytes += bytes;
    return new Promise<IndexRange>((resolve, reject) => {
      this.#queue.push({ kind: 'append', records, bytes, expectedFirstIndex: options.expectedFirstIndex, resolve, reject });
      this.#kick();
    });
  }

  /**
   * Drops every record with index >= fromIndex (a Raft follower removing a conflicting suffix).
   * Ordered after earlier appends; durable when it resolves. fromIndex > lastIndex is a no-op.
   */
  truncateSuffix(fromIndex: number): Promise<void> {
    assert(Number.isSafeInteger(fromIndex), 'truncateSuffix index is a safe integer');
    return this.#control(async () => {
      assert(fromIndex >= this.#firstIndex, `truncateSuffix(${fromIndex}) below firstIndex ${this.#firstIndex}: committed entries are never truncated`);
      if (fromIndex > this.#lastIndex) return;
      await this.#truncateSuffix(fromIndex);
    });
  }

  /**
   * Makes beforeIndex the first index: records below it are no longer readable and whole
   * segments below it are deleted. When beforeIndex > lastIndex + 1 (a snapshot newer than the
   * whole log was installed), the log becomes empty and the next append gets beforeIndex.
   * Durable when it resolves. beforeIndex <= firstIndex is a no-op.
   */
  dropPrefix(beforeIndex: number): Promise<void> {
    assert(Number.isSafeInteger(beforeIndex) && beforeIndex >= 0, 'dropPrefix index is a non-negative safe integer');
    return this.#control(async () => {
      if (beforeIndex <= this.#firstIndex) return;
      await this.#dropPrefix(beforeIndex);
    });
  }

  /** The payload of one record. */
  async read(index: number): Promise<Uint8Array> {
    const records = await this.readRange(index, index + 1);
    const first = records[0];
    assert(first !== undefined, 'readRange of one index returns one record');
    return first;
  }

  /**
   * Payloads of records [from, toExclusive). With maxBytes, stops before the payload total would
   * exceed it, but always returns at least one record (so a caller always makes progress).
   */
  async readRange(from: number, toExclusive: number, maxBytes?: number): Promise<Uint8Array[]> {
    while (this.#controlRunning !== undefined) await this.#controlRunning;
    this.#activeReads++;
    try {
      return await this.#readRange(from, toExclusive, maxBytes);
    } finally {
      this.#activeReads--;
      if (this.#activeReads === 0) {
        for (const h of this.#retired.splice(0)) await h.close().catch(() => undefined);
        for (const w of this.#readsDrained.splice(0)) w();
      }
    }
  }

  async #readRange(from: number, toExclusive: number, maxBytes: number | undefined): Promise<Uint8Array[]> {
    const unusable = this.#unusableError();
    if (unusable !== undefined) throw unusable;
    assert(Number.isSafeInteger(from) && Number.isSafeInteger(toExclusive) && from <= toExclusive, `readRange(${from}, ${toExclusive}) is a valid range`);
    if (from < this.#firstIndex) throw new WalError('compacted', `index ${from} is below firstIndex ${this.#firstIndex}`);
    if (toExclusive > this.#lastIndex + 1) throw new WalError('out-of-range', `index ${toExclusive - 1} is above lastIndex ${this.#lastIndex}`);
    const out: Uint8Array[] = [];
    let total = 0;
    let index = from;
    while (index < toExclusive) {
      const segment = this.#segmentFor(index);
      const segmentEnd = Math.min(toExclusive, segment.firstIndex + segment.offsets.length);
      // Plan the byte range first so one read covers many records.
      let end = index;
      let planned = total;
      while (end < segmentEnd) {
        const len = recordLength(segment, end - segment.firstIndex) - RECORD_HEADER_BYTES;
        if (maxBytes !== undefined && out.length + (end - index) > 0 && planned + len > maxBytes) break;
        planned += len;
        end++;
      }
      if (end === index) break;
      const startOffset = segment.offsets[index - segment.firstIndex];
      const endOffset = end - segment.firstIndex < segment.offsets.length ? segment.offsets[end - segment.firstIndex] : segment.size;
      assert(startOffset !== undefined && endOffset !== undefined, 'offsets exist for planned records');
      const handle = await this.#readHandle(segment);
      const buf = await handle.read(startOffset, endOffset - startOffset);
      let pos = 0;
      for (let i = index; i < end; i++) {
        const parsed = parseRecord(buf, pos, buf.length, i, this.#options.maxRecordBytes);
        if (parsed.kind !== 'ok') {
          throw new WalCorruptionError('bad-record', segment.path, startOffset + pos, `record ${i} no longer verifies (${parsed.kind === 'bad' ? parsed.reason : 'incomplete'})`);
        }
        out.push(parsed.payload);
        total += parsed.payload.length;
        pos = parsed.next;
      }
      index = end;
      if (end < segmentEnd) break; // maxBytes reached
    }
    return out;
  }

  /** Waits for queued work, then closes files. Later calls fail with 'closed'. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#whenIdle();
    this.#closed = true;
    const handles = [this.#active, ...this.#readHandles.values(), ...this.#retired.splice(0)];
    this.#readHandles.clear();
    for (const h of handles) await h.close().catch(() => undefined);
  }

  // ---- the single writer ----

  #control(run: () => Promise<void>): Promise<void> {
    const unusable = this.#unusableError();
    if (unusable !== undefined) return Promise.reject(unusable);
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ kind: 'control', run, resolve, reject });
      this.#kick();
    });
  }

  #kick(): void {
    if (this.#working) return;
    this.#working = true;
    void this.#work();
  }

  async #work(): Promise<void> {
    while (this.#queue.length > 0) {
      const head = this.#queue[0];
      assert(head !== undefined, 'queue head exists');
      if (this.#failure !== undefined) {
        this.#rejectQueued(new WalError('failed', `WAL in ${this.#dir} failed earlier: ${this.#failure.message}`, { cause: this.#failure }));
        break;
      }
      if (head.kind === 'control') {
        this.#queue.shift();
        let done = (): void => undefined;
        this.#controlRunning = new Promise<void>((resolve) => {
          done = resolve;
        });
        try {
          if (this.#activeReads > 0) await new Promise<void>((resolve) => this.#readsDrained.push(resolve));
          await head.run();
          head.resolve();
        } catch (e) {
          // A truncation or compaction that stopped half way leaves the in-memory index out of
          // step with the files; recovery (a reopen) is the one place that reconciles them.
          this.#failure = asError(e);
          head.reject(asError(e));
        } finally {
          this.#controlRunning = undefined;
          done();
        }
        continue;
      }
      await this.#writeBatch(this.#takeBatch());
    }
    this.#working = false;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }

  /**
   * Takes consecutive appends from the queue head: everything that arrived while the previous
   * sync ran (group commit), stopping at a control op or where the active segment would fill.
   */
  #takeBatch(): { ops: AppendOp[]; rotate: boolean } {
    const batch: AppendOp[] = [];
    const active = this.#activeSegment();
    const head = this.#queue[0];
    assert(head !== undefined && head.kind === 'append', 'a batch starts with an append');
    // Start a new segment when this batch would not fit in the active one (a segment exceeds
    // segmentBytes only when a single append is larger than what is left of an empty one).
    const rotate = active.offsets.length > 0 && active.size + head.bytes > this.#options.segmentBytes;
    let size = rotate ? SEGMENT_HEADER_BYTES : active.size;
    while (this.#queue.length > 0) {
      const op = this.#queue[0];
      assert(op !== undefined, 'queue head exists');
      if (op.kind !== 'append') break;
      if (batch.length > 0 && size + op.bytes > this.#options.segmentBytes) break;
      this.#queue.shift();
      batch.push(op);
      size += op.bytes;
    }
    return { ops: batch, rotate };
  }

  async #writeBatch({ ops: batch, rotate }: { ops: AppendOp[]; rotate: boolean }): Promise<void> {
    // Ops with a wrong expected index are refused without consuming indexes.
    let next = this.#lastIndex + 1;
    const accepted: Array<{ op: AppendOp; range: IndexRange }> = [];
    for (const op of batch) {
      if (op.expectedFirstIndex !== undefined && op.expectedFirstIndex !== next) {
        this.#pendingBytes -= op.bytes;
        op.reject(new WalError('index-mismatch', `append expected first index ${op.expectedFirstIndex}, the log is at ${next}`));
        continue;
      }
      accepted.push({ op, range: { firstIndex: next, lastIndex: next + op.records.length - 1 } });
      next += op.records.length;
    }
    if (accepted.length === 0) return;
    const batchBytes = accepted.reduce((n, a) => n + a.op.bytes, 0);
    const releaseAll = (): void => {
      this.#pendingBytes -= batchBytes;
    };
    try {
      // Rotate before, never during, a batch: a failed batch then touches one file only.
      if (rotate) await this.#rotate(this.#lastIndex + 1);
    } catch (e) {
      releaseAll();
      this.#failBatch(accepted.map((a) => a.op), asError(e));
      return;
    }
    const segment = this.#activeSegment();
    const before = segment.size;
    const buf = new Uint8Array(batchBytes);
    const offsets: number[] = [];
    let pos = 0;
    for (const { op, range } of accepted) {
      op.records.forEach((payload, i) => {
        offsets.push(before + pos);
        pos = encodeRecord(buf, pos, range.firstIndex + i, payload);
      });
    }
    try {
      await this.#active.append(buf);
    } catch (e) {
      releaseAll();
      // Undo a partial write so the next append lands right after the last good record.
      try {
        await this.#active.truncate(before);
      } catch (rollback) {
        this.#failure = asError(rollback);
      }
      this.#failBatch(accepted.map((a) => a.op), asError(e));
      return;
    }
    try {
      await this.#active.sync();
    } catch (e) {
      // After a failed fsync the kernel may have dropped the dirty pages and a retry could
      // "succeed" without them (PostgreSQL "fsyncgate", 2018). Only a reopen, which reads what
      // is really on disk, is safe.
      releaseAll();
      this.#failure = asError(e);
      this.#failBatch(accepted.map((a) => a.op), asError(e));
      return;
    }
    segment.offsets.push(...offsets);
    segment.size = before + buf.length;
    this.#lastIndex = next - 1;
    releaseAll();
    for (const { op, range } of accepted) op.resolve(range);
  }

  /** Rejects a failed batch and everything queued behind it up to the next control op. */
  #failBatch(ops: AppendOp[], cause: Error): void {
    for (const op of ops) op.reject(cause);
    while (this.#queue[0]?.kind === 'append') {
      const op = this.#queue.shift() as AppendOp;
      this.#pendingBytes -= op.bytes;
      op.reject(new WalError('aborted', `an earlier append failed: ${cause.message}`, { cause }));
    }
  }

  #rejectQueued(error: WalError): void {
    for (const op of this.#queue.splice(0)) {
      if (op.kind === 'append') this.#pendingBytes -= op.bytes;
      op.reject(error);
    }
  }

  // ---- segment management ----

  async #rotate(firstIndex: number): Promise<void> {
    const segment = await this.#createSegment(firstIndex);
    const old = this.#active;
    this.#active = segment.handle;
    this.#segments.push(segment.segment);
    // The old active file is complete and synced; later reads open it on demand.
    await this.#retire(old);
  }

  /** Creates, syncs and makes durable an empty segment (header only). */
  async #createSegment(firstIndex: number): Promise<{ segment: Segment; handle: FileHandle }> {
    const name = segmentName(firstIndex);
    const path = join(this.#dir, name);
    // A leftover with this name can only be an unacknowledged, emptied segment; replace it.
    await this.#fs.remove(path);
    const handle = await this.#fs.open(path, { create: true });
    try {
      await handle.append(encodeSegmentHeader(firstIndex));
      await handle.sync();
      await this.#fs.syncDir(this.#dir);
    } catch (e) {
      await handle.close().catch(() => undefined);
      await this.#fs.remove(path).catch(() => undefined);
      throw e;
    }
    return { segment: { firstIndex, name, path, offsets: [], size: SEGMENT_HEADER_BYTES }, handle };
  }

  async #truncateSuffix(fromIndex: number): Promise<void> {
    // Keep the last segment that starts at or before fromIndex; delete the ones after it,
    // newest first and each made durable before the next, so that every crash leaves a
    // contiguous log (a prefix of the old one).
    let keep = this.#segments.length - 1;
    while (keep > 0 && this.#segments[keep]!.firstIndex > fromIndex) keep--;
    const kept = this.#segments[keep];
    assert(kept !== undefined && kept.firstIndex <= fromIndex, 'a segment starts at or before fromIndex');
    if (keep < this.#segments.length - 1) {
      await this.#active.close().catch(() => undefined);
      for (let i = this.#segments.length - 1; i > keep; i--) {
        const seg = this.#segments[i]!;
        await this.#dropReadHandle(seg.name);
        await this.#fs.remove(seg.path);
        await this.#fs.syncDir(this.#dir);
        this.#segments.pop();
        this.#lastIndex = seg.firstIndex - 1;
      }
      await this.#dropReadHandle(kept.name);
      this.#active = await this.#fs.open(kept.path, { create: false });
    }
    const keepRecords = fromIndex - kept.firstIndex;
    const newSize = keepRecords < kept.offsets.length ? kept.offsets[keepRecords]! : kept.size;
    await this.#active.truncate(newSize);
    await this.#active.sync();
    kept.offsets.length = Math.min(kept.offsets.length, keepRecords);
    kept.size = newSize;
    this.#lastIndex = fromIndex - 1;
  }

  async #dropPrefix(beforeIndex: number): Promise<void> {
    // The marker goes first: once it says beforeIndex, any segment still below it is a
    // leftover that recovery deletes again, whatever the crash left behind.
    await writeAtomic(this.#fs, join(this.#dir, META_FILE), encodeMeta(beforeIndex));
    if (beforeIndex > this.#lastIndex + 1) {
      // The whole log is older than the snapshot: start a fresh, empty segment at beforeIndex.
      const fresh = await this.#createSegment(beforeIndex);
      const old = this.#segments;
      await this.#active.close().catch(() => undefined);
      this.#segments = [fresh.segment];
      this.#active = fresh.handle;
      this.#firstIndex = beforeIndex;
      this.#lastIndex = beforeIndex - 1;
      for (const seg of old) {
        await this.#dropReadHandle(seg.name);
        await this.#fs.remove(seg.path);
      }
      await this.#fs.syncDir(this.#dir);
      return;
    }
    this.#firstIndex = beforeIndex;
    let removed = 0;
    while (this.#segments.length > 1 && this.#segments[1]!.firstIndex <= beforeIndex) {
      const seg = this.#segments.shift()!;
      await this.#dropReadHandle(seg.name);
      await this.#fs.remove(seg.path);
      removed++;
    }
    if (removed > 0) await this.#fs.syncDir(this.#dir);
  }

  #activeSegment(): Segment {
    const s = this.#segments[this.#segments.length - 1];
    assert(s !== undefined, 'active segment exists');
    return s;
  }

  #segmentFor(index: number): Segment {
    let lo = 0;
    let hi = this.#segments.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.#segments[mid]!.firstIndex <= index) lo = mid;
      else hi = mid - 1;
    }
    const s = this.#segments[lo];
    assert(s !== undefined && s.firstIndex <= index && index < s.firstIndex + s.offsets.length, `index ${index} is in a segment`);
    return s;
  }

  async #readHandle(segment: Segment): Promise<FileHandle> {
    if (segment === this.#activeSegment()) return this.#active;
    const cached = this.#readHandles.get(segment.name);
    if (cached !== undefined) {
      // Refresh its place in the LRU order (Map keeps insertion order).
      this.#readHandles.delete(segment.name);
      this.#readHandles.set(segment.name, cached);
      return cached;
    }
    const handle = await this.#fs.open(segment.path, { create: false });
    this.#readHandles.set(segment.name, handle);
    while (this.#readHandles.size > this.#options.readHandleCacheSize) {
      const [oldest] = this.#readHandles.keys();
      if (oldest === undefined) break;
      await this.#dropReadHandle(oldest);
    }
    return handle;
  }

  async #dropReadHandle(name: string): Promise<void> {
    const h = this.#readHandles.get(name);
    if (h === undefined) return;
    this.#readHandles.delete(name);
    await this.#retire(h);
  }

  /** Closes a handle now, or after the reads in progress (one of them may be using it). */
  async #retire(handle: FileHandle): Promise<void> {
    if (this.#activeReads > 0) this.#retired.push(handle);
    else await handle.close().catch(() => undefined);
  }

  #unusableError(): WalError | undefined {
    if (this.#closed) return new WalError('closed', `WAL in ${this.#dir} is closed`);
    if (this.#failure !== undefined) {
      return new WalError('failed', `WAL in ${this.#dir} failed earlier and must be reopened: ${this.#failure.message}`, { cause: this.#failure });
    }
    return undefined;
  }

  #whenIdle(): Promise<void> {
    if (!this.#working) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }
}

// ---- recovery ----

interface Recovered {
  readonly segments: Segment[];
  readonly firstIndex: number;
  readonly tornTail: TornTail | undefined;
  readonly removedFiles: string[];
}

async function recover(fs: FileSystem, dir: string, options: ResolvedOptions): Promise<Result<Recovered, WalCorruptionError>> {
  const removedFiles: string[] = [];
  const metaPath = join(dir, META_FILE);
  const meta = await readAtomic(fs, metaPath);
  if (!meta.ok) return err(new WalCorruptionError('bad-meta', metaPath, 0, meta.error.message));
  let metaFirst: number | undefined;
  if (meta.value !== undefined) {
    const decoded = decodeMeta(meta.value);
    if (decoded === undefined) return err(new WalCorruptionError('bad-meta', metaPath, 0, 'first index is not a valid 8-byte safe integer'));
    metaFirst = decoded;
  }

  let names = (await fs.list(dir)).filter((n) => SEGMENT_NAME.test(n));
  // Leftovers of an interrupted compaction: segments whose successor starts at or before the
  // recorded first index hold nothing readable. Only names are needed to decide this.
  if (metaFirst !== undefined) {
    const starts = names.map(nameIndex);
    let drop = 0;
    while (drop < names.length - 1 && starts[drop + 1]! <= metaFirst) drop++;
    for (const name of names.slice(0, drop)) {
      await fs.remove(join(dir, name));
      removedFiles.push(name);
    }
    names = names.slice(drop);
    if (drop > 0) await fs.syncDir(dir);
  }

  const segments: Segment[] = [];
  let tornTail: TornTail | undefined;
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    const path = join(dir, name);
    const isLast = i === names.length - 1;
    const data = (await fs.readFile(path)) ?? new Uint8Array(0);
    const scanned = scanSegment(path, name, data, isLast, options.maxRecordBytes);
    if (!scanned.ok) return scanned;
    if (scanned.value === 'torn-creation') {
      // Crash while creating this segment: it never held an acknowledged record.
      await fs.remove(path);
      await fs.syncDir(dir);
      removedFiles.push(name);
      continue;
    }
    const { segment, tornAt } = scanned.value;
    const previous = segments[segments.length - 1];
    if (previous !== undefined) {
      const expected = previous.firstIndex + previous.offsets.length;
      if (segment.firstIndex !== expected) {
        return err(new WalCorruptionError('index-gap', path, 8, `segment starts at index ${segment.firstIndex}, but ${previous.name} ends at ${expected - 1}`));
      }
    }
    if (tornAt !== undefined) {
      const handle = await fs.open(path, { create: false });
      try {
        await handle.truncate(tornAt);
        await handle.sync();
      } finally {
        await handle.close();
      }
      tornTail = { file: path, offset: tornAt, droppedBytes: data.length - tornAt };
    }
    segments.push(segment);
  }

  const first = segments[0];
  const last = segments[segments.length - 1];
  if (first === undefined || last === undefined) {
    // A brand-new log, or one whose only segment was a torn creation.
    const start = metaFirst ?? options.initialIndex;
    const created = await createEmptySegment(fs, dir, start);
    return ok({ segments: [created], firstIndex: start, tornTail, removedFiles });
  }
  const lastIndex = last.firstIndex + last.offsets.length - 1;
  const firstIndex = metaFirst ?? first.firstIndex;
  if (firstIndex < first.firstIndex) {
    return err(new WalCorruptionError('meta-mismatch', metaPath, 0, `first index is ${firstIndex}, but the oldest segment ${first.name} starts at ${first.firstIndex}`));
  }
  if (firstIndex > lastIndex + 1) {
    // An interrupted reset (dropPrefix past the end): finish it.
    const created = await createEmptySegment(fs, dir, firstIndex);
    for (const s of segments) {
      await fs.remove(s.path);
      removedFiles.push(s.name);
    }
    await fs.syncDir(dir);
    return ok({ segments: [created], firstIndex, tornTail, removedFiles });
  }
  return ok({ segments, firstIndex, tornTail, removedFiles });
}

async function createEmptySegment(fs: FileSystem, dir: string, firstIndex: number): Promise<Segment> {
  const name = segmentName(firstIndex);
  const path = join(dir, name);
  await fs.remove(path);
  const handle = await fs.open(path, { create: true });
  try {
    await handle.append(encodeSegmentHeader(firstIndex));
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.syncDir(dir);
  return { firstIndex, name, path, offsets: [], size: SEGMENT_HEADER_BYTES };
}

type ScanResult = 'torn-creation' | { readonly segment: Segment; readonly tornAt: number | undefined };

function scanSegment(path: string, name: string, data: Uint8Array, isLast: boolean, maxRecordBytes: number): Result<ScanResult, WalCorruptionError> {
  const nameFirst = nameIndex(name);
  const header = parseSegmentHeader(data);
  if (header.kind === 'bad') {
    // The header is written and synced before any record, so a last segment that holds no
    // more than a bad header is a creation cut short by a crash.
    if (isLast && data.length <= SEGMENT_HEADER_BYTES) return ok('torn-creation');
    return err(new WalCorruptionError('bad-segment-header', path, 0, header.reason));
  }
  if (header.firstIndex !== nameFirst) {
    return err(new WalCorruptionError('segment-header-mismatch', path, 8, `header says first index ${header.firstIndex}, file name says ${nameFirst}`));
  }
  const offsets: number[] = [];
  let pos = SEGMENT_HEADER_BYTES;
  while (pos < data.length) {
    const expected = nameFirst + offsets.length;
    const parsed = parseRecord(data, pos, data.length, expected, maxRecordBytes);
    if (parsed.kind === 'ok') {
      offsets.push(pos);
      pos = parsed.next;
      continue;
    }
    if (parsed.kind === 'bad' && parsed.indexMismatch) {
      // The checksum holds, so the bytes are as written: the index itself is wrong.
      return err(new WalCorruptionError('index-gap', path, pos, parsed.reason));
    }
    if (!isLast) {
      return err(new WalCorruptionError('bad-record', path, pos, `${describe(parsed)} in a segment that is not the last`));
    }
    const later = findValidRecordAfter(data, pos + 1, expected, maxRecordBytes);
    if (later !== undefined) {
      return err(new WalCorruptionError('bad-record', path, pos, `${describe(parsed)}, followed by a valid record ${later.index} at byte ${later.offset}`));
    }
    return ok({ segment: { firstIndex: nameFirst, name, path, offsets, size: pos }, tornAt: pos });
  }
  return ok({ segment: { firstIndex: nameFirst, name, path, offsets, size: pos }, tornAt: undefined });
}

function describe(parsed: Exclude<ParsedRecord, { kind: 'ok' }>): string {
  return parsed.kind === 'incomplete' ? 'incomplete record' : parsed.reason;
}

/**
 * Looks for any record that verifies after a bad one. A torn write leaves none: everything
 * after the tear is the same unacknowledged write. Records after the bad one can only have
 * indexes above the expected one; the index filter keeps the checksum work small.
 */
function findValidRecordAfter(data: Uint8Array, start: number, expected: number, maxRecordBytes: number): { offset: number; index: number } | undefined {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const maxIndex = expected + Math.ceil((data.length - start) / RECORD_HEADER_BYTES);
  for (let pos = start; pos + RECORD_HEADER_BYTES <= data.length; pos++) {
    const index = readIndex(view, pos + 8);
    if (index === undefined || index < expected || index > maxIndex) continue;
    const parsed = parseRecord(data, pos, data.length, index, maxRecordBytes);
    if (parsed.kind === 'ok') return { offset: pos, index };
  }
  return undefined;
}

// ---- encoding ----

type ParsedRecord =
  | { readonly kind: 'ok'; readonly payload: Uint8Array; readonly next: number }
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'bad'; readonly reason: string; readonly indexMismatch: boolean };

function encodeRecord(buf: Uint8Array, pos: number, index: number, payload: Uint8Array): number {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  view.setUint32(pos, payload.length, true);
  writeIndex(view, pos + 8, index);
  const crc = crc32c(payload, crc32c(buf.subarray(pos + 8, pos + 16), crc32c(buf.subarray(pos, pos + 4))));
  view.setUint32(pos + 4, crc, true);
  buf.set(payload, pos + RECORD_HEADER_BYTES);
  return pos + RECORD_HEADER_BYTES + payload.length;
}

function parseRecord(data: Uint8Array, pos: number, end: number, expectedIndex: number, maxRecordBytes: number): ParsedRecord {
  if (end - pos < RECORD_HEADER_BYTES) return { kind: 'incomplete' };
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const length = view.getUint32(pos, true);
  if (length > maxRecordBytes) return { kind: 'bad', reason: `record length ${length} exceeds maxRecordBytes ${maxRecordBytes}`, indexMismatch: false };
  const payloadStart = pos + RECORD_HEADER_BYTES;
  if (payloadStart + length > end) return { kind: 'incomplete' };
  const stored = view.getUint32(pos + 4, true);
  const payload = data.subarray(payloadStart, payloadStart + length);
  const actual = crc32c(payload, crc32c(data.subarray(pos + 8, pos + 16), crc32c(data.subarray(pos, pos + 4))));
  if (actual !== stored) return { kind: 'bad', reason: `checksum mismatch (stored ${hex32(stored)}, computed ${hex32(actual)})`, indexMismatch: false };
  const index = readIndex(view, pos + 8);
  if (index !== expectedIndex) {
    return { kind: 'bad', reason: `record has index ${index ?? 'beyond 2^53'}, expected ${expectedIndex}`, indexMismatch: true };
  }
  return { kind: 'ok', payload: payload.slice(), next: payloadStart + length };
}

function recordLength(segment: Segment, i: number): number {
  const start = segment.offsets[i];
  const end = i + 1 < segment.offsets.length ? segment.offsets[i + 1] : segment.size;
  assert(start !== undefined && end !== undefined, 'record offsets exist');
  return end - start;
}

function encodeSegmentHeader(firstIndex: number): Uint8Array {
  const buf = new Uint8Array(SEGMENT_HEADER_BYTES);
  const view = new DataView(buf.buffer);
  buf.set(SEGMENT_MAGIC, 0);
  view.setUint32(4, SEGMENT_VERSION, true);
  writeIndex(view, 8, firstIndex);
  view.setUint32(16, 0, true);
  view.setUint32(20, crc32c(buf.subarray(0, 20)), true);
  return buf;
}

function parseSegmentHeader(data: Uint8Array): { kind: 'ok'; firstIndex: number } | { kind: 'bad'; reason: string } {
  if (data.length < SEGMENT_HEADER_BYTES) return { kind: 'bad', reason: `file has ${data.length} bytes, shorter than the ${SEGMENT_HEADER_BYTES}-byte header` };
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (SEGMENT_MAGIC.some((b, i) => data[i] !== b)) return { kind: 'bad', reason: 'bad magic' };
  const crc = crc32c(data.subarray(0, 20));
  if (crc !== view.getUint32(20, true)) return { kind: 'bad', reason: 'header checksum mismatch' };
  const version = view.getUint32(4, true);
  if (version !== SEGMENT_VERSION) return { kind: 'bad', reason: `unsupported segment version ${version}` };
  const firstIndex = readIndex(view, 8);
  if (firstIndex === undefined) return { kind: 'bad', reason: 'first index beyond 2^53' };
  return { kind: 'ok', firstIndex };
}

function encodeMeta(firstIndex: number): Uint8Array {
  const buf = new Uint8Array(8);
  writeIndex(new DataView(buf.buffer), 0, firstIndex);
  return buf;
}

function decodeMeta(data: Uint8Array): number | undefined {
  if (data.length !== 8) return undefined;
  return readIndex(new DataView(data.buffer, data.byteOffset, data.byteLength), 0);
}

/** Indexes are u64 on disk and safe integers (< 2^53) in memory. */
function writeIndex(view: DataView, pos: number, index: number): void {
  assert(Number.isSafeInteger(index) && index >= 0, `index ${index} is a non-negative safe integer`);
  view.setUint32(pos, index % 0x1_0000_0000, true);
  view.setUint32(pos + 4, Math.floor(index / 0x1_0000_0000), true);
}

function readIndex(view: DataView, pos: number): number | undefined {
  const lo = view.getUint32(pos, true);
  const hi = view.getUint32(pos + 4, true);
  if (hi >= 0x20_0000) return undefined; // >= 2^53
  return hi * 0x1_0000_0000 + lo;
}

export function segmentName(firstIndex: number): string {
  return `${firstIndex.toString(16).padStart(16, '0')}.wal`;
}

function nameIndex(name: string): number {
  const m = SEGMENT_NAME.exec(name);
  assert(m !== null && m[1] !== undefined, `${name} is a segment name`);
  const value = Number.parseInt(m[1], 16);
  assert(Number.isSafeInteger(value), `segment name ${name} holds a safe integer`);
  return value;
}

function resolveOptions(options: WalOptions): ResolvedOptions {
  const resolved: ResolvedOptions = {
    segmentBytes: options.segmentBytes ?? 64 * MiB,
    maxRecordBytes: options.maxRecordBytes ?? 16 * MiB,
    maxPendingBytes: options.maxPendingBytes ?? 64 * MiB,
    initialIndex: options.initialIndex ?? 1,
    readHandleCacheSize: options.readHandleCacheSize ?? 4,
  };
  assert(resolved.segmentBytes > SEGMENT_HEADER_BYTES, 'segmentBytes holds more than a header');
  assert(resolved.maxRecordBytes > 0 && resolved.maxRecordBytes < 0x1_0000_0000, 'maxRecordBytes fits the u32 length field');
  assert(resolved.maxPendingBytes >= resolved.maxRecordBytes + RECORD_HEADER_BYTES, 'maxPendingBytes admits one largest record');
  assert(Number.isSafeInteger(resolved.initialIndex) && resolved.initialIndex >= 0, 'initialIndex is a non-negative safe integer');
  assert(resolved.readHandleCacheSize >= 1, 'readHandleCacheSize >= 1');
  return resolved;
}

function hex32(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}
