// One test per autopilot rule (src/core/autopilot/autopilot.ts), mostly table-driven: a cluster
// described one node per line, and the single decision expected. Time is 100 s; "long dead"
// means dead since 0 s (past the 30 s grace), "just dead" since 90 s (within it).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Autopilot, validateAutopilotSettings } from '../../../src/core/autopilot/autopilot.ts';
import { clearlyBetter, compareRank, desiredVoterCount, RESOURCE_SCORE_STEP, resourceScore, type RankKey } from '../../../src/core/autopilot/rank.ts';
import { DEFAULT_AUTOPILOT_SETTINGS, type AutopilotDecision, type AutopilotSettings, type TargetVoters } from '../../../src/core/autopilot/types.ts';
import { GIB, id, input, learner, outsider, voter, type InputOptions, type NodeLine } from './inputs.ts';

const NOW = 100_000;
const LONG_DEAD = { status: 'dead', sinceMs: 0 } as const;
const JUST_DEAD = { status: 'dead', sinceMs: 90_000 } as const;
const FAST: Partial<AutopilotSettings> = { learnerStableMs: 0 };

type Expect = { kind: 'wait' } | { kind: 'add-learner' | 'promote' | 'demote' | 'remove'; node: string } | { kind: 'transfer-leadership'; to: string };

interface Case {
  readonly name: string;
  readonly lines: readonly NodeLine[];
  readonly opts?: InputOptions;
  readonly settings?: Partial<AutopilotSettings>;
  readonly expect: Expect;
  readonly reason?: RegExp;
}

function shape(d: AutopilotDecision): Expect {
  switch (d.kind) {
    case 'wait':
      return { kind: 'wait' };
    case 'transfer-leadership':
      return { kind: d.kind, to: d.to };
    default:
      return { kind: d.kind, node: d.node };
  }
}

function runCases(cases: readonly Case[]): void {
  for (const c of cases) {
    it(c.name, () => {
      const ap = new Autopilot({ ...FAST, ...c.settings });
      const d = ap.decide(input(c.lines, { nowMs: NOW, ...c.opts }));
      assert.deepEqual(shape(d), c.expect, `reason: ${d.reason}`);
      assert.ok(d.reason.length > 10, 'a reason people can read');
      if (c.reason !== undefined) assert.match(d.reason, c.reason);
    });
  }
}

