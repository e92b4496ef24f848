// Local clusters of real agent processes on 127.0.0.1 for the membership benchmarks: Sappers
// agents and HashiCorp serf agents (Debian package), behind one interface so every measurement
// runs the same code against both. Sappers runs as it ships: the esbuild bundle
// (dist/sappers.mjs, see sappersBundle), like serf's single binary, not the .ts sources.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SappersClient } from '../../src/client/client.ts';
import { BenchChild } from './child.ts';
import type { CleanupStack } from './cleanup.ts';
import type { PortPicker } from './ports.ts';
import { SerfRpcClient } from './serf-rpc.ts';

export type SystemName = 'sappers' | 'serf';

/** Member states, in one vocabulary: serf's "failed" is "dead", "leaving" is "left". */
export type MemberState = 'alive' | 'suspect' | 'dead' | 'left' | 'other';

export interface ObservedMember {
  readonly name: string;
  readonly state: MemberState;
  /** Sappers only: the member's incarnation; a rise means it refuted a suspicion. */
  readonly incarnation?: number;
  /** Sappers only: wall-clock ms when the observer saw the state begin (statusSince). */
  readonly stateSinceEpochMs?: number;
}

export interface ClusterNode {
  readonly name: string;
  readonly child: BenchChild;
  readonly gossipPort: number;
}

export interface StartTiming {
  /** performance.now() and Date.now() at the first spawn. */
  readonly firstSpawnMs: number;
  readonly firstSpawnEpochMs: number;
  /** From the first spawn until every agent answers its API. */
  readonly allReadyAfterMs: number;
}

export interface ClusterDeps {
  readonly cleanup: CleanupStack;
  readonly ports: PortPicker;
  readonly repoRoot: string;
  /** The built CLI bundle to run Sappers agents from; the .ts sources when absent. */
  readonly sappersBundle?: string;
  /** Budget for all agents to come up (the seed, then the others). */
  readonly startTimeoutMs: number;
}

export interface Cluster {
  readonly system: SystemName;
  readonly nodes: readonly ClusterNode[];
  readonly timing: StartTiming;
  /** What node INDEX currently believes about the membership. */
  view(index: number, timeoutMs: number): Promise<ObservedMember[]>;
  /** Subscribes to member-failed/leave events where the system can push them (serf). */
  watchFailures?(index: number, onFailed: (name: string, event: string, receivedAtMs: number) => void): Promise<void>;
  kill(index: number): void;
  /** Starts one more agent joining the seed and waits until its API answers; returns its index. */
  addNode(timeoutMs: number): Promise<number>;
  /** Kills every agent and removes its files; safe to call twice. */
  close(): Promise<void>;
}

const READY_POLL_MS = 50;
const READY_PROBE_TIMEOUT_MS = 1_000;
const EXIT_WAIT_MS = 5_000;

/**
 * Starts N agents: the seed first (until its API answers), then the other N-1 at once, each
 * joining the seed. Starting the others only when the seed is reachable matters for serf, whose
 * -join gives up at start; it also keeps our join backoff out of the measurement.
 */
export async function startCluster(system: SystemName, n: number, deps: ClusterDeps): Promise<Cluster> {
  const launcher = system === 'sappers' ? new SappersLauncher(deps) : new SerfLauncher(deps);
  const firstSpawnMs = performance.now();
  const firstSpawnEpochMs = Date.now();
  const deadline = firstSpawnMs + deps.startTimeoutMs;
  const cluster = new LocalCluster(system, launcher, { firstSpawnMs, firstSpawnEpochMs, allReadyAfterMs: Number.NaN });
  try {
    const seed = await launcher.spawn(0, undefined);
    cluster.add(seed);
    await launcher.waitReady(seed, deadline);
    const others: ClusterNode[] = [];
    for (let i = 1; i < n; i++) {
      const node = await launcher.spawn(i, seed.gossipPort);
      cluster.add(node);
      others.push(node);
    }
    await Promise.all(others.map((node) => launcher.waitReady(node, deadline)));
    cluster.setReady(performance.now() - firstSpawnMs);
    return cluster;
  } catch (e) {
    await cluster.close();
    throw e;
  }
}

interface Launcher {
  spawn(index: number, joinPort: number | undefined): Promise<ClusterNode>;
  waitReady(node: ClusterNode, deadlineMs: number): Promise<void>;
  view(node: ClusterNode, timeoutMs: number): Promise<ObservedMember[]>;
  watchFailures?(node: ClusterNode, onFailed: (name: string, event: string, receivedAtMs: number) => void): Promise<void>;
  close(): void;
}

