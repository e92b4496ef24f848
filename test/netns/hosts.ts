// Test hosts in network namespaces: each host is a namespace with its own stack, one veth into a
// bridge in the root namespace, and an address from a private /24 the run picks (10.213.X.0/24,
// X random and not already routed here). One real agent runs per host on its own address with
// the default ports. The test process reaches the agents' HTTP APIs through the bridge (the
// bridge holds .1). Addresses live only on interfaces this file creates; nothing is sent
// anywhere else.
//
// Names carry the run: namespaces `sap-<run>-<i>`, bridge `spb<run>`, veths `spv<run><i>`,
// nftables tables `sappers_<run>` (inside the namespaces, so they go with them), data under
// /tmp/sappers-netns-<run>. <run> is 6 base-36 digits of the start time in seconds and 2 random
// ones, so a later run can tell leftovers' age without any state besides the names.
//
// Cleanup always happens: `destroy()` (call it from `after`), a synchronous fallback on process
// exit and on SIGINT/SIGTERM, and `removeLeftovers()` on start for runs that died harder than
// that (older than a minute, and whose owner process is gone).
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { once } from 'node:events';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { SappersClient } from '../../src/client/client.ts';
import { CLI, testSecrets } from '../helpers/agent-process.ts';
import { killWorkloads } from '../helpers/workloads.ts';

const execFileAsync = promisify(execFile);

/** Default agent ports (each namespace has its own stack, so every host can use them). */
export const HTTP_PORT = 7700;
export const GOSSIP_PORT = 7702;

const LEFTOVER_AGE_MS = 60_000;
/** Bounds what an agent's log keeps in memory (for diagnostics on failure). */
const MAX_LOG_LINES = 5_000;
const TIME_DIGITS = 6;

/** Why netns tests cannot run here, or undefined when they can (root, ip, nft and tc present). */
export function netnsSkipReason(): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'network namespaces need root';
  for (const tool of ['ip', 'nft', 'tc']) {
    try {
      execFileSync(tool, tool === 'nft' ? ['--version'] : ['-V'], { stdio: 'ignore' });
    } catch {
      return `\`${tool}\` is missing (Debian: ${tool === 'nft' ? 'nftables' : 'iproute2'})`;
    }
  }
  return undefined;
}

export interface HostAgent {
  readonly child: ChildProcess;
  readonly pid: number;
  /** The agent's stdout lines (JSON logs), the last MAX_LOG_LINES of them. */
  readonly lines: string[];
  readonly exited: Promise<number | string>;
  /** True until the process exits. */
  running(): boolean;
}

export interface Host {
  readonly index: number;
  /** Node ID and data-dir name: h1, h2, ... */
  readonly name: string;
  readonly ns: string;
  readonly ip: string;
  readonly veth: string;
  readonly dataDir: string;
  /** The HTTP API as the test process reaches it. */
  readonly api: { readonly addr: string; readonly token: string };
  agent: HostAgent | undefined;
}

export interface NetworkOptions {
  readonly hosts: number;
  /** Flags every agent gets (after the network's own). */
  readonly agentArgs?: readonly string[];
}

/** Parses a run ID's start time (ms since the epoch), or undefined if it is not one of ours. */
function runStartedMs(run: string): number | undefined {
  if (!/^[0-9a-z]{8}$/.test(run)) return undefined;
  return parseInt(run.slice(0, TIME_DIGITS), 36) * 1000;
}

function newRunId(): string {
  const time = Math.floor(Date.now() / 1000).toString(36).padStart(TIME_DIGITS, '0');
  return `${time}${randomInt(36 * 36).toString(36).padStart(2, '0')}`;
}

function runDir(run: string): string {
  return join(tmpdir(), `sappers-netns-${run}`);
}

