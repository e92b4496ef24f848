import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isIPv6 } from 'node:net';
import fc from 'fast-check';
import {
  checkName,
  decodeDnsHeader,
  decodeDnsMessage,
  DNS_CLASS,
  DNS_TYPE,
  encodeDnsMessage,
  formatIpv4,
  formatIpv6,
  formatName,
  lowerAscii,
  MAX_NAME_BYTES,
  parseIpv4,
  parseIpv6,
  type DnsDecodeErrorCode,
  type DnsEdns,
  type DnsHeader,
  type DnsMessage,
  type DnsName,
  type DnsRecord,
  type DnsRecordData,
} from '../../src/wire/dns.ts';

const ERROR_CODES: ReadonlySet<DnsDecodeErrorCode> = new Set(['short-header', 'truncated', 'bad-pointer', 'label-too-long', 'name-too-long', 'bad-rdata', 'bad-opt', 'trailing-bytes']);

// --- arbitraries -------------------------------------------------------------------------------

/** Labels of any byte values (dots, zero bytes and upper case included). */
const labelArb = fc.oneof(
  { weight: 3, arbitrary: fc.stringMatching(/^[a-zA-Z0-9_-]{1,12}$/) },
  { weight: 1, arbitrary: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 63 }).map((b) => String.fromCharCode(...b)) },
);
/** A small pool of suffixes makes compression kick in often. */
const nameArb: fc.Arbitrary<DnsName> = fc
  .tuple(fc.array(labelArb, { maxLength: 3 }), fc.constantFrom<DnsName>([], ['sappers'], ['service', 'sappers'], ['node', 'sappers'], ['Example', 'ORG']))
  .map(([head, tail]) => [...head, ...tail])
  .filter((n) => checkName(n).ok);

/** Plain objects, like the decoder's (fast-check's records have a null prototype by default). */
function record<T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> {
  return fc.record(model, { noNullPrototype: true }) as fc.Arbitrary<T>;
}

const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const SHAPED = new Set<number>([DNS_TYPE.A, DNS_TYPE.AAAA, DNS_TYPE.SRV, DNS_TYPE.SOA, DNS_TYPE.OPT]);

const dataArb: fc.Arbitrary<DnsRecordData> = fc.oneof(
  fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => ({ type: 'A' as const, address: formatIpv4(b) })),
  fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => ({ type: 'AAAA' as const, address: formatIpv6(b) })),
  record({ type: fc.constant('SRV' as const), priority: u16, weight: u16, port: u16, target: nameArb }),
  record({ type: fc.constant('SOA' as const), mname: nameArb, rname: nameArb, serial: u32, refresh: u32, retry: u32, expire: u32, minimum: u32 }),
  record({ type: fc.constant('other' as const), code: u16.filter((c) => !SHAPED.has(c)), bytes: fc.uint8Array({ maxLength: 40 }) }),
);
const recordArb: fc.Arbitrary<DnsRecord> = record({ name: nameArb, class: u16, ttl: u32, data: dataArb });
const headerArb: fc.Arbitrary<DnsHeader> = record({
  id: u16,
  qr: fc.boolean(),
  opcode: fc.integer({ min: 0, max: 15 }),
  aa: fc.boolean(),
  tc: fc.boolean(),
  rd: fc.boolean(),
  ra: fc.boolean(),
  z: fc.integer({ min: 0, max: 7 }),
  rcode: fc.integer({ min: 0, max: 15 }),
});
const ednsArb: fc.Arbitrary<DnsEdns> = record({
  udpPayloadBytes: u16,
  extendedRcode: fc.integer({ min: 0, max: 255 }),
  version: fc.integer({ min: 0, max: 255 }),
  dnssecOk: fc.boolean(),
  z: fc.integer({ min: 0, max: 0x7fff }),
  options: fc.array(record({ code: u16, data: fc.uint8Array({ maxLength: 20 }) }), { maxLength: 3 }),
});
const messageArb: fc.Arbitrary<DnsMessage> = record({
  header: headerArb,
  questions: fc.array(record({ name: nameArb, type: u16, class: u16 }), { maxLength: 3 }),
  answers: fc.array(recordArb, { maxLength: 8 }),
  authorities: fc.array(recordArb, { maxLength: 3 }),
  additionals: fc.array(recordArb, { maxLength: 4 }),
  edns: fc.option(ednsArb, { nil: null }),
});

