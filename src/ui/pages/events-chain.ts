// The event log's hash chain, checked in the browser exactly as `sappers events verify` does
// (src/cli/commands/events.ts over src/core/fsm/events.ts verifyChain): each event's prevHash is
// the hash before it (the anchor's for the first kept event), seqs are consecutive, and each hash
// is sha256(prevHash + "\n" + JSON [seq, index, atMs, type, subject, detail with sorted keys]),
// lower-case hex. The digest comes from Web Crypto (SubtleCrypto.digest) instead of the cores'
// own sha256, which gives the same bytes (FIPS 180-4), so a page can tell an altered event.
// Web Crypto exists only in secure contexts (https, or http on localhost); the API is plain http,
// so a dashboard opened at http://<node address>:7700/ui/ has none: there the chain is hashed with
// the cores' own sha256 (src/core/sha256.ts, pure TS, the very code that built the chain).

import { sha256Hex as coreSha256Hex } from '../../core/sha256.ts';

/** One event as GET /v1/events returns it. */
export type { ClusterEvent } from '../../core/fsm/types.ts';
import type { ClusterEvent } from '../../core/fsm/types.ts';

/** The seq and hash of the newest event dropped by compaction (0 and '' when none was). */
export interface EventAnchor {
  readonly seq: number;
  readonly hash: string;
}

/** GET /v1/events?from=N&limit=M (src/api/streams.ts EventsPageSchema). */
export interface EventsPage {
  readonly anchor: EventAnchor;
  readonly head: EventAnchor;
  readonly events: readonly ClusterEvent[];
  readonly more: boolean;
}

export interface ChainProblem {
  readonly seq: number;
  readonly problem: string;
}

export type VerifyResult =
  | { readonly ok: true; readonly checked: number; readonly anchor: EventAnchor; readonly head: EventAnchor }
  | { readonly ok: false; readonly checked: number; readonly anchor: EventAnchor; readonly head: EventAnchor; readonly brokenAt: number; readonly problem: string };

const encoder = new TextEncoder();

/** The canonical bytes of an event, as src/core/fsm/events.ts eventHash builds them. */
export function canonicalEventBytes(prevHash: string, e: Omit<ClusterEvent, 'prevHash' | 'hash'>): Uint8Array {
  const detail: Record<string, string | number> = {};
  for (const k of Object.keys(e.detail).sort()) detail[k] = e.detail[k]!;
  const canonical = JSON.stringify([e.seq, e.index, e.atMs, e.type, e.subject, detail]);
  return encoder.encode(`${prevHash}\n${canonical}`);
}

/** Which SHA-256 a verification used (Web Crypto when the page is a secure context). */
export type HashEngine = 'web-crypto' | 'built-in';

export function hashEngine(): HashEngine {
  return globalThis.crypto?.subtle === undefined ? 'built-in' : 'web-crypto';
}

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  if (globalThis.crypto?.subtle === undefined) return coreSha256Hex(bytes);
  const digest = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  let hex = '';
  for (const b of digest) hex += b.toString(16).padStart(2, '0');
  return hex;
}

export async function eventHash(prevHash: string, e: Omit<ClusterEvent, 'prevHash' | 'hash'>): Promise<string> {
  return sha256Hex(canonicalEventBytes(prevHash, e));
}

/** The first broken event of a run checked from its anchor, or undefined when the run is intact. */
export async function verifyChain(anchor: EventAnchor, events: readonly ClusterEvent[]): Promise<ChainProblem | undefined> {
  let prev = anchor;
  for (const e of events) {
    if (e.seq !== prev.seq + 1) return { seq: e.seq, problem: `seq ${e.seq} follows ${prev.seq}: events are missing` };
    if (e.prevHash !== prev.hash) return { seq: e.seq, problem: `prevHash ${short(e.prevHash)} does not match the previous event's hash ${short(prev.hash)}` };
    const recomputed = await eventHash(e.prevHash, e);
    if (recomputed !== e.hash) return { seq: e.seq, problem: `hash ${short(e.hash)} does not match its content (recomputed ${short(recomputed)}): the event was altered` };
    prev = { seq: e.seq, hash: e.hash };
  }
  return undefined;
}

/** Events fetched per request while verifying (the agent keeps at most 10,000). */
export const VERIFY_PAGE_EVENTS = 1000;
/** Bound on pages in one verification (the log is bounded, but it grows while we read). */
const MAX_VERIFY_PAGES = 50;
/** A compaction between two pages moves the anchor past what we hold: start over, this often. */
const MAX_VERIFY_RESTARTS = 3;

/**
 * Fetches every event the agent keeps, from the anchor to the head, page by page, and verifies
 * the chain. `getPage(from, limit)` is GET /v1/events?from=&limit=.
 */
export async function verifyAll(getPage: (from: number, limit: number) => Promise<EventsPage>): Promise<VerifyResult> {
  for (let attempt = 0; ; attempt++) {
    let page = await getPage(1, VERIFY_PAGE_EVENTS);
    const anchor = page.anchor;
    const all: ClusterEvent[] = [...page.events];
    let restarted = false;
    for (let pages = 1; page.more && pages < MAX_VERIFY_PAGES; pages++) {
      const from = all.at(-1)!.seq + 1;
      page = await getPage(from, VERIFY_PAGE_EVENTS);
      // Compaction dropped events we had not read yet: that gap is not tampering; read again.
      if (page.anchor.seq >= from && attempt < MAX_VERIFY_RESTARTS) {
        restarted = true;
        break;
      }
      all.push(...page.events);
    }
    if (restarted) continue;
    const last = all.at(-1);
    const head = last === undefined ? anchor : { seq: last.seq, hash: last.hash };
    const problem = await verifyChain(anchor, all);
    if (problem !== undefined) return { ok: false, checked: all.length, anchor, head, brokenAt: problem.seq, problem: problem.problem };
    return { ok: true, checked: all.length, anchor, head };
  }
}

export function short(hash: string): string {
  return hash === '' ? '(none)' : hash.slice(0, 12);
}
