// End to end workloads (issue 6's benchmark): time from `job run` of COUNT instances of a
// trivial process on a 3-node local cluster until every one runs, then from `job stop` until
// every one has stopped. Real agents (the .ts sources, secure as in production: a cluster key,
// mutual TLS between nodes and a management token) on 127.0.0.1 with the local gossip preset,
// and real processes: each instance is `sleep 100000` under the process driver's /bin/sh
// wrapper, in its own process group and cgroups where the host has them.
//
// What is measured, from the moment jobRun() returns:
//   all placed   the leader's state holds COUNT allocations wanted to run (GET /v1/jobs counts)
//   all running  every one is reported running by its node (batched alloc.update through Raft)
//   all stopped  after jobStop(), every one is reported complete
// Polled every POLL_MS on the leader with ?stale (its applied state, no ReadIndex round per
// poll) through GET /v1/jobs, whose instance counts cost one small answer; GET /v1/allocs?job=
// lists every allocation (its cost is measured once and reported). The same instants are also
// read off the state's own clocks (allocation createdAtMs / modifiedAtMs, wall-clock ms on the
// same host), which the 100 ms polling cannot resolve. Also reported: the Raft commit index
// delta (entries it took), each agent's resident memory (VmRSS) and CPU time (utime + stime,
// and the reaped children's cutime + cstime), and the task processes themselves.
//
// Capacity: by default a node offers cores x 1000 millicores, and the job file's least cpu is
// 10 millicores. Three agents on a 2-core host offer 6000, room for 600 such instances; for
// more, each agent is started with --offer-cpu-millis (an operator's overcommit), and the notes
// say so.
//
// Cleanup, also on failure and on Ctrl-C: the agents are SIGKILLed, then this run's task
// processes (found by their working directory under the run's temp dir) and their cgroups
// (found by allocation ID) are removed, then the temp dir.
//
// No threshold is asserted: the machine is shared and noisy; the figures are reported. Nomad's
// C1M is a published reference line only (different workload, hardware, five servers).
//   npm run bench -- workloads [--quick]            (--quick: 100 instances)
//   node bench/workloads.bench.ts [--quick] [--count N]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmdirSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { SappersClient } from '../src/client/client.ts';
import type { JobSpec } from '../src/core/scheduler/job.ts';
import type { JobListEntry } from '../src/api/jobs.ts';
import { MAX_PLAN_ITEMS } from '../src/core/fsm/allocs.ts';
import { MIN_CPU_MILLIS } from '../src/wire/job.ts';
import { parseJobFile } from '../src/wire/job-file.ts';
import { parseCgroupMounts, parseSelfCgroup, planCgroups } from '../src/drivers/process/cgroups.ts';
import { clockTicksPerSecond, readCpuTicks, readRssBytes, type CpuTicks } from './lib/child.ts';
import { CleanupStack } from './lib/cleanup.ts';
import { sleep } from './lib/clusters.ts';
import { startSappersAgent, waitSappersFormed, writeSappersSecrets, type SappersAgent } from './lib/sappers-agents.ts';
import type { BenchContext, BenchReport } from './run.ts';

const NODES = 3;
const FULL_COUNT = 1_000;
const QUICK_COUNT = 100;
const MAX_COUNT = 10_000;
const JOB_NAME = 'bench-sleep';
const SLEEP_SECONDS = '100000';
/** The least the job file allows (src/wire/job.ts MIN_CPU_MILLIS); 1 millicore, as first asked, is refused. */
const CPU_MILLIS = MIN_CPU_MILLIS;
const MEMORY_MB = 1;
const POLL_MS = 100;
/** A new leader plans only after this long (src/agent/scheduler-runner.ts SETTLE_MS is 2000). */
const LEADER_SETTLE_MS = 2_500;
/** Headroom over the cores the instances need, so the last placements are not squeezed. */
const CAPACITY_HEADROOM = 1.2;
/** HashiCorp's C1M (2016): a million containers over 5,000 hosts, about 3,750 placements/s across five Nomad servers. */
const NOMAD_C1M_PER_SECOND = 3_750;

