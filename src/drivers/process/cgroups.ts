// CPU and memory limits for process tasks through Linux control groups, v1 or v2.
//
// Where task cgroups live:
// - v2 (one unified tree, /sys/fs/cgroup/cgroup.controllers lists the controllers): under
//   <mount>/<parentName> (default /sys/fs/cgroup/sappers), a sibling tree of the agent's own
//   cgroup. v2 forbids processes in a cgroup whose children have controllers enabled (the "no
//   internal processes" rule, Documentation/admin-guide/cgroup-v2.rst), so tasks cannot nest
//   under the agent's own cgroup, which holds the agent. The driver enables +cpu +memory in the
//   root's and the parent's cgroup.subtree_control.
// - v1 (one tree per controller, /sys/fs/cgroup/{cpu,memory}): under the agent's OWN cgroup in
//   each hierarchy, <mount>/<agent's path>/<parentName>. v1 allows processes at every level, and
//   nesting keeps whatever limit the host put on the agent (a systemd slice, a container) above
//   its tasks too.
// A task gets <parent>/<allocId> in each hierarchy. The task joins it before it execs the
// command (the wrapper writes its own pid to cgroup.procs), so even its first instruction is
// accounted. After the task ends, stragglers are killed and the cgroup removed.
//
// Limits: cpu is a hard CFS quota, cpuMillis/1000 of a core per 100 ms period (v2 cpu.max, v1
// cpu.cfs_quota_us / cpu.cfs_period_us). Memory is a hard limit on memory without swap
// (v2 memory.max with memory.swap.max = 0; v1 memory.limit_in_bytes and, where swap
// accounting exists, memory.memsw.limit_in_bytes), with memory.oom.group = 1 on v2 so an OOM
// kill takes the whole task rather than leaving it half alive. OOM kills are counted by the
// kernel (v2 memory.events oom_kill; v1 memory.oom_control oom_kill, Linux >= 4.13).
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { readFile, rmdir, writeFile, mkdir } from 'node:fs/promises';
import type { Clock } from '../../runtime/clock.ts';
import { describe, errnoOf } from '../logs.ts';

export type CgroupController = 'unified' | 'cpu' | 'memory';

export interface CgroupDir {
  readonly controller: CgroupController;
  readonly dir: string;
}

export interface CgroupMount {
  readonly mountPoint: string;
  /** The mount's root inside the hierarchy ('/' unless a container bind-mounted a subtree). */
  readonly root: string;
  readonly fstype: 'cgroup' | 'cgroup2';
  /** v1 controllers bound to the hierarchy (from the super options). */
  readonly controllers: readonly string[];
}

export type CgroupSetup =
  | { readonly version: 'none'; readonly detail: string; readonly mounts: readonly CgroupMount[] }
  | { readonly version: 'v1' | 'v2'; readonly detail: string; readonly parents: readonly CgroupDir[]; readonly mounts: readonly CgroupMount[] };

/** Parses /proc/self/mountinfo (proc(5)) into the cgroup mounts. */
export function parseCgroupMounts(mountinfo: string): CgroupMount[] {
  const out: CgroupMount[] = [];
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    const fstype = right[0];
    const root = left[3];
    const mountPoint = left[4];
    if ((fstype !== 'cgroup' && fstype !== 'cgroup2') || root === undefined || mountPoint === undefined) continue;
    const superOptions = (right[2] ?? '').split(',');
    out.push({ mountPoint: unescapeMount(mountPoint), root: unescapeMount(root), fstype, controllers: fstype === 'cgroup' ? superOptions.filter((o) => o === 'cpu' || o === 'memory') : [] });
  }
  return out;
}

/** mountinfo escapes space, tab, newline and backslash as octal (\040 ...). */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Parses /proc/self/cgroup: v1 controller (and '' for the v2 line) -> the process's cgroup path. */
export function parseSelfCgroup(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const a = line.indexOf(':');
    const b = line.indexOf(':', a + 1);
    if (a < 0 || b < 0) continue;
    const path = line.slice(b + 1);
    const controllers = line.slice(a + 1, b);
    if (controllers === '') out.set('', path);
    else for (const c of controllers.split(',')) out.set(c, path);
  }
  return out;
}

