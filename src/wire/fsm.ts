// Wire schemas of the replicated state machine (src/core/fsm/types.ts):
//   fsm.command   one Command, as it is written into a Raft log entry and forwarded to the leader;
//   fsm.result    the ApplyResult the leader sends back to a follower that forwarded a write;
//   fsm.snapshot  the whole state (FsmSnapshot), as the Raft snapshot's data.
//
// Commands live for a long time (in logs and, through their effects, in snapshots), so their
// encoding is versioned by the codec envelope: FSM_MIN_VERSION names the oldest format a node
// still decodes. Every node must decode the same bytes the same way, or state machines diverge;
// so a change to these schemas ships to every node before any proposer uses it.
//
// Snapshots get a codec of their own (createFsmSnapshotCodec): a management database with many
// keys outgrows the 4 MiB ceiling of a peer message by far, and a snapshot never travels as one
// message anyway (Raft sends its bytes in chunks, src/wire/raft.ts raft.snapshot-chunk). It keeps
// the same envelope, version rules and schema check as every other message, under a limit of its
// own (1 GiB by default, below msgpackr's 4 GiB buffer ceiling).
//
// The helpers never throw on bad input: every failure is a Result whose text names the field at
// fault (`key`, `kv.entries[3].value`, ...). Decoded binary values are copied out of the input,
// which would otherwise stay pinned in memory (a whole snapshot) by one small value.

import { Kind, Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import { Packr } from 'msgpackr';
import { verifyChain, type EventAnchor } from '../core/fsm/events.ts';
import type { FsmSnapshot } from '../core/fsm/fsm.ts';
import { MAX_GOSSIP_KEYS } from '../core/fsm/security.ts';
import { MAX_JOB_HISTORY, MAX_JOBS } from '../core/fsm/jobs.ts';
import { MAX_ALLOCS, MAX_CHECK_OUTPUT_CHARS, MAX_CHECKS_PER_ALLOC, MAX_PLAN_ITEMS, MAX_TERMINAL_PER_JOB, allocTableProblem } from '../core/fsm/allocs.ts';
import type { JobSpec } from '../core/scheduler/job.ts';
import { MAX_RESTORE_BYTES, MAX_RESTORE_CHUNK_BYTES, MAX_RESTORE_CHUNKS, stagedBytes } from '../core/fsm/restore.ts';
import type { ApplyResult, Command, KvChange, KvEntry, NodeId } from '../core/fsm/types.ts';
import { err, ok, type Result } from '../core/result.ts';
import { MessageCodec, PROTOCOL_VERSION, describeDecodeError, type DecodeError, type EncodeError } from './codec.ts';
import { MAX_ADDRESS_CHARS, MAX_ID_CHARS } from './limits.ts';
import { JOB_NAME_PATTERN, JobSpecSchema, PORT_LABEL_PATTERN } from './job.ts';

// ---------------------------------------------------------------------------------------------
// Limits.

/** A KV key: 1..1024 UTF-16 units, no NUL, no unpaired surrogate (etcd allows 1.5 MiB; keys here name things). */
export const MAX_FSM_KEY_CHARS = 1024;
/** A KV value (etcd's default request limit is 1.5 MiB; configuration data is far smaller). */
export const MAX_FSM_VALUE_BYTES = 1024 * 1024;
/** Session ids and owners. Node ids keep the cluster-wide MAX_ID_CHARS (128) of gossip and Raft. */
export const MAX_FSM_ID_CHARS = 256;
/** Longest session TTL: one day. Longer-lived state is a plain key, not a lease. */
export const MAX_FSM_TTL_MS = 86_400_000;
/**
 * Latest command time: the last millisecond of year 9999. Far beyond any real clock, yet low
 * enough that every time the state machine derives from it (expiresAtMs = now + ttl) stays a
 * safe integer, so a snapshot holding it always encodes.
 */
export const MAX_FSM_AT_MS = 253_402_300_799_999;
/** Node tags: as many and as long as gossip carries (src/wire/swim.ts NodeMeta.tags). */
export const MAX_FSM_TAGS = 64;
export const MAX_FSM_TAG_KEY_CHARS = 63;
export const MAX_FSM_TAG_VALUE_CHARS = 256;
/** A note's kind becomes an event type. */
export const MAX_FSM_NOTE_KIND_CHARS = 64;
/** A note's subject, like a key. */
export const MAX_FSM_SUBJECT_CHARS = MAX_FSM_KEY_CHARS;
/** A note's message. */
export const MAX_FSM_MESSAGE_CHARS = 4096;
/** Why a node was removed; why a command was invalid (results cut longer texts, see encodeApplyResult). */
export const MAX_FSM_REASON_CHARS = 1024;
/**
 * One event detail value. The longest the state machine writes is a node's tags joined
 * (64 x (63 + 1 + 256) + 63 = 20,543 chars); the bound leaves room.
 */
export const MAX_FSM_EVENT_DETAIL_CHARS = 32 * 1024;
/** Detail entries per event (the state machine writes at most 5). */
export const MAX_FSM_EVENT_DETAIL_KEYS = 32;
/** Hex sha256: 64 characters ('' for "none"). */
const HASH_CHARS = 64;
/**
 * Items in each list of a snapshot (keys, history, sessions, nodes, events). Every item encodes
 * to more than 32 bytes, so the snapshot's byte limit binds long before this count does; the
 * count only keeps a schema from accepting an absurd length.
 */
export const MAX_FSM_SNAPSHOT_ITEMS = 2 ** 25;
/** One encoded command or result: the largest command (1 MiB value, 1024-char key in UTF-8, ids) fits with room. */
export const MAX_FSM_COMMAND_BYTES = 2 * 1024 * 1024;
/** One encoded snapshot, by default. */
export const MAX_FSM_SNAPSHOT_BYTES = 1024 * 1024 * 1024;
/**
 * The oldest envelope version of fsm.* data this build still decodes. Logs and snapshots outlive
 * upgrades: raise it only once no log entry or snapshot of an older version can remain.
 */
export const FSM_MIN_VERSION = 1;

// ---------------------------------------------------------------------------------------------
// Schemas.

const strict = { additionalProperties: false } as const;
const Count = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
const Positive = Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER });

