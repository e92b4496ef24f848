import { createInterface } from 'node:readline/promises';
import { Command } from 'commander';
import type { RaftView } from '../../api/operator.ts';
import { SappersClient } from '../../client/client.ts';
import { clientFrom, tokenFrom } from '../context.ts';
import { CliError } from '../errors.ts';
import { formatTable, printJson } from '../output.ts';

export function operatorCommand(): Command {
  const operator = new Command('operator').summary('inspect and repair consensus').description('Operator tools for the Raft layer.');
  const raft = operator.command('raft').summary('Raft views').description('Views of the Raft configuration.');
  raft
    .command('peers')
    .summary('list voters and learners, with replication progress')
    .description(
      'List the Raft voters and learners. Progress (match index, lag, activity, replication state) is known only to the leader: when --addr is a follower, the leader is asked too.',
    )
    .option('--json', 'print JSON instead of a table')
    .action(async (_options: { json?: boolean }, command: Command) => {
      const json = command.optsWithGlobals<{ json?: boolean }>().json === true;
      const client = clientFrom(command);
      let view = await client.raft();
      if (!view.isLeader && view.leaderHttpAddr !== null) {
        const token = tokenFrom(command);
        view = await new SappersClient({ addr: view.leaderHttpAddr, ...(token ? { token } : {}) }).raft().catch(() => view);
      }
      if (json) return printJson(view);
      console.log(formatTable(['ID', 'ROLE', 'ADDRESS', 'MATCH', 'LAG', 'ACTIVE', 'REPLICATION'], view.peers.map(row)));
      console.log(`term ${view.term}, commit ${view.commitIndex}, last index ${view.lastIndex}${view.isLeader ? '' : ' (no progress: the leader could not be asked)'}`);
    });
  operator
    .command('recover')
    .summary('make this survivor the only voter of a new cluster epoch (after losing a majority)')
    .description(
      [
        'When a majority of the voters is gone for good, writes stop (status no-quorum). Run this on the surviving voter with the freshest log:',
        'it keeps that log, forces a configuration with itself as the only voter, and starts a new cluster epoch. Other survivors and',
        'returning nodes of the old epoch move their Raft state aside and rejoin fresh; the autopilot makes them voters again.',
        'Refused while a leader serves, and when a reachable member has a fresher log. Entries the old majority never committed',
        'but this log holds are kept.',
      ].join(' '),
    )
    .option('--yes', 'do not ask for confirmation')
    .option('--json', 'print JSON')
    .action(async (options: { yes?: boolean }, command: Command) => {
      const json = command.optsWithGlobals<{ json?: boolean }>().json === true;
      const client = clientFrom(command);
      if (!options.yes) {
        const status = await client.status();
        if (!process.stdin.isTTY) throw new CliError('operator recover changes the cluster for good: confirm with --yes', 2);
        const answer = await ask(`Make ${status.nodeId} the only voter of a new cluster epoch (now ${status.epoch})? [y/N] `);
        if (!/^y(es)?$/i.test(answer.trim())) throw new CliError('not recovered', 1);
      }
      const r = await client.recover();
      if (json) return printJson(r);
      console.log(`recovered: epoch ${r.epoch}, term ${r.term}, configuration at index ${r.index}; the autopilot adds the other nodes back as they return`);
    });
  return operator;
}

async function ask(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return await rl.question(question);
  } finally {
    rl.close();
  }
}

function row(p: RaftView['peers'][number]): unknown[] {
  return [p.id, p.role, p.address, p.match, p.lag, p.active === null ? null : p.active ? 'yes' : 'no', p.replication];
}
