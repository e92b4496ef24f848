// The RPC envelope inside each frame (src/wire/frame.ts). A tiny hand-written binary header
// rather than msgpack: the body is already encoded bytes (src/wire/codec.ts), and a fixed
// header lets the body ride behind it with a single copy and be handed on as a view.
//
//   hello    [0] magic "SPRS" version:u16         first frame each side sends on a connection
//   request  [1] id:u32 methodLen:u8 method body
//   response [2] id:u32 body
//   error    [3] id:u32 code:u8 messageLen:u16 message
//   message  [4] methodLen:u8 method body          one-way
//
// Integers are big-endian. Decoding treats bytes as hostile: every length is checked against
// what is actually there, method names must be valid UTF-8, codes must be known.
import { err, ok, type Result } from '../../core/result.ts';
import { encodeFrameParts, type FrameError } from '../../wire/frame.ts';
import type { TransportErrorCode } from './types.ts';

export const RPC_PROTOCOL_VERSION = 1;
const MAGIC = Uint8Array.from([0x53, 0x50, 0x52, 0x53]); // "SPRS"

export const MAX_METHOD_BYTES = 255;
/** Remote error messages are for humans and logs; longer ones are cut. */
export const MAX_ERROR_MESSAGE_BYTES = 1024;

const KIND_HELLO = 0;
const KIND_REQUEST = 1;
const KIND_RESPONSE = 2;
const KIND_ERROR = 3;
const KIND_MESSAGE = 4;

/** Error codes a peer may report for one request (the others are local observations). */
export const WIRE_ERROR_CODES = ['remote', 'no-handler', 'too-large'] as const satisfies readonly TransportErrorCode[];
export type WireErrorCode = (typeof WIRE_ERROR_CODES)[number];

export type RpcEnvelope =
  | { readonly kind: 'hello'; readonly version: number }
  | { readonly kind: 'request'; readonly id: number; readonly method: string; readonly body: Uint8Array }
  | { readonly kind: 'response'; readonly id: number; readonly body: Uint8Array }
  | { readonly kind: 'error'; readonly id: number; readonly code: WireErrorCode; readonly message: string }
  | { readonly kind: 'message'; readonly method: string; readonly body: Uint8Array };

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Method names are chosen by our own code: a bad one is a programmer error. */
export function isValidMethod(method: string): boolean {
  const bytes = utf8.encode(method).length;
  return bytes >= 1 && bytes <= MAX_METHOD_BYTES;
}

function truncateUtf8(text: string, maxBytes: number): Uint8Array {
  const bytes = utf8.encode(text);
  if (bytes.length <= maxBytes) return bytes;
  // Back off to a character boundary (never end inside a multi-byte sequence).
  let end = maxBytes;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}

/** The complete frame (length prefix included) for an envelope, or 'too-large'. */
export function encodeRpcFrame(envelope: RpcEnvelope, maxFrameBytes: number): Result<Uint8Array, FrameError> {
  switch (envelope.kind) {
    case 'hello': {
      const header = new Uint8Array(1 + MAGIC.length + 2);
      header[0] = KIND_HELLO;
      header.set(MAGIC, 1);
      new DataView(header.buffer).setUint16(1 + MAGIC.length, envelope.version, false);
      return encodeFrameParts([header], maxFrameBytes);
    }
    case 'request':
    case 'message': {
      const method = utf8.encode(envelope.method);
      const idBytes = envelope.kind === 'request' ? 4 : 0;
      const header = new Uint8Array(1 + idBytes + 1 + method.length);
      const view = new DataView(header.buffer);
      header[0] = envelope.kind === 'request' ? KIND_REQUEST : KIND_MESSAGE;
      if (envelope.kind === 'request') view.setUint32(1, envelope.id, false);
      header[1 + idBytes] = method.length;
      header.set(method, 2 + idBytes);
      return encodeFrameParts([header, envelope.body], maxFrameBytes);
    }
    case 'response': {
      const header = new Uint8Array(5);
      header[0] = KIND_RESPONSE;
      new DataView(header.buffer).setUint32(1, envelope.id, false);
      return encodeFrameParts([header, envelope.body], maxFrameBytes);
    }
    case 'error': {
      const message = truncateUtf8(envelope.message, MAX_ERROR_MESSAGE_BYTES);
      const header = new Uint8Array(8);
      const view = new DataView(header.buffer);
      header[0] = KIND_ERROR;
      view.setUint32(1, envelope.id, false);
      header[5] = WIRE_ERROR_CODES.indexOf(envelope.code);
      view.setUint16(6, message.length, false);
      return encodeFrameParts([header, message], maxFrameBytes);
    }
  }
}

/** Decodes one frame payload; any inconsistency is an error string (the caller drops the peer). */
export function decodeRpcEnvelope(payload: Uint8Array): Result<RpcEnvelope, string> {
  if (payload.length < 1) return err('empty frame');
  const view = new DataView(payload.buffer, payload.byteOffset, payload.length);
  const kind = payload[0]!;
  switch (kind) {
    case KIND_HELLO: {
      if (payload.length !== 1 + MAGIC.length + 2) return err('hello has the wrong size');
      for (let i = 0; i < MAGIC.length; i++) if (payload[1 + i] !== MAGIC[i]) return err('hello has the wrong magic (not a Sappers RPC peer)');
      return ok({ kind: 'hello', version: view.getUint16(1 + MAGIC.length, false) });
    }
    case KIND_REQUEST:
    case KIND_MESSAGE: {
      const idBytes = kind === KIND_REQUEST ? 4 : 0;
      if (payload.length < 2 + idBytes) return err('truncated header');
      const methodLength = payload[1 + idBytes]!;
      const methodStart = 2 + idBytes;
      if (methodLength === 0 || payload.length < methodStart + methodLength) return err('bad method length');
      let method: string;
      try {
        method = strictUtf8.decode(payload.subarray(methodStart, methodStart + methodLength));
      } catch {
        return err('method is not valid UTF-8');
      }
      const body = payload.subarray(methodStart + methodLength);
      return kind === KIND_REQUEST
        ? ok({ kind: 'request', id: view.getUint32(1, false), method, body })
        : ok({ kind: 'message', method, body });
    }
    case KIND_RESPONSE: {
      if (payload.length < 5) return err('truncated response');
      return ok({ kind: 'response', id: view.getUint32(1, false), body: payload.subarray(5) });
    }
    case KIND_ERROR: {
      if (payload.length < 8) return err('truncated error');
      const code = WIRE_ERROR_CODES[payload[5]!];
      if (code === undefined) return err(`unknown error code ${payload[5]}`);
      const messageLength = view.getUint16(6, false);
      if (payload.length !== 8 + messageLength) return err('error message length does not match the frame');
      let message: string;
      try {
        message = strictUtf8.decode(payload.subarray(8));
      } catch {
        return err('error message is not valid UTF-8');
      }
      return ok({ kind: 'error', id: view.getUint32(1, false), code, message });
    }
    default:
      return err(`unknown frame kind ${kind}`);
  }
}
