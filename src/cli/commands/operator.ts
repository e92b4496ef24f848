import { Command } from 'commander';
import type { RaftView } from '../../api/operator.ts';
import { SappersClient } from '../../client/client.ts';
import { clientFrom } from '../context.ts';
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
        const { token } = command.optsWithGlobals<{ token?: string }>();
        view = await new SappersClient({ addr: view.leaderHttpAddr, ...(token ? { token } : {}) }).raft().catch(() => view);
      }
      if (json) return printJson(view);
      console.log(formatTable(['ID', 'ROLE', 'ADDRESS', 'MATCH', 'LAG', 'ACTIVE', 'REPLICATION'], view.peers.map(row)));
      console.log(`term ${view.term}, commit ${view.commitIndex}, last index ${view.lastIndex}${view.isLeader ? '' : ' (no progress: the leader could not be asked)'}`);
    });
  return operator;
}

function row(p: RaftView['peers'][number]): unknown[] {
  return [p.id, p.role, p.address, p.match, p.lag, p.active === null ? null : p.active ? 'yes' : 'no', p.replication];
}
