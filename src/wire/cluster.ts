// Agent-to-agent requests about cluster membership (beyond Raft's own messages).
//   cluster.leave        a node asks the leader to take it out of the configuration (a graceful
//                        departure: the autopilot hands over leadership or removes it at once)
//   cluster.leave-reply  accepted, or not the leader (with the leader to ask instead); removed
//                        once a committed configuration no longer lists the node (a removed node
//                        never receives the entry that removes it, thesis 4.2.2, so it must ask)
//   bootstrap.promise    --bootstrap-expect: a proposer asks a node to follow its initial voters
//   bootstrap.form       ... and, with every promise, tells them to form (src/core/bootstrap)
//   security.enroll      a joining node, which holds the cluster key but no certificate yet,
//                        asks a member for one (sealed with the cluster key, over the gossip
//                        port's TCP side: the RPC port admits only certified nodes)
//   security.enroll-reply the certificate and the CA that signed it, or why not
import { Type } from '@sinclair/typebox';
import { MAX_ID_CHARS } from './limits.ts';

const Id = Type.String({ minLength: 1, maxLength: MAX_ID_CHARS });
const Pem = Type.String({ minLength: 1, maxLength: 16 * 1024 });

export const ClusterMessages = {
  'cluster.leave': Type.Object({ node: Id }, { additionalProperties: false }),
  'cluster.leave-reply': Type.Object({ accepted: Type.Boolean(), removed: Type.Boolean(), leader: Type.Optional(Id) }, { additionalProperties: false }),
  /** Where a node's log ends (operator recover picks the freshest survivor). */
  'cluster.log-position': Type.Object({}, { additionalProperties: false }),
  'cluster.log-position-reply': Type.Object(
    {
      lastIndex: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
      lastTerm: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
      epoch: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
    },
    { additionalProperties: false },
  ),
  /** Group bootstrap (src/core/bootstrap): a proposer asks for a promise, then tells the set to form. */
  'bootstrap.promise': Type.Object({ from: Id, voters: Type.Array(Id, { minItems: 2, maxItems: 7 }) }, { additionalProperties: false }),
  'bootstrap.promise-reply': Type.Object({ granted: Type.Boolean(), reason: Type.Optional(Type.String({ maxLength: 1024 })) }, { additionalProperties: false }),
  'bootstrap.form': Type.Object({ from: Id, voters: Type.Array(Id, { minItems: 2, maxItems: 7 }) }, { additionalProperties: false }),
  'bootstrap.form-reply': Type.Object({ ok: Type.Boolean(), reason: Type.Optional(Type.String({ maxLength: 1024 })) }, { additionalProperties: false }),
  'security.enroll': Type.Object(
    { node: Id, publicKey: Type.Uint8Array({ minByteLength: 1, maxByteLength: 1024, description: 'DER SubjectPublicKeyInfo of an ECDSA P-256 key' }) },
    { additionalProperties: false },
  ),
  'security.enroll-reply': Type.Union([
    Type.Object({ ok: Type.Literal(true), caCertPem: Pem, certPem: Pem }, { additionalProperties: false }),
    Type.Object({ ok: Type.Literal(false), reason: Type.String({ maxLength: 1024 }) }, { additionalProperties: false }),
  ]),
} as const;
