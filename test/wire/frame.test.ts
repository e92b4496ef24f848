import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FRAME_HEADER_BYTES, FrameDecoder, encodeFrame, encodeFrameParts } from '../../src/wire/frame.ts';

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Splits bytes at the given cut points (taken modulo the length, deduplicated, sorted). */
function split(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => (bytes.length === 0 ? 0 : c % (bytes.length + 1))))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let from = 0;
  for (const p of points) {
    chunks.push(bytes.subarray(from, p));
    from = p;
  }
  chunks.push(bytes.subarray(from));
  return chunks;
}

function prefix(size: number): Uint8Array {
  const h = new Uint8Array(4);
  new DataView(h.buffer).setUint32(0, size, false);
  return h;
}

describe('encodeFrame', () => {
  it('writes a 4-byte big-endian length then the payload', () => {
    const r = encodeFrame(Uint8Array.from([7, 8, 9]), 16);
    assert.ok(r.ok);
    assert.deepEqual(r.value, Uint8Array.from([0, 0, 0, 3, 7, 8, 9]));
    const parts = encodeFrameParts([Uint8Array.from([1]), Uint8Array.from([2, 3])], 3);
    assert.ok(parts.ok);
    assert.deepEqual(parts.value, Uint8Array.from([0, 0, 0, 3, 1, 2, 3]));
  });

  it('refuses a payload over the limit with a typed error', () => {
    assert.deepEqual(encodeFrame(new Uint8Array(17), 16), { ok: false, error: { code: 'too-large', sizeBytes: 17, maxBytes: 16 } });
    assert.deepEqual(encodeFrameParts([new Uint8Array(10), new Uint8Array(7)], 16), {
      ok: false,
      error: { code: 'too-large', sizeBytes: 17, maxBytes: 16 },
    });
    assert.ok(encodeFrame(new Uint8Array(16), 16).ok, 'exactly the limit is allowed');
  });

  it('asserts on a nonsensical limit (programmer error)', () => {
    assert.throws(() => encodeFrame(new Uint8Array(1), -1), /assertion failed/);
    assert.throws(() => new FrameDecoder(2 ** 32), /assertion failed/);
  });
});

describe('FrameDecoder', () => {
  it('round-trips any payload sequence split at any chunk boundaries', () => {
    const arb = fc.record({
      maxFrameBytes: fc.integer({ min: 0, max: 300 }),
      payloads: fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }),
      cuts: fc.array(fc.nat(), { maxLength: 40 }),
    });
    fc.assert(
      fc.property(arb, ({ maxFrameBytes, payloads, cuts }) => {
        const fitting = payloads.filter((p) => p.length <= maxFrameBytes);
        const stream = concat(
          fitting.map((p) => {
            const r = encodeFrame(p, maxFrameBytes);
            assert.ok(r.ok);
            return r.value;
          }),
        );
        const decoder = new FrameDecoder(maxFrameBytes);
        const out: Uint8Array[] = [];
        for (const chunk of split(stream, cuts)) {
          const r = decoder.push(chunk);
          assert.ok(r.ok);
          out.push(...r.value);
          assert.ok(decoder.bufferedBytes <= maxFrameBytes + FRAME_HEADER_BYTES);
        }
        assert.deepEqual(out.map((f) => Array.from(f)), fitting.map((p) => Array.from(p)));
      }),
      { numRuns: 500 },
    );
  });

  it('returns payloads that the caller owns (later chunk reuse cannot change them)', () => {
    const decoder = new FrameDecoder(8);
    const chunk = Uint8Array.from([0, 0, 0, 2, 5, 6]);
    const r = decoder.push(chunk);
    assert.ok(r.ok);
    chunk.fill(0);
    assert.deepEqual(r.value, [Uint8Array.from([5, 6])]);
  });

  it('decodes empty frames, including one whose prefix ends a chunk', () => {
    const decoder = new FrameDecoder(4);
    const a = decoder.push(Uint8Array.from([0, 0, 0, 0]));
    assert.ok(a.ok);
    assert.deepEqual(a.value, [new Uint8Array(0)]);
    const b = decoder.push(Uint8Array.from([0, 0, 0, 0, 0, 0]));
    assert.ok(b.ok);
    assert.deepEqual(b.value, [new Uint8Array(0)]);
    const c = decoder.push(Uint8Array.from([0, 0]));
    assert.ok(c.ok);
    assert.deepEqual(c.value, [new Uint8Array(0)]);
  });

  it('never throws on random bytes, never holds more than the limit, and stays failed after an error', () => {
    const arb = fc.record({
      maxFrameBytes: fc.integer({ min: 0, max: 1024 }),
      // Small byte values too, so that plausible length prefixes (and partial frames) occur.
      chunks: fc.array(fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ max: 3, maxLength: 200 })), { maxLength: 30 }),
    });
    fc.assert(
      fc.property(arb, ({ maxFrameBytes, chunks }) => {
        const decoder = new FrameDecoder(maxFrameBytes);
        let failed = false;
        for (const chunk of chunks) {
          const r = decoder.push(chunk);
          assert.ok(decoder.bufferedBytes <= maxFrameBytes + FRAME_HEADER_BYTES);
          if (failed) {
            assert.equal(r.ok, false, 'a failed decoder must not resume');
            assert.equal(!r.ok && r.error.code, 'failed');
          } else if (!r.ok) {
            assert.equal(r.error.code, 'too-large');
            failed = true;
          } else {
            for (const f of r.value) assert.ok(f.length <= maxFrameBytes);
          }
        }
        assert.equal(decoder.failed, failed);
      }),
      { numRuns: 1000 },
    );
  });

  it('rejects a declared length over the limit as soon as the prefix is read, without allocating it', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1 << 20 }), fc.integer({ min: 1, max: 2 ** 32 - 1 }), (maxFrameBytes, excess) => {
        const declared = Math.min(2 ** 32 - 1, maxFrameBytes + excess);
        const decoder = new FrameDecoder(maxFrameBytes);
        const r = decoder.push(prefix(declared));
        assert.deepEqual(r, { ok: false, error: { code: 'too-large', sizeBytes: declared, maxBytes: maxFrameBytes } });
        assert.equal(decoder.bufferedBytes, FRAME_HEADER_BYTES, 'nothing was allocated for the declared payload');
      }),
      { numRuns: 300 },
    );
    // A 4 GiB claim behind a valid frame, split across chunks, is caught at the byte that completes it.
    const decoder = new FrameDecoder(10);
    const first = decoder.push(Uint8Array.from([0, 0, 0, 1, 42, 0xff, 0xff]));
    assert.ok(first.ok);
    assert.deepEqual(first.value, [Uint8Array.from([42])]);
    const second = decoder.push(Uint8Array.from([0xff, 0xff]));
    assert.equal(second.ok, false);
    assert.equal(decoder.push(Uint8Array.from([0, 0, 0, 0])).ok, false);
  });
});
