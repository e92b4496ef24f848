// A simulated disk for deterministic tests and the cluster simulator (DESIGN.md, How we test,
// item 3: "crash-restart with torn writes"). It implements the same FileSystem the WAL and the
// atomic files use, and models the guarantees a POSIX file system actually gives:
//
// - File contents are durable only up to the last sync() of that file (fdatasync). Appends and
//   truncates after it are lost on a crash().
// - Directory entries (a create, a rename, a remove) are durable only after syncDir() of the
//   directory that holds them (the reason for the "fsync the parent directory" step in every
//   crash-safe file protocol; see the ext4/rename discussions and the ALICE paper, Pillai et
//   al., "All File Systems Are Not Created Equal", OSDI 2014).
// - The last unsynced append may be torn: a prefix of the unsynced bytes survives, and the part
//   of the append that was being written when power went may hold garbage. Only a prefix can
//   survive (never a later write without an earlier one): this matches a single file appended
//   sequentially by one writer, which is how the WAL uses it.
//
// Simplifications, on purpose: directories made by mkdirp are durable at once (the storage
// layer creates its directories once, at startup); when a file had an unsynced truncate, a crash
// restores its durable content exactly (no torn write on top of a truncate).
//
// Everything is synchronous under the hood and resolves immediately, and the only source of
// randomness is the Random passed to crash(), so one seed replays one run.

import type { Random } from '../core/random.ts';
import { assert } from '../core/result.ts';
import type { FileHandle, FileSystem } from '../runtime/storage/fs.ts';
import { StorageError } from '../runtime/storage/fs.ts';

export interface SimDiskOptions {
  /** Total bytes all files may hold; an append beyond it fails with 'no-space' and writes nothing. */
  readonly capacityBytes?: number;
  /** Probability that a crash leaves a torn prefix of a file's unsynced appends (default 0.5). */
  readonly tornWriteProbability?: number;
  /** Probability that a torn append also holds garbage bytes in its surviving part (default 0.5). */
  readonly tornGarbageProbability?: number;
}

export interface SimDiskStats {
  /** sync() calls on file handles (fdatasync). */
  readonly fileSyncs: number;
  /** syncDir() calls. */
  readonly dirSyncs: number;
  readonly appends: number;
  readonly bytesAppended: number;
  readonly crashes: number;
  /** Crashes that left at least one torn file tail. */
  readonly tornWrites: number;
}

/** What a crash did to one file, for tests and simulator traces. */
export interface TornWrite {
  readonly path: string;
  /** Length of the durable content before the crash. */
  readonly durableBytes: number;
  /** Unsynced bytes that survived (a prefix of the unsynced appends). */
  readonly survivedBytes: number;
  /** Bytes in the surviving part that were overwritten with garbage. */
  readonly garbageBytes: number;
}

export interface CrashReport {
  readonly tornWrites: readonly TornWrite[];
}

/** One file's contents, shared by every name and handle that refers to it (an inode). */
interface Inode {
  /** Content as of the last sync(): what survives a crash. */
  durable: Uint8Array;
  /** Live content, as reads see it. */
  data: Uint8Array;
  /** Start offsets (in data) of the appends since the last sync, oldest first. */
  unsyncedAppendStarts: number[];
  /** True when a truncate happened since the last sync (then a crash restores `durable`). */
  truncatedSinceSync: boolean;
}

export class SimDisk implements FileSystem {
  readonly #options: Required<Omit<SimDiskOptions, 'capacityBytes'>>;
  #capacityBytes: number | undefined;
  /** Live namespace: path -> inode. */
  #live = new Map<string, Inode>();
  /** Durable namespace: what a crash restores. */
  #durable = new Map<string, Inode>();
  #dirs = new Set<string>(['/']);
  /** Inodes held open by handles (an unlinked open file still uses space). */
  #openInodes = new Map<Inode, number>();
  /** Bumped by every crash; handles from an older epoch are dead. */
  #epoch = 0;
  #fileSyncs = 0;
  /** While set, file syncs wait (a slow disk) until resumeSyncs(); a crash drops them. */
  #syncsPaused = false;
  #heldSyncs: Array<{ readonly apply: () => void; readonly reject: (e: Error) => void; readonly path: string }> = [];
  #dirSyncs = 0;
  #appends = 0;
  #bytesAppended = 0;
  #crashes = 0;
  #tornWrites = 0;

