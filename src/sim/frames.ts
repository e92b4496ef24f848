// What travels through the simulated network: datagrams, and the frames of the simulated RPC
// connections (requests, responses, one-way messages, and the connection-level signals a real
// TCP connection would give: a reset when the peer closes mid-request, and "unreachable" when
// nobody listens at the address). A discriminated union, switched exhaustively by the receiver.

import type { TransportErrorCode } from '../runtime/transport/types.ts';
import { unreachable } from '../core/result.ts';

export type Frame =
  | { readonly kind: 'datagram'; readonly data: Uint8Array }
  | {
      readonly kind: 'rpc-request';
      readonly id: number;
      readonly method: string;
      readonly body: Uint8Array;
      /** Endpoint epoch of the requester: replies to an older incarnation are not delivered. */
      readonly replyEpoch: number;
    }
  | { readonly kind: 'rpc-response'; readonly id: number; readonly body: Uint8Array }
  | { readonly kind: 'rpc-error'; readonly id: number; readonly code: TransportErrorCode; readonly message: string }
  | { readonly kind: 'rpc-message'; readonly method: string; readonly body: Uint8Array }
  | { readonly kind: 'rpc-reset'; readonly id: number }
  | { readonly kind: 'rpc-unreachable'; readonly id: number };

/** Datagrams are lossy and unordered; every other frame rides an ordered, reliable stream. */
export function isStreamFrame(frame: Frame): boolean {
  return frame.kind !== 'datagram';
}

/** Payload bytes, for traces and statistics (headers are not modelled). */
export function frameBytes(frame: Frame): number {
  switch (frame.kind) {
    case 'datagram':
      return frame.data.length;
    case 'rpc-request':
    case 'rpc-response':
    case 'rpc-message':
      return frame.body.length;
    case 'rpc-error':
    case 'rpc-reset':
    case 'rpc-unreachable':
      return 0;
    default:
      return unreachable(frame);
  }
}

/** Stable one-line description for the trace. */
export function describeFrame(frame: Frame): string {
  switch (frame.kind) {
    case 'datagram':
      return `datagram ${frame.data.length}B`;
    case 'rpc-request':
      return `rpc-request id=${frame.id} ${frame.method} ${frame.body.length}B`;
    case 'rpc-response':
      return `rpc-response id=${frame.id} ${frame.body.length}B`;
    case 'rpc-error':
      return `rpc-error id=${frame.id} ${frame.code}`;
    case 'rpc-message':
      return `rpc-message ${frame.method} ${frame.body.length}B`;
    case 'rpc-reset':
      return `rpc-reset id=${frame.id}`;
    case 'rpc-unreachable':
      return `rpc-unreachable id=${frame.id}`;
    default:
      return unreachable(frame);
  }
}

/** A copy with its own byte arrays: sender and receivers must never share a buffer. */
export function copyFrame(frame: Frame): Frame {
  switch (frame.kind) {
    case 'datagram':
      return { kind: 'datagram', data: frame.data.slice() };
    case 'rpc-request':
    case 'rpc-response':
    case 'rpc-message':
      return { ...frame, body: frame.body.slice() };
    case 'rpc-error':
    case 'rpc-reset':
    case 'rpc-unreachable':
      return frame;
    default:
      return unreachable(frame);
  }
}
