// Property tests of the quorum maths (src/core/raft/quorum.ts) against naive references written
// here by brute force: count, enumerate, try every subset. Fixed fast-check seeds keep runs
// reproducible.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  applyConfigChange,
  committedIndex,
  hasQuorum,
  isSafeSuccessor,
  isWellFormed,
  majority,
  sameConfig,
  voteOutcome,
  type ConfigChange,
  type VoteOutcome,
} from '../../../src/core/raft/quorum.ts';
import type { ClusterConfig, NodeId } from '../../../src/core/raft/types.ts';
import { nid } from './harness.ts';

const RUNS = { seed: 20240607, numRuns: 300 };
const UNIVERSE = ['1', '2', '3', '4', '5', '6'].map(nid);

// --- naive references -------------------------------------------------------------------------

function refMajority(n: number): number {
  // Smallest k with k > n - k.
  let k = 0;
  while (k <= n - k) k++;
  return k;
}

function refCommitted(voters: readonly NodeId[], match: ReadonlyMap<NodeId, number>): number {
  if (voters.length === 0) return 0;
  const top = Math.max(0, ...voters.map((v) => match.get(v) ?? 0));
  for (let i = top; i > 0; i--) {
    const holders = voters.filter((v) => (match.get(v) ?? 0) >= i).length;
    if (holders > voters.length - holders) return i;
  }
  return 0;
}

/** Enumerates every way the voters who have not answered could answer. */
function refVoteOutcome(voters: readonly NodeId[], granted: ReadonlyMap<NodeId, boolean>): VoteOutcome {
  const open = voters.filter((v) => !granted.has(v));
  let canWin = false;
  let canLose = false;
  for (let mask = 0; mask < 1 << open.length; mask++) {
    let yes = 0;
    for (const v of voters) {
      const known = granted.get(v);
      const answer = known ?? (mask & (1 << open.indexOf(v))) !== 0;
      if (answer) yes++;
    }
    if (yes > voters.length - yes) canWin = true;
    else canLose = true;
  }
  if (canWin && !canLose) return 'won';
  if (!canWin) return 'lost';
  return 'pending';
}

function subsets<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let mask = 0; mask < 1 << items.length; mask++) out.push(items.filter((_, i) => (mask & (1 << i)) !== 0));
  return out;
}

/** Every majority of `a` shares a member with every majority of `b` (tried one by one). */
function majoritiesIntersect(a: readonly NodeId[], b: readonly NodeId[]): boolean {
  const majA = subsets(a).filter((s) => s.length > a.length - s.length);
  const majB = subsets(b).filter((s) => s.length > b.length - s.length);
  return majA.every((x) => majB.every((y) => x.some((id) => y.includes(id))));
}

function refApply(config: ClusterConfig, change: ConfigChange): ClusterConfig | undefined {
  const voters = new Set(config.voters);
  const learners = new Set(config.learners);
  const n = change.node;
  switch (change.kind) {
    case 'add-learner':
      if (voters.has(n) || learners.has(n)) return undefined;
      learners.add(n);
      break;
    case 'promote':
      if (!learners.has(n)) return undefined;
      learners.delete(n);
      voters.add(n);
      break;
    case 'demote':
      if (!voters.has(n) || voters.size === 1) return undefined;
      voters.delete(n);
      learners.add(n);
      break;
    case 'remove':
      if (!voters.has(n) && !learners.has(n)) return undefined;
      if (voters.has(n) && voters.size === 1) return undefined;
      voters.delete(n);
      learners.delete(n);
      break;
  }
  return { voters: [...voters], learners: [...learners] };
}

// --- generators -------------------------------------------------------------------------------

const voterSet = fc.subarray(UNIVERSE, { minLength: 0, maxLength: 6 });
const nonEmptyVoterSet = fc.subarray(UNIVERSE, { minLength: 1, maxLength: 6 });

/** A well-formed config: voters and learners disjoint. */
const config = fc
  .tuple(nonEmptyVoterSet, fc.subarray(UNIVERSE))
  .map(([voters, maybeLearners]): ClusterConfig => ({ voters, learners: maybeLearners.filter((id) => !voters.includes(id)) }));

/** Any pair of voter lists and learner lists, possibly malformed (duplicates, overlap). */
const anyConfig = fc
  .tuple(fc.array(fc.constantFrom(...UNIVERSE), { maxLength: 6 }), fc.array(fc.constantFrom(...UNIVERSE), { maxLength: 3 }))
  .map(([voters, learners]): ClusterConfig => ({ voters, learners }));

const change = fc.record({
  kind: fc.constantFrom('add-learner', 'promote', 'demote', 'remove'),
  node: fc.constantFrom(...UNIVERSE),
}) as fc.Arbitrary<ConfigChange>;

// --- tests ------------------------------------------------------------------------------------

test('majority is the smallest strict majority', () => {
  for (let n = 0; n <= 50; n++) assert.equal(majority(n), refMajority(n), `n=${n}`);
});

