// Cgroup limits of the process driver: the host detection as pure functions over sample
// /proc files (hybrid v1 and pure v2), then, where this host lets the driver use cgroups
// (root, writable hierarchy), real tasks: limit files written, the task inside before its
// command runs, processes that left the group killed through the cgroup, OOM kills detected,
// cgroups removed after exit. The driver's parent cgroups of this file are removed at the end.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DriverError, type TaskSpec } from '../../../src/drivers/driver.ts';
import { cpuQuotaUs, isTaskCgroupDir, parseCgroupMounts, parseSelfCgroup, planCgroups, type CgroupDir } from '../../../src/drivers/process/cgroups.ts';
import { ProcessDriver } from '../../../src/drivers/process/driver.ts';
import { readProcStat } from '../../../src/drivers/process/proc.ts';
import { until } from '../../helpers/until.ts';

/** Fails a test that hangs (an exit never reported) instead of blocking the suite; not a speed limit. */
const HANG_GUARD_MS = 60_000;

const HYBRID_MOUNTINFO = [
  '30 24 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755',
  '31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate',
  '34 30 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,cpu,cpuacct',
  '35 30 0:31 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,memory',
  '36 30 0:32 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,cpuset',
  '37 30 0:33 / /sys/fs/cgroup/my\\040dir rw - cgroup cgroup rw,pids',
].join('\n');
const HYBRID_SELF = ['12:pids:/', '5:memory:/system.slice/sappers.service', '4:cpu,cpuacct:/system.slice/sappers.service', '0::/system.slice/sappers.service'].join('\n');
const V2_MOUNTINFO = '29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot';

describe('cgroup detection (pure)', { timeout: HANG_GUARD_MS }, () => {
  test('mountinfo and /proc/self/cgroup are parsed', () => {
    const mounts = parseCgroupMounts(HYBRID_MOUNTINFO);
    assert.deepEqual(
      mounts.map((m) => [m.mountPoint, m.fstype, m.controllers.join(',')]),
      [
        ['/sys/fs/cgroup/unified', 'cgroup2', ''],
        ['/sys/fs/cgroup/cpu,cpuacct', 'cgroup', 'cpu'],
        ['/sys/fs/cgroup/memory', 'cgroup', 'memory'],
        ['/sys/fs/cgroup/cpuset', 'cgroup', ''],
        ['/sys/fs/cgroup/my dir', 'cgroup', ''],
      ],
    );
    const self = parseSelfCgroup(HYBRID_SELF);
    assert.equal(self.get('memory'), '/system.slice/sappers.service');
    assert.equal(self.get('cpuacct'), '/system.slice/sappers.service');
    assert.equal(self.get(''), '/system.slice/sappers.service');
  });

  test('hybrid hosts use v1, nested under the agent\'s own cgroup', () => {
    const plan = planCgroups(parseCgroupMounts(HYBRID_MOUNTINFO), parseSelfCgroup(HYBRID_SELF), '', 'sappers');
    assert.equal(plan.version, 'v1');
    if (plan.version !== 'v1') return;
    assert.deepEqual(plan.parents, [
      { controller: 'memory', dir: '/sys/fs/cgroup/memory/system.slice/sappers.service/sappers' },
      { controller: 'cpu', dir: '/sys/fs/cgroup/cpu,cpuacct/system.slice/sappers.service/sappers' },
    ]);
  });

  test('pure v2 hosts use a sibling tree at the root; missing controllers mean no limits', () => {
    const mounts = parseCgroupMounts(V2_MOUNTINFO);
    const self = parseSelfCgroup('0::/system.slice/sappers.service');
    const plan = planCgroups(mounts, self, 'cpuset cpu io memory hugetlb pids rdma misc\n', 'sappers');
    assert.equal(plan.version, 'v2');
    if (plan.version === 'v2') assert.deepEqual(plan.parents, [{ controller: 'unified', dir: '/sys/fs/cgroup/sappers' }]);
    const none = planCgroups(mounts, self, 'cpu pids', 'sappers');
    assert.equal(none.version, 'none');
    assert.match(none.detail, /lacks the memory controller/);
    assert.equal(planCgroups([], self, '', 'sappers').version, 'none');
  });

  test('a container mount root is taken off the agent\'s path', () => {
    const mounts = parseCgroupMounts('40 30 0:31 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory');
    const plan = planCgroups(mounts, parseSelfCgroup('5:memory:/docker/abc'), '', 'sappers');
    assert.equal(plan.version, 'v1');
    if (plan.version === 'v1') assert.deepEqual(plan.parents, [{ controller: 'memory', dir: '/sys/fs/cgroup/memory/sappers' }]);
    assert.match(plan.detail, /no cpu hierarchy/);
  });

  test('cpu quota per 100 ms period, at least the kernel minimum', () => {
    assert.equal(cpuQuotaUs(1000), 100_000);
    assert.equal(cpuQuotaUs(250), 25_000);
    assert.equal(cpuQuotaUs(2500), 250_000);
    assert.equal(cpuQuotaUs(5), 1000);
  });

  test('only task cgroups inside a matching mount are accepted from a state file', () => {
    const mounts = parseCgroupMounts(HYBRID_MOUNTINFO);
    const ok = (d: CgroupDir): boolean => isTaskCgroupDir(d, mounts, 'a1.ff');
    assert.equal(ok({ controller: 'memory', dir: '/sys/fs/cgroup/memory/x/sappers/a1.ff' }), true);
    assert.equal(ok({ controller: 'cpu', dir: '/sys/fs/cgroup/memory/x/sappers/a1.ff' }), false);
    assert.equal(ok({ controller: 'memory', dir: '/sys/fs/cgroup/memory/../../../etc/a1.ff' }), false);
    assert.equal(ok({ controller: 'memory', dir: '/sys/fs/cgroup/memory/x/sappers/other' }), false);
    assert.equal(ok({ controller: 'unified', dir: '/etc/a1.ff' }), false);
  });
});