describe('ranking', () => {
  it('resource score: logarithmic, quantized, bad figures count as zero', () => {
    const r = (memGiB: number, diskGiB: number, cores: number): number => resourceScore({ memoryFreeBytes: memGiB * GIB, diskFreeBytes: diskGiB * GIB, cpuCores: cores });
    assert.equal(r(0, 0, 0), 0);
    assert.equal(r(1, 1, 1), 3); // log2(2) * 3
    assert.equal(r(3, 0, 0), 2);
    assert.equal(r(7, 0, 0), 3); // doubling (1 + x) adds one point
    assert.equal(r(8, 100, 4) % RESOURCE_SCORE_STEP, 0);
    assert.ok(r(16, 100, 4) > r(8, 100, 4));
    assert.ok(r(8, 200, 4) > r(8, 100, 4));
    assert.ok(r(8, 100, 8) > r(8, 100, 4));
    assert.equal(resourceScore({ memoryFreeBytes: -5, diskFreeBytes: Number.NaN, cpuCores: Number.POSITIVE_INFINITY }), 0);
  });

  it('orders hub first, then score, then uptime (earlier start), then ID', () => {
    const k = (name: string, hub: boolean, score: number, startedAtMs: number): RankKey => ({ id: id(name), hub, score, startedAtMs });
    const keys = [k('e', false, 5, 0), k('d', false, 9, 0), k('c', true, 1, 50), k('b', true, 1, 10), k('a', false, 5, 0), k('f', false, 5, -1)];
    assert.deepEqual(
      [...keys].sort(compareRank).map((x) => x.id),
      ['b', 'c', 'd', 'f', 'a', 'e'],
    );
  });

  it('clearly better: a hub tag always, otherwise more than the hysteresis', () => {
    const k = (hub: boolean, score: number): RankKey => ({ id: id('x'), hub, score, startedAtMs: 0 });
    assert.equal(clearlyBetter(k(true, 0), k(false, 99), 1), true);
    assert.equal(clearlyBetter(k(false, 99), k(true, 0), 1), false);
    assert.equal(clearlyBetter(k(false, 6), k(false, 5), 1), false);
    assert.equal(clearlyBetter(k(false, 6.25), k(false, 5), 1), true);
    assert.equal(clearlyBetter(k(true, 6.25), k(true, 5), 1), true);
  });

  it('desired voter count: largest odd <= min(target, eligible), at least 1', () => {
    const table: Array<[TargetVoters, number, number]> = [
      [3, 0, 1], [3, 1, 1], [3, 2, 1], [3, 3, 3], [3, 4, 3], [3, 50, 3],
      [5, 4, 3], [5, 5, 5], [5, 6, 5], [7, 6, 5], [7, 7, 7], [7, 100, 7], [1, 5, 1],
    ];
    for (const [target, eligible, want] of table) assert.equal(desiredVoterCount(target, eligible), want, `target ${target}, eligible ${eligible}`);
  });

  it('settings are validated', () => {
    assert.deepEqual(validateAutopilotSettings({}), { ok: true, value: DEFAULT_AUTOPILOT_SETTINGS });
    for (const bad of [{ targetVoters: 4 }, { targetVoters: 0 }, { deadVoterGraceMs: -1 }, { learnerStableMs: Number.NaN }, { swapHysteresis: Number.POSITIVE_INFINITY }, { maxObservationGapMs: 0 }]) {
      const r = validateAutopilotSettings(bad as Partial<AutopilotSettings>);
      assert.equal(r.ok, false, JSON.stringify(bad));
    }
    assert.throws(() => new Autopilot({ targetVoters: 2 as TargetVoters }), /targetVoters/);
  });
});

