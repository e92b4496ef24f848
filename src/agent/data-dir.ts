// The data directory: the node's identity and, later, its Raft log and snapshots. One agent
// per directory, enforced with a lock file, because two agents sharing a log would corrupt it.
import { mkdir, mkdtemp, open, readFile, rm, writeFile, rename } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';

export class DataDirError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataDirError';
  }
}

export function defaultDataDir(): string {
  return process.getuid?.() === 0 ? '/var/lib/sappers' : join(homedir(), '.local', 'share', 'sappers');
}

export async function makeDevDataDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'sappers-dev-'));
}

export interface DataDirLock {
  release(): Promise<void>;
}

/** Takes the directory's lock, or explains which live process holds it. */
export async function lockDataDir(dir: string): Promise<DataDirLock> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, 'LOCK');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, 'wx', 0o600);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return { release: () => rm(path, { force: true }) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw describeFsError(e, dir);
      const holder = Number.parseInt((await readFile(path, 'utf8').catch(() => '')).trim(), 10);
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isAlive(holder)) {
        throw new DataDirError(`data directory ${dir} is in use by another agent (pid ${holder}); stop it or pass a different --data-dir`);
      }
      // The holder died without cleaning up: the lock is stale, take it over.
      await rm(path, { force: true });
    }
  }
  throw new DataDirError(`could not lock data directory ${dir}: another agent keeps taking it`);
}

const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * The node's identity (DESIGN.md, Protocols: never derived from an address): generated on first
 * start and kept in the data dir. A configured ID must match the stored one, because peers key
 * Raft membership by ID and a silent change would make this node a stranger to its own cluster.
 */
export async function loadNodeId(dir: string, configured: string | undefined): Promise<string> {
  const path = join(dir, 'node-id');
  const stored = (await readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw describeFsError(e, dir);
  }))?.trim();
  if (stored !== undefined && !NODE_ID.test(stored)) {
    throw new DataDirError(`${path} holds an invalid node ID ${JSON.stringify(stored.slice(0, 40))}; fix or remove the file`);
  }
  if (stored !== undefined && configured !== undefined && stored !== configured) {
    throw new DataDirError(`--node-id ${configured} differs from the ID ${stored} stored in ${path}; a node keeps its identity for life: use a new --data-dir for a new node`);
  }
  const id = stored ?? configured ?? randomUUID();
  if (stored === undefined) {
    // Write-then-rename so a crash never leaves an empty or half-written identity.
    const tmp = `${path}.tmp`;
    await writeFile(tmp, `${id}\n`, { mode: 0o600, flush: true });
    await rename(tmp, path);
    const parent = await open(dir, 'r');
    try {
      await parent.sync();
    } finally {
      await parent.close();
    }
  }
  return id;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function describeFsError(e: unknown, dir: string): Error {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM') return new DataDirError(`no permission to use data directory ${dir}; pass a writable --data-dir`);
  if (code === 'ENOSPC') return new DataDirError(`no space left on the device of data directory ${dir}`);
  return e instanceof Error ? e : new Error(String(e));
}
