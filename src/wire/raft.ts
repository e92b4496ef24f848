// Wire schemas of Raft's peer traffic (src/core/raft/types.ts, src/runtime/raft/peers.ts):
//   raft.messages             one-way: a batch of core messages, all from one node to one node;
//   raft.snapshot-chunk       request: one piece of a snapshot file, resumable at any offset;
//   raft.snapshot-chunk-reply the receiver's answer: where the sender must continue.
// Every message names its cluster (and epoch) so that a node refuses traffic from another
// cluster, or from an older epoch after `operator recover` (DESIGN.md, Quorum loss).
//
// The codec checks the shape of a body (typebox); the helpers below also check what a schema
// cannot say (consecutive entries, well-formed configurations, from != to, ...), so the core
// only ever sees messages it could have produced itself. They never throw on bad input: every
// failure is a Result with a description naming the message and field at fault.

import { Type, type Static, type TProperties, type TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Packr } from 'msgpackr';
import { err, ok, type Result } from '../core/result.ts';
import type { ClusterConfig, Entry, Message, NodeId, SnapshotMeta, Term } from '../core/raft/types.ts';
import { describeDecodeError, type DecodeError, type EncodeError } from './codec.ts';
import { MAX_ID_CHARS } from './limits.ts';

// ---------------------------------------------------------------------------------------------
// Limits. The real ceiling of one message is the codec's maxMessageBytes (4 MiB by default,
// src/wire/messages.ts): it is checked before parsing, so it bounds what a peer can make us
// allocate. The limits here bound counts, so that no single field can be absurd even inside a
// message of legal size, and they sit above anything the core sends with its defaults
// (src/core/raft/options.ts), so a healthy cluster never trips them.

/** Messages in one raft.messages batch. A Ready holds at most maxInflightMsgs (256) appends to one peer, plus a few others. */
export const MAX_RAFT_BATCH_MESSAGES = 1024;
/**
 * Entries in one append. The core caps an append at maxAppendBytes (1 MiB) counting at least 24
 * bytes per entry (entryBytes in src/core/raft/log.ts): at most 43,690 entries.
 */
export const MAX_RAFT_APPEND_ENTRIES = 65_536;
/** Data of one entry: above the core's maxEntryBytes default (4 MiB); the codec limit binds first. */
export const MAX_RAFT_ENTRY_BYTES = 8 * 1024 * 1024;
/** Voters of one configuration: the voter set is 1, 3, 5 or 7, plus one while a voter is replaced (DESIGN.md, Autopilot). */
export const MAX_RAFT_VOTERS = 64;
/** Voters plus learners of one configuration (every node of a large cluster may be a learner). */
export const MAX_RAFT_CONFIG_MEMBERS = 1024;
/** Data of one snapshot chunk. The sender picks its chunk size (chunkBytes) up to this. */
export const MAX_RAFT_SNAPSHOT_CHUNK_BYTES = 1024 * 1024;
/** A snapshot-chunk-reply's error text; longer descriptions are cut on encode. */
export const MAX_RAFT_REPLY_ERROR_CHARS = 1024;

// ---------------------------------------------------------------------------------------------
// Schemas.

const strict = { additionalProperties: false } as const;
const Id = Type.String({ minLength: 1, maxLength: MAX_ID_CHARS });
/** Cluster identifier (cluster and epoch), compared as an opaque string. */
const ClusterId = Type.String({ minLength: 1, maxLength: MAX_ID_CHARS });
const Count = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

const ConfigSchema = Type.Object(
  {
    voters: Type.Array(Id, { minItems: 1, maxItems: MAX_RAFT_VOTERS }),
    learners: Type.Array(Id, { maxItems: MAX_RAFT_CONFIG_MEMBERS }),
  },
  strict,
);

const SnapshotMetaSchema = Type.Object({ index: Count, term: Count, config: ConfigSchema }, strict);

const EntrySchema = Type.Object(
  {
    term: Count,
    index: Count,
    type: Type.Union([Type.Literal('normal'), Type.Literal('config')]),
    data: Type.Uint8Array({ maxByteLength: MAX_RAFT_ENTRY_BYTES }),
    config: Type.Optional(ConfigSchema),
  },
  strict,
);

