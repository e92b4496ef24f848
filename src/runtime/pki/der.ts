// The few DER (ITU-T X.690) encodings an X.509 certificate needs. Certificates are written by
// src/runtime/pki/certificates.ts and read back by node:crypto's X509Certificate, so only the
// encoder lives here: every certificate we make is parsed by OpenSSL in the tests.
import { assert } from '../../core/result.ts';

export type Der = Uint8Array;

export const TAG = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  oid: 0x06,
  utf8String: 0x0c,
  sequence: 0x30,
  set: 0x31,
  utcTime: 0x17,
  generalizedTime: 0x18,
} as const;

/** Tag-length-value with the definite length form DER requires. */
export function tlv(tag: number, content: Uint8Array): Der {
  const n = content.length;
  let header: number[];
  if (n < 0x80) header = [tag, n];
  else {
    const lengthBytes: number[] = [];
    for (let rest = n; rest > 0; rest = Math.floor(rest / 256)) lengthBytes.unshift(rest % 256);
    header = [tag, 0x80 | lengthBytes.length, ...lengthBytes];
  }
  const out = new Uint8Array(header.length + n);
  out.set(header, 0);
  out.set(content, header.length);
  return out;
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export const sequence = (...items: readonly Der[]): Der => tlv(TAG.sequence, concat(items));
export const set = (...items: readonly Der[]): Der => tlv(TAG.set, concat(items));
export const boolean = (value: boolean): Der => tlv(TAG.boolean, Uint8Array.of(value ? 0xff : 0x00));
export const octetString = (bytes: Uint8Array): Der => tlv(TAG.octetString, bytes);
export const utf8String = (text: string): Der => tlv(TAG.utf8String, new TextEncoder().encode(text));
/** Context-specific tag: [n] EXPLICIT wraps an encoding, [n] IMPLICIT replaces a primitive's tag. */
export const explicit = (n: number, inner: Der): Der => tlv(0xa0 | n, inner);
export const implicitPrimitive = (n: number, content: Uint8Array): Der => tlv(0x80 | n, content);

/** A non-negative INTEGER from big-endian magnitude bytes (minimal, with a sign byte if needed). */
export function unsignedInteger(magnitude: Uint8Array): Der {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const trimmed = magnitude.subarray(start);
  const needsPad = trimmed.length === 0 || (trimmed[0]! & 0x80) !== 0;
  return tlv(TAG.integer, needsPad ? concat([Uint8Array.of(0), trimmed]) : trimmed);
}

export function smallInteger(value: number): Der {
  assert(Number.isSafeInteger(value) && value >= 0 && value < 2 ** 31, `small DER integers are 0..2^31-1, got ${value}`);
  const bytes: number[] = [];
  for (let rest = value; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return unsignedInteger(Uint8Array.from(bytes.length === 0 ? [0] : bytes));
}

/** BIT STRING with `unusedBits` unused low bits in the last byte. */
export function bitString(bytes: Uint8Array, unusedBits = 0): Der {
  assert(unusedBits >= 0 && unusedBits < 8, 'unused bits are 0..7');
  return tlv(TAG.bitString, concat([Uint8Array.of(unusedBits), bytes]));
}

/** OBJECT IDENTIFIER from dotted text ("2.5.4.3"). */
export function oid(dotted: string): Der {
  const arcs = dotted.split('.').map(Number);
  assert(/^\d+(\.\d+)+$/.test(dotted) && arcs.every((a) => Number.isSafeInteger(a)), `bad OID ${dotted}`);
  // X.660: the first arc is 0, 1 or 2; under 0 and 1 the second is below 40.
  assert(arcs[0]! <= 2 && (arcs[0] === 2 || arcs[1]! < 40), `bad OID ${dotted}`);
  // X.690 8.19.4: the first two arcs make one subidentifier (X*40+Y), base 128 like the rest:
  // under arc 2 it can exceed 127 (2.999 is 0x88 0x37).
  const bytes: number[] = [];
  for (const arc of [arcs[0]! * 40 + arcs[1]!, ...arcs.slice(2)]) {
    const chunk: number[] = [arc & 0x7f];
    for (let rest = Math.floor(arc / 128); rest > 0; rest = Math.floor(rest / 128)) chunk.unshift((rest & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return tlv(TAG.oid, Uint8Array.from(bytes));
}

/**
 * X.509 Time (RFC 5280, 4.1.2.5): UTCTime for 1950 through 2049, GeneralizedTime otherwise
 * (a two-digit year below 50 reads as 20YY, so 1949 must not be written as UTCTime).
 */
export function time(date: Date): Der {
  const pad = (n: number, width = 2): string => String(n).padStart(width, '0');
  const rest = `${pad(date.getUTCMonth() + 1)}${pad(date.getUTCDate())}${pad(date.getUTCHours())}${pad(date.getUTCMinutes())}${pad(date.getUTCSeconds())}Z`;
  const year = date.getUTCFullYear();
  return year >= 1950 && year < 2050
    ? tlv(TAG.utcTime, new TextEncoder().encode(`${pad(year % 100)}${rest}`))
    : tlv(TAG.generalizedTime, new TextEncoder().encode(`${pad(year, 4)}${rest}`));
}
