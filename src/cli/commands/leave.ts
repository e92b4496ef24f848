import { Command } from 'commander';
import { clientFrom } from '../context.ts';
import { printJson } from '../output.ts';

export function leaveCommand(): Command {
  return new Command('leave')
    .summary('take the agent at --addr out of the cluster for good, then stop it')
    .description(
      'Graceful departure: the leader removes the agent at --addr from the voter set (handing leadership over first if it leads), then the agent stops and gossips that it left. Leaving nodes one by one shrinks a cluster safely down to one node.',
    )
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      const r = await clientFrom(command).leave();
      if (options.json) return printJson(r);
      console.log(r.removed ? 'left the cluster; the agent is stopping' : 'the leader did not confirm the removal in time; the agent is stopping anyway (the autopilot removes it once it is gone)');
    });
}
