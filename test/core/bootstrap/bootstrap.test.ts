// Rule tests of group bootstrap (src/core/bootstrap/bootstrap.ts): what a waiting node decides
// from its gossip view, and how it answers promise and form requests.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  answerForm,
  answerPromise,
  decideBootstrap,
  PROMISE_TTL_MS,
  type BootstrapPeer,
  type BootstrapView,
  type Promise_,
} from '../../../src/core/bootstrap/bootstrap.ts';

const NOW = 1_000_000;

const waiting = (id: string, expect = 3, alive = true): BootstrapPeer => ({ id, alive, bootstrap: { expect, voters: [] } });
const formed = (id: string, voters: readonly string[], alive = true): BootstrapPeer => ({ id, alive, bootstrap: { expect: voters.length, voters } });
const plain = (id: string, alive = true): BootstrapPeer => ({ id, alive });

function view(self: string, peers: readonly BootstrapPeer[], opts: { expect?: number; promise?: Promise_; nowMs?: number } = {}): BootstrapView {
  return { self, expect: opts.expect ?? 3, peers, promise: opts.promise, nowMs: opts.nowMs ?? NOW };
}

const promiseTo = (to: string, voters: readonly string[], untilMs = NOW + PROMISE_TTL_MS): Promise_ => ({ to, voters, untilMs });