function encode(message: DnsMessage, maxBytes?: number): Uint8Array {
  const r = encodeDnsMessage(message, maxBytes === undefined ? {} : { maxBytes });
  assert.ok(r.ok);
  return r.value.bytes;
}

function query(name: DnsName, type: number = DNS_TYPE.A): DnsMessage {
  return {
    header: { id: 0x1234, qr: false, opcode: 0, aa: false, tc: false, rd: true, ra: false, z: 0, rcode: 0 },
    questions: [{ name, type, class: DNS_CLASS.IN }],
    answers: [],
    authorities: [],
    additionals: [],
    edns: null,
  };
}

function errorCode(bytes: Uint8Array): DnsDecodeErrorCode | 'ok' {
  const r = decodeDnsMessage(bytes);
  return r.ok ? 'ok' : r.error.code;
}

/** A header announcing the given counts, then body bytes. */
function raw(counts: readonly [number, number, number, number], body: readonly number[]): Uint8Array {
  return Uint8Array.from([0xab, 0xcd, 0x01, 0x00, ...counts.flatMap((c) => [c >> 8, c & 0xff]), ...body]);
}

// --- tests -------------------------------------------------------------------------------------

describe('DNS codec round trips', () => {
  it('decode(encode(m)) equals m for any message that fits', () => {
    fc.assert(
      fc.property(messageArb, (m) => {
        const encoded = encodeDnsMessage(m);
        assert.ok(encoded.ok);
        assert.equal(encoded.value.truncated, false);
        const decoded = decodeDnsMessage(encoded.value.bytes);
        assert.ok(decoded.ok, JSON.stringify(decoded));
        assert.deepStrictEqual(decoded.value, m);
      }),
      { numRuns: 300 },
    );
  });

  it('a known query encodes to the exact RFC 1035 bytes', () => {
    const bytes = encode(query(['web', 'service', 'sappers']));
    assert.deepEqual(
      bytes,
      Uint8Array.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 3, ...Buffer.from('web'), 7, ...Buffer.from('service'), 7, ...Buffer.from('sappers'), 0, 0, 1, 0, 1]),
    );
  });

  it('compresses repeated names with pointers, but never an SRV target (RFC 2782)', () => {
    const name = ['web', 'service', 'sappers'];
    const target = ['n1', 'node', 'sappers'];
    const m: DnsMessage = {
      ...query(name, DNS_TYPE.SRV),
      header: { ...query(name).header, qr: true },
      answers: [{ name, class: 1, ttl: 0, data: { type: 'SRV', priority: 1, weight: 1, port: 80, target } }],
      additionals: [{ name: target, class: 1, ttl: 0, data: { type: 'A', address: '10.0.0.1' } }],
    };
    const bytes = encode(m);
    const questionEnd = 12 + 21 + 4;
    // The answer's owner is a pointer to the question's name at offset 12.
    assert.deepEqual([...bytes.subarray(questionEnd, questionEnd + 2)], [0xc0, 12]);
    // RDLENGTH = 6 + the full, uncompressed target (1+2 + 1+4 + 1+7 + 1).
    const rdLengthAt = questionEnd + 2 + 8;
    assert.equal((bytes[rdLengthAt]! << 8) | bytes[rdLengthAt + 1]!, 6 + 17);
    // The additional record's owner points into the SRV target, which was written in full.
    const decoded = decodeDnsMessage(bytes);
    assert.ok(decoded.ok);
    assert.deepStrictEqual(decoded.value, m);
    const plain = encode({ ...m, additionals: [] });
    assert.equal(bytes.length - plain.length, 2 + 10 + 4, 'the additional record costs a pointer, not a name');
  });

  it('ASCII case survives: compression is case-sensitive so every name reads back as written', () => {
    const m: DnsMessage = { ...query(['WeB', 'service', 'sappers']), answers: [{ name: ['web', 'service', 'sappers'], class: 1, ttl: 5, data: { type: 'A', address: '1.2.3.4' } }] };
    const decoded = decodeDnsMessage(encode(m));
    assert.ok(decoded.ok);
    assert.deepEqual(decoded.value.answers[0]!.name, ['web', 'service', 'sappers']);
    assert.deepEqual(decoded.value.questions[0]!.name, ['WeB', 'service', 'sappers']);
  });
});

