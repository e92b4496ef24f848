// The DER encoder (src/runtime/pki/der.ts) against byte strings worked out by hand from X.690,
// plus property tests against a naive decoder for lengths and OIDs.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  bitString,
  boolean,
  concat,
  explicit,
  implicitPrimitive,
  octetString,
  oid,
  sequence,
  set,
  smallInteger,
  TAG,
  time,
  tlv,
  unsignedInteger,
  utf8String,
} from '../../../src/runtime/pki/der.ts';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const ascii = (s: string): string => Buffer.from(s, 'latin1').toString('hex');

/** Header of a TLV: tag, the content length it declares, and the header's own size. */
function readHeader(der: Uint8Array): { tag: number; length: number; headerBytes: number } {
  const tag = der[0]!;
  const first = der[1]!;
  if (first < 0x80) return { tag, length: first, headerBytes: 2 };
  const count = first & 0x7f;
  assert.ok(count >= 1 && count <= 4, `length of length ${count}`);
  // DER (X.690 10.1): the long form only when needed, with no leading zero byte.
  assert.notEqual(der[2], 0, 'long-form length has a leading zero');
  let length = 0;
  for (let i = 0; i < count; i++) length = length * 256 + der[2 + i]!;
  assert.ok(length >= 0x80, 'long form used for a length below 128');
  return { tag, length, headerBytes: 2 + count };
}

/** Dotted text of an OID's content octets (a naive reading of X.690 8.19, in BigInt). */
function decodeOid(der: Uint8Array): string {
  const { tag, length, headerBytes } = readHeader(der);
  assert.equal(tag, TAG.oid);
  const content = der.subarray(headerBytes, headerBytes + length);
  const subs: bigint[] = [];
  let acc = 0n;
  let fresh = true;
  for (const b of content) {
    if (fresh) assert.notEqual(b, 0x80, 'subidentifier with a leading 0x80 is not minimal');
    acc = acc * 128n + BigInt(b & 0x7f);
    fresh = (b & 0x80) === 0;
    if (fresh) {
      subs.push(acc);
      acc = 0n;
    }
  }
  assert.ok(fresh, 'the last subidentifier is unfinished');
  const first = subs[0]!;
  const head = first < 40n ? [0n, first] : first < 80n ? [1n, first - 40n] : [2n, first - 80n];
  return [...head, ...subs.slice(1)].join('.');
}

describe('tlv lengths', () => {
  const cases: Array<[number, string]> = [
    [0, '0400'],
    [1, '0401'],
    [127, '047f'],
    [128, '048180'],
    [255, '0481ff'],
    [256, '04820100'],
    [65_535, '0482ffff'],
    [65_536, '0483010000'],
  ];
  for (const [n, header] of cases) {
    it(`content of ${n} bytes has header ${header}`, () => {
      const content = new Uint8Array(n).fill(0xab);
      const der = tlv(TAG.octetString, content);
      assert.equal(hex(der.subarray(0, header.length / 2)), header);
      assert.equal(der.length, header.length / 2 + n);
      assert.deepEqual(der.subarray(header.length / 2), content);
    });
  }

  it('any length reads back from a minimal header (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 70_000 }), fc.integer({ min: 0, max: 255 }), (n, tag) => {
        const der = tlv(tag, new Uint8Array(n));
        const h = readHeader(der);
        assert.deepEqual([h.tag, h.length, der.length], [tag, n, h.headerBytes + n]);
      }),
      { numRuns: 200 },
    );
  });
});

describe('primitive encodings', () => {
  it('booleans are 0xff and 0x00', () => {
    assert.equal(hex(boolean(true)), '0101ff');
    assert.equal(hex(boolean(false)), '010100');
  });

  it('non-negative integers are minimal, with a 0x00 sign byte when the top bit is set', () => {
    assert.equal(hex(unsignedInteger(Uint8Array.of())), '020100');
    assert.equal(hex(unsignedInteger(Uint8Array.of(0, 0, 0))), '020100');
    assert.equal(hex(unsignedInteger(Uint8Array.of(0x7f))), '02017f');
    assert.equal(hex(unsignedInteger(Uint8Array.of(0x80))), '02020080');
    assert.equal(hex(unsignedInteger(Uint8Array.of(0xff, 0x01))), '020300ff01');
    // Leading zeros go, but one stays when the next byte would read as negative.
    assert.equal(hex(unsignedInteger(Uint8Array.of(0, 0, 0x7f, 0x01))), '02027f01');
    assert.equal(hex(unsignedInteger(Uint8Array.of(0, 0, 0x80, 0x01))), '0203008001');
    // A 16-byte serial with its top bit set: 17 content bytes.
    const serial = new Uint8Array(16).fill(0xee);
    assert.equal(hex(unsignedInteger(serial)), `021100${'ee'.repeat(16)}`);
  });

  it('small integers: 0, 127, 128, 256, 2^31-1; out of range is a programmer error', () => {
    assert.equal(hex(smallInteger(0)), '020100');
    assert.equal(hex(smallInteger(2)), '020102');
    assert.equal(hex(smallInteger(127)), '02017f');
    assert.equal(hex(smallInteger(128)), '02020080');
    assert.equal(hex(smallInteger(256)), '02020100');
    assert.equal(hex(smallInteger(65_535)), '020300ffff');
    assert.equal(hex(smallInteger(2 ** 31 - 1)), '02047fffffff');
    assert.throws(() => smallInteger(2 ** 31));
    assert.throws(() => smallInteger(-1));
    assert.throws(() => smallInteger(1.5));
  });

  it('bit strings carry their unused-bit count first', () => {
    assert.equal(hex(bitString(Uint8Array.of(0x86), 1)), '03020186');
    assert.equal(hex(bitString(Uint8Array.of(0x80), 7)), '03020780');
    assert.equal(hex(bitString(Uint8Array.of(1, 2))), '0303000102');
    assert.throws(() => bitString(Uint8Array.of(0), 8));
    assert.throws(() => bitString(Uint8Array.of(0), -1));
  });

  it('octet and UTF-8 strings', () => {
    assert.equal(hex(octetString(Uint8Array.of(1, 2, 3))), '0403010203');
    assert.equal(hex(utf8String('CN')), '0c02434e');
    assert.equal(hex(utf8String('é')), '0c02c3a9');
    assert.equal(hex(utf8String('')), '0c00');
  });

  it('constructed and context-specific tags', () => {
    assert.equal(hex(sequence()), '3000');
    assert.equal(hex(sequence(boolean(true), smallInteger(0))), '30060101ff020100');
    assert.equal(hex(set(utf8String('a'))), '31030c0161');
    assert.equal(hex(explicit(0, smallInteger(2))), 'a003020102');
    assert.equal(hex(explicit(3, sequence())), 'a3023000');
    assert.equal(hex(implicitPrimitive(6, new TextEncoder().encode('urn'))), '860375726e');
    assert.equal(hex(implicitPrimitive(0, Uint8Array.of(0xaa))), '8001aa');
  });

  it('concat joins in order', () => {
    assert.equal(hex(concat([Uint8Array.of(1), Uint8Array.of(), Uint8Array.of(2, 3)])), '010203');
    assert.equal(concat([]).length, 0);
  });
});

