// The parts of the scripted-interaction language that every core's runner shares (SWIM in
// test/core/swim/script, Raft in test/core/raft/script): errors, message filters, links, counts,
// and stable seeds from names.

/** Bad script input; the runner adds the line number. */
export class ScriptError extends Error {}

/** Which queued messages a deliver/drop command takes: by link, by kind, at most max. */
export interface Filter {
  readonly from: string;
  readonly to: string;
  readonly kinds: ReadonlySet<string>;
  readonly max: number;
}

/** `[A->B | B] [kind...] [max=N]`: a bare id is the receiver; '*' matches any node. */
export function parseFilter(args: readonly string[], knownKinds: ReadonlySet<string>): Filter {
  let from = '*';
  let to = '*';
  let max = Infinity;
  let linked = false;
  const kinds = new Set<string>();
  for (const arg of args) {
    if (arg.startsWith('max=')) max = parseCount(arg.slice(4), 'max');
    else if (knownKinds.has(arg)) kinds.add(arg);
    else {
      if (linked) throw new ScriptError(`at most one link in a filter, got ${arg}`);
      linked = true;
      [from, to] = arg.includes('->') ? parseLink(arg, true) : ['*', arg];
    }
  }
  return { from, to, kinds, max };
}

export function filterMatches(filter: Filter, from: string, to: string, kind: string): boolean {
  return (filter.from === '*' || filter.from === from) && (filter.to === '*' || filter.to === to) && (filter.kinds.size === 0 || filter.kinds.has(kind));
}

/** `A->B`; with wildcard, either side may be '*'. */
export function parseLink(arg: string, wildcard = false): [string, string] {
  const parts = arg.split('->');
  const [a, b] = parts;
  if (parts.length !== 2 || !a || !b || (!wildcard && (a === '*' || b === '*'))) throw new ScriptError(`bad link ${arg} (want A->B)`);
  return [a, b];
}

export function parseCount(value: string, what: string): number {
  if (!/^\d+$/.test(value)) throw new ScriptError(`${what}: want a non-negative integer, got ${value}`);
  return Number(value);
}

/** FNV-1a: a stable 32-bit seed from a string, so scripts replay the same on every machine. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** What a runner exposes to the shared line loop. */
export interface ScriptRunner {
  readonly out: string[];
  exec(args: string[]): void;
}

/**
 * Runs a script line by line: blank lines and comments are echoed, each command is echoed as
 * "> command" (a trailing " # comment" explains it and is echoed with it) and executed. Bad input
 * fails with the script's name and line. Returns the transcript.
 */
export function runScriptText(scriptName: string, text: string, runner: ScriptRunner): string {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  lines.forEach((line, i) => {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) {
      runner.out.push(line);
      return;
    }
    runner.out.push(`> ${trimmed}`);
    const hash = trimmed.indexOf(' #');
    const command = hash < 0 ? trimmed : trimmed.slice(0, hash).trim();
    try {
      runner.exec(command.split(/\s+/));
    } catch (e) {
      if (e instanceof ScriptError) throw new ScriptError(`${scriptName}:${i + 1}: ${e.message}\n  ${line}`);
      throw e;
    }
  });
  return runner.out.join('\n') + '\n';
}
