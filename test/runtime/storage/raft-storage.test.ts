// RaftStorage: round trips, recovery after restarts and crashes, the Figure 13 install cases,
// resumable incoming transfers, and every refusal of recovery (on crafted broken files).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterConfig, Entry, HardState, NodeId, SnapshotMeta } from '../../../src/core/raft/types.ts';
import { SeededRandom, type Random } from '../../../src/core/random.ts';
import { writeAtomic } from '../../../src/runtime/storage/atomic-file.ts';
import type { FileSystem } from '../../../src/runtime/storage/fs.ts';
import { StorageError } from '../../../src/runtime/storage/fs.ts';
import { NodeFileSystem } from '../../../src/runtime/storage/node-fs.ts';
import { encodeEntry, encodeHardState } from '../../../src/runtime/storage/raft-encoding.ts';
import { incomingName, RaftStorage, RaftStorageError, snapshotName, type RaftStorageOptions, type RecoveredRaftState } from '../../../src/runtime/storage/raft-storage.ts';
import { segmentName, Wal, WalCorruptionError } from '../../../src/runtime/storage/wal.ts';
import { SimDisk } from '../../../src/sim/disk.ts';

const DIR = '/node/raft';
const CONFIG: ClusterConfig = { voters: ['a', 'b', 'c'] as NodeId[], learners: ['d'] as NodeId[] };
const SMALL: RaftStorageOptions = { wal: { segmentBytes: 512 }, incomingFrameBytes: 16 };

function entry(index: number, term: number, tag = ''): Entry {
  return { index, term, type: 'normal', data: new TextEncoder().encode(`e${index}t${term}${tag}`) };
}

function configEntry(index: number, term: number): Entry {
  return { index, term, type: 'config', data: new Uint8Array(0), config: CONFIG };
}

function range(from: number, to: number, term: number | ((i: number) => number), tag = ''): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push(entry(i, typeof term === 'number' ? term : term(i), tag));
  return out;
}

function meta(index: number, term: number): SnapshotMeta {
  return { index, term, config: CONFIG };
}

function bytesOf(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed * 7) & 0xff);
}

async function openOk(fs: FileSystem, dir = DIR, options: RaftStorageOptions = SMALL): Promise<{ storage: RaftStorage; state: RecoveredRaftState }> {
  const r = await RaftStorage.open(fs, dir, options);
  if (!r.ok) throw r.error;
  return r.value;
}

async function openRefused(fs: FileSystem, dir = DIR, options: RaftStorageOptions = SMALL): Promise<RaftStorageError> {
  const r = await RaftStorage.open(fs, dir, options);
  if (r.ok) {
    await r.value.storage.close();
    assert.fail(`expected recovery to refuse, got ${JSON.stringify({ ...r.value.state, entries: r.value.state.entries.length })}`);
  }
  assert.ok(r.error instanceof RaftStorageError);
  return r.error;
}

/** Receives a whole snapshot in chunks (begin, write, finish); returns the offset begin reported. */
async function receive(s: RaftStorage, m: SnapshotMeta, data: Uint8Array, chunkBytes = 10): Promise<number> {
  const begun = await s.beginIncoming(m, data.length);
  if (!begun.ok) throw begun.error;
  for (let off = begun.value; off < data.length; off += chunkBytes) {
    const w = await s.writeIncoming(m, off, data.subarray(off, Math.min(data.length, off + chunkBytes)));
    if (!w.ok) throw w.error;
    assert.equal(w.value, Math.min(data.length, off + chunkBytes));
  }
  const fin = await s.finishIncoming(m);
  if (!fin.ok) throw fin.error;
  return begun.value;
}

function strip(entries: readonly Entry[]): Array<{ index: number; term: number; type: string; data: string; config?: ClusterConfig }> {
  return entries.map((e) => ({ index: e.index, term: e.term, type: e.type, data: Buffer.from(e.data).toString('hex'), ...(e.config ? { config: e.config } : {}) }));
}

const tempDirs: string[] = [];
after(async () => {
  for (const d of tempDirs) await rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'sappers-raft-storage-'));
  tempDirs.push(d);
  return d;
}