/** One core message: the common envelope (from, to, term) plus the variant's own fields. */
function variant<T extends string, P extends TProperties>(type: T, properties: P) {
  return Type.Object({ type: Type.Literal(type), from: Id, to: Id, term: Count, ...properties }, strict);
}

/** One schema per Message variant, keyed by its `type`; used to pinpoint errors inside the union. */
const MESSAGE_VARIANTS = {
  vote: variant('vote', { preVote: Type.Boolean(), lastLogIndex: Count, lastLogTerm: Count, transfer: Type.Boolean() }),
  'vote-response': variant('vote-response', { preVote: Type.Boolean(), granted: Type.Boolean() }),
  append: variant('append', {
    prevLogIndex: Count,
    prevLogTerm: Count,
    entries: Type.Array(EntrySchema, { maxItems: MAX_RAFT_APPEND_ENTRIES }),
    commit: Count,
  }),
  'append-response': variant('append-response', { success: Type.Boolean(), index: Count, hintIndex: Count, hintTerm: Count }),
  heartbeat: variant('heartbeat', { commit: Count, readRound: Count }),
  'heartbeat-response': variant('heartbeat-response', { readRound: Count }),
  snapshot: variant('snapshot', { snapshot: SnapshotMetaSchema }),
  'timeout-now': variant('timeout-now', {}),
  'read-index': variant('read-index', { requestId: Count }),
  'read-index-response': variant('read-index-response', { requestId: Count, index: Count }),
} as const;

const V = MESSAGE_VARIANTS;
const MessageSchema = Type.Union([
  V.vote,
  V['vote-response'],
  V.append,
  V['append-response'],
  V.heartbeat,
  V['heartbeat-response'],
  V.snapshot,
  V['timeout-now'],
  V['read-index'],
  V['read-index-response'],
]);

export const RaftMessages = {
  'raft.messages': Type.Object(
    { cluster: ClusterId, messages: Type.Array(MessageSchema, { minItems: 1, maxItems: MAX_RAFT_BATCH_MESSAGES }) },
    strict,
  ),
  'raft.snapshot-chunk': Type.Object(
    {
      cluster: ClusterId,
      from: Id,
      to: Id,
      /** The sender's term, handed to the core with the snapshot once it is complete. */
      term: Count,
      snapshot: SnapshotMetaSchema,
      totalBytes: Count,
      offset: Count,
      data: Type.Uint8Array({ maxByteLength: MAX_RAFT_SNAPSHOT_CHUNK_BYTES }),
      /** This chunk ends the file: offset + data.length === totalBytes. */
      done: Type.Boolean(),
    },
    strict,
  ),
  'raft.snapshot-chunk-reply': Type.Object(
    {
      /** Bytes the receiver has; the sender continues from here (resumable transfer). */
      nextOffset: Count,
      /** Set when the receiver refuses the transfer; the sender gives up and retries later. */
      error: Type.Optional(Type.String({ maxLength: MAX_RAFT_REPLY_ERROR_CHARS })),
    },
    strict,
  ),
} as const;

// The schemas must describe exactly the core's types (ids aside, which are branded after
// validation): a change to one that is not made to the other fails the type check here.
type Unbranded<T> = T extends NodeId
  ? string
  : T extends Uint8Array
    ? Uint8Array
    : T extends readonly (infer U)[]
      ? readonly Unbranded<U>[]
      : T extends object
        ? { readonly [K in keyof T]: Unbranded<T[K]> }
        : T;
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type WireMessageStatic = Unbranded<Static<typeof MessageSchema>>;
const schemasMatchCore: [Same<WireMessageStatic, Unbranded<Message>>, Same<Unbranded<Static<typeof SnapshotMetaSchema>>, Unbranded<SnapshotMeta>>] = [true, true];
void schemasMatchCore;

// ---------------------------------------------------------------------------------------------
// Typed values and helpers.

export interface RaftBatch {
  readonly cluster: string;
  readonly messages: Message[];
}