describe('growth: new nodes become learners, learners become voters', () => {
  runCases([
    { name: 'a gossip-alive node outside the configuration is added as a learner', lines: [voter('a'), outsider('b')], expect: { kind: 'add-learner', node: 'b' } },
    { name: 'the best-ranked newcomer is added first', lines: [voter('a'), outsider('b'), outsider('c', { hub: true })], expect: { kind: 'add-learner', node: 'c' } },
    { name: 'a suspect, dead or leaving outsider is not added', lines: [voter('a'), outsider('b', { status: 'suspect' }), outsider('c', LONG_DEAD), outsider('d', { leaving: true })], expect: { kind: 'wait' } },
    { name: 'one voter and one ready learner: stays at one voter (never plan an even count)', lines: [voter('a'), learner('b')], expect: { kind: 'wait' }, reason: /stable/ },
    { name: 'one voter and two ready learners: promote the best (hub first)', lines: [voter('a'), learner('b', { memGiB: 64 }), learner('c', { hub: true })], expect: { kind: 'promote', node: 'c' } },
    { name: 'then the second one, to reach three', lines: [voter('a'), voter('c', { hub: true }), learner('b')], expect: { kind: 'promote', node: 'b' } },
    { name: 'promotion waits for both when only one of two learners is ready', lines: [voter('a'), learner('b'), learner('c', { lag: 5000 })], expect: { kind: 'wait' }, reason: /waiting for learner c/ },
    { name: 'a learner that lags more than learnerMaxLagEntries is not promoted', lines: [voter('a'), voter('b'), learner('c', { lag: 251 })], expect: { kind: 'wait' } },
    { name: 'a learner within learnerMaxLagEntries is', lines: [voter('a'), voter('b'), learner('c', { lag: 250 })], expect: { kind: 'promote', node: 'c' } },
    { name: 'a learner Raft has not heard from lately is not promoted', lines: [voter('a'), voter('b'), learner('c', { active: false })], expect: { kind: 'wait' } },
    { name: 'a learner without progress is not promoted', lines: [voter('a'), voter('b'), learner('c', { noProgress: true })], expect: { kind: 'wait' } },
    { name: 'a suspect learner is not promoted', lines: [voter('a'), voter('b'), learner('c', { status: 'suspect' })], expect: { kind: 'wait' } },
    { name: 'target 3 with 5 nodes: 3 voters and no more', lines: [voter('a'), voter('b'), voter('c'), learner('d'), learner('e')], expect: { kind: 'wait' }, reason: /stable/ },
    { name: 'target 5 with 5 healthy nodes: promote towards 5', settings: { targetVoters: 5 }, lines: [voter('a'), voter('b'), voter('c'), learner('d'), learner('e', { memGiB: 32 })], expect: { kind: 'promote', node: 'e' } },
    { name: 'target 5 with 4 healthy nodes: 3 voters', settings: { targetVoters: 5 }, lines: [voter('a'), voter('b'), voter('c'), learner('d')], expect: { kind: 'wait' } },
  ]);

  it('ties in resources: the longest-running learner, then the lowest ID', () => {
    const ap = new Autopilot(FAST);
    const d = ap.decide(input([voter('a'), learner('b', { startedAtMs: 500 }), learner('c', { startedAtMs: 100 }), learner('d', { startedAtMs: 500 })], { nowMs: NOW }));
    assert.deepEqual(shape(d), { kind: 'promote', node: 'c' });
    const d2 = new Autopilot(FAST).decide(input([voter('a'), voter('c'), learner('d', { startedAtMs: 500 }), learner('b', { startedAtMs: 500 })], { nowMs: NOW }));
    assert.deepEqual(shape(d2), { kind: 'promote', node: 'b' });
  });

  it('a learner is promoted only after learnerStableMs of being continuously alive and caught up', () => {
    const ap = new Autopilot({ learnerStableMs: 10_000 });
    const lines = [voter('a'), voter('b'), learner('c')];
    const kinds: string[] = [];
    for (let t = 0; t <= 10_000; t += 1000) kinds.push(ap.decide(input(lines, { nowMs: t })).kind);
    assert.deepEqual(kinds, [...Array(10).fill('wait'), 'promote']);
  });

  it('a break in caught-up-ness (lag or gossip suspicion) restarts the stability clock', () => {
    for (const glitch of [learner('c', { lag: 10_000 }), learner('c', { status: 'suspect' }), learner('c', { leaving: true })]) {
      const ap = new Autopilot({ learnerStableMs: 10_000 });
      const lines = [voter('a'), voter('b'), learner('c')];
      for (let t = 0; t < 9000; t += 1000) ap.decide(input(lines, { nowMs: t }));
      ap.decide(input([voter('a'), voter('b'), glitch], { nowMs: 9000 }));
      for (let t = 10_000; t < 20_000; t += 1000) assert.equal(ap.decide(input(lines, { nowMs: t })).kind, 'wait', `t=${t}`);
      assert.equal(ap.decide(input(lines, { nowMs: 20_000 })).kind, 'promote');
    }
  });

  it('a momentary recentActive=false (check-quorum reset) does not restart the stability clock', () => {
    const ap = new Autopilot({ learnerStableMs: 10_000 });
    for (let t = 0; t < 10_000; t += 1000) ap.decide(input([voter('a'), voter('b'), learner('c', { active: t !== 5000 })], { nowMs: t }));
    assert.equal(ap.decide(input([voter('a'), voter('b'), learner('c')], { nowMs: 10_000 })).kind, 'promote');
  });

  it('calls further apart than maxObservationGapMs restart the observations', () => {
    const ap = new Autopilot({ learnerStableMs: 10_000, maxObservationGapMs: 5000 });
    const lines = [voter('a'), voter('b'), learner('c')];
    for (let t = 0; t <= 9000; t += 1000) ap.decide(input(lines, { nowMs: t }));
    // Regaining leadership 20 s later: what was seen before does not count.
    assert.equal(ap.decide(input(lines, { nowMs: 29_000 })).kind, 'wait');
    assert.equal(ap.decide(input(lines, { nowMs: 38_000 })).kind, 'wait', 'a 9 s gap: observed again from 38 s');
    for (let t = 39_000; t < 48_000; t += 1000) assert.equal(ap.decide(input(lines, { nowMs: t })).kind, 'wait', `t=${t}`);
    assert.equal(ap.decide(input(lines, { nowMs: 48_000 })).kind, 'promote');
    // A clock that goes backwards also restarts them.
    const ap2 = new Autopilot({ learnerStableMs: 2000 });
    ap2.decide(input(lines, { nowMs: 10_000 }));
    assert.equal(ap2.decide(input(lines, { nowMs: 5000 })).kind, 'wait');
    assert.equal(ap2.decide(input(lines, { nowMs: 6000 })).kind, 'wait');
    assert.equal(ap2.decide(input(lines, { nowMs: 7000 })).kind, 'promote');
  });
});

