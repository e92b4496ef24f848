// Size-capped log files for workloads that outlive the agent.
//
// Why copy-then-truncate: the task must keep running when the agent dies, so its stdout and
// stderr cannot be pipes into the agent (a dead reader means SIGPIPE or a blocked writer).
// The task writes straight into logs/<stream>.log, opened O_APPEND. A file held open by
// another process cannot be rotated by rename (the task would keep writing to the renamed
// file), so while a driver is attached it checks the size on a timer and, past maxFileBytes,
// copies the file to `.1` (shifting older copies up) and truncates the live file to zero.
// O_APPEND makes the task's next write land at the new end, offset 0, with no hole.
//
// Accepted costs (the same as logrotate's copytruncate):
// - Bytes the task writes between the copy and the truncate are lost (a few at most; the
//   window is one stat + one copy).
// - A writer faster than the check interval overshoots maxFileBytes until the next check.
//   Each rotated copy keeps only the newest maxFileBytes bytes of the live file, so on disk a
//   stream holds at most (maxFiles - 1) * maxFileBytes rotated bytes plus the live file, which
//   is at most maxFileBytes plus what the task writes in one check interval.
// - While no agent is attached (between a crash and the reattach) nothing rotates; the first
//   check after reattach brings the stream back under its cap.
// - Disk full: a copy that fails is dropped and the live file is truncated anyway, so a full
//   disk loses log lines rather than growing the file further; a warning says so.
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, stat, truncate, unlink } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { assert } from '../core/result.ts';
import type { Clock, Timer } from '../runtime/clock.ts';
import type { LogLimits } from './driver.ts';

export interface LogRotatorOptions {
  /** Live files to watch, e.g. [stdout.log, stderr.log]. */
  readonly files: readonly string[];
  readonly limits: LogLimits;
  readonly clock: Clock;
  readonly checkIntervalMs: number;
  /** A rotation that failed (disk full, permissions); the rotator keeps going. */
  readonly onWarning: (message: string) => void;
}

export class LogRotator {
  readonly #options: LogRotatorOptions;
  #timer: Timer | undefined;
  #running = false;
  /** The check in progress, so that stop() can wait for it and checks never overlap. */
  #inFlight: Promise<void> = Promise.resolve();

  constructor(options: LogRotatorOptions) {
    assert(Number.isInteger(options.limits.maxFiles) && options.limits.maxFiles >= 1, `maxFiles must be an integer >= 1, got ${options.limits.maxFiles}`);
    assert(Number.isInteger(options.limits.maxFileBytes) && options.limits.maxFileBytes >= 1, `maxFileBytes must be an integer >= 1, got ${options.limits.maxFileBytes}`);
    this.#options = options;
  }

  /** Checks now and then every checkIntervalMs until stop(). */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#schedule(0);
  }

  /** Stops the timer and waits for a check in progress. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#timer?.cancel();
    this.#timer = undefined;
    await this.#inFlight;
  }

  /** One check of every file (also used for a last pass after the task exits). */
  checkNow(): Promise<void> {
    const run = this.#inFlight.then(async () => {
      for (const file of this.#options.files) await this.#checkFile(file);
    });
    this.#inFlight = run;
    return run;
  }

  #schedule(delayMs: number): void {
    this.#timer = this.#options.clock.setTimer(delayMs, () => {
      void this.checkNow().then(() => {
        if (this.#running) this.#schedule(this.#options.checkIntervalMs);
      });
    });
  }

  async #checkFile(live: string): Promise<void> {
    const { maxFileBytes, maxFiles } = this.#options.limits;
    let size: number;
    try {
      size = (await stat(live)).size;
    } catch (e) {
      if (errnoOf(e) === 'ENOENT') return;
      this.#options.onWarning(`cannot read the size of ${live}: ${describe(e)}`);
      return;
    }
    if (size <= maxFileBytes) return;
    try {
      if (maxFiles > 1) {
        await removeIfPresent(`${live}.${maxFiles - 1}`);
        for (let k = maxFiles - 2; k >= 1; k--) await renameIfPresent(`${live}.${k}`, `${live}.${k + 1}`);
        await copyTail(live, `${live}.1`, Math.max(0, size - maxFileBytes), size);
      }
    } catch (e) {
      this.#options.onWarning(`log rotation of ${live} could not keep a copy (${describe(e)}); the file is truncated anyway to stay within its cap`);
    }
    try {
      await truncate(live, 0);
    } catch (e) {
      this.#options.onWarning(`cannot truncate ${live}: ${describe(e)}`);
    }
  }
}

/** Copies bytes [start, end) of `from` to `to` through a temp file, so `to` is never half-written. */
async function copyTail(from: string, to: string, start: number, end: number): Promise<void> {
  const tmp = `${to}.tmp`;
  try {
    await pipeline(createReadStream(from, { start, end: end - 1 }), createWriteStream(tmp, { flags: 'w' }));
    await rename(tmp, to);
  } catch (e) {
    await removeIfPresent(tmp).catch(() => undefined);
    throw e;
  }
}

async function removeIfPresent(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (e) {
    if (errnoOf(e) !== 'ENOENT') throw e;
  }
}

async function renameIfPresent(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (e) {
    if (errnoOf(e) !== 'ENOENT') throw e;
  }
}

export function errnoOf(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string' ? e.code : undefined;
}

export function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