describe('RaftStorage round trips', () => {
  it('a fresh directory recovers the empty state', async () => {
    const disk = new SimDisk();
    const { storage, state } = await openOk(disk);
    assert.deepEqual(state, { hardState: { term: 0, vote: undefined, commit: 0 }, snapshot: undefined, entries: [], notes: [] });
    assert.equal(await storage.readSnapshot(), undefined);
    assert.equal(storage.firstIndex, 1);
    assert.equal(storage.lastIndex, 0);
    await storage.close();
  });

  it('entries, hard state and snapshots survive a restart on the real file system', async () => {
    const dir = join(await tempDir(), 'raft');
    const fs = new NodeFileSystem();
    const { storage } = await openOk(fs, dir);
    const log = [configEntry(1, 1), ...range(2, 30, (i) => (i < 10 ? 1 : 2))];
    await storage.append(log.slice(0, 10));
    await storage.append(log.slice(10));
    const hs: HardState = { term: 2, vote: 'b' as NodeId, commit: 25 };
    await storage.saveHardState(hs);
    const snapData = bytesOf(5000, 1);
    await storage.saveSnapshot(meta(20, 2), snapData);
    assert.deepEqual(strip(await storage.readEntries(1, 31)), strip(log));
    // No close(): a process that stops keeps what was acknowledged.
    const reopened = await openOk(fs, dir);
    assert.deepEqual(reopened.state.hardState, hs);
    assert.deepEqual(reopened.state.snapshot, meta(20, 2));
    assert.deepEqual(strip(reopened.state.entries), strip(log.slice(20)));
    assert.ok(reopened.state.notes.some((n) => n.includes('compacted 20 entries')), reopened.state.notes.join('\n'));
    assert.deepEqual(await reopened.storage.readSnapshot(), { meta: meta(20, 2), data: snapData });
    assert.equal(reopened.storage.firstIndex, 21);
    await reopened.storage.close();
    await storage.close();
    const again = await openOk(fs, dir);
    assert.deepEqual(again.state.notes, []);
    assert.deepEqual(strip(again.state.entries), strip(log.slice(20)));
    await again.storage.close();
    assert.deepEqual((await readdir(join(dir, 'snapshots'))).sort(), [snapshotName(20, 2)]);
  });

  it('concurrent hard state saves are written one at a time; the last one wins', async () => {
    const disk = new SimDisk();
    const { storage } = await openOk(disk);
    await storage.append(range(1, 10, 1));
    await Promise.all(Array.from({ length: 10 }, (_, k) => storage.saveHardState({ term: k + 1, vote: 'c' as NodeId, commit: k })));
    await storage.close();
    const { state } = await openOk(disk);
    assert.deepEqual(state.hardState, { term: 10, vote: 'c', commit: 9 });
  });

  it('concurrent appends share fsyncs (group commit) and keep call order', async () => {
    const disk = new SimDisk();
    const { storage } = await openOk(disk, DIR, {});
    const before = disk.stats().fileSyncs;
    await Promise.all(Array.from({ length: 40 }, (_, k) => storage.append([entry(k + 1, 1)])));
    const syncs = disk.stats().fileSyncs - before;
    assert.ok(syncs <= 4, `40 concurrent appends took ${syncs} fsyncs`);
    assert.deepEqual(strip(await storage.readEntries(1, 41)), strip(range(1, 40, 1)));
    await storage.close();
  });

  it('an append at or below the last index replaces the suffix (a follower resolving a conflict)', async () => {
    const disk = new SimDisk();
    const { storage } = await openOk(disk);
    await storage.append(range(1, 40, 1));
    await storage.append(range(30, 33, 3, 'new'));
    assert.equal(storage.lastIndex, 33);
    // Overwrite plus appends in flight at once keep their order.
    await Promise.all([storage.append(range(32, 35, 4, 'newer')), storage.append(range(36, 37, 4, 'newer'))]);
    const expected = [...range(1, 29, 1), ...range(30, 31, 3, 'new'), ...range(32, 37, 4, 'newer')];
    assert.deepEqual(strip(await storage.readEntries(1, 38)), strip(expected));
    await storage.close();
    const { state } = await openOk(disk);
    assert.deepEqual(strip(state.entries), strip(expected));
  });

  it('refuses programmer errors: gaps, rewriting the snapshot, decreasing terms, commit past the log', async () => {
    const disk = new SimDisk();
    const { storage } = await openOk(disk);
    await storage.append(range(1, 5, 2));
    assert.throws(() => storage.append([entry(7, 2)]), /gap/);
    assert.throws(() => storage.append([entry(6, 1)]), /below the previous term/);
    assert.throws(() => storage.append([entry(6, 2), entry(8, 2)]), /consecutive/);
    assert.throws(() => storage.saveHardState({ term: 2, vote: undefined, commit: 6 }), /beyond the log/);
    await storage.saveSnapshot(meta(3, 2), bytesOf(10, 1));
    assert.throws(() => storage.append([entry(3, 2)]), /rewrites the snapshot/);
    assert.throws(() => storage.compact(4), /needs a durable snapshot/);
    await storage.close();
  });

  it('compaction drops the prefix, also past the end of the log (a snapshot newer than the log)', async () => {
    const disk = new SimDisk();
    const { storage } = await openOk(disk);
    await storage.append(range(1, 50, 1));
    await storage.saveHardState({ term: 2, vote: undefined, commit: 40 });
    await storage.saveSnapshot(meta(30, 1), bytesOf(100, 1));
    await storage.compact(25);
    assert.equal(storage.firstIndex, 26);
    await storage.compact(30);
    assert.equal(storage.firstIndex, 31);
    assert.equal(storage.lastIndex, 50);
    await storage.saveSnapshot(meta(60, 1), bytesOf(100, 2));
    await storage.compact(60);
    assert.deepEqual([storage.firstIndex, storage.lastIndex], [61, 60]);
    await storage.append([entry(61, 2)]);
    await storage.close();
    const { state } = await openOk(disk);
    assert.deepEqual(state.snapshot, meta(60, 1));
    assert.deepEqual(strip(state.entries), strip([entry(61, 2)]));
    assert.deepEqual(state.notes, []);
  });

  it('keeps only the newest two snapshot files', async () => {
    const disk = new SimDisk();
    const { storage } = await openOk(disk);
    await storage.append(range(1, 40, 1));
    for (const i of [10, 20, 30, 40]) await storage.saveSnapshot(meta(i, 1), bytesOf(i, i));
    assert.deepEqual(await disk.list(`${DIR}/snapshots`), [snapshotName(30, 1), snapshotName(40, 1)]);
    assert.deepEqual(await storage.readSnapshot(), { meta: meta(40, 1), data: bytesOf(40, 40) });
    await storage.close();
  });

  it('a full disk fails the write but leaves the storage usable: the same write succeeds once space returns', async () => {
    const disk = new SimDisk();
    const { storage } = await openOk(disk);
    await storage.append(range(1, 3, 1));
    await storage.saveHardState({ term: 1, vote: undefined, commit: 3 });
    disk.setCapacityBytes(disk.usedBytes() + 10);
    const noSpace = (e: unknown): boolean => e instanceof StorageError && e.code === 'no-space';
    await assert.rejects(storage.append([entry(4, 1, 'x'.repeat(100))]), noSpace);
    await assert.rejects(storage.saveHardState({ term: 2, vote: 'n1' as NodeId, commit: 3 }), noSpace);
    assert.equal(storage.lastIndex, 3, 'the failed append left nothing behind');
    disk.setCapacityBytes(undefined);
    await storage.append([entry(4, 1, 'x'.repeat(100)), entry(5, 2)]);
    await storage.saveHardState({ term: 2, vote: 'n1' as NodeId, commit: 5 });
    await storage.close();
    const { storage: again, state } = await openOk(disk);
    assert.deepEqual(strip(state.entries), strip([...range(1, 3, 1), entry(4, 1, 'x'.repeat(100)), entry(5, 2)]));
    assert.deepEqual(state.hardState, { term: 2, vote: 'n1', commit: 5 });
    await again.close();
  });

  it('a full disk while a conflicting suffix is replaced: the log ends before the new entries, and a retry writes them', async () => {
    const disk = new SimDisk();
    const { storage } = await openOk(disk);
    await storage.append(range(1, 6, 1));
    disk.setCapacityBytes(disk.usedBytes());
    // Larger than the truncated entries 4-6: the truncation alone does not make room.
    const replacement = range(4, 5, 2, 'y'.repeat(500));
    await assert.rejects(storage.append(replacement), (e: unknown) => e instanceof StorageError && e.code === 'no-space');
    assert.equal(storage.lastIndex, 3);
    disk.setCapacityBytes(undefined);
    await storage.append(replacement);
    await storage.close();
    const { storage: again, state } = await openOk(disk);
    assert.deepEqual(strip(state.entries), strip([...range(1, 3, 1), ...replacement]));
    await again.close();
  });

});