describe('repair: dead voters are replaced, add first', () => {
  runCases([
    { name: 'a voter dead within the grace period is left alone', lines: [voter('a'), voter('b'), voter('c', JUST_DEAD), learner('d')], expect: { kind: 'wait' }, reason: /watching c \(dead\)/ },
    { name: 'a suspect voter is left alone (no promotion, no trim)', lines: [voter('a'), voter('b'), voter('c', { status: 'suspect' }), learner('d')], expect: { kind: 'wait' } },
    { name: 'past the grace period with a ready learner: promote the replacement first', lines: [voter('a'), voter('b'), voter('c', LONG_DEAD), learner('d')], expect: { kind: 'promote', node: 'd' }, reason: /replaces failed voter c/ },
    { name: 'with the replacement in: remove the dead voter', lines: [voter('a'), voter('b'), voter('c', LONG_DEAD), voter('d')], expect: { kind: 'remove', node: 'c' }, reason: /c: gossip reports it dead for 100s/ },
    { name: 'no replacement ready yet: remove the dead voter now (it adds nothing)', lines: [voter('a'), voter('b'), voter('c', LONG_DEAD), learner('d', { lag: 9999 })], expect: { kind: 'remove', node: 'c' } },
    { name: 'no other node at all: remove the dead voter', lines: [voter('a'), voter('b'), voter('c', LONG_DEAD)], expect: { kind: 'remove', node: 'c' } },
    { name: 'a learner still catching up counts: two voters wait for it rather than shrink to one', lines: [voter('a'), voter('b'), learner('c', { lag: 99 })], settings: { learnerStableMs: 60_000 }, expect: { kind: 'wait' } },
    { name: 'two healthy voters and nothing else: demote one (odd count)', lines: [voter('a'), voter('b')], expect: { kind: 'demote', node: 'b' }, reason: /above desired 1/ },
    { name: 'a left voter past the grace period is removed', lines: [voter('a'), voter('b'), voter('c', { status: 'left', sinceMs: 0 }), voter('d')], expect: { kind: 'remove', node: 'c' } },
    { name: 'gossip says dead but Raft still hears from it: not replaced', lines: [voter('a'), voter('b'), voter('c', { ...LONG_DEAD, active: true }), learner('d')], expect: { kind: 'wait' } },
    { name: 'never below a safe quorum: two of three voters dead, nothing is removed', lines: [voter('a'), voter('b', LONG_DEAD), voter('c', LONG_DEAD), learner('d')], expect: { kind: 'wait' }, reason: /blocked: only 1 of 2 voters would be up/ },
    { name: 'two of five dead: remove them one at a time (oldest failure first)', settings: { targetVoters: 5 }, lines: [voter('a'), voter('b'), voter('c'), voter('d', { status: 'dead', sinceMs: 10_000 }), voter('e', { status: 'dead', sinceMs: 5000 })], expect: { kind: 'remove', node: 'e' } },
    { name: 'a dead learner past the grace period is removed', lines: [voter('a'), learner('b', LONG_DEAD)], expect: { kind: 'remove', node: 'b' }, reason: /learner b/ },
    { name: 'a dead learner within the grace period stays', lines: [voter('a'), learner('b', JUST_DEAD)], expect: { kind: 'wait' } },
    { name: 'voter repair comes before adding newcomers', lines: [voter('a'), voter('b'), voter('c', LONG_DEAD), outsider('x')], expect: { kind: 'remove', node: 'c' } },
  ]);

  it('a configuration member unknown to gossip counts as dead from when it was first noticed missing', () => {
    const ap = new Autopilot({ ...FAST, deadVoterGraceMs: 30_000 });
    const lines = [voter('a'), voter('b'), voter('c', { status: 'absent' }), learner('d')];
    for (let t = 0; t < 30_000; t += 1000) assert.equal(ap.decide(input(lines, { nowMs: t })).kind, 'wait', `t=${t}`);
    const d = ap.decide(input(lines, { nowMs: 30_000 }));
    assert.deepEqual(shape(d), { kind: 'promote', node: 'd' });
    assert.match(d.reason, /replaces failed voter c/);
    const removal = ap.decide(input([voter('a'), voter('b'), voter('c', { status: 'absent' }), voter('d')], { nowMs: 31_000 }));
    assert.deepEqual(shape(removal), { kind: 'remove', node: 'c' });
    assert.match(removal.reason, /unknown to gossip for 31s/);
    // Reappearing in gossip, even briefly, restarts the clock.
    const ap2 = new Autopilot(FAST);
    for (let t = 0; t < 20_000; t += 1000) ap2.decide(input(lines, { nowMs: t }));
    ap2.decide(input([voter('a'), voter('b'), voter('c', { status: 'suspect' }), learner('d')], { nowMs: 20_000 }));
    for (let t = 21_000; t < 51_000; t += 1000) assert.equal(ap2.decide(input(lines, { nowMs: t })).kind, 'wait', `t=${t}`);
    assert.equal(ap2.decide(input(lines, { nowMs: 51_000 })).kind, 'promote');
  });
});

