import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import type { ClusterConfig, Entry, Message, NodeId, SnapshotMeta, Term } from '../../src/core/raft/types.ts';
import { MessageCodec, PROTOCOL_VERSION } from '../../src/wire/codec.ts';
import { createWireCodec } from '../../src/wire/messages.ts';
import {
  MAX_RAFT_APPEND_ENTRIES,
  MAX_RAFT_BATCH_MESSAGES,
  MAX_RAFT_CONFIG_MEMBERS,
  MAX_RAFT_REPLY_ERROR_CHARS,
  MAX_RAFT_SNAPSHOT_CHUNK_BYTES,
  MAX_RAFT_VOTERS,
  RaftMessages,
  decodeRaftBatch,
  decodeSnapshotChunk,
  decodeSnapshotChunkReply,
  encodeRaftBatch,
  encodeSnapshotChunk,
  encodeSnapshotChunkReply,
  type SnapshotChunk,
} from '../../src/wire/raft.ts';

const raw = new Packr({ useRecords: false, mapsAsObjects: true });
const codec = createWireCodec();
const CLUSTER = 'c1/epoch-1';
const A = 'node-a' as NodeId;
const B = 'node-b' as NodeId;
const C = 'node-c' as NodeId;

/** Buffers decode as Buffer (a Uint8Array subclass): compare plain data. */
function normalize(v: unknown): unknown {
  if (v instanceof Uint8Array) return { bytes: Array.from(v) };
  if (Array.isArray(v)) return v.map(normalize);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalize(x)]));
  return v;
}

function bytes(...values: number[]): Uint8Array {
  return Uint8Array.from(values);
}

const config: ClusterConfig = { voters: [A, B, C], learners: ['node-d' as NodeId] };
const meta: SnapshotMeta = { index: 40, term: 3, config };

/** One valid message of every variant, from A to B. */
const EXAMPLES: readonly Message[] = [
  { type: 'vote', from: A, to: B, term: 5, preVote: true, lastLogIndex: 41, lastLogTerm: 4, transfer: false },
  { type: 'vote-response', from: A, to: B, term: 5, preVote: false, granted: true },
  {
    type: 'append',
    from: A,
    to: B,
    term: 5,
    prevLogIndex: 41,
    prevLogTerm: 4,
    entries: [
      { term: 4, index: 42, type: 'normal', data: bytes(1, 2, 3) },
      { term: 5, index: 43, type: 'normal', data: new Uint8Array(0) },
      { term: 5, index: 44, type: 'config', data: new Uint8Array(0), config },
    ],
    commit: 41,
  },
  { type: 'append-response', from: A, to: B, term: 5, success: false, index: 41, hintIndex: 30, hintTerm: 3 },
  { type: 'heartbeat', from: A, to: B, term: 5, commit: 40, readRound: 7 },
  { type: 'heartbeat-response', from: A, to: B, term: 5, readRound: 7 },
  { type: 'snapshot', from: A, to: B, term: 5, snapshot: meta },
  { type: 'timeout-now', from: A, to: B, term: 5 },
  { type: 'read-index', from: A, to: B, term: 5, requestId: 12 },
  { type: 'read-index-response', from: A, to: B, term: 5, requestId: 12, index: 44 },
];

function example<T extends Message['type']>(type: T): Extract<Message, { type: T }> {
  const m = EXAMPLES.find((x) => x.type === type);
  assert.ok(m);
  return m as Extract<Message, { type: T }>;
}

/** Packs a batch body as a peer would, without encodeRaftBatch's checks. */
function rawBatch(body: unknown): Uint8Array {
  return raw.pack([PROTOCOL_VERSION, 'raft.messages', body]);
}

function rawChunk(body: unknown): Uint8Array {
  return raw.pack([PROTOCOL_VERSION, 'raft.snapshot-chunk', body]);
}

/** Both sides refuse: the receiver on decode, and the sender already on encode. */
function assertBatchRejected(messages: unknown[], pattern: RegExp, cluster: unknown = CLUSTER): void {
  const decoded = decodeRaftBatch(codec, rawBatch({ cluster, messages }));
  assert.equal(decoded.ok, false, `decode accepted ${JSON.stringify(normalize(messages))}`);
  if (!decoded.ok) assert.match(decoded.error, pattern);
  const encoded = encodeRaftBatch(codec, cluster as string, messages as Message[]);
  assert.equal(encoded.ok, false, `encode accepted ${JSON.stringify(normalize(messages))}`);
  if (!encoded.ok) assert.match(encoded.error, pattern);
}

