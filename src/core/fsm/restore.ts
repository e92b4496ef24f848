// Restoring a saved snapshot into the running cluster (PUT /v1/snapshot), as replicated
// commands. One Raft entry holds at most 1 MiB (RAFT_DEFAULTS.maxEntryBytes) and a snapshot may
// hold tens of MiB, so its bytes are staged first:
//   restore.begin  {id, totalBytes, sha256}  starts a staging (replacing an unfinished one);
//   restore.chunk  {id, seq, data}           appends the next MAX_RESTORE_CHUNK_BYTES, in order;
//   restore.commit {id}                      checks length and sha256, decodes, swaps KV and
//                                            sessions in one apply (src/core/fsm/fsm.ts);
//   restore.abort  {id}                      drops the staging (an upload that failed).
//
// The staging is replicated state, so it is part of FSM snapshots: a node that installs a Raft
// snapshot taken mid-upload must hold the same staged bytes as the others, or the commit would
// succeed on some replicas and fail on the rest. It is bounded: one staging at a time, at most
// MAX_RESTORE_BYTES, every chunk full-size but the last (so at most MAX_RESTORE_CHUNKS of them).
// Pure functions over plain data: every replica computes the same outcome from the same commands.

import type { Result } from '../result.ts';
import { sha256Hex } from '../sha256.ts';
import type { FsmSnapshot } from './fsm.ts';

/** Largest snapshot body a restore accepts (also the PUT /v1/snapshot body limit, plus the header). */
export const MAX_RESTORE_BYTES = 256 * 1024 * 1024;
/** Bytes per restore.chunk: half a Raft entry, leaving room for the command's envelope. */
export const MAX_RESTORE_CHUNK_BYTES = 512 * 1024;
/** Chunks of the largest restore. */
export const MAX_RESTORE_CHUNKS = MAX_RESTORE_BYTES / MAX_RESTORE_CHUNK_BYTES;

/** Starts staging a restore of totalBytes whose sha256 is given; replaces an unfinished one. */
export interface RestoreBegin {
  readonly type: 'restore.begin';
  readonly atMs: number;
  /** Names this upload; chunks and the commit carry it, so a replaced upload's stragglers are refused. */
  readonly id: string;
  readonly totalBytes: number;
  /** Lowercase hex sha256 of the whole body. */
  readonly sha256: string;
}

/** The next part of the body: chunk `seq` (0, 1, ...), MAX_RESTORE_CHUNK_BYTES unless the last. */
export interface RestoreChunk {
  readonly type: 'restore.chunk';
  readonly atMs: number;
  readonly id: string;
  readonly seq: number;
  readonly data: Uint8Array;
}

/** Verifies the staged body, decodes it and swaps it in; the staging is used up either way. */
export interface RestoreCommit {
  readonly type: 'restore.commit';
  readonly atMs: number;
  readonly id: string;
}

/** Drops the staging (the uploader gave up). */
export interface RestoreAbort {
  readonly type: 'restore.abort';
  readonly atMs: number;
  readonly id: string;
}

/** A restore being uploaded: its announced size and digest, and the chunks received so far. */
export interface RestoreStaging {
  readonly id: string;
  readonly totalBytes: number;
  /** Hex sha256 of the whole body. */
  readonly sha256: string;
  /** State machine time of the begin (for operators: how old an abandoned staging is). */
  readonly startedAtMs: number;
  readonly chunks: readonly Uint8Array[];
}

/**
 * Decodes and checks a snapshot body (src/wire/snapshot-file.ts decodeRestorableSnapshot): the
 * core cannot import the wire codec, so the state machine is handed one. Every replica must be
 * handed the same, or their commits would disagree.
 */
export type SnapshotDecoder = (body: Uint8Array) => Result<FsmSnapshot, string>;

/** Why a staged restore cannot be committed: a fixed word, fit for an event (no library text). */
export type RestoreFailure = 'length-mismatch' | 'checksum-mismatch' | 'undecodable';

