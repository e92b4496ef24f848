import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { ClusterFsm } from '../../src/core/fsm/fsm.ts';
import type { ApplyResult, Command, NodeId } from '../../src/core/fsm/types.ts';
import type { StateMachine } from '../../src/runtime/raft/node.ts';
import { FsmMachine, FsmSnapshotError } from '../../src/runtime/fsm-machine.ts';
import { PROTOCOL_VERSION } from '../../src/wire/codec.ts';
import { MAX_FSM_REASON_CHARS, createFsmSnapshotCodec, encodeApplyResult, createFsmCodec } from '../../src/wire/fsm.ts';
import { createWireCodec } from '../../src/wire/messages.ts';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const raw = new Packr({ useRecords: false, mapsAsObjects: true });

/** Decoded binary values are Buffers (a Uint8Array subclass): compare plain data. */
function normalize(v: unknown): unknown {
  if (v instanceof Uint8Array) return { bytes: Array.from(v) };
  if (Array.isArray(v)) return v.map(normalize);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalize(x)]));
  return v;
}

/** Byte equality (msgpackr caches a DataView as a property on buffers it read, which deepEqual sees). */
function sameBytes(a: Uint8Array, b: Uint8Array): void {
  assert.ok(Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b), 'the bytes differ');
}

function bytesOf(machine: FsmMachine, command: Command): Uint8Array {
  const encoded = machine.encodeCommand(command);
  if (!encoded.ok) assert.fail(encoded.error);
  return encoded.value;
}

const SCRIPT: readonly Command[] = [
  { type: 'session.create', atMs: 1000, id: 'sess-1', ttlMs: 500, owner: 'node-a' },
  { type: 'kv.put', atMs: 1001, key: 'lock/leader', value: enc('node-a'), ifModRevision: 0, session: 'sess-1' },
  { type: 'kv.put', atMs: 1002, key: 'app/config', value: enc('{"replicas":3}') },
  { type: 'kv.put', atMs: 1003, key: 'app/config', value: enc('{"replicas":5}'), ifModRevision: 1 },
  { type: 'kv.put', atMs: 1003, key: 'app/config', value: enc('{"replicas":5}'), ifModRevision: 2 },
  { type: 'node.upsert', atMs: 1004, id: 'node-a' as NodeId, rpcAddr: '127.0.0.1:7701', httpAddr: '127.0.0.1:7700', tags: { hub: 'true' } },
  { type: 'session.destroy', atMs: 1100, id: 'sess-1', reason: 'expired' },
  { type: 'session.keepalive', atMs: 1200, id: 'sess-1' },
  { type: 'session.destroy', atMs: 1750, id: 'sess-1', reason: 'expired' },
  { type: 'kv.delete', atMs: 1700, key: 'app/config' },
  { type: 'kv.delete', atMs: 1701, key: 'app/config' },
  { type: 'note', atMs: 1800, kind: 'autopilot', subject: 'node-a', message: 'promoted' },
  { type: 'node.remove', atMs: 1900, id: 'node-a' as NodeId, reason: 'left' },
];

