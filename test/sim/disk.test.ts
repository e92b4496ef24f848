import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRandom } from '../../src/core/random.ts';
import { StorageError } from '../../src/runtime/storage/fs.ts';
import { SimDisk } from '../../src/sim/disk.ts';

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);
const noTear = { tornWriteProbability: 0 } as const;

/** A disk with /d created and a durable, synced file /d/f holding `content`. */
async function diskWithFile(content: Uint8Array, options: ConstructorParameters<typeof SimDisk>[0] = noTear): Promise<SimDisk> {
  const disk = new SimDisk(options);
  await disk.mkdirp('/d');
  const h = await disk.open('/d/f', { create: true });
  await h.append(content);
  await h.sync();
  await h.close();
  await disk.syncDir('/d');
  return disk;
}

describe('SimDisk durability', () => {
  it('keeps synced appends and drops unsynced ones on crash', async () => {
    const disk = await diskWithFile(bytes(1, 2, 3));
    const h = await disk.open('/d/f', { create: false });
    await h.append(bytes(4, 5));
    assert.deepEqual(await disk.readFile('/d/f'), bytes(1, 2, 3, 4, 5));
    disk.crash(new SeededRandom(1));
    assert.deepEqual(await disk.readFile('/d/f'), bytes(1, 2, 3));
  });

  it('keeps appends made durable by sync', async () => {
    const disk = await diskWithFile(bytes(1));
    const h = await disk.open('/d/f', { create: false });
    await h.append(bytes(2));
    await h.sync();
    disk.crash(new SeededRandom(1));
    assert.deepEqual(await disk.readFile('/d/f'), bytes(1, 2));
  });

  it('undoes an unsynced truncate on crash', async () => {
    const disk = await diskWithFile(bytes(1, 2, 3));
    const h = await disk.open('/d/f', { create: false });
    await h.truncate(1);
    assert.equal(await h.size(), 1);
    disk.crash(new SeededRandom(1));
    assert.deepEqual(await disk.readFile('/d/f'), bytes(1, 2, 3));
  });

  it('loses a synced file whose creation was not made durable by syncDir', async () => {
    const disk = new SimDisk(noTear);
    await disk.mkdirp('/d');
    const h = await disk.open('/d/new', { create: true });
    await h.append(bytes(9));
    await h.sync();
    disk.crash(new SeededRandom(1));
    assert.equal(await disk.readFile('/d/new'), undefined);
    assert.deepEqual(await disk.list('/d'), []);
  });

  it('a rename is not durable without syncDir, and is after it', async () => {
    const disk = await diskWithFile(bytes(1));
    const tmp = await disk.open('/d/tmp', { create: true });
    await tmp.append(bytes(2));
    await tmp.sync();
    await tmp.close();
    await disk.rename('/d/tmp', '/d/f');
    assert.deepEqual(await disk.readFile('/d/f'), bytes(2));
    disk.crash(new SeededRandom(1));
    assert.deepEqual(await disk.readFile('/d/f'), bytes(1), 'old content after crash without syncDir');

    const tmp2 = await disk.open('/d/tmp', { create: true });
    await tmp2.append(bytes(3));
    await tmp2.sync();
    await disk.rename('/d/tmp', '/d/f');
    await disk.syncDir('/d');
    disk.crash(new SeededRandom(1));
    assert.deepEqual(await disk.readFile('/d/f'), bytes(3));
    assert.deepEqual(await disk.list('/d'), ['f']);
  });

  it('a remove is not durable without syncDir', async () => {
    const disk = await diskWithFile(bytes(1));
    await disk.remove('/d/f');
    assert.equal(await disk.readFile('/d/f'), undefined);
    disk.crash(new SeededRandom(1));
    assert.deepEqual(await disk.readFile('/d/f'), bytes(1));
    await disk.remove('/d/f');
    await disk.syncDir('/d');
    disk.crash(new SeededRandom(1));
    assert.equal(await disk.readFile('/d/f'), undefined);
  });

  it('handles opened before a crash are dead after it; the disk works again', async () => {
    const disk = await diskWithFile(bytes(1));
    const h = await disk.open('/d/f', { create: false });
    disk.crash(new SeededRandom(1));
    await assert.rejects(h.append(bytes(2)), (e: unknown) => e instanceof StorageError && e.code === 'io');
    await h.close();
    const h2 = await disk.open('/d/f', { create: false });
    await h2.append(bytes(2));
    await h2.sync();
    assert.deepEqual(await disk.readFile('/d/f'), bytes(1, 2));
  });
});

