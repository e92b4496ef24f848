// The cluster's security settings in the replicated state (DESIGN.md: security on by default):
// the CA that signs node certificates, the hash of the management token, and the gossip
// keyring. Replicated so that any node can check API tokens, any leader can issue
// certificates, and a keyring change reaches every node, including one that was down at the
// time (it catches up through Raft, which does not depend on the gossip key).
//
// Secrets sit in the Raft log and snapshots like the rest of the state: the data directory is
// private to the agent (mode 0700) and `snapshot save` files are written 0600. The events
// these commands record never carry key material: keys are named by fingerprint.

import { sha256Hex } from '../sha256.ts';

/** At most this many gossip keys installed at once (rotation needs two; leave room for mistakes). */
export const MAX_GOSSIP_KEYS = 16;

export interface SecurityState {
  /** PEM of the cluster CA certificate and its PKCS#8 private key. */
  readonly caCertPem: string;
  readonly caKeyPem: string;
  /** Lowercase hex sha256 of the management token; the token itself is never stored. */
  readonly managementTokenSha256: string;
  /** Installed gossip keys (base64 AES-256); every one decrypts. */
  readonly gossipKeys: readonly string[];
  /** The key that encrypts; always one of gossipKeys. */
  readonly gossipPrimary: string;
}

/** Set once, by the node that originated the cluster; a second init changes nothing. */
export interface SecurityInit extends SecurityState {
  readonly type: 'security.init';
  readonly atMs: number;
}

export interface KeyringChange {
  readonly type: 'security.keyring';
  readonly atMs: number;
  readonly op: 'install' | 'use' | 'remove';
  /** Base64 AES-256 key. */
  readonly key: string;
}

export type KeyringProblem =
  | { readonly code: 'not-found'; readonly subject: string }
  | { readonly code: 'invalid'; readonly reason: string };

/** A key's public name: enough to tell keys apart in listings and events, useless to an attacker. */
export function keyFingerprint(base64Key: string): string {
  return sha256Hex(new TextEncoder().encode(`sappers-gossip-key:${base64Key}`)).slice(0, 16);
}

/**
 * The keyring after `change`, or why it cannot be made. Rotation is install (everywhere), use,
 * then remove the old key; the primary cannot be removed and only an installed key can be used.
 */
export function changeKeyring(state: SecurityState, change: KeyringChange): { next: SecurityState } | KeyringProblem {
  const fp = keyFingerprint(change.key);
  const installed = state.gossipKeys.includes(change.key);
  switch (change.op) {
    case 'install':
      if (installed) return { next: state };
      if (state.gossipKeys.length >= MAX_GOSSIP_KEYS) {
        return { code: 'invalid', reason: `the keyring already holds ${MAX_GOSSIP_KEYS} keys; remove an old one first` };
      }
      return { next: { ...state, gossipKeys: [...state.gossipKeys, change.key] } };
    case 'use':
      if (!installed) return { code: 'not-found', subject: fp };
      return { next: { ...state, gossipPrimary: change.key } };
    case 'remove':
      if (!installed) return { code: 'not-found', subject: fp };
      if (change.key === state.gossipPrimary) {
        return { code: 'invalid', reason: `key ${fp} is the primary key; make another key primary ("keyring use") before removing it` };
      }
      return { next: { ...state, gossipKeys: state.gossipKeys.filter((k) => k !== change.key) } };
  }
}
