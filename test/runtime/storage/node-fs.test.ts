import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StorageError } from '../../../src/runtime/storage/fs.ts';
import { NodeFileSystem } from '../../../src/runtime/storage/node-fs.ts';

const fs = new NodeFileSystem();
let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sappers-nodefs-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

it('appends, reads, syncs, truncates and reports size', async () => {
  const path = join(dir, 'a');
  const h = await fs.open(path, { create: true });
  await h.append(Uint8Array.from([1, 2, 3]));
  await h.append(Uint8Array.from([4, 5]));
  await h.sync();
  assert.equal(await h.size(), 5);
  assert.deepEqual(await h.read(1, 3), Uint8Array.from([2, 3, 4]));
  assert.deepEqual(await h.read(3, 10), Uint8Array.from([4, 5]), 'a short read means end of file');
  await h.truncate(2);
  await h.append(Uint8Array.from([9]));
  assert.deepEqual(await fs.readFile(path), Uint8Array.from([1, 2, 9]), 'appends go to the end after a truncate');
  await h.close();
  await assert.rejects(h.size(), (e: unknown) => e instanceof StorageError && e.code === 'io' && e.message.includes(path));
});

it('lists, renames, removes and syncs directories', async () => {
  const sub = join(dir, 'x', 'y');
  await fs.mkdirp(sub);
  await fs.mkdirp(sub);
  const h = await fs.open(join(sub, 'b'), { create: true });
  await h.close();
  await fs.rename(join(sub, 'b'), join(sub, 'c'));
  await fs.syncDir(sub);
  assert.deepEqual(await fs.list(sub), ['c']);
  await fs.remove(join(sub, 'c'));
  await fs.remove(join(sub, 'c'));
  assert.deepEqual(await fs.list(sub), []);
  assert.deepEqual(await fs.list(join(dir, 'missing')), []);
  assert.equal(await fs.readFile(join(dir, 'missing')), undefined);
});

it('maps errors to StorageError with the path', async () => {
  const missing = join(dir, 'nope', 'f');
  await assert.rejects(fs.open(missing, { create: false }), (e: unknown) => e instanceof StorageError && e.code === 'io' && e.message.includes(missing) && e.message.includes('ENOENT'));
  await assert.rejects(fs.rename(missing, join(dir, 'g')), (e: unknown) => e instanceof StorageError && e.code === 'io' && e.path === missing);
  await assert.rejects(fs.syncDir(join(dir, 'nope')), (e: unknown) => e instanceof StorageError && e.code === 'io');
});

it('maps ENOSPC to no-space (/dev/full)', { skip: existsSync('/dev/full') ? false : 'no /dev/full on this system' }, async () => {
  const h = await fs.open('/dev/full', { create: false });
  try {
    await assert.rejects(h.append(new Uint8Array(10)), (e: unknown) => e instanceof StorageError && e.code === 'no-space' && e.path === '/dev/full');
  } finally {
    await h.close();
  }
});
