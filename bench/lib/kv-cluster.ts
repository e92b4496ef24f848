// A 3-node KV cluster under test, one interface for Sappers and etcd (bench/kv.bench.ts runs
// every measurement through it), and the Sappers side of it. The etcd side is bench/lib/etcd.ts.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { VERSION } from '../../src/version.ts';
import type { BenchChild } from './child.ts';
import type { CleanupStack } from './cleanup.ts';
import type { HttpTarget } from './kv-load.ts';
import { sappersProtocol, type KvProtocol } from './kv-protocols.ts';
import type { PortPicker } from './ports.ts';
import { startSappersAgent, waitSappersFormed, writeSappersSecrets, type SappersAgent } from './sappers-agents.ts';

export interface KvNode {
  readonly name: string;
  readonly target: HttpTarget;
  readonly child: BenchChild;
}

export interface LeaderStats {
  /** The highest Raft term any running node reports. */
  readonly term: number;
  /** Per running node: leader changes it has seen since it started (its own metrics counter). */
  readonly changesSeen: readonly number[];
}

export interface KvCluster {
  /** e.g. "Sappers 0.1.0", "etcd 3.4.23". */
  readonly label: string;
  /** How it runs, for the notes. */
  readonly setup: string;
  readonly protocol: KvProtocol;
  /** The current processes, by index (a restarted node keeps its index). */
  readonly nodes: readonly KvNode[];
  /** The index of the leader every running node agrees on; throws after timeoutMs. */
  waitLeader(timeoutMs: number): Promise<number>;
  leaderStats(): Promise<LeaderStats>;
  /** SIGKILL, as a crash. */
  kill(index: number): void;
  /** Starts a killed node again on its data dir and ports; resolves once all agree on a leader. */
  restart(index: number, timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

const NODES = 3;
const AGENT_START_MS = 30_000;
const FORM_MS = 60_000;
const CLIENT_TIMEOUT_MS = 10_000;
const EXIT_WAIT_MS = 5_000;

/**
 * The value of a Prometheus counter or gauge in a text exposition, summed over its label sets;
 * undefined when the metric is absent.
 */
export function promValue(text: string, name: string): number | undefined {
  let total: number | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    // The name must end here: followed by labels or the value, not by more of a longer name.
    if (!(rest.startsWith('{') || rest.startsWith(' '))) continue;
    const valueText = rest.startsWith('{') ? rest.slice(rest.indexOf('}') + 1) : rest;
    const value = Number(valueText.trim().split(/\s+/)[0]);
    if (Number.isFinite(value)) total = (total ?? 0) + value;
  }
  return total;
}

export interface SappersKvOptions {
  readonly cleanup: CleanupStack;
  readonly ports: PortPicker;
  /** A fresh directory for this cluster's data (removed by close). */
  readonly dir: string;
  /** Production mode: cluster key (gossip encryption, mutual TLS between nodes) and an API token. */
  readonly secure: boolean;
}

/** Three Sappers agents; each has an inspector port ready for SIGUSR1 (bench/lib/cpu-profile.ts). */
export async function startSappersKv(o: SappersKvOptions): Promise<SappersKvCluster> {
  const secrets = o.secure ? writeSappersSecrets(join(o.dir, 'secrets')) : undefined;
  const cluster = new SappersKvCluster(o, secrets);
  try {
    await cluster.start();
    return cluster;
  } catch (e) {
    await cluster.close();
    throw e;
  }
}

export class SappersKvCluster implements KvCluster {
  readonly label = `Sappers ${VERSION}`;
  readonly setup: string;
  readonly protocol: KvProtocol;
  readonly #o: SappersKvOptions;
  readonly #secrets: ReturnType<typeof writeSappersSecrets> | undefined;
  readonly #agents: SappersAgent[] = [];
  readonly #inspectPorts: number[] = [];
  readonly #removeDir: () => void;
  #closed = false;

