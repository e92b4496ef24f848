// Typed, versioned messages on the wire (DESIGN.md, wire/). Every message travels in an
// envelope [protocolVersion, type, body] encoded with msgpack. Decoding treats its input as
// hostile: it never throws, checks the size before parsing, rejects unknown versions and types,
// and validates the body against the message's schema before anyone sees it.
import { Packr } from 'msgpackr';
import type { Static, TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { err, ok, type Result } from '../core/result.ts';

/** The protocol version this build speaks. Bump it when a message changes incompatibly. */
export const PROTOCOL_VERSION = 1;

export type DecodeError =
  | { readonly code: 'too-large'; readonly sizeBytes: number; readonly maxBytes: number }
  | { readonly code: 'malformed'; readonly detail: string }
  | { readonly code: 'unsupported-version'; readonly version: number; readonly minVersion: number; readonly maxVersion: number }
  | { readonly code: 'unknown-type'; readonly type: string }
  | { readonly code: 'invalid-body'; readonly type: string; readonly path: string; readonly detail: string };

export type EncodeError = { readonly code: 'too-large'; readonly sizeBytes: number; readonly maxBytes: number };

/** A registry of message types: type name -> typebox schema of its body. */
export type MessageSchemas = Readonly<Record<string, TSchema>>;

/** The discriminated union of every message of a registry. */
export type MessageOf<M extends MessageSchemas> = {
  [K in keyof M & string]: { readonly type: K; readonly body: Static<M[K]> };
}[keyof M & string];

export interface CodecOptions {
  /** Hard limit on an encoded message (envelope included), checked before parsing. */
  readonly maxMessageBytes: number;
  /** Oldest peer protocol version still accepted (mixed versions coexist during upgrades). */
  readonly minVersion?: number;
  /** Version written into envelopes; defaults to PROTOCOL_VERSION. */
  readonly version?: number;
}

export function describeDecodeError(e: DecodeError): string {
  switch (e.code) {
    case 'too-large':
      return `message of ${e.sizeBytes} bytes exceeds the limit of ${e.maxBytes} bytes`;
    case 'malformed':
      return `malformed message: ${e.detail}`;
    case 'unsupported-version':
      return `protocol version ${e.version} is not supported (this node speaks ${e.minVersion}..${e.maxVersion})`;
    case 'unknown-type':
      return `unknown message type ${JSON.stringify(e.type)}`;
    case 'invalid-body':
      return `invalid ${e.type} message at ${e.path || '/'}: ${e.detail}`;
  }
}

export class MessageCodec<M extends MessageSchemas> {
  readonly maxMessageBytes: number;
  readonly version: number;
  readonly minVersion: number;
  readonly #checks: ReadonlyMap<string, TypeCheck<TSchema>>;
  // Records and structured extensions off: only plain msgpack values cross the wire, so a
  // peer cannot make us build class instances, Maps or records from its bytes.
  readonly #packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false, int64AsType: 'number' });

  constructor(schemas: M, options: CodecOptions) {
    this.maxMessageBytes = options.maxMessageBytes;
    this.version = options.version ?? PROTOCOL_VERSION;
    this.minVersion = options.minVersion ?? this.version;
    if (!(this.minVersion <= this.version)) throw new Error('assertion failed: minVersion must be <= version');
    this.#checks = new Map(Object.entries(schemas).map(([type, schema]) => [type, TypeCompiler.Compile(schema)]));
  }

  /** Message type names known to this codec. */
  types(): string[] {
    return [...this.#checks.keys()];
  }

  encode(message: MessageOf<M>): Result<Uint8Array, EncodeError> {
    if (!this.#checks.has(message.type)) throw new Error(`assertion failed: encode of unregistered message type ${message.type}`);
    // Copy out of msgpackr's shared scratch buffer: callers queue and retain encoded messages.
    const bytes = Uint8Array.from(this.#packr.pack([this.version, message.type, message.body]));
    if (bytes.byteLength > this.maxMessageBytes) {
      return err({ code: 'too-large', sizeBytes: bytes.byteLength, maxBytes: this.maxMessageBytes });
    }
    return ok(bytes);
  }

  decode(bytes: Uint8Array): Result<MessageOf<M>, DecodeError> {
    if (bytes.byteLength > this.maxMessageBytes) {
      return err({ code: 'too-large', sizeBytes: bytes.byteLength, maxBytes: this.maxMessageBytes });
    }
    let value: unknown;
    try {
      value = this.#packr.unpack(bytes);
    } catch (e) {
      return err({ code: 'malformed', detail: e instanceof Error ? e.message : String(e) });
    }
    if (!Array.isArray(value) || value.length !== 3) {
      return err({ code: 'malformed', detail: 'envelope is not [version, type, body]' });
    }
    const [version, type, body] = value as [unknown, unknown, unknown];
    if (typeof version !== 'number' || !Number.isInteger(version)) {
      return err({ code: 'malformed', detail: 'envelope version is not an integer' });
    }
    if (version < this.minVersion || version > this.version) {
      return err({ code: 'unsupported-version', version, minVersion: this.minVersion, maxVersion: this.version });
    }
    if (typeof type !== 'string') return err({ code: 'malformed', detail: 'envelope type is not a string' });
    const check = this.#checks.get(type);
    if (check === undefined) return err({ code: 'unknown-type', type: type.slice(0, 64) });
    if (!check.Check(body)) {
      const first = check.Errors(body).First();
      return err({ code: 'invalid-body', type, path: first?.path ?? '', detail: first?.message ?? 'does not match its schema' });
    }
    return ok({ type, body } as MessageOf<M>);
  }
}
