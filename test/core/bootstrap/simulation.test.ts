// Deterministic simulations of group bootstrap (--bootstrap-expect N) on the model in
// ./model.ts: K nodes, N <= K < 2N, partial and asymmetric gossip views that grow in random
// order, crashes and restarts, lost, delayed and reordered messages, wrong suspicions. Safety is
// checked after every event (every node with Raft state has the same N distinct existing
// voters); once faults stop and views converge, every member of the agreed set must have formed
// with it, and every other node be a learner, within a bounded time.
// Every failure names its seed; replay one with BOOTSTRAP_SEED=<seed>.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { answerForm, answerPromise, decideBootstrap, type BootstrapDecision, type BootstrapView } from '../../../src/core/bootstrap/bootstrap.ts';
import { SeededRandom, type Random } from '../../../src/core/random.ts';
import { BootstrapModel, PROMISE_TTL_MS, ROUND_MS, type BootstrapRules, type FormedHow, type NetworkSettings, type RunnerBehaviour } from './model.ts';

const REAL_RULES: BootstrapRules = { decide: decideBootstrap, answerPromise, answerForm };
const RUNNER: RunnerBehaviour = { dropOwnPromiseWhenWaiting: false, rearmPromiseOnRestart: true };
/**
 * The runner before the fix: a deferring proposer dropped its own promise at once, and a promise
 * that lapsed while its node was down freed it the moment it restarted.
 */
const RUNNER_BEFORE_FIX: RunnerBehaviour = { dropOwnPromiseWhenWaiting: true, rearmPromiseOnRestart: false };

/** Naive rule, for contrast only: the lowest ID of its view forms with the N lowest at once. */
const NAIVE_RULES: BootstrapRules = {
  decide(view: BootstrapView): BootstrapDecision {
    const d = decideBootstrap({ ...view, promise: undefined });
    return d.kind === 'propose' ? { kind: 'form', voters: d.voters, reason: 'lowest ID of its view' } : d;
  },
  answerPromise,
  answerForm,
};

const CALM: NetworkSettings = { lossRate: 0, minDelayMs: 1, maxDelayMs: 50, minGossipDelayMs: 10, maxGossipDelayMs: 500, discoverWithinMs: 2000 };
/** After faults stop: restarts and discovery (2 s each), promises lapsing, rounds to finish. */
const SETTLE_BOUND_MS = 2000 + 2000 + PROMISE_TTL_MS + 20 * ROUND_MS;

function randomId(random: Random): string {
  return random.nextUint32().toString(36).padStart(7, '0');
}

interface RunOutcome {
  readonly seed: number;
  readonly expect: number;
  readonly nodes: number;
  readonly agreed: readonly string[];
  readonly settleMs: number;
  readonly formedDuringFaults: boolean;
  readonly how: Readonly<Record<FormedHow, number>>;
  readonly model: BootstrapModel;
}

/**
 * One random run; throws (naming the seed) on a safety or liveness failure. `size` pins N and K
 * (otherwise N in 2..5, K in N..2N-1).
 *
 * Timing assumption (the design's, see the header of src/core/bootstrap/bootstrap.ts): a node
 * hears of a formed member well within PROMISE_TTL_MS. Views here fill in within 10 s of a
 * (re)start and carry changes within 8 s; the scripted 'limit' test below shows what happens
 * when a restarted proposer stays cut off from the formed member for longer than a promise lives.
 */
