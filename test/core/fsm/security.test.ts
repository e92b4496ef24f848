// The replicated security settings (src/core/fsm/security.ts) and their commands in the state
// machine (security.init, security.keyring): the rules of the gossip keyring, events that name
// keys by fingerprint only, and the section surviving snapshots, in memory and on the wire.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { ClusterFsm } from '../../../src/core/fsm/fsm.ts';
import { MAX_GOSSIP_KEYS, changeKeyring, keyFingerprint, type KeyringChange, type SecurityInit, type SecurityState } from '../../../src/core/fsm/security.ts';
import type { ApplyResult, ClusterEvent, Command } from '../../../src/core/fsm/types.ts';
import { createCertificateAuthority } from '../../../src/runtime/pki/certificates.ts';
import { checkFsmSnapshot, createFsmCodec, createFsmSnapshotCodec, decodeCommand, decodeFsmSnapshot, encodeCommand, encodeFsmSnapshot } from '../../../src/wire/fsm.ts';

/** A deterministic base64 AES-256 key per number (the shape the wire schema wants). */
const key = (n: number): string => Buffer.alloc(32, n).toString('base64');
const TOKEN = 'management-token-for-tests';
const TOKEN_SHA256 = createHash('sha256').update(TOKEN).digest('hex');
const CA = createCertificateAuthority('test', new Date('2030-01-01T00:00:00Z'));

function init(keys: readonly string[] = [key(1)], primary: string = keys[0]!): SecurityInit {
  return { type: 'security.init', atMs: 1000, caCertPem: CA.certPem, caKeyPem: CA.keyPem, managementTokenSha256: TOKEN_SHA256, gossipKeys: keys, gossipPrimary: primary };
}

const keyring = (op: KeyringChange['op'], k: string): KeyringChange => ({ type: 'security.keyring', atMs: 2000, op, key: k });

function apply(fsm: ClusterFsm, command: Command): ApplyResult {
  return fsm.apply(fsm.appliedIndex + 1, command);
}

/** A fresh state machine with security recorded from init(keys). */
function secured(keys: readonly string[] = [key(1)]): ClusterFsm {
  const fsm = new ClusterFsm();
  assert.equal(apply(fsm, init(keys)).ok, true);
  return fsm;
}

/** Every text in an event: anything secret must show up in none of them. */
function eventTexts(e: ClusterEvent): string[] {
  return [e.type, e.subject, ...Object.keys(e.detail), ...Object.values(e.detail).map(String)];
}

/** Secret material that must never reach an event or a result: keys in every form, the CA key, the token and its hash. */
function secretsOf(keys: readonly string[]): string[] {
  const caKeyBody = CA.keyPem.split('\n').filter((l) => l !== '' && !l.startsWith('-----'));
  return [
    ...keys,
    ...keys.map((k) => Buffer.from(k, 'base64').toString('hex')),
    // The key's base64 without its padding, and a long prefix of it.
    ...keys.map((k) => k.slice(0, 24)),
    CA.keyPem,
    ...caKeyBody,
    TOKEN,
    TOKEN_SHA256,
  ];
}

function assertNoSecrets(texts: readonly string[], keys: readonly string[]): void {
  for (const text of texts) {
    for (const secret of secretsOf(keys)) assert.ok(!text.includes(secret), `${JSON.stringify(text)} contains secret material`);
  }
}

function assertKeyringInvariants(s: SecurityState): void {
  assert.ok(s.gossipKeys.includes(s.gossipPrimary), 'the primary is installed');
  assert.equal(new Set(s.gossipKeys).size, s.gossipKeys.length, 'no key is installed twice');
  assert.ok(s.gossipKeys.length >= 1 && s.gossipKeys.length <= MAX_GOSSIP_KEYS, `1..${MAX_GOSSIP_KEYS} keys`);
}

describe('keyFingerprint', () => {
  it('is 16 hex digits, stable, different per key, and not a piece of the key', () => {
    const fp = keyFingerprint(key(1));
    assert.match(fp, /^[0-9a-f]{16}$/);
    assert.equal(keyFingerprint(key(1)), fp);
    assert.notEqual(keyFingerprint(key(2)), fp);
    assert.ok(!Buffer.from(key(1), 'base64').toString('hex').includes(fp));
    // Domain-separated: not simply the key's sha256 (of its text or its bytes).
    assert.ok(!createHash('sha256').update(key(1)).digest('hex').startsWith(fp));
    assert.ok(!createHash('sha256').update(Buffer.from(key(1), 'base64')).digest('hex').startsWith(fp));
  });
});

