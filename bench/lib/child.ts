// A benchmark child process: spawned with its output kept (bounded) for diagnostics, killed by
// its own pid only, and measured through /proc (resident memory, CPU time).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { CleanupStack } from './cleanup.ts';

/** Keep this much of the combined stdout/stderr tail, enough for a start-up error. */
const OUTPUT_TAIL_BYTES = 16 * 1024;

export class BenchChild {
  readonly name: string;
  readonly pid: number;
  readonly #child: ChildProcess;
  #tail = '';
  #exit: string | undefined;
  readonly #exited: Promise<void>;

  private constructor(name: string, child: ChildProcess) {
    if (child.pid === undefined) throw new Error(`cannot start ${name}: no pid`);
    this.name = name;
    this.pid = child.pid;
    this.#child = child;
    const keep = (d: Buffer): void => {
      this.#tail = (this.#tail + d.toString()).slice(-OUTPUT_TAIL_BYTES);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.#exit = signal ?? `exit code ${code}`;
        resolve();
      });
    });
  }

  /** Spawns COMMAND ARGS; the cleanup stack SIGKILLs it if the run ends first. */
  static start(cleanup: CleanupStack, name: string, command: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): BenchChild {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    // A missing binary surfaces as an 'error' event; without a listener it would crash the bench.
    child.once('error', (e) => {
      process.stderr.write(`${name}: ${e.message}\n`);
    });
    if (child.pid === undefined) throw new Error(`cannot start ${name} (${command}): spawn failed`);
    const handle = new BenchChild(name, child);
    cleanup.add(`process ${name} (pid ${handle.pid})`, () => handle.kill('SIGKILL'));
    return handle;
  }

  get running(): boolean {
    return this.#exit === undefined;
  }

  /** How it ended ("SIGKILL", "exit code 1"), or undefined while running. */
  get exitReason(): string | undefined {
    return this.#exit;
  }

  get outputTail(): string {
    return this.#tail;
  }

  kill(signal: NodeJS.Signals): void {
    if (!this.running) return;
    try {
      process.kill(this.pid, signal);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
    }
  }

  /** Resolves true once the process has exited, false if it did not within timeoutMs. */
  async waitExit(timeoutMs: number): Promise<boolean> {
    if (!this.running) return true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    try {
      return await Promise.race([this.#exited.then(() => true as const), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** VmRSS in bytes (the kernel's resident set), or undefined once the process is gone. */
  rssBytes(): number | undefined {
    return readRssBytes(this.pid);
  }
}

export function readRssBytes(pid: number): number | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  return match === null ? undefined : Number(match[1]) * 1024;
}

/** CPU time of a process in clock ticks (clockTicksPerSecond() per second). */
export interface CpuTicks {
  /** utime + stime of the process itself. */
  readonly self: number;
  /** cutime + cstime: children it waited for. */
  readonly children: number;
}

/** utime, stime, cutime, cstime from /proc/PID/stat (proc(5): fields 14-17), or undefined once it is gone. */
export function readCpuTicks(pid: number): CpuTicks | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The comm field may hold spaces and parentheses: the fields resume after its LAST ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const field = (n: number): number => Number(rest[n - 3] ?? Number.NaN);
  const self = field(14) + field(15);
  const children = field(16) + field(17);
  return Number.isFinite(self) && Number.isFinite(children) ? { self, children } : undefined;
}

let ticksPerSecond: number | undefined;

/** The kernel's clock ticks per second (getconf CLK_TCK; 100 when it cannot say), asked once. */
export function clockTicksPerSecond(): number {
  if (ticksPerSecond !== undefined) return ticksPerSecond;
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5_000 }).trim());
    ticksPerSecond = Number.isInteger(n) && n > 0 ? n : 100;
  } catch {
    ticksPerSecond = 100;
  }
  return ticksPerSecond;
}