describe('FsmMachine', () => {
  it('is a Raft StateMachine', () => {
    const machine: StateMachine = new FsmMachine();
    assert.equal(typeof machine.apply, 'function');
  });

  it('applies the same entries on two replicas with identical results, state and snapshot bytes', () => {
    const a = new FsmMachine();
    const b = new FsmMachine();
    const results: ApplyResult[][] = [[], []];
    SCRIPT.forEach((command, i) => {
      const data = bytesOf(a, command);
      results[0]!.push(a.apply({ index: i + 1, term: 1, data }));
      results[1]!.push(b.apply({ index: i + 1, term: 1, data }));
    });
    assert.deepEqual(results[0], results[1]);
    // Sanity: the script exercised successes and each kind of refusal.
    assert.deepEqual(
      results[0]!.map((r) => (r.ok ? 'ok' : r.code)),
      ['ok', 'ok', 'ok', 'cas-mismatch', 'ok', 'ok', 'not-expired', 'ok', 'ok', 'ok', 'not-found', 'ok', 'ok'],
    );
    sameBytes(a.snapshot(), b.snapshot());
    assert.equal(a.fsm.appliedIndex, SCRIPT.length);
    assert.equal(a.fsm.get('lock/leader'), undefined, 'the expired session took its key');
  });

  it('restores a snapshot to the same state, and both replicas go on identically', () => {
    const a = new FsmMachine();
    const half = Math.floor(SCRIPT.length / 2);
    SCRIPT.slice(0, half).forEach((c, i) => a.apply({ index: i + 1, term: 1, data: bytesOf(a, c) }));
    const bytes = a.snapshot();
    const b = new FsmMachine();
    b.restore(bytes);
    assert.deepEqual(normalize(b.fsm.snapshot()), normalize(a.fsm.snapshot()));
    sameBytes(b.snapshot(), bytes);
    SCRIPT.slice(half).forEach((c, i) => {
      const entry = { index: half + i + 1, term: 2, data: bytesOf(a, c) };
      assert.deepEqual(b.apply(entry), a.apply(entry));
    });
    sameBytes(b.snapshot(), a.snapshot());
    assert.deepEqual(b.fsm.events(1).map((e) => e.hash), a.fsm.events(1).map((e) => e.hash));
  });

  it('skips an undecodable entry the same way on every replica, and goes on', () => {
    const seen: [number, string][] = [];
    const a = new FsmMachine({ onInvalidEntry: (index, reason) => seen.push([index, reason]) });
    const b = new FsmMachine();
    const resultBytes = encodeApplyResult(createFsmCodec(), { ok: true, revision: 1, event: 1 });
    assert.ok(resultBytes.ok);
    const bad: readonly Uint8Array[] = [
      Uint8Array.from([0xc1, 0x00, 0xff]), // not msgpack
      enc('put k v'), // a proposer that skipped encodeCommand
      raw.pack([PROTOCOL_VERSION, 'fsm.command', { type: 'kv.put', atMs: 1, key: '', value: new Uint8Array() }]), // empty key
      raw.pack([PROTOCOL_VERSION + 7, 'fsm.command', { type: 'note', atMs: 1, kind: 'k', subject: '', message: '' }]), // a version nobody speaks
      resultBytes.value, // the wrong message type
      new Uint8Array(0),
    ];
    a.apply({ index: 1, term: 1, data: bytesOf(a, SCRIPT[2]!) });
    b.apply({ index: 1, term: 1, data: bytesOf(a, SCRIPT[2]!) });
    const before = a.snapshot();
    bad.forEach((data, i) => {
      const index = i + 2;
      const ra = a.apply({ index, term: 1, data });
      const rb = b.apply({ index, term: 1, data });
      assert.deepEqual(ra, rb);
      assert.ok(!ra.ok && ra.code === 'invalid', JSON.stringify(ra));
      assert.match(ra.reason, new RegExp(`^log entry ${index} \\(term 1\\) is not a valid command and was skipped: `));
      assert.ok(ra.reason.length <= MAX_FSM_REASON_CHARS);
      // The result can go back to a follower that forwarded the write.
      assert.ok(encodeApplyResult(createWireCodec(), ra).ok);
    });
    assert.deepEqual(seen.map(([i]) => i), [2, 3, 4, 5, 6, 7]);
    assert.match(seen[2]![1], /key: /);
    // Nothing changed but the applied index: no revision, no event.
    assert.equal(a.fsm.appliedIndex, 7);
    assert.equal(a.fsm.revision, 1);
    assert.equal(a.fsm.eventHead.seq, 1);
    sameBytes(a.snapshot(), b.snapshot());
    assert.ok(!Buffer.from(a.snapshot()).equals(before), 'the applied index moved');
    const next = a.apply({ index: 8, term: 1, data: bytesOf(a, SCRIPT[3]!) });
    assert.deepEqual(next, b.apply({ index: 8, term: 1, data: bytesOf(a, SCRIPT[3]!) }));
    assert.equal(next.ok, true);
  });

  it('refuses a bad snapshot with a clear error and keeps its state', () => {
    const a = new FsmMachine();
    SCRIPT.slice(0, 6).forEach((c, i) => a.apply({ index: i + 1, term: 1, data: bytesOf(a, c) }));
    const good = a.snapshot();
    const target = new FsmMachine();
    target.apply({ index: 1, term: 1, data: bytesOf(target, { type: 'kv.put', atMs: 5, key: 'mine', value: enc('x') }) });
    const kept = target.snapshot();
    const body = (raw.unpack(good) as unknown[])[2] as { events: { kept: { subject: string }[] } };
    body.events.kept[0]!.subject = 'forged';
    const damaged: ReadonlyArray<[Uint8Array, RegExp]> = [
      [good.subarray(0, good.length - 5), /malformed message/],
      [Uint8Array.from([1, 2, 3]), /malformed message/],
      [raw.pack([PROTOCOL_VERSION, 'fsm.snapshot', body]), /events\.kept \(seq 1\): hash \w+ does not match its content/],
      [raw.pack([PROTOCOL_VERSION, 'fsm.snapshot', { ...body, appliedIndex: -1 }]), /appliedIndex: /],
    ];
    for (const [bytes, expected] of damaged) {
      assert.throws(
        () => target.restore(bytes),
        (e: unknown) => e instanceof FsmSnapshotError && /^refusing the state machine snapshot \(\d+ bytes\): /.test(e.message) && expected.test(e.message),
      );
      sameBytes(target.snapshot(), kept); // a refused snapshot changes nothing
    }
  });

  it('throws on snapshot() rather than write one no node could restore', () => {
    const machine = new FsmMachine({ snapshotCodec: createFsmSnapshotCodec({ maxSnapshotBytes: 256 }) });
    machine.apply({ index: 1, term: 1, data: bytesOf(machine, { type: 'kv.put', atMs: 1, key: 'k', value: new Uint8Array(512) }) });
    assert.throws(() => machine.snapshot(), (e: unknown) => e instanceof FsmSnapshotError && /cannot take a state machine snapshot: .*exceed the limit of 256 bytes/.test(e.message));
  });

  it('applies each entry once, in order (a replay is a programmer error)', () => {
    const machine = new FsmMachine();
    const data = bytesOf(machine, SCRIPT[2]!);
    machine.apply({ index: 3, term: 1, data });
    assert.throws(() => machine.apply({ index: 3, term: 1, data }), /assertion failed: apply at 3 after 3/);
    assert.throws(() => machine.apply({ index: 2, term: 1, data: new Uint8Array(0) }), /assertion failed/);
  });

  it('drives the ClusterFsm it is given, and encodes commands as the wire codec does', () => {
    const fsm = new ClusterFsm({ maxEvents: 3, maxKvHistory: 3 });
    const machine = new FsmMachine({ fsm });
    assert.equal(machine.fsm, fsm);
    const command = SCRIPT[2]!;
    const wire = createWireCodec().encode({ type: 'fsm.command', body: command as never });
    assert.ok(wire.ok);
    assert.deepEqual(bytesOf(machine, command), wire.value);
    assert.equal(machine.apply({ index: 1, term: 1, data: wire.value }).ok, true);
    assert.equal(new TextDecoder().decode(fsm.get('app/config')!.value), '{"replicas":3}');
    const refused = machine.encodeCommand({ ...(command as Extract<Command, { type: 'kv.put' }>), key: '' });
    assert.ok(!refused.ok && /\(kv\.put\): key: /.test(refused.error));
  });
});

