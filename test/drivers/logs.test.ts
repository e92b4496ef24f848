// Copy-then-truncate log rotation, driven by a virtual clock: files rotate only past
// maxFileBytes, copies shift up to maxFiles, a rotated copy keeps the newest maxFileBytes
// bytes, an O_APPEND writer continues at offset 0, and a full disk (a tiny tmpfs, root only)
// drops the copy but still truncates.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, closeSync, existsSync, openSync, writeSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { allocLayout, logFilesOldestFirst, logPaths } from '../../src/drivers/driver.ts';
import { LogRotator } from '../../src/drivers/logs.ts';
import { VirtualClock } from '../../src/sim/clock.ts';

const roots: string[] = [];
after(async () => {
  await Promise.all(roots.map((r) => rm(r, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sappers-logs-'));
  roots.push(dir);
  return dir;
}

function rotator(file: string, maxFileBytes: number, maxFiles: number, warnings: string[] = []): { r: LogRotator; clock: VirtualClock } {
  const clock = new VirtualClock();
  return { r: new LogRotator({ files: [file], limits: { maxFileBytes, maxFiles }, clock, checkIntervalMs: 100, onWarning: (m) => warnings.push(m) }), clock };
}

test('layout and the oldest-first file list for alloc logs', () => {
  assert.deepEqual(logPaths('/a/b/'), { stdout: '/a/b/logs/stdout.log', stderr: '/a/b/logs/stderr.log' });
  assert.equal(allocLayout('/a/b').workDir, '/a/b/work');
  assert.deepEqual(logFilesOldestFirst('/x/stdout.log', 3), ['/x/stdout.log.2', '/x/stdout.log.1', '/x/stdout.log']);
  assert.deepEqual(logFilesOldestFirst('/x/stdout.log', 1), ['/x/stdout.log']);
});

test('rotates past maxFileBytes, shifts copies, keeps at most maxFiles', async () => {
  const dir = await tempDir();
  const live = join(dir, 'stdout.log');
  const { r } = rotator(live, 10, 3);
  await r.checkNow(); // no file yet: nothing to do
  await writeFile(live, 'aaaaaaaaaa');
  await r.checkNow();
  assert.equal(await readFile(live, 'utf8'), 'aaaaaaaaaa', 'exactly maxFileBytes is not rotated');
  appendFileSync(live, 'b');
  await r.checkNow();
  assert.equal(await readFile(`${live}.1`, 'utf8'), 'aaaaaaaaab', 'the newest 10 bytes');
  assert.equal((await stat(live)).size, 0);
  await writeFile(live, 'cccccccccccc');
  await r.checkNow();
  await writeFile(live, 'dddddddddddd');
  await r.checkNow();
  assert.equal(await readFile(`${live}.1`, 'utf8'), 'dddddddddd');
  assert.equal(await readFile(`${live}.2`, 'utf8'), 'cccccccccc');
  assert.equal(existsSync(`${live}.3`), false);
});

test('an O_APPEND writer continues at the start after a truncate (no hole)', async () => {
  const dir = await tempDir();
  const live = join(dir, 'stdout.log');
  const fd = openSync(live, 'a');
  try {
    writeSync(fd, 'x'.repeat(50));
    const { r } = rotator(live, 20, 2);
    await r.checkNow();
    writeSync(fd, 'after');
    assert.equal(await readFile(live, 'utf8'), 'after');
    assert.equal(await readFile(`${live}.1`, 'utf8'), 'x'.repeat(20));
  } finally {
    closeSync(fd);
  }
});

test('maxFiles 1 truncates without keeping a copy', async () => {
  const dir = await tempDir();
  const live = join(dir, 'stderr.log');
  await writeFile(live, 'y'.repeat(30));
  const { r } = rotator(live, 10, 1);
  await r.checkNow();
  assert.equal((await stat(live)).size, 0);
  assert.equal(existsSync(`${live}.1`), false);
});

test('checks run on the clock until stop()', async () => {
  const dir = await tempDir();
  const live = join(dir, 'stdout.log');
  const { r, clock } = rotator(live, 5, 2);
  r.start();
  await writeFile(live, '123456');
  clock.advance(0);
  await r.checkNow(); // waits for the timer's check too
  assert.equal((await stat(live)).size, 0);
  await r.stop();
  assert.equal(clock.pendingCount(), 0, 'no timer left after stop');
  await writeFile(live, '123456');
  clock.advance(1000);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal((await stat(live)).size, 6, 'nothing rotates after stop');
});

test('a full disk drops the copy, truncates anyway, and warns', async (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root to mount a small tmpfs');
  const dir = await tempDir();
  const mnt = join(dir, 'small');
  await mkdir(mnt);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt], { stdio: 'ignore' });
  } catch {
    return t.skip('cannot mount a tmpfs here');
  }
  try {
    const live = join(mnt, 'stdout.log');
    // 40 KB of log in a 64 KB file system: a 40 KB copy cannot fit.
    await writeFile(live, 'z'.repeat(40 * 1024));
    const warnings: string[] = [];
    const { r } = rotator(live, 30 * 1024, 2, warnings);
    await r.checkNow();
    assert.equal((await stat(live)).size, 0);
    assert.equal(existsSync(`${live}.1`), false);
    assert.equal(existsSync(`${live}.1.tmp`), false, 'no half-written copy left');
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /could not keep a copy.*truncated anyway/);
  } finally {
    execFileSync('umount', [mnt], { stdio: 'ignore' });
  }
});