export interface SnapshotChunk {
  readonly cluster: string;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: Term;
  readonly snapshot: SnapshotMeta;
  readonly totalBytes: number;
  readonly offset: number;
  readonly data: Uint8Array;
  readonly done: boolean;
}

export interface SnapshotChunkReply {
  readonly nextOffset: number;
  readonly error?: string;
}

export type RaftWireMessage =
  | { readonly type: 'raft.messages'; readonly body: Static<(typeof RaftMessages)['raft.messages']> }
  | { readonly type: 'raft.snapshot-chunk'; readonly body: Static<(typeof RaftMessages)['raft.snapshot-chunk']> }
  | { readonly type: 'raft.snapshot-chunk-reply'; readonly body: Static<(typeof RaftMessages)['raft.snapshot-chunk-reply']> };

/**
 * What the helpers need of a codec: createWireCodec() (src/wire/messages.ts) fits, and so does a
 * MessageCodec over RaftMessages alone. The codec must register RaftMessages under their names.
 */
export interface RaftCodec {
  encode(message: RaftWireMessage): Result<Uint8Array, EncodeError>;
  decode(bytes: Uint8Array): Result<{ readonly type: string; readonly body: unknown }, DecodeError>;
}

type RaftType = RaftWireMessage['type'];
type BodyOf<T extends RaftType> = Extract<RaftWireMessage, { type: T }>['body'];

/**
 * Checks everything the codec will check on the other side (so what encodes also decodes) and
 * encodes. Core messages are readonly views of the same shapes the schema describes.
 */
export function encodeRaftBatch(codec: RaftCodec, cluster: string, messages: readonly Message[]): Result<Uint8Array, string> {
  const body = { cluster, messages } as unknown as BodyOf<'raft.messages'>;
  return encodeChecked(codec, 'raft.messages', body, () => checkBatch(cluster, messages));
}

export function decodeRaftBatch(codec: RaftCodec, bytes: Uint8Array): Result<RaftBatch, string> {
  const decoded = decodeAs(codec, 'raft.messages', bytes);
  if (!decoded.ok) return decoded;
  // Validated above: the ids are node ids of the right length, so they may wear the brand.
  const batch = decoded.value as unknown as RaftBatch;
  const problem = checkBatch(batch.cluster, batch.messages);
  if (problem !== undefined) return err(`invalid raft.messages: ${problem}`);
  return ok({ cluster: batch.cluster, messages: batch.messages.map(ownEntryData) });
}

/**
 * msgpack hands out binary fields as views into the received bytes. Entries live on in the log
 * until compaction, and a view would pin the whole message (up to the codec limit) for one small
 * entry, e.g. the only new entry of a resent batch; so each entry gets its own copy. Buffer.from
 * takes small copies from Node's 8 KiB pool: twice as fast here as a Uint8Array of its own per
 * entry (bench/raft-wire.bench.ts), pinning at most one pool slab.
 */
function ownEntryData(m: Message): Message {
  if (m.type !== 'append' || m.entries.length === 0) return m;
  return { ...m, entries: m.entries.map((e) => ({ ...e, data: Buffer.from(e.data) })) };
}

export function encodeSnapshotChunk(codec: RaftCodec, chunk: SnapshotChunk): Result<Uint8Array, string> {
  const body = chunk as unknown as BodyOf<'raft.snapshot-chunk'>;
  return encodeChecked(codec, 'raft.snapshot-chunk', body, () => checkSnapshotChunk(chunk));
}

export function decodeSnapshotChunk(codec: RaftCodec, bytes: Uint8Array): Result<SnapshotChunk, string> {
  const decoded = decodeAs(codec, 'raft.snapshot-chunk', bytes);
  if (!decoded.ok) return decoded;
  const chunk = decoded.value as unknown as SnapshotChunk;
  const problem = checkSnapshotChunk(chunk);
  return problem === undefined ? ok(chunk) : err(`invalid raft.snapshot-chunk: ${problem}`);
}

