import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Keyring, KeyringError, SEAL_OVERHEAD_BYTES, generateKey, openPacket, parseKey, sealPacket } from '../../src/wire/keyring.ts';

const key = (): Buffer => parseKey(generateKey(), 'test');
const msg = Buffer.from([0x93, 1, 2, 3]);

describe('gossip keyring', () => {
  it('round-trips, and adds a fixed overhead', () => {
    const ring = new Keyring([key()]);
    const sealed = ring.seal(msg);
    assert.equal(sealed.length, msg.length + SEAL_OVERHEAD_BYTES);
    assert.deepEqual(ring.open(sealed), { ok: true, value: msg });
  });

  it('refuses plaintext when a key is configured, and sealed packets without a key', () => {
    const ring = new Keyring([key()]);
    assert.deepEqual(openPacket(ring, msg), { ok: false, error: { code: 'plaintext-refused' } });
    assert.deepEqual(openPacket(undefined, ring.seal(msg)), { ok: false, error: { code: 'encrypted-without-key' } });
    assert.deepEqual(openPacket(undefined, msg), { ok: true, value: msg });
    assert.deepEqual(openPacket(ring, sealPacket(ring, msg)), { ok: true, value: msg });
  });

  it('rejects a wrong key and any tampering', () => {
    const ring = new Keyring([key()]);
    const other = new Keyring([key()]);
    assert.deepEqual(other.open(ring.seal(msg)), { ok: false, error: { code: 'auth-failed' } });
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 0, max: 7 }), (pos, bit) => {
        const sealed = Uint8Array.from(ring.seal(msg));
        const i = 1 + (pos % (sealed.length - 1)); // byte 0 is the format marker
        sealed[i]! ^= 1 << bit;
        assert.equal(ring.open(sealed).ok, false);
      }),
    );
    assert.deepEqual(ring.open(Uint8Array.from([1, 2, 3])), { ok: false, error: { code: 'malformed' } });
  });

  it('never throws on random bytes', () => {
    const ring = new Keyring([key()]);
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => void ring.open(bytes)));
  });

  it('rotates without downtime: install, use, remove', () => {
    const oldKey = key();
    const newKey = key();
    const a = new Keyring([oldKey]);
    const b = new Keyring([oldKey]);
    a.install(newKey);
    b.install(newKey);
    a.use(newKey); // a sends with the new key; b still sends with the old one
    assert.ok(b.open(a.seal(msg)).ok);
    assert.ok(a.open(b.seal(msg)).ok);
    b.use(newKey);
    a.remove(oldKey);
    b.remove(oldKey);
    assert.ok(a.open(b.seal(msg)).ok);
    assert.equal(a.open(new Keyring([oldKey]).seal(msg)).ok, false);
    assert.throws(() => a.remove(newKey), /cannot remove the primary key/);
    assert.throws(() => a.use(oldKey), /before it is installed/);
  });

  it('explains bad keys', () => {
    assert.throws(() => parseKey('not base64!', 'gossip.keys[0]'), (e: unknown) => e instanceof KeyringError && /gossip.keys\[0\]: a gossip key is base64/.test(e.message));
    assert.throws(() => parseKey(Buffer.alloc(16).toString('base64'), 'k'), /is 32 bytes \(AES-256\), this one is 16/);
  });
});
