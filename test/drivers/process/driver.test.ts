// The process driver with real processes (/bin/sh, sleep) in temp allocation dirs. Every task
// a test starts is SIGKILLed (its whole group) and every temp dir removed after the file, even
// when a test fails. Cgroups are off here (see cgroups.test.ts) so these tests run anywhere.
// Timeouts below are parameters of the driver or hang guards, never speed assertions.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DriverError, logPaths, type DriverState, type RunningTask, type TaskSpec } from '../../../src/drivers/driver.ts';
import { ProcessDriver } from '../../../src/drivers/process/driver.ts';
import { readProcStat } from '../../../src/drivers/process/proc.ts';
import { until } from '../../helpers/until.ts';

/** Fails a test that hangs (an exit never reported) instead of blocking the suite; not a speed limit. */
const HANG_GUARD_MS = 60_000;

const roots: string[] = [];
const pids = new Set<number>();
let keepAlive: NodeJS.Timeout | undefined;

before(() => {
  // The driver holds no event-loop references (its timers are unref'd, its children too):
  // the agent's servers keep the agent alive. Here, this does.
  keepAlive = setInterval(() => undefined, 1000);
});

after(async () => {
  for (const pid of pids) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  await Promise.all(roots.map((r) => rm(r, { recursive: true, force: true })));
  clearInterval(keepAlive);
});

function driver(): ProcessDriver {
  return new ProcessDriver({ cgroups: 'off', pollIntervalMs: 20, logCheckIntervalMs: 20 });
}

async function allocDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sappers-pd-'));
  roots.push(dir);
  return dir;
}

function taskSpec(dir: string, config: Record<string, unknown>, extra: Partial<TaskSpec> = {}): TaskSpec {
  return {
    allocId: randomBytes(8).toString('hex'),
    job: 'web',
    config,
    env: {},
    cpuMillis: 100,
    memoryMB: 64,
    ports: {},
    allocDir: dir,
    stopTimeoutMs: 5000,
    logs: { maxFileBytes: 1_000_000, maxFiles: 3 },
    ...extra,
  };
}

/** `sh -c SCRIPT`, tracked for cleanup. Relative paths in SCRIPT start in <allocDir>/work. */
async function startSh(d: ProcessDriver, dir: string, script: string, extra: Partial<TaskSpec> = {}): Promise<{ task: RunningTask; spec: TaskSpec; pid: number }> {
  const spec = taskSpec(dir, { command: '/bin/sh', args: ['-c', script] }, extra);
  const task = await d.start(spec);
  const pid = task.state.data['pid'] as number;
  pids.add(pid);
  return { task, spec, pid };
}

function alive(pid: number): boolean {
  const s = readProcStat(pid);
  return s !== undefined && s.state !== 'Z';
}

