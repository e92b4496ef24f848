import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SeededRandom } from '../../../src/core/random.ts';
import type { FileSystem } from '../../../src/runtime/storage/fs.ts';
import { StorageError } from '../../../src/runtime/storage/fs.ts';
import { NodeFileSystem } from '../../../src/runtime/storage/node-fs.ts';
import { RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES, Wal, WalCorruptionError, WalError, segmentName, type WalOptions, type WalRecovery } from '../../../src/runtime/storage/wal.ts';
import { SimDisk } from '../../../src/sim/disk.ts';

/** Deterministic payload for an index, so any record can be checked without a model. */
export function payloadFor(index: number, salt = 0): Uint8Array {
  const length = 1 + ((index * 7919 + salt * 104729) % 300);
  return Uint8Array.from({ length }, (_, j) => (index * 31 + j + salt) & 0xff);
}

async function openOk(fs: FileSystem, dir: string, options: WalOptions = {}): Promise<{ wal: Wal; recovery: WalRecovery }> {
  const r = await Wal.open(fs, dir, options);
  if (!r.ok) throw r.error;
  return r.value;
}

async function openCorrupt(fs: FileSystem, dir: string, options: WalOptions = {}): Promise<WalCorruptionError> {
  const r = await Wal.open(fs, dir, options);
  assert.ok(!r.ok, 'expected a corruption error');
  return r.error;
}

async function appendIndexes(wal: Wal, from: number, to: number): Promise<void> {
  for (let i = from; i <= to; i++) {
    const range = await wal.append([payloadFor(i)], { expectedFirstIndex: i });
    assert.deepEqual(range, { firstIndex: i, lastIndex: i });
  }
}

async function assertContent(wal: Wal, from: number, to: number): Promise<void> {
  assert.equal(wal.firstIndex, from, 'firstIndex');
  assert.equal(wal.lastIndex, to, 'lastIndex');
  const all = from <= to ? await wal.readRange(from, to + 1) : [];
  assert.equal(all.length, to - from + 1);
  all.forEach((p, k) => assert.deepEqual(p, payloadFor(from + k), `record ${from + k}`));
}

const tempDirs: string[] = [];
after(async () => {
  for (const d of tempDirs) await rm(d, { recursive: true, force: true });
});

interface Env {
  readonly name: string;
  /** A file system and an empty directory in it. */
  make(): Promise<{ fs: FileSystem; dir: string }>;
}

const ENVS: readonly Env[] = [
  {
    name: 'SimDisk',
    make: async () => ({ fs: new SimDisk({ tornWriteProbability: 0 }), dir: '/data/wal' }),
  },
  {
    name: 'NodeFileSystem',
    make: async () => {
      const dir = await mkdtemp(join(tmpdir(), 'sappers-wal-'));
      tempDirs.push(dir);
      return { fs: new NodeFileSystem(), dir: join(dir, 'wal') };
    },
  },
];

const SMALL: WalOptions = { segmentBytes: 1024 };

