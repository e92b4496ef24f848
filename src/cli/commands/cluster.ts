// `sappers cluster up N` / `cluster down`: a local N-node cluster on 127.0.0.1 for trying Sappers
// out. Each node is a real agent process (detached, logging to its own file) with its own data
// directory; node 1 originates the cluster and the others join it. The running set is recorded
// in <dir>/cluster.json so `down` can stop exactly what `up` started. Secure like any cluster:
// a cluster key made for it (<dir>/cluster.key) and the management token node 1 writes
// (<dir>/management-token), both kept across `down` and `up` unless purged.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { SappersClient } from '../../client/client.ts';
import { CliError } from '../errors.ts';
import { createKeyFile } from './keygen.ts';
import { formatTable, printJson } from '../output.ts';

const STATE_FILE = 'cluster.json';
const START_TIMEOUT_MS = 20_000;
const FORM_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 15_000;
const MAX_NODES = 9;

interface LocalNode {
  readonly id: string;
  readonly pid: number;
  readonly addr: string;
  readonly dataDir: string;
  readonly log: string;
}

interface LocalCluster {
  readonly dir: string;
  /** The management token (SAPPERS_TOKEN) and the file it is kept in. */
  readonly token: string;
  readonly tokenFile: string;
  readonly nodes: LocalNode[];
}

export function clusterCommand(): Command {
  const cluster = new Command('cluster').summary('run a local cluster for trying Sappers out').description(
    'Start or stop a cluster of N agents on 127.0.0.1, each a real agent process with its own data directory and log file.',
  );
  cluster
    .command('up')
    .argument('<n>', `number of nodes (1-${MAX_NODES})`)
    .summary('start N local agents that form one cluster')
    .option('--dir <dir>', 'where the nodes keep their data and logs', defaultDir())
    .option('--json', 'print JSON')
    .action(async (n: string, options: { dir: string; json?: boolean }, command: Command) => {
      const json = command.optsWithGlobals<{ json?: boolean }>().json === true;
      const count = parseCount(n);
      const state = await up(count, options.dir, json ? () => undefined : (line) => process.stderr.write(`${line}\n`));
      if (json) return printJson(state);
      console.log(formatTable(['NODE', 'PID', 'HTTP', 'DATA DIR', 'LOG'], state.nodes.map((x) => [x.id, x.pid, x.addr, x.dataDir, x.log])));
      console.log(`\nexport SAPPERS_ADDR=${state.nodes[0]!.addr} SAPPERS_TOKEN=$(cat ${state.tokenFile})`);
      console.log('then: sappers status, sappers members, sappers kv put hello world');
      console.log(`stop it with: sappers cluster down${options.dir === defaultDir() ? '' : ` --dir ${options.dir}`}`);
    });
  cluster
    .command('down')
    .summary('stop the local cluster started by "cluster up"')
    .option('--dir <dir>', 'the directory given to "cluster up"', defaultDir())
    .option('--purge', 'also delete the nodes\' data directories and logs')
    .action(async (options: { dir: string; purge?: boolean }) => {
      const stopped = await down(options.dir, options.purge === true, (line) => process.stderr.write(`${line}\n`));
      console.log(stopped === 0 ? 'no local cluster was running' : `stopped ${stopped} node${stopped === 1 ? '' : 's'}`);
    });
  return cluster;
}

function defaultDir(): string {
  return join(process.env['XDG_STATE_HOME'] ?? join(homedir(), '.local', 'state'), 'sappers', 'local-cluster');
}

function parseCount(n: string): number {
  if (!/^\d+$/.test(n) || Number(n) < 1 || Number(n) > MAX_NODES) throw new CliError(`the number of nodes must be 1 to ${MAX_NODES}, got ${JSON.stringify(n)}`, 2);
  return Number(n);
}

