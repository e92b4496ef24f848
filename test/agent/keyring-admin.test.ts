// The keyring API's agent-side logic over a real state machine: which key an operator means
// (key or fingerprint), the views (fingerprints only), and the error each refusal maps to.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError } from '../../src/api/errors.ts';
import { clusterKeys, keyringOutcome, keyringView, requireSecurity, resolveKeyringTarget } from '../../src/agent/keyring-admin.ts';
import { ClusterFsm } from '../../src/core/fsm/fsm.ts';
import { keyFingerprint } from '../../src/core/fsm/security.ts';
import { generateKey } from '../../src/wire/keyring.ts';

const oldKey = generateKey();
const newKey = generateKey();

function securedFsm(): ClusterFsm {
  const fsm = new ClusterFsm();
  const r = fsm.apply(1, { type: 'security.init', atMs: 1, caCertPem: 'ca', caKeyPem: 'key', managementTokenSha256: '00', gossipKeys: [oldKey], gossipPrimary: oldKey });
  assert.ok(r.ok);
  return fsm;
}

function apiError(code: string, pattern?: RegExp): (e: unknown) => boolean {
  return (e: unknown) => e instanceof ApiError && e.code === code && (pattern === undefined || pattern.test(e.message));
}

describe('keyring administration', () => {
  it('names a key by itself (canonical base64, surrounding space ignored) or, for use and remove, by fingerprint in either case', () => {
    const state = requireSecurity(securedFsm().security, 'secure');
    assert.deepEqual(resolveKeyringTarget(state, 'install', `  ${newKey}\n`), { key: newKey, fingerprint: keyFingerprint(newKey) });
    const fp = keyFingerprint(oldKey);
    assert.deepEqual(resolveKeyringTarget(state, 'use', fp.toUpperCase()), { key: oldKey, fingerprint: fp });
    assert.deepEqual(resolveKeyringTarget(state, 'remove', fp), { key: oldKey, fingerprint: fp });
  });

  it('refuses malformed keys (400), install by fingerprint (400) and unknown fingerprints (404)', () => {
    const state = requireSecurity(securedFsm().security, 'secure');
    assert.throws(() => resolveKeyringTarget(state, 'install', 'not a key!'), apiError('bad-request', /base64/));
    assert.throws(() => resolveKeyringTarget(state, 'install', Buffer.alloc(16).toString('base64')), apiError('bad-request', /32 bytes/));
    assert.throws(() => resolveKeyringTarget(state, 'use', 'zz'), apiError('bad-request', /fingerprint/));
    assert.throws(() => resolveKeyringTarget(state, 'install', keyFingerprint(newKey)), apiError('bad-request', /install needs the key itself/));
    assert.throws(() => resolveKeyringTarget(state, 'remove', keyFingerprint(newKey)), apiError('not-found', new RegExp(keyFingerprint(newKey))));
  });

  it('maps the state machine\'s refusals: unknown key 404, removing the primary 409, no security 409 (or 503 while a secure node waits)', () => {
    const fsm = securedFsm();
    const secure = 'secure' as const;
    const change = (index: number, op: 'install' | 'use' | 'remove', key: string): void => {
      const state = requireSecurity(fsm.security, secure);
      const target = resolveKeyringTarget(state, op, key);
      keyringOutcome(fsm.apply(index, { type: 'security.keyring', atMs: index, op, key: target.key }), target, secure);
    };
    assert.throws(() => change(2, 'use', newKey), apiError('not-found', /is installed|installed in the cluster keyring/));
    assert.throws(() => change(3, 'remove', oldKey), apiError('conflict', /primary/));
    change(4, 'install', newKey);
    change(5, 'install', newKey); // idempotent
    change(6, 'use', keyFingerprint(newKey));
    change(7, 'remove', keyFingerprint(oldKey));
    assert.deepEqual(clusterKeys(fsm.security!), { primary: keyFingerprint(newKey), keys: [{ fingerprint: keyFingerprint(newKey), primary: true }] });

    const bare = new ClusterFsm();
    const target = { key: newKey, fingerprint: keyFingerprint(newKey) };
    const result = bare.apply(1, { type: 'security.keyring', atMs: 1, op: 'install', key: newKey });
    assert.throws(() => keyringOutcome(result, target, 'insecure'), apiError('conflict', /--insecure/));
    assert.throws(() => keyringOutcome(result, target, 'secure'), apiError('unavailable'));
    assert.throws(() => requireSecurity(undefined, 'dev'), apiError('conflict', /--dev/));
  });

  it('views list fingerprints only, never key material', () => {
    const fsm = securedFsm();
    assert.ok(fsm.apply(2, { type: 'security.keyring', atMs: 2, op: 'install', key: newKey }).ok);
    const view = keyringView('n1', fsm.security!, { primary: oldKey, all: [oldKey] }, 'secure');
    assert.deepEqual(view, {
      nodeId: 'n1',
      primary: keyFingerprint(oldKey),
      keys: [
        { fingerprint: keyFingerprint(oldKey), primary: true },
        { fingerprint: keyFingerprint(newKey), primary: false },
      ],
      local: { primary: keyFingerprint(oldKey), keys: [keyFingerprint(oldKey)] },
    });
    const text = JSON.stringify(view);
    for (const k of [oldKey, newKey]) assert.ok(!text.includes(k));
    assert.throws(() => keyringView('n1', fsm.security!, undefined, 'insecure'), apiError('conflict'));
  });
});
