import { Command } from 'commander';
import type { MemberView } from '../../api/schemas.ts';
import { formatTable, printJson } from '../output.ts';
import { clientFrom } from '../context.ts';
import { formatBytes } from '../format.ts';

export function membersCommand(): Command {
  return new Command('members')
    .summary('list the cluster members this agent knows')
    .description('List the members known to the agent at --addr, with status (alive, suspect, dead, left), role, tags and resources.')
    .option('--json', 'print JSON instead of a table')
    .option('--status <status>', 'only members with this status (alive, suspect, dead, left)')
    .action(async (options: { json?: boolean; status?: string }, command: Command) => {
      let members = await clientFrom(command).members();
      if (options.status) members = members.filter((m) => m.status === options.status);
      if (options.json) return printJson(members);
      if (members.length === 0) return console.log('no members');
      console.log(formatTable(['ID', 'ADDRESS', 'STATUS', 'ROLE', 'VERSION', 'CPU', 'MEM FREE', 'DISK FREE', 'LOAD', 'TAGS'], members.map(row)));
    });
}

function row(m: MemberView): unknown[] {
  const tags = Object.entries(m.tags).map(([k, v]) => `${k}=${v}`).join(',');
  return [m.id, m.addr, m.status, m.role, m.version, m.resources.cpuCores, `${formatBytes(m.resources.memoryFreeBytes)}/${formatBytes(m.resources.memoryTotalBytes)}`, formatBytes(m.resources.diskFreeBytes), m.resources.load1, tags];
}
