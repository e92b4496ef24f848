// Snapshot restore through replicated commands (src/core/fsm/restore.ts, ClusterFsm): staging in
// chunks, commit checks (length, sha256, decoding), what a restore replaces and what it keeps,
// revisions that never go back, the event chain that goes on, and determinism across a Raft
// snapshot taken mid-upload.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { verifyChain } from '../../../src/core/fsm/events.ts';
import { ClusterFsm, type FsmNotification } from '../../../src/core/fsm/fsm.ts';
import { MAX_RESTORE_BYTES, MAX_RESTORE_CHUNK_BYTES, chunkBody } from '../../../src/core/fsm/restore.ts';
import type { ApplyResult, Command, NodeId } from '../../../src/core/fsm/types.ts';
import { createFsmSnapshotCodec, decodeFsmSnapshot, encodeFsmSnapshot } from '../../../src/wire/fsm.ts';
import { decodeRestorableSnapshot } from '../../../src/wire/snapshot-file.ts';

const codec = createFsmSnapshotCodec();
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const newFsm = (): ClusterFsm => new ClusterFsm(undefined, (body) => decodeRestorableSnapshot(codec, body));
const put = (key: string, value: string | Uint8Array, atMs = 1000, session?: string): Command => ({
  type: 'kv.put',
  atMs,
  key,
  value: typeof value === 'string' ? enc(value) : value,
  ...(session === undefined ? {} : { session }),
});
const del = (key: string): Command => ({ type: 'kv.delete', atMs: 1000, key });

function run(fsm: ClusterFsm, commands: readonly Command[]): ApplyResult[] {
  return commands.map((c) => fsm.apply(fsm.appliedIndex + 1, c));
}

function bodyOf(fsm: ClusterFsm): Uint8Array {
  const encoded = encodeFsmSnapshot(codec, fsm.snapshot());
  assert.ok(encoded.ok);
  return encoded.value;
}

/** begin, every chunk, commit: the commands an agent proposes for one restore. */
function restoreCommands(id: string, body: Uint8Array, digest = sha(body), atMs = 5000): Command[] {
  return [
    { type: 'restore.begin', atMs, id, totalBytes: body.length, sha256: digest },
    ...chunkBody(body).map((data, seq): Command => ({ type: 'restore.chunk', atMs, id, seq, data })),
    { type: 'restore.commit', atMs, id },
  ];
}

function keys(fsm: ClusterFsm): Record<string, string> {
  return Object.fromEntries(fsm.list('').entries.map((e) => [e.key, dec(e.value)]));
}

function assertChainIntact(fsm: ClusterFsm): void {
  assert.equal(verifyChain(fsm.eventAnchor, fsm.events(1)), undefined);
}

const GOSSIP_KEY = `${'A'.repeat(42)}Q=`;
const securityInit: Command = {
  type: 'security.init',
  atMs: 1,
  caCertPem: '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n',
  caKeyPem: '-----BEGIN PRIVATE KEY-----\ny\n-----END PRIVATE KEY-----\n',
  managementTokenSha256: 'a'.repeat(64),
  gossipKeys: [GOSSIP_KEY],
  gossipPrimary: GOSSIP_KEY,
};

