// A FileSystem wrapper that counts fdatasyncs and appended bytes, so a benchmark can say how many
// log entries each fsync covered (group commit) without touching the storage code.
import type { FileHandle, FileSystem } from '../../src/runtime/storage/fs.ts';

export interface FsCounts {
  /** FileHandle.sync() calls (fdatasync) that completed. */
  readonly syncs: number;
  /** FileSystem.syncDir() calls (directory fsyncs: segment rolls, snapshots, hard state). */
  readonly dirSyncs: number;
  readonly appendedBytes: number;
}

export class CountingFileSystem implements FileSystem {
  readonly #inner: FileSystem;
  #syncs = 0;
  #dirSyncs = 0;
  #appendedBytes = 0;

  constructor(inner: FileSystem) {
    this.#inner = inner;
  }

  counts(): FsCounts {
    return { syncs: this.#syncs, dirSyncs: this.#dirSyncs, appendedBytes: this.#appendedBytes };
  }

  async open(path: string, options: { readonly create: boolean }): Promise<FileHandle> {
    const handle = await this.#inner.open(path, options);
    return {
      append: async (data) => {
        await handle.append(data);
        this.#appendedBytes += data.length;
      },
      read: (position, length) => handle.read(position, length),
      sync: async () => {
        await handle.sync();
        this.#syncs++;
      },
      truncate: (length) => handle.truncate(length),
      size: () => handle.size(),
      close: () => handle.close(),
    };
  }

  readFile(path: string): Promise<Uint8Array | undefined> {
    return this.#inner.readFile(path);
  }

  rename(from: string, to: string): Promise<void> {
    return this.#inner.rename(from, to);
  }

  remove(path: string): Promise<void> {
    return this.#inner.remove(path);
  }

  list(dir: string): Promise<string[]> {
    return this.#inner.list(dir);
  }

  mkdirp(dir: string): Promise<void> {
    return this.#inner.mkdirp(dir);
  }

  async syncDir(dir: string): Promise<void> {
    await this.#inner.syncDir(dir);
    this.#dirSyncs++;
  }
}

/** Counts minus an earlier reading of the same counter. */
export function fsCountsSince(now: FsCounts, before: FsCounts): FsCounts {
  return { syncs: now.syncs - before.syncs, dirSyncs: now.dirSyncs - before.dirSyncs, appendedBytes: now.appendedBytes - before.appendedBytes };
}