describe('RaftStorage hard state ordering and crash repairs', () => {
  it('the hard state waits for earlier appends, so a crash never leaves commit past the log', async () => {
    const disk = new SimDisk({ tornWriteProbability: 0 });
    const { storage } = await openOk(disk);
    await storage.append(range(1, 5, 1));
    await storage.saveHardState({ term: 1, vote: undefined, commit: 5 });
    disk.pauseSyncs(); // the append's fsync hangs
    const appended = storage.append(range(6, 10, 1));
    const saved = storage.saveHardState({ term: 1, vote: undefined, commit: 10 });
    for (let i = 0; i < 50; i++) await Promise.resolve();
    disk.crash(new SeededRandom(1));
    await Promise.allSettled([appended, saved]);
    const { state } = await openOk(disk);
    assert.equal(state.hardState.commit, 5);
    assert.equal(state.entries.length, 5);
  });

  it('raises a term left below the log by a crash between an append and the hard state', async () => {
    const disk = new SimDisk();
    const { storage } = await openOk(disk);
    await storage.saveHardState({ term: 1, vote: 'a' as NodeId, commit: 0 });
    await storage.append([...range(1, 3, 1), ...range(4, 5, 3)]);
    const { state, storage: s2 } = await openOk(disk);
    assert.deepEqual(state.hardState, { term: 3, vote: undefined, commit: 0 });
    assert.ok(state.notes.some((n) => n.includes('raised to 3')), state.notes.join('\n'));
    await s2.close();
    const again = await openOk(disk);
    assert.deepEqual(again.state.hardState, { term: 3, vote: undefined, commit: 0 });
    assert.deepEqual(again.state.notes, []);
  });

  it('notes a torn tail cut after a crash', async () => {
    const disk = new SimDisk({ tornWriteProbability: 1, tornGarbageProbability: 1 });
    const { storage } = await openOk(disk, DIR, {});
    await storage.append(range(1, 3, 1));
    await storage.saveHardState({ term: 1, vote: undefined, commit: 3 });
    disk.pauseSyncs();
    const pending = storage.append(range(4, 20, 1, 'x'.repeat(20)));
    for (let i = 0; i < 10; i++) await Promise.resolve();
    const report = disk.crash(new SeededRandom(7));
    assert.equal(report.tornWrites.length, 1);
    await pending.catch(() => undefined);
    const { state } = await openOk(disk, DIR, {});
    assert.ok(state.entries.length >= 3);
    assert.deepEqual(state.notes.length, 1);
    assert.match(state.notes[0]!, /^log: cut a torn write at the end of .*0000000000000001\.wal/);
  });
});

describe('RaftStorage installSnapshot (Figure 13)', () => {
  it('keeps the entries after the snapshot when the log holds its last entry with the same term (step 6)', async () => {
    const disk = new SimDisk();
    const { storage } = await openOk(disk);
    await storage.append(range(1, 20, (i) => (i <= 10 ? 1 : 2)));
    const data = bytesOf(333, 3);
    await receive(storage, meta(15, 2), data);
    await storage.installSnapshot(meta(15, 2));
    assert.deepEqual([storage.firstIndex, storage.lastIndex], [16, 20]);
    assert.deepEqual(await storage.readSnapshot(), { meta: meta(15, 2), data });
    await storage.append([entry(21, 2)]);
    await storage.close();
    const { state } = await openOk(disk);
    assert.deepEqual(state.snapshot, meta(15, 2));
    assert.deepEqual(strip(state.entries), strip(range(16, 21, 2)));
    assert.deepEqual(await disk.list(`${DIR}/snapshots`), [snapshotName(15, 2)], 'the received file is gone');
  });

  it('discards the log when it does not hold the snapshot entry with its term (step 7)', async () => {
    const disk = new SimDisk();
    const { storage } = await openOk(disk);
    await storage.append(range(1, 20, 1));
    await receive(storage, meta(15, 4), bytesOf(50, 4));
    await storage.installSnapshot(meta(15, 4));
    assert.deepEqual([storage.firstIndex, storage.lastIndex], [16, 15]);
    await storage.append([entry(16, 4)]);
    await storage.close();
    const { state } = await openOk(disk);
    assert.deepEqual(state.snapshot, meta(15, 4));
    assert.deepEqual(strip(state.entries), strip([entry(16, 4)]));
  });

  it('a snapshot beyond the end of the log resets it to start after the snapshot', async () => {
    const disk = new SimDisk();
    const { storage } = await openOk(disk);
    await storage.append(range(1, 5, 1));
    await storage.saveSnapshot(meta(3, 1), bytesOf(5, 5));
    await receive(storage, meta(100, 3), bytesOf(64, 6));
    await storage.installSnapshot(meta(100, 3));
    assert.deepEqual([storage.firstIndex, storage.lastIndex], [101, 100]);
    await storage.append([entry(101, 3)]);
    const { state } = await openOk(disk);
    assert.deepEqual(state.snapshot, meta(100, 3));
    assert.deepEqual(strip(state.entries), strip([entry(101, 3)]));
    assert.deepEqual(await disk.list(`${DIR}/snapshots`), [snapshotName(3, 1), snapshotName(100, 3)]);
  });

  it('recovery finishes an install interrupted before the log was discarded', async () => {
    // The snapshot file is durable but the log still holds a different entry at its index.
    const disk = new SimDisk();
    const { storage } = await openOk(disk);
    await storage.append(range(1, 20, 1));
    await storage.saveHardState({ term: 1, vote: undefined, commit: 10 });
    await storage.saveSnapshot(meta(12, 5), bytesOf(12, 12));
    const { state } = await openOk(disk);
    assert.deepEqual(state.snapshot, meta(12, 5));
    assert.deepEqual(state.entries, []);
    assert.equal(state.hardState.term, 5);
    assert.ok(state.notes.some((n) => n.includes('Figure 13 step 7')), state.notes.join('\n'));
  });

  it('operations called during an install run after it, in call order', async () => {
    const disk = new SimDisk();
    const { storage } = await openOk(disk);
    await storage.append(range(1, 10, 1));
    await receive(storage, meta(8, 2), bytesOf(40, 1));
    const installed = storage.installSnapshot(meta(8, 2));
    const appended = storage.append([entry(9, 2), entry(10, 2)]);
    const hs = storage.saveHardState({ term: 2, vote: undefined, commit: 10 });
    await Promise.all([installed, appended, hs]);
    const { state } = await openOk(disk);
    assert.deepEqual(state.snapshot, meta(8, 2));
    assert.deepEqual(strip(state.entries), strip(range(9, 10, 2)));
    assert.equal(state.hardState.commit, 10);
  });

  it('refuses to install what was not completely received', async () => {
    const disk = new SimDisk();
    const { storage } = await openOk(disk);
    await assert.rejects(storage.installSnapshot(meta(5, 1)), (e: unknown) => e instanceof RaftStorageError && e.code === 'incoming-missing');
    const begun = await storage.beginIncoming(meta(5, 1), 30);
    assert.deepEqual(begun, { ok: true, value: 0 });
    await storage.writeIncoming(meta(5, 1), 0, bytesOf(10, 1));
    const fin = await storage.finishIncoming(meta(5, 1));
    assert.ok(!fin.ok && fin.error.code === 'incoming-incomplete' && fin.error.expectedOffset === 10);
    await assert.rejects(storage.installSnapshot(meta(5, 1)), (e: unknown) => e instanceof RaftStorageError && e.code === 'incoming-missing');
    await storage.close();
  });
});