for (const env of ENVS) {
  describe(`WAL on ${env.name}`, () => {
    it('appends, reads, and recovers the same log after reopening', async () => {
      const { fs, dir } = await env.make();
      const { wal, recovery } = await openOk(fs, dir);
      assert.deepEqual({ f: recovery.firstIndex, l: recovery.lastIndex, torn: recovery.tornTail }, { f: 1, l: 0, torn: undefined });
      const range = await wal.append([payloadFor(1), payloadFor(2), payloadFor(3)]);
      assert.deepEqual(range, { firstIndex: 1, lastIndex: 3 });
      await appendIndexes(wal, 4, 10);
      assert.deepEqual(await wal.read(7), payloadFor(7));
      await assertContent(wal, 1, 10);
      await wal.close();
      await assert.rejects(wal.append([payloadFor(11)]), (e: unknown) => e instanceof WalError && e.code === 'closed');
      const again = await openOk(fs, dir);
      assert.deepEqual({ f: again.recovery.firstIndex, l: again.recovery.lastIndex }, { f: 1, l: 10 });
      await assertContent(again.wal, 1, 10);
      await again.wal.close();
    });

    it('rotates segments with self-describing names and reads across them', async () => {
      const { fs, dir } = await env.make();
      const { wal } = await openOk(fs, dir, SMALL);
      await appendIndexes(wal, 1, 60);
      assert.ok(wal.segmentCount > 5, `rotated into ${wal.segmentCount} segments`);
      const names = (await fs.list(dir)).filter((n) => n.endsWith('.wal'));
      assert.equal(names.length, wal.segmentCount);
      assert.equal(names[0], segmentName(1));
      assert.equal(names[0], '0000000000000001.wal');
      await assertContent(wal, 1, 60);
      // maxBytes: stops before exceeding, but always returns one record.
      const limited = await wal.readRange(1, 61, payloadFor(1).length + payloadFor(2).length);
      assert.equal(limited.length, 2);
      assert.equal((await wal.readRange(5, 61, 1)).length, 1);
      await wal.close();
      const again = await openOk(fs, dir, SMALL);
      assert.equal(again.recovery.segments, names.length);
      await assertContent(again.wal, 1, 60);
      await appendIndexes(again.wal, 61, 70);
      await again.wal.close();
    });

    it('truncateSuffix inside a segment, at a segment start and across segments', async () => {
      const { fs, dir } = await env.make();
      const { wal } = await openOk(fs, dir, SMALL);
      await appendIndexes(wal, 1, 60);
      await wal.truncateSuffix(58);
      await assertContent(wal, 1, 57);
      await wal.truncateSuffix(100); // beyond the end: nothing to do
      await assertContent(wal, 1, 57);
      const startOfSomeSegment = Number.parseInt((await fs.list(dir)).filter((n) => n.endsWith('.wal'))[2]!.slice(0, 16), 16);
      await wal.truncateSuffix(startOfSomeSegment);
      await assertContent(wal, 1, startOfSomeSegment - 1);
      await wal.truncateSuffix(5);
      await assertContent(wal, 1, 4);
      assert.equal(wal.segmentCount, 1);
      // Raft then appends the leader's entries in place of the removed ones.
      await appendIndexes(wal, 5, 30);
      await wal.close();
      const again = await openOk(fs, dir, SMALL);
      await assertContent(again.wal, 1, 30);
      await again.wal.truncateSuffix(1);
      await assertContent(again.wal, 1, 0);
      await appendIndexes(again.wal, 1, 3);
      await again.wal.close();
    });

    it('dropPrefix deletes whole segments below the index and remembers the first index', async () => {
      const { fs, dir } = await env.make();
      const { wal } = await openOk(fs, dir, SMALL);
      await appendIndexes(wal, 1, 60);
      const before = wal.segmentCount;
      await wal.dropPrefix(25);
      assert.ok(wal.segmentCount < before, 'segments were deleted');
      await assertContent(wal, 25, 60);
      await assert.rejects(wal.read(24), (e: unknown) => e instanceof WalError && e.code === 'compacted');
      await assert.rejects(wal.read(61), (e: unknown) => e instanceof WalError && e.code === 'out-of-range');
      await wal.dropPrefix(10); // below firstIndex: nothing to do
      await wal.close();
      const again = await openOk(fs, dir, SMALL);
      assert.equal(again.recovery.firstIndex, 25);
      await assertContent(again.wal, 25, 60);
      // A snapshot past the end: the log becomes empty and continues from there.
      await again.wal.dropPrefix(100);
      await assertContent(again.wal, 100, 99);
      await appendIndexes(again.wal, 100, 105);
      await again.wal.close();
      const third = await openOk(fs, dir, SMALL);
      await assertContent(third.wal, 100, 105);
      assert.deepEqual((await fs.list(dir)).filter((n) => n.endsWith('.wal')), [segmentName(100)]);
      await third.wal.close();
    });

    it('cuts and reports a torn tail at the end of the last segment', async () => {
      const { fs, dir } = await env.make();
      const { wal } = await openOk(fs, dir, SMALL);
      await appendIndexes(wal, 1, 12);
      await wal.close();
      const last = (await fs.list(dir)).filter((n) => n.endsWith('.wal')).at(-1)!;
      const path = join(dir, last);
      const sizeBefore = (await fs.readFile(path))!.length;
      // Half of a record: what a crash in the middle of write(2) leaves.
      const h = await fs.open(path, { create: false });
      const rec = new Uint8Array(RECORD_HEADER_BYTES + 40).fill(0xab);
      await h.append(rec.subarray(0, 30));
      await h.sync();
      await h.close();
      const again = await openOk(fs, dir, SMALL);
      assert.deepEqual(again.recovery.tornTail, { file: path, offset: sizeBefore, droppedBytes: 30 });
      await assertContent(again.wal, 1, 12);
      assert.equal((await fs.readFile(path))!.length, sizeBefore, 'file cut back to the last good record');
      await appendIndexes(again.wal, 13, 14);
      await again.wal.close();
    });

    it('refuses a bad record that is followed by valid ones, naming file and offset', async () => {
      const { fs, dir } = await env.make();
      const { wal } = await openOk(fs, dir);
      await appendIndexes(wal, 1, 5);
      await wal.close();
      const path = join(dir, segmentName(1));
      const recordOffset = SEGMENT_HEADER_BYTES + payloadFor(1).length + RECORD_HEADER_BYTES; // record 2
      await flipByte(fs, path, recordOffset + RECORD_HEADER_BYTES + 3);
      const e = await openCorrupt(fs, dir);
      assert.equal(e.kind, 'bad-record');
      assert.equal(e.file, path);
      assert.equal(e.offset, recordOffset);
      assert.match(e.message, /followed by a valid record 3/);
      assert.ok(e instanceof StorageError && e.code === 'corrupt');
      assert.equal((await fs.readFile(path))!.length, SEGMENT_HEADER_BYTES + [1, 2, 3, 4, 5].reduce((n, i) => n + RECORD_HEADER_BYTES + payloadFor(i).length, 0), 'nothing was wiped');
    });

    it('refuses a bad record in a segment that is not the last', async () => {
      const { fs, dir } = await env.make();
      const { wal } = await openOk(fs, dir, SMALL);
      await appendIndexes(wal, 1, 30);
      await wal.close();
      const first = join(dir, segmentName(1));
      const size = (await fs.readFile(first))!.length;
      await flipByte(fs, first, size - 1); // the last byte of the last record of the first segment
      const e = await openCorrupt(fs, dir, SMALL);
      assert.equal(e.kind, 'bad-record');
      assert.equal(e.file, first);
      assert.ok(e.offset > SEGMENT_HEADER_BYTES && e.offset < size);
    });

    it('detects a gap between segments and a header that disagrees with its name', async () => {
      const { fs, dir } = await env.make();
      const { wal } = await openOk(fs, dir, SMALL);
      await appendIndexes(wal, 1, 40);
      await wal.close();
      const names = (await fs.list(dir)).filter((n) => n.endsWith('.wal'));
      assert.ok(names.length >= 3);
      // A lost middle segment.
      const middle = names[1]!;
      const saved = (await fs.readFile(join(dir, middle)))!;
      await fs.remove(join(dir, middle));
      const gap = await openCorrupt(fs, dir, SMALL);
      assert.equal(gap.kind, 'index-gap');
      assert.equal(gap.file, join(dir, names[2]!));
      // Put it back under a name that lies about its first index.
      const liarName = segmentName(Number.parseInt(middle.slice(0, 16), 16) + 1);
      const h = await fs.open(join(dir, liarName), { create: true });
      await h.append(saved);
      await h.sync();
      await h.close();
      const lie = await openCorrupt(fs, dir, SMALL);
      assert.equal(lie.kind, 'segment-header-mismatch');
      assert.equal(lie.file, join(dir, liarName));
      assert.equal(lie.offset, 8);
    });

    it('refuses a damaged first-index marker', async () => {
      const { fs, dir } = await env.make();
      const { wal } = await openOk(fs, dir, SMALL);
      await appendIndexes(wal, 1, 40);
      await wal.dropPrefix(20);
      await wal.close();
      await flipByte(fs, join(dir, 'wal.meta'), 21);
      const e = await openCorrupt(fs, dir, SMALL);
      assert.equal(e.kind, 'bad-meta');
      assert.equal(e.file, join(dir, 'wal.meta'));
    });

    it('rejects oversized records, too many pending bytes and a wrong expected index', async () => {
      const { fs, dir } = await env.make();
      const { wal } = await openOk(fs, dir, { maxRecordBytes: 100, maxPendingBytes: 400 });
      await assert.rejects(wal.append([new Uint8Array(101)]), (e: unknown) => e instanceof WalError && e.code === 'record-too-large');
      const many = Array.from({ length: 10 }, () => wal.append([new Uint8Array(100)]).then(() => 'ok', (e: unknown) => (e instanceof WalError ? e.code : 'other')));
      const outcomes = await Promise.all(many);
      assert.ok(outcomes.includes('ok') && outcomes.includes('backpressure'), outcomes.join(','));
      assert.ok(outcomes.every((o) => o === 'ok' || o === 'backpressure'));
      const next = wal.lastIndex + 1;
      await assert.rejects(wal.append([new Uint8Array(5)], { expectedFirstIndex: next + 1 }), (e: unknown) => e instanceof WalError && e.code === 'index-mismatch');
      assert.deepEqual(await wal.append([new Uint8Array(5)], { expectedFirstIndex: next }), { firstIndex: next, lastIndex: next });
      await wal.close();
    });
  });
}