  constructor(options: SimDiskOptions = {}) {
    this.#capacityBytes = options.capacityBytes;
    this.#options = {
      tornWriteProbability: options.tornWriteProbability ?? 0.5,
      tornGarbageProbability: options.tornGarbageProbability ?? 0.5,
    };
    assert(this.#options.tornWriteProbability >= 0 && this.#options.tornWriteProbability <= 1, 'tornWriteProbability in [0, 1]');
    assert(this.#options.tornGarbageProbability >= 0 && this.#options.tornGarbageProbability <= 1, 'tornGarbageProbability in [0, 1]');
  }

  // ---- FileSystem ----

  open(path: string, options: { readonly create: boolean }): Promise<FileHandle> {
    return this.#run(() => {
      const p = normalize(path);
      let inode = this.#live.get(p);
      if (inode === undefined) {
        if (!options.create) throw new StorageError('io', p, `open ${p}: no such file`);
        this.#requireDir(dirname(p), p);
        inode = { durable: new Uint8Array(0), data: new Uint8Array(0), unsyncedAppendStarts: [], truncatedSinceSync: false };
        this.#live.set(p, inode);
      }
      this.#openInodes.set(inode, (this.#openInodes.get(inode) ?? 0) + 1);
      return new SimFileHandle(this, p, inode, this.#epoch);
    });
  }