class LocalCluster implements Cluster {
  readonly system: SystemName;
  readonly nodes: ClusterNode[] = [];
  #timing: StartTiming;
  readonly #launcher: Launcher;
  #closed = false;

  constructor(system: SystemName, launcher: Launcher, timing: StartTiming) {
    this.system = system;
    this.#launcher = launcher;
    this.#timing = timing;
    const watch = launcher.watchFailures?.bind(launcher);
    if (watch !== undefined) {
      this.watchFailures = (index, onFailed) => watch(this.#node(index), onFailed);
    }
  }

  watchFailures?: (index: number, onFailed: (name: string, event: string, receivedAtMs: number) => void) => Promise<void>;

  get timing(): StartTiming {
    return this.#timing;
  }

  add(node: ClusterNode): void {
    this.nodes.push(node);
  }

  setReady(allReadyAfterMs: number): void {
    this.#timing = { ...this.#timing, allReadyAfterMs };
  }

  view(index: number, timeoutMs: number): Promise<ObservedMember[]> {
    return this.#launcher.view(this.#node(index), timeoutMs);
  }

  kill(index: number): void {
    this.#node(index).child.kill('SIGKILL');
  }

  async addNode(timeoutMs: number): Promise<number> {
    const index = this.nodes.length;
    const node = await this.#launcher.spawn(index, this.#node(0).gossipPort);
    this.nodes.push(node);
    await this.#launcher.waitReady(node, performance.now() + timeoutMs);
    return index;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const node of this.nodes) node.child.kill('SIGKILL');
    await Promise.all(this.nodes.map((node) => node.child.waitExit(EXIT_WAIT_MS)));
    this.#launcher.close();
  }

  #node(index: number): ClusterNode {
    const node = this.nodes[index];
    if (node === undefined) throw new Error(`no node ${index} in a cluster of ${this.nodes.length}`);
    return node;
  }
}

/** Our agents: explicit free ports (so --log-level warn can stay quiet), one data dir each. */
class SappersLauncher implements Launcher {
  readonly #deps: ClusterDeps;
  readonly #dir: string;
  readonly #removeDir: () => void;
  readonly #clients = new Map<string, SappersClient>();
  readonly #env: NodeJS.ProcessEnv;

  constructor(deps: ClusterDeps) {
    this.#deps = deps;
    this.#dir = mkdtempSync(join(tmpdir(), 'sappers-bench-membership-'));
    const dir = this.#dir;
    this.#removeDir = deps.cleanup.add(`temp dir ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
    // SAPPERS_* variables of the caller's shell would override nothing we pass, but could add
    // joins, keys or tags; run the agents on flags alone.
    this.#env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SAPPERS_')));
  }