describe('snapshot restore through replicated commands', () => {
  it('replaces keys and sessions, keeps nodes, security and the event chain, and never moves the revision back', () => {
    const source = newFsm();
    run(source, [
      { type: 'session.create', atMs: 100, id: 's1', ttlMs: 10_000, owner: 'app' },
      put('app/a', 'saved-a'),
      put('app/b', 'saved-b'),
      put('lock', 'holder', 1000, 's1'),
      put('app/a', 'saved-a2'),
    ]);
    const body = bodyOf(source);

    const target = newFsm();
    const node = 'n1' as NodeId;
    run(target, [securityInit, { type: 'node.upsert', atMs: 1, id: node, rpcAddr: '127.0.0.1:1', httpAddr: '127.0.0.1:2', tags: {} }]);
    for (let i = 0; i < 20; i++) run(target, [put(`other/${i}`, 'x', 2000)]);
    run(target, [put('app/a', 'current-a', 2000)]);
    const before = target.revision;
    const security = target.security;
    const eventsBefore = target.eventHead.seq;

    const results = run(target, restoreCommands('r1', body, sha(body), 60_000));
    const committed = results.at(-1)!;
    assert.ok(committed.ok, JSON.stringify(committed));
    assert.deepEqual(keys(target), { 'app/a': 'saved-a2', 'app/b': 'saved-b', lock: 'holder' });
    // Never back: one past the larger of the current and the snapshot's revision.
    assert.equal(target.revision, Math.max(before, source.revision) + 1);
    assert.equal(committed.revision, target.revision);
    for (const e of target.list('').entries) assert.equal(e.modRevision, target.revision, 'a CAS prepared before the restore cannot match');
    assert.equal(target.get('app/a')!.version, source.get('app/a')!.version);
    assert.equal(target.get('lock')!.session, 's1');
    // The session gets a full TTL from the state machine's time.
    assert.deepEqual(target.sessions().map((s) => [s.id, s.expiresAtMs]), [['s1', 60_000 + 10_000]]);
    assert.deepEqual(target.nodes().map((n) => n.id), [node]);
    assert.equal(target.security, security);
    assert.equal(target.restoreStaging, undefined);
    // The chain goes on from where it was: begin and restore events, intact.
    const added = target.events(eventsBefore + 1);
    assert.deepEqual(added.map((e) => e.type), ['restore.begin', 'restore']);
    assert.equal(added[1]!.subject, 'r1');
    assert.deepEqual(
      { ...added[1]!.detail },
      { sha256: sha(body), bytes: body.length, snapshotRevision: source.revision, snapshotIndex: source.appliedIndex, keys: 3, sessions: 1, revision: target.revision },
    );
    assertChainIntact(target);
    // The restored state snapshots and decodes like any other.
    assert.ok(decodeFsmSnapshot(codec, bodyOf(target)).ok);
    // Session-owned keys still go with their session.
    run(target, [{ type: 'session.destroy', atMs: 60_001, id: 's1', reason: 'released' }]);
    assert.equal(target.get('lock'), undefined);
  });

  it('moves the revision past the snapshot when the snapshot is ahead', () => {
    const source = newFsm();
    for (let i = 0; i < 30; i++) run(source, [put(`k${i % 3}`, String(i))]);
    const target = newFsm();
    run(target, [put('x', '1')]);
    const body = bodyOf(source);
    assert.ok(run(target, restoreCommands('r', body)).at(-1)!.ok);
    assert.equal(target.revision, 31);
    assert.deepEqual(keys(target), { k0: '27', k1: '28', k2: '29' });
  });

  it('tells watchers to re-read: history is compacted at the restore and subscribers get a reset', () => {
    const target = newFsm();
    run(target, [put('a', '1'), put('b', '2')]);
    const seen: FsmNotification[] = [];
    target.subscribe((n) => seen.push(n));
    const body = bodyOf(newFsm());
    run(target, restoreCommands('r', body));
    assert.deepEqual(seen.filter((n) => n.kind === 'kv-reset'), [{ kind: 'kv-reset', revision: 3 }]);
    assert.deepEqual(target.changesSince(1, ''), { ok: false, compactedBefore: 4 });
    assert.deepEqual(target.changesSince(3, ''), { ok: false, compactedBefore: 4 });
    assert.deepEqual(target.changesSince(4, ''), { ok: true, changes: [] });
    assert.deepEqual(keys(target), {});
    run(target, [put('c', '3')]);
    const after = target.changesSince(4, '');
    assert.ok(after.ok && after.changes.length === 1 && after.changes[0]!.revision === 4);
  });

  it('refuses a body whose sha256 does not match, and changes no key', () => {
    const target = newFsm();
    run(target, [put('keep', 'me')]);
    const body = bodyOf(newFsm());
    const results = run(target, restoreCommands('r', body, 'f'.repeat(64)));
    const commit = results.at(-1)!;
    assert.ok(!commit.ok && commit.code === 'invalid');
    assert.match(commit.reason, /hash to [0-9a-f]{64}, not the announced f{64}/);
    assert.deepEqual(keys(target), { keep: 'me' });
    assert.equal(target.revision, 1);
    assert.equal(target.restoreStaging, undefined);
    const last = target.events(target.eventHead.seq)[0]!;
    assert.deepEqual([last.type, last.detail['why']], ['restore.failed', 'checksum-mismatch']);
    assertChainIntact(target);
    // Used up: committing again finds nothing.
    assert.deepEqual(run(target, [{ type: 'restore.commit', atMs: 1, id: 'r' }])[0], { ok: false, code: 'not-found', subject: 'r' });
  });

  it('refuses a commit before every chunk arrived (truncated), and a body that is not a snapshot', () => {
    const target = newFsm();
    run(target, [put('keep', 'me')]);
    const big = newFsm();
    // The value is in the snapshot twice (the entry and the change history): two chunks.
    run(big, [put('big', new Uint8Array(300 * 1024).fill(7))]);
    const body = bodyOf(big);
    const commands = restoreCommands('r', body);
    assert.equal(commands.length, 4, 'two chunks');
    run(target, [commands[0]!, commands[1]!, commands[3]!]);
    const truncated = target.events(target.eventHead.seq)[0]!;
    assert.deepEqual([truncated.type, truncated.detail['why']], ['restore.failed', 'length-mismatch']);

    const garbage = enc('this is not msgpack at all, but its digest is right');
    const results = run(target, restoreCommands('g', garbage));
    const commit = results.at(-1)!;
    assert.ok(!commit.ok && commit.code === 'invalid');
    assert.match(commit.reason, /^restore g: fsm\.snapshot/);
    assert.equal(target.events(target.eventHead.seq)[0]!.detail['why'], 'undecodable');
    assert.deepEqual(keys(target), { keep: 'me' });
    assert.equal(target.revision, 1);
    assertChainIntact(target);
  });

  it('refuses a snapshot whose event chain was tampered with', () => {
    const source = newFsm();
    run(source, [put('a', '1'), put('b', '2')]);
    const s = source.snapshot();
    const forged = { ...s, events: { ...s.events, kept: s.events.kept.map((e, i) => (i === 0 ? { ...e, subject: 'z' } : e)) } };
    const encoded = encodeFsmSnapshot(codec, forged);
    assert.ok(encoded.ok);
    const target = newFsm();
    const commit = run(target, restoreCommands('r', encoded.value)).at(-1)!;
    assert.ok(!commit.ok && commit.code === 'invalid' && /altered/.test(commit.reason), JSON.stringify(commit));
  });

  it('a new begin replaces an unfinished upload, whose later chunks and commit are refused', () => {
    const big = newFsm();
    run(big, [put('big', new Uint8Array(600 * 1024).fill(1))]);
    const a = restoreCommands('A', bodyOf(big));
    const smallSource = newFsm();
    run(smallSource, [put('from', 'B')]);
    const b = restoreCommands('B', bodyOf(smallSource));
    const target = newFsm();
    run(target, [a[0]!, a[1]!, b[0]!]);
    assert.equal(target.events(target.eventHead.seq)[0]!.detail['replaced'], 'A');
    assert.deepEqual(run(target, [a[2]!, a[3]!]), [
      { ok: false, code: 'not-found', subject: 'A' },
      { ok: false, code: 'not-found', subject: 'A' },
    ]);
    assert.ok(run(target, b.slice(1)).every((r) => r.ok));
    assert.deepEqual(keys(target), { from: 'B' });
  });

  it('takes chunks in order and full-size, acknowledges a repeated last chunk, and bounds the size', () => {
    const big = newFsm();
    run(big, [put('big', new Uint8Array(600 * 1024).fill(3))]);
    const body = bodyOf(big);
    const [begin, c0, c1, c2, commit] = restoreCommands('r', body) as [Command, Command, Command, Command, Command];
    assert.equal(commit.type, 'restore.commit', 'three chunks');
    const target = newFsm();
    run(target, [begin]);
    const skipped = run(target, [c1])[0]!;
    assert.ok(!skipped.ok && skipped.code === 'invalid' && /chunk 1 arrived, chunk 0 was expected/.test(skipped.reason));
    const short = run(target, [{ ...(c0 as Extract<Command, { type: 'restore.chunk' }>), data: new Uint8Array(10) }])[0]!;
    assert.ok(!short.ok && short.code === 'invalid' && /10 bytes, 524288 were expected/.test(short.reason));
    assert.ok(run(target, [c0])[0]!.ok);
    // A retried proposal that had in fact committed: same bytes, acknowledged, nothing changes.
    const head = target.eventHead.seq;
    assert.ok(run(target, [c0])[0]!.ok);
    assert.equal(target.restoreStaging!.chunks.length, 1);
    assert.equal(target.eventHead.seq, head, 'chunks record no events');
    run(target, [c1, c2]);
    const extra = run(target, [{ type: 'restore.chunk', atMs: 1, id: 'r', seq: 3, data: new Uint8Array(1) }])[0]!;
    assert.ok(!extra.ok && extra.code === 'invalid' && /staged already/.test(extra.reason));
    assert.ok(run(target, [commit])[0]!.ok);
    assert.equal(target.get('big')!.value.length, 600 * 1024);

    const tooBig = run(target, [{ type: 'restore.begin', atMs: 1, id: 'x', totalBytes: MAX_RESTORE_BYTES + 1, sha256: '0'.repeat(64) }])[0]!;
    assert.ok(!tooBig.ok && tooBig.code === 'invalid');
    assert.equal(target.restoreStaging, undefined);
  });

  it('abort drops the staging', () => {
    const target = newFsm();
    const cmds = restoreCommands('r', bodyOf(newFsm()));
    run(target, [cmds[0]!, cmds[1]!]);
    assert.ok(target.restoreStaging !== undefined);
    assert.ok(run(target, [{ type: 'restore.abort', atMs: 1, id: 'r' }])[0]!.ok);
    assert.equal(target.restoreStaging, undefined);
    assert.deepEqual(run(target, [cmds[2]!])[0], { ok: false, code: 'not-found', subject: 'r' });
    assert.equal(target.events(target.eventHead.seq)[0]!.type, 'restore.abort');
  });

  it('a Raft snapshot taken mid-upload carries the staging: a replica restored from it commits the same', () => {
    const big = newFsm();
    run(big, [put('big', new Uint8Array(800 * 1024).fill(9)), put('small', 'v')]);
    const cmds = restoreCommands('r', bodyOf(big));
    const leader = newFsm();
    run(leader, [put('old', '1'), cmds[0]!, cmds[1]!]);
    const raftSnapshot = decodeFsmSnapshot(codec, bodyOf(leader));
    assert.ok(raftSnapshot.ok);
    assert.equal(raftSnapshot.value.restoreStaging?.chunks.length, 1);
    const follower = newFsm();
    follower.restore(raftSnapshot.value);
    for (const f of [leader, follower]) run(f, cmds.slice(2));
    assert.deepEqual(keys(follower), keys(leader));
    assert.equal(follower.eventHead.hash, leader.eventHead.hash);
    assert.deepEqual(bodyOf(follower), bodyOf(leader));
  });

  it('property: any saved state restores to the same keys, values, versions and sessions', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('put' as const), key: fc.constantFrom('a', 'b', 'c/d', 'e'), value: fc.string({ maxLength: 20 }) }),
      fc.record({ kind: fc.constant('del' as const), key: fc.constantFrom('a', 'b', 'c/d', 'e') }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 30 }), fc.array(op, { maxLength: 30 }), (saved, current) => {
        const apply = (fsm: ClusterFsm, ops: typeof saved): void => {
          for (const o of ops) run(fsm, [o.kind === 'put' ? put(o.key, o.value) : del(o.key)]);
        };
        const source = newFsm();
        apply(source, saved);
        const target = newFsm();
        apply(target, current);
        const revision = target.revision;
        const result = run(target, restoreCommands('p', bodyOf(source))).at(-1)!;
        assert.ok(result.ok);
        assert.deepEqual(
          target.list('').entries.map((e) => [e.key, dec(e.value), e.version, e.createRevision]),
          source.list('').entries.map((e) => [e.key, dec(e.value), e.version, e.createRevision]),
        );
        assert.equal(target.revision, Math.max(revision, source.revision) + 1);
        assertChainIntact(target);
      }),
    );
  });

  it('chunks a body into full chunks and a remainder', () => {
    assert.deepEqual(chunkBody(new Uint8Array(0)), []);
    assert.deepEqual(chunkBody(new Uint8Array(MAX_RESTORE_CHUNK_BYTES)).map((c) => c.length), [MAX_RESTORE_CHUNK_BYTES]);
    assert.deepEqual(chunkBody(new Uint8Array(MAX_RESTORE_CHUNK_BYTES * 2 + 1)).map((c) => c.length), [MAX_RESTORE_CHUNK_BYTES, MAX_RESTORE_CHUNK_BYTES, 1]);
  });
});
