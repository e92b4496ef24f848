// A 3-member etcd cluster on 127.0.0.1 for the KV benchmark (Debian's etcd-server package, 3.4):
// static bootstrap (--initial-cluster), plain HTTP for clients and peers (etcd's defaults), data
// dirs in a temp dir, default timings (heartbeat 100 ms, election 1000 ms) and default
// durability (the WAL is fsynced before a write is acknowledged). Clients use the v3 JSON
// gateway on the client URL (bench/lib/kv-protocols.ts etcdProtocol).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BenchChild } from './child.ts';
import type { CleanupStack } from './cleanup.ts';
import { pollFor, type KvCluster, type KvNode, type LeaderStats, promValue } from './kv-cluster.ts';
import { etcdProtocol, type KvProtocol } from './kv-protocols.ts';
import type { PortPicker } from './ports.ts';

const NODES = 3;
const READY_MS = 60_000;
const POLL_MS = 100;
const REQUEST_TIMEOUT_MS = 5_000;
const EXIT_WAIT_MS = 5_000;

/** "3.4.23" from `etcd --version` ("etcd Version: 3.4.23" on its first line), or undefined. */
export function parseEtcdVersion(output: string): string | undefined {
  return /^etcd Version:\s*(\S+)/m.exec(output)?.[1];
}

export function etcdVersion(): string | undefined {
  try {
    return parseEtcdVersion(execFileSync('etcd', ['--version'], { encoding: 'utf8', timeout: 10_000 }));
  } catch {
    return undefined;
  }
}

/** The fields of POST /v3/maintenance/status the bench uses (uint64s arrive as strings). */
export interface EtcdMemberStatus {
  readonly memberId: string;
  /** "0" or absent while no leader is known. */
  readonly leader: string | undefined;
  readonly raftTerm: number;
}

export function parseEtcdStatus(body: unknown): EtcdMemberStatus | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const o = body as { header?: { member_id?: unknown }; leader?: unknown; raftTerm?: unknown };
  const memberId = o.header?.member_id;
  if (typeof memberId !== 'string' || memberId === '') return undefined;
  const leader = typeof o.leader === 'string' && o.leader !== '0' ? o.leader : undefined;
  const raftTerm = typeof o.raftTerm === 'string' ? Number(o.raftTerm) : typeof o.raftTerm === 'number' ? o.raftTerm : 0;
  return { memberId, leader, raftTerm: Number.isFinite(raftTerm) ? raftTerm : 0 };
}

interface Member {
  readonly name: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly dataDir: string;
  child: BenchChild;
}

export interface EtcdOptions {
  readonly cleanup: CleanupStack;
  readonly ports: PortPicker;
  /** A fresh directory for the data dirs (removed by close). */
  readonly dir: string;
  readonly version: string;
}

export async function startEtcdKv(o: EtcdOptions): Promise<EtcdKvCluster> {
  const cluster = new EtcdKvCluster(o);
  try {
    await cluster.start();
    return cluster;
  } catch (e) {
    await cluster.close();
    throw e;
  }
}

export class EtcdKvCluster implements KvCluster {
  readonly label: string;
  readonly setup = 'etcd defaults: plain HTTP for clients and peers, no auth, heartbeat 100 ms, election timeout 1000 ms, WAL fsync per commit; v3 JSON gateway on the client URL';
  readonly protocol: KvProtocol = etcdProtocol;
  readonly #o: EtcdOptions;
  readonly #members: Member[] = [];
  readonly #token = `sappers-bench-${randomBytes(4).toString('hex')}`;
  readonly #removeDir: () => void;
  #closed = false;