/** Error texts longer than MAX_RAFT_REPLY_ERROR_CHARS are cut (they are for logs, not logic). */
export function encodeSnapshotChunkReply(codec: RaftCodec, reply: SnapshotChunkReply): Result<Uint8Array, string> {
  const body: BodyOf<'raft.snapshot-chunk-reply'> =
    reply.error === undefined ? { nextOffset: reply.nextOffset } : { nextOffset: reply.nextOffset, error: cut(reply.error, MAX_RAFT_REPLY_ERROR_CHARS) };
  return encodeChecked(codec, 'raft.snapshot-chunk-reply', body, () => undefined);
}

export function decodeSnapshotChunkReply(codec: RaftCodec, bytes: Uint8Array): Result<SnapshotChunkReply, string> {
  return decodeAs(codec, 'raft.snapshot-chunk-reply', bytes);
}

// ---------------------------------------------------------------------------------------------
// Semantic checks: what the schemas cannot express. Each returns a description naming the
// message and field at fault, or undefined when the value is fine.

/** A batch: one sender, one receiver, every message well-formed. */
export function checkBatch(cluster: string, messages: readonly Message[]): string | undefined {
  if (cluster.length === 0) return 'cluster is empty';
  const first = messages[0];
  if (first === undefined) return 'messages is empty';
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    const at = `messages[${i}] (${m.type})`;
    // One connection carries one sender's messages to one receiver: a mix means a confused peer.
    if (m.from !== first.from) return `${at}: from is ${q(m.from)} but messages[0].from is ${q(first.from)}; a batch has one sender`;
    if (m.to !== first.to) return `${at}: to is ${q(m.to)} but messages[0].to is ${q(first.to)}; a batch has one receiver`;
    const problem = checkMessage(m);
    if (problem !== undefined) return `${at}: ${problem}`;
  }
  return undefined;
}

/**
 * One core message. Only invariants the core itself always keeps are checked (Raft paper,
 * Figure 2 and 5.3): a peer breaking one is buggy or hostile, and its message is dropped.
 */
export function checkMessage(m: Message): string | undefined {
  if (m.from === m.to) return `from and to are both ${q(m.from)}`;
  switch (m.type) {
    case 'vote':
      // The last log entry is never from a later term than the one campaigned for.
      if (m.lastLogTerm > m.term) return `lastLogTerm ${m.lastLogTerm} is above term ${m.term}`;
      if (m.lastLogIndex === 0 && m.lastLogTerm !== 0) return `lastLogTerm is ${m.lastLogTerm} for an empty log (lastLogIndex 0)`;
      // A transfer (TimeoutNow) skips pre-vote (thesis 3.10).
      if (m.preVote && m.transfer) return 'preVote and transfer are both set; a transfer skips the pre-vote';
      return undefined;
    case 'append':
      return checkAppend(m.term, m.prevLogIndex, m.prevLogTerm, m.entries);
    case 'append-response':
      if (m.hintTerm > m.term) return `hintTerm ${m.hintTerm} is above term ${m.term}`;
      // A rejection's hint points at or before the rejected prevLogIndex (fast backtracking, 5.3).
      if (!m.success && m.hintIndex > m.index) return `hintIndex ${m.hintIndex} is above the rejected index ${m.index}`;
      return undefined;
    case 'snapshot':
      return checkSnapshotMeta('snapshot', m.snapshot, m.term);
    case 'vote-response':
    case 'heartbeat':
    case 'heartbeat-response':
    case 'timeout-now':
    case 'read-index':
    case 'read-index-response':
      return undefined;
  }
}

