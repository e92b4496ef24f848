import { Command } from 'commander';
import { verifyChain, type EventAnchor } from '../../core/fsm/events.ts';
import type { ClusterEvent } from '../../core/fsm/types.ts';
import type { SappersClient } from '../../client/client.ts';
import { clientFrom } from '../context.ts';
import { CliError } from '../errors.ts';
import { formatTable, printJson } from '../output.ts';

const PAGE = 1000;

export function eventsCommand(): Command {
  const events = new Command('events')
    .summary('show the cluster event log')
    .description(
      'Show the replicated event log: every change to the cluster (keys, sessions, nodes, autopilot decisions), each carrying the sha256 of the previous one. -f follows new events live.',
    )
    .option('--from <seq>', 'start at this event number (default: the oldest kept)', parseSeq)
    .option('-f, --follow', 'keep printing new events as they happen')
    .option('--json', 'print JSON (one object per line with --follow)')
    .action(async (options: { from?: number; follow?: boolean; json?: boolean }, command: Command) => {
      const client = clientFrom(command);
      if (options.follow) {
        const controller = new AbortController();
        process.once('SIGINT', () => controller.abort());
        for await (const m of client.followEvents(options.from ?? 1, controller.signal)) {
          if (m.event === 'error') throw new CliError(`the stream ended: ${m.data}`);
          if (m.event !== 'cluster-event') continue;
          const e = JSON.parse(m.data) as ClusterEvent;
          console.log(options.json ? JSON.stringify(e) : line(e));
        }
        return;
      }
      const page = await client.events(options.from ?? 1, { limit: PAGE });
      if (options.json) return printJson(page);
      if (page.events.length === 0) return console.log('no events');
      console.log(formatTable(['SEQ', 'TIME', 'TYPE', 'SUBJECT', 'DETAIL'], page.events.map((e) => [e.seq, new Date(e.atMs).toISOString(), e.type, e.subject, detail(e)])));
      if (page.more) console.log(`(more: sappers events --from ${page.events.at(-1)!.seq + 1})`);
    });

  events
    .command('verify')
    .summary('check the event log\'s hash chain')
    .description(
      'Fetches every event the agent keeps and recomputes the sha256 chain here, from the anchor (the last event dropped by compaction) to the head. Any altered, missing or reordered event is reported with its number. Exit code 1 when the chain is broken.',
    )
    .option('--json', 'print JSON')
    .action(async (_options: { json?: boolean }, command: Command) => {
      // --json may be taken by the parent `events` command: read it from either.
      const json = command.optsWithGlobals<{ json?: boolean }>().json === true;
      const result = await verifyAll(clientFrom(command));
      if (json) printJson(result);
      else if (result.ok) console.log(`event log intact: ${result.checked} events verified, seq ${result.anchor.seq + 1}..${result.head.seq}, head ${result.head.hash.slice(0, 16)}`);
      else console.log(`event log BROKEN at seq ${result.brokenAt}: ${result.problem}`);
      if (!result.ok) process.exitCode = 1;
    });
  return events;
}

interface VerifyResult {
  readonly ok: boolean;
  readonly checked: number;
  readonly anchor: EventAnchor;
  readonly head: EventAnchor;
  readonly brokenAt?: number;
  readonly problem?: string;
}

async function verifyAll(client: SappersClient): Promise<VerifyResult> {
  let page = await client.events(1, { limit: PAGE });
  const anchor = page.anchor;
  const all: ClusterEvent[] = [...page.events];
  while (page.more) {
    page = await client.events(all.at(-1)!.seq + 1, { limit: PAGE });
    all.push(...page.events);
  }
  const problem = verifyChain(anchor, all);
  const head = all.at(-1) === undefined ? anchor : { seq: all.at(-1)!.seq, hash: all.at(-1)!.hash };
  if (problem !== undefined) return { ok: false, checked: all.length, anchor, head, brokenAt: problem.seq, problem: problem.problem };
  return { ok: true, checked: all.length, anchor, head };
}

function line(e: ClusterEvent): string {
  return `${e.seq}  ${new Date(e.atMs).toISOString()}  ${e.type}  ${e.subject}  ${detail(e)}`;
}

function detail(e: ClusterEvent): string {
  return Object.entries(e.detail)
    .filter(([k]) => k !== 'sha256')
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}

function parseSeq(value: string): number {
  if (!/^[1-9]\d*$/.test(value)) throw new CliError(`--from must be a positive integer, got ${JSON.stringify(value)}`, 2);
  return Number(value);
}