// Well-formed UTF-16 without NUL: such a string survives UTF-8 (msgpack) unchanged, so a key
// reads back exactly as it was written, and it can name a file or a C string without surprise.
const NAME_PATTERN = '^(?:[^\\x00\\uD800-\\uDFFF]|[\\uD800-\\uDBFF][\\uDC00-\\uDFFF])*$';
const NAME_RULE = 'a string without NUL characters or unpaired surrogates';

function name(maxLength: number, minLength = 1) {
  return Type.String({ minLength, maxLength, pattern: NAME_PATTERN, description: NAME_RULE });
}

const Key = name(MAX_FSM_KEY_CHARS);
const Value_ = Type.Uint8Array({ maxByteLength: MAX_FSM_VALUE_BYTES });
const SessionId = name(MAX_FSM_ID_CHARS);
const NodeIdSchema = name(MAX_ID_CHARS);
const Owner = Type.String({ maxLength: MAX_FSM_ID_CHARS });
const AtMs = Type.Integer({ minimum: 0, maximum: MAX_FSM_AT_MS });
const TtlMs = Type.Integer({ minimum: 1, maximum: MAX_FSM_TTL_MS });
const Addr = Type.String({ maxLength: MAX_ADDRESS_CHARS });
// Tag keys follow the agent's configuration rule (src/agent/config.ts), which also keeps out
// keys like "__proto__" that a decoded object could not hold as data.
const Tags = Type.Record(
  Type.String({ pattern: `^[A-Za-z0-9][A-Za-z0-9._/-]{0,${MAX_FSM_TAG_KEY_CHARS - 1}}$` }),
  Type.String({ maxLength: MAX_FSM_TAG_VALUE_CHARS }),
  { maxProperties: MAX_FSM_TAGS, ...strict },
);

// Security settings (src/core/fsm/security.ts): PEM text, a hex digest and base64 keys.
const Pem = Type.String({ minLength: 1, maxLength: 16 * 1024 });
const GossipKey = Type.String({ pattern: '^[A-Za-z0-9+/]{43}=$', description: 'a base64 AES-256 key' });
const SecurityFields = {
  caCertPem: Pem,
  caKeyPem: Pem,
  managementTokenSha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
  gossipKeys: Type.Array(GossipKey, { minItems: 1, maxItems: MAX_GOSSIP_KEYS }),
  gossipPrimary: GossipKey,
};

// Restores staged in chunks (src/core/fsm/restore.ts).
const RestoreId = name(MAX_FSM_ID_CHARS);
const RestoreBytes = Type.Integer({ minimum: 1, maximum: MAX_RESTORE_BYTES });
const Sha256Hex = Type.String({ pattern: '^[0-9a-f]{64}$', description: '64 lowercase hex digits' });
const RestoreChunkData = Type.Uint8Array({ minByteLength: 1, maxByteLength: MAX_RESTORE_CHUNK_BYTES });
const RestoreStagingSchema = Type.Object(
  { id: RestoreId, totalBytes: RestoreBytes, sha256: Sha256Hex, startedAtMs: Count, chunks: Type.Array(RestoreChunkData, { maxItems: MAX_RESTORE_CHUNKS }) },
  strict,
);

// Jobs (src/core/fsm/jobs.ts): specs as admitted by src/wire/job.ts. A snapshot holds at most
// MAX_JOBS jobs of 1 + MAX_JOB_HISTORY versions each.
const JobName = Type.String({ pattern: JOB_NAME_PATTERN });
const JobVersionSchema = Type.Object({ version: Positive, spec: JobSpecSchema, submittedAtMs: Count }, strict);
const JobRecordSchema = Type.Object(
  {
    spec: JobSpecSchema,
    version: Positive,
    status: Type.Union([Type.Literal('running'), Type.Literal('stopped')]),
    submittedAtMs: Count,
    updatedAtMs: Count,
    history: Type.Array(JobVersionSchema, { maxItems: MAX_JOB_HISTORY }),
  },
  strict,
);

// Allocations (src/core/fsm/allocs.ts): placed by the leader's reconciler, reported on by their nodes.
const AllocId = Type.String({ pattern: '^[0-9a-f]{8,64}$', description: 'lowercase hex' });
const Reason = Type.String({ maxLength: MAX_FSM_REASON_CHARS });
const OptionalOf = <T extends TSchema>(schema: T) => Type.Optional(Type.Union([schema, Type.Undefined()]));
const AllocPorts = Type.Record(Type.String({ pattern: PORT_LABEL_PATTERN }), Type.Integer({ minimum: 1, maximum: 65535 }), { maxProperties: 64, ...strict });
const ClientStatus = Type.Union([Type.Literal('pending'), Type.Literal('running'), Type.Literal('complete'), Type.Literal('failed'), Type.Literal('lost')]);
const ReportedClientStatus = Type.Union([Type.Literal('pending'), Type.Literal('running'), Type.Literal('complete'), Type.Literal('failed')]);
const AllocHealthSchema = Type.Union([Type.Literal('unknown'), Type.Literal('healthy'), Type.Literal('unhealthy')]);
const AllocChecks = Type.Array(
  Type.Object(
    { name: Type.String({ minLength: 1, maxLength: 64 }), status: Type.Union([Type.Literal('passing'), Type.Literal('warning'), Type.Literal('critical')]), output: Type.String({ maxLength: MAX_CHECK_OUTPUT_CHARS }) },
    strict,
  ),
  { maxItems: MAX_CHECKS_PER_ALLOC },
);
const Sha256Name = Type.String({ pattern: '^[0-9a-f]{64}$' });
const Resources_ = { cpuMillis: Count, memoryMB: Count, ports: AllocPorts };
const AllocPlacementSchema = Type.Object(
  { id: AllocId, job: Type.String({ pattern: JOB_NAME_PATTERN }), jobVersion: Positive, taskSha256: Sha256Name, index: Count, node: NodeIdSchema, ...Resources_, reason: Reason, replaces: OptionalOf(AllocId), reschedules: Count },
  strict,
);
const AllocationSchema = Type.Object(
  {
    id: AllocId,
    job: Type.String({ pattern: JOB_NAME_PATTERN }),
    jobVersion: Positive,
    taskSha256: Sha256Name,
    index: Count,
    node: NodeIdSchema,
    ...Resources_,
    desired: Type.Union([Type.Literal('run'), Type.Literal('stop')]),
    desiredReason: Reason,
    client: ClientStatus,
    clientDetail: Reason,
    health: AllocHealthSchema,
    healthySinceMs: OptionalOf(Count),
    checks: AllocChecks,
    restarts: Count,
    replaces: OptionalOf(AllocId),
    reschedules: Count,
    createdAtMs: Count,
    modifiedAtMs: Count,
  },
  strict,
);
const DeploymentStatusSchema = Type.Union([Type.Literal('running'), Type.Literal('successful'), Type.Literal('failed')]);
const DeploymentChangeSchema = Type.Object({ job: Type.String({ pattern: JOB_NAME_PATTERN }), version: Positive, status: DeploymentStatusSchema, reason: Reason }, strict);
const DeploymentSchema = Type.Object(
  { job: Type.String({ pattern: JOB_NAME_PATTERN }), version: Positive, status: DeploymentStatusSchema, reason: Reason, startedAtMs: Count, updatedAtMs: Count },
  strict,
);

