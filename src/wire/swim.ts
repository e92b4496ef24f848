// Wire schemas of the membership protocol (src/core/swim/types.ts). A gossip datagram is one
// 'swim.packet'; a push-pull over TCP is one 'swim.push-pull' each way.
import { Type, type Static } from '@sinclair/typebox';
import { MAX_ADDRESS_CHARS, MAX_ID_CHARS } from './limits.ts';

const Id = Type.String({ minLength: 1, maxLength: MAX_ID_CHARS });
const Addr = Type.String({ minLength: 3, maxLength: MAX_ADDRESS_CHARS });
const Count = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
const strict = { additionalProperties: false } as const;

/** What every node tells the others about itself (disseminated on change). */
export const NodeMetaSchema = Type.Object(
  {
    protocol: Type.Integer({ minimum: 0, maximum: 1000 }),
    version: Type.String({ maxLength: 64 }),
    tags: Type.Record(Type.String({ maxLength: 63 }), Type.String({ maxLength: 256 }), { maxProperties: 64 }),
    resources: Type.Object(
      {
        cpuCores: Count,
        memoryTotalBytes: Count,
        memoryFreeBytes: Count,
        diskFreeBytes: Count,
        load1: Type.Number({ minimum: 0 }),
      },
      strict,
    ),
    /**
     * What the node offers to workloads when its operator set it (workloads.offerCpuMillis,
     * workloads.offerMemoryMB); absent: every core, and memory less a reserve (src/agent/node-info.ts).
     */
    offer: Type.Optional(Type.Object({ cpuMillis: Type.Optional(Count), memoryMB: Type.Optional(Count) }, strict)),
    rpcAddr: Type.String({ maxLength: MAX_ADDRESS_CHARS }),
    httpAddr: Type.String({ maxLength: MAX_ADDRESS_CHARS }),
    startedAtMs: Count,
    /** The Raft cluster epoch this node belongs to (raised by operator recover); absent = 1. */
    epoch: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER })),
    /** The node whose recovery started that epoch (two recoveries of one epoch number differ). */
    epochOrigin: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_ID_CHARS })),
    /**
     * Group bootstrap (--bootstrap-expect, src/core/bootstrap): voters empty while waiting for
     * `expect` nodes; the initial voters once formed. Absent on nodes not bootstrapping.
     */
    bootstrap: Type.Optional(
      Type.Object({ expect: Type.Integer({ minimum: 2, maximum: 7 }), voters: Type.Array(Type.String({ minLength: 1, maxLength: MAX_ID_CHARS }), { maxItems: 7 }) }, strict),
    ),
  },
  strict,
);
export type NodeMeta = Static<typeof NodeMetaSchema>;

const UpdateSchema = Type.Union([
  Type.Object({ kind: Type.Literal('alive'), id: Id, incarnation: Count, addr: Addr, meta: NodeMetaSchema }, strict),
  Type.Object({ kind: Type.Literal('suspect'), id: Id, incarnation: Count, from: Id }, strict),
  Type.Object({ kind: Type.Literal('dead'), id: Id, incarnation: Count, from: Id }, strict),
]);

const ProbeSchema = Type.Union([
  Type.Object({ kind: Type.Literal('ping'), seq: Count, target: Id, from: Id, fromAddr: Addr }, strict),
  Type.Object({ kind: Type.Literal('indirect-ping'), seq: Count, target: Id, targetAddr: Addr, from: Id, fromAddr: Addr }, strict),
  Type.Object({ kind: Type.Literal('ack'), seq: Count, from: Id }, strict),
  Type.Object({ kind: Type.Literal('nack'), seq: Count, from: Id }, strict),
]);

const MemberSchema = Type.Object(
  {
    id: Id,
    addr: Addr,
    incarnation: Count,
    status: Type.Union([Type.Literal('alive'), Type.Literal('suspect'), Type.Literal('dead'), Type.Literal('left')]),
    meta: NodeMetaSchema,
  },
  strict,
);

export const SwimMessages = {
  'swim.packet': Type.Object({ probe: Type.Optional(ProbeSchema), updates: Type.Array(UpdateSchema, { maxItems: 256 }) }, strict),
  'swim.push-pull': Type.Object({ from: Id, join: Type.Boolean(), members: Type.Array(MemberSchema, { maxItems: 100_000 }) }, strict),
} as const;
