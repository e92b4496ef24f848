import { readFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { Agent, AgentStartError } from '../../agent/agent.ts';
import { GOSSIP_PRESETS, LOG_LEVELS, formatConfigErrors, loadConfig, type ConfigSources, type FlagValues } from '../../agent/config.ts';
import { createLogger } from '../../agent/log.ts';
import { SystemClock } from '../../runtime/clock.ts';
import { CliError } from '../errors.ts';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function agentCommand(): Command {
  return new Command('agent')
    .summary('run the Sappers agent on this machine')
    .description(
      'Run the Sappers agent until SIGINT or SIGTERM, then shut down cleanly.\n\n' +
        'Configuration comes from a YAML file (--config or SAPPERS_CONFIG), SAPPERS_* environment ' +
        'variables (SAPPERS_HTTP_PORT, SAPPERS_JOIN, SAPPERS_TAGS, ...), and these flags; later sources win.',
    )
    .addOption(new Option('--config <file>', 'YAML configuration file').env('SAPPERS_CONFIG'))
    .option('--node-id <id>', 'node ID (default: generated on first start, kept in the data dir)')
    .option('--data-dir <dir>', 'directory for identity, log and snapshots')
    .option('--bind <ip>', 'address to listen on (default 0.0.0.0)')
    .option('--advertise <ip>', 'address other nodes reach this one at (default: --bind, or a local IP)')
    .option('--http-port <port>', 'HTTP API port (default 7700; 0 picks a free one)')
    .option('--rpc-port <port>', 'RPC port for Raft and internal calls (default 7701)')
    .option('--gossip-port <port>', 'gossip port, UDP and TCP (default 7702)')
    .option('--dns-port <port>', 'DNS port (default 7753)')
    .option('--join <host:port>', 'address of a member to join (repeatable)', collect)
    .option('--bootstrap-expect <n>', 'start N nodes (2 to 7) with this flag to form one cluster with those N as voters: each waits until it sees the others (start exactly N this way, join the rest)')
    .option('--tag <key=value>', 'node tag, e.g. hub=true or zone=a (repeatable)', collect)
    .addOption(new Option('--gossip-preset <preset>', 'gossip timing preset (default lan)').choices(GOSSIP_PRESETS))
    .option('--cluster-key-file <file>', 'the cluster key (made by "sappers keygen --out FILE"; the same on every node); required unless --insecure or --dev')
    .option('--management-token-file <file>', 'where the originating node writes the management token, mode 0600, or reads it if present (default <data-dir>/management-token)')
    .option('--insecure', 'run without a cluster key: no gossip encryption, no mutual TLS, no API token (trusted test networks only)')
    .option('--tls-cert-file <file>', 'this node\'s certificate, instead of one issued by the cluster CA (with --tls-key-file and --tls-ca-file)')
    .option('--tls-key-file <file>', 'private key of --tls-cert-file')
    .option('--tls-ca-file <file>', 'CA that every node\'s certificate chains to')
    .option('--min-nodes <n>', 'nodes that must be alive before workloads are placed (default 1); until then status says waiting-for-nodes')
    .option('--target-voters <n>', 'voters the cluster keeps when it has enough healthy nodes: 1, 3, 5 or 7 (default 3)')
    .option('--dead-voter-grace-ms <ms>', 'how long a voter must be dead before it is replaced (default 30000)')
    .option('--auto-recover-ms <ms>', 'opt-in: after this long without a quorum, with most voters dead, the freshest survivor recovers by itself (see "operator recover --help"; off by default)')
    .option('--learner-stable-ms <ms>', 'how long a new node must stay caught up before it may vote (default 10000)')
    .option('--below-min-nodes <mode>', "below --min-nodes: 'pause' places nothing new (default), 'stop' stops every workload")
    .option('--lost-grace-ms <ms>', "how long a dead node's workloads wait before they are replaced elsewhere (default 30000)")
    .option('--offer-cpu-millis <n>', 'cpu offered to workloads in millicores (default: every core; more overcommits)')
    .option('--offer-memory-mb <n>', 'memory offered to workloads in MB (default: total less a tenth, at least 256 MB kept back)')
    .option('--exec-enabled', 'let members of the cluster run commands on this node with "sappers exec" (exec.enabled; off by default)')
    .option('--dev', 'development mode: one node, data in a temp dir, every port on 127.0.0.1, no key or token needed')
    .addOption(new Option('--log-level <level>', 'log level').choices(LOG_LEVELS))
    .action(async (flags: FlagValues & { config?: string }) => {
      await runAgent(flags);
    });
}

async function runAgent(flags: FlagValues & { config?: string }): Promise<void> {
  const sources: ConfigSources = {
    env: process.env,
    flags,
    ...(flags.config !== undefined ? { file: { path: flags.config, text: await readConfigFile(flags.config) } } : {}),
  };
  const config = loadConfig(sources);
  if (!config.ok) throw new CliError(`invalid configuration:\n${formatConfigErrors(config.error)}`, 2);

  const logger = createLogger({ level: config.value.log.level });
  // Handlers go in before the agent starts: a signal during start-up must still stop it cleanly.
  let signals = 0;
  let onFirstSignal: () => void = () => undefined;
  const terminated = new Promise<void>((resolve) => (onFirstSignal = resolve));
  const onSignal = (signal: NodeJS.Signals): void => {
    signals += 1;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting without a clean shutdown');
      process.exit(130);
    }
    logger.info({ signal }, 'shutting down (send the signal again to force)');
    onFirstSignal();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let agent: Agent;
  try {
    agent = await Agent.start(config.value, { logger, clock: new SystemClock() });
  } catch (e) {
    if (e instanceof AgentStartError) throw new CliError(e.message, 1);
    throw e;
  }
  // A signal, or a graceful leave asked for over the API (sappers leave).
  await Promise.race([terminated, agent.shutdownRequested]);
  try {
    await agent.stop({ leave: config.value.gossip.leaveOnTerminate });
  } catch (e) {
    logger.error({ err: e }, 'shutdown failed');
    process.exitCode = 1;
  }
}

async function readConfigFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (e as Error).message;
    throw new CliError(`cannot read configuration file ${path}: ${why}`, 2);
  }
}