describe('decideBootstrap', () => {
  it('waits while fewer than N waiting nodes are alive, counting itself', () => {
    const d = decideBootstrap(view('a', [waiting('b')]));
    assert.equal(d.kind, 'wait');
    assert.match(d.kind === 'wait' ? d.reason : '', /2 of 3/);
  });

  it('does not count dead waiting peers', () => {
    assert.equal(decideBootstrap(view('a', [waiting('b'), waiting('c', 3, false)])).kind, 'wait');
  });

  it('waits, naming the peer, while a peer expects another N', () => {
    const d = decideBootstrap(view('a', [waiting('b'), waiting('c', 5)]));
    assert.equal(d.kind, 'wait');
    assert.match(d.kind === 'wait' ? d.reason : '', /c expects 5 nodes, this node 3/);
  });

  it('ignores a dead peer that expects another N', () => {
    assert.deepEqual(decideBootstrap(view('a', [waiting('b'), waiting('c'), waiting('z', 5, false)])), { kind: 'propose', voters: ['a', 'b', 'c'] });
  });

  it('lets only the lowest ID propose, and it proposes the N lowest IDs', () => {
    const peers = [waiting('d'), waiting('b'), waiting('c')];
    assert.deepEqual(decideBootstrap(view('a', peers)), { kind: 'propose', voters: ['a', 'b', 'c'] });
    for (const self of ['b', 'c', 'd']) {
      const others = ['a', 'b', 'c', 'd'].filter((x) => x !== self).map((x) => waiting(x));
      const d = decideBootstrap(view(self, others));
      assert.equal(d.kind, 'wait', self);
      assert.match(d.kind === 'wait' ? d.reason : '', /^a \(the lowest node ID\)/);
    }
  });

  it('orders IDs by code unit, not by locale', () => {
    // 'B' (0x42) < 'a' (0x61) in code-unit order; a locale compare would put 'a' first.
    assert.deepEqual(decideBootstrap(view('B', [waiting('a'), waiting('c')])), { kind: 'propose', voters: ['B', 'a', 'c'] });
    assert.equal(decideBootstrap(view('a', [waiting('B'), waiting('c')])).kind, 'wait');
  });

  it('does not propose while it promised another node, until the promise lapses', () => {
    const peers = [waiting('b'), waiting('c')];
    const promise = promiseTo('x', ['x', 'a', 'b'], NOW + 1);
    const d = decideBootstrap(view('a', peers, { promise }));
    assert.equal(d.kind, 'wait');
    assert.match(d.kind === 'wait' ? d.reason : '', /promised to follow x/);
    // untilMs is exclusive: at that instant the promise has lapsed.
    assert.deepEqual(decideBootstrap(view('a', peers, { promise, nowMs: NOW + 1 })), { kind: 'propose', voters: ['a', 'b', 'c'] });
  });

  it('renews its own proposal of the same set, and waits out its own proposal of another set', () => {
    const peers = [waiting('b'), waiting('c'), waiting('d')];
    const same = promiseTo('a', ['c', 'a', 'b']);
    assert.deepEqual(decideBootstrap(view('a', peers, { promise: same })), { kind: 'propose', voters: ['a', 'b', 'c'] });
    const other = promiseTo('a', ['a', 'b', 'd'], NOW + 5);
    const d = decideBootstrap(view('a', peers, { promise: other }));
    assert.equal(d.kind, 'wait');
    assert.match(d.kind === 'wait' ? d.reason : '', /own proposal of a,b,d is still in force/);
    assert.deepEqual(decideBootstrap(view('a', peers, { promise: other, nowMs: NOW + 5 })), { kind: 'propose', voters: ['a', 'b', 'c'] });
  });

  it('adopts the voters published by a formed peer that lists this node, alive or dead', () => {
    for (const alive of [true, false]) {
      const d = decideBootstrap(view('c', [waiting('d'), formed('a', ['a', 'b', 'c'], alive)]));
      assert.equal(d.kind, 'form', `alive=${alive}`);
      assert.deepEqual(d.kind === 'form' ? d.voters : [], ['a', 'b', 'c']);
    }
  });

  it('adopts even while promised to another node or expecting another N', () => {
    const d = decideBootstrap(view('c', [formed('a', ['a', 'b', 'c'], false), waiting('d', 5)], { promise: promiseTo('z', ['z', 'c', 'd']) }));
    assert.equal(d.kind, 'form');
  });

  it('joins an existing cluster when an alive peer has no bootstrap metadata', () => {
    const d = decideBootstrap(view('a', [waiting('b'), waiting('c'), plain('d')]));
    assert.equal(d.kind, 'join-existing');
    assert.match(d.kind === 'join-existing' ? d.reason : '', /^d already belongs/);
  });

  it('joins an existing cluster when an alive peer formed without this node', () => {
    assert.equal(decideBootstrap(view('a', [waiting('b'), waiting('c'), formed('x', ['x', 'y', 'z'])])).kind, 'join-existing');
  });

  it('ignores dead peers in a cluster that does not list this node', () => {
    const peers = [waiting('b'), waiting('c'), plain('d', false), formed('x', ['x', 'y', 'z'], false)];
    assert.deepEqual(decideBootstrap(view('a', peers)), { kind: 'propose', voters: ['a', 'b', 'c'] });
  });
});