/** One schema per Command variant, keyed by its `type`. */
const COMMAND_VARIANTS = {
  'kv.put': Type.Object(
    {
      type: Type.Literal('kv.put'),
      atMs: AtMs,
      key: Key,
      value: Value_,
      ifModRevision: Type.Optional(Count),
      session: Type.Optional(SessionId),
    },
    strict,
  ),
  'kv.delete': Type.Object({ type: Type.Literal('kv.delete'), atMs: AtMs, key: Key, ifModRevision: Type.Optional(Count) }, strict),
  'session.create': Type.Object({ type: Type.Literal('session.create'), atMs: AtMs, id: SessionId, ttlMs: TtlMs, owner: Owner }, strict),
  'session.keepalive': Type.Object({ type: Type.Literal('session.keepalive'), atMs: AtMs, id: SessionId }, strict),
  'session.destroy': Type.Object(
    { type: Type.Literal('session.destroy'), atMs: AtMs, id: SessionId, reason: Type.Union([Type.Literal('released'), Type.Literal('expired')]) },
    strict,
  ),
  'node.upsert': Type.Object({ type: Type.Literal('node.upsert'), atMs: AtMs, id: NodeIdSchema, rpcAddr: Addr, httpAddr: Addr, tags: Tags }, strict),
  'node.remove': Type.Object({ type: Type.Literal('node.remove'), atMs: AtMs, id: NodeIdSchema, reason: Type.String({ maxLength: MAX_FSM_REASON_CHARS }) }, strict),
  note: Type.Object(
    {
      type: Type.Literal('note'),
      atMs: AtMs,
      kind: name(MAX_FSM_NOTE_KIND_CHARS),
      subject: Type.String({ maxLength: MAX_FSM_SUBJECT_CHARS }),
      message: Type.String({ maxLength: MAX_FSM_MESSAGE_CHARS }),
    },
    strict,
  ),
  'security.init': Type.Object({ type: Type.Literal('security.init'), atMs: AtMs, ...SecurityFields }, strict),
  'security.keyring': Type.Object(
    { type: Type.Literal('security.keyring'), atMs: AtMs, op: Type.Union([Type.Literal('install'), Type.Literal('use'), Type.Literal('remove')]), key: GossipKey },
    strict,
  ),
  'restore.begin': Type.Object({ type: Type.Literal('restore.begin'), atMs: AtMs, id: RestoreId, totalBytes: RestoreBytes, sha256: Sha256Hex }, strict),
  'restore.chunk': Type.Object(
    { type: Type.Literal('restore.chunk'), atMs: AtMs, id: RestoreId, seq: Type.Integer({ minimum: 0, maximum: MAX_RESTORE_CHUNKS - 1 }), data: RestoreChunkData },
    strict,
  ),
  'restore.commit': Type.Object({ type: Type.Literal('restore.commit'), atMs: AtMs, id: RestoreId }, strict),
  'restore.abort': Type.Object({ type: Type.Literal('restore.abort'), atMs: AtMs, id: RestoreId }, strict),
  'job.register': Type.Object({ type: Type.Literal('job.register'), atMs: AtMs, spec: JobSpecSchema }, strict),
  'job.deregister': Type.Object({ type: Type.Literal('job.deregister'), atMs: AtMs, job: JobName, purge: Type.Optional(Type.Boolean()) }, strict),
  'alloc.plan': Type.Object(
    {
      type: Type.Literal('alloc.plan'),
      atMs: AtMs,
      basis: Count,
      place: Type.Array(AllocPlacementSchema, { maxItems: MAX_PLAN_ITEMS }),
      stop: Type.Array(Type.Object({ id: AllocId, reason: Reason, lost: OptionalOf(Type.Boolean()) }, strict), { maxItems: MAX_PLAN_ITEMS }),
      deployments: Type.Array(DeploymentChangeSchema, { maxItems: MAX_PLAN_ITEMS }),
      notes: Type.Array(
        Type.Object({ kind: name(MAX_FSM_NOTE_KIND_CHARS), subject: Type.String({ maxLength: MAX_FSM_SUBJECT_CHARS }), message: Type.String({ maxLength: MAX_FSM_MESSAGE_CHARS }) }, strict),
        { maxItems: MAX_PLAN_ITEMS },
      ),
    },
    strict,
  ),
  'alloc.update': Type.Object(
    {
      type: Type.Literal('alloc.update'),
      atMs: AtMs,
      node: NodeIdSchema,
      updates: Type.Array(
        Type.Object(
          { id: AllocId, client: OptionalOf(ReportedClientStatus), clientDetail: OptionalOf(Reason), health: OptionalOf(AllocHealthSchema), checks: OptionalOf(AllocChecks), restarts: OptionalOf(Count) },
          strict,
        ),
        { maxItems: MAX_PLAN_ITEMS },
      ),
    },
    strict,
  ),
} as const;

const C = COMMAND_VARIANTS;
export const CommandSchema = Type.Union([
  C['kv.put'],
  C['kv.delete'],
  C['session.create'],
  C['session.keepalive'],
  C['session.destroy'],
  C['node.upsert'],
  C['node.remove'],
  C.note,
  C['security.init'],
  C['security.keyring'],
  C['restore.begin'],
  C['restore.chunk'],
  C['restore.commit'],
  C['restore.abort'],
  C['job.register'],
  C['job.deregister'],
  C['alloc.plan'],
  C['alloc.update'],
]);