  readFile(path: string): Promise<Uint8Array | undefined> {
    return this.#run(() => {
      const inode = this.#live.get(normalize(path));
      return inode === undefined ? undefined : inode.data.slice();
    });
  }

  rename(from: string, to: string): Promise<void> {
    return this.#run(() => {
      const f = normalize(from);
      const t = normalize(to);
      const inode = this.#live.get(f);
      if (inode === undefined) throw new StorageError('io', f, `rename ${f} -> ${t}: no such file`);
      this.#requireDir(dirname(t), t);
      this.#live.delete(f);
      this.#live.set(t, inode);
    });
  }

  remove(path: string): Promise<void> {
    return this.#run(() => {
      this.#live.delete(normalize(path));
    });
  }

  list(dir: string): Promise<string[]> {
    return this.#run(() => {
      const d = normalize(dir);
      const names = new Set<string>();
      for (const p of this.#live.keys()) if (dirname(p) === d) names.add(basename(p));
      for (const p of this.#dirs) if (p !== '/' && dirname(p) === d) names.add(basename(p));
      return [...names].sort();
    });
  }

  mkdirp(dir: string): Promise<void> {
    return this.#run(() => {
      let d = normalize(dir);
      while (d !== '/') {
        if (this.#live.has(d)) throw new StorageError('io', d, `mkdir ${d}: a file is in the way`);
        this.#dirs.add(d);
        d = dirname(d);
      }
    });
  }

  syncDir(dir: string): Promise<void> {
    return this.#run(() => {
      const d = normalize(dir);
      this.#requireDir(d, d);
      this.#dirSyncs++;
      for (const p of [...this.#durable.keys()]) if (dirname(p) === d) this.#durable.delete(p);
      for (const [p, inode] of this.#live) if (dirname(p) === d) this.#durable.set(p, inode);
    });
  }

  /**
   * A view of this disk for one "process lifetime": it works like the disk until the next
   * crash(), then every call fails with 'io'. Give each incarnation of a simulated node its own
   * view, so code still running from before a crash cannot touch the disk after the restart (a
   * real crash stops the process; a simulated one only stops its disk).
   */
  attach(): FileSystem {
    return new AttachedDisk(this, this.#epoch);
  }

  /** Crash counter; attached views compare it to know whether they are stale. */
  get epoch(): number {
    return this.#epoch;
  }

  // ---- Fault injection and inspection ----

  /**
   * Power loss and restart: everything not durable is discarded (see the header comment), all
   * open handles die, and the disk is usable again at once, like a machine that rebooted.
   */
  crash(random: Random): CrashReport {
    this.#crashes++;
    this.#epoch++;
    this.#syncsPaused = false;
    for (const held of this.#heldSyncs.splice(0)) held.reject(new StorageError('io', held.path, `${held.path}: sync lost in a crash`));
    this.#openInodes.clear();
    const torn: TornWrite[] = [];
    const seen = new Set<Inode>();
    // Sorted, so the draws from `random` do not depend on Map insertion order.
    for (const path of [...this.#durable.keys()].sort()) {
      const inode = this.#durable.get(path);
      assert(inode !== undefined, 'durable inode exists');
      if (seen.has(inode)) continue;
      seen.add(inode);
      const report = this.#crashInode(path, inode, random);
      if (report !== undefined) torn.push(report);
    }
    this.#live = new Map(this.#durable);
    if (torn.length > 0) this.#tornWrites++;
    return { tornWrites: torn };
  }

  /** Flips every bit of one durable byte (and the live copy), to test corruption detection. */
  corrupt(path: string, offset: number): void {
    const p = normalize(path);
    const inode = this.#live.get(p) ?? this.#durable.get(p);
    assert(inode !== undefined, `corrupt: no file ${p}`);
    assert(Number.isSafeInteger(offset) && offset >= 0 && offset < inode.durable.length, `corrupt: offset ${offset} outside the durable ${inode.durable.length} bytes of ${p}`);
    inode.durable = inode.durable.slice();
    inode.durable[offset] = (inode.durable[offset] ?? 0) ^ 0xff;
    if (offset < inode.data.length) {
      inode.data = inode.data.slice();
      inode.data[offset] = (inode.data[offset] ?? 0) ^ 0xff;
    }
  }

  /**
   * Makes file syncs wait until resumeSyncs(), like a disk whose flush is slow: the data stays
   * unsynced (so a crash can lose or tear it) while writers wait. Syncs complete in call order.
   */
  pauseSyncs(): void {
    this.#syncsPaused = true;
  }

  resumeSyncs(): void {
    this.#syncsPaused = false;
    for (const held of this.#heldSyncs.splice(0)) held.apply();
  }

  /** Changes the capacity (undefined = unlimited), e.g. to let space "return" after a no-space test. */
  /** The capacity set by setCapacityBytes (undefined: unlimited). */
  get capacityBytes(): number | undefined {
    return this.#capacityBytes;
  }

  setCapacityBytes(capacityBytes: number | undefined): void {
    this.#capacityBytes = capacityBytes;
  }

  /** Bytes used by live files, including removed files still held open. */
  usedBytes(): number {
    const inodes = new Set<Inode>(this.#live.values());
    for (const inode of this.#openInodes.keys()) inodes.add(inode);
    let total = 0;
    for (const inode of inodes) total += inode.data.length;
    return total;
  }

  /** Durable content of a file (what a crash would keep, before any torn tail), for tests. */
  durableContent(path: string): Uint8Array | undefined {
    return this.#durable.get(normalize(path))?.durable.slice();
  }

  stats(): SimDiskStats {
    return {
      fileSyncs: this.#fileSyncs,
      dirSyncs: this.#dirSyncs,
      appends: this.#appends,
      bytesAppended: this.#bytesAppended,
      crashes: this.#crashes,
      tornWrites: this.#tornWrites,
    };
  }

  // ---- Used by SimFileHandle only (not part of the FileSystem surface) ----

  handleAppend(h: SimFileHandle, inode: Inode, data: Uint8Array): Promise<void> {
    return this.#runHandle(h, () => {
      if (this.#capacityBytes !== undefined && this.usedBytes() + data.length > this.#capacityBytes) {
        throw new StorageError('no-space', h.path, `append ${data.length} bytes to ${h.path}: no space left on device`);
      }
      const next = new Uint8Array(inode.data.length + data.length);
      next.set(inode.data, 0);
      next.set(data, inode.data.length);
      inode.unsyncedAppendStarts.push(inode.data.length);
      inode.data = next;
      this.#appends++;
      this.#bytesAppended += data.length;
    });
  }

  handleRead(h: SimFileHandle, inode: Inode, position: number, length: number): Promise<Uint8Array> {
    return this.#runHandle(h, () => {
      assert(Number.isSafeInteger(position) && position >= 0, 'read position is a non-negative integer');
      assert(Number.isSafeInteger(length) && length >= 0, 'read length is a non-negative integer');
      return inode.data.slice(position, position + length);
    });
  }

  handleSync(h: SimFileHandle, inode: Inode): Promise<void> {
    return this.#runHandle(h, () => inode.data.length).then((length) => {
      if (h.epoch !== this.#epoch) throw new StorageError('io', h.path, `${h.path}: sync lost in a crash`);
      if (!this.#syncsPaused) {
        this.#syncInode(inode, length);
        return undefined;
      }
      return new Promise<void>((resolve, reject) => {
        this.#heldSyncs.push({
          path: h.path,
          reject,
          apply: () => {
            this.#syncInode(inode, length);
            resolve();
          },
        });
      });
    });
  }

  handleTruncate(h: SimFileHandle, inode: Inode, length: number): Promise<void> {
    return this.#runHandle(h, () => {
      assert(Number.isSafeInteger(length) && length >= 0, 'truncate length is a non-negative integer');
      if (length >= inode.data.length) {
        // Extending with zeros is what ftruncate does; the WAL never needs it, so forbid it.
        assert(length === inode.data.length, `truncate ${h.path} to ${length} would extend a ${inode.data.length}-byte file`);
        return;
      }
      inode.data = inode.data.slice(0, length);
      inode.truncatedSinceSync = true;
      inode.unsyncedAppendStarts = inode.unsyncedAppendStarts.filter((start) => start < length);
    });
  }

  handleSize(h: SimFileHandle, inode: Inode): Promise<number> {
    return this.#runHandle(h, () => inode.data.length);
  }

  handleClose(inode: Inode, epoch: number): Promise<void> {
    return this.#run(() => {
      if (epoch !== this.#epoch) return; // closing a handle from before a crash is harmless
      const count = this.#openInodes.get(inode) ?? 0;
      if (count <= 1) this.#openInodes.delete(inode);
      else this.#openInodes.set(inode, count - 1);
    });
  }

  // ---- internals ----

  /** fdatasync: makes the first `length` bytes durable (what was written before the call). */
  #syncInode(inode: Inode, length: number): void {
    this.#fileSyncs++;
    if (inode.truncatedSinceSync || length >= inode.data.length) {
      inode.durable = inode.data;
      inode.unsyncedAppendStarts = [];
      inode.truncatedSinceSync = false;
      return;
    }
    inode.durable = inode.data.slice(0, length);
    inode.unsyncedAppendStarts = inode.unsyncedAppendStarts.filter((start) => start >= length);
  }

  #crashInode(path: string, inode: Inode, random: Random): TornWrite | undefined {
    const durableBytes = inode.durable.length;
    const canTear =
      !inode.truncatedSinceSync && inode.unsyncedAppendStarts.length > 0 && inode.data.length > durableBytes;
    let result: TornWrite | undefined;
    let content = inode.durable;
    if (canTear && random.float() < this.#options.tornWriteProbability) {
      const unsynced = inode.data.length - durableBytes;
      // At least one byte survives (otherwise it is not a torn write), at most all but one
      // (otherwise the write completed and is simply not torn).
      const survived = unsynced === 1 ? 1 : 1 + random.int(unsynced - 1);
      const end = durableBytes + survived;
      const torn = inode.data.slice(0, end);
      // The append being written when power went: the last one that starts before `end`.
      let appendStart = durableBytes;
      for (const start of inode.unsyncedAppendStarts) if (start < end) appendStart = start;
      let garbage = 0;
      if (random.float() < this.#options.tornGarbageProbability) {
        // Garbage in a sub-range of the torn append's surviving part (sectors written with
        // stale or random data).
        const from = appendStart + random.int(end - appendStart);
        for (let i = from; i < end; i++) torn[i] = random.int(256);
        garbage = end - from;
      }
      content = torn;
      result = { path, durableBytes, survivedBytes: survived, garbageBytes: garbage };
    }
    inode.durable = content;
    inode.data = content;
    inode.unsyncedAppendStarts = [];
    inode.truncatedSinceSync = false;
    return result;
  }

  #requireDir(dir: string, forPath: string): void {
    if (!this.#dirs.has(dir)) throw new StorageError('io', forPath, `${forPath}: directory ${dir} does not exist`);
  }

  #runHandle<T>(h: SimFileHandle, fn: () => T): Promise<T> {
    return this.#run(() => {
      if (h.epoch !== this.#epoch) throw new StorageError('io', h.path, `${h.path}: handle lost in a crash`);
      if (h.closed) throw new StorageError('io', h.path, `${h.path}: handle is closed`);
      return fn();
    });
  }

  /** Runs fn now (so the effect is ordered with the caller's other calls) and wraps the result. */
  #run<T>(fn: () => T): Promise<T> {
    try {
      return Promise.resolve(fn());
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  }
}