function randomRun(seed: number, behaviour: RunnerBehaviour = RUNNER, size?: { expect: number; nodes: number }): RunOutcome {
  const random = new SeededRandom(seed);
  const expect = size?.expect ?? 2 + random.int(4);
  const k = size?.nodes ?? expect + random.int(expect);
  const ids = new Set<string>();
  while (ids.size < k) ids.add(randomId(random));
  const faultMs = 20_000 + random.int(40_000);
  const faulty: NetworkSettings = {
    lossRate: random.float() * 0.5,
    minDelayMs: 1,
    maxDelayMs: 5 + random.int(2500),
    minGossipDelayMs: 20,
    maxGossipDelayMs: 50 + random.int(8000),
    discoverWithinMs: random.int(10_000),
  };
  const model = new BootstrapModel({ ids: [...ids], expect, rules: REAL_RULES, behaviour, random: random.fork(), network: faulty });
  const list = model.ids();
  const pick = (): string => list[random.int(list.length)]!;
  // Often the higher IDs start first, so early proposers meet lower IDs later and defer.
  const startSpreadMs = random.int(20_000);
  const descending = random.int(2) === 0;
  const byId = [...list].sort().reverse();
  byId.forEach((id, i) => model.start(id, descending ? Math.floor((i * startSpreadMs) / k) + random.int(500) : random.int(startSpreadMs + 1)));
  // Crashes, some longer than a promise lives.
  const maxDownMs = random.int(2) === 0 ? 5000 : 45_000;
  for (let i = random.int(2 * k + 1); i > 0; i--) {
    const id = pick();
    const at = random.int(faultMs);
    model.crash(id, at);
    model.restart(id, at + 100 + random.int(maxDownMs));
  }
  for (let i = random.int(3 * k); i > 0; i--) {
    const observer = pick();
    const subject = pick();
    if (observer !== subject) model.suspect(observer, subject, random.int(faultMs), random.int(5000));
  }
  model.setCrashPoints({ afterFormSentRate: random.float() * 0.5, afterFormedRate: random.float() * 0.3, minDownMs: 100, maxDownMs }, 0);
  // Faults stop: everyone runs again, views converge, the leader brings in the rest.
  model.setCrashPoints(undefined, faultMs);
  model.setNetwork(CALM, faultMs);
  model.endSuspicions(faultMs);
  model.enableRaftDelivery(faultMs);
  for (const id of list) {
    model.restart(id, faultMs + random.int(2000));
    for (const other of list) if (other !== id) model.discover(id, other, faultMs + random.int(2000));
  }

  const fail = (what: string): never => assert.fail(`seed ${seed} (N=${expect}, K=${k}): ${what}${model.trace()}`);
  const check = (): void => {
    const violation = model.safetyViolation();
    if (violation !== undefined) fail(violation);
  };
  model.run(faultMs, check);
  const formedDuringFaults = list.some((id) => model.raftOf(id) !== undefined);
  const settled = (): boolean => {
    const agreed = list.map((id) => model.raftOf(id)).find((r) => r !== undefined && r.how !== 'raft-learner')?.voters;
    if (agreed === undefined) return false;
    return list.every((id) => {
      const r = model.raftOf(id);
      return r !== undefined && (r.how === 'raft-learner') === !agreed.includes(id);
    });
  };
  if (model.run(faultMs + SETTLE_BOUND_MS, check, settled)) {
    const stuck = list.filter((id) => model.raftOf(id) === undefined);
    fail(`not settled ${SETTLE_BOUND_MS} ms after faults stopped; without Raft state: ${stuck.join(',')}`);
  }
  const settleMs = model.nowMs - faultMs;
  // Quiet afterwards: nothing changes, nothing breaks.
  model.run(model.nowMs + 10_000, check);
  const agreed = [...model.raftOf(list[0]!)!.voters].sort();
  const how: Record<FormedHow, number> = { proposed: 0, told: 0, adopted: 0, 'raft-voter': 0, 'raft-learner': 0 };
  for (const id of list) how[model.raftOf(id)!.how]++;
  return { seed, expect, nodes: k, agreed, settleMs, formedDuringFaults, how, model };
}

/** 1..count, or only BOOTSTRAP_SEED (a replay), or 1..BOOTSTRAP_SEEDS (a longer search). */
function seeds(count: number): number[] {
  const replay = process.env['BOOTSTRAP_SEED'];
  if (replay !== undefined) return [Number(replay)];
  const many = process.env['BOOTSTRAP_SEEDS'];
  return Array.from({ length: many === undefined ? count : Number(many) }, (_, i) => 1 + i);
}

const SEEDS = 500;