function checkAppend(term: Term, prevLogIndex: number, prevLogTerm: Term, entries: readonly Entry[]): string | undefined {
  if (prevLogTerm > term) return `prevLogTerm ${prevLogTerm} is above term ${term}`;
  if (prevLogIndex === 0 && prevLogTerm !== 0) return `prevLogTerm is ${prevLogTerm} at prevLogIndex 0 (before the first entry)`;
  if (prevLogIndex + entries.length > Number.MAX_SAFE_INTEGER) return `prevLogIndex ${prevLogIndex} leaves no room for ${entries.length} entries`;
  // Entries follow prevLogIndex without gaps, and terms never decrease along a log (5.3).
  let previousTerm = prevLogTerm;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    const at = `entries[${i}]`;
    const expected = prevLogIndex + 1 + i;
    if (e.index !== expected) return `${at}.index is ${e.index} but must be ${expected} (consecutive from prevLogIndex ${prevLogIndex} + 1)`;
    if (e.term < previousTerm) return `${at}.term ${e.term} is below ${i === 0 ? `prevLogTerm ${prevLogTerm}` : `entries[${i - 1}].term ${previousTerm}`}; terms never decrease along a log`;
    if (e.term > term) return `${at}.term ${e.term} is above the leader's term ${term}`;
    if (e.term === 0) return `${at}.term is 0; every entry has a term of at least 1`;
    previousTerm = e.term;
    const problem = checkEntry(e);
    if (problem !== undefined) return `${at}.${problem}`;
  }
  return undefined;
}

/** Config entries carry a configuration and no data; normal entries no configuration. */
function checkEntry(e: Entry): string | undefined {
  if (e.type === 'normal') return e.config === undefined ? undefined : 'config is set on a normal entry';
  if (e.config === undefined) return 'config is missing on a config entry';
  if (e.data.length > 0) return `data holds ${e.data.length} bytes on a config entry (its configuration is in config)`;
  const problem = checkConfig(e.config);
  return problem === undefined ? undefined : `config.${problem}`;
}

function checkSnapshotMeta(field: string, s: SnapshotMeta, term: Term): string | undefined {
  if (s.index === 0) return `${field}.index is 0; a snapshot covers at least one entry`;
  if (s.term === 0) return `${field}.term is 0; every entry has a term of at least 1`;
  if (s.term > term) return `${field}.term ${s.term} is above the sender's term ${term}`;
  const problem = checkConfig(s.config);
  return problem === undefined ? undefined : `${field}.config.${problem}`;
}

/** No id twice, voters and learners disjoint, at least one voter, bounded size (thesis 4.1). */
export function checkConfig(c: ClusterConfig): string | undefined {
  if (c.voters.length === 0) return 'voters is empty; a configuration has at least one voter';
  if (c.voters.length > MAX_RAFT_VOTERS) return `voters has ${c.voters.length} ids, more than ${MAX_RAFT_VOTERS}`;
  if (c.voters.length + c.learners.length > MAX_RAFT_CONFIG_MEMBERS) {
    return `voters and learners have ${c.voters.length + c.learners.length} ids together, more than ${MAX_RAFT_CONFIG_MEMBERS}`;
  }
  const voters = new Set<string>();
  for (let i = 0; i < c.voters.length; i++) {
    const id = c.voters[i]!;
    if (voters.has(id)) return `voters[${i}] repeats ${q(id)}`;
    voters.add(id);
  }
  const learners = new Set<string>();
  for (let i = 0; i < c.learners.length; i++) {
    const id = c.learners[i]!;
    if (voters.has(id)) return `learners[${i}] ${q(id)} is also a voter; voters and learners are disjoint`;
    if (learners.has(id)) return `learners[${i}] repeats ${q(id)}`;
    learners.add(id);
  }
  return undefined;
}

export function checkSnapshotChunk(c: SnapshotChunk): string | undefined {
  if (c.cluster.length === 0) return 'cluster is empty';
  if (c.from === c.to) return `from and to are both ${q(c.from)}`;
  const end = c.offset + c.data.length;
  if (end > c.totalBytes) return `offset ${c.offset} + data ${c.data.length} bytes runs past totalBytes ${c.totalBytes}`;
  if (c.done && end !== c.totalBytes) return `done is set but offset ${c.offset} + data ${c.data.length} bytes ends before totalBytes ${c.totalBytes}`;
  if (!c.done && end === c.totalBytes) return `done is not set but offset ${c.offset} + data ${c.data.length} bytes reaches totalBytes ${c.totalBytes}`;
  return checkSnapshotMeta('snapshot', c.snapshot, c.term);
}

// ---------------------------------------------------------------------------------------------
// Plumbing.

