// Exec check (Consul's "script" check, Nagios exit codes): run the command without a shell;
// exit 0 is passing, 1 warning, anything else (or a signal) critical. stdout and stderr together
// are the output, of which only the tail is kept (the last lines say why it failed). The
// command runs in its own process group so that, when its time is up or the check is stopped,
// the whole group is killed: a script that started children leaves none behind.

import { spawn } from 'node:child_process';
import { MAX_CHECK_OUTPUT_BYTES } from '../../core/health/output.ts';
import type { CheckStatus } from '../../core/health/status.ts';
import { assert } from '../../core/result.ts';
import { abortMessage, type CheckResult } from './check-result.ts';

export interface ExecCheckSpec {
  /** Program and arguments; no shell is involved. */
  readonly command: readonly string[];
  /** The whole environment of the command (the agent's own is not inherited: it holds secrets). */
  readonly env: Readonly<Record<string, string>>;
  readonly cwd?: string;
  readonly maxOutputBytes?: number;
}

/** Room kept for the "[output truncated ...]" note within the output bound. */
const NOTE_ROOM_BYTES = 64;

export function statusOfExit(code: number | null): CheckStatus {
  if (code === 0) return 'passing';
  if (code === 1) return 'warning';
  return 'critical';
}

export function execCheck(spec: ExecCheckSpec, signal: AbortSignal): Promise<CheckResult> {
  assert(spec.command.length > 0, 'an exec check has a program to run');
  const program = spec.command[0]!;
  if (signal.aborted) return Promise.resolve({ status: 'critical', output: `${program}: ${abortMessage(signal)}`, keep: 'tail' });
  const tail = new TailBuffer((spec.maxOutputBytes ?? MAX_CHECK_OUTPUT_BYTES) - NOTE_ROOM_BYTES);
  return new Promise((resolve) => {
    let settled = false;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let killedBecause: string | undefined;
    const settle = (result: CheckResult): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      child.stdout?.destroy();
      child.stderr?.destroy();
      resolve(result);
    };
    const fromExit = (): CheckResult => {
      assert(exit !== undefined, 'the command has exited');
      const output = tail.text();
      if (killedBecause !== undefined && exit.code === null) {
        return { status: 'critical', output: joinLines(output, `${program}: ${killedBecause}; killed`), keep: 'tail' };
      }
      if (exit.code === null) return { status: 'critical', output: joinLines(output, `${program}: ended by signal ${exit.signal ?? 'unknown'}`), keep: 'tail' };
      // Exit 0 or 1 with no output still tells the operator something.
      return { status: statusOfExit(exit.code), output: output === '' ? `${program}: exit status ${exit.code}` : output, keep: 'tail' };
    };
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(program, spec.command.slice(1), {
        env: { ...spec.env },
        ...(spec.cwd === undefined ? {} : { cwd: spec.cwd }),
        stdio: ['ignore', 'pipe', 'pipe'],
        // Its own process group, so a kill reaches the children it started.
        detached: true,
      });
    } catch (e) {
      // Synchronous refusals (a NUL byte in an argument): the command cannot run at all.
      resolve({ status: 'critical', output: `could not run ${program}: ${e instanceof Error ? e.message : String(e)}`, keep: 'tail' });
      return;
    }
    const killGroup = (): void => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // ESRCH: the group is gone already.
      }
    };
    const onAbort = (): void => {
      killedBecause = abortMessage(signal);
      killGroup();
      // Exited but a leftover child held the pipes open: the exit status is the answer.
      if (exit !== undefined) settle(fromExit());
      // Otherwise wait for the kill to land ('exit' below), so nothing is left running.
    };
    signal.addEventListener('abort', onAbort, { once: true });
    child.stdout?.on('data', (b: Buffer) => tail.push(b));
    child.stderr?.on('data', (b: Buffer) => tail.push(b));
    child.once('error', (e: Error) => {
      if (exit === undefined) settle({ status: 'critical', output: `could not run ${program}: ${e.message}`, keep: 'tail' });
    });
    child.once('exit', (code, sig) => {
      exit = { code, signal: sig };
      if (killedBecause !== undefined) settle(fromExit());
    });
    // 'close' comes after the output is drained: the normal end of a run.
    child.once('close', () => {
      if (exit !== undefined) settle(fromExit());
    });
  });
}

function joinLines(output: string, line: string): string {
  return output === '' ? line : output.endsWith('\n') ? `${output}${line}` : `${output}\n${line}`;
}

/** The last `maxBytes` of a byte stream, and how many bytes there were in all. */
class TailBuffer {
  readonly #maxBytes: number;
  #chunks: Buffer[] = [];
  #kept = 0;
  #total = 0;

  constructor(maxBytes: number) {
    assert(maxBytes > 0, 'a tail buffer keeps at least one byte');
    this.#maxBytes = maxBytes;
  }

  push(b: Buffer): void {
    this.#total += b.length;
    this.#chunks.push(b);
    this.#kept += b.length;
    while (this.#kept - this.#chunks[0]!.length >= this.#maxBytes) this.#kept -= this.#chunks.shift()!.length;
  }

  text(): string {
    let bytes = Buffer.concat(this.#chunks);
    if (bytes.length > this.#maxBytes) bytes = bytes.subarray(bytes.length - this.#maxBytes);
    // Do not start in the middle of a UTF-8 character.
    let start = 0;
    while (start < bytes.length && start < 3 && (bytes[start]! & 0xc0) === 0x80) start++;
    const text = bytes.subarray(start).toString('utf8');
    return this.#total > bytes.length ? `[output truncated: last part of ${this.#total} bytes]\n${text}` : text;
  }
}
