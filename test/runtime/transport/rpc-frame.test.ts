// Pure pieces of the RPC transport: the envelope codec, the backoff, address parsing.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SeededRandom } from '../../../src/core/random.ts';
import { FrameDecoder } from '../../../src/wire/frame.ts';
import { Backoff } from '../../../src/runtime/transport/backoff.ts';
import { formatAddress, parseAddress } from '../../../src/runtime/transport/address.ts';
import {
  decodeRpcEnvelope,
  encodeRpcFrame,
  MAX_ERROR_MESSAGE_BYTES,
  RPC_PROTOCOL_VERSION,
  WIRE_ERROR_CODES,
  type RpcEnvelope,
} from '../../../src/runtime/transport/rpc-frame.ts';

const method = fc.string({ minLength: 1, maxLength: 60 }).filter((m) => new TextEncoder().encode(m).length <= 255);
const id = fc.integer({ min: 0, max: 2 ** 32 - 1 });
const body = fc.uint8Array({ maxLength: 200 });
const envelope: fc.Arbitrary<RpcEnvelope> = fc.oneof(
  fc.record({ kind: fc.constant('hello' as const), version: fc.integer({ min: 0, max: 65535 }) }),
  fc.record({ kind: fc.constant('request' as const), id, method, body }),
  fc.record({ kind: fc.constant('response' as const), id, body }),
  fc.record({ kind: fc.constant('error' as const), id, code: fc.constantFrom(...WIRE_ERROR_CODES), message: fc.string({ maxLength: 100 }) }),
  fc.record({ kind: fc.constant('message' as const), method, body }),
);

function roundTrip(e: RpcEnvelope): RpcEnvelope {
  const frame = encodeRpcFrame(e, 1 << 16);
  assert.ok(frame.ok);
  const decoder = new FrameDecoder(1 << 16);
  const payloads = decoder.push(frame.value);
  assert.ok(payloads.ok);
  assert.equal(payloads.value.length, 1);
  const decoded = decodeRpcEnvelope(payloads.value[0]!);
  assert.ok(decoded.ok, decoded.ok ? '' : decoded.error);
  return decoded.value;
}

const plain = (e: RpcEnvelope): unknown => ('body' in e ? { ...e, body: Array.from(e.body) } : { ...e });

describe('RPC envelope', () => {
  it('round-trips every kind', () => {
    fc.assert(
      fc.property(envelope, (e) => assert.deepEqual(plain(roundTrip(e)), plain(e))),
      { numRuns: 1000 },
    );
  });

  it('never throws on arbitrary payloads', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (payload) => {
        decodeRpcEnvelope(payload);
      }),
      { numRuns: 3000 },
    );
    fc.assert(
      fc.property(envelope, fc.nat(), fc.integer({ min: 0, max: 7 }), (e, at, bit) => {
        const frame = encodeRpcFrame(e, 1 << 16);
        assert.ok(frame.ok);
        const payload = Uint8Array.from(frame.value.subarray(4));
        if (payload.length > 0) payload[at % payload.length]! ^= 1 << bit;
        decodeRpcEnvelope(payload);
        decodeRpcEnvelope(payload.subarray(0, at % (payload.length + 1)));
      }),
      { numRuns: 2000 },
    );
  });

  it('cuts long error messages at a character boundary', () => {
    const decoded = roundTrip({ kind: 'error', id: 1, code: 'remote', message: 'é'.repeat(2000) });
    assert.equal(decoded.kind, 'error');
    if (decoded.kind === 'error') {
      assert.ok(new TextEncoder().encode(decoded.message).length <= MAX_ERROR_MESSAGE_BYTES);
      assert.match(decoded.message, /^é+$/);
    }
  });

  it('knows its version and refuses bodies over the limit', () => {
    assert.deepEqual(roundTrip({ kind: 'hello', version: RPC_PROTOCOL_VERSION }), { kind: 'hello', version: RPC_PROTOCOL_VERSION });
    const r = encodeRpcFrame({ kind: 'response', id: 1, body: new Uint8Array(100) }, 100);
    assert.equal(r.ok, false, 'the 5-byte header counts toward the limit');
  });
});

describe('Backoff', () => {
  it('grows exponentially within [ceiling/2, ceiling), caps at maxDelayMs, and resets', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 100 }), fc.nat(), (initial, factor, seed) => {
        const max = initial * factor;
        const b = new Backoff({ initialDelayMs: initial, maxDelayMs: max }, new SeededRandom(seed));
        for (let n = 0; n < 40; n++) {
          const ceiling = Math.min(max, initial * 2 ** n);
          const d = b.next();
          assert.ok(d >= ceiling / 2 && d < ceiling + 1e-9, `attempt ${n}: ${d} not in [${ceiling / 2}, ${ceiling})`);
        }
        assert.equal(b.failures, 40);
        b.reset();
        assert.ok(b.next() < initial);
      }),
      { numRuns: 200 },
    );
  });

  it('jitters: two generators with different seeds disagree', () => {
    const a = new Backoff({ initialDelayMs: 100, maxDelayMs: 10_000 }, new SeededRandom(1));
    const b = new Backoff({ initialDelayMs: 100, maxDelayMs: 10_000 }, new SeededRandom(2));
    const da = Array.from({ length: 5 }, () => a.next());
    const db = Array.from({ length: 5 }, () => b.next());
    assert.notDeepEqual(da, db);
  });
});

describe('addresses', () => {
  it('formats and parses IPv4, bracketed IPv6 and host names', () => {
    assert.equal(formatAddress('::1', 7701), '[::1]:7701');
    assert.equal(formatAddress('10.0.0.1', 7701), '10.0.0.1:7701');
    assert.deepEqual(parseAddress('[::1]:7701'), { ok: true, value: { host: '::1', port: 7701 } });
    assert.deepEqual(parseAddress('10.0.0.1:1'), { ok: true, value: { host: '10.0.0.1', port: 1 } });
    assert.deepEqual(parseAddress('node-1.example:65535'), { ok: true, value: { host: 'node-1.example', port: 65535 } });
    for (const bad of ['', ':80', 'host', 'host:', 'host:0', 'host:65536', 'host:-1', '::1:80', '[::1:80', '[1.2.3.4]:80', 'a b:80', 'host:080000']) {
      assert.equal(parseAddress(bad).ok, false, bad);
    }
  });

  it('round-trips any IP and port', () => {
    const v4 = fc.ipV4();
    const v6 = fc.ipV6();
    fc.assert(
      fc.property(fc.oneof(v4, v6), fc.integer({ min: 1, max: 65535 }), (host, port) => {
        const parsed = parseAddress(formatAddress(host, port));
        assert.deepEqual(parsed, { ok: true, value: { host, port } });
      }),
      { numRuns: 500 },
    );
  });
});