class AttachedDisk implements FileSystem {
  readonly #disk: SimDisk;
  readonly #epoch: number;

  constructor(disk: SimDisk, epoch: number) {
    this.#disk = disk;
    this.#epoch = epoch;
  }

  #check(path: string): void {
    if (this.#disk.epoch !== this.#epoch) throw new StorageError('io', path, `${path}: disk view lost in a crash`);
  }

  async open(path: string, options: { readonly create: boolean }): Promise<FileHandle> {
    this.#check(path);
    return this.#disk.open(path, options);
  }
  async readFile(path: string): Promise<Uint8Array | undefined> {
    this.#check(path);
    return this.#disk.readFile(path);
  }
  async rename(from: string, to: string): Promise<void> {
    this.#check(from);
    return this.#disk.rename(from, to);
  }
  async remove(path: string): Promise<void> {
    this.#check(path);
    return this.#disk.remove(path);
  }
  async list(dir: string): Promise<string[]> {
    this.#check(dir);
    return this.#disk.list(dir);
  }
  async mkdirp(dir: string): Promise<void> {
    this.#check(dir);
    return this.#disk.mkdirp(dir);
  }
  async syncDir(dir: string): Promise<void> {
    this.#check(dir);
    return this.#disk.syncDir(dir);
  }
}