describe('security.init', () => {
  it('records the CA, the token hash and the keyring, with an event naming the primary by fingerprint', () => {
    const fsm = new ClusterFsm();
    const events: ClusterEvent[] = [];
    fsm.subscribe((n) => {
      if (n.kind === 'event') events.push(n.event);
    });
    const result = apply(fsm, init([key(1), key(2)], key(2)));
    assert.equal(result.ok, true);
    assert.deepEqual(fsm.security, { caCertPem: CA.certPem, caKeyPem: CA.keyPem, managementTokenSha256: TOKEN_SHA256, gossipKeys: [key(1), key(2)], gossipPrimary: key(2) });
    const [event] = fsm.events(1);
    assert.ok(event !== undefined);
    assert.deepEqual([event.type, event.subject, event.detail], ['security.init', 'cluster', { gossipKeys: 2, primaryKey: keyFingerprint(key(2)) }]);
    assert.deepEqual(events, [event]);
    assertNoSecrets(eventTexts(event), [key(1), key(2)]);
  });

  it('applies once: a second init is refused with exists and changes nothing', () => {
    const fsm = secured([key(1)]);
    const before = fsm.security;
    const head = fsm.eventHead;
    const other = createCertificateAuthority('other', new Date('2030-01-01T00:00:00Z'));
    const second: SecurityInit = { ...init([key(7)]), caCertPem: other.certPem, caKeyPem: other.keyPem, managementTokenSha256: 'f'.repeat(64) };
    assert.deepEqual(apply(fsm, second), { ok: false, code: 'exists', subject: 'security' });
    assert.equal(fsm.security, before);
    assert.deepEqual(fsm.eventHead, head);
    // An identical second init is no different.
    assert.deepEqual(apply(fsm, init([key(1)])), { ok: false, code: 'exists', subject: 'security' });
    assert.equal(fsm.security, before);
  });

  it('the primary must be installed; the keys distinct and at most MAX_GOSSIP_KEYS', () => {
    const cases: Array<[SecurityInit, RegExp]> = [
      [init([key(1)], key(2)), /primary gossip key must be one of the installed keys/],
      [init([], key(1)), /primary gossip key must be one of the installed keys/],
      [init([key(1), key(2), key(1)], key(1)), /distinct/],
      [init(Array.from({ length: MAX_GOSSIP_KEYS + 1 }, (_, i) => key(i))), new RegExp(`at most ${MAX_GOSSIP_KEYS}`)],
    ];
    for (const [command, reason] of cases) {
      const fsm = new ClusterFsm();
      const result = apply(fsm, command);
      assert.ok(!result.ok && result.code === 'invalid', JSON.stringify(result));
      assert.match(result.reason, reason);
      assertNoSecrets([result.reason], command.gossipKeys);
      assert.equal(fsm.security, undefined);
      assert.equal(fsm.eventHead.seq, 0);
    }
    // Exactly MAX_GOSSIP_KEYS is fine.
    assert.equal(secured(Array.from({ length: MAX_GOSSIP_KEYS }, (_, i) => key(i))).security?.gossipKeys.length, MAX_GOSSIP_KEYS);
  });

  it('the state keeps its own copy of the keys', () => {
    const keys = [key(1)];
    const fsm = secured(keys);
    keys.push(key(2));
    assert.deepEqual(fsm.security?.gossipKeys, [key(1)]);
  });
});

