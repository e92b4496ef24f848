import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { verifyChain } from '../../../src/core/fsm/events.ts';
import { ClusterFsm } from '../../../src/core/fsm/fsm.ts';
import type { ApplyResult, Command, NodeId } from '../../../src/core/fsm/types.ts';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const put = (key: string, value: string, extra: Partial<Extract<Command, { type: 'kv.put' }>> = {}): Command => ({ type: 'kv.put', atMs: 1000, key, value: enc(value), ...extra });

/** Applies commands at consecutive indexes from 1; returns the results. */
function run(fsm: ClusterFsm, commands: readonly Command[]): ApplyResult[] {
  return commands.map((c) => fsm.apply(fsm.appliedIndex + 1, c));
}

describe('KV', () => {
  it('tracks a global revision and per-key create/mod revisions and versions', () => {
    const fsm = new ClusterFsm();
    run(fsm, [put('a', '1'), put('b', '1'), put('a', '2')]);
    assert.equal(fsm.revision, 3);
    assert.deepEqual({ ...fsm.get('a')!, value: undefined }, { key: 'a', value: undefined, createRevision: 1, modRevision: 3, version: 2, session: undefined });
    assert.equal(new TextDecoder().decode(fsm.get('a')!.value), '2');
    run(fsm, [{ type: 'kv.delete', atMs: 1, key: 'a' }, put('a', '3')]);
    assert.deepEqual([fsm.get('a')!.createRevision, fsm.get('a')!.modRevision, fsm.get('a')!.version], [5, 5, 1]);
  });

  it('compare-and-swap on modRevision; 0 means create only', () => {
    const fsm = new ClusterFsm();
    assert.deepEqual(run(fsm, [put('k', 'v', { ifModRevision: 0 })])[0], { ok: true, revision: 1, event: 1 });
    assert.deepEqual(run(fsm, [put('k', 'v', { ifModRevision: 0 })])[0], { ok: false, code: 'cas-mismatch', modRevision: 1 });
    assert.deepEqual(run(fsm, [put('k', 'w', { ifModRevision: 7 })])[0], { ok: false, code: 'cas-mismatch', modRevision: 1 });
    assert.equal(run(fsm, [put('k', 'w', { ifModRevision: 1 })])[0]!.ok, true);
    assert.deepEqual(run(fsm, [{ type: 'kv.delete', atMs: 1, key: 'k', ifModRevision: 1 }])[0], { ok: false, code: 'cas-mismatch', modRevision: 2 });
    assert.equal(run(fsm, [{ type: 'kv.delete', atMs: 1, key: 'k', ifModRevision: 2 }])[0]!.ok, true);
    assert.deepEqual(run(fsm, [{ type: 'kv.delete', atMs: 1, key: 'k' }])[0], { ok: false, code: 'not-found', subject: 'k' });
    // A refused command changes nothing, not even the revision.
    assert.equal(fsm.revision, 3);
  });

  it('lists a prefix in key order with a limit', () => {
    const fsm = new ClusterFsm();
    run(fsm, [put('app/b', '1'), put('app/a', '1'), put('other', '1'), put('app/c', '1')]);
    assert.deepEqual(fsm.list('app/').entries.map((e) => e.key), ['app/a', 'app/b', 'app/c']);
    const limited = fsm.list('app/', 2);
    assert.deepEqual([limited.entries.map((e) => e.key), limited.more], [['app/a', 'app/b'], true]);
  });

  it('replays changes since a revision for watchers, and says when history was compacted', () => {
    const fsm = new ClusterFsm({ maxEvents: 100, maxKvHistory: 3 });
    run(fsm, [put('a', '1'), put('b', '1'), put('a', '2')]);
    const since2 = fsm.changesSince(2, '');
    assert.ok(since2.ok);
    assert.deepEqual(since2.changes.map((c) => [c.revision, c.key]), [[2, 'b'], [3, 'a']]);
    const onlyA = fsm.changesSince(1, 'a');
    assert.ok(onlyA.ok);
    assert.deepEqual(onlyA.changes.map((c) => c.revision), [1, 3]);
    run(fsm, [{ type: 'kv.delete', atMs: 1, key: 'b' }]);
    assert.deepEqual(fsm.changesSince(1, ''), { ok: false, compactedBefore: 2 });
    const future = fsm.changesSince(10, '');
    assert.ok(future.ok && future.changes.length === 0);
  });
});

