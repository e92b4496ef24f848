// `sappers alloc ...`: the placed instances of jobs (issue 6, item 1).
//   list [--job J] [--node N]                  allocations the cluster keeps
//   status ID                                  one allocation in full
//   logs ID [--stderr] [-f] [--tail N]         its output (from any agent: read on its node)
//   restart ID                                 restart its task in place
// ID is a full allocation ID or a unique prefix of at least 4 characters.
import { Command } from 'commander';
import type { AllocLogsView } from '../../api/allocs.ts';
import { clientFrom } from '../context.ts';
import { CliError } from '../errors.ts';
import { formatFields, formatTable, printJson } from '../output.ts';
import { allocTable, formatAge, formatTime } from './job.ts';

/** Bytes asked for per log read (the agent caps reads at 1 MiB). */
const LOG_READ_BYTES = 256 * 1024;
/** How far back --tail looks for its lines. */
const TAIL_WINDOW_BYTES = 1024 * 1024;
/** Reads one `alloc logs` (without -f) makes at most: 64 MiB, more than a log file holds by default. */
const MAX_READS = 256;

export function allocCommand(): Command {
  const alloc = new Command('alloc')
    .summary('inspect allocations: the placed instances of jobs')
    .description('An allocation is one instance of a job placed on a node. ID arguments take a full allocation ID or a unique prefix of at least 4 characters (as `alloc list` shows them).');

  alloc
    .command('list')
    .alias('ls')
    .summary('list allocations, oldest first')
    .option('--job <name>', 'only this job\'s')
    .option('--node <id>', 'only those on this node')
    .option('--stale', "read this agent's copy without confirming with the leader")
    .option('--json', 'print JSON instead of a table')
    .action(async (options: { job?: string; node?: string; stale?: boolean; json?: boolean }, command: Command) => {
      const allocs = await clientFrom(command).allocs({ ...(options.job === undefined ? {} : { job: options.job }), ...(options.node === undefined ? {} : { node: options.node }), stale: options.stale === true });
      if (options.json) return printJson(allocs);
      if (allocs.length === 0) return console.log('no allocations');
      console.log(allocTable(allocs, true));
    });

  alloc
    .command('status')
    .argument('<id>', 'allocation ID or unique prefix')
    .summary('show one allocation: where, what, why, and its checks')
    .option('--stale', "read this agent's copy without confirming with the leader")
    .option('--json', 'print JSON')
    .action(async (id: string, options: { stale?: boolean; json?: boolean }, command: Command) => {
      const a = await clientFrom(command).alloc(id, { stale: options.stale === true });
      if (options.json) return printJson(a);
      const now = Date.now();
      console.log(
        formatFields([
          ['ID', a.id],
          ['Job', `${a.job} (version ${a.jobVersion}, instance ${a.index})`],
          ['Node', a.nodeAddress === null ? a.node : `${a.node} (${a.nodeAddress})`],
          ['Desired', `${a.desired}: ${a.desiredReason}`],
          ['Client', a.clientDetail === '' || a.clientDetail === a.client ? a.client : `${a.client}: ${a.clientDetail}`],
          ['Health', a.healthySinceMs === null ? a.health : `${a.health} since ${formatTime(a.healthySinceMs)}`],
          ['Restarts', a.restarts],
          ['Reschedules', a.reschedules],
          ['Replaces', a.replaces],
          ['CPU', `${a.cpuMillis}m`],
          ['Memory', `${a.memoryMB} MB`],
          ['Ports', Object.entries(a.ports).map(([label, port]) => `${label}=${port}`)],
          ['Task', a.taskSha256.slice(0, 12)],
          ['Created', `${formatTime(a.createdAtMs)} (${formatAge(now, a.createdAtMs)})`],
          ['Modified', `${formatTime(a.modifiedAtMs)} (${formatAge(now, a.modifiedAtMs)})`],
        ]),
      );
      if (a.checks.length > 0) {
        console.log('\nChecks');
        console.log(formatTable(['NAME', 'STATUS', 'OUTPUT'], a.checks.map((c) => [c.name, c.status, c.output.replace(/\s+/g, ' ').slice(0, 100)])));
      }
    });

  alloc
    .command('logs')
    .argument('<id>', 'allocation ID or unique prefix')
    .summary("print an allocation's output (stdout, or --stderr)")
    .description(
      "Print what the allocation's task wrote to stdout (or stderr with --stderr), read on the node that runs it through any agent. " +
        'Logs are rotated by size on the node; this reads the live file. --tail N prints only the last N lines; -f keeps printing new output until Ctrl-C.',
    )
    .option('--stderr', 'read stderr instead of stdout')
    .option('-f, --follow', 'keep printing new output as it comes (Ctrl-C to stop)')
    .option('--tail <lines>', 'print only the last N lines first', parseLines)
    .option('--json', 'print the reads as JSON objects, one a line (data in base64)')
    .action(async (id: string, options: { stderr?: boolean; follow?: boolean; tail?: number; json?: boolean }, command: Command) => {
      const client = clientFrom(command);
      const stream = options.stderr ? 'stderr' : 'stdout';
      const out = (read: AllocLogsView): void => {
        if (options.json) process.stdout.write(`${JSON.stringify(read)}\n`);
        else process.stdout.write(Buffer.from(read.data, 'base64'));
      };
      let next: number;
      let alloc = id;
      if (options.tail !== undefined) {
        const read = await client.allocLogs(id, { stream, offset: -TAIL_WINDOW_BYTES, limit: TAIL_WINDOW_BYTES });
        alloc = read.alloc;
        const text = Buffer.from(read.data, 'base64');
        const kept = lastLines(text, options.tail);
        out({ ...read, data: kept.toString('base64'), offset: read.nextOffset - kept.length });
        next = read.nextOffset;
      } else {
        next = 0;
        for (let i = 0; i < MAX_READS; i++) {
          const read = await client.allocLogs(alloc, { stream, offset: next, limit: LOG_READ_BYTES });
          alloc = read.alloc;
          if (read.data.length > 0) out(read);
          next = read.nextOffset;
          if (read.nextOffset >= read.size || read.data.length === 0) break;
        }
      }
      if (!options.follow) return;
      const controller = new AbortController();
      const onSigint = (): void => controller.abort();
      process.once('SIGINT', onSigint);
      try {
        // One stream: the agent reads the log again every second, on the allocation's node.
        for await (const m of client.followAllocLogs(alloc, stream, next, controller.signal)) {
          if (m.event === 'error') {
            const e = JSON.parse(m.data) as { message: string };
            throw new CliError(`following the log stopped: ${e.message}`, 1);
          }
          if (m.event !== 'log') continue;
          const read = JSON.parse(m.data) as AllocLogsView;
          if (read.data.length > 0) out(read);
        }
      } catch (e) {
        if (!controller.signal.aborted) throw e;
      } finally {
        process.off('SIGINT', onSigint);
      }
    });

  alloc
    .command('restart')
    .argument('<id>', 'allocation ID or unique prefix')
    .summary("restart a running allocation's task in place")
    .description('Stop the task and start it again on the same node, with the same allocation, ports and directory. Does not count against its restart policy.')
    .option('--json', 'print JSON')
    .action(async (id: string, options: { json?: boolean }, command: Command) => {
      const r = await clientFrom(command).allocRestart(id);
      if (options.json) return printJson(r);
      console.log(`Restarting allocation ${r.alloc} on node ${r.node}`);
    });
  return alloc;
}


/** The last n lines of a buffer (a trailing newline ends the last line, it does not start another). */
export function lastLines(data: Buffer, n: number): Buffer {
  if (n === 0) return data.subarray(data.length);
  let end = data.length;
  if (end > 0 && data[end - 1] === 0x0a) end -= 1;
  let at = end;
  for (let seen = 0; at > 0; ) {
    at -= 1;
    if (data[at] === 0x0a && ++seen === n) return data.subarray(at + 1);
  }
  return data;
}

function parseLines(value: string): number {
  if (!/^\d+$/.test(value)) throw new CliError(`--tail must be a number of lines, got ${JSON.stringify(value)}`, 2);
  return Number(value);
}