// Deadlines that only guard against hangs; the figures are whatever the run measures.
const AGENT_START_MS = 30_000;
const FORM_MS = 60_000;
const PLAN_READY_MS = 30_000;
const CLIENT_TIMEOUT_MS = 60_000;
const RUN_DEADLINE_PER_INSTANCE_MS = 300;
const STOP_DEADLINE_PER_INSTANCE_MS = 200;
const MIN_PHASE_DEADLINE_MS = 60_000;
const LEFTOVER_WAIT_MS = 5_000;
const AGENT_STOP_MS = 10_000;
/** The driver's default cgroup subtree name (ProcessDriverOptions.cgroupParentName). */
const CGROUP_PARENT_NAME = 'sappers';
/** Killed tasks must be reaped (by init, once their agent is gone) before their cgroup can go: up to 5 s. */
const CGROUP_REMOVE_ATTEMPTS = 100;
const CGROUP_REMOVE_WAIT_MS = 50;
const MIB = 1024 * 1024;

type Agent = SappersAgent;


interface Sample {
  readonly rssBytes: number | undefined;
  readonly cpu: CpuTicks | undefined;
}

interface TaskProcesses {
  readonly wrappers: number;
  readonly sleeps: number;
  /** Summed VmRSS: counts shared pages (libc, the shell) once per process. */
  readonly rssBytes: number;
  /** Summed Pss (shared pages divided among their users): what the tasks really take together. */
  readonly pssBytes: number;
}

/** The job, written as an operator would, through the job file parser. */
export function benchJobSpec(count: number): JobSpec {
  const text = [
    `job: ${JOB_NAME}`,
    'type: service',
    `count: ${count}`,
    'driver: process',
    'config:',
    '  command: sleep',
    `  args: ["${SLEEP_SECONDS}"]`,
    'resources:',
    `  cpu: ${CPU_MILLIS}`,
    `  memoryMB: ${MEMORY_MB}`,
  ].join('\n');
  const parsed = parseJobFile(`${JOB_NAME}.yaml`, text);
  if (!parsed.ok) throw new Error(parsed.error.map((e) => `${e.source}: ${e.field}: ${e.message}`).join('\n'));
  return parsed.value;
}

/** Cores each agent must offer for COUNT instances (undefined: the host's own are enough). */
function coresNeeded(count: number): number | undefined {
  const cores = Math.ceil((count * CPU_MILLIS * CAPACITY_HEADROOM) / NODES / 1000);
  return cores > availableParallelism() ? cores : undefined;
}



function sampleAgent(a: Agent): Sample {
  return { rssBytes: readRssBytes(a.child.pid), cpu: readCpuTicks(a.child.pid) };
}

/**
 * This run's task processes (wrappers and sleeps): those whose working directory is under ROOT,
 * the allocations' work directories. Other helpers' `sleep`s on a shared host are not ours.
 */
function ourTaskPids(root: string): Array<{ pid: number; kind: 'wrapper' | 'sleep' | 'other' }> {
  const out: Array<{ pid: number; kind: 'wrapper' | 'sleep' | 'other' }> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    let cwd: string;
    let argv: string[];
    try {
      cwd = readlinkSync(`/proc/${pid}/cwd`);
      argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // gone meanwhile, or not ours to read
    }
    if (!cwd.startsWith(`${root}/`)) continue;
    // The wrapper is `/bin/sh -c SCRIPT sappers-task EXIT_FILE ...` (src/drivers/process/wrapper.ts).
    const kind = argv[3] === 'sappers-task' ? 'wrapper' : /(^|\/)sleep$/.test(argv[0] ?? '') && argv[1] === SLEEP_SECONDS ? 'sleep' : 'other';
    out.push({ pid, kind });
  }
  return out;
}

/** Pss from /proc/PID/smaps_rollup (Linux >= 4.14), in bytes. */
function readPssBytes(pid: number): number | undefined {
  try {
    const match = /^Pss:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return match === null ? undefined : Number(match[1]) * 1024;
  } catch {
    return undefined;
  }
}