const Subject = Type.String({ maxLength: MAX_FSM_SUBJECT_CHARS });
export const ApplyResultSchema = Type.Union([
  Type.Object({ ok: Type.Literal(true), revision: Count, event: Count }, strict),
  Type.Object({ ok: Type.Literal(false), code: Type.Literal('cas-mismatch'), modRevision: Count }, strict),
  Type.Object({ ok: Type.Literal(false), code: Type.Literal('no-session'), session: Type.String({ maxLength: MAX_FSM_ID_CHARS }) }, strict),
  Type.Object({ ok: Type.Literal(false), code: Type.Literal('not-found'), subject: Subject }, strict),
  Type.Object({ ok: Type.Literal(false), code: Type.Literal('exists'), subject: Subject }, strict),
  Type.Object({ ok: Type.Literal(false), code: Type.Literal('not-expired'), subject: Subject }, strict),
  Type.Object({ ok: Type.Literal(false), code: Type.Literal('invalid'), reason: Type.String({ maxLength: MAX_FSM_REASON_CHARS }) }, strict),
]);

// KvEntry.session is `string | undefined`: msgpack carries undefined, and an Optional schema
// accepts the property present and undefined, so entries encode as they are.
const KvEntrySchema = Type.Object(
  { key: Key, value: Value_, createRevision: Positive, modRevision: Positive, version: Positive, session: Type.Optional(SessionId) },
  strict,
);

// KvChange.entry is undefined for a delete; on the wire a delete simply has no entry.
const KvChangeSchema = Type.Union([
  Type.Object({ revision: Positive, type: Type.Literal('put'), key: Key, entry: KvEntrySchema }, strict),
  Type.Object({ revision: Positive, type: Type.Literal('delete'), key: Key }, strict),
]);

const SessionSchema = Type.Object({ id: SessionId, owner: Owner, ttlMs: Positive, expiresAtMs: Count, createdAtMs: Count }, strict);

const NodeRecordSchema = Type.Object(
  { id: NodeIdSchema, rpcAddr: Addr, httpAddr: Addr, tags: Tags, firstSeenAtMs: Count, updatedAtMs: Count },
  strict,
);

const Hash = Type.String({ maxLength: HASH_CHARS });
const EventSchema = Type.Object(
  {
    seq: Positive,
    index: Count,
    atMs: Count,
    type: Type.String({ minLength: 1, maxLength: MAX_FSM_NOTE_KIND_CHARS }),
    subject: Subject,
    detail: Type.Record(
      Type.String({ pattern: '^[^\\x00]{1,64}$' }),
      Type.Union([Type.String({ maxLength: MAX_FSM_EVENT_DETAIL_CHARS }), Type.Number()]),
      { maxProperties: MAX_FSM_EVENT_DETAIL_KEYS, ...strict },
    ),
    prevHash: Hash,
    hash: Hash,
  },
  strict,
);

const Items = { maxItems: MAX_FSM_SNAPSHOT_ITEMS } as const;
export const FsmSnapshotSchema = Type.Object(
  {
    appliedIndex: Count,
    nowMs: Count,
    kv: Type.Object({ revision: Count, entries: Type.Array(KvEntrySchema, Items), history: Type.Array(KvChangeSchema, Items) }, strict),
    sessions: Type.Array(SessionSchema, Items),
    nodes: Type.Array(NodeRecordSchema, Items),
    events: Type.Object({ anchor: Type.Object({ seq: Count, hash: Hash }, strict), kept: Type.Array(EventSchema, Items) }, strict),
    security: Type.Optional(Type.Object(SecurityFields, strict)),
    restoreStaging: Type.Optional(RestoreStagingSchema),
    jobs: Type.Optional(Type.Array(JobRecordSchema, { maxItems: MAX_JOBS })),
    allocs: Type.Optional(
      Type.Object(
        {
          planSeq: Count,
          // Live ones plus the terminal ones kept per job.
          allocs: Type.Array(AllocationSchema, { maxItems: MAX_ALLOCS + MAX_JOBS * MAX_TERMINAL_PER_JOB }),
          deployments: Type.Array(DeploymentSchema, { maxItems: MAX_JOBS }),
        },
        strict,
      ),
    ),
  },
  strict,
);

/** Commands and results: registered with every other message (src/wire/messages.ts). */
export const FsmCommandMessages = {
  'fsm.command': CommandSchema,
  'fsm.result': ApplyResultSchema,
} as const;

/** The snapshot: registered too (so the codec property test covers it), but encoded by its own codec. */
export const FsmSnapshotMessages = {
  'fsm.snapshot': FsmSnapshotSchema,
} as const;

export const FsmMessages = { ...FsmCommandMessages, ...FsmSnapshotMessages } as const;

// The command and result schemas must describe exactly the core's types (node ids aside, which
// are branded after validation): a change to one that is not made to the other fails here.
// Job specs: the wire's config values are narrower than the core's `unknown`, and every wire
// spec is a JobSpec (src/wire/job.ts proves it), so both sides compare as JobSpec.
type Unbranded<T> = T extends JobSpec
  ? JobSpec
  : T extends NodeId
  ? string
  : T extends Uint8Array
    ? Uint8Array
    : T extends object
      ? { readonly [K in keyof T]: Unbranded<T[K]> }
      : T;
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const schemasMatchCore: [Same<Unbranded<Static<typeof CommandSchema>>, Unbranded<Command>>, Same<Unbranded<Static<typeof ApplyResultSchema>>, Unbranded<ApplyResult>>] = [
  true,
  true,
];
void schemasMatchCore;

// ---------------------------------------------------------------------------------------------
// Codecs.

type CommandWire = { readonly type: 'fsm.command'; readonly body: Static<typeof CommandSchema> };
type ResultWire = { readonly type: 'fsm.result'; readonly body: Static<typeof ApplyResultSchema> };
type SnapshotWire = { readonly type: 'fsm.snapshot'; readonly body: Static<typeof FsmSnapshotSchema> };