export type StageOutcome =
  | { readonly ok: true; readonly staging: RestoreStaging; readonly duplicate: boolean }
  | { readonly ok: false; readonly code: 'not-found'; readonly subject: string }
  | { readonly ok: false; readonly code: 'invalid'; readonly reason: string };

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** A new staging for restore.begin, or why the command is refused. */
export function beginStaging(c: RestoreBegin, nowMs: number): StageOutcome {
  if (!Number.isSafeInteger(c.totalBytes) || c.totalBytes < 1 || c.totalBytes > MAX_RESTORE_BYTES) {
    return { ok: false, code: 'invalid', reason: `a restore holds 1 to ${MAX_RESTORE_BYTES} bytes, not ${c.totalBytes}` };
  }
  if (!SHA256_HEX.test(c.sha256)) return { ok: false, code: 'invalid', reason: 'restore sha256 must be 64 lowercase hex digits' };
  return { ok: true, staging: { id: c.id, totalBytes: c.totalBytes, sha256: c.sha256, startedAtMs: nowMs, chunks: [] }, duplicate: false };
}

export function stagedBytes(s: RestoreStaging): number {
  let n = 0;
  for (const c of s.chunks) n += c.length;
  return n;
}

/**
 * The staging with restore.chunk appended. Chunks arrive in order and each but the last is full
 * size. The chunk just taken may arrive again (a proposal retried after a timeout that had in fact
 * committed): with the same bytes it is acknowledged and changes nothing.
 */
export function appendChunk(s: RestoreStaging | undefined, c: RestoreChunk): StageOutcome {
  if (s === undefined || s.id !== c.id) return { ok: false, code: 'not-found', subject: c.id };
  const last = s.chunks.at(-1);
  if (c.seq === s.chunks.length - 1 && last !== undefined && equalBytes(last, c.data)) return { ok: true, staging: s, duplicate: true };
  if (c.seq !== s.chunks.length) return { ok: false, code: 'invalid', reason: `restore ${c.id}: chunk ${c.seq} arrived, chunk ${s.chunks.length} was expected` };
  const remaining = s.totalBytes - stagedBytes(s);
  if (remaining === 0) return { ok: false, code: 'invalid', reason: `restore ${c.id}: all ${s.totalBytes} bytes are staged already; commit it` };
  const expected = Math.min(MAX_RESTORE_CHUNK_BYTES, remaining);
  if (c.data.length !== expected) {
    return { ok: false, code: 'invalid', reason: `restore ${c.id}: chunk ${c.seq} has ${c.data.length} bytes, ${expected} were expected (${s.totalBytes} in all)` };
  }
  return { ok: true, staging: { ...s, chunks: [...s.chunks, c.data] }, duplicate: false };
}

/** The staged body once complete and matching its digest; else why not. */
export function assembleStaging(s: RestoreStaging): { ok: true; body: Uint8Array } | { ok: false; why: RestoreFailure; reason: string } {
  const received = stagedBytes(s);
  if (received !== s.totalBytes) return { ok: false, why: 'length-mismatch', reason: `restore ${s.id}: ${received} of ${s.totalBytes} bytes were staged` };
  const body = new Uint8Array(received);
  let at = 0;
  for (const c of s.chunks) {
    body.set(c, at);
    at += c.length;
  }
  const digest = sha256Hex(body);
  if (digest !== s.sha256) return { ok: false, why: 'checksum-mismatch', reason: `restore ${s.id}: the staged bytes hash to ${digest}, not the announced ${s.sha256}` };
  return { ok: true, body };
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The body cut as restore.chunk commands carry it: full chunks, then the rest (views, not copies). */
export function chunkBody(body: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < body.length; at += MAX_RESTORE_CHUNK_BYTES) out.push(body.subarray(at, Math.min(body.length, at + MAX_RESTORE_CHUNK_BYTES)));
  return out;
}