describe('bootstrap simulation: random faults', () => {
  it(`forms exactly one cluster of N voters, and everyone converges on it, over ${SEEDS} seeds`, () => {
    const outcomes = seeds(SEEDS).map((seed) => randomRun(seed));
    // The runs must exercise what they claim: sizes, faults, and every way of forming.
    const sizes = new Set(outcomes.map((o) => `${o.expect}/${o.nodes}`));
    if (outcomes.length >= SEEDS) {
      for (let n = 2; n <= 5; n++) for (let k = n; k < 2 * n; k++) assert.ok(sizes.has(`${n}/${k}`), `no run with N=${n}, K=${k}`);
      assert.ok(outcomes.filter((o) => o.formedDuringFaults).length > 50, 'too few runs formed during faults');
      assert.ok(outcomes.filter((o) => !o.formedDuringFaults).length > 5, 'too few runs had to form after faults');
      assert.ok(outcomes.some((o) => o.how.adopted > 0), 'no run adopted a published set');
      assert.ok(outcomes.some((o) => o.how.told > 1), 'no run formed by being told');
      assert.ok(outcomes.some((o) => o.how['raft-voter'] > 0), 'no member was brought in by the leader');
    }
    const worst = Math.max(...outcomes.map((o) => o.settleMs));
    const total = (f: (o: RunOutcome) => number): number => outcomes.reduce((s, o) => s + f(o), 0);
    // Figures for the report (stdout of `node --test`).
    console.log(
      `bootstrap simulation: ${outcomes.length} runs, settled at most ${worst} ms after faults stopped (bound ${SETTLE_BOUND_MS}); ` +
        `formed during faults in ${outcomes.filter((o) => o.formedDuringFaults).length}; ` +
        `proposed ${total((o) => o.how.proposed)}, told ${total((o) => o.how.told)}, adopted ${total((o) => o.how.adopted)}, ` +
        `raft voters ${total((o) => o.how['raft-voter'])}, learners ${total((o) => o.how['raft-learner'])}; ` +
        `crashes ${total((o) => o.model.figures.crashes)}, lost messages ${total((o) => o.model.figures.lostMessages)}`,
    );
  });

  it('finds the bugs of the runner before the fix in N=2, K=3 runs, and the runner now passes them', () => {
    const size = { expect: 2, nodes: 3 };
    const runs = seeds(1000);
    const split = runs.filter((seed) => {
      randomRun(seed, RUNNER, size);
      try {
        randomRun(seed, RUNNER_BEFORE_FIX, size);
        return false;
      } catch (e) {
        assert.match(String(e), /two clusters/);
        return true;
      }
    });
    console.log(`runner before the fix: ${split.length} of ${runs.length} N=2, K=3 runs formed two clusters (seeds ${split.slice(0, 5).join(', ')}...); the runner now: none`);
    if (process.env['BOOTSTRAP_SEED'] === undefined) assert.ok(split.length > 0, 'the simulation no longer finds the old bug');
  });

  it('replays a seed exactly', () => {
    const a = randomRun(42);
    const b = randomRun(42);
    assert.deepEqual(a.agreed, b.agreed);
    assert.equal(a.settleMs, b.settleMs);
    assert.deepEqual(a.model.figures, b.model.figures);
  });
});

/** Three nodes a < b < c, N = 2, views by hand, fixed delays. */
function scripted(rules: BootstrapRules, behaviour: RunnerBehaviour, gossipDelayMs: number): BootstrapModel {
  const network: NetworkSettings = { lossRate: 0, minDelayMs: 10, maxDelayMs: 10, minGossipDelayMs: gossipDelayMs, maxGossipDelayMs: gossipDelayMs, discoverWithinMs: 'manual' };
  const model = new BootstrapModel({ ids: ['a', 'b', 'c'], expect: 2, rules, behaviour, random: new SeededRandom(1), network });
  for (const id of model.ids()) model.start(id, 0);
  return model;
}

function runScripted(model: BootstrapModel, untilMs: number): string | undefined {
  let violation: string | undefined;
  model.run(untilMs, () => (violation ??= model.safetyViolation()));
  return violation;
}

