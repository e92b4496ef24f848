// Agent-to-agent requests about cluster membership (beyond Raft's own messages).
//   cluster.leave        a node asks the leader to take it out of the configuration (a graceful
//                        departure: the autopilot hands over leadership or removes it at once)
//   cluster.leave-reply  accepted, or not the leader (with the leader to ask instead); removed
//                        once a committed configuration no longer lists the node (a removed node
//                        never receives the entry that removes it, thesis 4.2.2, so it must ask)
import { Type } from '@sinclair/typebox';
import { MAX_ID_CHARS } from './limits.ts';

const Id = Type.String({ minLength: 1, maxLength: MAX_ID_CHARS });

export const ClusterMessages = {
  'cluster.leave': Type.Object({ node: Id }, { additionalProperties: false }),
  'cluster.leave-reply': Type.Object({ accepted: Type.Boolean(), removed: Type.Boolean(), leader: Type.Optional(Id) }, { additionalProperties: false }),
} as const;