// --- Property: bytes through FsmMachine give exactly what ClusterFsm gives on the commands -------

const keyArb = fc.constantFrom('a', 'b', 'app/x', 'app/y', 'lock/1');
const sessionArb = fc.constantFrom('s1', 's2');
const nodeArb = fc.constantFrom('node-a', 'node-b').map((s) => s as NodeId);
const atMsArb = fc.nat(10_000);
const commandArb: fc.Arbitrary<Command> = fc.oneof(
  fc.record(
    { type: fc.constant('kv.put' as const), atMs: atMsArb, key: keyArb, value: fc.uint8Array({ maxLength: 8 }), ifModRevision: fc.nat(20), session: sessionArb },
    { requiredKeys: ['type', 'atMs', 'key', 'value'] },
  ),
  fc.record({ type: fc.constant('kv.delete' as const), atMs: atMsArb, key: keyArb, ifModRevision: fc.nat(20) }, { requiredKeys: ['type', 'atMs', 'key'] }),
  fc.record({ type: fc.constant('session.create' as const), atMs: atMsArb, id: sessionArb, ttlMs: fc.integer({ min: 1, max: 3000 }), owner: fc.constantFrom('o', '') }),
  fc.record({ type: fc.constant('session.keepalive' as const), atMs: atMsArb, id: sessionArb }),
  fc.record({ type: fc.constant('session.destroy' as const), atMs: atMsArb, id: sessionArb, reason: fc.constantFrom('released' as const, 'expired' as const) }),
  fc.record({
    type: fc.constant('node.upsert' as const),
    atMs: atMsArb,
    id: nodeArb,
    rpcAddr: fc.constantFrom('127.0.0.1:1', '127.0.0.2:1'),
    httpAddr: fc.constant(''),
    tags: fc.dictionary(fc.constantFrom('hub', 'zone'), fc.constantFrom('true', 'eu')),
  }),
  fc.record({ type: fc.constant('node.remove' as const), atMs: atMsArb, id: nodeArb, reason: fc.constant('gone') }),
  fc.record({ type: fc.constant('note' as const), atMs: atMsArb, kind: fc.constantFrom('autopilot', 'recover'), subject: keyArb, message: fc.string({ maxLength: 8 }) }),
);