  async spawn(index: number, joinPort: number | undefined): Promise<ClusterNode> {
    const name = `node-${index}`;
    const [httpPort, gossipPort] = await this.#deps.ports.pickMany(2);
    const dataDir = join(this.#dir, name);
    mkdirSync(dataDir);
    const args = [
      this.#deps.sappersBundle ?? join(this.#deps.repoRoot, 'src', 'cli', 'bin.ts'),
      'agent',
      '--data-dir', dataDir,
      '--node-id', name,
      '--bind', '127.0.0.1',
      '--http-port', String(httpPort),
      '--gossip-port', String(gossipPort),
      // RPC and DNS are not under test; 0 keeps them off the fixed defaults, which N agents on
      // one host would fight over.
      '--rpc-port', '0',
      '--dns-port', '0',
      '--gossip-preset', 'lan',
      // Like for like: serf runs here without -encrypt, so our gossip is unsealed too (the agent
      // refuses to start with neither a cluster key nor --insecure since security became the default).
      '--insecure',
      '--log-level', 'warn',
      ...(joinPort === undefined ? [] : ['--join', `127.0.0.1:${joinPort}`]),
    ];
    const child = BenchChild.start(this.#deps.cleanup, `sappers ${name}`, process.execPath, args, this.#env);
    this.#clients.set(name, new SappersClient({ addr: `http://127.0.0.1:${httpPort}`, timeoutMs: READY_PROBE_TIMEOUT_MS }));
    return { name, child, gossipPort: gossipPort! };
  }

  async waitReady(node: ClusterNode, deadlineMs: number): Promise<void> {
    const client = this.#client(node);
    await pollUntil(node, deadlineMs, async () => {
      const status = await client.status();
      if (status.ports.gossip !== node.gossipPort) throw new Error(`gossip port ${String(status.ports.gossip)}, expected ${node.gossipPort}`);
    });
  }

  async view(node: ClusterNode, timeoutMs: number): Promise<ObservedMember[]> {
    const client = new SappersClient({ addr: this.#client(node).addr, timeoutMs });
    const members = await client.members();
    return members.map((m) => ({
      name: m.id,
      state: m.status,
      incarnation: m.incarnation,
      stateSinceEpochMs: Date.parse(m.statusSince),
    }));
  }

  close(): void {
    this.#removeDir();
  }

  #client(node: ClusterNode): SappersClient {
    const client = this.#clients.get(node.name);
    if (client === undefined) throw new Error(`no client for ${node.name}`);
    return client;
  }
}

/** serf agents with LAN defaults (-profile lan), each with its own RPC port we poll. */
class SerfLauncher implements Launcher {
  readonly #deps: ClusterDeps;
  readonly #rpcPorts = new Map<string, number>();
  readonly #clients = new Map<string, SerfRpcClient>();

  constructor(deps: ClusterDeps) {
    this.#deps = deps;
  }

  async spawn(index: number, joinPort: number | undefined): Promise<ClusterNode> {
    const name = `node-${index}`;
    const [gossipPort, rpcPort] = await this.#deps.ports.pickMany(2);
    const args = [
      'agent',
      '-node', name,
      '-bind', `127.0.0.1:${gossipPort}`,
      '-rpc-addr', `127.0.0.1:${rpcPort}`,
      '-profile', 'lan',
      '-log-level', 'warn',
      ...(joinPort === undefined ? [] : ['-join', `127.0.0.1:${joinPort}`]),
    ];
    const child = BenchChild.start(this.#deps.cleanup, `serf ${name}`, 'serf', args);
    this.#rpcPorts.set(name, rpcPort!);
    return { name, child, gossipPort: gossipPort! };
  }

  async waitReady(node: ClusterNode, deadlineMs: number): Promise<void> {
    const rpcPort = this.#rpcPorts.get(node.name)!;
    await pollUntil(node, deadlineMs, async () => {
      const client = await SerfRpcClient.connect('127.0.0.1', rpcPort, READY_PROBE_TIMEOUT_MS);
      this.#clients.set(node.name, client);
    });
  }

  async view(node: ClusterNode, timeoutMs: number): Promise<ObservedMember[]> {
    const members = await this.#client(node).members(timeoutMs);
    return members.map((m) => ({ name: m.name, state: serfState(m.status) }));
  }

  async watchFailures(node: ClusterNode, onFailed: (name: string, event: string, receivedAtMs: number) => void): Promise<void> {
    await this.#client(node).stream(
      'member-failed,member-leave',
      (event) => {
        for (const m of event.members) onFailed(m.name, event.event, event.receivedAtMs);
      },
      READY_PROBE_TIMEOUT_MS * 5,
    );
  }

  close(): void {
    for (const client of this.#clients.values()) client.close();
    this.#clients.clear();
  }

  #client(node: ClusterNode): SerfRpcClient {
    const client = this.#clients.get(node.name);
    if (client === undefined) throw new Error(`no RPC connection to serf ${node.name}`);
    return client;
  }
}

function serfState(status: string): MemberState {
  switch (status) {
    case 'alive':
      return 'alive';
    case 'failed':
      return 'dead';
    case 'left':
    case 'leaving':
      return 'left';
    default:
      return 'other';
  }
}

/** Retries PROBE until it succeeds; fails early if the agent exits, late at the deadline. */
async function pollUntil(node: ClusterNode, deadlineMs: number, probe: () => Promise<void>): Promise<void> {
  let last = 'no attempt';
  while (performance.now() < deadlineMs) {
    if (!node.child.running) {
      throw new Error(`${node.child.name} exited (${node.child.exitReason ?? '?'}) before it was ready:\n${node.child.outputTail.trim()}`);
    }
    try {
      await probe();
      return;
    } catch (e) {
      last = (e as Error).message;
    }
    await sleep(READY_POLL_MS);
  }
  throw new Error(`${node.child.name} not ready in time (last error: ${last}):\n${node.child.outputTail.trim()}`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