  constructor(o: SappersKvOptions, secrets: ReturnType<typeof writeSappersSecrets> | undefined) {
    this.#o = o;
    this.#secrets = secrets;
    this.protocol = sappersProtocol(secrets?.token);
    this.setup = o.secure
      ? 'secure as in production: cluster key (AES-GCM gossip, mutual TLS between nodes), management token on the plain-HTTP API'
      : '--insecure: no gossip encryption, plain TCP between nodes, no API token (plain HTTP API)';
    const dir = o.dir;
    this.#removeDir = o.cleanup.add(`temp dir ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  }

  get nodes(): readonly KvNode[] {
    return this.#agents.map((a) => ({ name: a.name, target: { host: '127.0.0.1', port: a.ports.http }, child: a.child }));
  }

  /** The node's inspector port (opened by SIGUSR1), for profiling. */
  inspectPort(index: number): number {
    return this.#inspectPorts[index]!;
  }

  async start(): Promise<void> {
    for (let i = 0; i < NODES; i++) this.#inspectPorts.push(await this.#o.ports.pick());
    const seed = await this.#startAgent(0, undefined, undefined);
    this.#agents.push(seed);
    const others = await Promise.all([1, 2].map((i) => this.#startAgent(i, seed.ports.gossip, undefined)));
    this.#agents.push(...others);
    await waitSappersFormed(this.#agents, NODES, FORM_MS);
  }

  async waitLeader(timeoutMs: number): Promise<number> {
    const running = this.#agents.filter((a) => a.child.running);
    const leader = await waitSappersFormed(running, NODES, timeoutMs);
    return this.#agents.indexOf(leader);
  }

  async leaderStats(): Promise<LeaderStats> {
    const running = this.#agents.filter((a) => a.child.running);
    const statuses = await Promise.all(running.map((a) => a.client.status()));
    const metrics = await Promise.all(running.map((a) => this.#metricsText(a)));
    return {
      term: Math.max(...statuses.map((s) => s.term)),
      changesSeen: metrics.map((m) => promValue(m, 'sappers_raft_leader_changes_total') ?? Number.NaN),
    };
  }

  kill(index: number): void {
    this.#agents[index]!.child.kill('SIGKILL');
  }

  async restart(index: number, timeoutMs: number): Promise<void> {
    const old = this.#agents[index]!;
    if (old.child.running) throw new Error(`${old.name} is still running`);
    const peer = this.#agents.find((a) => a !== old && a.child.running);
    this.#agents[index] = await this.#startAgent(index, peer?.ports.gossip, old.ports);
    await waitSappersFormed(this.#agents, NODES, timeoutMs);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const a of this.#agents) a.child.kill('SIGKILL');
    await Promise.all(this.#agents.map((a) => a.child.waitExit(EXIT_WAIT_MS)));
    this.#removeDir();
  }

  async #metricsText(agent: SappersAgent): Promise<string> {
    const headers: Record<string, string> = this.#secrets === undefined ? {} : { authorization: `Bearer ${this.#secrets.token}` };
    const res = await fetch(`${agent.client.addr}/metrics`, { headers, signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS) });
    if (!res.ok) throw new Error(`GET /metrics on ${agent.name}: HTTP ${res.status}`);
    return res.text();
  }

  #startAgent(index: number, joinGossipPort: number | undefined, ports: SappersAgent['ports'] | undefined): Promise<SappersAgent> {
    const name = `node-${index + 1}`;
    return startSappersAgent({
      cleanup: this.#o.cleanup,
      name,
      dataDir: join(this.#o.dir, name),
      secrets: this.#secrets,
      ...(joinGossipPort === undefined ? {} : { joinGossipPort }),
      ...(ports === undefined ? {} : { ports }),
      nodeArgs: [`--inspect-port=127.0.0.1:${this.#inspectPorts[index]!}`],
      startTimeoutMs: AGENT_START_MS,
      clientTimeoutMs: CLIENT_TIMEOUT_MS,
    });
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls PROBE until it returns a value, for at most timeoutMs; throws with the last error. */
export async function pollFor<T>(what: string, timeoutMs: number, everyMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let last = 'no answer yet';
  while (performance.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (e) {
      last = (e as Error).message;
    }
    await sleep(everyMs);
  }
  throw new Error(`${what}: not within ${timeoutMs} ms (${last})`);
}
