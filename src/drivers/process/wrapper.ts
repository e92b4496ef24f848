// The tiny /bin/sh wrapper every process task runs under, and how its record is read back.
//
// Why a wrapper: the task must outlive the agent, and a restarted agent is no longer its
// parent, so it cannot wait() for the exit status. The wrapper is the task's parent instead:
// it stays for the task's whole life (about 1 MB of memory) and writes the status to a file in
// the allocation directory, which any later agent reads. It also joins the task's cgroups
// with its own pid BEFORE it starts the command, so the command is limited from its first
// instruction, and it leads the task's session and process group (the driver spawns it
// detached, i.e. setsid), so a signal to the group reaches the command and its children.
//
// Signals: the wrapper traps the terminating signals with a no-op handler. A trapped signal
// is reset to its default in the child (POSIX exec semantics for caught signals), so the
// command still gets ordinary SIGTERM behaviour, while the wrapper survives a group signal
// and records how the command ended. (Ignoring them with `trap ''` would be wrong: ignored
// signals stay ignored across exec.) The shell runs a trap only after its foreground command
// ends, and `$?` keeps the command's status through the trap. SIGKILL of the group takes the
// wrapper too; then no status is written and the driver reports what it knows (it sent the
// SIGKILL, or the kernel's OOM counter moved).
//
// The shell reports death by signal N as status 128 + N, the same number a program that calls
// exit(128 + N) produces; the driver reads statuses above 128 that name a signal as that signal
// (what shells, Docker and most supervisors do) and says so in the message.
import { constants } from 'node:os';

export const WRAPPER_SCRIPT = [
  'trap "caught=1" HUP INT QUIT TERM USR1 USR2 ALRM',
  'exit_file=$1; n=$2; shift 2',
  'while [ "$n" -gt 0 ]; do',
  '  if ! echo $$ > "$1/cgroup.procs"; then',
  '    echo "sappers: cannot join cgroup $1; the command was not started" >&2',
  '    echo cgroup-failed > "$exit_file"',
  '    exit 125',
  '  fi',
  '  shift; n=$((n - 1))',
  'done',
  // A stop that arrived while the wrapper was getting ready: do not start the command at all.
  'if [ -n "$caught" ]; then echo signalled-before-start > "$exit_file"; exit 143; fi',
  '"$@"',
  's=$?',
  'echo "$s" > "$exit_file"',
  'exit "$s"',
].join('\n');

/** argv for /bin/sh: `sh -c SCRIPT sappers-task EXIT_FILE N CGROUP... COMMAND ARGS...`. */
export function wrapperArgs(exitFile: string, cgroupDirs: readonly string[], command: string, args: readonly string[]): string[] {
  return ['-c', WRAPPER_SCRIPT, 'sappers-task', exitFile, String(cgroupDirs.length), ...cgroupDirs, command, ...args];
}

export type WrapperRecord =
  | { readonly kind: 'status'; readonly status: number }
  | { readonly kind: 'cgroup-failed' }
  | { readonly kind: 'signalled-before-start' }
  | { readonly kind: 'none' };

/** Reads the exit file's text (undefined when the file is missing). */
export function parseWrapperRecord(text: string | undefined): WrapperRecord {
  if (text === undefined) return { kind: 'none' };
  const t = text.trim();
  if (t === 'cgroup-failed') return { kind: 'cgroup-failed' };
  if (t === 'signalled-before-start') return { kind: 'signalled-before-start' };
  if (/^\d{1,3}$/.test(t) && Number(t) <= 255) return { kind: 'status', status: Number(t) };
  // A torn or foreign write (disk full while the wrapper wrote it): as if none.
  return { kind: 'none' };
}

const SIGNAL_NAMES: ReadonlyMap<number, string> = new Map(Object.entries(constants.signals).map(([name, n]) => [n, name]));

export function signalName(n: number): string | undefined {
  return SIGNAL_NAMES.get(n);
}

export function isKnownSignal(name: string): boolean {
  return Object.prototype.hasOwnProperty.call(constants.signals, name);
}

/** A shell status as (exitCode, signal): 128 + N with N a signal reads as that signal. */
export function decodeShellStatus(status: number): { exitCode: number | null; signal: string | null } {
  if (status > 128) {
    const name = signalName(status - 128);
    if (name !== undefined) return { exitCode: null, signal: name };
  }
  return { exitCode: status, signal: null };
}