/**
 * What the command and result helpers need of a codec: createFsmCodec() fits, and so does
 * createWireCodec() (src/wire/messages.ts), which registers FsmCommandMessages under their names.
 */
export interface FsmCodec {
  encode(message: CommandWire | ResultWire): Result<Uint8Array, EncodeError>;
  decode(bytes: Uint8Array): Result<{ readonly type: string; readonly body: unknown }, DecodeError>;
}

/** What the snapshot helpers need of a codec: createFsmSnapshotCodec() fits. */
export interface FsmSnapshotCodec {
  encode(message: SnapshotWire): Result<Uint8Array, EncodeError>;
  decode(bytes: Uint8Array): Result<{ readonly type: string; readonly body: unknown }, DecodeError>;
}

export interface FsmCodecOptions {
  /** Envelope version written; defaults to PROTOCOL_VERSION, the version of every other message. */
  readonly version?: number;
  /** Oldest version accepted; defaults to FSM_MIN_VERSION. */
  readonly minVersion?: number;
}

/** Commands and results, up to MAX_FSM_COMMAND_BYTES: for log entries and forwarded writes. */
export function createFsmCodec(options: FsmCodecOptions = {}): MessageCodec<typeof FsmCommandMessages> {
  return new MessageCodec(FsmCommandMessages, { maxMessageBytes: MAX_FSM_COMMAND_BYTES, ...versions(options) });
}

/** Snapshots, up to maxSnapshotBytes (MAX_FSM_SNAPSHOT_BYTES by default). */
export function createFsmSnapshotCodec(options: FsmCodecOptions & { readonly maxSnapshotBytes?: number } = {}): MessageCodec<typeof FsmSnapshotMessages> {
  return new MessageCodec(FsmSnapshotMessages, { maxMessageBytes: options.maxSnapshotBytes ?? MAX_FSM_SNAPSHOT_BYTES, ...versions(options) });
}

function versions(options: FsmCodecOptions): { version: number; minVersion: number } {
  const version = options.version ?? PROTOCOL_VERSION;
  return { version, minVersion: options.minVersion ?? Math.min(FSM_MIN_VERSION, version) };
}

// ---------------------------------------------------------------------------------------------
// Helpers.

/** Checks the command as the receiving side will (so what encodes also decodes), then encodes it. */
export function encodeCommand(codec: FsmCodec, command: Command): Result<Uint8Array, string> {
  const body = withoutUndefined(command) as Static<typeof CommandSchema>;
  const problem = shapeProblem(CHECKS.command, CommandSchema, body);
  if (problem !== undefined) return err(`cannot encode fsm.command${variantLabel(body, 'type')}: ${problem}`);
  return encoded(codec.encode({ type: 'fsm.command', body }), 'fsm.command');
}

export function decodeCommand(codec: FsmCodec, bytes: Uint8Array): Result<Command, string> {
  const decoded = decodeAs(codec, 'fsm.command', bytes, CommandSchema, 'type');
  if (!decoded.ok) return decoded;
  const c = decoded.value as Command;
  // The value is a view into the entry's bytes: own it, as the store keeps it indefinitely.
  if (c.type === 'restore.chunk') return ok({ ...c, data: own(c.data) });
  return ok(c.type === 'kv.put' ? { ...c, value: own(c.value) } : c);
}

/**
 * Results are small; an 'invalid' reason longer than MAX_FSM_REASON_CHARS is cut (it is for
 * people, not logic), so every result the state machine returns can be sent back.
 */
export function encodeApplyResult(codec: FsmCodec, result: ApplyResult): Result<Uint8Array, string> {
  const body = (result.ok || result.code !== 'invalid' ? result : { ...result, reason: cut(result.reason, MAX_FSM_REASON_CHARS) }) as Static<typeof ApplyResultSchema>;
  const problem = shapeProblem(CHECKS.result, ApplyResultSchema, body);
  if (problem !== undefined) return err(`cannot encode fsm.result${variantLabel(body, 'code')}: ${problem}`);
  return encoded(codec.encode({ type: 'fsm.result', body }), 'fsm.result');
}

export function decodeApplyResult(codec: FsmCodec, bytes: Uint8Array): Result<ApplyResult, string> {
  const decoded = decodeAs(codec, 'fsm.result', bytes, ApplyResultSchema, 'code');
  return decoded.ok ? ok(decoded.value as ApplyResult) : decoded;
}

/**
 * Encodes the state machine's snapshot after checking its shape and its invariants, so that a
 * node never writes a snapshot it, or a peer it sends it to, would refuse to restore.
 */
export function encodeFsmSnapshot(codec: FsmSnapshotCodec, snapshot: FsmSnapshot): Result<Uint8Array, string> {
  // Readonly arrays of the core's types; `session: undefined` passes the Optional schema as it is.
  const body = { ...snapshot, kv: { ...snapshot.kv, history: snapshot.kv.history.map(historyToWire) } } as unknown as Static<typeof FsmSnapshotSchema>;
  // The event hashes are not recomputed here: the state machine computed each one as it applied
  // the event, so verifying its own output proves nothing, and costs ~5 us per kept event inside
  // the Raft loop. Restoring (decodeFsmSnapshot) does verify them: that is where tampering shows.
  const problem = shapeProblem(CHECKS.snapshot, FsmSnapshotSchema, body) ?? checkFsmSnapshot(snapshot, { verifyHashes: false });
  if (problem !== undefined) return err(`cannot encode fsm.snapshot: ${problem}`);
  return encoded(codec.encode({ type: 'fsm.snapshot', body }), 'fsm.snapshot');
}

export function decodeFsmSnapshot(codec: FsmSnapshotCodec, bytes: Uint8Array): Result<FsmSnapshot, string> {
  const decoded = decodeAs(codec, 'fsm.snapshot', bytes, FsmSnapshotSchema, undefined);
  if (!decoded.ok) return decoded;
  const wire = decoded.value as Static<typeof FsmSnapshotSchema>;
  const snapshot: FsmSnapshot = {
    appliedIndex: wire.appliedIndex,
    nowMs: wire.nowMs,
    kv: { revision: wire.kv.revision, entries: wire.kv.entries.map(entryFromWire), history: wire.kv.history.map(historyFromWire) },
    sessions: wire.sessions,
    // Validated above: the ids are node ids of the right length, so they may wear the brand.
    nodes: wire.nodes as unknown as FsmSnapshot['nodes'],
    events: wire.events,
    ...(wire.security === undefined ? {} : { security: wire.security }),
    ...(wire.restoreStaging === undefined ? {} : { restoreStaging: { ...wire.restoreStaging, chunks: wire.restoreStaging.chunks.map(own) } }),
    ...(wire.jobs === undefined ? {} : { jobs: wire.jobs }),
    ...(wire.allocs === undefined ? {} : { allocs: wire.allocs as unknown as NonNullable<FsmSnapshot['allocs']> }),
  };
  const problem = checkFsmSnapshot(snapshot, { verifyHashes: true });
  return problem === undefined ? ok(snapshot) : err(`invalid fsm.snapshot: ${problem}`);
}