async function rejectsWith(p: Promise<unknown>, code: string, pattern?: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof DriverError, `expected a DriverError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (pattern) assert.match(e.message, pattern);
    return true;
  });
}

describe('process driver: start, environment, exit', { timeout: HANG_GUARD_MS }, () => {
  test('the task gets exactly its env plus PATH and HOME, and its working dir', async () => {
    process.env['SAPPERS_TEST_AGENT_SECRET'] = 'must-not-leak';
    try {
      const dir = await allocDir();
      const { task } = await startSh(driver(), dir, 'env > env.txt; pwd > pwd.txt', { env: { GREETING: 'hello world', SAPPERS_PORT_HTTP: '8080', SAPPERS_ALLOC_ID: 'a1' }, ports: { http: 8080 } });
      const exit = await task.exited;
      assert.deepEqual({ exitCode: exit.exitCode, signal: exit.signal, oomKilled: exit.oomKilled }, { exitCode: 0, signal: null, oomKilled: false });
      const env = new Map((await readFile(join(dir, 'work', 'env.txt'), 'utf8')).trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
      assert.equal(env.get('GREETING'), 'hello world');
      assert.equal(env.get('SAPPERS_PORT_HTTP'), '8080');
      assert.equal(env.get('SAPPERS_ALLOC_ID'), 'a1');
      assert.equal(env.get('PATH'), '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
      assert.equal(env.get('HOME'), join(dir, 'work'));
      assert.equal(env.has('SAPPERS_TEST_AGENT_SECRET'), false);
      // Whatever else is there the shell itself sets (PWD, SHLVL, _), never the agent's.
      for (const k of env.keys()) assert.ok(['GREETING', 'SAPPERS_PORT_HTTP', 'SAPPERS_ALLOC_ID', 'PATH', 'HOME', 'PWD', 'OLDPWD', 'SHLVL', '_'].includes(k), `unexpected variable ${k}`);
      assert.equal((await readFile(join(dir, 'work', 'pwd.txt'), 'utf8')).trim(), join(dir, 'work'));
    } finally {
      delete process.env['SAPPERS_TEST_AGENT_SECRET'];
    }
  });

  test('a workingDir inside the alloc dir, a bare command found on PATH', async () => {
    const dir = await allocDir();
    const task = await driver().start(taskSpec(dir, { command: 'touch', args: ['made-here'], workingDir: 'site/www' }));
    pids.add(task.state.data['pid'] as number);
    assert.equal((await task.exited).exitCode, 0);
    assert.ok(existsSync(join(dir, 'site', 'www', 'made-here')));
  });

  test('exit codes and death by signal are reported', async () => {
    const d = driver();
    const dir = await allocDir();
    const coded = await startSh(d, dir, 'exit 7');
    const e1 = await coded.task.exited;
    assert.deepEqual([e1.exitCode, e1.signal], [7, null]);
    assert.match(e1.message, /exited with code 7/);
    const signalled = await startSh(d, dir, 'kill -USR1 $$');
    const e2 = await signalled.task.exited;
    assert.deepEqual([e2.exitCode, e2.signal], [null, 'SIGUSR1']);
    assert.match(e2.message, /SIGUSR1/);
    // The exit is stable: stop() after the end returns it again.
    assert.deepEqual(await signalled.task.stop(), e2);
  });

  test('a wrapper killed from outside (kill -9 of the group) is reported as SIGKILL', async () => {
    const dir = await allocDir();
    const { task, pid } = await startSh(driver(), dir, 'echo up > ../up; sleep 30');
    await until('task up', async () => (existsSync(join(dir, 'up')) ? true : undefined), 10_000, 10);
    process.kill(-pid, 'SIGKILL');
    const exit = await task.exited;
    assert.deepEqual([exit.exitCode, exit.signal], [null, 'SIGKILL']);
  });
});

describe('process driver: stop', { timeout: HANG_GUARD_MS }, () => {
  test('stop sends SIGTERM to the group and the task\'s trap runs', async () => {
    const dir = await allocDir();
    const { task } = await startSh(driver(), dir, 'trap "echo trapped > ../trapped; exit 0" TERM; echo up > ../up; while :; do sleep 0.02; done');
    await until('task up', async () => (existsSync(join(dir, 'up')) ? true : undefined), 10_000, 10);
    const exit = await task.stop();
    assert.equal((await readFile(join(dir, 'trapped'), 'utf8')).trim(), 'trapped');
    assert.deepEqual([exit.exitCode, exit.signal], [0, null]);
    assert.match(exit.message, /stopped by the agent with SIGTERM/);
    // Idempotent.
    assert.deepEqual(await task.stop('SIGINT', 0), exit);
  });

  test('a task ignoring SIGTERM is SIGKILLed after the timeout, with its grandchild', async () => {
    const dir = await allocDir();
    const script = '(trap "" TERM; exec sleep 30) & echo $! > ../grandchild; trap "" TERM; echo up > ../up; while :; do sleep 0.02; done';
    const { task, pid } = await startSh(driver(), dir, script);
    await until('task up', async () => (existsSync(join(dir, 'up')) ? true : undefined), 10_000, 10);
    const grandchild = Number((await readFile(join(dir, 'grandchild'), 'utf8')).trim());
    assert.ok(alive(grandchild));
    assert.equal(readProcStat(grandchild)?.pgid, pid, 'the grandchild is in the task\'s process group');
    const exit = await task.stop('SIGTERM', 200);
    assert.equal(exit.signal, 'SIGKILL');
    assert.equal(exit.exitCode, null);
    assert.match(exit.message, /SIGTERM and, 200 ms later, SIGKILL/);
    await until('grandchild gone', async () => (alive(grandchild) ? undefined : true), 10_000, 10);
    assert.equal(alive(pid), false);
  });

  test('signal() reaches the task; unknown signal names are refused', async () => {
    const dir = await allocDir();
    const { task } = await startSh(driver(), dir, 'trap "echo hup >> ../got" HUP; echo up > ../up; while :; do sleep 0.02; done');
    await until('task up', async () => (existsSync(join(dir, 'up')) ? true : undefined), 10_000, 10);
    task.signal('SIGHUP');
    await until('trap ran', async () => (existsSync(join(dir, 'got')) ? true : undefined), 10_000, 10);
    assert.throws(() => task.signal('SIGNOPE'), (e: unknown) => e instanceof DriverError && e.code === 'invalid-signal');
    await rejectsWith(task.stop('SIGBOGUS'), 'invalid-signal');
    const exit = await task.stop('SIGKILL');
    assert.equal(exit.signal, 'SIGKILL');
  });
});

describe('process driver: logs', { timeout: HANG_GUARD_MS }, () => {
  test('stdout and stderr go to their files and are rotated under the cap', async () => {
    const dir = await allocDir();
    const logs = logPaths(dir);
    // Writes 1500 bytes and waits until the driver rotated (the live file was truncated), three
    // times, then ends with a marker line in the live file. (Waiting for the truncate, not for
    // the .1 copy, keeps the test's own writes out of the copytruncate window.)
    const chunk = 'printf "%01500d" 0';
    const rotated = 'while [ "$(wc -c < ../logs/stdout.log)" -gt 1000 ]; do sleep 0.02; done';
    const script = [`${chunk}; echo oops >&2`, rotated, chunk, rotated, chunk, rotated, 'echo last'].join('\n');
    const { task } = await startSh(driver(), dir, script, { logs: { maxFileBytes: 1000, maxFiles: 3 } });
    const exit = await task.exited;
    assert.equal(exit.exitCode, 0, exit.message);
    const sizes = await Promise.all([logs.stdout, `${logs.stdout}.1`, `${logs.stdout}.2`].map(async (f) => (await stat(f)).size));
    for (const s of sizes) assert.ok(s <= 1000, `each file stays within maxFileBytes: ${sizes.join(', ')}`);
    assert.equal(existsSync(`${logs.stdout}.3`), false, 'no more than maxFiles files');
    assert.equal(await readFile(logs.stdout, 'utf8'), 'last\n');
    assert.equal(await readFile(logs.stderr, 'utf8'), 'oops\n');
    assert.equal(sizes[1], 1000, 'a rotated copy keeps the newest maxFileBytes bytes');
  });
});

describe('process driver: reattach after an agent restart', { timeout: HANG_GUARD_MS }, () => {
  test('the task survives a SIGKILLed agent; a new driver reattaches and stops it', async () => {
    const dir = await allocDir();
    const spec = taskSpec(dir, { command: '/bin/sh', args: ['-c', 'trap "echo bye > ../bye; exit 0" TERM; echo up > ../up; while :; do sleep 0.02; done'] });
    const agent = spawn(process.execPath, [join(import.meta.dirname, 'fixtures', 'agent.ts'), JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let line = '';
    try {
      for await (const chunk of agent.stdout) {
        line += String(chunk);
        if (line.includes('\n')) break;
      }
    } finally {
      agent.kill('SIGKILL');
    }
    const state = JSON.parse(line) as DriverState;
    const pid = state.data['pid'] as number;
    pids.add(pid);
    await new Promise((r) => (agent.exitCode !== null || agent.signalCode !== null ? r(undefined) : agent.once('exit', r)));
    await until('task up', async () => (existsSync(join(dir, 'up')) ? true : undefined), 10_000, 10);
    assert.ok(alive(pid), 'the task outlives the agent');
    assert.notEqual(readProcStat(pid)?.ppid, agent.pid);

    const found = await driver().reattach(spec, state);
    assert.equal(found.kind, 'running');
    if (found.kind !== 'running') return;
    const exit = await found.task.stop();
    assert.deepEqual([exit.exitCode, exit.signal], [0, null], exit.message);
    assert.ok(existsSync(join(dir, 'bye')));
    assert.equal(alive(pid), false);
  });

  test('reattach to a task that ended meanwhile reports its exit code', async () => {
    const dir = await allocDir();
    const { task, spec, pid } = await startSh(driver(), dir, 'while [ ! -e ../go ]; do sleep 0.02; done; exit 5');
    task.detach();
    await writeFile(join(dir, 'go'), '');
    await until('task ended', async () => (alive(pid) ? undefined : true), 10_000, 10);
    const found = await driver().reattach(spec, task.state);
    assert.equal(found.kind, 'gone');
    if (found.kind !== 'gone') return;
    assert.deepEqual([found.exit.exitCode, found.exit.signal], [5, null]);
    assert.match(found.exit.message, /exited with code 5/);
  });

  test('a detached then reattached task keeps rotating its logs and reports its exit', async () => {
    const dir = await allocDir();
    const d1 = driver();
    const logs = { maxFileBytes: 100, maxFiles: 2 };
    const { task, spec } = await startSh(d1, dir, 'while [ ! -e ../go ]; do sleep 0.02; done; printf "%0300d" 0; while [ ! -e ../logs/stdout.log.1 ]; do sleep 0.02; done; exit 3', { logs });
    task.detach();
    const found = await driver().reattach(spec, task.state);
    assert.equal(found.kind, 'running');
    await writeFile(join(dir, 'go'), '');
    if (found.kind !== 'running') return;
    const exit = await found.task.exited;
    assert.equal(exit.exitCode, 3);
    assert.equal((await stat(`${logPaths(dir).stdout}.1`)).size, 100);
  });

  test('reattach refuses a reused pid: a forged start time is reported gone and nothing is signalled', async () => {
    const dir = await allocDir();
    const { task, spec, pid } = await startSh(driver(), dir, 'echo up > ../up; while :; do sleep 0.02; done');
    await until('task up', async () => (existsSync(join(dir, 'up')) ? true : undefined), 10_000, 10);
    const forged: DriverState = { ...task.state, data: { ...task.state.data, startTicks: '1' } };
    const found = await driver().reattach(spec, forged);
    assert.equal(found.kind, 'gone');
    if (found.kind === 'gone') assert.deepEqual([found.exit.exitCode, found.exit.signal], [null, null]);
    assert.ok(alive(pid), 'the process with the reused pid is left alone');
    // Same with the pid of this test process itself.
    const self: DriverState = { ...task.state, data: { ...task.state.data, pid: process.pid, startTicks: '1' } };
    assert.equal((await driver().reattach(spec, self)).kind, 'gone');
    await task.stop('SIGKILL');
  });

  test('reattach refuses malformed or foreign states', async () => {
    const dir = await allocDir();
    const spec = taskSpec(dir, { command: 'true' });
    const good = { runId: 'abc123', pid: 1234, startTicks: '99', bootId: 'x', cgroups: [] };
    const bad: DriverState[] = [
      { driver: 'fake', version: 1, data: good },
      { driver: 'process', version: 2, data: good },
      { driver: 'process', version: 1, data: { ...good, pid: -1 } },
      { driver: 'process', version: 1, data: { ...good, startTicks: 'x' } },
      { driver: 'process', version: 1, data: { ...good, runId: '../../etc' } },
      { driver: 'process', version: 1, data: { ...good, cgroups: [{ controller: 'memory', dir: '/etc' }] } },
      { driver: 'process', version: 1, data: { ...good, cgroups: [{ controller: 'memory', dir: `/sys/fs/cgroup/memory/../../etc/${spec.allocId}.abc123` }] } },
    ];
    for (const s of bad) await rejectsWith(driver().reattach(spec, s), 'invalid-state');
  });

  test('a new start() of the same allocation kills an orphaned earlier run: never two copies', async () => {
    const dir = await allocDir();
    const d = driver();
    const first = await startSh(d, dir, 'sleep 30');
    first.task.detach(); // the runner lost this handle and its state
    const second = await startSh(d, dir, 'sleep 30', { allocId: first.spec.allocId });
    await until('orphan gone', async () => (alive(first.pid) ? undefined : true), 10_000, 10);
    assert.ok(alive(second.pid));
    await second.task.stop('SIGKILL');
  });
});

describe('process driver: bad input', { timeout: HANG_GUARD_MS }, () => {
  test('start() rejects with a DriverError for each expected failure', async () => {
    const d = driver();
    const dir = await allocDir();
    await rejectsWith(d.start(taskSpec(dir, {})), 'invalid-config', /config\.command: required/);
    await rejectsWith(d.start(taskSpec(dir, { command: 'no-such-program-xyz' })), 'command-not-found', /not found on the task's PATH/);
    await rejectsWith(d.start(taskSpec(dir, { command: './missing.sh' })), 'command-not-found');
    await writeFile(join(dir, 'work', 'script.sh'), '#!/bin/sh\necho hi\n');
    await chmod(join(dir, 'work', 'script.sh'), 0o644);
    await rejectsWith(d.start(taskSpec(dir, { command: './script.sh' })), 'not-executable');
    await rejectsWith(d.start(taskSpec(dir, { command: '/tmp' })), 'not-executable', /not a regular file/);
    await rejectsWith(d.start(taskSpec(dir, { command: 'true' }, { env: { 'A=B': 'x' } })), 'invalid-config');
    await rejectsWith(d.start(taskSpec(dir, { command: 'true' }, { allocId: '../x' })), 'invalid-config');
    const file = join(dir, 'not-a-dir');
    await writeFile(file, '');
    await rejectsWith(d.start(taskSpec(file, { command: 'true' })), 'alloc-dir');
    await rejectsWith(d.start(taskSpec(join(dir, 'missing'), { command: 'true' })), 'alloc-dir');
    await mkdir(join(dir, 'outside'));
    await symlink('/tmp', join(dir, 'escape'));
    await rejectsWith(d.start(taskSpec(dir, { command: 'true', workingDir: 'escape' })), 'invalid-config', /leads outside/);
  });

  test('validateConfig names each problem with its field', () => {
    const d = driver();
    assert.deepEqual(d.validateConfig({ command: 'x', args: ['a'], workingDir: 'w' }), []);
    assert.deepEqual(d.validateConfig('nope'), ['config: must be a mapping']);
    const errors = d.validateConfig({ comand: 'x', args: ['a', 3], workingDir: '/abs' });
    assert.equal(errors.length, 4, errors.join('\n'));
    assert.ok(errors.some((e) => e.startsWith('config.comand: unknown key (did you mean "command"?)')));
    assert.ok(errors.includes('config.command: required (the program to run, e.g. "/usr/bin/env" or "python3")'));
    assert.ok(errors.some((e) => e.startsWith('config.args[1]: must be a string')));
    assert.ok(errors.some((e) => e.startsWith('config.workingDir: must be relative')));
    assert.match(d.validateConfig({ command: 'x', workingDir: 'a/../../b' })[0] ?? '', /config\.workingDir: must stay inside/);
    assert.match(d.validateConfig({ command: 'x', args: 'a b' })[0] ?? '', /config\.args: must be a list/);
    assert.match(d.validateConfig({ command: '' })[0] ?? '', /config\.command: must not be empty/);
  });

  test('capabilities say when limits are not enforced, and why', () => {
    const c = driver().capabilities();
    assert.equal(c.resourceLimits, 'not-enforced');
    assert.match(c.detail, /turned off/);
  });
});