describe('SimDisk torn writes', () => {
  it('some seeds tear the unsynced tail: a strict prefix survives, durable bytes intact', async () => {
    let torn = 0;
    let garbage = 0;
    let clean = 0;
    const durable = bytes(7, 7, 7, 7);
    const unsynced = Array.from({ length: 3 }, (_, i) => new Uint8Array(16).fill(10 + i));
    const all = [...durable, ...unsynced.flatMap((u) => [...u])];
    for (let seed = 0; seed < 100; seed++) {
      const disk = await diskWithFile(durable, {});
      const h = await disk.open('/d/f', { create: false });
      for (const u of unsynced) await h.append(u);
      const report = disk.crash(new SeededRandom(seed));
      const after = await disk.readFile('/d/f');
      assert.ok(after !== undefined);
      assert.deepEqual(after.slice(0, 4), durable, `seed ${seed}: durable prefix kept`);
      if (report.tornWrites.length === 0) {
        clean++;
        assert.equal(after.length, 4, `seed ${seed}: no tear means only durable bytes`);
        continue;
      }
      torn++;
      const t = report.tornWrites[0];
      assert.ok(t !== undefined && t.path === '/d/f');
      assert.equal(after.length, 4 + t.survivedBytes);
      assert.ok(t.survivedBytes >= 1 && t.survivedBytes < 48, `seed ${seed}: a strict prefix survives`);
      // Bytes before the torn append are exactly what was written.
      const tornAppendStart = 4 + Math.floor((t.survivedBytes - 1) / 16) * 16;
      assert.deepEqual([...after.slice(0, tornAppendStart)], all.slice(0, tornAppendStart), `seed ${seed}`);
      if (t.garbageBytes > 0) garbage++;
      else assert.deepEqual([...after], all.slice(0, after.length), `seed ${seed}: no garbage means a clean prefix`);
    }
    assert.ok(torn > 10 && clean > 10, `both outcomes happen: torn ${torn}, clean ${clean}`);
    assert.ok(garbage > 0, 'some torn writes carry garbage');
  });

  it('the same seed gives the same crash', async () => {
    const outcome = async (seed: number): Promise<Uint8Array | undefined> => {
      const disk = await diskWithFile(bytes(1), {});
      const h = await disk.open('/d/f', { create: false });
      await h.append(new Uint8Array(64).fill(5));
      disk.crash(new SeededRandom(seed));
      return disk.readFile('/d/f');
    };
    for (let seed = 0; seed < 20; seed++) assert.deepEqual(await outcome(seed), await outcome(seed));
  });

  it('never tears synced data', async () => {
    for (let seed = 0; seed < 30; seed++) {
      const disk = await diskWithFile(bytes(1, 2, 3), { tornWriteProbability: 1 });
      const report = disk.crash(new SeededRandom(seed));
      assert.deepEqual(report.tornWrites, []);
      assert.deepEqual(await disk.readFile('/d/f'), bytes(1, 2, 3));
    }
  });
});

