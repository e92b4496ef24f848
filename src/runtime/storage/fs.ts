// The file-system surface the storage layer needs, and nothing more. The real one is
// NodeFileSystem (node:fs); the simulated one is SimDisk (src/sim/disk.ts), where unsynced
// writes vanish on a crash and the last write may be torn. WAL and atomic files use only this.

export interface FileHandle {
  /** Appends at the end of the file. Durable only after sync(). */
  append(data: Uint8Array): Promise<void>;
  /** Reads up to length bytes at position; a shorter result means end of file. */
  read(position: number, length: number): Promise<Uint8Array>;
  /** fdatasync: every byte appended before this call is durable when it resolves. */
  sync(): Promise<void>;
  /** Shrinks the file to length bytes (durable after sync()). */
  truncate(length: number): Promise<void>;
  size(): Promise<number>;
  close(): Promise<void>;
}

export interface FileSystem {
  /** Opens for reading and appending; creates the file when create is true. */
  open(path: string, options: { readonly create: boolean }): Promise<FileHandle>;
  /** Whole-file read, or undefined when the file does not exist. */
  readFile(path: string): Promise<Uint8Array | undefined>;
  /** Atomic replace of `to` by `from` (POSIX rename). Durable after syncDir(dirname). */
  rename(from: string, to: string): Promise<void>;
  /** Removes a file; no error when it does not exist. */
  remove(path: string): Promise<void>;
  /** File names (not paths) in a directory, sorted; [] when the directory does not exist. */
  list(dir: string): Promise<string[]>;
  mkdirp(dir: string): Promise<void>;
  /** fsync of a directory, so that creates, renames and removes in it are durable. */
  syncDir(dir: string): Promise<void>;
}

export type StorageErrorCode = 'no-space' | 'io' | 'corrupt';

export class StorageError extends Error {
  readonly code: StorageErrorCode;
  readonly path: string;
  constructor(code: StorageErrorCode, path: string, message: string) {
    super(message);
    this.name = 'StorageError';
    this.code = code;
    this.path = path;
  }
}

/** Whether `e`, or an error in its chain of causes, is a StorageError 'no-space' (disk full). */
export function isNoSpace(e: unknown): boolean {
  for (let cur = e, depth = 0; cur instanceof Error && depth < 8; cur = cur.cause, depth++) {
    if (cur instanceof StorageError && cur.code === 'no-space') return true;
  }
  return false;
}