function taskProcesses(root: string): TaskProcesses {
  let wrappers = 0;
  let sleeps = 0;
  let rssBytes = 0;
  let pssBytes = 0;
  for (const p of ourTaskPids(root)) {
    if (p.kind === 'wrapper') wrappers += 1;
    else if (p.kind === 'sleep') sleeps += 1;
    rssBytes += readRssBytes(p.pid) ?? 0;
    pssBytes += readPssBytes(p.pid) ?? 0;
  }
  return { wrappers, sleeps, rssBytes, pssBytes };
}

/** SIGKILLs every task process of this run (and its group); returns how many were found. */
function killTasks(root: string): number {
  const found = ourTaskPids(root);
  for (const { pid } of found) {
    for (const target of [-pid, pid]) {
      try {
        process.kill(target, 'SIGKILL');
      } catch {
        // Already gone, or not a group leader.
      }
    }
  }
  return found.length;
}

/**
 * The directories the agents' process driver makes task cgroups in (planned as the driver does,
 * src/drivers/process/cgroups.ts; the agents inherit this process's cgroups), [] without any.
 */
function taskCgroupParents(): string[] {
  try {
    const mounts = parseCgroupMounts(readFileSync('/proc/self/mountinfo', 'utf8'));
    const unified = mounts.find((m) => m.fstype === 'cgroup2');
    let v2Controllers = '';
    try {
      if (unified !== undefined) v2Controllers = readFileSync(`${unified.mountPoint}/cgroup.controllers`, 'utf8');
    } catch {
      v2Controllers = '';
    }
    const plan = planCgroups(mounts, parseSelfCgroup(readFileSync('/proc/self/cgroup', 'utf8')), v2Controllers, CGROUP_PARENT_NAME);
    return plan.version === 'none' ? [] : plan.parents.map((p) => p.dir);
  } catch {
    return [];
  }
}

/**
 * Task cgroups of this run's allocations (named <allocId>.<runId>) that their driver did not
 * remove, because their agent was killed first (before the task ended, or even before it wrote
 * driver/task.json): removed once their killed processes are gone. Bounded waits (Atomics.wait:
 * cleanup runs synchronously, even from a signal handler).
 */