describe('SimDisk faults and counters', () => {
  it('fails an append beyond capacity with no-space and writes nothing; works once space returns', async () => {
    const disk = await diskWithFile(bytes(1, 2, 3), { capacityBytes: 8, tornWriteProbability: 0 });
    const h = await disk.open('/d/f', { create: false });
    await h.append(bytes(4, 5, 6, 7, 8));
    await assert.rejects(h.append(bytes(9)), (e: unknown) => e instanceof StorageError && e.code === 'no-space' && e.path === '/d/f');
    assert.equal(await h.size(), 8);
    assert.equal(disk.usedBytes(), 8);
    disk.setCapacityBytes(16);
    await h.append(bytes(9));
    assert.equal(await h.size(), 9);
  });

  it('removing a file frees its space', async () => {
    const disk = await diskWithFile(new Uint8Array(8), { capacityBytes: 8, tornWriteProbability: 0 });
    const g = await disk.open('/d/g', { create: true });
    await assert.rejects(g.append(bytes(1)), (e: unknown) => e instanceof StorageError && e.code === 'no-space');
    await disk.remove('/d/f');
    await g.append(bytes(1));
  });

  it('corrupt flips a durable byte', async () => {
    const disk = await diskWithFile(bytes(1, 2, 3));
    disk.corrupt('/d/f', 1);
    assert.deepEqual(await disk.readFile('/d/f'), bytes(1, 2 ^ 0xff, 3));
    disk.crash(new SeededRandom(1));
    assert.deepEqual(await disk.readFile('/d/f'), bytes(1, 2 ^ 0xff, 3));
  });

  it('counts syncs', async () => {
    const disk = await diskWithFile(bytes(1));
    assert.deepEqual({ f: disk.stats().fileSyncs, d: disk.stats().dirSyncs }, { f: 1, d: 1 });
    const h = await disk.open('/d/f', { create: false });
    await h.sync();
    await h.sync();
    await disk.syncDir('/d');
    assert.deepEqual({ f: disk.stats().fileSyncs, d: disk.stats().dirSyncs }, { f: 3, d: 2 });
  });

  it('reports missing files and directories as io errors', async () => {
    const disk = new SimDisk();
    await assert.rejects(disk.open('/nodir/f', { create: true }), (e: unknown) => e instanceof StorageError && e.code === 'io');
    await disk.mkdirp('/a/b');
    await assert.rejects(disk.open('/a/b/f', { create: false }), (e: unknown) => e instanceof StorageError && e.code === 'io');
    await assert.rejects(disk.rename('/a/b/x', '/a/b/y'), (e: unknown) => e instanceof StorageError && e.code === 'io');
    assert.deepEqual(await disk.list('/a'), ['b']);
    assert.deepEqual(await disk.list('/missing'), []);
    await disk.remove('/a/b/none');
  });
});

describe('SimDisk attached views', () => {
  it('a view stops working after a crash; a new view works', async () => {
    const disk = await diskWithFile(bytes(1));
    const before = disk.attach();
    assert.deepEqual(await before.readFile('/d/f'), bytes(1));
    disk.crash(new SeededRandom(1));
    await assert.rejects(before.remove('/d/f'), (e: unknown) => e instanceof StorageError && e.code === 'io');
    await assert.rejects(before.open('/d/g', { create: true }), (e: unknown) => e instanceof StorageError && e.code === 'io');
    assert.deepEqual(await disk.readFile('/d/f'), bytes(1));
    assert.deepEqual(await disk.attach().list('/d'), ['f']);
  });
});

describe('SimDisk slow syncs', () => {
  it('a paused sync keeps data unsynced until resumed; a crash meanwhile loses it', async () => {
    const disk = await diskWithFile(bytes(1));
    const h = await disk.open('/d/f', { create: false });
    await h.append(bytes(2));
    disk.pauseSyncs();
    let done = false;
    const syncing = h.sync().then(() => {
      done = true;
    });
    await h.append(bytes(3)); // written after the sync was issued: not covered by it
    for (let i = 0; i < 5; i++) await Promise.resolve();
    assert.equal(done, false);
    disk.resumeSyncs();
    await syncing;
    assert.deepEqual(disk.durableContent('/d/f'), bytes(1, 2));

    disk.pauseSyncs();
    const lost = h.sync();
    for (let i = 0; i < 5; i++) await Promise.resolve();
    disk.crash(new SeededRandom(1));
    await assert.rejects(lost, (e: unknown) => e instanceof StorageError && e.code === 'io');
    assert.deepEqual(await disk.readFile('/d/f'), bytes(1, 2));
  });
});
