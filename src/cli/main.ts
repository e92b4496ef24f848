// The sappers command line. Every command has --help; every read command has --json.
import { Command, CommanderError, Option } from 'commander';
import { ClientError, DEFAULT_ADDR } from '../client/client.ts';
import { VERSION } from '../version.ts';
import { agentCommand } from './commands/agent.ts';
import { statusCommand } from './commands/status.ts';
import { membersCommand } from './commands/members.ts';
import { keygenCommand } from './commands/keygen.ts';
import { keyringCommand } from './commands/keyring.ts';
import { clusterCommand } from './commands/cluster.ts';
import { eventsCommand } from './commands/events.ts';
import { kvCommand } from './commands/kv.ts';
import { leaveCommand } from './commands/leave.ts';
import { operatorCommand } from './commands/operator.ts';
import { jobCommand } from './commands/job.ts';
import { allocCommand } from './commands/alloc.ts';
import { servicesCommand } from './commands/services.ts';
import { snapshotCommand } from './commands/snapshot.ts';
import { execCommand } from './commands/exec.ts';
import { CliError } from './errors.ts';

export function buildProgram(): Command {
  const program = new Command('sappers')
    .description('Sappers: a self-organizing cluster. Start the agent on every machine; the cluster forms, leads and heals itself.')
    .version(VERSION, '-V, --version', 'print the version')
    .addOption(new Option('--addr <url>', 'HTTP address of an agent').env('SAPPERS_ADDR').default(DEFAULT_ADDR))
    .addOption(new Option('--token <token>', 'API token (the management token)').env('SAPPERS_TOKEN'))
    .addOption(new Option('--token-file <file>', 'read the API token from FILE').env('SAPPERS_TOKEN_FILE'))
    .showHelpAfterError('(add --help for usage)')
    .showSuggestionAfterError(true)
    .exitOverride();
  program.addCommand(agentCommand());
  program.addCommand(statusCommand());
  program.addCommand(membersCommand());
  program.addCommand(kvCommand());
  program.addCommand(eventsCommand());
  program.addCommand(leaveCommand());
  program.addCommand(operatorCommand());
  program.addCommand(snapshotCommand());
  program.addCommand(jobCommand());
  program.addCommand(allocCommand());
  program.addCommand(servicesCommand());
  program.addCommand(execCommand());
  program.addCommand(clusterCommand());
  program.addCommand(keygenCommand());
  program.addCommand(keyringCommand());
  const exitOverrideAll = (command: Command): void => {
    command.exitOverride();
    for (const sub of command.commands) exitOverrideAll(sub);
  };
  for (const command of program.commands) exitOverrideAll(command);
  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  try {
    await buildProgram().parseAsync([...argv], { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    // Usage errors (unknown command or option, bad choice) exit 2, like config errors.
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    if (e instanceof CliError) {
      process.stderr.write(`error: ${e.message}\n`);
      return e.exitCode;
    }
    if (e instanceof ClientError) {
      process.stderr.write(`error: ${e.message}${e.status ? ` (HTTP ${e.status}, ${e.code})` : ''}\n`);
      return 1;
    }
    throw e;
  }
}