// ---------------------------------------------------------------------------------------------
// Snapshot invariants: what the schema cannot say. Only what the state machine always keeps is
// checked (src/core/fsm), so a snapshot that breaks one was damaged or forged, and is refused.

/**
 * Undefined when the snapshot keeps every invariant; else a description naming the field.
 * verifyHashes recomputes every kept event's sha256 chain from the anchor (verifyChain).
 */
export function checkFsmSnapshot(s: FsmSnapshot, options: { readonly verifyHashes: boolean }): string | undefined {
  const kv = s.kv;
  const sessions = new Set<string>();
  for (let i = 0; i < s.sessions.length; i++) {
    const x = s.sessions[i]!;
    const at = `sessions[${i}]`;
    if (sessions.has(x.id)) return `${at}.id repeats ${q(x.id)}`;
    sessions.add(x.id);
    if (x.createdAtMs > s.nowMs) return `${at}.createdAtMs ${x.createdAtMs} is after nowMs ${s.nowMs}`;
    // Created at createdAtMs with expiry created + ttl; a keepalive moves it to now + ttl.
    if (x.expiresAtMs < x.createdAtMs + x.ttlMs) return `${at}.expiresAtMs ${x.expiresAtMs} is before createdAtMs ${x.createdAtMs} + ttlMs ${x.ttlMs}`;
    if (x.expiresAtMs > s.nowMs + x.ttlMs) return `${at}.expiresAtMs ${x.expiresAtMs} is after nowMs ${s.nowMs} + ttlMs ${x.ttlMs}`;
  }
  const keys = new Set<string>();
  for (let i = 0; i < kv.entries.length; i++) {
    const problem = checkEntry(kv.entries[i]!, kv.revision, sessions);
    if (problem !== undefined) return `kv.entries[${i}].${problem}`;
    const key = kv.entries[i]!.key;
    if (keys.has(key)) return `kv.entries[${i}].key repeats ${q(key)}`;
    keys.add(key);
  }
  // Every change takes the next revision and is recorded, so the kept history is the newest
  // revisions without a gap, ending at the current one (src/core/fsm/kv.ts).
  for (let i = 0; i < kv.history.length; i++) {
    const c = kv.history[i]!;
    const at = `kv.history[${i}]`;
    const expected = kv.revision - kv.history.length + 1 + i;
    if (c.revision !== expected) return `${at}.revision is ${c.revision} but must be ${expected} (consecutive, ending at kv.revision ${kv.revision})`;
    if (c.type === 'delete') {
      if (c.entry !== undefined) return `${at}.entry is set on a delete`;
      continue;
    }
    if (c.entry === undefined) return `${at}.entry is missing on a put`;
    if (c.entry.key !== c.key) return `${at}.entry.key ${q(c.entry.key)} is not the change's key ${q(c.key)}`;
    if (c.entry.modRevision !== c.revision) return `${at}.entry.modRevision ${c.entry.modRevision} is not the change's revision ${c.revision}`;
    // The session may have ended since; only the entry's own revisions are checked here.
    const problem = checkEntry(c.entry, kv.revision, undefined);
    if (problem !== undefined) return `${at}.entry.${problem}`;
  }
  const nodes = new Set<string>();
  for (let i = 0; i < s.nodes.length; i++) {
    const n = s.nodes[i]!;
    const at = `nodes[${i}]`;
    if (nodes.has(n.id)) return `${at}.id repeats ${q(n.id)}`;
    nodes.add(n.id);
    if (n.firstSeenAtMs > n.updatedAtMs) return `${at}.firstSeenAtMs ${n.firstSeenAtMs} is after updatedAtMs ${n.updatedAtMs}`;
    if (n.updatedAtMs > s.nowMs) return `${at}.updatedAtMs ${n.updatedAtMs} is after nowMs ${s.nowMs}`;
  }
  // The keyring's invariants (src/core/fsm/security.ts); messages never quote a key.
  if (s.security !== undefined) {
    const { gossipKeys, gossipPrimary } = s.security;
    if (new Set(gossipKeys).size !== gossipKeys.length) return 'security.gossipKeys repeats a key';
    if (!gossipKeys.includes(gossipPrimary)) return 'security.gossipPrimary is not one of security.gossipKeys';
  }
  if (s.restoreStaging !== undefined && stagedBytes(s.restoreStaging) > s.restoreStaging.totalBytes) {
    return `restoreStaging holds ${stagedBytes(s.restoreStaging)} bytes, more than its totalBytes ${s.restoreStaging.totalBytes}`;
  }
  const jobsProblem = checkJobs(s);
  if (jobsProblem !== undefined) return jobsProblem;
  const allocsProblem = s.allocs === undefined ? undefined : allocTableProblem(s.allocs.allocs);
  if (allocsProblem !== undefined) return `allocs: ${allocsProblem}`;
  const { anchor, kept } = s.events;
  if ((anchor.seq === 0) !== (anchor.hash === '')) return `events.anchor has seq ${anchor.seq} and hash ${q(anchor.hash)}; the hash is empty exactly when seq is 0`;
  for (let i = 0; i < kept.length; i++) {
    const e = kept[i]!;
    if (e.index > s.appliedIndex) return `events.kept[${i}].index ${e.index} is after appliedIndex ${s.appliedIndex}`;
    if (e.atMs > s.nowMs) return `events.kept[${i}].atMs ${e.atMs} is after nowMs ${s.nowMs}`;
  }
  if (!options.verifyHashes) return checkEventSeqs(anchor, kept);
  // The log is tamper-evident: a snapshot whose chain does not verify from its anchor is refused.
  const broken = verifyChain(anchor, kept);
  if (broken !== undefined) return `events.kept (seq ${broken.seq}): ${broken.problem}`;
  return undefined;
}