function removeTaskCgroups(root: string, parents: readonly string[]): number {
  const ours = new Set<string>();
  for (const node of readdirSafe(root)) for (const alloc of readdirSafe(join(root, node, 'allocs'))) ours.add(alloc);
  if (ours.size === 0) return 0;
  const dirs = parents.flatMap((parent) => readdirSafe(parent).filter((name) => ours.has(name.split('.')[0]!)).map((name) => join(parent, name)));
  let left = dirs;
  for (let attempt = 0; attempt < CGROUP_REMOVE_ATTEMPTS && left.length > 0; attempt++) {
    if (attempt > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, CGROUP_REMOVE_WAIT_MS);
    left = left.filter((dir) => {
      try {
        rmdirSync(dir);
        return false;
      } catch (e) {
        return (e as NodeJS.ErrnoException).code !== 'ENOENT';
      }
    });
  }
  if (left.length > 0) process.stderr.write(`workloads bench: ${left.length} task cgroup(s) still busy, left in place, e.g. ${left[0]}\n`);
  return dirs.length - left.length;
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** `pgrep -fc 'sleep 100000'`: every such process on the host, ours or not (another run's). */
function pgrepCount(): number {
  try {
    return Number(execFileSync('pgrep', ['-fc', `sleep ${SLEEP_SECONDS}`], { encoding: 'utf8', timeout: 5_000 }).trim());
  } catch (e) {
    // pgrep exits 1 when nothing matches.
    return (e as { status?: number }).status === 1 ? 0 : Number.NaN;
  }
}

/** Waits until a dry run places every instance over all three nodes (the leader's gossip knows them all). */
async function placeable(leader: Agent, spec: JobSpec): Promise<void> {
  const deadline = performance.now() + PLAN_READY_MS;
  let last = '';
  while (performance.now() < deadline) {
    const plan = await leader.client.jobPlan(spec);
    const nodes = new Set(plan.place.map((p) => p.node));
    // One plan holds at most MAX_PLAN_ITEMS placements (the scheduler plans the rest next round).
    if (plan.place.length === Math.min(spec.count, MAX_PLAN_ITEMS) && nodes.size === Math.min(NODES, spec.count) && plan.blocked === null && plan.paused === null) return;
    last = `${plan.place.length} of ${spec.count} placeable on ${nodes.size} node(s)${plan.blocked === null ? '' : `; blocked: ${plan.blocked.summary}`}${plan.paused === null ? '' : `; paused: ${plan.paused}`}`;
    await sleep(500);
  }
  throw new Error(`the scheduler cannot place the job: ${last}`);
}

interface Progress {
  firstPlacedMs?: number;
  allPlacedMs?: number;
  firstRunningMs?: number;
  allRunningMs?: number;
  failed: number;
  polls: number[];
}

/** Polls the leader's job counts until DONE says so; times are ms after START. */
async function follow(leader: Agent, agents: readonly Agent[], start: number, deadlineMs: number, step: (entry: JobListEntry | undefined, atMs: number) => boolean): Promise<number[]> {
  const pollsMs: number[] = [];
  const deadline = start + deadlineMs;
  for (;;) {
    const t = performance.now();
    const list = await leader.client.jobs({ stale: true });
    const now = performance.now();
    pollsMs.push(now - t);
    if (step(list.find((j) => j.name === JOB_NAME), now - start)) return pollsMs;
    if (now > deadline) throw new Error(`not done within ${Math.round(deadlineMs / 1000)} s`);
    for (const a of agents) if (!a.child.running) throw new Error(`agent ${a.name} exited (${a.child.exitReason ?? '?'}):\n${a.child.outputTail.trim()}`);
    await sleep(Math.max(0, POLL_MS - (performance.now() - t)));
  }
}

function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

const ms = (v: number | undefined): number | string => (v === undefined || !Number.isFinite(v) ? '-' : Math.round(v));
const mb = (bytes: number | undefined): string => (bytes === undefined ? '-' : (bytes / MIB).toFixed(1));
const perSecond = (n: number, elapsedMs: number | undefined): number | string => (elapsedMs === undefined || elapsedMs <= 0 ? '-' : Math.round((n / elapsedMs) * 1000));

export async function runWorkloadsBench(ctx: BenchContext, countOverride?: number): Promise<BenchReport> {
  const count = countOverride ?? (ctx.quick ? QUICK_COUNT : FULL_COUNT);
  if (!Number.isInteger(count) || count < 1 || count > MAX_COUNT) throw new Error(`count must be 1-${MAX_COUNT}, got ${count}`);
  const spec = benchJobSpec(count);
  const cores = coresNeeded(count);
  const ticksPerSecond = clockTicksPerSecond();
  const cpuSeconds = (a: CpuTicks | undefined, b: CpuTicks | undefined, key: keyof CpuTicks): number | string => {
    const seconds = a === undefined || b === undefined ? Number.NaN : (b[key] - a[key]) / ticksPerSecond;
    return Number.isFinite(seconds) ? Math.round(seconds * 100) / 100 : '-';
  };
  const pgrepBefore = pgrepCount();

  const cleanup = new CleanupStack();
  cleanup.install();
  const root = mkdtempSync(join(tmpdir(), 'sappers-bench-workloads-'));
  const cgroupParents = taskCgroupParents();
  // Undone newest first: the agents (so nothing restarts a task), then the tasks, then the files.
  cleanup.add(`temp dir ${root}`, () => rmSync(root, { recursive: true, force: true }));
  cleanup.add(`task processes under ${root}`, () => {
    const killed = killTasks(root);
    if (killed > 0) process.stderr.write(`workloads bench: killed ${killed} leftover task process(es)\n`);
    const removed = removeTaskCgroups(root, cgroupParents);
    if (removed > 0) process.stderr.write(`workloads bench: removed ${removed} leftover task cgroup(s)\n`);
  });
  const rows: Array<Record<string, string | number>> = [];
  const notes: string[] = [];
  try {
    const secrets = writeSappersSecrets(join(root, 'secrets'));
    const startAgent = (name: string, joinGossipPort: number | undefined): Promise<Agent> =>
      startSappersAgent({
        cleanup,
        name,
        dataDir: join(root, name),
        secrets,
        ...(joinGossipPort === undefined ? {} : { joinGossipPort }),
        extraArgs: cores === undefined ? [] : ['--offer-cpu-millis', String(cores * 1000)],
        startTimeoutMs: AGENT_START_MS,
        clientTimeoutMs: CLIENT_TIMEOUT_MS,
      });

    const formStart = performance.now();
    const seed = await startAgent('node-1', undefined);
    const others = await Promise.all(Array.from({ length: NODES - 1 }, (_, i) => startAgent(`node-${i + 2}`, seed.ports.gossip)));
    const agents = [seed, ...others];
    const leader = await waitSappersFormed(agents, NODES, FORM_MS);
    const formedMs = performance.now() - formStart;
    await placeable(leader, spec);
    await sleep(LEADER_SETTLE_MS);
    const status = await leader.client.status();
    const driver = status.drivers['process'];

    // --- run -----------------------------------------------------------------------------
    const loadBefore = loadavg()[0] ?? Number.NaN;
    const before = agents.map(sampleAgent);
    const indexBefore = status.commitIndex;
    const callStart = performance.now();
    const run = await leader.client.jobRun(spec);
    const start = performance.now();
    const startWallMs = Date.now();
    const jobRunMs = start - callStart;
    if (!run.changed) throw new Error(`job ${JOB_NAME} was already registered: not a fresh run`);
    const p: Progress = { failed: 0, polls: [] };
    p.polls = await follow(leader, agents, start, Math.max(MIN_PHASE_DEADLINE_MS, count * RUN_DEADLINE_PER_INSTANCE_MS), (entry, at) => {
      const c = entry?.instances;
      if (c === undefined) return false;
      if (c.placed > 0) p.firstPlacedMs ??= at;
      if (c.placed >= count) p.allPlacedMs ??= at;
      if (c.running > 0) p.firstRunningMs ??= at;
      p.failed = Math.max(p.failed, c.failed);
      if (c.running >= count) p.allRunningMs = at;
      return c.running >= count;
    });
    const afterRun = agents.map(sampleAgent);
    const statusRunning = await leader.client.status();
    const indexRunning = statusRunning.commitIndex;
    const tasks = taskProcesses(root);

    // The full listing, once: what a poll through it would cost, and the state's own clocks.
    const listMs: number[] = [];
    let listBytes = 0;
    let allocs: Awaited<ReturnType<SappersClient['allocs']>> = [];
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      allocs = await leader.client.allocs({ job: JOB_NAME, stale: true });
      listMs.push(performance.now() - t);
    }
    listBytes = Buffer.byteLength(JSON.stringify(allocs));
    const live = allocs.filter((a) => a.desired === 'run' && a.client === 'running');
    const statePlacedMs = Math.max(...live.map((a) => a.createdAtMs)) - startWallMs;
    const stateRunningMs = Math.max(...live.map((a) => a.modifiedAtMs)) - startWallMs;
    const stateFirstRunningMs = Math.min(...live.map((a) => a.modifiedAtMs)) - startWallMs;
    const perNode = new Map<string, number>();
    for (const a of live) perNode.set(a.node, (perNode.get(a.node) ?? 0) + 1);

    // --- stop ----------------------------------------------------------------------------
    const stopCallStart = performance.now();
    await leader.client.jobStop(JOB_NAME);
    const stopStart = performance.now();
    const stopWallMs = Date.now();
    let allStoppedMs: number | undefined;
    const stopPolls = await follow(leader, agents, stopStart, Math.max(MIN_PHASE_DEADLINE_MS, count * STOP_DEADLINE_PER_INSTANCE_MS), (entry, at) => {
      const c = entry?.instances;
      const done = c === undefined || (c.placed === 0 && c.stopping === 0);
      if (done) allStoppedMs = at;
      return done;
    });
    const afterStop = agents.map(sampleAgent);
    const statusStopped = await leader.client.status();
    const indexStopped = statusStopped.commitIndex;
    const stoppedAllocs = await leader.client.allocs({ job: JOB_NAME, stale: true });
    const stateStoppedMs = Math.max(...stoppedAllocs.map((a) => a.modifiedAtMs)) - stopWallMs;
    let leftovers = ourTaskPids(root).length;
    const leftoverDeadline = performance.now() + LEFTOVER_WAIT_MS;
    while (leftovers > 0 && performance.now() < leftoverDeadline) {
      await sleep(200);
      leftovers = ourTaskPids(root).length;
    }
    const pgrepAfter = pgrepCount();

    // --- report --------------------------------------------------------------------------
    /** The three agents' own CPU seconds between two samplings. */
    const clusterCpu = (a: readonly Sample[], b: readonly Sample[]): number | string => {
      const total = (samples: readonly Sample[]): CpuTicks => ({ self: samples.reduce((n, x) => n + (x.cpu?.self ?? Number.NaN), 0), children: 0 });
      return cpuSeconds(total(a), total(b), 'self');
    };
    rows.push(
      {
        phase: 'job run (the call)',
        instances: count,
        'ms (polled)': ms(jobRunMs),
        'ms (state clocks)': '-',
        'instances/s (polled)': '-',
        'instances/s (state clocks)': '-',
        'raft entries': '-',
        'agents CPU s': '-',
      },
      {
        phase: 'all placed',
        instances: count,
        'ms (polled)': ms(p.allPlacedMs),
        'ms (state clocks)': ms(statePlacedMs),
        'instances/s (polled)': perSecond(count, p.allPlacedMs),
        'instances/s (state clocks)': perSecond(count, statePlacedMs),
        'raft entries': '-',
        'agents CPU s': '-',
      },
      {
        phase: 'all running',
        instances: count,
        'ms (polled)': ms(p.allRunningMs),
        'ms (state clocks)': ms(stateRunningMs),
        'instances/s (polled)': perSecond(count, p.allRunningMs),
        'instances/s (state clocks)': perSecond(count, stateRunningMs),
        'raft entries': indexRunning - indexBefore,
        'agents CPU s': clusterCpu(before, afterRun),
      },
      {
        phase: 'all stopped (after job stop)',
        instances: count,
        'ms (polled)': ms(allStoppedMs),
        'ms (state clocks)': ms(stateStoppedMs),
        'instances/s (polled)': perSecond(count, allStoppedMs),
        'instances/s (state clocks)': perSecond(count, stateStoppedMs),
        'raft entries': indexStopped - indexRunning,
        'agents CPU s': clusterCpu(afterRun, afterStop),
      },
    );
    notes.push(
      `${NODES} agents on 127.0.0.1 (.ts sources, secure: cluster key, mutual TLS, management token; --gossip-preset local); formed with ${NODES} voters in ${ms(formedMs)} ms; leader ${leader.name}; node ${process.version}, ${availableParallelism()} cores on the host, 1-minute load average ${loadBefore.toFixed(1)} before the job ran (a shared machine: other work competes)`,
      `job: type service, count ${count}, driver process, command "sleep ${SLEEP_SECONDS}", cpu ${CPU_MILLIS} millicores (the job file's least), memoryMB ${MEMORY_MB}, no ports, no checks; process driver limits: ${driver === undefined ? 'unknown' : `${driver.resourceLimits} (${driver.detail})`}`,
      cores === undefined
        ? `capacity: each agent offers its host's ${availableParallelism()} cores`
        : `capacity: each agent offers ${cores} cores (--offer-cpu-millis ${cores * 1000}; the host has ${availableParallelism()}), since ${count} x ${CPU_MILLIS} millicores exceeds ${NODES} x ${availableParallelism()} cores`,
      `times are ms after jobRun() returned (job stop: after jobStop() returned; that call took ${ms(stopStart - stopCallStart)} ms); polled: GET /v1/jobs?stale on the leader every ${POLL_MS} ms (${p.polls.length + stopPolls.length} polls, median ${ms(percentile([...p.polls, ...stopPolls], 50))} ms, p95 ${ms(percentile([...p.polls, ...stopPolls], 95))} ms, max ${ms(Math.max(...p.polls, ...stopPolls))} ms); state clocks: the latest allocation createdAtMs (placed) / modifiedAtMs (running, complete) less the wall time at return`,
      `first placed after ${ms(p.firstPlacedMs)} ms (polled), first running after ${ms(p.firstRunningMs)} ms (polled) / ${ms(stateFirstRunningMs)} ms (state clocks); placed per node: ${[...perNode.entries()].sort().map(([n, c]) => `${n} ${c}`).join(', ')}; failed while starting: ${p.failed}`,
      `GET /v1/allocs?job=${JOB_NAME}&stale with ${allocs.length} allocations: ${Math.round(listBytes / 1024)} KiB of JSON, ${listMs.map((v) => Math.round(v)).join(' / ')} ms (3 calls): the API has a cheaper count in GET /v1/jobs (instances: placed, running, ...), used for polling here`,
      `raft commit index: ${indexBefore} before, ${indexRunning} all running (+${indexRunning - indexBefore}), ${indexStopped} all stopped (+${indexStopped - indexRunning}); term ${status.term} -> ${statusRunning.term} -> ${statusStopped.term}, leader ${statusStopped.leader ?? 'none'} at the end${statusStopped.term === status.term ? '' : ' (AN ELECTION HAPPENED DURING THE RUN)'}`,
      ...agents.map((a, i) => {
        const b = before[i]!;
        const r = afterRun[i]!;
        const s = afterStop[i]!;
        return `agent ${a.name}${a === leader ? ' (leader)' : ''}: ${perNode.get(a.name) ?? 0} instances; RSS ${mb(b.rssBytes)} -> ${mb(r.rssBytes)} (running) -> ${mb(s.rssBytes)} MiB (stopped); CPU ${cpuSeconds(b.cpu, r.cpu, 'self')} s to run, ${cpuSeconds(r.cpu, s.cpu, 'self')} s to stop; reaped tasks' CPU ${cpuSeconds(b.cpu, s.cpu, 'children')} s`;
      }),
      `task processes while running: ${tasks.wrappers} /bin/sh wrappers + ${tasks.sleeps} sleeps, ${mb(tasks.rssBytes)} MiB summed VmRSS, ${mb(tasks.pssBytes)} MiB summed Pss (shared pages divided among their users)`,
      `after stop: ${leftovers} task process(es) of this run left${leftovers > 0 ? ' (killed in cleanup)' : ''}; pgrep -fc 'sleep ${SLEEP_SECONDS}' on the host: ${pgrepBefore} before the run, ${pgrepAfter} after (counts wrappers too, and other runs')`,
      `Nomad C1M reference: ~${NOMAD_C1M_PER_SECOND} placements/s across five servers, HashiCorp's published figure (2016); not measured here, not the same workload or hardware`,
    );
    await Promise.all(agents.map((a) => (a.child.kill('SIGTERM'), a.child.waitExit(AGENT_STOP_MS))));
  } finally {
    cleanup.runAll();
    cleanup.uninstall();
  }
  return {
    name: 'workloads',
    title: `Workloads end to end: job run of ${count} x "sleep ${SLEEP_SECONDS}" on a ${NODES}-node local cluster until all run, then job stop`,
    rows,
    notes,
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  // Standalone (run.ts is not imported: importing it runs every registered benchmark).
  const at = process.argv.indexOf('--count');
  const count = at >= 0 ? Number(process.argv[at + 1]) : undefined;
  const report = await runWorkloadsBench({ quick: process.argv.includes('--quick'), repoRoot: '' }, count);
  process.stdout.write(`${report.title}\n`);
  for (const row of report.rows) process.stdout.write(`  ${Object.entries(row).map(([k, v]) => `${k}=${v}`).join('  ')}\n`);
  process.stdout.write(`  ${report.notes.join('\n  ')}\n`);
}
