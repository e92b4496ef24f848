// The replicated state machine's commands, results and state (DESIGN.md, Replicated state).
// Commands are plain data, encoded on the wire by src/wire/fsm.ts (which carries the version)
// and applied identically on every node: no clocks or randomness inside apply. Time enters only
// as `atMs`, the proposer's wall clock written into the command, so every node sees the same.

import type { NodeId } from '../swim/types.ts';
import type { KeyringChange, SecurityInit } from './security.ts';
import type { RestoreAbort, RestoreBegin, RestoreChunk, RestoreCommit } from './restore.ts';
import type { JobDeregister, JobRegister } from './jobs.ts';
import type { AllocPlan, AllocUpdate } from './allocs.ts';

export type { NodeId };

/** A KV revision: one counter for the whole store, +1 per change (etcd's model). */
export type Revision = number;

export type Command =
  | KvPut
  | KvDelete
  | SessionCreate
  | SessionKeepAlive
  | SessionDestroy
  | NodeUpsert
  | NodeRemove
  | Note
  | SecurityInit
  | KeyringChange
  | RestoreBegin
  | RestoreChunk
  | RestoreCommit
  | RestoreAbort
  | JobRegister
  | JobDeregister
  | AllocPlan
  | AllocUpdate;

interface CommandBase {
  /** The proposer's wall clock (ms since the epoch); the state machine's time never goes back. */
  readonly atMs: number;
}

export interface KvPut extends CommandBase {
  readonly type: 'kv.put';
  readonly key: string;
  readonly value: Uint8Array;
  /** Compare-and-swap: apply only if the key's modRevision is this (0 = the key must not exist). */
  readonly ifModRevision?: number;
  /** Attach the key to a session: it is deleted when the session ends (locks, leader keys). */
  readonly session?: string;
}

export interface KvDelete extends CommandBase {
  readonly type: 'kv.delete';
  readonly key: string;
  readonly ifModRevision?: number;
}

export interface SessionCreate extends CommandBase {
  readonly type: 'session.create';
  readonly id: string;
  readonly ttlMs: number;
  /** Who holds it (a node or client name), for operators. */
  readonly owner: string;
}

export interface SessionKeepAlive extends CommandBase {
  readonly type: 'session.keepalive';
  readonly id: string;
}

export interface SessionDestroy extends CommandBase {
  readonly type: 'session.destroy';
  readonly id: string;
  /**
   * released: the holder ended it. expired: the leader saw its TTL pass; applied only if it has
   * really expired by the command's time (a keepalive may have won the race).
   */
  readonly reason: 'released' | 'expired';
}

export interface NodeUpsert extends CommandBase {
  readonly type: 'node.upsert';
  readonly id: NodeId;
  readonly rpcAddr: string;
  readonly httpAddr: string;
  readonly tags: Readonly<Record<string, string>>;
}

export interface NodeRemove extends CommandBase {
  readonly type: 'node.remove';
  readonly id: NodeId;
  readonly reason: string;
}

/** A decision worth recording (autopilot, recovery): only an event. */
export interface Note extends CommandBase {
  readonly type: 'note';
  readonly kind: string;
  readonly subject: string;
  readonly message: string;
}

export type CommandType = Command['type'];

// --- Results -------------------------------------------------------------------------------

export type ApplyResult =
  | { readonly ok: true; readonly revision: Revision; readonly event: number }
  | { readonly ok: false; readonly code: 'cas-mismatch'; readonly modRevision: Revision }
  | { readonly ok: false; readonly code: 'no-session'; readonly session: string }
  | { readonly ok: false; readonly code: 'not-found'; readonly subject: string }
  | { readonly ok: false; readonly code: 'exists'; readonly subject: string }
  | { readonly ok: false; readonly code: 'not-expired'; readonly subject: string }
  | { readonly ok: false; readonly code: 'invalid'; readonly reason: string };

// --- State ---------------------------------------------------------------------------------

export interface KvEntry {
  readonly key: string;
  readonly value: Uint8Array;
  /** Revision of the put that created the key (since it last did not exist). */
  readonly createRevision: Revision;
  /** Revision of the last put. */
  readonly modRevision: Revision;
  /** Puts since creation (1 after the first). */
  readonly version: number;
  readonly session: string | undefined;
}

/** One change to the KV store, kept for watches from a past revision. */
export interface KvChange {
  readonly revision: Revision;
  readonly type: 'put' | 'delete';
  readonly key: string;
  /** The entry after a put; undefined for a delete. */
  readonly entry: KvEntry | undefined;
}

export interface Session {
  readonly id: string;
  readonly owner: string;
  readonly ttlMs: number;
  readonly expiresAtMs: number;
  readonly createdAtMs: number;
}

export interface NodeRecord {
  readonly id: NodeId;
  readonly rpcAddr: string;
  readonly httpAddr: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly firstSeenAtMs: number;
  readonly updatedAtMs: number;
}

/** One entry of the tamper-evident event log. */
export interface ClusterEvent {
  /** 1, 2, 3, ... across the cluster's life. */
  readonly seq: number;
  /** The Raft log index of the command that produced it. */
  readonly index: number;
  readonly atMs: number;
  readonly type: string;
  readonly subject: string;
  /** Small, flat, string or number details (values are summarized by length and hash). */
  readonly detail: Readonly<Record<string, string | number>>;
  /** Hex sha256 of the previous event ('' before the first). */
  readonly prevHash: string;
  /** Hex sha256 over prevHash and this event's canonical body. */
  readonly hash: string;
}
