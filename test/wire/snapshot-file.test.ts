// The snapshot file format (src/wire/snapshot-file.ts): round trips, and every kind of damage is
// a typed error, never data.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { ClusterFsm } from '../../src/core/fsm/fsm.ts';
import type { Command } from '../../src/core/fsm/types.ts';
import { createFsmSnapshotCodec, encodeFsmSnapshot } from '../../src/wire/fsm.ts';
import {
  SNAPSHOT_FILE_PREFIX_BYTES,
  decodeSnapshotFile,
  describeSnapshotFileError,
  encodeSnapshotFile,
  readSnapshotFile,
  type SnapshotFileError,
} from '../../src/wire/snapshot-file.ts';

const codec = createFsmSnapshotCodec();
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const info = { sappersVersion: '0.1.0', createdAtMs: 1_700_000_000_000, nodeId: 'node-a', epoch: 2 };

function fsmWith(commands: readonly Command[]): ClusterFsm {
  const fsm = new ClusterFsm();
  for (const c of commands) fsm.apply(fsm.appliedIndex + 1, c);
  return fsm;
}

function fileOf(fsm: ClusterFsm): Uint8Array {
  const snapshot = fsm.snapshot();
  const body = encodeFsmSnapshot(codec, snapshot);
  assert.ok(body.ok);
  return encodeSnapshotFile(info, snapshot, body.value);
}

const sample = (): ClusterFsm =>
  fsmWith([
    { type: 'session.create', atMs: 10, id: 's', ttlMs: 5000, owner: 'o' },
    { type: 'kv.put', atMs: 20, key: 'a', value: enc('1') },
    { type: 'kv.put', atMs: 30, key: 'b', value: enc('2'), session: 's' },
  ]);

function errorOf(file: Uint8Array): SnapshotFileError {
  const r = decodeSnapshotFile(file, codec);
  assert.ok(!r.ok, 'refused');
  // Every error has a message for people.
  assert.ok(describeSnapshotFileError(r.error).length > 0);
  return r.error;
}

/** The file with its header JSON replaced (and the header digest made right again). */
function withHeader(file: Uint8Array, edit: (h: Record<string, unknown>) => Record<string, unknown>): Uint8Array {
  const length = new DataView(file.buffer, file.byteOffset).getUint32(8);
  const header = JSON.parse(new TextDecoder().decode(file.subarray(SNAPSHOT_FILE_PREFIX_BYTES, SNAPSHOT_FILE_PREFIX_BYTES + length))) as Record<string, unknown>;
  const json = enc(JSON.stringify(edit(header)));
  const body = file.subarray(SNAPSHOT_FILE_PREFIX_BYTES + length);
  const out = new Uint8Array(SNAPSHOT_FILE_PREFIX_BYTES + json.length + body.length);
  out.set(file.subarray(0, 8));
  new DataView(out.buffer).setUint32(8, json.length);
  out.set(createHash('sha256').update(json).digest(), 12);
  out.set(json, SNAPSHOT_FILE_PREFIX_BYTES);
  out.set(body, SNAPSHOT_FILE_PREFIX_BYTES + json.length);
  return out;
}

