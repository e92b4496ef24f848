// Cluster epochs on disk and how two of them compare (src/agent/consensus.ts).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { archiveForRejoin, clusterName, compareEpochs, readEpochId } from '../../src/agent/consensus.ts';

describe('cluster epochs', () => {
  it('a higher number wins; with the same number (two recoveries), the larger origin wins', () => {
    assert.ok(compareEpochs({ epoch: 2, origin: 'a' }, { epoch: 1, origin: undefined }) > 0);
    assert.ok(compareEpochs({ epoch: 2, origin: 'a' }, { epoch: 3, origin: undefined }) < 0);
    assert.ok(compareEpochs({ epoch: 2, origin: 'n3' }, { epoch: 2, origin: 'n1' }) > 0);
    assert.equal(compareEpochs({ epoch: 2, origin: 'n1' }, { epoch: 2, origin: 'n1' }), 0);
    // Two recoveries of one number run as different Raft clusters: their traffic never mixes.
    assert.notEqual(clusterName({ epoch: 2, origin: 'n1' }), clusterName({ epoch: 2, origin: 'n3' }));
    assert.equal(clusterName({ epoch: 1, origin: undefined }), 'sappers/epoch-1');
  });

  it('reads the epoch file written by earlier versions (a bare number) and with an origin; refuses anything else', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sappers-epoch-'));
    try {
      assert.deepEqual(await readEpochId(dir), { epoch: 1, origin: undefined });
      await archiveForRejoin(dir, { epoch: 3, origin: 'n2' }, 1000);
      assert.deepEqual(await readEpochId(dir), { epoch: 3, origin: 'n2' });
      await archiveForRejoin(dir, { epoch: 4, origin: undefined }, 2000);
      assert.deepEqual(await readEpochId(dir), { epoch: 4, origin: undefined });
      // A hand-edited file is refused with what it holds (atomic files carry a checksum, so write one that way).
      await rm(join(dir, 'raft'), { recursive: true });
      await mkdir(join(dir, 'raft'));
      await writeFile(join(dir, 'raft', 'epoch'), 'garbage');
      await assert.rejects(readEpochId(dir), /epoch file/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
