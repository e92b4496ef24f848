// Group bootstrap, `--bootstrap-expect N` (DESIGN.md, Bootstrap): nodes that find each other by
// gossip but no cluster wait until N are present, then form ONE cluster whose initial voters
// are the same N nodes on every one of them. Pure: the agent feeds in what gossip shows and
// carries out the decisions (src/agent/bootstrap-runner.ts).
//
// Seeing the same N nodes is not enough: views differ while gossip converges (node a may see
// {a, c, d} while b sees {b, c, d}), and two nodes that each think they are the lowest ID would
// form two clusters. So forming takes a promise round, like a single-decree Paxos prepare:
//   1. The lowest ID among the waiting nodes it sees proposes S, the N lowest IDs.
//   2. Every member of S, the proposer included, promises durably to follow only that proposer
//      and refuses other proposers until the promise lapses (a TTL the proposer renews with
//      every round it runs).
//   3. With every promise in hand the proposer tells S to form; each forms with exactly S and
//      publishes S in its gossip metadata, so a member that missed the message adopts S from
//      anyone who formed (even a proposer that died right after).
// Two proposals can both succeed only with disjoint promise sets, that is, with at least 2N
// nodes started with --bootstrap-expect N; start exactly N that way and join the rest.

/** A member as gossip shows it, with its bootstrap metadata (absent: not bootstrapping). */
export interface BootstrapPeer {
  readonly id: string;
  readonly alive: boolean;
  /** voters empty: waiting for N nodes; non-empty: formed with these initial voters. */
  readonly bootstrap?: { readonly expect: number; readonly voters: readonly string[] } | undefined;
}

/** A durable promise to follow one proposer's set (see step 2). */
export interface Promise_ {
  readonly to: string;
  readonly voters: readonly string[];
  /** Wall-clock ms after which the promise lapses (the proposer renews it each round). */
  readonly untilMs: number;
}

export const PROMISE_TTL_MS = 30_000;

export interface BootstrapView {
  readonly self: string;
  readonly expect: number;
  /** Every member gossip knows, except this node. */
  readonly peers: readonly BootstrapPeer[];
  readonly promise: Promise_ | undefined;
  readonly nowMs: number;
}

export type BootstrapDecision =
  | { readonly kind: 'wait'; readonly reason: string }
  /** A cluster exists that does not list this node: its leader adds us as a learner. */
  | { readonly kind: 'join-existing'; readonly reason: string }
  /** Ask the other members of `voters` for their promise, then tell them to form. */
  | { readonly kind: 'propose'; readonly voters: readonly string[] }
  /** Form now with exactly these initial voters (someone in the set already has). */
  | { readonly kind: 'form'; readonly voters: readonly string[]; readonly reason: string };

/** What a node still waiting should do next, given what gossip shows. */
export function decideBootstrap(view: BootstrapView): BootstrapDecision {
  const { self, expect, peers } = view;
  // Anyone who formed (alive or not: a proposer may die right after) with us in the set: adopt it.
  const formed = peers.find((p) => (p.bootstrap?.voters.length ?? 0) > 0 && p.bootstrap!.voters.includes(self));
  if (formed !== undefined) return { kind: 'form', voters: [...formed.bootstrap!.voters], reason: `${formed.id} formed the cluster with this node as a voter` };
  const alive = peers.filter((p) => p.alive);
  const inCluster = alive.find((p) => p.bootstrap === undefined || p.bootstrap.voters.length > 0);
  if (inCluster !== undefined) return { kind: 'join-existing', reason: `${inCluster.id} already belongs to a cluster` };
  const disagree = alive.find((p) => p.bootstrap!.expect !== expect);
  if (disagree !== undefined) {
    return { kind: 'wait', reason: `${disagree.id} expects ${disagree.bootstrap!.expect} nodes, this node ${expect}: give every node the same --bootstrap-expect` };
  }
  const waiting = [self, ...alive.map((p) => p.id)].sort(compareIds);
  if (waiting.length < expect) return { kind: 'wait', reason: `${waiting.length} of ${expect} nodes are here` };
  const proposer = waiting[0]!;
  if (proposer !== self) return { kind: 'wait', reason: `${proposer} (the lowest node ID) proposes the initial voters` };
  const promise = livePromise(view);
  if (promise !== undefined && promise.to !== self) return { kind: 'wait', reason: `this node promised to follow ${promise.to}` };
  // A promise to ourselves for another set (the view changed): propose the new set once it lapses.
  const voters = waiting.slice(0, expect);
  if (promise !== undefined && !sameSet(promise.voters, voters)) return { kind: 'wait', reason: `this node's own proposal of ${promise.voters.join(',')} is still in force` };
  return { kind: 'propose', voters };
}

export type PromiseAnswer =
  | { readonly granted: true; readonly promise: Promise_ }
  | { readonly granted: false; readonly reason: string };

/**
 * A proposer asks this node to promise. `formed`: this node already has Raft state. Granting
 * returns the promise to persist BEFORE answering (a forgotten promise could be given twice).
 */
export function answerPromise(view: BootstrapView, formed: boolean, from: string, voters: readonly string[]): PromiseAnswer {
  const { self, expect, nowMs } = view;
  if (formed) return { granted: false, reason: `${self} already belongs to a cluster` };
  if (voters.length !== expect || new Set(voters).size !== voters.length) {
    return { granted: false, reason: `${from} proposed ${voters.length} voters, this node expects ${expect} (--bootstrap-expect)` };
  }
  if (!voters.includes(self) || !voters.includes(from)) return { granted: false, reason: `the proposed voters must include ${self} and ${from}` };
  const promise = livePromise(view);
  if (promise !== undefined && promise.to !== from) return { granted: false, reason: `${self} promised to follow ${promise.to}` };
  if (promise !== undefined && !sameSet(promise.voters, voters)) {
    return { granted: false, reason: `${self} promised ${from} the voters ${promise.voters.join(',')}, not ${voters.join(',')}` };
  }
  return { granted: true, promise: { to: from, voters: [...voters], untilMs: nowMs + PROMISE_TTL_MS } };
}

/** Told to form by `from`: allowed only with a promise to it for exactly these voters. */
export function answerForm(view: BootstrapView, from: string, voters: readonly string[]): { ok: true } | { ok: false; reason: string } {
  const promise = view.promise;
  if (promise === undefined || promise.to !== from) return { ok: false, reason: `${view.self} has no promise to ${from}` };
  if (!sameSet(promise.voters, voters)) return { ok: false, reason: `${view.self} promised the voters ${promise.voters.join(',')}` };
  return { ok: true };
}

/**
 * The promise in force until its TTL: a proposer renews its promises with every round, so they
 * lapse only once it stops asking (it failed, or deferred to a lower ID that appeared).
 */
function livePromise(view: BootstrapView): Promise_ | undefined {
  const p = view.promise;
  return p !== undefined && view.nowMs < p.untilMs ? p : undefined;
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

/** Code-unit order: the same on every node, whatever its locale. */
function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