describe('cgroup limits on this host', { timeout: HANG_GUARD_MS }, () => {
  const parentName = `sappers-test-${process.pid}`;
  let d: ProcessDriver | undefined;
  const roots: string[] = [];
  const pids = new Set<number>();
  let keepAlive: NodeJS.Timeout | undefined;
  let skipReason: string | undefined;

  before(() => {
    keepAlive = setInterval(() => undefined, 1000);
    if (process.getuid?.() !== 0) {
      skipReason = 'needs root to create cgroups';
      return;
    }
    d = new ProcessDriver({ cgroupParentName: parentName, pollIntervalMs: 20, logCheckIntervalMs: 50 });
    if (d.capabilities().resourceLimits !== 'enforced') skipReason = `cgroups unusable here: ${d.capabilities().detail}`;
  });

  after(async () => {
    for (const pid of pids) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // Gone.
      }
    }
    // Task cgroups are the driver's to remove; the parents are this file's.
    await d?.removeEmptyCgroupParents();
    for (const dir of d?.cgroupParentDirs ?? []) assert.equal(existsSync(dir), false, `${dir} removed`);
    await Promise.all(roots.map((r) => rm(r, { recursive: true, force: true })));
    clearInterval(keepAlive);
  });

  async function spec(script: string, extra: Partial<TaskSpec> = {}): Promise<TaskSpec> {
    const dir = await mkdtemp(join(tmpdir(), 'sappers-cg-'));
    roots.push(dir);
    return {
      allocId: randomBytes(8).toString('hex'),
      job: 'cg',
      config: { command: '/bin/sh', args: ['-c', script] },
      env: {},
      cpuMillis: 250,
      memoryMB: 48,
      ports: {},
      allocDir: dir,
      stopTimeoutMs: 5000,
      logs: { maxFileBytes: 100_000, maxFiles: 2 },
      ...extra,
    };
  }

  test('limits are written, the task runs inside, and the cgroups go away after exit', async (t) => {
    if (skipReason !== undefined || d === undefined) return t.skip(skipReason);
    const s = await spec('cat /proc/self/cgroup > ../inside; echo up > ../up; while :; do sleep 0.02; done');
    const task = await d.start(s);
    const pid = task.state.data['pid'] as number;
    pids.add(pid);
    const dirs = task.state.data['cgroups'] as CgroupDir[];
    assert.ok(dirs.length >= 1);
    await until('task up', async () => (existsSync(join(s.allocDir, 'up')) ? true : undefined), 10_000, 10);
    for (const c of dirs) {
      const procs = (await readFile(join(c.dir, 'cgroup.procs'), 'utf8')).split('\n');
      assert.ok(procs.includes(String(pid)), `wrapper ${pid} is in ${c.dir}`);
      const read = async (f: string): Promise<string> => (await readFile(join(c.dir, f), 'utf8')).trim();
      switch (c.controller) {
        case 'unified':
          assert.equal(await read('memory.max'), String(48 * 1024 * 1024));
          assert.equal(await read('cpu.max'), '25000 100000');
          assert.equal(await read('memory.oom.group'), '1');
          break;
        case 'memory':
          assert.equal(await read('memory.limit_in_bytes'), String(48 * 1024 * 1024));
          break;
        case 'cpu':
          assert.equal(await read('cpu.cfs_quota_us'), '25000');
          assert.equal(await read('cpu.cfs_period_us'), '100000');
          break;
      }
    }
    // The command itself (a child of the wrapper) was inside from its start.
    const inside = await readFile(join(s.allocDir, 'inside'), 'utf8');
    for (const c of dirs) assert.ok(inside.includes(`/${s.allocId}.`), `${c.controller}: ${inside}`);
    const stats = await task.stats();
    assert.ok(stats.memoryBytes !== null && stats.memoryBytes > 0);
    await task.stop();
    for (const c of dirs) assert.equal(existsSync(c.dir), false, `${c.dir} removed`);
  });

  test('a process that left the group (setsid) is still killed through the cgroup', async (t) => {
    if (skipReason !== undefined || d === undefined) return t.skip(skipReason);
    if (!existsSync('/usr/bin/setsid')) return t.skip('no setsid(1) here');
    const s = await spec('setsid sh -c \'echo $$ > ../escapee; trap "" TERM; while :; do sleep 0.02; done\' & echo up > ../up; while :; do sleep 0.02; done');
    const task = await d.start(s);
    pids.add(task.state.data['pid'] as number);
    await until('escapee up', async () => (existsSync(join(s.allocDir, 'escapee')) && existsSync(join(s.allocDir, 'up')) ? true : undefined), 10_000, 10);
    const escapee = Number((await readFile(join(s.allocDir, 'escapee'), 'utf8')).trim());
    assert.notEqual(readProcStat(escapee)?.pgid, task.state.data['pid']);
    await task.stop('SIGTERM', 200);
    await until('escapee gone', async () => {
      const st = readProcStat(escapee);
      return st === undefined || st.state === 'Z' ? true : undefined;
    }, 10_000, 10);
  });

  test('an allocation over its memory limit is reported as OOM killed', async (t) => {
    if (skipReason !== undefined || d === undefined) return t.skip(skipReason);
    // The shell keeps 200 MB of output in a variable: far beyond 16 MB.
    const task = await d.start(await spec('x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo survived', { memoryMB: 16 }));
    pids.add(task.state.data['pid'] as number);
    const exit = await task.exited;
    assert.equal(exit.oomKilled, true, exit.message);
    assert.match(exit.message, /memory limit of 16 MB/);
  });

  test('a new driver removes empty task cgroups left behind, never busy ones', async (t) => {
    if (skipReason !== undefined || d === undefined) return t.skip(skipReason);
    const parent = d.cgroupParentDirs[0]!;
    const leftover = join(parent, 'deadbeef00.abc123');
    await mkdir(leftover);
    const s = await spec('echo up > ../up; while :; do sleep 0.02; done');
    const task = await d.start(s);
    pids.add(task.state.data['pid'] as number);
    await until('task up', async () => (existsSync(join(s.allocDir, 'up')) ? true : undefined), 10_000, 10);
    const warnings: string[] = [];
    new ProcessDriver({ cgroupParentName: parentName, leftoverCgroupMinAgeMs: 0, onWarning: (w) => warnings.push(w.message) });
    assert.equal(existsSync(leftover), false);
    for (const c of task.state.data['cgroups'] as CgroupDir[]) assert.ok(existsSync(c.dir), 'the live task keeps its cgroup');
    assert.match(warnings.join('\n'), /removed 1 empty task cgroup/);
    await task.stop('SIGKILL');
  });

  test('a state naming a cgroup of another allocation is refused', async (t) => {
    if (skipReason !== undefined || d === undefined) return t.skip(skipReason);
    const s = await spec('true');
    const parent = d.cgroupParentDirs[0]!;
    const controller = parent.includes('/memory') ? 'memory' : parent.includes('/cpu') ? 'cpu' : 'unified';
    const state = { driver: 'process', version: 1, data: { runId: 'abc', pid: 1234, startTicks: '1', bootId: 'x', cgroups: [{ controller, dir: `${parent}/someone-else.abc` }] } };
    await assert.rejects(d.reattach(s, state), (e: unknown) => e instanceof DriverError && e.code === 'invalid-state');
  });
});