/** The directory of `cgroupPath` under a mount whose root is `mount.root`. */
function dirOf(mount: CgroupMount, cgroupPath: string): string {
  let rel = cgroupPath;
  if (mount.root !== '/') rel = cgroupPath === mount.root || cgroupPath.startsWith(`${mount.root}/`) ? cgroupPath.slice(mount.root.length) : '/';
  return rel === '/' || rel === '' ? mount.mountPoint : `${mount.mountPoint}${rel}`;
}

/**
 * Where task cgroups would go on a host with these mounts (pure; see the file comment).
 * `v2Controllers` is the content of the v2 mount's cgroup.controllers.
 */
export function planCgroups(mounts: readonly CgroupMount[], self: ReadonlyMap<string, string>, v2Controllers: string, parentName: string): CgroupSetup {
  const v1 = (['memory', 'cpu'] as const).flatMap((c) => {
    const m = mounts.find((x) => x.fstype === 'cgroup' && x.controllers.includes(c));
    return m === undefined ? [] : [{ controller: c, dir: `${dirOf(m, self.get(c) ?? '/')}/${parentName}` }];
  });
  if (v1.length > 0) {
    const missing = v1.length === 1 ? `; no ${v1[0]!.controller === 'cpu' ? 'memory' : 'cpu'} hierarchy, so that limit is not enforced` : '';
    return { version: 'v1', detail: `cgroup v1 (${v1.map((p) => `${p.controller} at ${p.dir}`).join(', ')})${missing}`, parents: v1, mounts };
  }
  const unified = mounts.find((x) => x.fstype === 'cgroup2');
  if (unified === undefined) return { version: 'none', detail: 'no cgroup file system is mounted', mounts };
  const available = v2Controllers.trim().split(/\s+/);
  if (!available.includes('memory') || !available.includes('cpu')) {
    return { version: 'none', detail: `cgroup v2 at ${unified.mountPoint} lacks the ${available.includes('memory') ? 'cpu' : 'memory'} controller (cgroup.controllers: "${v2Controllers.trim()}")`, mounts };
  }
  const dir = `${unified.mountPoint}/${parentName}`;
  return { version: 'v2', detail: `cgroup v2 at ${dir}`, parents: [{ controller: 'unified', dir }], mounts };
}

export interface DetectOptions {
  readonly parentName: string;
}

/**
 * Finds the host's cgroups and prepares the parent directories (creates them, enables the v2
 * controllers), synchronously, once per driver. Anything that fails (not root, read-only
 * mount, controllers taken) means no limits, with the reason in `detail`.
 */
export function detectCgroups(options: DetectOptions): CgroupSetup {
  let mountinfo: string;
  let self: string;
  try {
    mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
    self = readFileSync('/proc/self/cgroup', 'utf8');
  } catch (e) {
    return { version: 'none', detail: `cannot read /proc (${describe(e)})`, mounts: [] };
  }
  const mounts = parseCgroupMounts(mountinfo);
  const unified = mounts.find((m) => m.fstype === 'cgroup2');
  let v2Controllers = '';
  if (unified !== undefined) {
    try {
      v2Controllers = readFileSync(`${unified.mountPoint}/cgroup.controllers`, 'utf8');
    } catch {
      v2Controllers = '';
    }
  }
  const plan = planCgroups(mounts, parseSelfCgroup(self), v2Controllers, options.parentName);
  if (plan.version === 'none') return plan;
  try {
    if (plan.version === 'v2') {
      const root = unified!.mountPoint;
      enableControllers(`${root}/cgroup.subtree_control`);
      mkdirSync(plan.parents[0]!.dir, { recursive: true });
      enableControllers(`${plan.parents[0]!.dir}/cgroup.subtree_control`);
    } else {
      for (const p of plan.parents) mkdirSync(p.dir, { recursive: true });
    }
  } catch (e) {
    const why = errnoOf(e) === 'EACCES' || errnoOf(e) === 'EPERM' ? 'not permitted (the agent is not root or the cgroup is not delegated to it)' : errnoOf(e) === 'EROFS' ? 'the cgroup file system is read-only' : describe(e);
    return { version: 'none', detail: `${plan.detail} is present but unusable: ${why}`, mounts };
  }
  return plan;
}

