// The real FileSystem over node:fs/promises. Every failure becomes a StorageError: ENOSPC and
// EDQUOT are 'no-space' (the caller may retry once space returns), everything else is 'io' with
// the path and the errno code in the message, so an operator can act on it.

import { constants } from 'node:fs';
import type { FileHandle as NodeHandle } from 'node:fs/promises';
import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import type { FileHandle, FileSystem } from './fs.ts';
import { StorageError } from './fs.ts';

export class NodeFileSystem implements FileSystem {
  async open(path: string, options: { readonly create: boolean }): Promise<FileHandle> {
    // O_APPEND: every write goes to the end, so concurrent misuse cannot overwrite records.
    const flags = constants.O_RDWR | constants.O_APPEND | (options.create ? constants.O_CREAT : 0);
    try {
      return new NodeFileHandle(path, await open(path, flags, 0o644));
    } catch (e) {
      throw toStorageError(e, path, 'open');
    }
  }

  async readFile(path: string): Promise<Uint8Array | undefined> {
    try {
      const buf = await readFile(path);
      return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    } catch (e) {
      if (errnoCode(e) === 'ENOENT') return undefined;
      throw toStorageError(e, path, 'read');
    }
  }

  async rename(from: string, to: string): Promise<void> {
    try {
      await rename(from, to);
    } catch (e) {
      throw toStorageError(e, from, `rename to ${to}`);
    }
  }

  async remove(path: string): Promise<void> {
    try {
      await unlink(path);
    } catch (e) {
      if (errnoCode(e) === 'ENOENT') return;
      throw toStorageError(e, path, 'remove');
    }
  }

  async list(dir: string): Promise<string[]> {
    try {
      return (await readdir(dir)).sort();
    } catch (e) {
      if (errnoCode(e) === 'ENOENT') return [];
      throw toStorageError(e, dir, 'list');
    }
  }

  async mkdirp(dir: string): Promise<void> {
    try {
      await mkdir(dir, { recursive: true });
    } catch (e) {
      throw toStorageError(e, dir, 'mkdir');
    }
  }

  async syncDir(dir: string): Promise<void> {
    // fsync on a directory descriptor makes the entries in it (creates, renames, removes)
    // durable; Linux allows it on an O_RDONLY descriptor (see fsync(2)).
    let handle: NodeHandle | undefined;
    try {
      handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
      await handle.sync();
    } catch (e) {
      throw toStorageError(e, dir, 'sync directory');
    } finally {
      await handle?.close().catch(() => undefined);
    }
  }
}

class NodeFileHandle implements FileHandle {
  readonly #path: string;
  readonly #handle: NodeHandle;

  constructor(path: string, handle: NodeHandle) {
    this.#path = path;
    this.#handle = handle;
  }

  async append(data: Uint8Array): Promise<void> {
    try {
      // write(2) may write less than asked (signals, quotas); loop until done. With O_APPEND
      // each piece lands at the current end, right after the previous one.
      let offset = 0;
      while (offset < data.length) {
        const { bytesWritten } = await this.#handle.write(data, offset, data.length - offset);
        if (bytesWritten === 0) throw new StorageError('io', this.#path, `append to ${this.#path}: wrote 0 bytes`);
        offset += bytesWritten;
      }
    } catch (e) {
      throw toStorageError(e, this.#path, 'append');
    }
  }

  async read(position: number, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    let filled = 0;
    try {
      while (filled < length) {
        const { bytesRead } = await this.#handle.read(out, filled, length - filled, position + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
    } catch (e) {
      throw toStorageError(e, this.#path, 'read');
    }
    return filled === length ? out : out.subarray(0, filled);
  }

  async sync(): Promise<void> {
    try {
      await this.#handle.datasync();
    } catch (e) {
      throw toStorageError(e, this.#path, 'fdatasync');
    }
  }

  async truncate(length: number): Promise<void> {
    try {
      await this.#handle.truncate(length);
    } catch (e) {
      throw toStorageError(e, this.#path, 'truncate');
    }
  }

  async size(): Promise<number> {
    try {
      return (await this.#handle.stat()).size;
    } catch (e) {
      throw toStorageError(e, this.#path, 'stat');
    }
  }

  async close(): Promise<void> {
    try {
      await this.#handle.close();
    } catch (e) {
      throw toStorageError(e, this.#path, 'close');
    }
  }
}

function errnoCode(e: unknown): string | undefined {
  if (typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string') return e.code;
  return undefined;
}

function toStorageError(e: unknown, path: string, operation: string): StorageError {
  if (e instanceof StorageError) return e;
  const code = errnoCode(e);
  const detail = e instanceof Error ? e.message : String(e);
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new StorageError('no-space', path, `${operation} ${path}: no space left on device (${code})`);
  }
  return new StorageError('io', path, `${operation} ${path}: ${code ?? 'error'}: ${detail}`);
}