describe('RaftStorage incoming snapshot transfer', () => {
  it('resumes across a restart at the bytes already on disk (real file system)', async () => {
    const dir = join(await tempDir(), 'raft');
    const fs = new NodeFileSystem();
    const data = bytesOf(1000, 9);
    const m = meta(50, 3);
    const first = await openOk(fs, dir);
    assert.deepEqual(await first.storage.beginIncoming(m, data.length), { ok: true, value: 0 });
    for (let off = 0; off < 430; off += 43) {
      const w = await first.storage.writeIncoming(m, off, data.subarray(off, off + 43));
      assert.deepEqual(w, { ok: true, value: off + 43 });
    }
    await first.storage.close();
    const second = await openOk(fs, dir);
    assert.ok(second.state.notes.some((n) => n.includes(incomingName(50, 3, 1000))), second.state.notes.join('\n'));
    const resumed = await receive(second.storage, m, data, 100);
    assert.equal(resumed, 430);
    await second.storage.installSnapshot(m);
    assert.deepEqual(await second.storage.readSnapshot(), { meta: m, data });
    await second.storage.close();
  });

  it('resumes after a crash at a frame that verifies, even when the tail was torn with garbage', async () => {
    for (let seed = 1; seed <= 30; seed++) {
      const disk = new SimDisk({ tornWriteProbability: 1, tornGarbageProbability: 1 });
      const data = bytesOf(600, seed);
      const m = meta(10, 2);
      const { storage } = await openOk(disk);
      await storage.beginIncoming(m, data.length);
      let written = 0;
      for (; written < 300; written += 50) await storage.writeIncoming(m, written, data.subarray(written, written + 50));
      disk.crash(new SeededRandom(seed));
      const again = await openOk(disk);
      const begun = await again.storage.beginIncoming(m, data.length);
      assert.ok(begun.ok && begun.value <= written, `seed ${seed}: resume offset ${JSON.stringify(begun)} within what was written`);
      await receive(again.storage, m, data, 77);
      await again.storage.installSnapshot(m);
      assert.deepEqual(await again.storage.readSnapshot(), { meta: m, data }, `seed ${seed}`);
      await again.storage.close();
    }
  });

  it('rejects chunks at the wrong offset or past the end, and restarts when the snapshot changes', async () => {
    const disk = new SimDisk();
    const { storage } = await openOk(disk);
    const m = meta(10, 2);
    await storage.beginIncoming(m, 100);
    await storage.writeIncoming(m, 0, bytesOf(40, 1));
    const wrong = await storage.writeIncoming(m, 20, bytesOf(10, 1));
    assert.ok(!wrong.ok && wrong.error.code === 'incoming-offset' && wrong.error.expectedOffset === 40);
    const tooFar = await storage.writeIncoming(m, 40, bytesOf(61, 1));
    assert.ok(!tooFar.ok && tooFar.error.code === 'incoming-too-large');
    const otherMeta = await storage.writeIncoming(meta(11, 2), 40, bytesOf(1, 1));
    assert.ok(!otherMeta.ok && otherMeta.error.code === 'incoming-missing');
    assert.deepEqual(await storage.beginIncoming(m, 100), { ok: true, value: 40 }, 'begin again resumes');
    // Another snapshot replaces the transfer (and its file).
    assert.deepEqual(await storage.beginIncoming(meta(12, 2), 100), { ok: true, value: 0 });
    assert.deepEqual(await disk.list(`${DIR}/snapshots`), [incomingName(12, 2, 100)]);
    const huge = await storage.beginIncoming(meta(13, 2), 2 * 1024 * 1024 * 1024);
    assert.ok(!huge.ok && huge.error.code === 'incoming-too-large');
    await storage.close();
  });

  it('finish detects received bytes that rotted on disk and starts over', async () => {
    const disk = new SimDisk();
    const { storage } = await openOk(disk);
    const m = meta(10, 2);
    const data = bytesOf(200, 2);
    await storage.beginIncoming(m, data.length);
    await storage.writeIncoming(m, 0, data);
    await (await disk.open(`${DIR}/snapshots/${incomingName(10, 2, 200)}`, { create: false })).sync();
    disk.corrupt(`${DIR}/snapshots/${incomingName(10, 2, 200)}`, 100);
    const fin = await storage.finishIncoming(m);
    assert.ok(!fin.ok && fin.error.code === 'incoming-corrupt', JSON.stringify(fin));
    assert.equal(await receive(storage, m, data), 0);
    await storage.installSnapshot(m);
    assert.deepEqual(await storage.readSnapshot(), { meta: m, data });
    await storage.close();
  });
});