describe('DNS codec truncation', () => {
  const name = ['big', 'service', 'sappers'];
  const answers: DnsRecord[] = Array.from({ length: 100 }, (_, i) => ({ name, class: 1, ttl: 0, data: { type: 'A', address: `10.0.0.${i}` } }));
  const edns: DnsEdns = { udpPayloadBytes: 1232, extendedRcode: 0, version: 0, dnssecOk: false, z: 0, options: [] };

  it('fits 512 bytes by leaving answers out and setting TC; the OPT record is kept', () => {
    const r = encodeDnsMessage({ ...query(name), answers, edns }, { maxBytes: 512 });
    assert.ok(r.ok);
    assert.equal(r.value.truncated, true);
    assert.ok(r.value.bytes.length <= 512);
    const decoded = decodeDnsMessage(r.value.bytes);
    assert.ok(decoded.ok);
    assert.equal(decoded.value.header.tc, true);
    assert.equal(decoded.value.answers.length, r.value.written.answers);
    assert.deepStrictEqual(decoded.value.answers, answers.slice(0, r.value.written.answers));
    assert.deepStrictEqual(decoded.value.edns, edns);
    // 12 header + 25 question + 11 OPT, then 16 bytes per compressed A record.
    assert.equal(r.value.written.answers, Math.floor((512 - 12 - 25 - 11) / 16));
  });

  it('additional records that do not fit are dropped without TC (RFC 2181 §9)', () => {
    const r = encodeDnsMessage({ ...query(name), answers: answers.slice(0, 5), additionals: answers }, { maxBytes: 512 });
    assert.ok(r.ok);
    assert.equal(r.value.truncated, false);
    assert.equal(r.value.written.answers, 5);
    assert.ok(r.value.written.additionals < answers.length);
    const decoded = decodeDnsMessage(r.value.bytes);
    assert.ok(decoded.ok);
    assert.equal(decoded.value.header.tc, false);
  });

  it('any message cut to any budget stays within it, decodes, and keeps a prefix of each section', () => {
    fc.assert(
      fc.property(messageArb, fc.integer({ min: 512, max: 1500 }), (m, maxBytes) => {
        const r = encodeDnsMessage(m, { maxBytes });
        if (!r.ok) {
          assert.equal(r.error.code, 'too-large');
          return;
        }
        assert.ok(r.value.bytes.length <= maxBytes);
        const d = decodeDnsMessage(r.value.bytes);
        assert.ok(d.ok);
        assert.deepStrictEqual(d.value.answers, m.answers.slice(0, d.value.answers.length));
        assert.deepStrictEqual(d.value.authorities, m.authorities.slice(0, d.value.authorities.length));
        assert.deepStrictEqual(d.value.additionals, m.additionals.slice(0, d.value.additionals.length));
        assert.deepStrictEqual(d.value.edns, m.edns);
        assert.equal(d.value.header.tc, m.header.tc || r.value.truncated);
        if (r.value.truncated) assert.ok(d.value.answers.length < m.answers.length || d.value.authorities.length < m.authorities.length);
      }),
      { numRuns: 200 },
    );
  });

  it('refuses with a typed error when even the questions do not fit', () => {
    const long = Array.from({ length: 4 }, () => 'x'.repeat(60));
    // Three 245-byte names with nothing in common: compression cannot help.
    const names = [0, 1, 2].map((i) => long.map((l) => `${i}${l.slice(1)}`));
    const m: DnsMessage = { ...query(long), questions: names.map((name) => ({ name, type: 1, class: 1 })) };
    const r = encodeDnsMessage(m, { maxBytes: 512 });
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.error.code, 'too-large');
  });

  it('asserts on programmer errors: bad names, addresses, budgets', () => {
    assert.throws(() => encodeDnsMessage(query(['x'.repeat(64)])), /assertion failed/);
    assert.throws(() => encodeDnsMessage(query(['a', '', 'b'])), /assertion failed/);
    assert.throws(() => encodeDnsMessage({ ...query(['a']), answers: [{ name: ['a'], class: 1, ttl: 0, data: { type: 'A', address: '::1' } }] }), /assertion failed/);
    assert.throws(() => encodeDnsMessage({ ...query(['a']), answers: [{ name: ['a'], class: 1, ttl: 0, data: { type: 'other', code: 1, bytes: new Uint8Array(4) } }] }), /assertion failed/);
    assert.throws(() => encodeDnsMessage(query(['a']), { maxBytes: 511 }), /assertion failed/);
  });
});