describe('graceful leave', () => {
  runCases([
    { name: 'a leaving voter is removed at once (no grace)', lines: [voter('a'), voter('b'), voter('c', { leaving: true })], expect: { kind: 'remove', node: 'c' }, reason: /leaving/ },
    { name: 'with a ready learner, the replacement is promoted before the leaver goes', lines: [voter('a'), voter('b'), voter('c', { leaving: true }), learner('d')], expect: { kind: 'promote', node: 'd' }, reason: /replaces leaving voter c/ },
    { name: 'a leaving learner is removed', lines: [voter('a'), learner('b', { leaving: true })], expect: { kind: 'remove', node: 'b' } },
    { name: 'the leaving leader hands over to the best caught-up voter', lines: [voter('a', { leaving: true }), voter('b', { memGiB: 2 }), voter('c', { memGiB: 32 })], expect: { kind: 'transfer-leadership', to: 'c' }, reason: /leader a is leaving/ },
    { name: 'not to a lagging, inactive, suspect or leaving one', lines: [voter('a', { leaving: true }), voter('b', { lag: 9999, hub: true }), voter('c', { active: false, hub: true }), voter('d', { status: 'suspect', hub: true }), voter('e', { leaving: true, hub: true }), voter('f')], expect: { kind: 'transfer-leadership', to: 'f' } },
    { name: 'even while a change is pending', lines: [voter('a', { leaving: true }), voter('b'), voter('c')], opts: { pending: true }, expect: { kind: 'transfer-leadership', to: 'b' } },
    { name: 'waits when the other voters are not caught up yet', lines: [voter('a', { leaving: true }), voter('b', { lag: 9999 }), voter('c', { lag: 9999 })], expect: { kind: 'wait' }, reason: /leaving: waiting/ },
    { name: 'the only voter leaving: promote a successor first', lines: [voter('a', { leaving: true }), learner('b'), learner('c', { hub: true })], expect: { kind: 'promote', node: 'c' }, reason: /successor/ },
    { name: 'the only node leaving: wait (nobody can take over)', lines: [voter('a', { leaving: true })], expect: { kind: 'wait' }, reason: /no node can take over/ },
    { name: 'all others leaving too: remove them; the leader stays last', lines: [voter('a', { leaving: true }), voter('b', { leaving: true })], expect: { kind: 'remove', node: 'b' } },
  ]);
});