/** The part of verifyChain that needs no hashing: consecutive seqs, each linked to the one before. */
function checkEventSeqs(anchor: EventAnchor, kept: FsmSnapshot['events']['kept']): string | undefined {
  let prev = anchor;
  for (let i = 0; i < kept.length; i++) {
    const e = kept[i]!;
    if (e.seq !== prev.seq + 1) return `events.kept[${i}].seq is ${e.seq} but must be ${prev.seq + 1}`;
    if (e.prevHash !== prev.hash) return `events.kept[${i}].prevHash does not match the hash before it`;
    prev = e;
  }
  return undefined;
}

/** What src/core/fsm/jobs.ts keeps true: one record per name, versions rising, times not ahead. */
function checkJobs(s: FsmSnapshot): string | undefined {
  const names = new Set<string>();
  const jobs = s.jobs ?? [];
  if (jobs.length > MAX_JOBS) return `jobs holds ${jobs.length} jobs, more than ${MAX_JOBS}`;
  for (let i = 0; i < jobs.length; i++) {
    const r = jobs[i]!;
    const at = `jobs[${i}]`;
    const name = r.spec.job;
    if (names.has(name)) return `${at}.spec.job repeats ${q(name)}`;
    names.add(name);
    if (r.submittedAtMs > r.updatedAtMs) return `${at}.submittedAtMs ${r.submittedAtMs} is after updatedAtMs ${r.updatedAtMs}`;
    if (r.updatedAtMs > s.nowMs) return `${at}.updatedAtMs ${r.updatedAtMs} is after nowMs ${s.nowMs}`;
    if (r.history.length > MAX_JOB_HISTORY) return `${at}.history holds ${r.history.length} versions, more than ${MAX_JOB_HISTORY}`;
    // Versions rise by one per change, so the kept ones rise strictly, and times never go back.
    let prev: { version: number; submittedAtMs: number } = { version: 0, submittedAtMs: 0 };
    for (let j = 0; j < r.history.length; j++) {
      const h = r.history[j]!;
      const hat = `${at}.history[${j}]`;
      if (h.spec.job !== name) return `${hat}.spec.job ${q(h.spec.job)} is not the job's name ${q(name)}`;
      if (h.version <= prev.version) return `${hat}.version ${h.version} does not rise above ${prev.version}`;
      if (h.submittedAtMs < prev.submittedAtMs) return `${hat}.submittedAtMs ${h.submittedAtMs} is before the version before it (${prev.submittedAtMs})`;
      prev = h;
    }
    if (r.version <= prev.version) return `${at}.version ${r.version} does not rise above its history's ${prev.version}`;
    if (r.submittedAtMs < prev.submittedAtMs) return `${at}.submittedAtMs ${r.submittedAtMs} is before its history's newest (${prev.submittedAtMs})`;
  }
  return undefined;
}

function checkEntry(e: KvEntry, revision: number, sessions: ReadonlySet<string> | undefined): string | undefined {
  if (e.createRevision > e.modRevision) return `createRevision ${e.createRevision} is after modRevision ${e.modRevision}`;
  if (e.modRevision > revision) return `modRevision ${e.modRevision} is after kv.revision ${revision}`;
  // Each put since creation took its own revision.
  if (e.version > e.modRevision - e.createRevision + 1) return `version ${e.version} exceeds the puts possible between createRevision ${e.createRevision} and modRevision ${e.modRevision}`;
  // A session's keys are deleted when it ends (src/core/fsm/fsm.ts #destroySession).
  if (sessions !== undefined && e.session !== undefined && !sessions.has(e.session)) return `session ${q(e.session)} is not among sessions`;
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Plumbing.

const CHECKS = {
  command: TypeCompiler.Compile(CommandSchema),
  result: TypeCompiler.Compile(ApplyResultSchema),
  snapshot: TypeCompiler.Compile(FsmSnapshotSchema),
} as const;

type WireHistory = Static<typeof KvChangeSchema>;

/** A delete carries no entry on the wire (the core keeps `entry: undefined`). */
function historyToWire(c: KvChange): WireHistory {
  if (c.type === 'delete' || c.entry === undefined) return { revision: c.revision, type: c.type, key: c.key } as WireHistory;
  return { revision: c.revision, type: 'put', key: c.key, entry: c.entry as Static<typeof KvEntrySchema> };
}

function historyFromWire(c: WireHistory): KvChange {
  return 'entry' in c ? { revision: c.revision, type: 'put', key: c.key, entry: entryFromWire(c.entry) } : { revision: c.revision, type: 'delete', key: c.key, entry: undefined };
}

function entryFromWire(e: Static<typeof KvEntrySchema>): KvEntry {
  return { key: e.key, value: own(e.value), createRevision: e.createRevision, modRevision: e.modRevision, version: e.version, session: e.session };
}

/**
 * A copy of a decoded binary value. Buffer.from takes small copies from Node's 8 KiB pool (as
 * src/wire/raft.ts does for log entries), so many small values pin slabs of 8 KiB at most.
 */
function own(bytes: Uint8Array): Uint8Array {
  return Buffer.from(bytes);
}

/**
 * Drops properties set to undefined: `{ ifModRevision: undefined }` from JavaScript callers means
 * "absent", and must not reach the wire as msgpack's undefined.
 */
function withoutUndefined<T extends object>(value: T): T {
  let clean = true;
  for (const k in value) if (value[k] === undefined) clean = false;
  if (clean) return value;
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

function encoded(result: Result<Uint8Array, EncodeError>, type: string): Result<Uint8Array, string> {
  if (result.ok) return result;
  return err(`cannot encode ${type}: ${result.error.sizeBytes} bytes exceed the limit of ${result.error.maxBytes} bytes`);
}

function decodeAs(codec: FsmCodec | FsmSnapshotCodec, type: string, bytes: Uint8Array, schema: TSchema, discriminator: string | undefined): Result<unknown, string> {
  const decoded = codec.decode(bytes);
  if (!decoded.ok) {
    const e = decoded.error;
    // The codec names only the first failing path, and just "Expected union value" inside a
    // union: look again, following the variant the value claims to be, to name the field.
    if (e.code === 'invalid-body' && e.type === type) {
      const body = rawBody(bytes);
      const label = discriminator === undefined ? '' : variantLabel(body, discriminator);
      return err(`invalid ${type}${label}: ${explain(schema, body) ?? `${e.path || '/'}: ${e.detail}`}`);
    }
    return err(`${type}: ${describeDecodeError(e)}`);
  }
  if (decoded.value.type !== type) return err(`expected a ${type} message but got ${q(decoded.value.type)}`);
  return ok(decoded.value.body);
}

/** The body of an envelope, parsed again only to explain a schema failure. Plain data only, as MessageCodec. */
function rawBody(bytes: Uint8Array): unknown {
  try {
    const value: unknown = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false, int64AsType: 'number' }).unpack(bytes);
    return Array.isArray(value) ? value[2] : undefined;
  } catch {
    return undefined;
  }
}

