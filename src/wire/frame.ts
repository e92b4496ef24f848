// Length-prefixed framing for byte streams (TCP, TLS). Each frame is a 4-byte big-endian payload
// length followed by that many payload bytes. The decoder treats its input as hostile: it reads
// the declared length first and refuses anything over the limit before allocating a byte for
// it, so a peer can make us hold at most maxFrameBytes + FRAME_HEADER_BYTES per connection.
import { assert, err, ok, type Result } from '../core/result.ts';

/** Bytes of the length prefix in front of every frame. */
export const FRAME_HEADER_BYTES = 4;

/** The largest payload a 4-byte prefix can describe. */
export const MAX_FRAME_BYTES_LIMIT = 0xffff_ffff;

export type FrameError =
  /** A frame (declared or to be encoded) is larger than the limit. */
  | { readonly code: 'too-large'; readonly sizeBytes: number; readonly maxBytes: number }
  /** push() after the decoder failed: the stream is no longer in sync and must be dropped. */
  | { readonly code: 'failed'; readonly cause: FrameError };

export function describeFrameError(e: FrameError): string {
  switch (e.code) {
    case 'too-large':
      return `frame of ${e.sizeBytes} bytes exceeds the limit of ${e.maxBytes} bytes`;
    case 'failed':
      return `frame decoder already failed: ${describeFrameError(e.cause)}`;
  }
}

function checkLimit(maxFrameBytes: number): void {
  assert(
    Number.isSafeInteger(maxFrameBytes) && maxFrameBytes >= 0 && maxFrameBytes <= MAX_FRAME_BYTES_LIMIT,
    `maxFrameBytes must be an integer in [0, 2^32), got ${maxFrameBytes}`,
  );
}

/** One frame: the length prefix and a copy of the payload in one buffer (one write). */
export function encodeFrame(payload: Uint8Array, maxFrameBytes: number): Result<Uint8Array, FrameError> {
  return encodeFrameParts([payload], maxFrameBytes);
}

/**
 * One frame whose payload is the concatenation of parts; lets a caller put a small header in
 * front of a large body with a single copy.
 */
export function encodeFrameParts(parts: readonly Uint8Array[], maxFrameBytes: number): Result<Uint8Array, FrameError> {
  checkLimit(maxFrameBytes);
  let size = 0;
  for (const part of parts) size += part.length;
  if (size > maxFrameBytes) return err({ code: 'too-large', sizeBytes: size, maxBytes: maxFrameBytes });
  const frame = new Uint8Array(FRAME_HEADER_BYTES + size);
  new DataView(frame.buffer).setUint32(0, size, false);
  let at = FRAME_HEADER_BYTES;
  for (const part of parts) {
    frame.set(part, at);
    at += part.length;
  }
  return ok(frame);
}

/**
 * Streaming decoder: feed it chunks exactly as they came off the socket, get back whole frames.
 * Every returned payload is a fresh copy owned by the caller. After an error the decoder stays
 * failed (the byte stream is out of sync; the only safe move is to drop the connection).
 */
export class FrameDecoder {
  readonly maxFrameBytes: number;
  readonly #header = new Uint8Array(FRAME_HEADER_BYTES);
  #headerFilled = 0;
  /** The payload being assembled, allocated only after its declared length passed the check. */
  #payload: Uint8Array | null = null;
  #payloadFilled = 0;
  #failure: FrameError | null = null;

  constructor(maxFrameBytes: number) {
    checkLimit(maxFrameBytes);
    this.maxFrameBytes = maxFrameBytes;
  }

  /** Bytes held for the frame in progress (prefix and payload buffer): at most maxFrameBytes + 4. */
  get bufferedBytes(): number {
    return FRAME_HEADER_BYTES + (this.#payload === null ? 0 : this.#payload.length);
  }

  get failed(): boolean {
    return this.#failure !== null;
  }

  push(chunk: Uint8Array): Result<Uint8Array[], FrameError> {
    if (this.#failure !== null) return err({ code: 'failed', cause: this.#failure });
    const frames: Uint8Array[] = [];
    let at = 0;
    while (at < chunk.length) {
      if (this.#payload === null) {
        const take = Math.min(FRAME_HEADER_BYTES - this.#headerFilled, chunk.length - at);
        this.#header.set(chunk.subarray(at, at + take), this.#headerFilled);
        this.#headerFilled += take;
        at += take;
        if (this.#headerFilled < FRAME_HEADER_BYTES) break;
        const h = this.#header;
        const size = ((h[0]! << 24) | (h[1]! << 16) | (h[2]! << 8) | h[3]!) >>> 0;
        if (size > this.maxFrameBytes) {
          const failure: FrameError = { code: 'too-large', sizeBytes: size, maxBytes: this.maxFrameBytes };
          this.#failure = failure;
          this.#headerFilled = 0;
          return err(failure);
        }
        if (size === 0) {
          // Complete already; handled here because the chunk may end right after the prefix.
          frames.push(new Uint8Array(0));
          this.#headerFilled = 0;
          continue;
        }
        this.#payload = new Uint8Array(size);
        this.#payloadFilled = 0;
      }
      const payload = this.#payload;
      const take = Math.min(payload.length - this.#payloadFilled, chunk.length - at);
      payload.set(chunk.subarray(at, at + take), this.#payloadFilled);
      this.#payloadFilled += take;
      at += take;
      if (this.#payloadFilled === payload.length) {
        frames.push(payload);
        this.#payload = null;
        this.#headerFilled = 0;
      }
    }
    return ok(frames);
  }
}