function enableControllers(subtreeControl: string): void {
  const current = readFileSync(subtreeControl, 'utf8').split(/\s+/);
  if (current.includes('cpu') && current.includes('memory')) return;
  writeFileSync(subtreeControl, '+cpu +memory');
}

/**
 * Removes task cgroups that are empty and older than minAgeMs: leftovers of tasks whose agent
 * died before it cleaned up and whose allocation never started here again. A live task always
 * has its wrapper inside, and rmdir refuses a cgroup with processes, so only the moment between
 * a start()'s mkdir and its wrapper joining is at risk; the age excludes it (another agent on
 * the same host may be starting a task right now). Returns how many were removed.
 */
export function sweepEmptyTaskCgroups(setup: CgroupSetup, minAgeMs: number, nowMs: number): number {
  if (setup.version === 'none') return 0;
  let removed = 0;
  for (const p of setup.parents) {
    let names: string[];
    try {
      names = readdirSync(p.dir);
    } catch {
      continue;
    }
    for (const name of names) {
      if (!/^[A-Za-z0-9_-]+\.[0-9a-f]+$/.test(name)) continue;
      const dir = `${p.dir}/${name}`;
      try {
        if (nowMs - statSync(dir).mtimeMs < minAgeMs) continue;
        if (readFileSync(`${dir}/cgroup.procs`, 'utf8').trim() !== '') continue;
        rmdirSync(dir);
        removed++;
      } catch {
        // Busy, or gone meanwhile: leave it.
      }
    }
  }
  return removed;
}

const CPU_PERIOD_US = 100_000;

export interface Limits {
  readonly cpuMillis: number;
  readonly memoryMB: number;
}

/** CFS quota for cpuMillis thousandths of a core per 100 ms period (the kernel's minimum quota is 1 ms). */
export function cpuQuotaUs(cpuMillis: number): number {
  return Math.max(1000, Math.round((cpuMillis * CPU_PERIOD_US) / 1000));
}

/**
 * Creates the task's cgroups with its limits. A cgroup already there is a leftover of an
 * earlier run of the same allocation (the agent died before it cleaned up): its processes are
 * killed and it is made again, so a restart never runs beside an orphan.
 */
export async function createTaskCgroups(setup: Extract<CgroupSetup, { parents: unknown }>, allocId: string, limits: Limits, clock: Clock): Promise<CgroupDir[]> {
  const dirs = setup.parents.map((p) => ({ controller: p.controller, dir: `${p.dir}/${allocId}` }));
  for (const d of dirs) {
    if (existsSync(d.dir)) await removeCgroups([d], clock);
    await mkdir(d.dir);
  }
  const bytes = limits.memoryMB * 1024 * 1024;
  const quota = cpuQuotaUs(limits.cpuMillis);
  try {
    for (const d of dirs) {
      switch (d.controller) {
        case 'unified':
          await writeFile(`${d.dir}/cpu.max`, `${quota} ${CPU_PERIOD_US}`);
          await writeFile(`${d.dir}/memory.max`, String(bytes));
          await writeOptional(`${d.dir}/memory.swap.max`, '0');
          await writeFile(`${d.dir}/memory.oom.group`, '1');
          break;
        case 'cpu':
          await writeFile(`${d.dir}/cpu.cfs_period_us`, String(CPU_PERIOD_US));
          await writeFile(`${d.dir}/cpu.cfs_quota_us`, String(quota));
          break;
        case 'memory':
          await writeFile(`${d.dir}/memory.limit_in_bytes`, String(bytes));
          // memsw >= limit is required, and the plain limit is set first for that reason.
          await writeOptional(`${d.dir}/memory.memsw.limit_in_bytes`, String(bytes));
          break;
      }
    }
  } catch (e) {
    await removeCgroups(dirs, clock).catch(() => undefined);
    throw e;
  }
  return dirs;
}