async function flipByte(fs: FileSystem, path: string, offset: number): Promise<void> {
  if (fs instanceof SimDisk) {
    fs.corrupt(path, offset);
    return;
  }
  const data = (await fs.readFile(path))!;
  data[offset] = data[offset]! ^ 0xff;
  const tmp = `${path}.flip`;
  const h = await fs.open(tmp, { create: true });
  await h.append(data);
  await h.sync();
  await h.close();
  await fs.rename(tmp, path);
}

describe('WAL on SimDisk: crashes, full disk and group commit', () => {
  it('a torn, unacknowledged append is cut off and reported after a crash', async () => {
    let torn = 0;
    for (let seed = 0; seed < 20; seed++) {
      const disk = new SimDisk({ tornWriteProbability: 1 });
      const { wal } = await openOk(disk.attach(), '/w');
      await appendIndexes(wal, 1, 5);
      const pending = wal.append([payloadFor(6), payloadFor(7), payloadFor(8)]).catch(() => 'lost');
      disk.crash(new SeededRandom(seed));
      assert.equal(await pending, 'lost');
      const again = await openOk(disk.attach(), '/w');
      // Whole records of the unacknowledged append may survive, only as a suffix; a torn one never.
      const last = again.wal.lastIndex;
      assert.ok(last >= 5 && last <= 8, `last ${last}`);
      if (again.recovery.tornTail !== undefined) {
        torn++;
        assert.equal(again.recovery.tornTail.file, `/w/${segmentName(1)}`);
        assert.ok(again.recovery.tornTail.droppedBytes > 0);
      }
      await assertContent(again.wal, 1, last);
      await appendIndexes(again.wal, last + 1, last + 2);
    }
    assert.ok(torn > 10, `torn tails reported for ${torn} of 20 seeds`);
  });

  it('no space: the failed append is invisible, the log stays usable, and works once space returns', async () => {
    const disk = new SimDisk({ tornWriteProbability: 0 });
    const fs = disk.attach();
    const { wal } = await openOk(fs, '/w', SMALL);
    await appendIndexes(wal, 1, 10);
    disk.setCapacityBytes(disk.usedBytes() + 100);
    const failed = wal.append([new Uint8Array(200)]);
    const queuedBehind = wal.append([new Uint8Array(10)]);
    await assert.rejects(failed, (e: unknown) => e instanceof StorageError && e.code === 'no-space');
    await assert.rejects(queuedBehind, (e: unknown) => e instanceof WalError && e.code === 'aborted');
    assert.equal(wal.lastIndex, 10);
    await assertContent(wal, 1, 10);
    // Rotation needs space for a new segment too: fill the current one, then fail to rotate.
    for (let i = 11; ; i++) {
      const r = await wal.append([payloadFor(i)], { expectedFirstIndex: i }).then(() => true, (e: unknown) => {
        assert.ok(e instanceof StorageError && e.code === 'no-space', String(e));
        return false;
      });
      if (!r) break;
      assert.ok(i < 100, 'the disk fills up');
    }
    const lastBeforeSpace = wal.lastIndex;
    await assertContent(wal, 1, lastBeforeSpace);
    disk.setCapacityBytes(undefined);
    await appendIndexes(wal, lastBeforeSpace + 1, lastBeforeSpace + 20);
    await wal.close();
    const again = await openOk(disk.attach(), '/w', SMALL);
    await assertContent(again.wal, 1, lastBeforeSpace + 20);
  });

  it('group commit: many concurrent appends share a few syncs', async () => {
    const disk = new SimDisk({ tornWriteProbability: 0 });
    const { wal } = await openOk(disk.attach(), '/w');
    const syncsBefore = disk.stats().fileSyncs;
    const n = 200;
    const ranges = await Promise.all(Array.from({ length: n }, (_, i) => wal.append([payloadFor(i + 1)])));
    const syncs = disk.stats().fileSyncs - syncsBefore;
    assert.ok(syncs <= 3, `${n} appends took ${syncs} syncs`);
    // Indexes follow call order.
    ranges.forEach((r, i) => assert.deepEqual(r, { firstIndex: i + 1, lastIndex: i + 1 }));
    await assertContent(wal, 1, n);
    // One at a time, each append is its own sync (the contrast the batching is about).
    const before = disk.stats().fileSyncs;
    await appendIndexes(wal, n + 1, n + 10);
    assert.equal(disk.stats().fileSyncs - before, 10);
  });

  it('an append is not acknowledged before its sync (unsynced data vanishes with the ack pending)', async () => {
    const disk = new SimDisk({ tornWriteProbability: 0 });
    const { wal } = await openOk(disk.attach(), '/w');
    await appendIndexes(wal, 1, 3);
    let acked = false;
    const p = wal.append([payloadFor(4)]).then(() => {
      acked = true;
    }, () => undefined);
    disk.crash(new SeededRandom(1));
    await p;
    assert.equal(acked, false);
    const again = await openOk(disk.attach(), '/w');
    await assertContent(again.wal, 1, 3);
  });
});

describe('WAL failures that need a reopen', () => {
  it('a failed compaction poisons the log until it is reopened, and the reopen finishes it', async () => {
    const disk = new SimDisk({ tornWriteProbability: 0 });
    const { wal } = await openOk(disk.attach(), '/w', SMALL);
    await appendIndexes(wal, 1, 20);
    // Room for the 28-byte first-index marker, not for the new segment after it.
    disk.setCapacityBytes(disk.usedBytes() + 40);
    await assert.rejects(wal.dropPrefix(100), (e: unknown) => e instanceof StorageError && e.code === 'no-space');
    await assert.rejects(wal.append([payloadFor(21)]), (e: unknown) => e instanceof WalError && e.code === 'failed');
    await assert.rejects(wal.read(1), (e: unknown) => e instanceof WalError && e.code === 'failed');
    await wal.close();
    disk.setCapacityBytes(undefined);
    const again = await openOk(disk.attach(), '/w', SMALL);
    // The first-index marker was written before the failure, so the reset is completed.
    await assertContent(again.wal, 100, 99);
    await appendIndexes(again.wal, 100, 101);
  });
});
