// The benchmark's handle on one Raft node process (raft-node-process.ts): forked with the same
// node binary, commands over IPC with a deadline each, output tail kept (bounded) for errors,
// SIGKILLed by its own pid through the cleanup stack if the run ends first.

import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readRssBytes } from './child.ts';
import type { CleanupStack } from './cleanup.ts';
import { encodeArgs, type ChildReply, type ParentCommand, type RaftProcessArgs } from './raft-ipc.ts';

const ENTRY = fileURLToPath(new URL('./raft-node-process.ts', import.meta.url));
const OUTPUT_TAIL_BYTES = 16 * 1024;

/** A command without its sequence number (each variant on its own). */
type Command = ParentCommand extends infer C ? (C extends ParentCommand ? Omit<C, 'seq'> : never) : never;

export class RaftProcess {
  readonly id: string;
  readonly pid: number;
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, { resolve: (r: ChildReply) => void; reject: (e: Error) => void }>();
  #nextSeq = 1;
  #tail = '';
  #exit: string | undefined;
  #address: string | undefined;
  #onListening: ((address: string) => void) | undefined;
  readonly #exited: Promise<void>;
  /** Warnings and errors the node reported on its own. */
  readonly problems: string[] = [];

  private constructor(id: string, child: ChildProcess) {
    if (child.pid === undefined) throw new Error(`cannot start raft node ${id}: fork failed`);
    this.id = id;
    this.pid = child.pid;
    this.#child = child;
    const keep = (d: Buffer): void => {
      this.#tail = (this.#tail + d.toString()).slice(-OUTPUT_TAIL_BYTES);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.on('message', (m: ChildReply) => this.#onMessage(m));
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.#exit = signal ?? `exit code ${code}`;
        const e = new Error(`raft node ${id} exited (${this.#exit}) ${this.#tailForError()}`);
        for (const p of this.#pending.values()) p.reject(e);
        this.#pending.clear();
        resolve();
      });
    });
  }

  /** Forks the node process; the cleanup stack SIGKILLs it if the run ends first. */
  static start(cleanup: CleanupStack, args: RaftProcessArgs): RaftProcess {
    const child = fork(ENTRY, encodeArgs(args), { execPath: process.execPath, stdio: ['ignore', 'pipe', 'pipe', 'ipc'], serialization: 'json' });
    child.once('error', (e) => process.stderr.write(`raft node ${args.id}: ${e.message}\n`));
    const handle = new RaftProcess(args.id, child);
    cleanup.add(`raft node ${args.id} (pid ${handle.pid})`, () => handle.kill());
    return handle;
  }

  /** Its RPC address, once it reported one (within timeoutMs). */
  async address(timeoutMs: number): Promise<string> {
    if (this.#address !== undefined) return this.#address;
    return withTimeout(
      new Promise<string>((resolve, reject) => {
        this.#onListening = resolve;
        void this.#exited.then(() => reject(new Error(`raft node ${this.id} exited (${this.#exit}) before listening ${this.#tailForError()}`)));
      }),
      timeoutMs,
      `raft node ${this.id} did not report its address within ${timeoutMs} ms ${this.#tailForError()}`,
    );
  }

  /** Sends a command; resolves with its answer, rejects on an 'error' answer, exit or timeout. */
  async command(cmd: Command, timeoutMs: number): Promise<ChildReply> {
    if (this.#exit !== undefined) throw new Error(`raft node ${this.id} already exited (${this.#exit}) ${this.#tailForError()}`);
    const seq = this.#nextSeq++;
    const answer = new Promise<ChildReply>((resolve, reject) => {
      this.#pending.set(seq, { resolve, reject });
      this.#child.send({ ...cmd, seq } as ParentCommand, (e) => {
        if (e !== null) {
          this.#pending.delete(seq);
          reject(new Error(`cannot send ${cmd.type} to raft node ${this.id}: ${e.message}`));
        }
      });
    });
    try {
      const r = await withTimeout(answer, timeoutMs, `raft node ${this.id} did not answer ${cmd.type} within ${timeoutMs} ms`);
      if (r.type === 'error') throw new Error(`raft node ${this.id}: ${r.message}`);
      return r;
    } finally {
      this.#pending.delete(seq);
    }
  }

  /** Asks the node to stop; SIGKILLs it if it has not exited within timeoutMs. */
  async stop(timeoutMs: number): Promise<void> {
    if (this.#exit !== undefined) return;
    await this.command({ type: 'stop' }, timeoutMs).catch(() => undefined);
    const exited = await withTimeout(this.#exited.then(() => true), timeoutMs, '').catch(() => false);
    if (!exited) this.kill();
  }

  kill(): void {
    if (this.#exit !== undefined) return;
    try {
      process.kill(this.pid, 'SIGKILL');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
    }
  }

  rssBytes(): number | undefined {
    return readRssBytes(this.pid);
  }

  #onMessage(m: ChildReply): void {
    if (m.type === 'listening') {
      this.#address = m.address;
      this.#onListening?.(m.address);
      return;
    }
    if (m.type === 'problem') {
      if (this.problems.length < 100) this.problems.push(m.line);
      return;
    }
    const p = this.#pending.get(m.seq);
    if (p === undefined) return;
    this.#pending.delete(m.seq);
    p.resolve(m);
  }

  #tailForError(): string {
    const tail = this.#tail.trim();
    return tail === '' ? '' : `; its output ends with:\n${tail.split('\n').slice(-15).join('\n')}`;
  }
}

export async function withTimeout<T>(p: Promise<T>, timeoutMs: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(message)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