describe('bootstrap simulation: scripted', () => {
  // a sees only c, b sees only c: each is the lowest ID of its own view.
  const partialViews = (model: BootstrapModel): void => {
    for (const [o, s] of [['a', 'c'], ['c', 'a'], ['b', 'c'], ['c', 'b']] as const) model.discover(o, s, 100);
  };

  it('a naive "lowest ID of my view forms" rule forms two clusters from partial views', () => {
    const model = scripted(NAIVE_RULES, RUNNER, 100);
    partialViews(model);
    const violation = runScripted(model, 5000);
    assert.match(violation ?? '', /two clusters/, `no split${model.trace()}`);
    assert.deepEqual(model.raftOf('a')?.voters, ['a', 'c']);
    assert.deepEqual(model.raftOf('b')?.voters, ['b', 'c']);
  });

  it('the promise round forms one: c promises the first proposer and refuses the second', () => {
    const model = scripted(REAL_RULES, RUNNER, 100);
    partialViews(model);
    model.enableRaftDelivery(0);
    assert.equal(runScripted(model, 60_000), undefined, model.trace());
    assert.deepEqual(model.raftOf('a'), { voters: ['a', 'c'], how: 'proposed', atMs: model.raftOf('a')!.atMs });
    assert.equal(model.raftOf('c')?.how, 'told');
    // b saw a cluster without itself, stopped, and became the leader's learner.
    assert.deepEqual(model.raftOf('b')?.voters, ['a', 'c']);
    assert.equal(model.raftOf('b')?.how, 'raft-learner');
  });

  // b proposes {b,c}; c forms, but its acknowledgement is lost so b does not; then a (lower)
  // appears to b before c's formed set does (slow gossip). If b dropped its own promise when it
  // deferred to a, it would promise a and form {a,b} while c has {b,c}.
  const lostAck = (behaviour: RunnerBehaviour): BootstrapModel => {
    const model = scripted(REAL_RULES, behaviour, 8000);
    for (const [o, s] of [['b', 'c'], ['c', 'b']] as const) model.discover(o, s, 100);
    for (const [o, s] of [['a', 'b'], ['b', 'a']] as const) model.discover(o, s, 1100);
    model.dropMessages((m) => m.kind === 'form-reply' && m.from === 'c');
    return model;
  };

  it('a proposer that dropped its own promise on deferring formed two clusters (the runner before the fix)', () => {
    const model = lostAck(RUNNER_BEFORE_FIX);
    assert.match(runScripted(model, 20_000) ?? '', /two clusters/, `no split${model.trace()}`);
    assert.deepEqual(model.raftOf('c')?.voters, ['b', 'c']);
    assert.deepEqual(model.raftOf('b')?.voters, ['a', 'b']);
  });

  it('a proposer that keeps its promise until it lapses adopts the set it got formed', () => {
    const model = lostAck(RUNNER);
    model.enableRaftDelivery(20_000);
    assert.equal(runScripted(model, 60_000), undefined, model.trace());
    assert.deepEqual(model.raftOf('c')?.voters, ['b', 'c']);
    assert.equal(model.raftOf('b')?.how, 'adopted');
    assert.equal(model.raftOf('a')?.how, 'raft-learner');
  });

  // a proposes {a,b} and crashes right after telling b to form; b forms. a stays down longer
  // than a promise lives and, back up, hears of c (waiting) before it hears of b.
  const longCrash = (behaviour: RunnerBehaviour, hearOfB: boolean): BootstrapModel => {
    const model = scripted(REAL_RULES, behaviour, 100);
    for (const [o, s] of [['a', 'b'], ['b', 'a']] as const) model.discover(o, s, 100);
    model.crash('a', 1025); // round at 1000: promise 1010, reply 1020, form sent 1020
    model.restart('a', 40_000);
    for (const [o, s] of [['a', 'c'], ['c', 'a']] as const) model.discover(o, s, 40_001);
    if (hearOfB) model.discover('a', 'b', 45_000);
    return model;
  };

  it('a promise that lapsed while its node was down freed it at once on restart (the runner before the fix)', () => {
    const model = longCrash({ dropOwnPromiseWhenWaiting: false, rearmPromiseOnRestart: false }, true);
    assert.match(runScripted(model, 60_000) ?? '', /two clusters/, `no split${model.trace()}`);
    assert.deepEqual(model.raftOf('a')?.voters, ['a', 'c']);
  });

  it('a restarted node keeps its promise for a whole TTL, hears of the formed set and adopts it', () => {
    const model = longCrash(RUNNER, true);
    model.enableRaftDelivery(60_000);
    assert.equal(runScripted(model, 120_000), undefined, model.trace());
    assert.deepEqual(model.raftOf('a')?.voters, ['a', 'b']);
    assert.equal(model.raftOf('a')?.how, 'adopted');
    assert.equal(model.raftOf('c')?.how, 'raft-learner');
  });

  it('the limit of the timing assumption: a restarted proposer cut off from the formed member for longer than a promise lives forms a second cluster', () => {
    // Safety rests on gossip telling a member of the set about a formed member within
    // PROMISE_TTL_MS (here: a and c never hear of b). Documented in docs/operator-guide.md.
    const model = longCrash(RUNNER, false);
    assert.match(runScripted(model, 120_000) ?? '', /two clusters/, `no split${model.trace()}`);
    assert.ok(model.raftOf('a')!.atMs >= 40_000 + PROMISE_TTL_MS, 'formed before its re-armed promise lapsed');
  });
});
