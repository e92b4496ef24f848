// sappers exec: one command on many nodes, output prefixed by node (src/agent/exec.ts).
import { Command } from 'commander';
import { MAX_EXEC_TIMEOUT_MS, type ExecDone, type ExecLine, type ExecSummary } from '../../api/exec.ts';
import { parseDuration } from '../../wire/duration.ts';
import { clientFrom } from '../context.ts';
import { CliError } from '../errors.ts';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function execCommand(): Command {
  return new Command('exec')
    .summary('run a command on the cluster\'s nodes and show their output')
    .description(
      'Run a command on every alive node the filter picks, through the agent at --addr, and print each node\'s output as it comes, ' +
        'prefixed by the node ("node-a: line"; the command\'s stderr goes to stderr). Ends with "N / M node(s) completed / acknowledged". ' +
        'Put -- before the command. It runs without a shell (use: -- sh -c \'...\' for one), in a fresh directory under the node\'s data directory, ' +
        'with only PATH, HOME, LANG, SAPPERS_NODE_ID and SAPPERS_EXEC_ID in its environment, in its own process group.\n\n' +
        'A node runs commands only with exec.enabled: true in its agent config (or --exec-enabled); others answer that exec is disabled there. ' +
        'Needs the management token. Ctrl-C cancels: every node kills the command.\n\n' +
        'Node filter: ATTRIBUTE=VALUE terms joined by commas (all must hold); != for not equal, ~ and !~ for a regular expression. ' +
        'Attributes: id, role (leader, voter, learner, none), version, tag.KEY. E.g. --node-filter id=node-a, --node-filter \'tag.zone=eu,role!=leader\', ' +
        '--node-filter \'id~^web-\'. Write \\, for a comma inside a value.\n\n' +
        'Exit code 0 when the command exited with code 0 on every targeted node; 1 otherwise (a node failed, refused, or did not answer); 2 for usage errors; 130 after Ctrl-C.',
    )
    .argument('<command...>', 'the program and its arguments, after --')
    .option('--node-filter <expr>', 'which alive nodes run it (repeatable: all must hold); default all', collect)
    .option('--timeout <duration>', 'kill the command\'s process group on a node after this long, e.g. 30s or 5m (at most 1h)', '1m')
    .option('--json', 'print the stream as JSON lines (targets, ack, output, done, summary)')
    .action(async (argv: string[], options: { nodeFilter?: string[]; timeout: string; json?: boolean }, command: Command) => {
      const timeoutMs = parseTimeout(options.timeout);
      const client = clientFrom(command);
      const controller = new AbortController();
      const onSigint = (): void => controller.abort();
      process.once('SIGINT', onSigint);
      const printer = new ExecPrinter();
      let summary: ExecSummary | undefined;
      try {
        const filter = (options.nodeFilter ?? []).join(',');
        for await (const line of client.exec({ argv, timeoutMs, ...(filter === '' ? {} : { nodeFilter: filter }) }, controller.signal)) {
          if (options.json) process.stdout.write(`${JSON.stringify(line)}\n`);
          else printer.print(line);
          if (line.kind === 'error') throw new CliError(`the run failed on the agent: ${line.error.message}`);
          if (line.kind === 'summary') summary = line.summary;
        }
      } finally {
        process.off('SIGINT', onSigint);
      }
      if (controller.signal.aborted) {
        process.stderr.write('cancelled: the nodes were told to kill the command\n');
        process.exitCode = 130;
        return;
      }
      if (summary === undefined) throw new CliError('the agent closed the stream before the run ended (did it stop?); the nodes kill the command when nobody asks for its output');
      process.exitCode = summary.succeeded === summary.targets ? 0 : 1;
    });
}

function parseTimeout(text: string): number {
  const parsed = parseDuration(text);
  if (!parsed.ok) throw new CliError(`--timeout: ${parsed.error}`, 2);
  if (parsed.value < 1 || parsed.value > MAX_EXEC_TIMEOUT_MS) throw new CliError(`--timeout must be more than 0 and at most 1h, got ${JSON.stringify(text)}`, 2);
  return parsed.value;
}

/** Turns the stream into lines for people: whole lines per node and stream, then how each ended. */
export class ExecPrinter {
  /** Text after the last newline, per node and stream, printed when the line ends or the node is done. */
  readonly #partial = new Map<string, string>();
  readonly #out: (text: string) => void;
  readonly #err: (text: string) => void;
  #timeoutMs = 0;

  constructor(out: (text: string) => void = (t) => process.stdout.write(t), err: (text: string) => void = (t) => process.stderr.write(t)) {
    this.#out = out;
    this.#err = err;
  }

  print(line: ExecLine): void {
    switch (line.kind) {
      case 'targets':
        this.#timeoutMs = line.timeoutMs;
        return;
      case 'ack':
        return;
      case 'output': {
        const key = `${line.node}\0${line.stream}`;
        const pieces = ((this.#partial.get(key) ?? '') + line.data).split('\n');
        this.#partial.set(key, pieces.pop()!);
        const write = line.stream === 'stdout' ? this.#out : this.#err;
        for (const p of pieces) write(`${line.node}: ${p}\n`);
        return;
      }
      case 'done':
        for (const stream of ['stdout', 'stderr'] as const) {
          const key = `${line.node}\0${stream}`;
          const rest = this.#partial.get(key);
          if (rest !== undefined && rest !== '') (stream === 'stdout' ? this.#out : this.#err)(`${line.node}: ${rest}\n`);
          this.#partial.delete(key);
        }
        this.#out(`==> ${line.node}: ${describeDone(line.done, this.#timeoutMs)}\n`);
        if (line.done.truncatedBytes !== undefined) this.#out(`==> ${line.node}: output truncated: ${line.done.truncatedBytes} more bytes were dropped (each node sends at most 1 MiB)\n`);
        return;
      case 'summary': {
        const s = line.summary;
        this.#out(`${s.completed} / ${s.acknowledged} node(s) completed / acknowledged\n`);
        if (s.noAnswer.length > 0) this.#out(`${s.noAnswer.length} of ${s.targets} node(s) did not answer: ${s.noAnswer.join(', ')}\n`);
        if (s.refused.length > 0) this.#out(`${s.refused.length} node(s) refused: ${s.refused.join(', ')}\n`);
        if (s.failed.length > 0) this.#out(`${s.failed.length} node(s) failed: ${s.failed.join(', ')}\n`);
        return;
      }
      case 'error':
        return;
    }
  }
}

function describeDone(d: ExecDone, timeoutMs: number): string {
  if (d.refused) return `REFUSED: ${d.error ?? 'the node would not run it'}`;
  if (d.timedOut) return `TIMED OUT after ${formatMs(timeoutMs)}: its process group was killed${d.signal === null ? '' : ` (${d.signal})`}`;
  if (d.error !== undefined) return `FAILED: ${d.error}`;
  if (d.signal !== null) return `killed by ${d.signal}`;
  return `finished with exit code ${d.exitCode}`;
}

function formatMs(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