describe('RaftStorage recovery refuses to guess', () => {
  /** A storage with entries 1..20 (term 1), commit 12, snapshot at 10 (not compacted unless asked). */
  async function populated(disk: SimDisk, options: { compactThrough?: number } = {}): Promise<void> {
    const { storage } = await openOk(disk);
    await storage.append(range(1, 20, 1));
    await storage.saveHardState({ term: 1, vote: 'a' as NodeId, commit: 12 });
    await storage.saveSnapshot(meta(10, 1), bytesOf(100, 10));
    if (options.compactThrough !== undefined) await storage.compact(options.compactThrough);
    await storage.close();
  }

  async function rawWal(disk: SimDisk): Promise<Wal> {
    const r = await Wal.open(disk, `${DIR}/wal`, SMALL.wal);
    if (!r.ok) throw r.error;
    return r.value.wal;
  }

  it('WAL corruption, with the WAL error passed through', async () => {
    const disk = new SimDisk();
    await populated(disk);
    const segment = `${DIR}/wal/${segmentName(1)}`;
    disk.corrupt(segment, 40);
    const before = await disk.list(`${DIR}/wal`);
    const e = await openRefused(disk);
    assert.equal(e.code, 'wal-corrupt');
    assert.equal(e.file, segment);
    assert.ok(e.cause instanceof WalCorruptionError);
    assert.deepEqual(await disk.list(`${DIR}/wal`), before, 'nothing was deleted');
  });

  it('a log that starts after the snapshot (log ahead of snapshot)', async () => {
    const disk = new SimDisk();
    await populated(disk);
    const wal = await rawWal(disk);
    await wal.dropPrefix(14);
    await wal.close();
    const e = await openRefused(disk);
    assert.equal(e.code, 'log-gap');
    assert.match(e.message, /log ahead of snapshot.*starts at 14.*entries 11\.\.13 are missing/);
  });

  it('no snapshot but a log that starts after 1', async () => {
    const disk = new SimDisk();
    const { storage } = await openOk(disk);
    await storage.append(range(1, 5, 1));
    await storage.close();
    const wal = await rawWal(disk);
    await wal.dropPrefix(3);
    await wal.close();
    const e = await openRefused(disk);
    assert.equal(e.code, 'log-gap');
    assert.match(e.message, /no snapshot, but the log starts at 3/);
  });

  it('a commit index beyond the log and the snapshot', async () => {
    const disk = new SimDisk();
    await populated(disk);
    const wal = await rawWal(disk);
    await wal.truncateSuffix(12);
    await wal.close();
    const e = await openRefused(disk);
    assert.equal(e.code, 'commit-beyond-log');
    assert.match(e.message, /commit 12 is beyond the last log index 11/);
  });

  it('the only snapshot is damaged and the log does not start at 1', async () => {
    const disk = new SimDisk();
    await populated(disk, { compactThrough: 10 });
    const path = `${DIR}/snapshots/${snapshotName(10, 1)}`;
    disk.corrupt(path, 50);
    const e = await openRefused(disk);
    assert.equal(e.code, 'bad-snapshot');
    assert.equal(e.file, path);
    assert.match(e.message, /checksum mismatch/);
    assert.ok((await disk.readFile(path)) !== undefined, 'the file is left for the operator');
  });

  it('a damaged newest snapshot falls back to an older one that the log continues', async () => {
    const disk = new SimDisk();
    const { storage } = await openOk(disk);
    await storage.append(range(1, 30, 1));
    await storage.saveSnapshot(meta(10, 1), bytesOf(100, 10));
    await storage.compact(10);
    await storage.saveSnapshot(meta(20, 1), bytesOf(100, 20));
    await storage.close();
    const newest = `${DIR}/snapshots/${snapshotName(20, 1)}`;
    disk.corrupt(newest, 30);
    const { state, storage: s2 } = await openOk(disk);
    assert.deepEqual(state.snapshot, meta(10, 1));
    assert.deepEqual(strip(state.entries), strip(range(11, 30, 1)));
    assert.ok(state.notes.some((n) => n.includes('moved aside') && n.includes('index 10')), state.notes.join('\n'));
    assert.deepEqual(await s2.readSnapshot(), { meta: meta(10, 1), data: bytesOf(100, 10) });
    await s2.close();
    assert.ok((await disk.readFile(`${newest}.corrupt`)) !== undefined);
  });

  it('a damaged newest snapshot when the log does not continue the older one', async () => {
    const disk = new SimDisk();
    const { storage } = await openOk(disk);
    await storage.append(range(1, 30, 1));
    await storage.saveSnapshot(meta(10, 1), bytesOf(100, 10));
    await storage.saveSnapshot(meta(20, 1), bytesOf(100, 20));
    await storage.compact(15);
    await storage.close();
    disk.corrupt(`${DIR}/snapshots/${snapshotName(20, 1)}`, 30);
    const e = await openRefused(disk);
    assert.equal(e.code, 'bad-snapshot');
    assert.match(e.message, /the log starts at 16, after every older valid snapshot/);
  });

  it('an entry record that does not decode', async () => {
    const disk = new SimDisk();
    await populated(disk);
    const wal = await rawWal(disk);
    await wal.append([Uint8Array.from([0xc1, 1, 2])]);
    await wal.close();
    const e = await openRefused(disk);
    assert.equal(e.code, 'bad-entry');
    assert.match(e.message, /log entry 21 .* does not decode/);
  });

  it('entry terms that decrease', async () => {
    const disk = new SimDisk();
    const { storage } = await openOk(disk);
    await storage.append(range(1, 5, 3));
    await storage.close();
    const wal = await rawWal(disk);
    await wal.append([encodeEntry(entry(6, 2))]);
    await wal.close();
    const e = await openRefused(disk);
    assert.equal(e.code, 'term-regression');
    assert.match(e.message, /entry 6 .* term 2, below term 3 of entry 5/);
  });

  it('a log whose first entry after the snapshot has a lower term than the snapshot', async () => {
    const disk = new SimDisk();
    const { storage } = await openOk(disk);
    await storage.append(range(1, 5, 1));
    await storage.saveSnapshot(meta(9, 4), bytesOf(9, 9));
    await storage.compact(9);
    await storage.close();
    const wal = await rawWal(disk);
    await wal.append([encodeEntry(entry(10, 2))]);
    await wal.close();
    const e = await openRefused(disk);
    assert.equal(e.code, 'term-regression');
    assert.match(e.message, /below the snapshot's term 4/);
  });

  it('a damaged hard state file', async () => {
    const disk = new SimDisk();
    await populated(disk);
    disk.corrupt(`${DIR}/hardstate`, 22);
    const e = await openRefused(disk);
    assert.equal(e.code, 'bad-hard-state');
    assert.equal(e.file, `${DIR}/hardstate`);
    await writeAtomic(disk, `${DIR}/hardstate`, Uint8Array.from([1, 2, 3]));
    assert.equal((await openRefused(disk)).code, 'bad-hard-state');
    await writeAtomic(disk, `${DIR}/hardstate`, encodeHardState({ term: 1, vote: undefined, commit: 12 }));
    const { storage } = await openOk(disk);
    await storage.close();
  });
});

// ---- crash at every step ----

/**
 * Runs `op` once per crash point: after k microtask steps (k = 0, 1, ...) the disk loses power,
 * until the op completes before the crash. Recovery must accept every crash, and the recovered
 * state must be the old or the new one (the new one once the op was acknowledged).
 */
async function crashSweep(setup: (s: RaftStorage) => Promise<void>, op: (s: RaftStorage) => Promise<void>, check: (state: RecoveredRaftState, acked: boolean, k: number) => void): Promise<number> {
  for (let k = 0; ; k++) {
    const disk = new SimDisk({ tornWriteProbability: 0.5 });
    const r = await RaftStorage.open(disk.attach(), DIR, SMALL);
    if (!r.ok) throw r.error;
    await setup(r.value.storage);
    let acked = false;
    const p = op(r.value.storage).then(
      () => {
        acked = true;
      },
      () => undefined,
    );
    for (let i = 0; i < k; i++) await Promise.resolve();
    const ackedAtCrash = acked;
    disk.crash(new SeededRandom(k));
    await p;
    const reopened = await RaftStorage.open(disk.attach(), DIR, SMALL);
    if (!reopened.ok) assert.fail(`crash after ${k} steps: recovery refused: ${reopened.error.message}`);
    check(reopened.value.state, ackedAtCrash, k);
    await reopened.value.storage.close();
    if (ackedAtCrash) return k;
  }
}

describe('RaftStorage crash at every step of an operation', () => {
  const setupLog = async (s: RaftStorage): Promise<void> => {
    await s.append(range(1, 20, (i) => (i <= 10 ? 1 : 2)));
    await s.saveHardState({ term: 2, vote: undefined, commit: 10 });
    await s.saveSnapshot(meta(5, 1), bytesOf(50, 5));
    await s.compact(5);
  };
  const oldOrNew = (state: RecoveredRaftState, acked: boolean, k: number, older: { snapshot: SnapshotMeta; entries: Entry[] }, newer: { snapshot: SnapshotMeta; entries: Entry[] }): void => {
    const got = { snapshot: state.snapshot, entries: strip(state.entries) };
    const isNew = assert.deepEqual.bind(null, got, { snapshot: newer.snapshot, entries: strip(newer.entries) });
    if (acked) return isNew(`step ${k}: acknowledged, so the new state`);
    // The old snapshot may already be joined by the new one with the old log compacted.
    const oldEntries = older.entries.filter((e) => e.index > (state.snapshot?.index ?? 0));
    const matchesOld = state.snapshot !== undefined && state.snapshot.index === older.snapshot.index && JSON.stringify(got.entries) === JSON.stringify(strip(oldEntries));
    const matchesNew = JSON.stringify(got) === JSON.stringify({ snapshot: newer.snapshot, entries: strip(newer.entries) });
    assert.ok(matchesOld || matchesNew, `step ${k}: neither the old nor the new state: ${JSON.stringify(got)}`);
  };

  it('installSnapshot that keeps the log suffix (Figure 13, 6)', async () => {
    const steps = await crashSweep(
      async (s) => {
        await setupLog(s);
        await receive(s, meta(15, 2), bytesOf(100, 15));
      },
      (s) => s.installSnapshot(meta(15, 2)),
      (state, acked, k) => oldOrNew(state, acked, k, { snapshot: meta(5, 1), entries: range(6, 20, (i) => (i <= 10 ? 1 : 2)) }, { snapshot: meta(15, 2), entries: range(16, 20, 2) }),
    );
    assert.ok(steps > 10, `the sweep covered ${steps} crash points`);
  });

  it('installSnapshot that discards the log (Figure 13, 7)', async () => {
    const steps = await crashSweep(
      async (s) => {
        await setupLog(s);
        await receive(s, meta(15, 4), bytesOf(100, 15));
      },
      (s) => s.installSnapshot(meta(15, 4)),
      (state, acked, k) => oldOrNew(state, acked, k, { snapshot: meta(5, 1), entries: range(6, 20, (i) => (i <= 10 ? 1 : 2)) }, { snapshot: meta(15, 4), entries: [] }),
    );
    assert.ok(steps > 10, `the sweep covered ${steps} crash points`);
  });

  it('saveSnapshot followed by compact', async () => {
    const steps = await crashSweep(
      setupLog,
      async (s) => {
        await s.saveSnapshot(meta(10, 1), bytesOf(70, 10));
        await s.compact(10);
      },
      (state, acked, k) => oldOrNew(state, acked, k, { snapshot: meta(5, 1), entries: range(6, 20, (i) => (i <= 10 ? 1 : 2)) }, { snapshot: meta(10, 1), entries: range(11, 20, 2) }),
    );
    assert.ok(steps > 10, `the sweep covered ${steps} crash points`);
  });

  it('an overwriting append with the hard state that commits it', async () => {
    const steps = await crashSweep(
      setupLog,
      async (s) => {
        await Promise.all([s.append(range(12, 25, 3, 'new')), s.saveHardState({ term: 3, vote: 'a' as NodeId, commit: 25 })]);
      },
      (state, acked, k) => {
        const old = range(6, 20, (i) => (i <= 10 ? 1 : 2));
        const neu = [...range(6, 11, (i) => (i <= 10 ? 1 : 2)), ...range(12, 25, 3, 'new')];
        if (acked) assert.deepEqual({ hs: state.hardState, e: strip(state.entries) }, { hs: { term: 3, vote: 'a', commit: 25 }, e: strip(neu) }, `step ${k}`);
        assert.ok(state.hardState.commit === 10 || state.hardState.commit === 25, `step ${k}: commit ${state.hardState.commit}`);
        // Any prefix of the new suffix may have survived, but never a mix with a hole.
        const got = strip(state.entries);
        assert.deepEqual(got.slice(0, 6), strip(old.slice(0, 6)), `step ${k}: the committed prefix`);
        const rest = got.slice(6);
        const oldRest = strip(old.slice(6));
        const newRest = strip(neu.slice(6));
        const prefixOf = (xs: unknown[], ys: unknown[]): boolean => xs.length <= ys.length && xs.every((x, i) => JSON.stringify(x) === JSON.stringify(ys[i]));
        assert.ok(prefixOf(rest, oldRest) || prefixOf(rest, newRest), `step ${k}: the suffix is a prefix of the old or the new one`);
        assert.ok(state.entries.length + 5 >= state.hardState.commit, `step ${k}: commit ${state.hardState.commit} within the log`);
      },
    );
    assert.ok(steps > 5, `the sweep covered ${steps} crash points`);
  });
});

// ---- crash model ----

interface Model {
  snapshot: SnapshotMeta | undefined;
  snapshotData: Uint8Array | undefined;
  /** Entries after the snapshot, acknowledged. */
  entries: Entry[];
  hardState: HardState;
  /** The highest term issued so far (hard state or entries). */
  term: number;
}

const lastIndexOf = (m: Model): number => m.entries[m.entries.length - 1]?.index ?? m.snapshot?.index ?? 0;
const termAt = (m: Model, i: number): number | undefined => (i === m.snapshot?.index ? m.snapshot.term : m.entries.find((e) => e.index === i)?.term);
const commitOf = (m: Model): number => Math.max(m.hardState.commit, m.snapshot?.index ?? 0);

/** One group of operations issued together; each op reports its acknowledgement. */
interface Op {
  readonly kind: 'append' | 'hardstate' | 'snapshot' | 'compact' | 'install';
  acked: boolean;
  readonly entries?: Entry[];
  readonly hardState?: HardState;
  readonly meta?: SnapshotMeta;
  readonly data?: Uint8Array;
  /** install: whether the log is discarded (Figure 13, 7). */
  readonly discard?: boolean;
}

function applyOp(m: Model, op: Op): Model {
  switch (op.kind) {
    case 'append': {
      const first = op.entries![0]!.index;
      return { ...m, entries: [...m.entries.filter((e) => e.index < first), ...op.entries!] };
    }
    case 'hardstate':
      return { ...m, hardState: op.hardState! };
    case 'snapshot':
    case 'install': {
      const s = op.meta!;
      const entries = op.discard ? [] : m.entries.filter((e) => e.index > s.index);
      return { ...m, snapshot: s, snapshotData: op.data!, entries };
    }
    case 'compact':
      return m;
  }
}

let tagCounter = 0;
function freshEntries(from: number, n: number, term: number, rng: Random): Entry[] {
  return Array.from({ length: n }, (_, k) =>
    rng.int(8) === 0 ? { ...configEntry(from + k, term), data: new Uint8Array(0) } : entry(from + k, term, `#${tagCounter++}`),
  );
}

/** Plans and starts one group; returns its ops and a promise that settles when all are done. */
function startGroup(s: RaftStorage, model: Model, rng: Random, pendingTransfer: { meta: SnapshotMeta; data: Uint8Array } | undefined): { ops: Op[]; done: Promise<void>; transfer?: { meta: SnapshotMeta; data: Uint8Array } } {
  const ops: Op[] = [];
  const track = (op: Op, p: Promise<unknown>): Promise<void> => {
    ops.push(op);
    return p.then(() => {
      op.acked = true;
    });
  };
  const roll = rng.int(10);
  const last = lastIndexOf(model);
  const commit = commitOf(model);
  if (roll < 6 || pendingTransfer === undefined && roll < 7) {
    // Appends (the first may overwrite an uncommitted suffix), maybe with a hard state.
    const promises: Promise<void>[] = [];
    let term = model.term;
    let next = last + 1;
    if (rng.int(4) === 0 && last > commit) {
      next = commit + 1 + rng.int(last - commit);
      term++;
    } else if (rng.int(5) === 0) term++;
    let expectedLast = last;
    const groups = 1 + rng.int(3);
    for (let g = 0; g < groups; g++) {
      const entries = freshEntries(next, 1 + rng.int(4), term, rng);
      next += entries.length;
      expectedLast = next - 1;
      promises.push(track({ kind: 'append', acked: false, entries }, s.append(entries)));
    }
    if (rng.int(2) === 0) {
      const hs: HardState = { term, vote: term > model.hardState.term ? (rng.int(2) === 0 ? ('a' as NodeId) : undefined) : model.hardState.vote, commit: commit + rng.int(expectedLast - commit + 1) };
      promises.push(track({ kind: 'hardstate', acked: false, hardState: hs }, s.saveHardState(hs)));
    }
    model.term = term;
    return { ops, done: Promise.all(promises).then(() => undefined) };
  }
  if (roll < 8 && commit > (model.snapshot?.index ?? 0)) {
    const snapIndex = model.snapshot?.index ?? 0;
    const index = snapIndex + 1 + rng.int(commit - snapIndex);
    const m = meta(index, termAt(model, index)!);
    const data = bytesOf(rng.int(300), index);
    const through = rng.int(index + 1);
    const done = (async () => {
      await track({ kind: 'snapshot', acked: false, meta: m, data }, s.saveSnapshot(m, data));
      if (through > 0) await track({ kind: 'compact', acked: false }, s.compact(through));
    })();
    return { ops, done };
  }
  // Install a snapshot received from a leader: the keep case when possible, else discard.
  let transfer = pendingTransfer;
  if (transfer === undefined || transfer.meta.index <= commit || transfer.meta.term < model.term) {
    const keepable = model.entries.filter((e) => e.index > commit);
    if (keepable.length > 0 && rng.int(2) === 0) {
      const e = keepable[rng.int(keepable.length)]!;
      transfer = { meta: meta(e.index, e.term), data: bytesOf(1 + rng.int(400), e.index) };
    } else {
      const index = commit + 1 + rng.int(last - commit + 3);
      transfer = { meta: meta(index, model.term + 1), data: bytesOf(1 + rng.int(400), index) };
    }
  }
  const t = transfer;
  const discard = termAt(model, t.meta.index) !== t.meta.term;
  const hs: HardState = { term: Math.max(model.term, t.meta.term), vote: t.meta.term > model.term ? undefined : model.hardState.vote, commit: t.meta.index };
  model.term = hs.term;
  const done = (async () => {
    const begun = await s.beginIncoming(t.meta, t.data.length);
    assert.ok(begun.ok);
    const chunk = 1 + rng.int(80);
    for (let off = begun.value; off < t.data.length; off += chunk) {
      const w = await s.writeIncoming(t.meta, off, t.data.subarray(off, off + chunk));
      assert.ok(w.ok);
    }
    const fin = await s.finishIncoming(t.meta);
    assert.ok(fin.ok, fin.ok ? '' : fin.error.message);
    // As the node does: install, then the hard state the core produced with it.
    await track({ kind: 'install', acked: false, meta: t.meta, data: t.data, discard }, s.installSnapshot(t.meta));
    await track({ kind: 'hardstate', acked: false, hardState: hs }, s.saveHardState(hs));
  })();
  return { ops, done, transfer: t };
}

/** Checks a recovered state against the acknowledged model and the ops in flight at the crash. */
function checkRecovered(seed: number, before: Model, ops: readonly Op[], state: RecoveredRaftState, snapshotRead: { meta: SnapshotMeta; data: Uint8Array } | undefined): Model {
  const where = `seed ${seed}`;
  let required = before;
  for (const op of ops) if (op.acked) required = applyOp(required, op);
  const inflight = ops.filter((op) => !op.acked);
  // Snapshot: the acknowledged one or a newer one from the ops in flight.
  const reqSnap = required.snapshot?.index ?? 0;
  const gotSnap = state.snapshot?.index ?? 0;
  assert.ok(gotSnap >= reqSnap, `${where}: snapshot ${gotSnap} lost the acknowledged ${reqSnap}`);
  if (state.snapshot !== undefined) {
    const source = [required, ...inflight.map((op) => ({ snapshot: op.meta, snapshotData: op.data }))].find((x) => x.snapshot?.index === gotSnap && x.snapshot.term === state.snapshot!.term);
    assert.ok(source !== undefined, `${where}: snapshot ${gotSnap} was never saved`);
    assert.deepEqual(snapshotRead, { meta: state.snapshot, data: source.snapshotData }, `${where}: snapshot data`);
  }
  // Hard state: never older than acknowledged.
  assert.ok(state.hardState.term >= required.hardState.term, `${where}: term ${state.hardState.term} < acknowledged ${required.hardState.term}`);
  assert.ok(state.hardState.commit >= required.hardState.commit, `${where}: commit ${state.hardState.commit} < acknowledged ${required.hardState.commit}`);
  // Entries: every acknowledged one after the recovered snapshot is there, below the first
  // point an op in flight may have rewritten; every recovered one was written by someone.
  let withdrawn = Number.POSITIVE_INFINITY;
  for (const op of inflight) {
    if (op.kind === 'append') withdrawn = Math.min(withdrawn, op.entries![0]!.index);
    if (op.kind === 'install' && op.discard) withdrawn = Math.min(withdrawn, op.meta!.index + 1);
  }
  const got = new Map(state.entries.map((e) => [e.index, e]));
  for (const e of required.entries) {
    if (e.index <= gotSnap || e.index >= withdrawn) continue;
    assert.deepEqual(strip([got.get(e.index) ?? entry(e.index, -1, 'missing')]), strip([e]), `${where}: acknowledged entry ${e.index}`);
  }
  const versions = [...required.entries, ...inflight.flatMap((op) => op.entries ?? [])];
  for (const e of state.entries) {
    assert.ok(versions.some((v) => strip([v])[0]!.data === strip([e])[0]!.data && v.index === e.index && v.term === e.term), `${where}: entry ${e.index} was never written`);
  }
  return {
    snapshot: state.snapshot,
    snapshotData: snapshotRead?.data,
    entries: [...state.entries],
    hardState: state.hardState,
    term: Math.max(before.term, state.hardState.term),
  };
}

describe('RaftStorage under crashes (SimDisk)', () => {
  it('keeps everything acknowledged before a crash at any point, and recovery never refuses a crash', async () => {
    const seen = { groups: 0, crashes: 0, torn: 0, notes: new Map<string, number>(), installs: 0, discards: 0 };
    const count = (k: string): void => {
      seen.notes.set(k, (seen.notes.get(k) ?? 0) + 1);
    };
    for (let seed = 1; seed <= 120; seed++) {
      const rng = new SeededRandom(seed);
      const disk = new SimDisk({ tornWriteProbability: 0.6 });
      const options: RaftStorageOptions = { wal: { segmentBytes: 256 + rng.int(512) }, incomingFrameBytes: 8 + rng.int(64) };
      const open = async (): Promise<{ storage: RaftStorage; state: RecoveredRaftState }> => {
        const r = await RaftStorage.open(disk.attach(), DIR, options);
        if (!r.ok) assert.fail(`seed ${seed}: recovery refused after a crash: ${r.error.message}`);
        for (const n of r.value.state.notes) count(n.split(':')[0]!.split(' ')[0]! + (n.includes('torn') ? ' torn' : n.includes('step 7') ? ' step7' : n.includes('raised') ? ' raised' : ''));
        return r.value;
      };
      let { storage } = await open();
      let model: Model = { snapshot: undefined, snapshotData: undefined, entries: [], hardState: { term: 0, vote: undefined, commit: 0 }, term: 1 };
      let pendingTransfer: { meta: SnapshotMeta; data: Uint8Array } | undefined;
      try {
        for (let step = 0; step < 30; step++) {
          seen.groups++;
          const before: Model = { ...model, entries: [...model.entries] };
          const crash = rng.int(4) === 0;
          if (crash && rng.int(3) === 0) disk.pauseSyncs();
          const group = startGroup(storage, model, rng, pendingTransfer);
          let failure: unknown;
          const settled = group.done.catch((e: unknown) => {
            failure = e;
          });
          if (!crash) {
            await settled;
            if (failure !== undefined) throw failure;
            let next = before;
            for (const op of group.ops) next = applyOp(next, op);
            model = { ...next, term: model.term };
            for (const op of group.ops) if (op.kind === 'install') seen.installs++, op.discard && seen.discards++;
            pendingTransfer = undefined;
            if (rng.int(10) === 0) {
              await storage.close();
              ({ storage } = await open());
            }
            continue;
          }
          const steps = rng.int(3) === 0 ? rng.int(400) : rng.int(30);
          for (let i = 0; i < steps; i++) await Promise.resolve();
          const report = disk.crash(rng.fork());
          seen.crashes++;
          if (report.tornWrites.length > 0) seen.torn++;
          await settled;
          if (failure !== undefined && !(failure instanceof StorageError) && !(failure instanceof RaftStorageError) && (failure as Error).name !== 'WalError') throw failure;
          pendingTransfer = group.transfer !== undefined && !group.ops.some((op) => op.kind === 'install' && op.acked) ? group.transfer : undefined;
          const reopened = await open();
          storage = reopened.storage;
          const snap = await storage.readSnapshot();
          model = checkRecovered(seed, { ...before, term: model.term }, group.ops, reopened.state, snap);
        }
        // A clean reopen at the end sees exactly the model.
        await storage.close();
        const final = await open();
        storage = final.storage;
        assert.deepEqual(strip(final.state.entries), strip(model.entries), `seed ${seed}: final entries`);
        assert.deepEqual(final.state.snapshot, model.snapshot, `seed ${seed}: final snapshot`);
      } finally {
        await storage.close().catch(() => undefined);
      }
    }
    const notes = Object.fromEntries(seen.notes);
    assert.ok(seen.crashes > 500 && seen.torn > 100 && seen.installs > 100 && seen.discards > 30, `coverage: ${JSON.stringify({ ...seen, notes })}`);
    console.log(`crash model coverage: ${JSON.stringify({ ...seen, notes })}`);
    assert.ok(Object.keys(notes).some((k) => k.includes('torn')) && Object.keys(notes).some((k) => k.includes('raised')), `coverage of notes: ${JSON.stringify(notes)}`);
  });
});
