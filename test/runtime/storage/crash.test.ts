// Real crashes: a child process writes through NodeFileSystem and is killed with SIGKILL in the
// middle of its writes. Everything it acknowledged must be there and intact after reopening.
// (SIGKILL keeps the page cache, so this tests the write protocol and recovery, not power loss;
// power loss is what SimDisk models.)
import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readAtomic } from '../../../src/runtime/storage/atomic-file.ts';
import { NodeFileSystem } from '../../../src/runtime/storage/node-fs.ts';
import { Wal } from '../../../src/runtime/storage/wal.ts';
import { atomicContent, CHILD_WAL_OPTIONS, walPayload } from './crash-shared.ts';

const CHILD = join(import.meta.dirname, 'storage-child.ts');
const children = new Set<ChildProcess>();
const tempDirs: string[] = [];
after(async () => {
  for (const c of children) c.kill('SIGKILL');
  for (const d of tempDirs) await rm(d, { recursive: true, force: true });
});

/** Runs the child until it has acknowledged at least `minAcks` writes (plus a random extra), then SIGKILLs it. Returns the acknowledged numbers. */
async function runAndKill(args: string[], minAcks: number): Promise<number[]> {
  const child = spawn(process.execPath, [CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const acks: number[] = [];
  let stderr = '';
  let buffered = '';
  const target = minAcks + Math.floor(Math.random() * minAcks);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`child made ${acks.length} acks in 20 s; stderr: ${stderr}`)), 20_000);
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      child.stdout.on('data', (d: Buffer) => {
        buffered += d.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        for (const line of lines) acks.push(Number(line));
        if (acks.length >= target && child.exitCode === null) {
          child.kill('SIGKILL');
          clearTimeout(timer);
          resolve();
        }
      });
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        if (signal === 'SIGKILL') resolve();
        else reject(new Error(`child exited with ${code}; stderr: ${stderr}`));
      });
    });
    if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.once('exit', r));
  } finally {
    child.kill('SIGKILL');
    children.delete(child);
  }
  // Lines written before the kill but not read yet were acknowledged too; checking the ones we
  // saw is enough.
  return acks;
}

it('WAL: every acknowledged record survives SIGKILL, across repeated kills', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sappers-crash-wal-'));
  tempDirs.push(dir);
  const fs = new NodeFileSystem();
  let highestAcked = 0;
  for (let round = 0; round < 4; round++) {
    const acks = await runAndKill(['wal', dir], 150);
    assert.ok(acks.length > 0, 'the child acknowledged some appends');
    highestAcked = Math.max(highestAcked, ...acks);
    const opened = await Wal.open(fs, dir, CHILD_WAL_OPTIONS);
    if (!opened.ok) throw opened.error;
    const { wal, recovery } = opened.value;
    try {
      assert.equal(recovery.firstIndex, 1);
      assert.ok(wal.lastIndex >= highestAcked, `round ${round}: last index ${wal.lastIndex} covers every acknowledged index (${highestAcked})`);
      // Every record, acknowledged or not, is whole and is the one written for its index.
      for (let from = 1; from <= wal.lastIndex; from += 500) {
        const records = await wal.readRange(from, Math.min(from + 500, wal.lastIndex + 1));
        records.forEach((r, k) => assert.deepEqual(r, walPayload(from + k), `record ${from + k}`));
      }
      assert.ok(wal.segmentCount > 1 || round === 0, 'the log rotated');
    } finally {
      await wal.close();
    }
  }
});

it('atomic file: after SIGKILL it holds an acknowledged version or the next one, never a mix', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sappers-crash-atomic-'));
  tempDirs.push(dir);
  const path = join(dir, 'state');
  const fs = new NodeFileSystem();
  for (let round = 0; round < 4; round++) {
    const acks = await runAndKill(['atomic', path], 30);
    const lastAcked = Math.max(...acks);
    const r = await readAtomic(fs, path);
    assert.ok(r.ok, `round ${round}: readable (${r.ok ? '' : r.error.message})`);
    assert.ok(r.value !== undefined);
    // The child may finish a few more writes between our reading its last line and the kill.
    const later = Array.from({ length: 200 }, (_, k) => lastAcked + k);
    const matches = later.filter((n) => sameBytes(r.value!, atomicContent(n)));
    assert.equal(matches.length, 1, `round ${round}: content is exactly one whole version at or after ${lastAcked}`);
  }
});

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