function ownerAlive(run: string): boolean {
  try {
    const pid = Number(readFileSync(join(runDir(run), 'owner.pid'), 'utf8'));
    if (!Number.isInteger(pid) || pid <= 1) return false;
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function quiet(cmd: string, args: readonly string[]): void {
  try {
    execFileSync(cmd, args, { stdio: 'ignore', timeout: 10_000 });
  } catch {
    // Already gone, or never made: cleanup goes on with the rest.
  }
}

/** Unmounts every mount under `dir` (deepest first) so it can be removed. */
function unmountUnder(dir: string): void {
  let mounts: string[] = [];
  try {
    mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m === dir || m.startsWith(`${dir}/`));
  } catch {
    return;
  }
  for (const m of mounts.sort((a, b) => b.length - a.length)) quiet('umount', ['-l', m]);
}

/** SIGKILLs every process inside namespace `ns` (agents and whatever they started). */
function killInNamespace(ns: string): void {
  let pids: string[] = [];
  try {
    pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', timeout: 10_000 }).split(/\s+/).filter((p) => /^\d+$/.test(p));
  } catch {
    return;
  }
  for (const p of pids) {
    try {
      process.kill(Number(p), 'SIGKILL');
    } catch {
      // Exited meanwhile.
    }
  }
}

/** Removes everything run `run` made: processes, namespaces, links, mounts, files. Synchronous, so exit handlers can use it. */
function removeRunSync(run: string, namespaces: readonly string[], links: readonly string[]): void {
  for (const ns of namespaces) killInNamespace(ns);
  for (const ns of namespaces) quiet('ip', ['netns', 'del', ns]);
  for (const link of links) quiet('ip', ['link', 'del', link]);
  const dir = runDir(run);
  unmountUnder(dir);
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Removes what earlier runs left behind: runs older than a minute whose owner process is gone
 * (a run still in progress in another process is left alone). Returns the run IDs removed.
 */
export function removeLeftovers(nowMs = Date.now()): string[] {
  const byRun = new Map<string, { ns: string[]; links: string[] }>();
  const entry = (run: string) => byRun.get(run) ?? byRun.set(run, { ns: [], links: [] }).get(run)!;
  for (const line of execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n')) {
    const m = /^sap-([0-9a-z]{8})-\d+\b/.exec(line);
    if (m) entry(m[1]!).ns.push(m[0]);
  }
  for (const line of execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).split('\n')) {
    const m = /^\d+: (sp[bv]([0-9a-z]{8})\d*)[@:]/.exec(line);
    if (m) entry(m[2]!).links.push(m[1]!);
  }
  for (const name of readdirSync(tmpdir())) {
    const m = /^sappers-netns-([0-9a-z]{8})$/.exec(name);
    if (m) entry(m[1]!);
  }
  const removed: string[] = [];
  for (const [run, found] of byRun) {
    const started = runStartedMs(run);
    if (started === undefined || nowMs - started < LEFTOVER_AGE_MS || ownerAlive(run)) continue;
    removeRunSync(run, found.ns, found.links);
    removed.push(run);
  }
  return removed;
}

async function sh(cmd: string, args: readonly string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync(cmd, args, { timeout: 30_000 });
    return stdout;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${err.stderr?.trim() || err.message}`);
  }
}

/** A /24 in 10.213.0.0/16 that no address or route on this machine touches. */
function pickSubnet(): string {
  const used = execFileSync('ip', ['-o', 'addr', 'show'], { encoding: 'utf8' }) + execFileSync('ip', ['route', 'show', 'table', 'all'], { encoding: 'utf8' });
  for (let attempt = 0; attempt < 64; attempt++) {
    const third = randomInt(256);
    const prefix = `10.213.${third}`;
    if (!used.includes(`${prefix}.`) && !used.includes('10.213.0.0/16') && !used.includes('10.0.0.0/8')) return prefix;
  }
  throw new Error('no free 10.213.X.0/24 subnet for the test hosts');
}

export class TestNetwork {
  readonly run: string;
  /** The /24's first three octets, e.g. 10.213.57 */
  readonly prefix: string;
  readonly bridge: string;
  readonly root: string;
  readonly hosts: readonly Host[];
  /** nftables table used by faults inside each namespace. */
  readonly nftTable: string;
  readonly #agentArgs: readonly string[];
  #destroyed = false;
  readonly #onExit: () => void;
  readonly #onSignal: (signal: NodeJS.Signals) => void;

  private constructor(run: string, prefix: string, count: number, agentArgs: readonly string[]) {
    this.run = run;
    this.prefix = prefix;
    this.bridge = `spb${run}`;
    this.root = runDir(run);
    this.nftTable = `sappers_${run}`;
    this.#agentArgs = agentArgs;
    const token = testSecrets().token;
    this.hosts = Array.from({ length: count }, (_, index) => {
      const ip = `${prefix}.${10 + index}`;
      const name = `h${index + 1}`;
      return { index, name, ns: `sap-${run}-${index}`, ip, veth: `spv${run}${index}`, dataDir: join(this.root, name), api: { addr: `http://${ip}:${HTTP_PORT}`, token }, agent: undefined };
    });
    this.#onExit = () => this.#destroySync();
    this.#onSignal = (signal) => {
      this.#destroySync();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    };
    process.on('exit', this.#onExit);
    process.once('SIGINT', this.#onSignal);
    process.once('SIGTERM', this.#onSignal);
  }

  /** Makes the bridge, the namespaces and their links (no agents yet). Removes old leftovers first. */
  static async create(options: NetworkOptions): Promise<TestNetwork> {
    if (options.hosts < 1 || options.hosts > 50) throw new Error(`hosts must be 1 to 50, not ${options.hosts}`);
    removeLeftovers();
    const net = new TestNetwork(newRunId(), pickSubnet(), options.hosts, options.agentArgs ?? []);
    try {
      await mkdir(net.root, { recursive: true });
      await writeFile(join(net.root, 'owner.pid'), String(process.pid));
      await sh('ip', ['link', 'add', net.bridge, 'type', 'bridge']);
      await sh('ip', ['link', 'set', net.bridge, 'up']);
      await sh('ip', ['addr', 'add', `${net.prefix}.1/24`, 'dev', net.bridge]);
      for (const h of net.hosts) {
        await sh('ip', ['netns', 'add', h.ns]);
        await sh('ip', ['link', 'add', h.veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.ns]);
        await sh('ip', ['link', 'set', h.veth, 'master', net.bridge, 'up']);
        await sh('ip', ['-n', h.ns, 'link', 'set', 'lo', 'up']);
        await sh('ip', ['-n', h.ns, 'addr', 'add', `${h.ip}/24`, 'dev', 'eth0']);
        await sh('ip', ['-n', h.ns, 'link', 'set', 'eth0', 'up']);
        await mkdir(h.dataDir, { recursive: true });
      }
    } catch (e) {
      await net.destroy();
      throw e;
    }
    return net;
  }

  /** Runs a command inside a host's namespace. */
  exec(host: Host, cmd: string, args: readonly string[]): Promise<string> {
    return sh('ip', ['netns', 'exec', host.ns, cmd, ...args]);
  }

  /** The agent flags for `host`: its address, data dir, secrets, and --join to every other host. */
  agentArgs(host: Host, extra: readonly string[] = []): string[] {
    const secrets = testSecrets();
    // h1 originates the cluster; the others join every other host (unreachable ones are skipped),
    // so a restarted host finds the cluster whichever hosts are up.
    const joins = host.index === 0 ? [] : this.hosts.filter((h) => h !== host).flatMap((h) => ['--join', `${h.ip}:${GOSSIP_PORT}`]);
    return [
      '--data-dir', host.dataDir, '--node-id', host.name, '--bind', host.ip,
      '--cluster-key-file', secrets.keyFile, '--management-token-file', secrets.tokenFile,
      '--learner-stable-ms', '1000',
      ...joins, ...this.#agentArgs, ...extra,
    ];
  }

  /** Starts the agent of `host` (same data dir on a restart) and waits for "agent started". */
  async startAgent(host: Host, extra: readonly string[] = [], timeoutMs = 30_000): Promise<HostAgent> {
    if (host.agent?.running()) throw new Error(`${host.name}'s agent is already running`);
    const child = spawn('ip', ['netns', 'exec', host.ns, process.execPath, CLI, 'agent', ...this.agentArgs(host, extra)], { stdio: ['ignore', 'pipe', 'pipe'] });
    // `ip netns exec` enters the namespace and execs the command in place: child.pid is the agent.
    const lines: string[] = [];
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-20_000);
    });
    const exited = (once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>).then(([code, sig]) => code ?? sig ?? 'unknown');
    const started = new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout! }).on('line', (line) => {
        lines.push(line);
        if (lines.length > MAX_LOG_LINES) lines.splice(0, lines.length - MAX_LOG_LINES);
        if (line.includes('"agent started"')) resolve();
      });
      void exited.then((how) => reject(new Error(`${host.name}'s agent exited (${how}) before starting:\n${stderr}\n${lines.slice(-30).join('\n')}`)));
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${host.name}'s agent did not start within ${timeoutMs} ms:\n${stderr}`)), timeoutMs);
    });
    const agent: HostAgent = { child, pid: child.pid ?? -1, lines, exited, running: () => child.exitCode === null && child.signalCode === null };
    host.agent = agent;
    try {
      await Promise.race([started, timeout]);
    } catch (e) {
      child.kill('SIGKILL');
      throw e;
    } finally {
      clearTimeout(timer);
    }
    return agent;
  }

  /** Starts every host's agent: h1 first (it originates), then the rest. */
  async startAll(extra: readonly string[] = []): Promise<void> {
    for (const h of this.hosts) await this.startAgent(h, extra);
  }

  /** Sends a signal to a host's agent. */
  signal(host: Host, signal: NodeJS.Signals): void {
    const a = host.agent;
    if (a === undefined || !a.running()) throw new Error(`${host.name} has no running agent`);
    process.kill(a.pid, signal);
  }

  /** SIGKILLs a host's agent (resuming it first does not matter: SIGKILL ends a stopped process too). */
  async kill(host: Host): Promise<void> {
    const a = host.agent;
    if (a === undefined) return;
    if (a.running()) a.child.kill('SIGKILL');
    await a.exited;
  }

  /** An API client for `host` with the test token. */
  client(host: Host, timeoutMs = 10_000): SappersClient {
    return new SappersClient({ ...host.api, timeoutMs });
  }

  /** The last log lines of every host, for a failure message. */
  logTail(lines = 20): string {
    return this.hosts.map((h) => `--- ${h.name} (${h.ip})\n${(h.agent?.lines ?? []).slice(-lines).join('\n')}`).join('\n');
  }

  /** Kills the agents and their workloads, removes namespaces, links, mounts and data. Idempotent. */
  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    await Promise.all(this.hosts.map((h) => this.kill(h)));
    await killWorkloads(this.root);
    this.#destroySync();
  }

  #destroySync(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    for (const h of this.hosts) {
      if (h.agent?.running()) h.agent.child.kill('SIGKILL');
    }
    removeRunSync(this.run, this.hosts.map((h) => h.ns), [...this.hosts.map((h) => h.veth), this.bridge]);
    process.off('exit', this.#onExit);
    process.off('SIGINT', this.#onSignal);
    process.off('SIGTERM', this.#onSignal);
  }
}

/** True when nothing named like a netns test run is on this machine (for checks after a run). */
export function noLeftovers(): boolean {
  const ns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
  return !/^sap-[0-9a-z]{8}-/m.test(ns) && !/^\d+: sp[bv][0-9a-z]{8}/m.test(links) && !readdirSync(tmpdir()).some((n) => n.startsWith('sappers-netns-'));
}
