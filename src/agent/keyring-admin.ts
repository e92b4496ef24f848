// What the keyring API (src/api/keyring.ts) needs from the agent, as plain functions over the
// replicated security state: which key an operator means (a key, or a fingerprint from
// `keyring list`), the views (fingerprints only: key material never leaves the agent), and the
// API error each refusal maps to. The rules themselves (what may be used or removed) are the
// state machine's (src/core/fsm/security.ts, changeKeyring); this module only explains them.
import { ApiError } from '../api/errors.ts';
import type { KeyringChangeResult, KeyringOp, KeyringView } from '../api/keyring.ts';
import { keyFingerprint, type SecurityState } from '../core/fsm/security.ts';
import type { ApplyResult } from '../core/fsm/types.ts';
import { KeyringError, parseKey } from '../wire/keyring.ts';
import type { SecurityMode } from './security.ts';

/** keyFingerprint's shape: 16 lowercase hex digits (accepted in either case). */
const FINGERPRINT = /^[0-9a-f]{16}$/i;

export interface KeyringTarget {
  /** Canonical base64, as the replicated state stores keys. */
  readonly key: string;
  readonly fingerprint: string;
}

/** The replicated security state, or why there is none to act on (throws an ApiError). */
export function requireSecurity(state: SecurityState | undefined, mode: SecurityMode): SecurityState {
  if (state !== undefined) return state;
  throw noSecurityError(mode);
}

function noSecurityError(mode: SecurityMode): ApiError {
  if (mode === 'secure') {
    return new ApiError('unavailable', "this node has not received the cluster's security settings yet (it is still joining, or the cluster's first leader has not recorded them); retry in a moment or ask another node");
  }
  return new ApiError(
    'conflict',
    `this cluster runs without security (${mode === 'dev' ? '--dev' : '--insecure'}): gossip is not encrypted, so there is no cluster keyring to list or change. ` +
      'Make a key with "sappers keygen --out FILE" and start the agents with --cluster-key-file FILE to have one.',
  );
}

/**
 * The key an operator means. install wants the key itself; use and remove also take a
 * fingerprint (what `keyring list` shows), looked up among the installed keys.
 */
export function resolveKeyringTarget(state: SecurityState, op: KeyringOp, keyOrFingerprint: string): KeyringTarget {
  const text = keyOrFingerprint.trim();
  if (FINGERPRINT.test(text)) {
    if (op === 'install') throw new ApiError('bad-request', `"${text}" looks like a key fingerprint: install needs the key itself (base64, as made by "sappers keygen")`);
    const fingerprint = text.toLowerCase();
    const key = state.gossipKeys.find((k) => keyFingerprint(k) === fingerprint);
    if (key === undefined) throw notInstalled(fingerprint);
    return { key, fingerprint };
  }
  let parsed: Buffer;
  try {
    parsed = parseKey(text, 'key');
  } catch (e) {
    if (!(e instanceof KeyringError)) throw e;
    throw new ApiError('bad-request', op === 'install' ? e.message : `${e.message}; or give the key's fingerprint (16 hex digits, as "sappers keyring list" shows)`);
  }
  // Canonical base64: the state compares keys as text, and a key pasted with other padding or
  // line breaks must still name the installed one.
  const key = parsed.toString('base64');
  return { key, fingerprint: keyFingerprint(key) };
}

/** Returns if the change applied; otherwise throws the ApiError that explains the refusal. */
export function keyringOutcome(result: ApplyResult, target: KeyringTarget, mode: SecurityMode): void {
  if (result.ok) return;
  switch (result.code) {
    case 'not-found':
      throw result.subject === 'security' ? noSecurityError(mode) : notInstalled(target.fingerprint);
    case 'invalid':
      // Removing the primary, or a full keyring: the state is fine, the request conflicts with it.
      throw new ApiError('conflict', result.reason);
    default:
      throw new ApiError('conflict', `keyring change refused: ${result.code}`);
  }
}

function notInstalled(fingerprint: string): ApiError {
  return new ApiError('not-found', `no key with fingerprint ${fingerprint} is installed in the cluster keyring ("sappers keyring list" shows the installed keys; "sappers keyring install KEY" adds one)`);
}

/** The cluster's keyring by fingerprint, in installation order. */
export function clusterKeys(state: SecurityState): Pick<KeyringChangeResult, 'primary' | 'keys'> {
  const primary = keyFingerprint(state.gossipPrimary);
  return { primary, keys: state.gossipKeys.map((k) => ({ fingerprint: keyFingerprint(k), primary: k === state.gossipPrimary })) };
}

/**
 * GET /v1/operator/keyring: the cluster's keyring and the one this node uses now (`local` is
 * undefined only on a node without security, which cannot hold a cluster keyring either).
 */
export function keyringView(nodeId: string, state: SecurityState, local: { readonly primary: string; readonly all: readonly string[] } | undefined, mode: SecurityMode): KeyringView {
  if (local === undefined) throw noSecurityError(mode);
  return { nodeId, ...clusterKeys(state), local: { primary: keyFingerprint(local.primary), keys: local.all.map(keyFingerprint) } };
}