class SimFileHandle implements FileHandle {
  readonly path: string;
  readonly epoch: number;
  closed = false;
  readonly #disk: SimDisk;
  readonly #inode: Inode;

  constructor(disk: SimDisk, path: string, inode: Inode, epoch: number) {
    this.#disk = disk;
    this.path = path;
    this.#inode = inode;
    this.epoch = epoch;
  }

  append(data: Uint8Array): Promise<void> {
    return this.#disk.handleAppend(this, this.#inode, data);
  }
  read(position: number, length: number): Promise<Uint8Array> {
    return this.#disk.handleRead(this, this.#inode, position, length);
  }
  sync(): Promise<void> {
    return this.#disk.handleSync(this, this.#inode);
  }
  truncate(length: number): Promise<void> {
    return this.#disk.handleTruncate(this, this.#inode, length);
  }
  size(): Promise<number> {
    return this.#disk.handleSize(this, this.#inode);
  }
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    const p = this.#disk.handleClose(this.#inode, this.epoch);
    this.closed = true;
    return p;
  }
}

// Tiny POSIX path helpers: the simulator stays free of node:* modules so it runs anywhere and
// cannot touch the real disk by mistake. Paths are absolute or relative to a virtual root.
function normalize(path: string): string {
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return '/' + parts.join('/');
}

function dirname(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}