function assertChunkRejected(chunk: Record<string, unknown>, pattern: RegExp): void {
  const decoded = decodeSnapshotChunk(codec, rawChunk(chunk));
  assert.equal(decoded.ok, false, `decode accepted ${JSON.stringify(normalize(chunk))}`);
  if (!decoded.ok) assert.match(decoded.error, pattern);
  const encoded = encodeSnapshotChunk(codec, chunk as unknown as SnapshotChunk);
  assert.equal(encoded.ok, false, `encode accepted ${JSON.stringify(normalize(chunk))}`);
  if (!encoded.ok) assert.match(encoded.error, pattern);
}

function withoutField(m: object, field: string): Record<string, unknown> {
  return Object.fromEntries(Object.entries(m).filter(([k]) => k !== field));
}

// --- Arbitraries of valid core messages ------------------------------------------------------

const idArb = fc.string({ minLength: 1, maxLength: 12 }).map((s) => s as NodeId);
const countArb = fc.integer({ min: 0, max: 1_000_000 });

const configArb: fc.Arbitrary<ClusterConfig> = fc
  .uniqueArray(idArb, { minLength: 1, maxLength: 9 })
  .chain((ids) => fc.integer({ min: 1, max: ids.length }).map((v) => ({ voters: ids.slice(0, v), learners: ids.slice(v) })));

function snapshotMetaArb(maxTerm: Term): fc.Arbitrary<SnapshotMeta> {
  return fc.record({ index: fc.integer({ min: 1, max: 1_000_000 }), term: fc.integer({ min: 1, max: Math.max(1, maxTerm) }), config: configArb });
}

function entriesArb(term: Term, prevLogIndex: number, prevLogTerm: Term): fc.Arbitrary<Entry[]> {
  const entryArb = fc.oneof(
    fc.record({ type: fc.constant('normal' as const), data: fc.uint8Array({ maxLength: 16 }) }),
    configArb.map((c) => ({ type: 'config' as const, data: new Uint8Array(0), config: c })),
  );
  return fc.array(fc.tuple(fc.boolean(), entryArb), { maxLength: 6 }).map((steps) => {
    let t = Math.max(1, prevLogTerm);
    return steps.map(([bump, e], i): Entry => {
      if (bump && t < term) t++;
      return { ...e, term: t, index: prevLogIndex + 1 + i };
    });
  });
}

function messageArb(from: NodeId, to: NodeId): fc.Arbitrary<Message> {
  return fc.integer({ min: 1, max: 1000 }).chain((term): fc.Arbitrary<Message> => {
    const env = { from, to, term };
    return fc.oneof(
      fc
        .record({ preVote: fc.boolean(), lastLogIndex: countArb, lastLogTerm: fc.integer({ min: 1, max: term }), transfer: fc.boolean() })
        .map((v) => ({ type: 'vote' as const, ...env, ...v, lastLogTerm: v.lastLogIndex === 0 ? 0 : v.lastLogTerm, transfer: v.transfer && !v.preVote })),
      fc.record({ preVote: fc.boolean(), granted: fc.boolean() }).map((v) => ({ type: 'vote-response' as const, ...env, ...v })),
      fc
        .record({ prevLogIndex: countArb, prevLogTerm: fc.integer({ min: 1, max: term }), commit: countArb })
        .chain((v) => {
          const prevLogTerm = v.prevLogIndex === 0 ? 0 : v.prevLogTerm;
          return entriesArb(term, v.prevLogIndex, prevLogTerm).map((entries) => ({ type: 'append' as const, ...env, ...v, prevLogTerm, entries }));
        }),
      fc
        .record({ success: fc.boolean(), index: countArb, hintIndex: countArb, hintTerm: fc.integer({ min: 0, max: term }) })
        .map((v) => ({ type: 'append-response' as const, ...env, ...v, hintIndex: v.success ? v.hintIndex : Math.min(v.hintIndex, v.index) })),
      fc.record({ commit: countArb, readRound: countArb }).map((v) => ({ type: 'heartbeat' as const, ...env, ...v })),
      countArb.map((readRound) => ({ type: 'heartbeat-response' as const, ...env, readRound })),
      snapshotMetaArb(term).map((snapshot) => ({ type: 'snapshot' as const, ...env, snapshot })),
      fc.constant({ type: 'timeout-now' as const, ...env }),
      countArb.map((requestId) => ({ type: 'read-index' as const, ...env, requestId })),
      fc.record({ requestId: countArb, index: countArb }).map((v) => ({ type: 'read-index-response' as const, ...env, ...v })),
    );
  });
}

