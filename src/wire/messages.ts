// The registry of every message type Sappers puts on the wire. Each protocol adds its own
// group (swim.*, raft.*, ...) here, so that one codec, one version check and one property test
// cover them all (test/wire/codec.test.ts round-trips every registered type).
import { Type } from '@sinclair/typebox';
import { ClusterMessages } from './cluster.ts';
import { MessageCodec, type MessageOf } from './codec.ts';
import { FsmMessages } from './fsm.ts';
import { JobMessages } from './job.ts';
import { MAX_ID_CHARS } from './limits.ts';
import { RaftMessages } from './raft.ts';
import { SwimMessages } from './swim.ts';

const NodeIdSchema = Type.String({ minLength: 1, maxLength: MAX_ID_CHARS });
const Seq = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

/** The simulator's demonstration protocol (src/sim/echo.ts). */
export const EchoMessages = {
  'echo.ping': Type.Object(
    { from: NodeIdSchema, seq: Seq, payload: Type.Uint8Array({ maxByteLength: 1024 }) },
    { additionalProperties: false },
  ),
  'echo.pong': Type.Object(
    { from: NodeIdSchema, seq: Seq, echoed: Type.Uint8Array({ maxByteLength: 1024 }) },
    { additionalProperties: false },
  ),
} as const;

export const WIRE_MESSAGES = { ...EchoMessages, ...SwimMessages, ...RaftMessages, ...FsmMessages, ...ClusterMessages, ...JobMessages } as const;

export type WireMessage = MessageOf<typeof WIRE_MESSAGES>;

/** Default ceiling for one message; transports add their own frame limits on top. */
export const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

export function createWireCodec(maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES): MessageCodec<typeof WIRE_MESSAGES> {
  return new MessageCodec(WIRE_MESSAGES, { maxMessageBytes });
}
