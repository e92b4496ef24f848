// Process identity from /proc (Linux, proc(5)). A pid alone does not name a process: once a
// process is reaped its pid is free for reuse. The pair (pid, start time) does, within one
// boot: field 22 of /proc/<pid>/stat is the start time in clock ticks since boot, and
// /proc/sys/kernel/random/boot_id changes at every boot. The driver records all three at start
// and checks them before it signals or reattaches, so it never kills a stranger.
import { readFileSync } from 'node:fs';

export interface ProcStat {
  readonly pid: number;
  /** One letter: R, S, D, Z (zombie), T, X ... */
  readonly state: string;
  readonly ppid: number;
  readonly pgid: number;
  /** Start time in clock ticks since boot, as a decimal string (it may exceed 2^53 in theory). */
  readonly startTicks: string;
}

/** Parses the text of /proc/<pid>/stat, or undefined when it is not one. */
export function parseProcStat(text: string): ProcStat | undefined {
  // Field 2 (comm) is in parentheses and may itself contain spaces and ')': the fields that
  // follow start after the LAST ')'.
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 1 || close < open) return undefined;
  const pid = Number(text.slice(0, open).trim());
  const rest = text.slice(close + 1).trim().split(/\s+/);
  // rest[0] is field 3 (state); field n is rest[n - 3].
  const state = rest[0];
  const ppid = Number(rest[1]);
  const pgid = Number(rest[2]);
  const startTicks = rest[19];
  if (!Number.isInteger(pid) || state === undefined || !Number.isInteger(ppid) || !Number.isInteger(pgid) || startTicks === undefined || !/^\d+$/.test(startTicks)) {
    return undefined;
  }
  return { pid, state, ppid, pgid, startTicks };
}

/** The stat of a live or zombie process, or undefined when no process has this pid. */
export function readProcStat(pid: number): ProcStat | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

export function readBootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    // Without procfs there is no way to tell boots apart; a constant keeps the pid + start
    // time check working within the boot (and the start time check is what protects).
    return 'unknown';
  }
}

/**
 * Whether the process that was `pid` with `startTicks` still runs. A zombie has ended: it is
 * only waiting for its parent (init, after the agent died) to reap it.
 */
export function isSameProcessAlive(pid: number, startTicks: string): boolean {
  const s = readProcStat(pid);
  return s !== undefined && s.startTicks === startTicks && s.state !== 'Z' && s.state !== 'X';
}