describe('DNS decoder on malformed input', () => {
  it('never throws on arbitrary bytes: a valid parse or a typed error, with the header when there is one', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        const r = decodeDnsMessage(bytes);
        if (r.ok) return;
        assert.ok(ERROR_CODES.has(r.error.code));
        assert.ok(r.error.offset >= 0 && r.error.offset <= bytes.length);
        assert.equal(r.error.header === null, bytes.length < 12);
        assert.equal(r.error.code === 'short-header', bytes.length < 12);
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws on valid messages with bytes flipped, cut short or appended', () => {
    fc.assert(
      fc.property(
        messageArb,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
        fc.nat(),
        fc.boolean(),
        (m, flips, cut, doCut) => {
          const bytes = encode(m).slice();
          for (const [at, v] of flips) bytes[at % bytes.length] = v;
          const input = doCut ? bytes.subarray(0, cut % (bytes.length + 1)) : bytes;
          const r = decodeDnsMessage(input);
          if (!r.ok) assert.ok(ERROR_CODES.has(r.error.code));
          else {
            // Whatever parsed must encode again (every name in it is valid).
            for (const n of [...r.value.questions.map((q) => q.name), ...r.value.answers.map((a) => a.name)]) assert.ok(checkName(n).ok);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('truncated header: fewer than 12 bytes, no header to answer', () => {
    for (let n = 0; n < 12; n++) {
      const r = decodeDnsMessage(new Uint8Array(n));
      assert.deepEqual(r, { ok: false, error: { code: 'short-header', offset: 0, header: null } });
      assert.equal(decodeDnsHeader(new Uint8Array(n)), null);
    }
    assert.equal(decodeDnsHeader(raw([0, 0, 0, 0], []))?.id, 0xabcd);
  });

  it('a count that promises more than is there is truncated', () => {
    assert.equal(errorCode(raw([1, 0, 0, 0], [])), 'truncated');
    assert.equal(errorCode(raw([1, 0, 0, 0], [3, 0x61, 0x62])), 'truncated');
    assert.equal(errorCode(raw([1, 0, 0, 0], [0, 0, 1])), 'truncated'); // question type/class cut
    assert.equal(errorCode(raw([0, 1, 0, 0], [0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 9, 1, 2])), 'truncated'); // rdata cut
    assert.equal(errorCode(raw([0, 0, 0, 0], [])), 'ok');
  });

  it('pointer loops are impossible: a pointer must point before its own run of labels', () => {
    assert.equal(errorCode(raw([1, 0, 0, 0], [0xc0, 12, 0, 1, 0, 1])), 'bad-pointer'); // to itself
    assert.equal(errorCode(raw([1, 0, 0, 0], [1, 0x61, 0xc0, 12, 0, 1, 0, 1])), 'bad-pointer'); // to its own label
    assert.equal(errorCode(raw([1, 0, 0, 0], [0xc0, 14, 0, 1, 0, 1, 0])), 'bad-pointer'); // forward
    assert.equal(errorCode(raw([1, 0, 0, 0], [0xff, 0xff, 0, 1, 0, 1])), 'bad-pointer'); // far out of the message
    // Two names pointing at each other: the second is fine (backwards), the first forward one is not.
    assert.equal(errorCode(raw([2, 0, 0, 0], [1, 0x61, 0xc0, 20, 0, 1, 0, 1, 1, 0x62, 0xc0, 12, 0, 1, 0, 1])), 'bad-pointer');
    // A legitimate backward pointer decodes.
    const ok = decodeDnsMessage(raw([2, 0, 0, 0], [1, 0x61, 0, 0, 1, 0, 1, 1, 0x62, 0xc0, 12, 0, 1, 0, 1]));
    assert.ok(ok.ok);
    assert.deepEqual(ok.value.questions[1]!.name, ['b', 'a']);
    assert.equal(errorCode(raw([1, 0, 0, 0], [0xc0])), 'truncated'); // half a pointer
  });

  it('label length bytes 64..191 are refused (longer than 63, or retired label types)', () => {
    for (const len of [64, 0x7f, 0x80, 0xbf]) {
      assert.equal(errorCode(raw([1, 0, 0, 0], [len, ...new Array<number>(len & 0x3f).fill(0x61), 0, 0, 1, 0, 1])), 'label-too-long');
    }
    assert.equal(errorCode(raw([1, 0, 0, 0], [63, ...new Array<number>(63).fill(0x61), 0, 0, 1, 0, 1])), 'ok');
  });

  it('names over 255 bytes are refused, whether spelled out or built from pointers', () => {
    const label63 = [63, ...new Array<number>(63).fill(0x61)];
    // 4 x 64 + 1 = 257 bytes.
    assert.equal(errorCode(raw([1, 0, 0, 0], [...label63, ...label63, ...label63, ...label63, 0, 0, 1, 0, 1])), 'name-too-long');
    // 3 x 64 + 62 + 1 = 255 bytes: the largest legal name.
    const r = decodeDnsMessage(raw([1, 0, 0, 0], [...label63, ...label63, ...label63, 61, ...new Array<number>(61).fill(0x62), 0, 0, 1, 0, 1]));
    assert.ok(r.ok);
    assert.equal(r.value.questions[0]!.name.reduce((n, l) => n + 1 + l.length, 1), MAX_NAME_BYTES);
    // Chains of backward pointers: each question adds a 63-byte label in front of the previous name.
    const body: number[] = [...label63, 0, 0, 1, 0, 1];
    const starts = [12];
    for (let i = 0; i < 3; i++) {
      const prev = starts[starts.length - 1]!;
      starts.push(12 + body.length);
      body.push(...label63, 0xc0 | (prev >> 8), prev & 0xff, 0, 1, 0, 1);
    }
    // Three questions: the third name is 3 x 64 + 1 = 193 bytes; the fourth would be 257.
    assert.equal(errorCode(raw([3, 0, 0, 0], body.slice(0, body.length - 70))), 'ok');
    assert.equal(errorCode(raw([4, 0, 0, 0], body)), 'name-too-long');
  });

  it('RDATA must fit its type', () => {
    const rr = (type: number, rdata: number[]): Uint8Array => raw([0, 1, 0, 0], [0, type >> 8, type & 0xff, 0, 1, 0, 0, 0, 0, 0, rdata.length, ...rdata]);
    assert.equal(errorCode(rr(DNS_TYPE.A, [1, 2, 3])), 'bad-rdata');
    assert.equal(errorCode(rr(DNS_TYPE.A, [1, 2, 3, 4, 5])), 'bad-rdata');
    assert.equal(errorCode(rr(DNS_TYPE.AAAA, [1, 2, 3, 4])), 'bad-rdata');
    assert.equal(errorCode(rr(DNS_TYPE.SRV, [0, 1, 0, 1, 0, 80])), 'bad-rdata');
    assert.equal(errorCode(rr(DNS_TYPE.SRV, [0, 1, 0, 1, 0, 80, 0, 9])), 'bad-rdata'); // bytes after the target
    assert.equal(errorCode(rr(DNS_TYPE.SOA, [0, 0, 1, 2, 3])), 'bad-rdata');
    assert.equal(errorCode(rr(DNS_TYPE.SRV, [0, 1, 0, 1, 0, 80, 0])), 'ok');
    assert.equal(errorCode(rr(DNS_TYPE.TXT, [3, 0x61, 0x62, 0x63])), 'ok');
  });

  it('OPT: only in the additional section, with the root name, at most once', () => {
    const opt = [0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 0];
    const ok = decodeDnsMessage(raw([0, 0, 0, 1], opt));
    assert.ok(ok.ok);
    assert.deepStrictEqual(ok.value.edns, { udpPayloadBytes: 1232, extendedRcode: 0, version: 0, dnssecOk: true, z: 0, options: [] });
    assert.deepEqual(ok.value.additionals, []);
    assert.equal(errorCode(raw([0, 1, 0, 0], opt)), 'bad-opt');
    assert.equal(errorCode(raw([0, 0, 0, 2], [...opt, ...opt])), 'bad-opt');
    assert.equal(errorCode(raw([0, 0, 0, 1], [1, 0x61, ...opt])), 'bad-opt');
    // An option whose length runs past the RDATA.
    assert.equal(errorCode(raw([0, 0, 0, 1], [0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 4, 0, 10, 0, 9])), 'bad-rdata');
  });

  it('bytes after the last announced record are refused', () => {
    assert.equal(errorCode(raw([0, 0, 0, 0], [0])), 'trailing-bytes');
    assert.equal(errorCode(Uint8Array.from([...encode(query(['a'])), 1, 2])), 'trailing-bytes');
  });
});

describe('names and addresses', () => {
  it('checkName bounds labels and names', () => {
    assert.ok(checkName([]).ok);
    assert.ok(checkName(['a'.repeat(63)]).ok);
    assert.deepEqual(checkName(['a'.repeat(64)]), { ok: false, error: { code: 'label-too-long', index: 0, bytes: 64 } });
    assert.deepEqual(checkName(['a', '']), { ok: false, error: { code: 'empty-label', index: 1 } });
    assert.deepEqual(checkName(['\u0100']), { ok: false, error: { code: 'not-bytes', index: 0 } });
    assert.deepEqual(checkName(Array.from({ length: 128 }, () => 'a')), { ok: false, error: { code: 'name-too-long', bytes: 257 } });
    assert.ok(checkName(Array.from({ length: 127 }, () => 'a')).ok);
  });

  it('lowerAscii folds ASCII only; formatName escapes dots, backslashes and odd bytes', () => {
    assert.equal(lowerAscii('WeB-\u00c9'), 'web-\u00c9');
    assert.equal(formatName([]), '.');
    assert.equal(formatName(['a.b', 'c\\d', 'e f', '\u0000']), 'a\\.b.c\\\\d.e\\032f.\\000');
  });

  it('IPv4 text is strict dotted-quad', () => {
    assert.deepEqual(parseIpv4('10.0.255.1'), Uint8Array.from([10, 0, 255, 1]));
    for (const bad of ['256.0.0.1', '1.2.3', '1.2.3.4.5', '01.2.3.4', '1.2.3.-4', ' 1.2.3.4', '']) assert.equal(parseIpv4(bad), undefined, bad);
    fc.assert(fc.property(fc.uint8Array({ minLength: 4, maxLength: 4 }), (b) => assert.deepEqual(parseIpv4(formatIpv4(b)), b)));
  });

  it('IPv6 formats canonically (RFC 5952, as the WHATWG URL serializer does) and parses back', () => {
    assert.equal(formatIpv6(parseIpv6('0:0:0:0:0:0:0:1')!), '::1');
    assert.equal(formatIpv6(parseIpv6('2001:DB8:0:0:1:0:0:1')!), '2001:db8::1:0:0:1');
    assert.equal(formatIpv6(parseIpv6('1:0:2:3:4:5:6:7')!), '1:0:2:3:4:5:6:7');
    assert.deepEqual(parseIpv6('::ffff:10.1.2.3'), Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3]));
    const groupsArb = fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 });
    fc.assert(
      fc.property(groupsArb, (groups) => {
        const bytes = Uint8Array.from(groups.flatMap((g) => [g >> 8, g & 0xff]));
        const text = formatIpv6(bytes);
        assert.deepEqual(parseIpv6(text), bytes);
        assert.equal(text, new URL(`http://[${groups.map((g) => g.toString(16)).join(':')}]`).hostname.slice(1, -1));
      }),
    );
  });

  it('parseIpv6 accepts exactly what node:net accepts (without zone indexes)', () => {
    const textArb = fc.array(fc.constantFrom('0', '1', 'a', 'F', 'ffff', '::', ':', '.', '1.2.3.4', '255', '00000'), { maxLength: 12 }).map((p) => p.join(''));
    fc.assert(fc.property(textArb, (text) => assert.equal(parseIpv6(text) !== undefined, isIPv6(text), text)), { numRuns: 3000 });
  });
});
