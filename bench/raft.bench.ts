// Raft commit throughput and latency of a 3-voter cluster with fsync on the real disk: closed-loop
// clients on the leader (propose a 128-byte command, await it being applied on the leader,
// repeat) at concurrency 1, 16 and 256, in two modes:
//   in-process  three RaftNodes in this process, joined by an in-memory RPC twin
//               (lib/memory-rpc.ts): the protocol, storage and fsync cost without sockets, all
//               three nodes sharing one event loop;
//   processes   three node processes (lib/raft-node-process.ts) over TCP on 127.0.0.1; the load
//               runs inside the leader's process, which reports back over IPC.
// Each row: completed proposals/s, p50/p99/max latency from propose() to applied on the leader,
// and batching: log entries per storage append on the leader (entries per Ready) and proposals
// per leader fdatasync (group commit); snapshots the leader took and how long its Ready loop
// waited on them (and on compaction); RSS and V8 heap. Default core options (tickMs 100).
import { rmSync } from 'node:fs';
import { mkdtemp, statfs } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NodeId } from '../src/core/raft/types.ts';
import { NodeFileSystem } from '../src/runtime/storage/node-fs.ts';
import { Wal } from '../src/runtime/storage/wal.ts';
import { CleanupStack } from './lib/cleanup.ts';
import { CountingFileSystem } from './lib/counting-fs.ts';
import { MemoryRpcHub } from './lib/memory-rpc.ts';
import { BenchRaftNode, percentile, runProposalLoad, type LoadPlan, type LoadResult } from './lib/raft-bench-node.ts';
import type { NodeStatusReport } from './lib/raft-ipc.ts';
import { RaftProcess } from './lib/raft-process.ts';
import type { BenchContext, BenchReport } from './run.ts';

const VOTERS = ['n1', 'n2', 'n3'];
const CONCURRENCY = [1, 16, 256];
const PAYLOAD_BYTES = 128;
const LEADER_TIMEOUT_MS = 10_000;
const POLL_MS = 50;
const SPAWN_TIMEOUT_MS = 15_000;
const COMMAND_TIMEOUT_MS = 10_000;
/** Beyond the node's proposal timeout (10 s), so every in-flight proposal settles first. */
const DRAIN_TIMEOUT_MS = 12_000;
const TMPFS_MAGIC = 0x01021994;
const MIB = 1024 * 1024;

type Mode = 'in-process' | 'processes';

interface Plan {
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly walCeilingMs: number;
}

interface PointRow {
  readonly mode: Mode;
  readonly result: LoadResult;
}

function progress(line: string): void {
  process.stderr.write(`[raft] ${line}\n`);
}

