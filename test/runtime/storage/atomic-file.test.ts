import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SeededRandom } from '../../../src/core/random.ts';
import { AtomicFileCorruptError, ATOMIC_HEADER_BYTES, encodeAtomic, readAtomic, writeAtomic } from '../../../src/runtime/storage/atomic-file.ts';
import { crc32c } from '../../../src/runtime/storage/crc32c.ts';
import type { FileSystem } from '../../../src/runtime/storage/fs.ts';
import { StorageError } from '../../../src/runtime/storage/fs.ts';
import { NodeFileSystem } from '../../../src/runtime/storage/node-fs.ts';
import { SimDisk } from '../../../src/sim/disk.ts';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const tempDirs: string[] = [];
after(async () => {
  for (const d of tempDirs) await rm(d, { recursive: true, force: true });
});

async function put(fs: FileSystem, path: string, data: Uint8Array): Promise<void> {
  await fs.remove(path);
  const h = await fs.open(path, { create: true });
  await h.append(data);
  await h.sync();
  await h.close();
}

const envs: Array<{ name: string; make: () => Promise<{ fs: FileSystem; dir: string }> }> = [
  { name: 'SimDisk', make: async () => ({ fs: new SimDisk({ tornWriteProbability: 0 }), dir: '/state' }) },
  {
    name: 'NodeFileSystem',
    make: async () => {
      const dir = await mkdtemp(join(tmpdir(), 'sappers-atomic-'));
      tempDirs.push(dir);
      return { fs: new NodeFileSystem(), dir };
    },
  },
];

for (const env of envs) {
  describe(`atomic files on ${env.name}`, () => {
    it('writes, replaces and reads back; a missing file reads as undefined', async () => {
      const { fs, dir } = await env.make();
      await fs.mkdirp(dir);
      const path = join(dir, 'hard-state');
      assert.deepEqual(await readAtomic(fs, path), { ok: true, value: undefined });
      await writeAtomic(fs, path, text('term=1'));
      await writeAtomic(fs, path, text('term=22'));
      assert.deepEqual(await readAtomic(fs, path), { ok: true, value: text('term=22') });
      await writeAtomic(fs, path, new Uint8Array(0));
      assert.deepEqual(await readAtomic(fs, path), { ok: true, value: new Uint8Array(0) });
      assert.deepEqual(await fs.list(dir), ['hard-state'], 'no temporary file left behind');
    });

    it('reports truncated, flipped, foreign and future files with their path, never as data', async () => {
      const { fs, dir } = await env.make();
      await fs.mkdirp(dir);
      const path = join(dir, 'snap');
      const good = encodeAtomic(text('hello snapshot'));
      const cases: Array<{ bytes: Uint8Array; problem: string }> = [
        { bytes: good.subarray(0, 10), problem: 'truncated' },
        { bytes: good.subarray(0, good.length - 1), problem: 'length-mismatch' },
        { bytes: flip(good, ATOMIC_HEADER_BYTES + 2), problem: 'checksum-mismatch' },
        { bytes: flip(good, 16), problem: 'checksum-mismatch' },
        { bytes: flip(good, 0), problem: 'bad-magic' },
        { bytes: withVersion(good, 2), problem: 'unsupported-version' },
      ];
      for (const c of cases) {
        await put(fs, path, c.bytes);
        const r = await readAtomic(fs, path);
        assert.ok(!r.ok, `${c.problem} is an error`);
        assert.ok(r.error instanceof AtomicFileCorruptError && r.error instanceof StorageError);
        assert.equal(r.error.problem, c.problem);
        assert.equal(r.error.path, path);
        assert.equal(r.error.code, 'corrupt');
        assert.ok(r.error.message.includes(path));
      }
    });
  });
}

describe('atomic files across crashes (SimDisk)', () => {
  it('after a crash at any step the file holds the old or the new content, never a mix', async () => {
    const outcomes = new Set<string>();
    for (let seed = 0; seed < 200; seed++) {
      const disk = new SimDisk({ tornWriteProbability: 0.7 });
      await disk.mkdirp('/s');
      await writeAtomic(disk, '/s/f', text('old content'));
      const random = new SeededRandom(seed);
      const fs = disk.attach();
      let acknowledged = false;
      const writing = writeAtomic(fs, '/s/f', text('the new, longer content')).then(
        () => {
          acknowledged = true;
        },
        () => undefined,
      );
      // Crash after a random number of microtask steps into the protocol.
      const steps = random.int(60);
      for (let i = 0; i < steps; i++) await Promise.resolve();
      const acknowledgedAtCrash = acknowledged;
      disk.crash(random);
      await writing;
      const r = await readAtomic(disk, '/s/f');
      assert.ok(r.ok, `seed ${seed}: readable after crash`);
      const value = new TextDecoder().decode(r.value);
      assert.ok(value === 'old content' || value === 'the new, longer content', `seed ${seed}: got ${value}`);
      if (acknowledgedAtCrash) assert.equal(value, 'the new, longer content', `seed ${seed}: an acknowledged write survives`);
      outcomes.add(value);
      // And the next write after the restart works (a stale temporary file is no obstacle).
      await writeAtomic(disk.attach(), '/s/f', text('after'));
      assert.deepEqual(await readAtomic(disk, '/s/f'), { ok: true, value: text('after') });
    }
    assert.equal(outcomes.size, 2, 'both outcomes happen across seeds');
  });

  it('a write that resolved survives a crash', async () => {
    const disk = new SimDisk({ tornWriteProbability: 1 });
    await disk.mkdirp('/s');
    await writeAtomic(disk, '/s/f', text('v1'));
    await writeAtomic(disk, '/s/f', text('v2'));
    disk.crash(new SeededRandom(3));
    assert.deepEqual(await readAtomic(disk, '/s/f'), { ok: true, value: text('v2') });
  });

  it('the rename is durable only because of the directory sync', async () => {
    // Same steps without syncDir: the crash brings back the old file, which is what writeAtomic
    // avoids by syncing the directory.
    const disk = new SimDisk({ tornWriteProbability: 0 });
    await disk.mkdirp('/s');
    await writeAtomic(disk, '/s/f', text('v1'));
    const h = await disk.open('/s/f.tmp', { create: true });
    await h.append(encodeAtomic(text('v2')));
    await h.sync();
    await h.close();
    await disk.rename('/s/f.tmp', '/s/f');
    disk.crash(new SeededRandom(1));
    assert.deepEqual(await readAtomic(disk, '/s/f'), { ok: true, value: text('v1') });
  });
});

function flip(data: Uint8Array, offset: number): Uint8Array {
  const copy = data.slice();
  copy[offset] = copy[offset]! ^ 0x01;
  return copy;
}

function withVersion(data: Uint8Array, version: number): Uint8Array {
  // A well-formed file of another version (valid checksum), so only the version is wrong.
  const copy = data.slice();
  const view = new DataView(copy.buffer);
  view.setUint32(4, version, true);
  view.setUint32(16, crc32c(copy.subarray(ATOMIC_HEADER_BYTES), crc32c(copy.subarray(4, 16))), true);
  return copy;
}
