import { Command } from 'commander';
import { formatFields, printJson } from '../output.ts';
import { clientFrom } from '../context.ts';

export function statusCommand(): Command {
  return new Command('status')
    .summary("show the agent's and the cluster's status")
    .description('Show the status of the agent at --addr: identity, leader, term, indexes, voters and ports.')
    .option('--json', 'print JSON instead of a table')
    .action(async (options: { json?: boolean }, command: Command) => {
      const status = await clientFrom(command).status();
      if (options.json) return printJson(status);
      console.log(
        formatFields([
          ['Node', status.nodeId],
          ['Version', status.version],
          ['State', status.state],
          ['Leader', status.leader],
          ['Term', status.term],
          ['Epoch', status.epoch],
          ['Commit index', status.commitIndex],
          ['Applied index', status.appliedIndex],
          ['Voters', status.voters],
          ['Learners', status.learners],
          ['Ports', status.ports],
          ['Security', status.security.mode === 'secure' ? `secure (${status.security.certified ? 'certified' : 'waiting for its certificate'})` : `${status.security.mode}: no encryption, no TLS, no token`],
          ['Drivers', Object.entries(status.drivers).map(([name, d]) => `${name}: limits ${d.resourceLimits} (${d.detail})`)],
          ['Data dir', status.diskFull === undefined ? status.dataDir : `${status.dataDir}: DISK FULL since ${status.diskFull.since}; Raft is frozen on this node until space returns (${status.diskFull.detail})`],
          ['Started', status.startedAt],
          ['Uptime', `${status.uptimeSeconds}s`],
        ]),
      );
    });
}