describe('object identifiers', () => {
  const known: Array<[string, string]> = [
    ['2.5.4.3', '0603550403'],
    ['2.5.29.17', '0603551d11'],
    ['1.2.840.10045.2.1', '06072a8648ce3d0201'],
    ['1.2.840.10045.3.1.7', '06082a8648ce3d030107'],
    ['1.2.840.10045.4.3.2', '06082a8648ce3d040302'],
    ['1.3.6.1.5.5.7.3.1', '06082b06010505070301'],
    ['1.3.6.1.5.5.7.3.2', '06082b06010505070302'],
    ['1.2.840.113549.1.1.11', '06092a864886f70d01010b'],
    // Arc boundaries of the base-128 form: 127, 128, 16383, 16384.
    ['1.2.127', '06022a7f'],
    ['1.2.128', '06032a8100'],
    ['1.2.16383', '06032aff7f'],
    ['1.2.16384', '06042a818000'],
    // X.690 8.19.5's example: the first subidentifier itself takes two bytes.
    ['2.999.3', '0603883703'],
    ['2.47', '06017f'],
    ['2.48', '06028100'],
    ['0.0', '060100'],
  ];
  for (const [dotted, expected] of known) {
    it(`${dotted} is ${expected}`, () => {
      assert.equal(hex(oid(dotted)), expected);
    });
  }

  it('reads back through a naive decoder, arcs up to 2^53 (property)', () => {
    const arc = fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 2 ** 32 + 5 }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }));
    const dotted = fc.oneof(
      fc.tuple(fc.constantFrom(0, 1), fc.integer({ min: 0, max: 39 })),
      fc.tuple(fc.constant(2), fc.integer({ min: 0, max: 100_000 })),
    ).chain(([a, b]) => fc.array(arc, { maxLength: 6 }).map((rest) => [a, b, ...rest].join('.')));
    fc.assert(
      fc.property(dotted, (text) => {
        assert.equal(decodeOid(oid(text)), text);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses malformed dotted text (programmer error)', () => {
    for (const bad of ['', '1', '1.', '.1.2', '1..2', '1.2.-3', '1.2.x', '1.2.1e3', '1.2.0x10', ' 1.2', '3.1', '0.40', '1.40', '1.2.99999999999999999999']) {
      assert.throws(() => oid(bad), /bad OID/, bad);
    }
  });
});

describe('X.509 time', () => {
  const cases: Array<[string, number, string]> = [
    ['1950-01-01T00:00:00Z', TAG.utcTime, '500101000000Z'],
    ['1999-12-31T23:59:59Z', TAG.utcTime, '991231235959Z'],
    ['2000-01-01T00:00:00Z', TAG.utcTime, '000101000000Z'],
    ['2026-03-04T05:06:07.890Z', TAG.utcTime, '260304050607Z'],
    ['2049-12-31T23:59:59.999Z', TAG.utcTime, '491231235959Z'],
    ['2050-01-01T00:00:00Z', TAG.generalizedTime, '20500101000000Z'],
    ['2136-02-29T12:00:00Z', TAG.generalizedTime, '21360229120000Z'],
    // Before 1950 a two-digit year would read as 20YY (RFC 5280 4.1.2.5.1).
    ['1949-12-31T23:59:59Z', TAG.generalizedTime, '19491231235959Z'],
    ['0999-01-02T03:04:05Z', TAG.generalizedTime, '09990102030405Z'],
  ];
  for (const [iso, tag, text] of cases) {
    it(`${iso} is ${tag === TAG.utcTime ? 'UTCTime' : 'GeneralizedTime'} ${text}`, () => {
      const der = time(new Date(iso));
      assert.equal(hex(der), `${tag.toString(16)}${text.length.toString(16).padStart(2, '0')}${ascii(text)}`);
    });
  }
});
