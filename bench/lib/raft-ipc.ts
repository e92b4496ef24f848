// The IPC protocol between the Raft benchmark and its node processes (bench/lib/raft-node-process.ts),
// over child_process.fork's channel (JSON). Every command carries a sequence number that its
// answer repeats; 'listening' and 'problem' are unsolicited (seq 0).

import type { LoadPlan, LoadResult } from './raft-bench-node.ts';

/** argv of the node process: id, voters (comma-separated), storage directory, PRNG seed. */
export interface RaftProcessArgs {
  readonly id: string;
  readonly voters: readonly string[];
  readonly dir: string;
  readonly seed: number;
}

export type ParentCommand =
  /** Peer RPC addresses by node ID; the node starts once it has them. */
  | { readonly type: 'start'; readonly seq: number; readonly peers: Readonly<Record<string, string>> }
  | { readonly type: 'status'; readonly seq: number }
  /** Run the load generator here (only sensible on the leader). */
  | { readonly type: 'load'; readonly seq: number; readonly plan: LoadPlan }
  /** Stop the node, close storage and transport, then exit. */
  | { readonly type: 'stop'; readonly seq: number };

export interface NodeStatusReport {
  readonly role: string;
  readonly leader: string | undefined;
  readonly term: number;
  readonly commit: number;
  readonly applied: number;
}

export type ChildReply =
  | { readonly type: 'listening'; readonly seq: 0; readonly address: string }
  | { readonly type: 'problem'; readonly seq: 0; readonly line: string }
  | { readonly type: 'started'; readonly seq: number }
  | { readonly type: 'status'; readonly seq: number; readonly status: NodeStatusReport }
  | { readonly type: 'load-result'; readonly seq: number; readonly result: LoadResult }
  | { readonly type: 'stopped'; readonly seq: number }
  | { readonly type: 'error'; readonly seq: number; readonly message: string };

export function encodeArgs(a: RaftProcessArgs): string[] {
  return [a.id, a.voters.join(','), a.dir, String(a.seed)];
}

export function decodeArgs(argv: readonly string[]): RaftProcessArgs {
  const [id, voters, dir, seed] = argv;
  if (id === undefined || voters === undefined || dir === undefined || seed === undefined || !Number.isSafeInteger(Number(seed))) {
    throw new Error(`usage: raft-node-process.ts ID VOTER,VOTER,... DIR SEED (got ${JSON.stringify(argv)})`);
  }
  return { id, voters: voters.split(','), dir, seed: Number(seed) };
}