/** Writes a knob that exists only with some kernel options (swap accounting). */
async function writeOptional(path: string, value: string): Promise<void> {
  try {
    await writeFile(path, value);
  } catch (e) {
    if (errnoOf(e) !== 'ENOENT') throw e;
  }
}

async function readProcs(dir: string): Promise<number[]> {
  try {
    return (await readFile(`${dir}/cgroup.procs`, 'utf8')).split('\n').filter((l) => l !== '').map(Number);
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return [];
    throw e;
  }
}

/** SIGKILLs every process in the cgroups (v2 cgroup.kill where the kernel has it, Linux >= 5.14). */
export async function killCgroupMembers(dirs: readonly CgroupDir[]): Promise<void> {
  for (const d of dirs) {
    if (d.controller === 'unified') {
      try {
        await writeFile(`${d.dir}/cgroup.kill`, '1');
        continue;
      } catch {
        // Older kernel or the cgroup is gone: fall back to one kill per member.
      }
    }
    for (const pid of await readProcs(d.dir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
}

const REMOVE_ATTEMPTS = 50;
const REMOVE_RETRY_MS = 20;

/**
 * Kills what is left in the cgroups, waits (bounded: REMOVE_ATTEMPTS x REMOVE_RETRY_MS) for the
 * kernel to empty them, and removes them. Throws when a cgroup stays, so the caller can warn.
 */
export async function removeCgroups(dirs: readonly CgroupDir[], clock: Clock): Promise<void> {
  for (const d of dirs) {
    for (let attempt = 0; ; attempt++) {
      if ((await readProcs(d.dir)).length > 0) await killCgroupMembers([d]);
      try {
        await rmdir(d.dir);
        break;
      } catch (e) {
        if (errnoOf(e) === 'ENOENT') break;
        if (attempt >= REMOVE_ATTEMPTS) throw new Error(`cannot remove cgroup ${d.dir}: ${describe(e)}`);
      }
      await sleep(clock, REMOVE_RETRY_MS);
    }
  }
}

export function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimer(ms, resolve));
}

/** OOM kills the kernel counted in the task's memory cgroup, or undefined when it cannot tell. */
export async function readOomKills(dirs: readonly CgroupDir[]): Promise<number | undefined> {
  for (const d of dirs) {
    const file = d.controller === 'unified' ? 'memory.events' : d.controller === 'memory' ? 'memory.oom_control' : undefined;
    if (file === undefined) continue;
    try {
      const m = /^oom_kill (\d+)$/m.exec(await readFile(`${d.dir}/${file}`, 'utf8'));
      if (m !== null) return Number(m[1]);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

export async function readCgroupStats(dirs: readonly CgroupDir[]): Promise<{ memoryBytes: number | null; cpuUsageUs: number | null }> {
  let memoryBytes: number | null = null;
  let cpuUsageUs: number | null = null;
  for (const d of dirs) {
    try {
      if (d.controller === 'unified') {
        memoryBytes = Number((await readFile(`${d.dir}/memory.current`, 'utf8')).trim());
        const m = /^usage_usec (\d+)$/m.exec(await readFile(`${d.dir}/cpu.stat`, 'utf8'));
        if (m !== null) cpuUsageUs = Number(m[1]);
      } else if (d.controller === 'memory') {
        memoryBytes = Number((await readFile(`${d.dir}/memory.usage_in_bytes`, 'utf8')).trim());
      }
    } catch {
      // The task just ended and its cgroup went away: unknown.
    }
  }
  return { memoryBytes, cpuUsageUs };
}

/**
 * Whether a cgroup directory from a persisted state is one this driver may touch: inside a
 * cgroup mount of the right kind, no '..', and named after the allocation. The state file is
 * untrusted; without this a corrupt one could make the driver kill or remove anything.
 */
export function isTaskCgroupDir(d: CgroupDir, mounts: readonly CgroupMount[], allocId: string): boolean {
  if (d.dir.split('/').includes('..') || !d.dir.endsWith(`/${allocId}`)) return false;
  return mounts.some((m) => (d.controller === 'unified' ? m.fstype === 'cgroup2' : m.fstype === 'cgroup' && m.controllers.includes(d.controller)) && d.dir.startsWith(`${m.mountPoint}/`));
}