describe('security.keyring', () => {
  it('needs security first', () => {
    const fsm = new ClusterFsm();
    assert.deepEqual(apply(fsm, keyring('install', key(1))), { ok: false, code: 'not-found', subject: 'security' });
    assert.equal(fsm.security, undefined);
  });

  it('rotation: install, use, remove the old key', () => {
    const fsm = secured([key(1)]);
    assert.equal(apply(fsm, keyring('install', key(2))).ok, true);
    assert.deepEqual([fsm.security?.gossipKeys, fsm.security?.gossipPrimary], [[key(1), key(2)], key(1)]);
    assert.equal(apply(fsm, keyring('use', key(2))).ok, true);
    assert.deepEqual([fsm.security?.gossipKeys, fsm.security?.gossipPrimary], [[key(1), key(2)], key(2)]);
    assert.equal(apply(fsm, keyring('remove', key(1))).ok, true);
    assert.deepEqual([fsm.security?.gossipKeys, fsm.security?.gossipPrimary], [[key(2)], key(2)]);
    // Everything else stays.
    assert.equal(fsm.security?.caKeyPem, CA.keyPem);
    assert.equal(fsm.security?.managementTokenSha256, TOKEN_SHA256);
    const events = fsm.events(1);
    assert.deepEqual(
      events.map((e) => [e.type, e.subject, e.detail]),
      [
        ['security.init', 'cluster', { gossipKeys: 1, primaryKey: keyFingerprint(key(1)) }],
        ['keyring.install', keyFingerprint(key(2)), { installed: 2 }],
        ['keyring.use', keyFingerprint(key(2)), { installed: 2 }],
        ['keyring.remove', keyFingerprint(key(1)), { installed: 1 }],
      ],
    );
  });

  it('install is idempotent', () => {
    const fsm = secured([key(1), key(2)]);
    assert.equal(apply(fsm, keyring('install', key(2))).ok, true);
    assert.equal(apply(fsm, keyring('install', key(1))).ok, true);
    assert.deepEqual(fsm.security?.gossipKeys, [key(1), key(2)]);
  });

  it(`install refuses a key beyond ${MAX_GOSSIP_KEYS}, but re-installing one already there is fine`, () => {
    const fsm = secured([key(0)]);
    for (let i = 1; i < MAX_GOSSIP_KEYS; i++) assert.equal(apply(fsm, keyring('install', key(i))).ok, true);
    assert.equal(fsm.security?.gossipKeys.length, MAX_GOSSIP_KEYS);
    const before = fsm.security;
    const head = fsm.eventHead;
    const refused = apply(fsm, keyring('install', key(99)));
    assert.ok(!refused.ok && refused.code === 'invalid');
    assert.match(refused.reason, new RegExp(`already holds ${MAX_GOSSIP_KEYS} keys`));
    assert.equal(fsm.security, before);
    assert.deepEqual(fsm.eventHead, head);
    assert.equal(apply(fsm, keyring('install', key(5))).ok, true);
    assert.equal(fsm.security?.gossipKeys.length, MAX_GOSSIP_KEYS);
  });

  it('use needs an installed key: not-found names its fingerprint', () => {
    const fsm = secured([key(1)]);
    assert.deepEqual(apply(fsm, keyring('use', key(2))), { ok: false, code: 'not-found', subject: keyFingerprint(key(2)) });
    assert.equal(fsm.security?.gossipPrimary, key(1));
    // Using the primary again is allowed and changes nothing.
    assert.equal(apply(fsm, keyring('use', key(1))).ok, true);
    assert.equal(fsm.security?.gossipPrimary, key(1));
  });

  it('remove: not the primary (invalid), not an unknown key (not-found)', () => {
    const fsm = secured([key(1), key(2)]);
    const before = fsm.security;
    const primary = apply(fsm, keyring('remove', key(1)));
    assert.ok(!primary.ok && primary.code === 'invalid');
    assert.match(primary.reason, new RegExp(`key ${keyFingerprint(key(1))} is the primary key`));
    assertNoSecrets([primary.reason], [key(1), key(2)]);
    assert.deepEqual(apply(fsm, keyring('remove', key(3))), { ok: false, code: 'not-found', subject: keyFingerprint(key(3)) });
    assert.equal(fsm.security, before);
    // The last key is always the primary, so the keyring never empties.
    assert.equal(apply(fsm, keyring('remove', key(2))).ok, true);
    const last = apply(fsm, keyring('remove', key(1)));
    assert.ok(!last.ok && last.code === 'invalid');
    assert.deepEqual(fsm.security?.gossipKeys, [key(1)]);
  });

  it('changeKeyring never mutates the state it is given', () => {
    const state: SecurityState = { caCertPem: 'c', caKeyPem: 'k', managementTokenSha256: TOKEN_SHA256, gossipKeys: [key(1), key(2)], gossipPrimary: key(1) };
    const copy = structuredClone(state);
    for (const change of [keyring('install', key(3)), keyring('use', key(2)), keyring('remove', key(2))]) {
      const out = changeKeyring(state, change);
      assert.ok('next' in out);
      assert.deepEqual(state, copy);
    }
  });

  it('any sequence of keyring changes keeps the invariants and matches a naive model (property)', () => {
    const POOL = MAX_GOSSIP_KEYS + 4;
    const kinds = fc.oneof({ arbitrary: fc.constant('install' as const), weight: 4 }, { arbitrary: fc.constant('use' as const), weight: 2 }, { arbitrary: fc.constant('remove' as const), weight: 2 });
    const op = fc.record({ op: kinds, k: fc.integer({ min: 0, max: POOL - 1 }) });
    // Which outcomes the runs reached: each rule must be exercised, or the property proves little.
    const seen = new Set<string>();
    fc.assert(
      fc.property(fc.integer({ min: 1, max: MAX_GOSSIP_KEYS }), fc.array(op, { maxLength: 80 }), (initialCount, ops) => {
        const initial = Array.from({ length: initialCount }, (_, i) => key(i));
        const fsm = secured(initial);
        // The model: an ordered list and a primary, written from the rules in the docs.
        let model = { keys: [...initial], primary: initial[0]! };
        for (const { op: kind, k } of ops) {
          const result = apply(fsm, keyring(kind, key(k)));
          const has = model.keys.includes(key(k));
          let expectOk: boolean;
          if (kind === 'install') {
            expectOk = has || model.keys.length < MAX_GOSSIP_KEYS;
            if (expectOk && !has) model = { ...model, keys: [...model.keys, key(k)] };
          } else if (kind === 'use') {
            expectOk = has;
            if (expectOk) model = { ...model, primary: key(k) };
          } else {
            expectOk = has && key(k) !== model.primary;
            if (expectOk) model = { ...model, keys: model.keys.filter((x) => x !== key(k)) };
          }
          assert.equal(result.ok, expectOk, `${kind} ${k}: ${JSON.stringify(result)}`);
          seen.add(result.ok ? `${kind} ok` : `${kind} ${result.code}${kind === 'remove' && has ? ' primary' : ''}`);
          if (!result.ok) assertNoSecrets([JSON.stringify(result)], [key(k)]);
          const s = fsm.security!;
          assertKeyringInvariants(s);
          assert.deepEqual([s.gossipKeys, s.gossipPrimary], [model.keys, model.primary]);
        }
        const all = Array.from({ length: POOL }, (_, i) => key(i));
        for (const e of fsm.events(1)) assertNoSecrets(eventTexts(e), all);
      }),
      { numRuns: 150 },
    );
    assert.deepEqual([...seen].sort(), ['install invalid', 'install ok', 'remove invalid primary', 'remove not-found', 'remove ok', 'use not-found', 'use ok']);
  });
});