describe('sessions', () => {
  it('own ephemeral keys, which go when the session is released', () => {
    const fsm = new ClusterFsm();
    const r = run(fsm, [
      { type: 'session.create', atMs: 1000, id: 's1', ttlMs: 500, owner: 'app' },
      put('lock/x', 'me', { session: 's1' }),
      put('plain', 'v'),
      { type: 'session.destroy', atMs: 1100, id: 's1', reason: 'released' },
    ]);
    assert.ok(r.every((x) => x.ok));
    assert.equal(fsm.get('lock/x'), undefined);
    assert.ok(fsm.get('plain'));
    assert.deepEqual(run(fsm, [put('lock/y', 'me', { session: 's1' })])[0], { ok: false, code: 'no-session', session: 's1' });
  });

  it('expire only once their TTL has passed by the command time; keepalives push it out', () => {
    const fsm = new ClusterFsm();
    run(fsm, [{ type: 'session.create', atMs: 1000, id: 's', ttlMs: 500, owner: 'n1' }, put('k', 'v', { session: 's', atMs: 1000 })]);
    assert.deepEqual(fsm.expiredSessions(1499), []);
    assert.deepEqual(fsm.expiredSessions(1500).map((s) => s.id), ['s']);
    run(fsm, [{ type: 'session.keepalive', atMs: 1400, id: 's' }]);
    // The leader saw it expire at its old deadline, but the keepalive was applied first.
    assert.deepEqual(run(fsm, [{ type: 'session.destroy', atMs: 1500, id: 's', reason: 'expired' }])[0], { ok: false, code: 'not-expired', subject: 's' });
    assert.ok(run(fsm, [{ type: 'session.destroy', atMs: 1900, id: 's', reason: 'expired' }])[0]!.ok);
    assert.equal(fsm.get('k'), undefined);
  });

  it('refuse a bad TTL and a duplicate id', () => {
    const fsm = new ClusterFsm();
    assert.deepEqual(run(fsm, [{ type: 'session.create', atMs: 0, id: 's', ttlMs: 0, owner: 'x' }])[0], { ok: false, code: 'invalid', reason: 'ttlMs must be a positive integer, got 0' });
    run(fsm, [{ type: 'session.create', atMs: 0, id: 's', ttlMs: 10, owner: 'x' }]);
    assert.deepEqual(run(fsm, [{ type: 'session.create', atMs: 0, id: 's', ttlMs: 10, owner: 'x' }])[0], { ok: false, code: 'exists', subject: 's' });
  });
});

describe('time and order', () => {
  it('state machine time never goes back when a new leader has a slower clock', () => {
    const fsm = new ClusterFsm();
    run(fsm, [put('a', '1', { atMs: 5000 }), put('b', '1', { atMs: 3000 })]);
    assert.equal(fsm.nowMs, 5000);
    assert.equal(fsm.events(1).at(-1)!.atMs, 5000);
  });

  it('refuses to apply an index twice or out of order (a programmer error)', () => {
    const fsm = new ClusterFsm();
    fsm.apply(3, put('a', '1'));
    assert.throws(() => fsm.apply(3, put('a', '1')), /apply at 3 after 3/);
    fsm.skip(4);
    assert.throws(() => fsm.apply(4, put('a', '1')), /apply at 4 after 4/);
  });
});

describe('node registry', () => {
  it('records joins, updates and removals as events', () => {
    const fsm = new ClusterFsm();
    const n1 = 'n1' as NodeId;
    run(fsm, [
      { type: 'node.upsert', atMs: 10, id: n1, rpcAddr: '10.0.0.1:7701', httpAddr: '10.0.0.1:7700', tags: { hub: 'true' } },
      { type: 'node.upsert', atMs: 20, id: n1, rpcAddr: '10.0.0.9:7701', httpAddr: '10.0.0.9:7700', tags: {} },
    ]);
    assert.deepEqual(fsm.node(n1), { id: n1, rpcAddr: '10.0.0.9:7701', httpAddr: '10.0.0.9:7700', tags: {}, firstSeenAtMs: 10, updatedAtMs: 20 });
    run(fsm, [{ type: 'node.remove', atMs: 30, id: n1, reason: 'left' }]);
    assert.equal(fsm.node(n1), undefined);
    assert.deepEqual(fsm.events(1).map((e) => e.type), ['node.join', 'node.update', 'node.remove']);
  });
});