describe('answerPromise', () => {
  const peers = [waiting('b'), waiting('c')];
  const refuse = (v: BootstrapView, isFormed: boolean, from: string, voters: readonly string[], pattern: RegExp): void => {
    const a = answerPromise(v, isFormed, from, voters);
    assert.equal(a.granted, false);
    assert.match(a.granted ? '' : a.reason, pattern);
  };

  it('grants a proposal of N distinct IDs including both, for PROMISE_TTL_MS', () => {
    const a = answerPromise(view('b', peers), false, 'a', ['a', 'b', 'c']);
    assert.deepEqual(a, { granted: true, promise: { to: 'a', voters: ['a', 'b', 'c'], untilMs: NOW + PROMISE_TTL_MS } });
  });

  it('refuses once this node belongs to a cluster', () => {
    refuse(view('b', peers), true, 'a', ['a', 'b', 'c'], /b already belongs to a cluster/);
  });

  it('refuses a set of the wrong size', () => {
    refuse(view('b', peers), false, 'a', ['a', 'b'], /proposed 2 voters, this node expects 3/);
    refuse(view('b', peers), false, 'a', ['a', 'b', 'c', 'd'], /proposed 4 voters/);
  });

  it('refuses duplicate IDs', () => {
    refuse(view('b', peers), false, 'a', ['a', 'b', 'b'], /expects 3/);
  });

  it('refuses a set without this node or without the proposer', () => {
    refuse(view('b', peers), false, 'a', ['a', 'c', 'd'], /must include b and a/);
    refuse(view('b', peers), false, 'a', ['b', 'c', 'd'], /must include b and a/);
  });

  it('refuses another proposer while a promise is live, grants once it lapsed', () => {
    const promise = promiseTo('x', ['x', 'b', 'c'], NOW + 10);
    refuse(view('b', peers, { promise }), false, 'a', ['a', 'b', 'c'], /b promised to follow x/);
    refuse(view('b', peers, { promise, nowMs: NOW + 9 }), false, 'a', ['a', 'b', 'c'], /promised to follow x/);
    const later = answerPromise(view('b', peers, { promise, nowMs: NOW + 10 }), false, 'a', ['a', 'b', 'c']);
    assert.deepEqual(later, { granted: true, promise: { to: 'a', voters: ['a', 'b', 'c'], untilMs: NOW + 10 + PROMISE_TTL_MS } });
  });

  it('refuses a node that still holds its own proposal, to anyone else', () => {
    refuse(view('b', peers, { promise: promiseTo('b', ['b', 'c', 'd']) }), false, 'a', ['a', 'b', 'c'], /b promised to follow b/);
  });

  it('refuses the same proposer with another set while the promise is live', () => {
    const promise = promiseTo('a', ['a', 'b', 'c']);
    refuse(view('b', peers, { promise }), false, 'a', ['a', 'b', 'd'], /promised a the voters a,b,c, not a,b,d/);
    assert.equal(answerPromise(view('b', peers, { promise, nowMs: promise.untilMs }), false, 'a', ['a', 'b', 'd']).granted, true);
  });

  it('renews a promise to the same proposer for the same set, in any order', () => {
    const promise = promiseTo('a', ['a', 'b', 'c'], NOW + 1);
    const a = answerPromise(view('b', peers, { promise }), false, 'a', ['c', 'b', 'a']);
    assert.deepEqual(a, { granted: true, promise: { to: 'a', voters: ['c', 'b', 'a'], untilMs: NOW + PROMISE_TTL_MS } });
  });
});

describe('answerForm', () => {
  it('refuses without a promise', () => {
    const a = answerForm(view('b', []), 'a', ['a', 'b', 'c']);
    assert.deepEqual(a, { ok: false, reason: 'b has no promise to a' });
  });

  it('refuses a proposer other than the one promised', () => {
    assert.equal(answerForm(view('b', [], { promise: promiseTo('x', ['x', 'b', 'c']) }), 'a', ['x', 'b', 'c']).ok, false);
  });

  it('refuses another set than the one promised, even a subset or superset', () => {
    const promise = promiseTo('a', ['a', 'b', 'c']);
    for (const voters of [['a', 'b', 'd'], ['a', 'b'], ['a', 'b', 'c', 'd']]) {
      const r = answerForm(view('b', [], { promise }), 'a', voters);
      assert.equal(r.ok, false, voters.join(','));
      assert.match(r.ok ? '' : r.reason, /promised the voters a,b,c/);
    }
  });

  it('accepts exactly the promised set, in any order', () => {
    assert.deepEqual(answerForm(view('b', [], { promise: promiseTo('a', ['a', 'b', 'c']) }), 'a', ['b', 'c', 'a']), { ok: true });
  });

  it('accepts a lapsed promise that was not replaced (the set was never promised elsewhere)', () => {
    const promise = promiseTo('a', ['a', 'b', 'c'], NOW - 1);
    assert.deepEqual(answerForm(view('b', [], { promise }), 'a', ['a', 'b', 'c']), { ok: true });
  });
});