const BODY_CHECKS = {
  'raft.messages': TypeCompiler.Compile(RaftMessages['raft.messages']),
  'raft.snapshot-chunk': TypeCompiler.Compile(RaftMessages['raft.snapshot-chunk']),
  'raft.snapshot-chunk-reply': TypeCompiler.Compile(RaftMessages['raft.snapshot-chunk-reply']),
} as const;

const VARIANT_CHECKS = new Map<string, ReturnType<typeof TypeCompiler.Compile<TSchema>>>(
  Object.entries(MESSAGE_VARIANTS).map(([type, schema]) => [type, TypeCompiler.Compile<TSchema>(schema)]),
);

function encodeChecked<T extends RaftType>(codec: RaftCodec, type: T, body: BodyOf<T>, semantic: () => string | undefined): Result<Uint8Array, string> {
  if (!BODY_CHECKS[type].Check(body)) return err(`cannot encode ${type}: ${describeShapeError(type, body)}`);
  const problem = semantic();
  if (problem !== undefined) return err(`cannot encode ${type}: ${problem}`);
  const encoded = codec.encode({ type, body } as RaftWireMessage);
  if (!encoded.ok) return err(`cannot encode ${type}: ${encoded.error.sizeBytes} bytes exceed the limit of ${encoded.error.maxBytes} bytes`);
  return ok(encoded.value);
}

function decodeAs<T extends RaftType>(codec: RaftCodec, type: T, bytes: Uint8Array): Result<BodyOf<T>, string> {
  const decoded = codec.decode(bytes);
  if (!decoded.ok) {
    const e = decoded.error;
    // The codec reports only "Expected union value" for a bad message inside a batch: look again,
    // with the schema of the variant the message claims to be, to name the field at fault.
    if (e.code === 'invalid-body' && e.type === type) return err(`invalid ${type}: ${describeShapeError(type, rawBody(bytes))}`);
    return err(describeDecodeError(e));
  }
  if (decoded.value.type !== type) return err(`expected a ${type} message but got ${q(decoded.value.type)}`);
  return ok(decoded.value.body as BodyOf<T>);
}

/**
 * The body of an envelope, parsed again only to explain a schema failure (rare, never on the
 * happy path). Same decoder settings as MessageCodec: plain data only.
 */
function rawBody(bytes: Uint8Array): unknown {
  try {
    const value: unknown = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false, int64AsType: 'number' }).unpack(bytes);
    return Array.isArray(value) ? value[2] : undefined;
  } catch {
    return undefined;
  }
}

/** The first schema error of body, descending into the variant a batch's message claims to be. */
function describeShapeError(type: RaftType, body: unknown): string {
  const first = BODY_CHECKS[type].Errors(body).First();
  if (first === undefined) return 'does not match its schema';
  const inBatch = /^\/messages\/(\d+)/.exec(first.path);
  if (type === 'raft.messages' && inBatch !== null && first.path === inBatch[0]) {
    const i = Number(inBatch[1]);
    const m = (body as { messages: unknown[] }).messages[i];
    const at = `messages[${i}]`;
    if (m === null || typeof m !== 'object') return `${at} is not an object`;
    const claimed = (m as Record<string, unknown>).type;
    const check = typeof claimed === 'string' ? VARIANT_CHECKS.get(claimed) : undefined;
    if (check === undefined) return `${at}.type is ${describeValue(claimed)}, not one of ${[...VARIANT_CHECKS.keys()].join(', ')}`;
    const inner = check.Errors(m).First();
    if (inner !== undefined) return `${at} (${String(claimed)}) at ${inner.path || '/'}: ${inner.message}`;
  }
  return `at ${first.path || '/'}: ${first.message}`;
}

function describeValue(v: unknown): string {
  return typeof v === 'string' ? q(v) : v === undefined ? 'missing' : typeof v;
}

/** Quoted and cut, since ids in descriptions may come from a hostile peer. */
function q(s: string): string {
  return JSON.stringify(cut(s, MAX_ID_CHARS));
}

function cut(s: string, maxChars: number): string {
  return s.length <= maxChars ? s : `${s.slice(0, maxChars - 1)}…`;
}
