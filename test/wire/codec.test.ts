import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Type } from '@sinclair/typebox';
import { Packr } from 'msgpackr';
import { MessageCodec, PROTOCOL_VERSION, describeDecodeError } from '../../src/wire/codec.ts';
import { WIRE_MESSAGES, createWireCodec, type WireMessage } from '../../src/wire/messages.ts';
import { arbitraryFor } from './schema-arbitrary.ts';

const raw = new Packr({ useRecords: false, mapsAsObjects: true });

/** Buffers decode as Buffer (a Uint8Array subclass): compare plain data. */
function normalize(v: unknown): unknown {
  if (v instanceof Uint8Array) return Array.from(v);
  if (Array.isArray(v)) return v.map(normalize);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalize(x)]));
  return v;
}

describe('wire codec', () => {
  const codec = createWireCodec();

  it('round-trips every registered message type', () => {
    assert.deepEqual(codec.types().sort(), Object.keys(WIRE_MESSAGES).sort());
    for (const [type, schema] of Object.entries(WIRE_MESSAGES)) {
      fc.assert(
        fc.property(arbitraryFor(schema), (body) => {
          const message = { type, body } as WireMessage;
          const encoded = codec.encode(message);
          assert.ok(encoded.ok);
          const decoded = codec.decode(encoded.value);
          assert.ok(decoded.ok, decoded.ok ? '' : describeDecodeError(decoded.error));
          assert.deepEqual(normalize(decoded.value), normalize(message));
        }),
        // A fixed seed: a failure replays exactly (change it to explore other inputs).
        { numRuns: 200, seed: 20261123 },
      );
    }
  });

  it('never throws on random bytes and reports a typed error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        const result = codec.decode(bytes);
        if (!result.ok) assert.ok(['malformed', 'unsupported-version', 'unknown-type', 'invalid-body'].includes(result.error.code));
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws on truncated or bit-flipped valid messages', () => {
    const arb = fc.record({ seq: fc.nat(), cut: fc.nat(), flip: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) });
    fc.assert(
      fc.property(arb, ({ seq, cut, flip, bit }) => {
        const encoded = codec.encode({ type: 'echo.ping', body: { from: 'node-a', seq, payload: new Uint8Array([1, 2, 3]) } });
        assert.ok(encoded.ok);
        const bytes = encoded.value;
        const truncated = bytes.subarray(0, cut % bytes.length);
        assert.equal(codec.decode(truncated).ok, false);
        const flipped = Uint8Array.from(bytes);
        flipped[flip % flipped.length]! ^= 1 << bit;
        codec.decode(flipped); // any result is fine; throwing is not
      }),
      { numRuns: 2000 },
    );
  });

  it('rejects messages over the limit before parsing them', () => {
    const small = new MessageCodec(WIRE_MESSAGES, { maxMessageBytes: 64 });
    const result = small.decode(new Uint8Array(65));
    assert.deepEqual(result, { ok: false, error: { code: 'too-large', sizeBytes: 65, maxBytes: 64 } });
    const encoded = small.encode({ type: 'echo.ping', body: { from: 'a', seq: 1, payload: new Uint8Array(100) } });
    assert.equal(encoded.ok, false);
  });

  it('rejects declared lengths larger than the data without allocating them', () => {
    // array32 / str32 / bin32 headers claiming 4 GiB inside a 9-byte message.
    for (const header of [[0xdd], [0xdb], [0xc6], [0xdf]]) {
      const bytes = Uint8Array.from([0x93, 0x01, ...header, 0xff, 0xff, 0xff, 0xff]);
      const result = codec.decode(bytes);
      assert.equal(result.ok, false);
    }
  });

  it('rejects unknown protocol versions with a typed error', () => {
    const bytes = raw.pack([PROTOCOL_VERSION + 1, 'echo.ping', { from: 'a', seq: 1, payload: new Uint8Array() }]);
    const result = codec.decode(bytes);
    assert.deepEqual(result, {
      ok: false,
      error: { code: 'unsupported-version', version: PROTOCOL_VERSION + 1, minVersion: PROTOCOL_VERSION, maxVersion: PROTOCOL_VERSION },
    });
    assert.match(describeDecodeError(result.ok ? assert.fail() : result.error), /protocol version 2 is not supported/);
  });

  it('accepts older versions down to minVersion, for mixed-version upgrades', () => {
    const v2 = new MessageCodec(WIRE_MESSAGES, { maxMessageBytes: 1024, version: 2, minVersion: 1 });
    const fromV1 = createWireCodec().encode({ type: 'echo.pong', body: { from: 'a', seq: 7, echoed: new Uint8Array() } });
    assert.ok(fromV1.ok);
    assert.equal(v2.decode(fromV1.value).ok, true);
    const v3 = new MessageCodec(WIRE_MESSAGES, { maxMessageBytes: 1024, version: 3, minVersion: 2 });
    assert.equal(v3.decode(fromV1.value).ok, false);
  });

  it('rejects unknown types, wrong envelopes and bodies that do not match the schema', () => {
    const cases: Array<[unknown, string]> = [
      [[PROTOCOL_VERSION, 'no.such', {}], 'unknown-type'],
      [{ v: 1 }, 'malformed'],
      [[PROTOCOL_VERSION, 'echo.ping'], 'malformed'],
      [['1', 'echo.ping', {}], 'malformed'],
      [[PROTOCOL_VERSION, 'echo.ping', { from: 'a', seq: -1, payload: new Uint8Array() }], 'invalid-body'],
      [[PROTOCOL_VERSION, 'echo.ping', { from: 'a', seq: 1, payload: 'x' }], 'invalid-body'],
      [[PROTOCOL_VERSION, 'echo.ping', { from: 'a', seq: 1, payload: new Uint8Array(), extra: 1 }], 'invalid-body'],
      [[PROTOCOL_VERSION, 'echo.ping', { from: 'x'.repeat(500), seq: 1, payload: new Uint8Array() }], 'invalid-body'],
    ];
    for (const [value, code] of cases) {
      const result = codec.decode(raw.pack(value));
      assert.equal(result.ok, false, JSON.stringify(value));
      if (!result.ok) assert.equal(result.error.code, code, describeDecodeError(result.error));
    }
    const invalid = codec.decode(raw.pack([PROTOCOL_VERSION, 'echo.ping', { from: 'a', seq: 1.5, payload: new Uint8Array() }]));
    assert.ok(!invalid.ok && invalid.error.code === 'invalid-body' && invalid.error.path === '/seq');
  });

  it('does not let a peer pollute prototypes', () => {
    const schemas = { 'kv.put': Type.Object({ key: Type.String() }) };
    const codec2 = new MessageCodec(schemas, { maxMessageBytes: 1024 });
    const bytes = raw.pack([PROTOCOL_VERSION, 'kv.put', JSON.parse('{"key":"k","__proto__":{"polluted":true}}')]);
    const result = codec2.decode(bytes);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    if (result.ok) assert.equal((result.value.body as Record<string, unknown>).polluted, undefined);
  });
});