describe('event log', () => {
  it('chains every change to the previous event by sha256 and detects tampering', () => {
    const fsm = new ClusterFsm();
    run(fsm, [put('a', '1'), { type: 'note', atMs: 2000, kind: 'autopilot.promote', subject: 'n4', message: 'caught up' }, put('a', '2')]);
    const events = fsm.events(1);
    assert.equal(events.length, 3);
    assert.equal(events[0]!.prevHash, '');
    assert.equal(events[1]!.prevHash, events[0]!.hash);
    assert.equal(verifyChain(fsm.eventAnchor, events), undefined);
    const altered = events.map((e, i) => (i === 1 ? { ...e, detail: { message: 'forged' } } : e));
    assert.deepEqual(verifyChain(fsm.eventAnchor, altered)?.seq, 2);
    assert.match(verifyChain(fsm.eventAnchor, altered)!.problem, /altered/);
    assert.match(verifyChain(fsm.eventAnchor, [events[0]!, events[2]!])!.problem, /missing/);
    // Values are summarized, never copied into the log.
    assert.deepEqual(Object.keys(events[0]!.detail).sort(), ['bytes', 'revision', 'sha256', 'version']);
  });

  it('keeps the chain verifiable from its anchor after old events are dropped', () => {
    const fsm = new ClusterFsm({ maxEvents: 3, maxKvHistory: 100 });
    run(fsm, Array.from({ length: 10 }, (_, i) => put(`k${i}`, 'v')));
    assert.equal(fsm.events(1).length, 3);
    assert.deepEqual(fsm.events(1).map((e) => e.seq), [8, 9, 10]);
    assert.equal(fsm.eventAnchor.seq, 7);
    assert.equal(verifyChain(fsm.eventAnchor, fsm.events(1)), undefined);
    assert.equal(fsm.eventHead.seq, 10);
  });
});

// --- Determinism and snapshots, against random command sequences ---------------------------

const keyArb = fc.constantFrom('a', 'b', 'app/x', 'app/y', 'lock/1');
const sessionArb = fc.constantFrom('s1', 's2');
const commandArb: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ type: fc.constant('kv.put' as const), atMs: fc.nat(10_000), key: keyArb, value: fc.uint8Array({ maxLength: 8 }) }),
  fc.record({ type: fc.constant('kv.put' as const), atMs: fc.nat(10_000), key: keyArb, value: fc.uint8Array({ maxLength: 8 }), ifModRevision: fc.nat(20) }),
  fc.record({ type: fc.constant('kv.put' as const), atMs: fc.nat(10_000), key: keyArb, value: fc.uint8Array({ maxLength: 8 }), session: sessionArb }),
  fc.record({ type: fc.constant('kv.delete' as const), atMs: fc.nat(10_000), key: keyArb }),
  fc.record({ type: fc.constant('session.create' as const), atMs: fc.nat(10_000), id: sessionArb, ttlMs: fc.integer({ min: 1, max: 3000 }), owner: fc.constant('o') }),
  fc.record({ type: fc.constant('session.keepalive' as const), atMs: fc.nat(10_000), id: sessionArb }),
  fc.record({ type: fc.constant('session.destroy' as const), atMs: fc.nat(10_000), id: sessionArb, reason: fc.constantFrom('released' as const, 'expired' as const) }),
);

it('the same commands give the same state and event hashes; a snapshot taken midway restores to the same end', () => {
  fc.assert(
    fc.property(fc.array(commandArb, { maxLength: 60 }), fc.nat(60), (commands, cut) => {
      const a = new ClusterFsm({ maxEvents: 16, maxKvHistory: 16 });
      const b = new ClusterFsm({ maxEvents: 16, maxKvHistory: 16 });
      const ra = run(a, commands);
      const rb = run(b, commands);
      assert.deepEqual(ra, rb);
      assert.deepEqual(a.snapshot(), b.snapshot());
      assert.equal(verifyChain(a.eventAnchor, a.events(1)), undefined);

      const at = Math.min(cut, commands.length);
      const first = new ClusterFsm({ maxEvents: 16, maxKvHistory: 16 });
      run(first, commands.slice(0, at));
      const restored = new ClusterFsm({ maxEvents: 16, maxKvHistory: 16 });
      restored.restore(structuredClone(first.snapshot()));
      const rest = run(restored, commands.slice(at));
      assert.deepEqual(rest, ra.slice(at));
      assert.deepEqual(restored.snapshot(), a.snapshot());
      assert.deepEqual(restored.eventHead, a.eventHead);
    }),
    { numRuns: 300, seed: 11 },
  );
});