describe('one change at a time, and the leader never takes itself out', () => {
  runCases([
    { name: 'a pending configuration change: wait', lines: [voter('a'), voter('b'), voter('c', LONG_DEAD), outsider('d')], opts: { pending: true }, expect: { kind: 'wait' }, reason: /not yet committed/ },
    { name: 'a leader that is not a voter of its configuration: wait', lines: [voter('a'), voter('b'), learner('x')], opts: { leader: 'x' }, expect: { kind: 'wait' }, reason: /not a voter/ },
    { name: 'target 1 with three voters: demote the worst non-leader', settings: { targetVoters: 1 }, lines: [voter('a', { memGiB: 2 }), voter('b', { memGiB: 3 }), voter('c', { memGiB: 15 })], expect: { kind: 'demote', node: 'b' } },
    { name: 'trim: the leader goes when every other voter beats it by more than half the hysteresis, and hands over first', lines: [voter('a', { memGiB: 1 }), voter('b', { memGiB: 64 }), voter('c', { memGiB: 64 }), voter('d', { memGiB: 64, hub: true }), voter('e', { memGiB: 32 })], settings: { targetVoters: 3 }, expect: { kind: 'transfer-leadership', to: 'd' }, reason: /leader a \(score 9.75\) is the voter to step back/ },
    { name: 'trim: within half the hysteresis, the leader stays and the worst other voter goes', lines: [voter('a', { memGiB: 7 }), voter('b', { memGiB: 8 }), voter('c', { memGiB: 15 }), voter('d', { memGiB: 15 })], expect: { kind: 'demote', node: 'b' } },
    { name: 'trim: a leader that is not the worst stays', lines: [voter('a', { memGiB: 64 }), voter('b', { memGiB: 1 }), voter('c', { memGiB: 15 }), voter('d', { memGiB: 15 })], expect: { kind: 'demote', node: 'b' } },
    { name: 'trim: a voter that is not up goes before a healthy worse one', lines: [voter('a'), voter('b', { memGiB: 1 }), voter('c', { status: 'suspect', hub: true }), voter('d')], expect: { kind: 'demote', node: 'c' } },
  ]);
});