  constructor(o: EtcdOptions) {
    this.#o = o;
    this.label = `etcd ${o.version}`;
    const dir = o.dir;
    this.#removeDir = o.cleanup.add(`temp dir ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  }

  get nodes(): readonly KvNode[] {
    return this.#members.map((m) => ({ name: m.name, target: { host: '127.0.0.1', port: m.clientPort }, child: m.child }));
  }

  async start(): Promise<void> {
    const specs: Array<Omit<Member, 'child'>> = [];
    for (let i = 0; i < NODES; i++) {
      const [clientPort, peerPort] = await this.#o.ports.pickMany(2);
      const name = `etcd-${i + 1}`;
      specs.push({ name, clientPort: clientPort!, peerPort: peerPort!, dataDir: join(this.#o.dir, name) });
    }
    const initialCluster = specs.map((s) => `${s.name}=http://127.0.0.1:${s.peerPort}`).join(',');
    for (const spec of specs) {
      mkdirSync(spec.dataDir, { recursive: true, mode: 0o700 });
      this.#members.push({ ...spec, child: this.#spawn(spec, initialCluster) });
    }
    await this.waitLeader(READY_MS);
  }

  async waitLeader(timeoutMs: number): Promise<number> {
    return pollFor('etcd leader agreed by every running member', timeoutMs, POLL_MS, async () => {
      this.#checkAlive();
      const running = this.#members.filter((m) => m.child.running);
      const statuses = await Promise.all(running.map((m) => this.#status(m)));
      const leader = statuses[0]?.leader;
      if (leader === undefined || statuses.length !== running.length || !statuses.every((s) => s.leader === leader)) return undefined;
      const leaderMember = running[statuses.findIndex((s) => s.memberId === leader)];
      return leaderMember === undefined ? undefined : this.#members.indexOf(leaderMember);
    });
  }

  async leaderStats(): Promise<LeaderStats> {
    const running = this.#members.filter((m) => m.child.running);
    const statuses = await Promise.all(running.map((m) => this.#status(m)));
    const metrics = await Promise.all(
      running.map(async (m) => {
        const res = await fetch(`http://127.0.0.1:${m.clientPort}/metrics`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
        return res.text();
      }),
    );
    return {
      term: Math.max(...statuses.map((s) => s.raftTerm)),
      changesSeen: metrics.map((t) => promValue(t, 'etcd_server_leader_changes_seen_total') ?? Number.NaN),
    };
  }

  kill(index: number): void {
    this.#members[index]!.child.kill('SIGKILL');
  }

  async restart(index: number, timeoutMs: number): Promise<void> {
    const m = this.#members[index]!;
    if (m.child.running) throw new Error(`${m.name} is still running`);
    // With its data dir in place, etcd ignores the --initial-* flags and rejoins as itself.
    const initialCluster = this.#members.map((s) => `${s.name}=http://127.0.0.1:${s.peerPort}`).join(',');
    m.child = this.#spawn(m, initialCluster);
    await pollFor(`${m.name} back with a leader`, timeoutMs, POLL_MS, async () => {
      this.#checkAlive();
      const running = this.#members.filter((x) => x.child.running);
      const statuses = await Promise.all(running.map((x) => this.#status(x)));
      const leader = statuses[0]?.leader;
      return leader !== undefined && statuses.every((s) => s.leader === leader) ? true : undefined;
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const m of this.#members) m.child.kill('SIGKILL');
    await Promise.all(this.#members.map((m) => m.child.waitExit(EXIT_WAIT_MS)));
    this.#removeDir();
  }

  #spawn(spec: Omit<Member, 'child'>, initialCluster: string): BenchChild {
    const client = `http://127.0.0.1:${spec.clientPort}`;
    const peer = `http://127.0.0.1:${spec.peerPort}`;
    const args = [
      '--name', spec.name,
      '--data-dir', spec.dataDir,
      '--listen-client-urls', client,
      '--advertise-client-urls', client,
      '--listen-peer-urls', peer,
      '--initial-advertise-peer-urls', peer,
      '--initial-cluster', initialCluster,
      '--initial-cluster-state', 'new',
      '--initial-cluster-token', this.#token,
      '--logger', 'zap',
      '--log-level', 'warn',
    ];
    // ETCD_* variables of the caller's shell would change the configuration: flags alone.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ETCD_')));
    return BenchChild.start(this.#o.cleanup, `etcd ${spec.name}`, 'etcd', args, env);
  }

  #checkAlive(): void {
    // A member that exits by itself (bad flag, port taken) fails the wait at once, with its output.
    for (const m of this.#members) {
      if (!m.child.running && m.child.exitReason !== 'SIGKILL') throw new Error(`${m.name} exited (${m.child.exitReason ?? '?'}):\n${m.child.outputTail.trim()}`);
    }
  }

  async #status(m: Member): Promise<EtcdMemberStatus> {
    const res = await fetch(`http://127.0.0.1:${m.clientPort}/v3/maintenance/status`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    if (!res.ok) throw new Error(`${m.name}: status HTTP ${res.status}`);
    const parsed = parseEtcdStatus(await res.json());
    if (parsed === undefined) throw new Error(`${m.name}: status answer without a member id`);
    return parsed;
  }
}
