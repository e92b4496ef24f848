// Helpers for driving one Raft core by hand: build a node from a chosen log, step hand-made
// messages, drain its Readies. Used by the per-rule tests (figure2.test.ts, safety.test.ts).

import { SeededRandom } from '../../../src/core/random.ts';
import { RAFT_DEFAULTS, type RaftOptions } from '../../../src/core/raft/options.ts';
import { Raft, type RestoredState } from '../../../src/core/raft/raft.ts';
import type {
  AppendRequest,
  ClusterConfig,
  Entry,
  HardState,
  HeartbeatRequest,
  Message,
  NodeId,
  Ready,
  VoteRequest,
} from '../../../src/core/raft/types.ts';
import { bytes, nid, type RaftHarness } from './harness.ts';

/** Plain Raft as in the paper: no pre-vote, no check-quorum (each test turns on what it needs). */
export const PAPER: Partial<Omit<RaftOptions, 'id'>> = { preVote: false, checkQuorum: false };

export function cfg(voters: readonly number[], learners: readonly number[] = []): ClusterConfig {
  return { voters: voters.map(nid), learners: learners.map(nid) };
}

/** A normal entry; data defaults to "t<term>i<index>" so entries of different terms differ. */
export function ent(term: number, index: number, data?: string): Entry {
  return { term, index, type: 'normal', data: bytes(data ?? `t${term}i${index}`) };
}

/** Entry 1 is the bootstrap config entry (term terms[0]); the others are normal entries. */
export function logOf(terms: readonly number[], config: ClusterConfig): Entry[] {
  return terms.map((term, i) =>
    i === 0 ? { term, index: 1, type: 'config', data: new Uint8Array(0), config } : ent(term, i + 1),
  );
}

export function stateOf(terms: readonly number[], config: ClusterConfig, hard: Partial<HardState> = {}): RestoredState {
  const entries = logOf(terms, config);
  return {
    hardState: { term: hard.term ?? terms.at(-1) ?? 0, vote: hard.vote, commit: hard.commit ?? 1 },
    snapshot: undefined,
    entries,
  };
}

export function newRaft(id: number, state: RestoredState, options: Partial<Omit<RaftOptions, 'id'>> = PAPER, seed = 1): Raft {
  return new Raft({ ...RAFT_DEFAULTS, ...options, id: nid(id) }, new SeededRandom(seed), state);
}

/** Every pending Ready, each advanced right away (as if persisted, sent and applied). */
export function drain(r: Raft): Ready[] {
  const out: Ready[] = [];
  for (let i = 0; r.hasReady(); i++) {
    if (i > 100) throw new Error('hasReady() never settles');
    const rd = r.ready();
    out.push(rd);
    r.advance(rd);
  }
  return out;
}

export function sent(readies: readonly Ready[]): Message[] {
  return readies.flatMap((rd) => rd.messages);
}

export function termsOf(r: Raft): number[] {
  const out: number[] = [];
  for (let i = r.log.firstIndex; i <= r.log.lastIndex; i++) out.push(r.log.term(i)!);
  return out;
}

export function voteReq(
  from: number,
  to: number,
  term: number,
  lastLogIndex: number,
  lastLogTerm: number,
  extra: { preVote?: boolean; transfer?: boolean } = {},
): VoteRequest {
  return {
    type: 'vote',
    from: nid(from),
    to: nid(to),
    term,
    lastLogIndex,
    lastLogTerm,
    preVote: extra.preVote ?? false,
    transfer: extra.transfer ?? false,
  };
}

export function appendReq(
  from: number,
  to: number,
  term: number,
  prevLogIndex: number,
  prevLogTerm: number,
  entries: readonly Entry[],
  commit: number,
): AppendRequest {
  return { type: 'append', from: nid(from), to: nid(to), term, prevLogIndex, prevLogTerm, entries, commit };
}

export function heartbeatReq(from: number, to: number, term: number, commit: number, readRound = 0): HeartbeatRequest {
  return { type: 'heartbeat', from: nid(from), to: nid(to), term, commit, readRound };
}

/** Replaces a harness node's disk with the given log and restarts it from there. */
export function setDisk(h: RaftHarness, id: number, terms: readonly number[], hard: Partial<HardState> = {}): void {
  const n = h.node(id);
  const config = (n.disk.entries[0]?.config ?? n.raft.log.config) as ClusterConfig;
  const s = stateOf(terms, config, hard);
  n.disk.entries = [...s.entries];
  n.disk.hardState = s.hardState;
  h.restart(id);
}

export type { NodeId };