function shapeProblem(check: { Check(v: unknown): boolean }, schema: TSchema, value: unknown): string | undefined {
  return check.Check(value) ? undefined : (explain(schema, value) ?? 'does not match its schema');
}

/** The first schema error of value, as "field: what is wrong". */
function explain(schema: TSchema, value: unknown): string | undefined {
  const e = firstError(schema, value);
  return e === undefined ? undefined : `${fieldName(e.pointer)}: ${e.message}`;
}

/**
 * Inside a union of objects, typebox reports only "Expected union value": follow the member whose
 * literal fields (type, ok, code) the value carries, so the error names that variant's field.
 */
function firstError(schema: TSchema, value: unknown): { pointer: string; message: string } | undefined {
  const first = Value.Errors(schema, value).First();
  if (first === undefined) return undefined;
  const s = first.schema as TSchema & Record<string, unknown>;
  if (s[Kind] !== 'Union') {
    const patterned = s['pattern'] !== undefined && s['description'] !== undefined && first.message.startsWith('Expected string to match');
    return { pointer: first.path, message: patterned ? `must be ${String(s['description'])}` : first.message };
  }
  const members = s['anyOf'] as TSchema[];
  const inner = valueAt(value, first.path);
  const member = members.find((m) => literalsMatch(m, inner));
  if (member !== undefined) {
    const deeper = firstError(member, inner);
    if (deeper !== undefined) return { pointer: first.path + deeper.pointer, message: deeper.message };
  }
  if (inner !== null && typeof inner === 'object' && !Array.isArray(inner)) {
    // The first literal field whose value no member allows: `ok` before `code` in a result.
    for (const [field, allowed] of literalFields(members)) {
      const actual = (inner as Record<string, unknown>)[field];
      if (allowed.includes(actual)) continue;
      return { pointer: `${first.path}/${field}`, message: `is ${describeValue(actual)}, not one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}` };
    }
  }
  return { pointer: first.path, message: `is ${describeValue(inner)}, which matches none of the allowed forms` };
}

/** '/kv/entries/3/key' -> 'kv.entries[3].key'; '' -> '(whole value)'. */
function fieldName(pointer: string): string {
  if (pointer === '') return '(whole value)';
  let out = '';
  for (const seg of segments(pointer)) {
    if (/^\d+$/.test(seg)) out += `[${seg}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(cut(seg, 64))}]`;
  }
  return out;
}

function segments(pointer: string): string[] {
  return pointer === '' ? [] : pointer.slice(1).split('/').map((raw) => raw.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function valueAt(value: unknown, pointer: string): unknown {
  let v = value;
  for (const seg of segments(pointer)) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[seg];
  }
  return v;
}

function literalOf(member: TSchema, field: string): unknown {
  const props = (member as unknown as { properties?: Record<string, TSchema & { const?: unknown }> }).properties;
  const p = props?.[field];
  return p !== undefined && p[Kind] === 'Literal' ? p.const : undefined;
}

/**
 * The literal fields of a union's members with the values they allow: fields every member has
 * first (`ok`), then the others by how many variants they tell apart (`code`).
 */
function literalFields(members: readonly TSchema[]): [string, unknown[]][] {
  const values = new Map<string, { allowed: unknown[]; members: number }>();
  for (const m of members) {
    const props = (m as unknown as { properties?: Record<string, TSchema> }).properties ?? {};
    for (const k of Object.keys(props)) {
      const v = literalOf(m, k);
      if (v === undefined) continue;
      const f = values.get(k) ?? { allowed: [], members: 0 };
      if (!f.allowed.includes(v)) f.allowed.push(v);
      f.members++;
      values.set(k, f);
    }
  }
  const rank = (f: { allowed: unknown[]; members: number }): number => (f.members === members.length ? 1e6 : 0) + f.allowed.length;
  return [...values].sort((a, b) => rank(b[1]) - rank(a[1])).map(([k, f]) => [k, f.allowed]);
}

function literalsMatch(member: TSchema, value: unknown): boolean {
  const props = (member as unknown as { properties?: Record<string, TSchema & { const?: unknown }> }).properties;
  if (props === undefined || value === null || typeof value !== 'object') return false;
  let any = false;
  for (const [k, p] of Object.entries(props)) {
    if (p[Kind] !== 'Literal') continue;
    any = true;
    if ((value as Record<string, unknown>)[k] !== p.const) return false;
  }
  return any;
}

/** " (kv.put)" when the value names its variant, for messages. */
function variantLabel(value: unknown, field: string): string {
  if (value === null || typeof value !== 'object') return '';
  const v = (value as Record<string, unknown>)[field];
  return typeof v === 'string' ? ` (${cut(v, 64)})` : '';
}

function describeValue(v: unknown): string {
  if (typeof v === 'string') return q(v);
  if (v === undefined) return 'missing';
  if (v === null) return 'null';
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return Array.isArray(v) ? 'an array' : v instanceof Uint8Array ? 'binary' : typeof v;
}

/** Quoted and cut, since values in descriptions may come from a hostile peer or a damaged file. */
function q(s: string): string {
  return JSON.stringify(cut(s, 64));
}

function cut(s: string, maxChars: number): string {
  return s.length <= maxChars ? s : `${s.slice(0, maxChars - 1)}…`;
}