export async function runRaftBench(ctx: BenchContext): Promise<BenchReport> {
  const plan: Plan = ctx.quick ? { warmupMs: 500, durationMs: 2_000, walCeilingMs: 1_000 } : { warmupMs: 2_000, durationMs: 10_000, walCeilingMs: 3_000 };
  const cleanup = new CleanupStack();
  cleanup.install();
  const rows: Array<Record<string, string | number>> = [];
  const notes: string[] = [];
  const loadAtStart = loadavg()[0] ?? 0;
  try {
    const { dir, where } = await benchDir(ctx.repoRoot);
    cleanup.add(`directory ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
    notes.push(`disk: ${where}`);
    const ceiling = await walFsyncCeiling(join(dir, 'wal-ceiling'), plan.walCeilingMs);
    notes.push(
      `WAL alone on this disk, one ${PAYLOAD_BYTES}-byte append awaited at a time (an fdatasync each): ${Math.round(ceiling.perSecond)} appends/s, ` +
        `p50 ${round(ceiling.p50Ms, 3)} ms (a commit needs the leader's and a follower's fsync plus a round trip)`,
    );
    for (const mode of ['in-process', 'processes'] as const) {
      progress(`${mode}: starting 3 nodes`);
      const points: PointRow[] = [];
      const problems: string[] = [];
      try {
        const run = mode === 'in-process' ? runInProcess : runProcesses;
        await run(join(dir, mode), plan, cleanup, (r) => {
          points.push({ mode, result: r });
          progress(`${mode}, ${r.clients} clients: ${Math.round(r.proposals / Math.max(r.seconds, 1e-9))} proposals/s, p50 ${round(r.p50Ms, 2)} ms, p99 ${round(r.p99Ms, 2)} ms`);
        }, problems);
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        progress(`${mode}: FAILED: ${message}`);
        notes.push(`${mode} FAILED: ${message.split('\n').slice(0, 20).join('\n    ')}`);
      }
      rows.push(...points.map((p) => tableRow(p.mode, p.result)));
      for (const p of points) if (p.result.firstError !== undefined) notes.push(`${mode}, ${p.result.clients} clients: first failed proposal: ${p.result.firstError}`);
      if (problems.length > 0) notes.push(`${mode}: nodes reported ${problems.length} warnings/errors, first: ${problems.slice(0, 3).join(' | ')}`);
    }
  } finally {
    cleanup.runAll();
    cleanup.uninstall();
  }
  notes.push(
    `method: ${VOTERS.length} voters, default core options (tickMs 100, election 10 ticks), closed-loop clients on the leader, ${PAYLOAD_BYTES}-byte commands; ` +
      `${plan.warmupMs / 1000} s warm-up then ${plan.durationMs / 1000} s measured per point, one cluster per mode for all points; ` +
      `latency = propose() until applied on the leader; entries/append and proposals/fsync are the leader's, in the window; ` +
      `RSS and heap: in-process = this whole process (3 nodes), processes = the leader's process; ` +
      `${availableParallelism()} CPUs, 1-minute load average ${round(loadAtStart, 2)} at the start and ${round(loadavg()[0] ?? 0, 2)} at the end (other work on the machine shows in the tails)`,
  );
  return {
    name: 'raft',
    title: `Raft, 3 voters with fsync: proposals of ${PAYLOAD_BYTES} bytes at ${CONCURRENCY.join(', ')} clients, ${plan.durationMs / 1000} s per point`,
    rows,
    notes,
  };
}

function tableRow(mode: Mode, r: LoadResult): Record<string, string | number> {
  const errors = Object.entries(r.errors).map(([code, n]) => `${code}:${n}`).join(' ');
  return {
    mode,
    clients: r.clients,
    proposals: r.proposals,
    'proposals/s': Math.round(r.proposals / Math.max(r.seconds, 1e-9)),
    'p50 ms': round(r.p50Ms, 2),
    'p99 ms': round(r.p99Ms, 2),
    'max ms': round(r.maxMs, 1),
    'entries/append': round(r.appendedEntries / Math.max(1, r.appendCalls), 1),
    'proposals/fsync': round(r.proposals / Math.max(1, r.syncs), 1),
    snapshots: r.snapshots,
    'snapshot ms': Math.round(r.snapshotMs),
    'RSS MiB': round(r.rssBytes / MIB, 1),
    'heap MiB': round(r.heapUsedBytes / MIB, 1),
    errors: errors === '' ? '-' : errors + (r.stuckClients > 0 ? ` stuck:${r.stuckClients}` : ''),
  };
}

function loadPlan(plan: Plan, clients: number): LoadPlan {
  return { clients, payloadBytes: PAYLOAD_BYTES, warmupMs: plan.warmupMs, durationMs: plan.durationMs, drainTimeoutMs: DRAIN_TIMEOUT_MS };
}

// --- in-process -------------------------------------------------------------------------------

async function runInProcess(dir: string, plan: Plan, _cleanup: CleanupStack, onPoint: (r: LoadResult) => void, problems: string[]): Promise<void> {
  const hub = new MemoryRpcHub();
  const transports = VOTERS.map(() => hub.listen());
  const addresses = new Map(VOTERS.map((id, i) => [id, transports[i]!.localAddress]));
  const nodes: BenchRaftNode[] = [];
  try {
    for (const [i, id] of VOTERS.entries()) {
      nodes.push(
        await BenchRaftNode.start({
          id,
          voters: VOTERS,
          dir: join(dir, id),
          rpc: transports[i]!,
          resolve: (peer: NodeId) => addresses.get(peer),
          seed: 1000 + i,
          onProblem: (line) => {
            if (problems.length < 100) problems.push(line);
          },
        }),
      );
    }
    const leaderId = await waitForLeader(async () => nodes.map((n) => statusOf(n)));
    const leader = nodes[VOTERS.indexOf(leaderId)]!;
    progress(`in-process: ${leaderId} leads`);
    for (const clients of CONCURRENCY) {
      if (leader.node.role !== 'leader') throw new Error(`${leaderId} lost leadership before the ${clients}-client point (leader now ${leader.node.leader ?? 'unknown'})`);
      onPoint(await runProposalLoad(leader, loadPlan(plan, clients)));
    }
  } finally {
    for (const n of nodes) await n.stop().catch((e: unknown) => problems.push(`stop: ${String(e)}`));
    for (const t of transports) await t.close();
  }
}

function statusOf(b: BenchRaftNode): NodeStatusReport {
  const s = b.node.status();
  return { role: s.role, leader: s.leader, term: s.term, commit: s.commit, applied: s.applied };
}

// --- processes --------------------------------------------------------------------------------

async function runProcesses(dir: string, plan: Plan, cleanup: CleanupStack, onPoint: (r: LoadResult) => void, problems: string[]): Promise<void> {
  const procs = VOTERS.map((id, i) => RaftProcess.start(cleanup, { id, voters: VOTERS, dir: join(dir, id), seed: 2000 + i }));
  try {
    const addresses = await Promise.all(procs.map((p) => p.address(SPAWN_TIMEOUT_MS)));
    const peers = Object.fromEntries(VOTERS.map((id, i) => [id, addresses[i]!]));
    progress(`processes: listening on ${addresses.join(', ')} (pids ${procs.map((p) => p.pid).join(', ')})`);
    await Promise.all(procs.map((p) => p.command({ type: 'start', peers }, SPAWN_TIMEOUT_MS)));
    const status = async (): Promise<NodeStatusReport[]> =>
      Promise.all(
        procs.map(async (p) => {
          const r = await p.command({ type: 'status' }, COMMAND_TIMEOUT_MS);
          if (r.type !== 'status') throw new Error(`raft node ${p.id} answered ${r.type} to status`);
          return r.status;
        }),
      );
    const leaderId = await waitForLeader(status);
    const leader = procs[VOTERS.indexOf(leaderId)]!;
    progress(`processes: ${leaderId} (pid ${leader.pid}) leads`);
    for (const clients of CONCURRENCY) {
      const lp = loadPlan(plan, clients);
      const r = await leader.command({ type: 'load', plan: lp }, lp.warmupMs + lp.durationMs + lp.drainTimeoutMs + COMMAND_TIMEOUT_MS);
      if (r.type !== 'load-result') throw new Error(`raft node ${leader.id} answered ${r.type} to load`);
      onPoint(r.result);
    }
  } finally {
    for (const p of procs) problems.push(...p.problems);
    await Promise.all(procs.map((p) => p.stop(5_000)));
  }
}

// --- shared -----------------------------------------------------------------------------------

/**
 * Polls until exactly one node leads, every node names it, and it has committed its whole log
 * (its term's first entry included: it is ready to serve). Throws after LEADER_TIMEOUT_MS.
 */
async function waitForLeader(poll: () => Promise<NodeStatusReport[]>): Promise<string> {
  const deadline = performance.now() + LEADER_TIMEOUT_MS;
  let last = 'no status yet';
  while (performance.now() < deadline) {
    const all = await poll();
    const leaders = all.map((s, i) => (s.role === 'leader' ? VOTERS[i]! : undefined)).filter((x) => x !== undefined);
    const leader = leaders[0];
    if (leaders.length === 1 && leader !== undefined && all.every((s) => s.leader === leader)) {
      const ls = all[VOTERS.indexOf(leader)]!;
      if (ls.commit === ls.applied && all.every((s) => s.applied === ls.commit)) return leader;
    }
    last = all.map((s, i) => `${VOTERS[i]}: ${s.role} term ${s.term} leader ${s.leader ?? '-'} commit ${s.commit} applied ${s.applied}`).join('; ');
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  throw new Error(`no leader within ${LEADER_TIMEOUT_MS} ms (${last})`);
}

/** fdatasync-per-append rate of the WAL alone, the disk's floor for one client. */
async function walFsyncCeiling(dir: string, durationMs: number): Promise<{ perSecond: number; p50Ms: number }> {
  const fs = new CountingFileSystem(new NodeFileSystem());
  const opened = await Wal.open(fs, dir);
  if (!opened.ok) throw opened.error;
  const wal = opened.value.wal;
  const payload = new Uint8Array(PAYLOAD_BYTES).fill(0x5a);
  const latencies: number[] = [];
  const start = performance.now();
  while (performance.now() - start < durationMs) {
    const t = performance.now();
    await wal.append([payload]);
    latencies.push(performance.now() - t);
  }
  const seconds = (performance.now() - start) / 1000;
  await wal.close();
  latencies.sort((a, b) => a - b);
  return { perSecond: latencies.length / seconds, p50Ms: percentile(latencies, 0.5) };
}

/** os.tmpdir() unless it is a tmpfs (where fsync costs nothing); then /var/tmp, then the repo. */
async function benchDir(repoRoot: string): Promise<{ dir: string; where: string }> {
  const candidates: Array<{ base: string; label: string }> = [
    { base: tmpdir(), label: 'os.tmpdir()' },
    { base: '/var/tmp', label: '/var/tmp' },
    { base: join(repoRoot, 'bench'), label: 'in the repo' },
  ];
  for (const c of candidates) {
    const stats = await statfs(c.base).catch(() => undefined);
    if (stats === undefined || stats.type === TMPFS_MAGIC) continue;
    const dir = await mkdtemp(join(c.base, c.label === 'in the repo' ? '.tmp-raft-' : 'sappers-bench-raft-'));
    return { dir, where: `${dir} (${c.label}, not tmpfs; filesystem type 0x${stats.type.toString(16)})` };
  }
  throw new Error('no directory off tmpfs found for the benchmark (fsync would cost nothing there)');
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