describe('swap: a clearly better newcomer takes the place of the worst voter', () => {
  runCases([
    { name: 'a stable hub learner replaces an untagged voter (promote first)', lines: [voter('a'), voter('b'), voter('c'), learner('h', { hub: true })], expect: { kind: 'promote', node: 'h' }, reason: /take the place of c/ },
    { name: 'then the worst voter steps back', lines: [voter('a'), voter('b'), voter('c', { memGiB: 4 }), voter('h', { hub: true })], expect: { kind: 'demote', node: 'c' } },
    { name: 'better by less than the hysteresis: no swap', lines: [voter('a'), voter('b'), voter('c', { memGiB: 8 }), learner('n', { memGiB: 15 })], expect: { kind: 'wait' } },
    { name: 'better by more than the hysteresis: swap', lines: [voter('a'), voter('b'), voter('c', { memGiB: 8 }), learner('n', { memGiB: 40 })], expect: { kind: 'promote', node: 'n' } },
    { name: 'uptime alone never swaps', lines: [voter('a'), voter('b'), voter('c', { startedAtMs: 90_000 }), learner('n', { startedAtMs: 0 })], expect: { kind: 'wait' } },
    { name: 'no swap while a voter is suspect', lines: [voter('a'), voter('b'), voter('c', { status: 'suspect' }), learner('h', { hub: true })], expect: { kind: 'wait' } },
    { name: 'a non-hub learner never replaces a hub voter, however big', lines: [voter('a', { hub: true }), voter('b', { hub: true }), voter('c', { hub: true }), learner('n', { memGiB: 4096, cores: 256 })], expect: { kind: 'wait' } },
    { name: 'single voter: a clearly better learner is promoted, then the old leader hands over', lines: [voter('a', { memGiB: 1 }), learner('b', { hub: true })], expect: { kind: 'promote', node: 'b' } },
    { name: '... hand over', lines: [voter('a', { memGiB: 1 }), voter('b', { hub: true })], expect: { kind: 'transfer-leadership', to: 'b' } },
    { name: '... and the new leader demotes the old one', lines: [voter('a', { memGiB: 1 }), voter('b', { hub: true })], opts: { leader: 'b' }, expect: { kind: 'demote', node: 'a' } },
  ]);

  it('the trim after a swap takes out the voter the swap planned, even if the figures moved', () => {
    const ap = new Autopilot(FAST);
    // Leader a (score 11) is the worst voter; n (14.75) beats it by more than the hysteresis.
    const before = [voter('a', { memGiB: 2, cores: 7 }), voter('b', { memGiB: 3, cores: 7 }), voter('c', { memGiB: 15 }), learner('n', { memGiB: 15, cores: 16 })];
    const swap = ap.decide(input(before, { nowMs: NOW }));
    assert.deepEqual(shape(swap), { kind: 'promote', node: 'n' }, swap.reason);
    assert.match(swap.reason, /take the place of a/);
    // Now a's figures improved a little: without the plan, the sticky trim would keep the leader
    // and demote b (within half the hysteresis of a) - and b would later want back in.
    const after = [voter('a', { memGiB: 3, cores: 7 }), voter('b', { memGiB: 3, cores: 7 }), voter('c', { memGiB: 15 }), voter('n', { memGiB: 15, cores: 16 })];
    assert.deepEqual(shape(new Autopilot(FAST).decide(input(after, { nowMs: NOW + 1000 }))), { kind: 'demote', node: 'b' }, 'control: no plan');
    const trim = ap.decide(input(after, { nowMs: NOW + 1000 }));
    assert.deepEqual(shape(trim), { kind: 'transfer-leadership', to: 'n' }, trim.reason);
  });

  it('a leader missing from the member list is never swapped or trimmed out on its unknown rank', () => {
    const lines = [voter('a'), voter('b'), voter('c'), learner('h', { hub: true })];
    const inp = input(lines, { nowMs: NOW });
    const withoutLeader = { ...inp, members: inp.members.filter((m) => m.id !== 'a') };
    const d = new Autopilot(FAST).decide(withoutLeader);
    assert.deepEqual(shape(d), { kind: 'promote', node: 'h' });
    assert.match(d.reason, /take the place of c/);
    const trim = input([voter('a'), voter('b'), voter('c'), voter('d', { hub: true })], { nowMs: NOW });
    const t = new Autopilot(FAST).decide({ ...trim, members: trim.members.filter((m) => m.id !== 'a') });
    assert.deepEqual(shape(t), { kind: 'demote', node: 'c' });
  });

  it('the swap waits for the newcomer to be stable', () => {
    const ap = new Autopilot({ learnerStableMs: 10_000 });
    const lines = [voter('a'), voter('b'), voter('c'), learner('h', { hub: true })];
    for (let t = 0; t < 10_000; t += 1000) assert.equal(ap.decide(input(lines, { nowMs: t })).kind, 'wait');
    assert.deepEqual(shape(ap.decide(input(lines, { nowMs: 10_000 }))), { kind: 'promote', node: 'h' });
  });
});