const batchArb = fc
  .tuple(idArb, idArb)
  .filter(([from, to]) => from !== to)
  .chain(([from, to]) => fc.record({ cluster: fc.string({ minLength: 1, maxLength: 32 }), messages: fc.array(messageArb(from, to), { minLength: 1, maxLength: 8 }) }));

// ---------------------------------------------------------------------------------------------

describe('raft wire: batches', () => {
  it('round-trips every message variant', () => {
    const encoded = encodeRaftBatch(codec, CLUSTER, EXAMPLES);
    assert.ok(encoded.ok, encoded.ok ? '' : encoded.error);
    const decoded = decodeRaftBatch(codec, encoded.value);
    assert.ok(decoded.ok, decoded.ok ? '' : decoded.error);
    assert.equal(decoded.value.cluster, CLUSTER);
    assert.deepEqual(normalize(decoded.value.messages), normalize(EXAMPLES));
    assert.deepEqual(new Set(decoded.value.messages.map((m) => m.type)).size, 10);
    const append = decoded.value.messages.find((m) => m.type === 'append');
    assert.ok(append?.type === 'append' && append.entries[0]!.data instanceof Uint8Array);
  });

  it('round-trips any valid batch, and what encodes always decodes', () => {
    fc.assert(
      fc.property(batchArb, ({ cluster, messages }) => {
        const encoded = encodeRaftBatch(codec, cluster, messages);
        assert.ok(encoded.ok, encoded.ok ? '' : encoded.error);
        const decoded = decodeRaftBatch(codec, encoded.value);
        assert.ok(decoded.ok, decoded.ok ? '' : decoded.error);
        assert.deepEqual(normalize(decoded.value), normalize({ cluster, messages }));
      }),
      { numRuns: 300 },
    );
  });

  it('gives entries their own bytes: the received message may be reused or freed', () => {
    const encoded = encodeRaftBatch(codec, CLUSTER, [example('append')]);
    assert.ok(encoded.ok);
    const received = Uint8Array.from(encoded.value);
    const decoded = decodeRaftBatch(codec, received);
    assert.ok(decoded.ok);
    received.fill(0);
    const append = decoded.value.messages[0];
    assert.ok(append?.type === 'append');
    assert.deepEqual(Array.from(append.entries[0]!.data), [1, 2, 3]);
    assert.notEqual(append.entries[0]!.data.buffer, received.buffer);
  });

  it('works with a codec of the Raft messages alone', () => {
    const own = new MessageCodec(RaftMessages, { maxMessageBytes: 1 << 20 });
    const encoded = encodeRaftBatch(own, CLUSTER, [example('heartbeat')]);
    assert.ok(encoded.ok);
    assert.deepEqual(normalize(decodeRaftBatch(own, encoded.value)), normalize({ ok: true, value: { cluster: CLUSTER, messages: [example('heartbeat')] } }));
    // The full wire codec reads the same bytes.
    assert.ok(decodeRaftBatch(codec, encoded.value).ok);
  });

  it('refuses a batch that is not one sender to one receiver', () => {
    assertBatchRejected([], /messages/);
    assertBatchRejected([{ ...example('heartbeat'), to: A }], /messages\[0\] \(heartbeat\).*from and to are both "node-a"/);
    assertBatchRejected([example('heartbeat'), { ...example('timeout-now'), from: C }], /messages\[1\] \(timeout-now\): from is "node-c".*one sender/);
    assertBatchRejected([example('heartbeat'), { ...example('timeout-now'), to: C }], /messages\[1\] \(timeout-now\): to is "node-c".*one receiver/);
    assertBatchRejected([example('heartbeat')], /cluster/, '');
  });

  it('refuses appends whose entries are not consecutive from prevLogIndex + 1', () => {
    const m = example('append');
    const e = m.entries;
    const cases: Array<[Entry[], RegExp]> = [
      [[{ ...e[0]!, index: 41 }], /entries\[0\]\.index is 41 but must be 42/],
      [[e[0]!, { ...e[1]!, index: 44 }], /entries\[1\]\.index is 44 but must be 43/],
      [[e[0]!, e[0]!], /entries\[1\]\.index is 42 but must be 43/],
    ];
    for (const [entries, pattern] of cases) assertBatchRejected([{ ...m, entries }], new RegExp(`messages\\[0\\] \\(append\\): ${pattern.source}`));
  });

  it('refuses appends with terms that decrease, exceed the leader term, or are zero', () => {
    const m = example('append');
    const e = m.entries;
    assertBatchRejected([{ ...m, entries: [e[0]!, { ...e[1]!, term: 3 }] }], /entries\[1\]\.term 3 is below entries\[0\]\.term 4/);
    assertBatchRejected([{ ...m, entries: [{ ...e[0]!, term: 3 }] }], /entries\[0\]\.term 3 is below prevLogTerm 4/);
    assertBatchRejected([{ ...m, entries: [{ ...e[0]!, term: 6 }] }], /entries\[0\]\.term 6 is above the leader's term 5/);
    assertBatchRejected([{ ...m, prevLogIndex: 0, prevLogTerm: 0, entries: [{ ...e[0]!, index: 1, term: 0 }] }], /entries\[0\]\.term is 0/);
    assertBatchRejected([{ ...m, prevLogTerm: 6 }], /prevLogTerm 6 is above term 5/);
    assertBatchRejected([{ ...m, prevLogIndex: 0, entries: [] }], /prevLogTerm is 4 at prevLogIndex 0/);
  });

  it('refuses entries whose type and configuration disagree', () => {
    const m = example('append');
    const [normal, , conf] = m.entries;
    const at = (field: string): RegExp => new RegExp(`messages\\[0\\] \\(append\\): entries\\[0\\]\\.${field}`);
    assertBatchRejected([{ ...m, entries: [{ ...normal!, config }] }], at('config is set on a normal entry'));
    assertBatchRejected([{ ...m, entries: [{ term: 4, index: 42, type: 'config', data: new Uint8Array(0) }] }], at('config is missing on a config entry'));
    assertBatchRejected([{ ...m, entries: [{ ...conf!, term: 4, index: 42, data: bytes(1) }] }], at('data holds 1 bytes on a config entry'));
  });

  it('refuses malformed configurations wherever they appear', () => {
    const m = example('append');
    const conf = { ...m.entries[2]!, term: 4, index: 42 };
    const withConfig = (c: unknown): unknown => ({ ...m, entries: [{ ...conf, config: c }] });
    const withSnapshot = (c: unknown): unknown => ({ ...example('snapshot'), snapshot: { ...meta, config: c } });
    const cases: Array<[unknown, RegExp]> = [
      [{ voters: [A, B, A], learners: [] }, /config\.voters\[2\] repeats "node-a"/],
      [{ voters: [A], learners: [C, C] }, /config\.learners\[1\] repeats "node-c"/],
      [{ voters: [A, B], learners: [B] }, /config\.learners\[0\] "node-b" is also a voter/],
    ];
    for (const [c, pattern] of cases) {
      assertBatchRejected([withConfig(c)], new RegExp(`entries\\[0\\]\\.${pattern.source}`));
      assertBatchRejected([withSnapshot(c)], new RegExp(`messages\\[0\\] \\(snapshot\\): snapshot\\.${pattern.source}`));
    }
    // Sizes: empty and oversized voter sets, and too many members together.
    const many = (n: number, prefix: string): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
    assertBatchRejected([withConfig({ voters: [], learners: [A] })], /messages\[0\] \(append\) at \/entries\/0\/config\/voters: Expected array length to be greater or equal to 1/);
    assertBatchRejected([withConfig({ voters: many(MAX_RAFT_VOTERS + 1, 'v'), learners: [] })], /\/entries\/0\/config\/voters: Expected array length to be less or equal to 64/);
    assertBatchRejected(
      [withConfig({ voters: many(MAX_RAFT_VOTERS, 'v'), learners: many(MAX_RAFT_CONFIG_MEMBERS - MAX_RAFT_VOTERS + 1, 'l') })],
      /config\.voters and learners have 1025 ids together, more than 1024/,
    );
    assertBatchRejected([withConfig({ voters: [A], learners: [], extra: 1 })], /messages\[0\] \(append\) at \/entries\/0\/config\/extra: Unexpected property/);
  });

  it('refuses votes, rejections and snapshots that break the core invariants', () => {
    const vote = example('vote');
    assertBatchRejected([{ ...vote, lastLogTerm: 6 }], /messages\[0\] \(vote\): lastLogTerm 6 is above term 5/);
    assertBatchRejected([{ ...vote, lastLogIndex: 0 }], /lastLogTerm is 4 for an empty log/);
    assertBatchRejected([{ ...vote, transfer: true }], /preVote and transfer are both set/);
    const reject = example('append-response');
    assertBatchRejected([{ ...reject, hintIndex: 42 }], /messages\[0\] \(append-response\): hintIndex 42 is above the rejected index 41/);
    assertBatchRejected([{ ...reject, hintTerm: 6 }], /hintTerm 6 is above term 5/);
    const snap = example('snapshot');
    assertBatchRejected([{ ...snap, snapshot: { ...meta, index: 0 } }], /messages\[0\] \(snapshot\): snapshot\.index is 0/);
    assertBatchRejected([{ ...snap, snapshot: { ...meta, term: 0 } }], /snapshot\.term is 0/);
    assertBatchRejected([{ ...snap, snapshot: { ...meta, term: 6 } }], /snapshot\.term 6 is above the sender's term 5/);
    // A successful append-response may carry any hint (the core sends zeros).
    const ok = encodeRaftBatch(codec, CLUSTER, [{ ...reject, success: true, hintIndex: 99 }]);
    assert.ok(ok.ok);
  });

  it('names the message and field of a wrong type', () => {
    const m = example('append');
    const cases: Array<[unknown, RegExp]> = [
      [{ ...m, term: '5' }, /messages\[0\] \(append\) at \/term: Expected integer/],
      [{ ...m, commit: -1 }, /messages\[0\] \(append\) at \/commit: Expected integer to be greater or equal to 0/],
      [{ ...m, prevLogIndex: 1.5 }, /messages\[0\] \(append\) at \/prevLogIndex: Expected integer/],
      [{ ...m, entries: [{ ...m.entries[0]!, data: 'abc' }] }, /messages\[0\] \(append\) at \/entries\/0\/data: Expected Uint8Array/],
      [{ ...m, entries: [{ ...m.entries[0]!, type: 'weird' }] }, /messages\[0\] \(append\) at \/entries\/0\/type/],
      [{ ...m, extra: true }, /messages\[0\] \(append\) at \/extra: Unexpected property/],
      [{ ...example('vote'), granted: true }, /messages\[0\] \(vote\) at \/granted: Unexpected property/],
      [withoutField(example('heartbeat'), 'readRound'), /messages\[0\] \(heartbeat\) at \/readRound: Expected required property/],
      [{ ...example('heartbeat'), from: 'x'.repeat(200) }, /messages\[0\] \(heartbeat\) at \/from: Expected string length less or equal to 128/],
      [{ ...example('heartbeat'), to: '' }, /messages\[0\] \(heartbeat\) at \/to/],
      [{ ...example('heartbeat'), type: 'bogus' }, /messages\[0\]\.type is "bogus", not one of vote, vote-response, append/],
      [{ ...example('heartbeat'), type: 7 }, /messages\[0\]\.type is number/],
      [null, /messages\[0\] is not an object/],
    ];
    for (const [message, pattern] of cases) assertBatchRejected([message], pattern);
    // Wrong envelope-level fields.
    const decoded = decodeRaftBatch(codec, rawBatch({ cluster: 7, messages: [example('heartbeat')] }));
    assert.ok(!decoded.ok && /invalid raft\.messages: at \/cluster: Expected string/.test(decoded.error), decoded.ok ? '' : decoded.error);
    const missing = decodeRaftBatch(codec, rawBatch({ cluster: CLUSTER }));
    assert.ok(!missing.ok && /\/messages: Expected required property/.test(missing.error), missing.ok ? '' : missing.error);
  });

  it('refuses a message of another type and garbage with a description', () => {
    const reply = encodeSnapshotChunkReply(codec, { nextOffset: 3 });
    assert.ok(reply.ok);
    assert.deepEqual(decodeRaftBatch(codec, reply.value), { ok: false, error: 'expected a raft.messages message but got "raft.snapshot-chunk-reply"' });
    const garbage = decodeRaftBatch(codec, bytes(0xc1));
    assert.ok(!garbage.ok && garbage.error.startsWith('malformed message'));
    const unknown = decodeRaftBatch(codec, raw.pack([PROTOCOL_VERSION, 'raft.nope', {}]));
    assert.ok(!unknown.ok && unknown.error === 'unknown message type "raft.nope"');
  });

  it('never throws on truncated or bit-flipped batches, and accepts only valid ones', () => {
    const encoded = encodeRaftBatch(codec, CLUSTER, EXAMPLES);
    assert.ok(encoded.ok);
    const valid = encoded.value;
    fc.assert(
      fc.property(fc.nat(), fc.nat(), fc.integer({ min: 0, max: 7 }), (cut, flip, bit) => {
        assert.equal(decodeRaftBatch(codec, valid.subarray(0, cut % valid.length)).ok, false);
        const flipped = Uint8Array.from(valid);
        flipped[flip % flipped.length]! ^= 1 << bit;
        const result = decodeRaftBatch(codec, flipped);
        // A flip in data bytes or an id can still be a valid batch; then it must re-encode.
        if (result.ok) assert.ok(encodeRaftBatch(codec, result.value.cluster, result.value.messages).ok);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('raft wire: limits', () => {
  it('refuses batches over the codec size limit, on both sides', () => {
    const small = createWireCodec(4096);
    const big = { ...example('append'), entries: [{ term: 4, index: 42, type: 'normal' as const, data: new Uint8Array(5000) }] };
    const encoded = encodeRaftBatch(small, CLUSTER, [big]);
    assert.ok(!encoded.ok && /cannot encode raft\.messages: \d+ bytes exceed the limit of 4096 bytes/.test(encoded.error));
    const full = encodeRaftBatch(codec, CLUSTER, [big]);
    assert.ok(full.ok);
    const decoded = decodeRaftBatch(small, full.value);
    assert.ok(!decoded.ok && /message of \d+ bytes exceeds the limit of 4096 bytes/.test(decoded.error));
  });

  it('refuses more messages per batch or entries per append than the limits', () => {
    const hb = example('heartbeat');
    assertBatchRejected(Array.from({ length: MAX_RAFT_BATCH_MESSAGES + 1 }, () => hb), /at \/messages: Expected array length to be less or equal to 1024/);
    assert.ok(encodeRaftBatch(codec, CLUSTER, Array.from({ length: MAX_RAFT_BATCH_MESSAGES }, () => hb)).ok);
    const entries = Array.from({ length: MAX_RAFT_APPEND_ENTRIES + 1 }, (_, i): Entry => ({ term: 1, index: i + 1, type: 'normal', data: new Uint8Array(0) }));
    const append = { ...example('append'), prevLogIndex: 0, prevLogTerm: 0, entries };
    assertBatchRejected([append], /messages\[0\] \(append\) at \/entries: Expected array length to be less or equal to 65536/);
    assert.ok(encodeRaftBatch(codec, CLUSTER, [{ ...append, entries: entries.slice(0, MAX_RAFT_APPEND_ENTRIES) }]).ok);
  });

  it('refuses ids and cluster names longer than the id limit', () => {
    assertBatchRejected([example('heartbeat')], /at \/cluster: Expected string length less or equal to 128/, 'c'.repeat(129));
  });
});

describe('raft wire: snapshot chunks', () => {
  const chunk: SnapshotChunk = { cluster: CLUSTER, from: A, to: B, term: 5, snapshot: meta, totalBytes: 10, offset: 4, data: bytes(1, 2, 3), done: false };

  it('round-trips chunks and replies', () => {
    for (const c of [chunk, { ...chunk, offset: 7, done: true }, { ...chunk, totalBytes: 0, offset: 0, data: new Uint8Array(0), done: true }]) {
      const encoded = encodeSnapshotChunk(codec, c);
      assert.ok(encoded.ok, encoded.ok ? '' : encoded.error);
      const decoded = decodeSnapshotChunk(codec, encoded.value);
      assert.ok(decoded.ok, decoded.ok ? '' : decoded.error);
      assert.deepEqual(normalize(decoded.value), normalize(c));
    }
    for (const r of [{ nextOffset: 0 }, { nextOffset: 1 << 40, error: 'disk full' }]) {
      const encoded = encodeSnapshotChunkReply(codec, r);
      assert.ok(encoded.ok);
      assert.deepEqual(decodeSnapshotChunkReply(codec, encoded.value), { ok: true, value: r });
    }
  });

  it('round-trips a full chunk of the maximum size and refuses a larger one', () => {
    const data = new Uint8Array(MAX_RAFT_SNAPSHOT_CHUNK_BYTES).fill(7);
    const maxChunk = { ...chunk, offset: 0, totalBytes: data.length * 2, data };
    const encoded = encodeSnapshotChunk(codec, maxChunk);
    assert.ok(encoded.ok);
    const decoded = decodeSnapshotChunk(codec, encoded.value);
    assert.ok(decoded.ok && decoded.value.data.length === MAX_RAFT_SNAPSHOT_CHUNK_BYTES);
    const over = { ...maxChunk, data: new Uint8Array(MAX_RAFT_SNAPSHOT_CHUNK_BYTES + 1) };
    assertChunkRejected(over, /invalid raft\.snapshot-chunk: at \/data: Expected byte length less or equal to 1048576|cannot encode raft\.snapshot-chunk: at \/data/);
  });

  it('refuses chunks that break the transfer rules, naming the field', () => {
    assertChunkRejected({ ...chunk, to: A }, /from and to are both "node-a"/);
    assertChunkRejected({ ...chunk, offset: 8 }, /offset 8 \+ data 3 bytes runs past totalBytes 10/);
    assertChunkRejected({ ...chunk, done: true }, /done is set but offset 4 \+ data 3 bytes ends before totalBytes 10/);
    assertChunkRejected({ ...chunk, offset: 7 }, /done is not set but offset 7 \+ data 3 bytes reaches totalBytes 10/);
    assertChunkRejected({ ...chunk, snapshot: { ...meta, index: 0 } }, /snapshot\.index is 0/);
    assertChunkRejected({ ...chunk, snapshot: { ...meta, term: 9 } }, /snapshot\.term 9 is above the sender's term 5/);
    assertChunkRejected({ ...chunk, snapshot: { ...meta, config: { voters: [A], learners: [A] } } }, /snapshot\.config\.learners\[0\] "node-a" is also a voter/);
    assertChunkRejected({ ...chunk, cluster: '' }, /at \/cluster: Expected string length greater or equal to 1/);
    assertChunkRejected({ ...chunk, totalBytes: -1 }, /at \/totalBytes: Expected integer to be greater or equal to 0/);
    assertChunkRejected({ ...chunk, done: 'yes' }, /at \/done: Expected boolean/);
    assertChunkRejected({ ...chunk, data: [1, 2, 3] }, /at \/data: Expected Uint8Array/);
    assertChunkRejected({ ...chunk, extra: 1 }, /at \/extra: Unexpected property/);
  });

  it('cuts long reply errors instead of failing, and refuses bad replies', () => {
    const encoded = encodeSnapshotChunkReply(codec, { nextOffset: 1, error: 'e'.repeat(5000) });
    assert.ok(encoded.ok);
    const decoded = decodeSnapshotChunkReply(codec, encoded.value);
    assert.ok(decoded.ok && decoded.value.error?.length === MAX_RAFT_REPLY_ERROR_CHARS);
    assert.ok(!encodeSnapshotChunkReply(codec, { nextOffset: -1 }).ok);
    const bad = decodeSnapshotChunkReply(codec, raw.pack([PROTOCOL_VERSION, 'raft.snapshot-chunk-reply', { nextOffset: 1.5 }]));
    assert.ok(!bad.ok && /invalid raft\.snapshot-chunk-reply: at \/nextOffset: Expected integer/.test(bad.error), bad.ok ? '' : bad.error);
    const wrongType = decodeSnapshotChunk(codec, encoded.value);
    assert.ok(!wrongType.ok && /expected a raft\.snapshot-chunk message/.test(wrongType.error));
  });
});