describe('events carry no secrets', () => {
  it('no event of a full life (init, rotations, refusals) holds key material, the CA key or the token hash', () => {
    const fsm = secured([key(1)]);
    const commands: Command[] = [
      keyring('install', key(2)),
      keyring('install', key(2)),
      keyring('use', key(2)),
      keyring('remove', key(1)),
      keyring('remove', key(2)),
      keyring('use', key(3)),
      keyring('remove', key(4)),
      init([key(5)]),
    ];
    const results = commands.map((c) => apply(fsm, c));
    assert.deepEqual(results.map((r) => r.ok), [true, true, true, true, false, false, false, false]);
    const events = fsm.events(1);
    assert.equal(events.length, 5);
    const all = [key(1), key(2), key(3), key(4), key(5)];
    for (const e of events) assertNoSecrets(eventTexts(e), all);
    assertNoSecrets(results.map((r) => JSON.stringify(r)), all);
  });
});

describe('snapshots keep the security section', () => {
  function rotated(): ClusterFsm {
    const fsm = secured([key(1)]);
    for (const c of [keyring('install', key(2)), keyring('use', key(2)), keyring('install', key(3))]) assert.equal(apply(fsm, c).ok, true);
    return fsm;
  }

  it('snapshot() and restore() carry it, and the restored machine goes on identically', () => {
    const fsm = rotated();
    const snap = fsm.snapshot();
    assert.deepEqual(snap.security, fsm.security);
    const copy = new ClusterFsm();
    copy.restore(snap);
    assert.deepEqual(copy.security, fsm.security);
    // Both apply the same next commands to the same results and the same event hashes.
    for (const c of [keyring('remove', key(1)), keyring('remove', key(2)), init([key(9)])]) {
      assert.deepEqual(apply(copy, c), apply(fsm, c));
    }
    assert.deepEqual(copy.security, fsm.security);
    assert.deepEqual(copy.eventHead, fsm.eventHead);
  });

  it('a snapshot taken before security has none, and restoring it clears the section', () => {
    const plain = new ClusterFsm();
    apply(plain, { type: 'note', atMs: 1, kind: 'x', subject: 's', message: 'm' });
    const snap = plain.snapshot();
    assert.equal('security' in snap, false);
    const fsm = rotated();
    fsm.restore(snap);
    assert.equal(fsm.security, undefined);
  });

  it('the wire snapshot codec round-trips it', () => {
    const codec = createFsmSnapshotCodec();
    const fsm = rotated();
    const encoded = encodeFsmSnapshot(codec, fsm.snapshot());
    assert.ok(encoded.ok, encoded.ok ? '' : encoded.error);
    const decoded = decodeFsmSnapshot(codec, encoded.value);
    assert.ok(decoded.ok, decoded.ok ? '' : decoded.error);
    assert.deepEqual(decoded.value.security, fsm.security);
    const copy = new ClusterFsm();
    copy.restore(decoded.value);
    assert.deepEqual(copy.security, fsm.security);
    assert.deepEqual(apply(copy, keyring('remove', key(1))), apply(fsm, keyring('remove', key(1))));
    assert.deepEqual(copy.security, fsm.security);
    // Without security the section stays absent.
    const none = decodeFsmSnapshot(codec, (encodeFsmSnapshot(codec, new ClusterFsm().snapshot()) as { value: Uint8Array }).value);
    assert.ok(none.ok);
    assert.equal(none.value.security, undefined);
  });

  it('a snapshot breaking the keyring invariants is refused, without quoting keys', () => {
    const codec = createFsmSnapshotCodec();
    const snap = rotated().snapshot();
    const s = snap.security!;
    const broken = [
      { ...snap, security: { ...s, gossipPrimary: key(8) } },
      { ...snap, security: { ...s, gossipKeys: [...s.gossipKeys, s.gossipKeys[0]!] } },
    ];
    const problems = ['security.gossipPrimary is not one of security.gossipKeys', 'security.gossipKeys repeats a key'];
    broken.forEach((b, i) => {
      assert.equal(checkFsmSnapshot(b, { verifyHashes: true }), problems[i]);
      const encoded = encodeFsmSnapshot(codec, b);
      assert.ok(!encoded.ok);
      assert.match(encoded.error, new RegExp(problems[i]!.replace(/\./g, '\\.')));
      assertNoSecrets([encoded.error], [...s.gossipKeys, key(8)]);
    });
    // Too many keys, or a key that is not base64 AES-256, fail the schema.
    const many = { ...snap, security: { ...s, gossipKeys: Array.from({ length: MAX_GOSSIP_KEYS + 1 }, (_, i) => key(i)) } };
    assert.ok(!encodeFsmSnapshot(codec, many).ok);
    const short = { ...snap, security: { ...s, gossipKeys: ['c2hvcnQ='], gossipPrimary: 'c2hvcnQ=' } };
    const refused = encodeFsmSnapshot(codec, short);
    assert.ok(!refused.ok);
    assert.match(refused.error, /security\.gossipKeys\[0\]: must be a base64 AES-256 key/);
  });

  it('the security commands round-trip through the command codec', () => {
    const codec = createFsmCodec();
    for (const c of [init([key(1), key(2)], key(2)), keyring('install', key(3)), keyring('use', key(3)), keyring('remove', key(1))] as Command[]) {
      const encoded = encodeCommand(codec, c);
      assert.ok(encoded.ok, encoded.ok ? '' : encoded.error);
      const decoded = decodeCommand(codec, encoded.value);
      assert.ok(decoded.ok);
      assert.deepEqual(decoded.value, c);
    }
  });
});