/** A log entry: a command, or (rarely) bytes that are not one. */
type Step = { readonly command: Command } | { readonly garbage: Uint8Array };
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 12, arbitrary: commandArb.map((command) => ({ command })) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 16 }).map((garbage) => ({ garbage })) },
);

describe('FsmMachine property', () => {
  it('bytes through encode -> FsmMachine.apply give the same results and state as ClusterFsm.apply, across a snapshot', () => {
    fc.assert(
      fc.property(fc.array(stepArb, { maxLength: 50 }), fc.nat(50), fc.integer({ min: 1, max: 3 }), (steps, cutAt, indexGap) => {
        const options = { maxEvents: 8, maxKvHistory: 8 };
        const direct = new ClusterFsm(options);
        let machine = new FsmMachine({ fsm: new ClusterFsm(options) });
        let index = 0;
        steps.forEach((step, i) => {
          // Raft indexes have gaps here (no-op and config entries never reach the state machine).
          index += indexGap;
          if (i === cutAt) {
            // A replica that restarts from a snapshot carries on the same.
            const restored = new FsmMachine({ fsm: new ClusterFsm(options) });
            restored.restore(machine.snapshot());
            machine = restored;
          }
          if ('garbage' in step) {
            const r = machine.apply({ index, term: 1, data: step.garbage });
            direct.skip(index);
            assert.ok(!r.ok && r.code === 'invalid');
            return;
          }
          const data = machine.encodeCommand(step.command);
          assert.ok(data.ok, data.ok ? '' : data.error);
          const expected = direct.apply(index, step.command);
          assert.deepEqual(machine.apply({ index, term: 1, data: data.value }), expected);
        });
        assert.deepEqual(normalize(machine.fsm.snapshot()), normalize(direct.snapshot()));
      }),
      { numRuns: 300 },
    );
  });
});