test('committedIndex is the largest index a majority of voters holds', () => {
  fc.assert(
    fc.property(voterSet, fc.array(fc.nat({ max: 12 }), { minLength: 6, maxLength: 6 }), (voters, values) => {
      const match = new Map(UNIVERSE.map((id, i) => [id, values[i]!]));
      const got = committedIndex(voters, (id) => match.get(id) ?? 0);
      assert.equal(got, refCommitted(voters, match), `voters=${voters} match=${values}`);
    }),
    RUNS,
  );
  // Nodes outside the voter set never count, however far ahead they are.
  assert.equal(committedIndex([nid(1), nid(2), nid(3)], (id) => (id === '1' ? 9 : 0)), 0);
});

test('voteOutcome agrees with enumerating every way the open voters could answer', () => {
  const answer = fc.constantFrom<boolean | undefined>(true, false, undefined);
  fc.assert(
    fc.property(voterSet, fc.array(answer, { minLength: 6, maxLength: 6 }), (voters, answers) => {
      // Answers from non-voters are in the map too: they must be ignored.
      const granted = new Map<NodeId, boolean>();
      UNIVERSE.forEach((id, i) => {
        const a = answers[i];
        if (a !== undefined) granted.set(id, a);
      });
      assert.equal(voteOutcome(voters, granted), refVoteOutcome(voters, granted), `voters=${voters} answers=${answers}`);
    }),
    RUNS,
  );
});

test('hasQuorum is true exactly when the present voters outnumber the absent ones', () => {
  fc.assert(
    fc.property(voterSet, fc.subarray(UNIVERSE), (voters, present) => {
      const here = voters.filter((v) => present.includes(v)).length;
      const expected = voters.length > 0 && here > voters.length - here;
      assert.equal(hasQuorum(voters, (id) => present.includes(id)), expected);
    }),
    RUNS,
  );
});

test('applyConfigChange matches the reference and refuses what the reference refuses', () => {
  fc.assert(
    fc.property(config, change, (c, ch) => {
      const got = applyConfigChange(c, ch);
      const want = refApply(c, ch);
      if (want === undefined) {
        assert.ok('error' in got, `${ch.kind} ${ch.node} on ${JSON.stringify(c)} should be refused`);
      } else {
        assert.ok('config' in got, `${ch.kind} ${ch.node} on ${JSON.stringify(c)} refused: ${'error' in got ? got.error : ''}`);
        assert.ok(sameConfig(got.config, want));
        // The input is never mutated.
        assert.notEqual(got.config, c);
      }
    }),
    RUNS,
  );
});

test('every chain of allowed changes keeps majorities of consecutive configs intersecting', () => {
  let applied = 0;
  fc.assert(
    fc.property(config, fc.array(change, { maxLength: 25 }), (start, changes) => {
      let current = start;
      for (const ch of changes) {
        const next = applyConfigChange(current, ch);
        if ('error' in next) continue;
        assert.ok(isWellFormed(next.config), `${JSON.stringify(next.config)} is well formed`);
        assert.ok(next.config.voters.length > 0, 'never drops to zero voters');
        assert.ok(isSafeSuccessor(current, next.config), `${ch.kind} ${ch.node}: ${JSON.stringify(current)} -> ${JSON.stringify(next.config)}`);
        assert.ok(majoritiesIntersect(current.voters, next.config.voters), `majorities of ${current.voters} and ${next.config.voters} intersect`);
        current = next.config;
        applied++;
      }
    }),
    RUNS,
  );
  // The chains really moved (a generator that only produced refused changes would prove nothing).
  assert.ok(applied > 300, `only ${applied} changes applied`);
});

test('isSafeSuccessor: at most one voter differs, at least one voter, nobody twice; and it implies intersection', () => {
  let allowed = 0;
  fc.assert(
    fc.property(config, anyConfig, (prev, next) => {
      const changed =
        next.voters.filter((v) => !prev.voters.includes(v)).length + prev.voters.filter((v) => !next.voters.includes(v)).length;
      const all = [...next.voters, ...next.learners];
      const wellFormed = new Set(all).size === all.length;
      const expected = wellFormed && next.voters.length > 0 && changed <= 1;
      assert.equal(isSafeSuccessor(prev, next), expected, `${JSON.stringify(prev)} -> ${JSON.stringify(next)}`);
      // The point of the rule: whatever it allows keeps majorities overlapping.
      if (expected) {
        allowed++;
        assert.ok(majoritiesIntersect(prev.voters, next.voters));
      }
    }),
    { ...RUNS, numRuns: 2000 },
  );
  assert.ok(allowed > 10, `only ${allowed} allowed pairs generated`);
  // Two voters at once can split: {1,2} of the old and {3,4,5} of the new config are disjoint.
  const prev: ClusterConfig = { voters: ['1', '2', '3'].map(nid), learners: [] };
  const next: ClusterConfig = { voters: ['1', '2', '3', '4', '5'].map(nid), learners: [] };
  assert.equal(majoritiesIntersect(prev.voters, next.voters), false);
  assert.equal(isSafeSuccessor(prev, next), false);
});