describe('snapshot file', () => {
  it('round-trips: the header describes the body, the body decodes to the state', () => {
    const fsm = sample();
    const file = fileOf(fsm);
    assert.equal(new TextDecoder().decode(file.subarray(0, 7)), 'SAPSNAP');
    const r = decodeSnapshotFile(file, codec);
    assert.ok(r.ok);
    const { header, snapshot, body } = r.value;
    assert.deepEqual(
      { ...header },
      {
        formatVersion: 1,
        sappersVersion: '0.1.0',
        createdAtMs: info.createdAtMs,
        createdAt: new Date(info.createdAtMs).toISOString(),
        nodeId: 'node-a',
        epoch: 2,
        revision: 2,
        appliedIndex: 3,
        keys: 2,
        sessions: 1,
        bodyBytes: body.length,
        bodySha256: createHash('sha256').update(body).digest('hex'),
      },
    );
    assert.deepEqual(snapshot.kv.entries.map((e) => e.key), ['a', 'b']);
    assert.equal(snapshot.sessions[0]!.id, 's');
  });

  it('property: any state round-trips through a file', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.string({ minLength: 1, maxLength: 8 }), fc.uint8Array({ maxLength: 64 })), { maxLength: 20 }), (puts) => {
        const fsm = fsmWith(puts.map(([key, value]): Command => ({ type: 'kv.put', atMs: 1, key: key.replace(/\0/g, 'x'), value })));
        const r = decodeSnapshotFile(fileOf(fsm), codec);
        assert.ok(r.ok);
        assert.equal(r.value.header.revision, fsm.revision);
        assert.deepEqual(
          r.value.snapshot.kv.entries.map((e) => [e.key, Buffer.from(e.value).toString('hex'), e.modRevision]),
          fsm.snapshot().kv.entries.map((e) => [e.key, Buffer.from(e.value).toString('hex'), e.modRevision]),
        );
      }),
    );
  });

  it('refuses what is not a snapshot file, or one of another format version', () => {
    const file = fileOf(sample());
    assert.equal(errorOf(enc('{"hello": "world"}')).code, 'bad-magic');
    assert.equal(errorOf(new Uint8Array(0)).code, 'bad-magic');
    const v2 = Uint8Array.from(file);
    v2[7] = 2;
    assert.deepEqual(errorOf(v2), { code: 'unsupported-version', version: 2 });
  });

  it('property: every truncation is refused as truncated', () => {
    const file = fileOf(sample());
    fc.assert(
      fc.property(fc.integer({ min: 7, max: file.length - 1 }), (cut) => {
        assert.equal(errorOf(file.subarray(0, cut)).code, 'truncated');
      }),
    );
  });

  it('refuses bytes after the end', () => {
    const file = fileOf(sample());
    const longer = new Uint8Array(file.length + 3);
    longer.set(file);
    assert.deepEqual(errorOf(longer), { code: 'trailing-data', expectedBytes: file.length, actualBytes: file.length + 3 });
  });

  it('property: a flipped bit anywhere is refused', () => {
    const file = fileOf(sample());
    fc.assert(
      fc.property(fc.integer({ min: 0, max: file.length - 1 }), fc.integer({ min: 0, max: 7 }), (at, bit) => {
        const damaged = Uint8Array.from(file);
        damaged[at]! ^= 1 << bit;
        const e = errorOf(damaged);
        if (at >= SNAPSHOT_FILE_PREFIX_BYTES + (file.length - SNAPSHOT_FILE_PREFIX_BYTES - readBodyLength(file))) assert.equal(e.code, 'checksum-mismatch');
      }),
    );
  });

  it('names the damaged part', () => {
    const file = fileOf(sample());
    const body = Uint8Array.from(file);
    body[body.length - 1]! ^= 0xff;
    const b = errorOf(body);
    assert.ok(b.code === 'checksum-mismatch' && b.part === 'body');
    assert.match(describeSnapshotFileError(b), /damaged: its body hashes to sha256 [0-9a-f]{64}, the file says [0-9a-f]{64}/);
    const header = Uint8Array.from(file);
    header[SNAPSHOT_FILE_PREFIX_BYTES + 3]! ^= 0x01;
    const h = errorOf(header);
    assert.ok(h.code === 'checksum-mismatch' && h.part === 'header');
  });

  it('refuses a header that is not what the writer writes, or disagrees with the body', () => {
    const file = fileOf(sample());
    assert.equal(errorOf(withHeader(file, (h) => ({ ...h, revision: -1 }))).code, 'bad-header');
    assert.equal(errorOf(withHeader(file, (h) => ({ ...h, bodySha256: 'nope' }))).code, 'bad-header');
    assert.equal(errorOf(withHeader(file, (h) => ({ ...h, formatVersion: 9 }))).code, 'bad-header');
    const edited = errorOf(withHeader(file, (h) => ({ ...h, revision: 99 })));
    assert.deepEqual(edited, { code: 'bad-header', detail: 'it says revision 99, the body 2' });
    // Unknown fields are ignored (a newer writer may add some).
    assert.ok(decodeSnapshotFile(withHeader(file, (h) => ({ ...h, clusterName: 'prod' })), codec).ok);
  });

  it('refuses a body that checks out but is not a restorable state machine snapshot', () => {
    const garbage = enc('not msgpack, yet its checksum is right');
    const fake = encodeSnapshotFile(info, new ClusterFsm().snapshot(), garbage);
    assert.ok(readSnapshotFile(fake).ok, 'the structure and checksum hold');
    const e = errorOf(fake);
    assert.equal(e.code, 'body-undecodable');

    // A session TTL no command could set: a restore would make its expiry overflow the ranges.
    const s = sample().snapshot();
    const long = { ...s, sessions: s.sessions.map((x) => ({ ...x, ttlMs: 10 ** 12, expiresAtMs: x.createdAtMs + 10 ** 12 })) };
    const body = encodeFsmSnapshot(codec, { ...long, nowMs: long.nowMs });
    assert.ok(body.ok);
    const e2 = errorOf(encodeSnapshotFile(info, long, body.value));
    assert.ok(e2.code === 'body-undecodable' && /ttlMs/.test(e2.detail), JSON.stringify(e2));
  });
});

function readBodyLength(file: Uint8Array): number {
  const r = readSnapshotFile(file);
  assert.ok(r.ok);
  return r.value.body.length;
}