async function up(count: number, dir: string, progress: (line: string) => void): Promise<LocalCluster> {
  const existing = await readState(dir);
  if (existing !== undefined && existing.nodes.some((x) => alive(x.pid))) {
    throw new CliError(`a local cluster is already running from ${dir} (${existing.nodes.length} nodes); stop it first with "sappers cluster down"`);
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const keyFile = join(dir, 'cluster.key');
  const tokenFile = join(dir, 'management-token');
  // An existing key is kept (a restarted local cluster must keep its key); any other failure stops here.
  const made = await createKeyFile(keyFile, false).then(
    () => true,
    (e: unknown) => {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw new CliError(`cannot write the cluster key ${keyFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    },
  );
  if (made) progress(`made a cluster key in ${keyFile}`);
  // The token is made here rather than by node 1, so that it is known before any node starts.
  const token = await readFile(tokenFile, 'utf8').then((t) => t.trim(), () => undefined) ?? (await writeToken(tokenFile));
  const nodes: LocalNode[] = [];
  let joinAddr: string | undefined;
  try {
    for (let i = 1; i <= count; i++) {
      const id = `n${i}`;
      progress(`starting ${id}...`);
      const started = await startNode(dir, id, joinAddr, ['--cluster-key-file', keyFile, '--management-token-file', tokenFile]);
      nodes.push(started.node);
      joinAddr ??= `127.0.0.1:${started.gossipPort}`;
      progress(`  ${id} is up at ${started.node.addr}`);
      await writeState(dir, { dir, token, tokenFile, nodes });
    }
    const expectVoters = [7, 5, 3, 1].find((v) => v <= Math.min(3, count)) ?? 1;
    progress(`waiting for the cluster to form (${expectVoters} voter${expectVoters === 1 ? '' : 's'}, ${count - expectVoters} learner${count - expectVoters === 1 ? '' : 's'})...`);
    await waitFormed(nodes, token, expectVoters, progress);
    progress('the cluster is ready');
    return { dir, token, tokenFile, nodes };
  } catch (e) {
    progress('start failed; stopping the nodes started so far');
    for (const x of nodes) kill(x.pid, 'SIGKILL');
    await rm(join(dir, STATE_FILE), { force: true });
    throw e;
  }
}

async function startNode(dir: string, id: string, joinAddr: string | undefined, security: readonly string[]): Promise<{ node: LocalNode; gossipPort: number }> {
  const dataDir = join(dir, id);
  const log = join(dir, `${id}.log`);
  const script = process.argv[1];
  if (script === undefined) throw new CliError('cannot tell how this CLI was started, so it cannot start agents');
  const out = await open(log, 'a');
  const args = [
    ...process.execArgv, script, 'agent', '--data-dir', dataDir, '--node-id', id, '--bind', '127.0.0.1',
    '--http-port', '0', '--rpc-port', '0', '--gossip-port', '0', '--dns-port', '0', '--gossip-preset', 'local', '--learner-stable-ms', '2000',
    ...(joinAddr === undefined ? [] : ['--join', joinAddr]),
    ...security,
  ];
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', out.fd, out.fd] });
  child.unref();
  await out.close();
  if (child.pid === undefined) throw new CliError(`could not start ${id}; see ${log}`);
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const started = await startedLine(log);
    if (started !== undefined) {
      return { node: { id, pid: child.pid, addr: `http://127.0.0.1:${started.http}`, dataDir, log }, gossipPort: started.gossip };
    }
    if (!alive(child.pid)) throw new CliError(`${id} exited during start-up; see ${log}`);
    if (Date.now() > deadline) throw new CliError(`${id} did not start within ${START_TIMEOUT_MS / 1000} s; see ${log}`);
    await sleep(100);
  }
}

/** The ports from the agent's "agent started" log line, once written. */
async function startedLine(log: string): Promise<{ http: number; gossip: number } | undefined> {
  const text = await readFile(log, 'utf8').catch(() => '');
  for (const line of text.split('\n').reverse()) {
    if (!line.includes('"agent started"')) continue;
    try {
      const entry = JSON.parse(line) as { ports?: { http?: number; gossip?: number } };
      if (typeof entry.ports?.http === 'number' && typeof entry.ports.gossip === 'number') return { http: entry.ports.http, gossip: entry.ports.gossip };
    } catch {
      // a partial line: try again shortly
    }
  }
  return undefined;
}

async function waitFormed(nodes: readonly LocalNode[], token: string, voters: number, progress: (line: string) => void): Promise<void> {
  const deadline = Date.now() + FORM_TIMEOUT_MS;
  let lastReport = '';
  for (;;) {
    const statuses = await Promise.all(nodes.map((x) => new SappersClient({ addr: x.addr, token, timeoutMs: 3000 }).status().catch(() => undefined)));
    const first = statuses[0];
    const members = first === undefined ? 0 : first.voters.length + first.learners.length;
    const ready = first !== undefined && statuses.every((s) => s !== undefined && s.state === 'active' && s.leader === first.leader) && first.voters.length === voters && members === nodes.length;
    if (ready) return;
    const report = `  ${members}/${nodes.length} nodes in the configuration, ${first?.voters.length ?? 0} voting`;
    if (report !== lastReport) progress(report);
    lastReport = report;
    if (Date.now() > deadline) throw new CliError(`the cluster did not form within ${FORM_TIMEOUT_MS / 1000} s; see the logs in ${join(nodes[0]!.log, '..')}`);
    await sleep(500);
  }
}

async function down(dir: string, purge: boolean, progress: (line: string) => void): Promise<number> {
  const state = await readState(dir);
  if (state === undefined) return 0;
  const running = state.nodes.filter((x) => alive(x.pid));
  for (const x of running) {
    progress(`stopping ${x.id} (pid ${x.pid})...`);
    kill(x.pid, 'SIGTERM');
  }
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (running.some((x) => alive(x.pid)) && Date.now() < deadline) await sleep(100);
  for (const x of running.filter((y) => alive(y.pid))) {
    progress(`${x.id} did not stop in time; killing it`);
    kill(x.pid, 'SIGKILL');
  }
  await rm(join(dir, STATE_FILE), { force: true });
  if (purge) {
    for (const x of state.nodes) {
      await rm(x.dataDir, { recursive: true, force: true });
      await rm(x.log, { force: true });
    }
    await rm(join(dir, 'cluster.key'), { force: true });
    await rm(state.tokenFile, { force: true });
  }
  return running.length;
}

async function readState(dir: string): Promise<LocalCluster | undefined> {
  const text = await readFile(join(dir, STATE_FILE), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as LocalCluster;
  } catch {
    throw new CliError(`${join(dir, STATE_FILE)} is not valid JSON; stop the agents by hand (see their pids with ps) and delete it`);
  }
}

async function writeState(dir: string, state: LocalCluster): Promise<void> {
  await writeFile(join(dir, STATE_FILE), `${JSON.stringify(state, null, 2)}\n`);
}

async function writeToken(path: string): Promise<string> {
  const token = randomBytes(32).toString('base64url');
  await writeFile(path, `${token}\n`, { mode: 0o600, flag: 'wx' });
  return token;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
