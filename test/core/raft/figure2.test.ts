// One test per rule of Figure 2 of the Raft paper (Ongaro & Ousterhout, "In Search of an
// Understandable Consensus Algorithm", 2014), plus its persistence rule. Most tests drive one core
// by hand (direct.ts) so the rule and its evidence sit side by side; the leader rules that need a
// cluster use the harness. The paper's plain algorithm has no pre-vote and no check-quorum, so
// those are off (PAPER) unless a test says otherwise.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Raft } from '../../../src/core/raft/raft.ts';
import type { AppendRequest, AppendResponse, Message, Ready, VoteResponse } from '../../../src/core/raft/types.ts';
import { bytes, nid, RaftHarness } from './harness.ts';
import { appendReq, cfg, drain, ent, heartbeatReq, newRaft, PAPER, sent, setDisk, stateOf, termsOf, voteReq } from './direct.ts';

const E = 10; // RAFT_DEFAULTS.electionTicks

function of<T extends Message['type']>(msgs: readonly Message[], type: T): Extract<Message, { type: T }>[] {
  return msgs.filter((m): m is Extract<Message, { type: T }> => m.type === type);
}

/** Elects node `id` of a fresh cluster by handing it the votes of the given voters. */
function electDirect(r: Raft, grantFrom: readonly number[]): Ready[] {
  r.campaign();
  const out = drain(r);
  for (const v of grantFrom) r.step({ type: 'vote-response', from: nid(v), to: r.id, term: r.term, preVote: false, granted: true });
  out.push(...drain(r));
  assert.equal(r.role, 'leader');
  return out;
}

describe('All servers', () => {
  test('if commitIndex > lastApplied: apply log[lastApplied+1..commitIndex], in order, once, and only once durable', () => {
    const r = newRaft(2, stateOf([1], cfg([1, 2, 3]), { term: 1, commit: 1 }));
    assert.deepEqual(drain(r).flatMap((rd) => rd.committed.map((e) => e.index)), [1]);
    r.step(appendReq(1, 2, 1, 1, 1, [ent(1, 2), ent(1, 3)], 3));
    const first = r.ready();
    assert.deepEqual(first.entries.map((e) => e.index), [2, 3]);
    // Committed, but not yet on this node's disk: nothing to apply until the runtime persisted it.
    assert.deepEqual(first.committed, []);
    r.advance(first);
    const second = r.ready();
    assert.deepEqual(second.committed.map((e) => e.index), [2, 3]);
    r.advance(second);
    assert.equal(r.status().applied, 3);
    // Learning the same commit index again applies nothing twice.
    r.step(heartbeatReq(1, 2, 1, 3));
    assert.deepEqual(drain(r).flatMap((rd) => rd.committed), []);
  });

  test('if an RPC request or response has term T > currentTerm: currentTerm = T, convert to follower', () => {
    // A leader hearing a higher term in a response.
    const leader = newRaft(1, stateOf([1], cfg([1, 2, 3])));
    electDirect(leader, [2]);
    assert.equal(leader.term, 2);
    leader.step({ type: 'heartbeat-response', from: nid(3), to: nid(1), term: 5, readRound: 0 });
    assert.equal(leader.role, 'follower');
    assert.equal(leader.term, 5);
    const rd = drain(leader)[0]!;
    assert.deepEqual(rd.hardState, { term: 5, vote: undefined, commit: 1 });
    assert.equal(rd.softState?.role, 'follower');

    // A candidate hearing a higher term in a rejected vote.
    const cand = newRaft(1, stateOf([1], cfg([1, 2, 3])));
    cand.campaign();
    drain(cand);
    cand.step({ type: 'vote-response', from: nid(2), to: nid(1), term: 7, preVote: false, granted: false });
    assert.equal(cand.role, 'follower');
    assert.equal(cand.term, 7);

    // A follower hearing a higher term in a request (without check-quorum there is no lease).
    const f = newRaft(2, stateOf([1], cfg([1, 2, 3]), { term: 1 }));
    f.step(voteReq(3, 2, 4, 1, 1));
    assert.equal(f.term, 4);
  });
});

describe('Followers', () => {
  test('respond to RPCs from candidates and leaders', () => {
    const f = newRaft(2, stateOf([1], cfg([1, 2, 3]), { term: 1 }));
    f.step(appendReq(1, 2, 1, 1, 1, [ent(1, 2)], 1));
    f.step(heartbeatReq(1, 2, 1, 1));
    f.step(voteReq(3, 2, 2, 2, 1));
    const msgs = sent(drain(f));
    assert.deepEqual(
      msgs.map((m) => `${m.type}->${m.to}`),
      ['append-response->1', 'heartbeat-response->1', 'vote-response->3'],
    );
  });

  test('if the election timeout elapses without hearing from a leader: become candidate; the timeout is random in [E, 2E)', () => {
    const seen = new Set<number>();
    for (let seed = 1; seed <= 60; seed++) {
      const f = newRaft(2, stateOf([1], cfg([1, 2, 3]), { term: 1 }), PAPER, seed);
      let ticks = 0;
      while (f.role === 'follower') {
        f.tick();
        ticks++;
        assert.ok(ticks < 2 * E, `seed ${seed}: no election after ${ticks} ticks`);
      }
      assert.ok(ticks >= E, `seed ${seed}: election after only ${ticks} ticks`);
      assert.equal(f.role, 'candidate');
      seen.add(ticks);
    }
    // Randomized (5.2): split votes are rare only if timeouts differ.
    assert.ok(seen.size >= 5, `timeouts drawn: ${[...seen].join(',')}`);
  });

  test('AppendEntries from the leader and granting a vote both reset the election timer', () => {
    // Measure this seed's timeout T on a twin, then check that resets postpone it by T.
    const timeout = (): number => {
      const twin = newRaft(2, stateOf([1], cfg([1, 2, 3]), { term: 1 }), PAPER, 9);
      let t = 0;
      while (twin.role === 'follower') {
        twin.tick();
        t++;
      }
      return t;
    };
    const T = timeout();

    const f = newRaft(2, stateOf([1], cfg([1, 2, 3]), { term: 1 }), PAPER, 9);
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < T - 1; i++) f.tick();
      f.step(heartbeatReq(1, 2, 1, 1));
    }
    assert.equal(f.role, 'follower');

    const g = newRaft(2, stateOf([1], cfg([1, 2, 3]), { term: 1 }), PAPER, 9);
    for (let i = 0; i < T - 1; i++) g.tick();
    g.step(voteReq(3, 2, 1, 1, 1)); // same term: no new timeout is drawn, the count restarts
    assert.equal(g.status().vote, '3');
    for (let i = 0; i < T - 1; i++) g.tick();
    assert.equal(g.role, 'follower');
    g.tick();
    assert.equal(g.role, 'candidate');
  });
});

describe('Candidates', () => {
  test('on conversion: increment currentTerm, vote for self, send RequestVote to every other voter (not learners)', () => {
    const f = newRaft(2, stateOf([1, 1, 1], cfg([1, 2, 3], [4]), { term: 1 }));
    while (f.role === 'follower') f.tick();
    const rd = f.ready();
    assert.deepEqual(rd.hardState, { term: 2, vote: '2', commit: 1 });
    const votes = of(rd.messages, 'vote');
    assert.deepEqual(votes.map((m) => m.to).sort(), ['1', '3']);
    for (const v of votes) assert.deepEqual([v.term, v.lastLogIndex, v.lastLogTerm, v.preVote], [2, 3, 1, false]);
    f.advance(rd);
  });

  test('votes from a majority: become leader; rejections never count; a lost election returns to follower', () => {
    const c = newRaft(1, stateOf([1], cfg([1, 2, 3, 4, 5])));
    c.campaign();
    drain(c);
    const answer = (from: number, granted: boolean): void =>
      c.step({ type: 'vote-response', from: nid(from), to: nid(1), term: c.term, preVote: false, granted });
    answer(2, true);
    answer(3, false);
    assert.equal(c.role, 'candidate'); // 2 of 5
    answer(2, true); // a duplicate counts once
    assert.equal(c.role, 'candidate');
    answer(4, true);
    assert.equal(c.role, 'leader'); // 3 of 5

    const d = newRaft(1, stateOf([1], cfg([1, 2, 3, 4, 5])));
    d.campaign();
    drain(d);
    for (const v of [2, 3, 4]) d.step({ type: 'vote-response', from: nid(v), to: nid(1), term: d.term, preVote: false, granted: false });
    assert.equal(d.role, 'follower');
    assert.equal(d.term, 2);
  });

  test('AppendEntries from the new leader of its term: convert to follower and handle it', () => {
    const c = newRaft(2, stateOf([1], cfg([1, 2, 3]), { term: 1 }));
    c.campaign();
    drain(c);
    assert.equal(c.role, 'candidate');
    c.step(appendReq(3, 2, 2, 1, 1, [ent(2, 2, '')], 1));
    assert.equal(c.role, 'follower');
    assert.equal(c.leader, '3');
    assert.equal(c.term, 2);
    const acks = of(sent(drain(c)), 'append-response');
    assert.deepEqual(acks.map((m) => [m.to, m.success, m.index]), [['3', true, 2]]);
  });

  test('if the election timeout elapses: start a new election', () => {
    const c = newRaft(1, stateOf([1], cfg([1, 2, 3])));
    c.campaign();
    drain(c);
    assert.equal(c.term, 2);
    for (let i = 0; i < 2 * E && c.term === 2; i++) c.tick();
    assert.equal(c.role, 'candidate');
    assert.equal(c.term, 3);
    const rd = drain(c);
    assert.equal(rd[0]!.hardState?.vote, '1');
    assert.deepEqual(of(sent(rd), 'vote').map((m) => m.term), [3, 3]);
  });
});

describe('Leaders', () => {
  test('upon election: AppendEntries (with the new term\'s no-op) to each server; heartbeats while idle', () => {
    const l = newRaft(1, stateOf([1], cfg([1, 2, 3], [4])), { ...PAPER, heartbeatTicks: 3 });
    const rd = electDirect(l, [2]);
    const appends = of(sent(rd), 'append');
    assert.deepEqual(appends.map((m) => m.to).sort(), ['2', '3', '4']);
    for (const a of appends) assert.deepEqual(a.entries.map((e) => [e.term, e.index, e.data.length]), [[2, 2, 0]]);
    // Idle: a heartbeat to everyone every heartbeatTicks.
    const beats: number[] = [];
    for (let t = 1; t <= 9; t++) {
      l.tick();
      const hbs = of(sent(drain(l)), 'heartbeat');
      if (hbs.length > 0) {
        assert.deepEqual(hbs.map((m) => m.to).sort(), ['2', '3', '4']);
        beats.push(t);
      }
    }
    assert.deepEqual(beats, [3, 6, 9]);
  });

  test('a client command is appended to the leader log and applied only after a majority stored it', () => {
    const h = RaftHarness.cluster(3, { raft: PAPER });
    h.elect(1);
    const p = h.raft(1).propose(bytes('x'));
    assert.ok(p.ok);
    assert.deepEqual(p.value, { index: 3, term: 2 });
    assert.equal(h.raft(1).log.entry(3)?.term, 2);
    h.processReadies(); // the leader persists it and sends it
    assert.deepEqual(h.node(1).fsm, []);
    h.deliverAll((m) => m.to === '2'); // only node 2 receives it
    h.processReadies();
    assert.deepEqual(h.node(1).fsm, []);
    h.queue = h.queue.filter((m) => m.to !== '3'); // node 3 never does
    h.deliverAll(); // node 2's ack reaches the leader: 2 of 3
    h.processReadies();
    assert.deepEqual(h.node(1).fsm, ['x']);
    assert.equal(h.raft(1).status().commit, 3);
  });

  test('nextIndex: send entries from nextIndex; on an inconsistency move it back and retry; on success update next and match', () => {
    const h = RaftHarness.cluster(3, { raft: PAPER });
    setDisk(h, 1, [1, 1, 1, 1, 1], { term: 1, commit: 1 });
    setDisk(h, 2, [1, 1], { term: 1, commit: 1 });
    setDisk(h, 3, [1, 1, 1, 1, 1], { term: 1, commit: 1 });
    h.elect(1);
    const to2 = h.log.filter((l) => l.startsWith('1->2 append'));
    // The first append assumes node 2 holds everything (prev = 1/5); after the rejection the leader
    // retries from where node 2's log ends and node 2 takes the rest.
    assert.match(to2[0]!, /prev=1\/5 /);
    assert.ok(h.log.some((l) => l.startsWith('2->1 append-response') && l.includes('reject index=5')));
    assert.match(to2[1]!, /prev=1\/2 .*1\/3.*1\/4.*1\/5.*2\/6 noop/);
    const pr = h.raft(1).status().progress.get(nid(2))!;
    assert.deepEqual([pr.match, pr.next], [6, 7]);
    assert.deepEqual(termsOf(h.raft(2)), [1, 1, 1, 1, 1, 2]);
  });

  describe('commit only entries of the current term, by counting replicas (5.4.2, Figure 8)', () => {
    // Five servers; every log starts with the bootstrap entry 1/1. Terms and indexes follow the
    // paper's figure; the entry a new leader writes first is its no-op.
    const options = { raft: { ...PAPER, maxAppendBytes: 1 } }; // one entry per append

    /**
     * Runs until no message moves. `upTo` chooses, per append, the highest index that gets
     * through: the rest of its entries are cut off, as if the leader had sent a shorter append
     * (any prefix is a valid append, and the follower acknowledges only what it received).
     */
    function settle(h: RaftHarness, upTo: (m: AppendRequest) => number = () => Number.POSITIVE_INFINITY, lost: (m: Message) => boolean = () => false): void {
      for (let i = 0; i < 200; i++) {
        const handled = h.processReadies();
        h.queue = h.queue.filter((m) => !lost(m));
        h.queue = h.queue.map((m) => (m.type === 'append' ? { ...m, entries: m.entries.filter((e) => e.index <= upTo(m)) } : m));
        const delivered = h.deliverAll();
        if (handled === 0 && delivered === 0) return;
      }
      throw new Error('did not settle');
    }

    function figure8c(): RaftHarness {
      const h = RaftHarness.cluster(5, options);
      // (a) S1 leads term 2 and replicates its entry 2/2 to S2 only.
      h.raft(1).campaign();
      settle(h, (m) => (m.to === '2' ? 2 : 1));
      assert.equal(h.leader(), '1');
      assert.deepEqual(termsOf(h.raft(2)), [1, 2]);
      assert.deepEqual(termsOf(h.raft(3)), [1]);
      // (b) S1 crashes; S5 wins term 3 with votes of S3, S4 and itself, and writes 2/3 only locally.
      h.crash(1);
      h.raft(5).campaign();
      settle(h, () => 1);
      assert.equal(h.raft(5).role, 'leader');
      assert.equal(h.raft(5).term, 3);
      assert.deepEqual(termsOf(h.raft(5)), [1, 3]);
      // (c) S5 crashes; S1 restarts, wins term 4 (S3 and S4 voted for S5 in term 3, so its first
      // try fails), and replicates 2/2 to S3 but its own 3/4 to nobody yet.
      h.crash(5);
      h.restart(1);
      const cut = (): number => 2;
      const toS4 = (m: Message): boolean => m.type === 'append' && m.to === '4';
      h.raft(1).campaign();
      settle(h, cut, toS4);
      assert.equal(h.raft(1).term, 3);
      assert.notEqual(h.raft(1).role, 'leader');
      h.raft(1).campaign();
      settle(h, cut, toS4);
      assert.equal(h.raft(1).role, 'leader');
      assert.equal(h.raft(1).term, 4);
      assert.deepEqual(termsOf(h.raft(1)), [1, 2, 4]);
      assert.deepEqual(termsOf(h.raft(2)), [1, 2]);
      assert.deepEqual(termsOf(h.raft(3)), [1, 2]);
      assert.deepEqual(termsOf(h.raft(4)), [1]);
      return h;
    }

    test('(c) an old-term entry stored on a majority is not committed by counting', () => {
      const h = figure8c();
      const progress = h.raft(1).status().progress;
      assert.equal(progress.get(nid(2))!.match, 2);
      assert.equal(progress.get(nid(3))!.match, 2);
      // 2/2 is on S1, S2, S3 - a majority - and still the leader's commit index stays at 1.
      assert.equal(h.raft(1).status().commit, 1);
      for (const id of [1, 2, 3, 4]) assert.ok(h.node(id).appliedEntries.every((e) => e.index < 2), `S${id} applied nothing past 1`);
    });

    test('(d) which is why S5 may then win term 5 and overwrite it everywhere', () => {
      const h = figure8c();
      h.crash(1);
      h.restart(5);
      h.raft(5).campaign(); // term 4: S2, S3 and S4 voted for S1 in term 4
      settle(h);
      h.raft(5).campaign(); // term 5: its last entry 2/3 beats 2/2 and 1/1
      settle(h);
      assert.equal(h.raft(5).role, 'leader');
      assert.equal(h.raft(5).term, 5);
      for (const id of [2, 3, 4, 5]) assert.deepEqual(termsOf(h.raft(id)), [1, 3, 5], `S${id}`);
      for (const id of [2, 3, 4, 5]) assert.ok(!h.node(id).appliedEntries.some((e) => e.index === 2 && e.term === 2), `S${id} never applied 2/2`);
    });

    test('(e) once S1 replicates 3/4 of its own term to a majority, 2/2 commits with it and S5 can no longer win', () => {
      const h = figure8c();
      h.tick(1); // a heartbeat round; the answers make S1 resend what the followers lack
      settle(h); // 3/4 now reaches S2, S3, S4
      assert.equal(h.raft(1).status().commit, 3);
      assert.deepEqual(h.node(1).appliedEntries.map((e) => `${e.term}/${e.index}`), ['1/1', '2/2', '4/3']);
      h.crash(1);
      h.restart(5);
      for (let i = 0; i < 4; i++) {
        h.raft(5).campaign();
        settle(h);
        assert.notEqual(h.raft(5).role, 'leader');
      }
    });
  });
});

describe('AppendEntries receiver', () => {
  test('1. reply false if term < currentTerm (the stale leader learns the newer term and steps down)', () => {
    const f = newRaft(2, stateOf([1, 1, 3], cfg([1, 2, 3]), { term: 3 }), {}); // defaults: pre-vote, check-quorum
    f.step(appendReq(1, 2, 2, 3, 3, [ent(2, 4)], 3));
    assert.deepEqual(termsOf(f), [1, 1, 3]);
    assert.equal(f.status().commit, 1);
    const answers = sent(drain(f));
    assert.deepEqual(answers.map((m) => [m.type, m.to, m.term]), [['heartbeat-response', '1', 3]]);

    const stale = newRaft(1, stateOf([1], cfg([1, 2, 3])));
    electDirect(stale, [3]);
    assert.equal(stale.term, 2);
    stale.step(answers[0]!);
    assert.equal(stale.role, 'follower');
    assert.equal(stale.term, 3);

    // Without pre-vote and check-quorum (the paper's setting) the same: nothing accepted, and the
    // answer carries the newer term.
    const p = newRaft(2, stateOf([1, 1, 3], cfg([1, 2, 3]), { term: 3 }));
    p.step(appendReq(1, 2, 2, 3, 3, [ent(2, 4)], 3));
    assert.deepEqual(termsOf(p), [1, 1, 3]);
    assert.equal(p.term, 3);
    assert.deepEqual(sent(drain(p)).map((m) => [m.type, m.to, m.term]), [['heartbeat-response', '1', 3]]);
  });

  test('2. reply false if the log has no entry at prevLogIndex, or its term differs from prevLogTerm', () => {
    const f = newRaft(2, stateOf([1, 1, 2], cfg([1, 2, 3]), { term: 3 }));
    f.step(appendReq(1, 2, 3, 5, 3, [ent(3, 6)], 1)); // no entry at 5
    f.step(appendReq(1, 2, 3, 3, 3, [ent(3, 4)], 1)); // entry 3 has term 2, not 3
    const acks = of(sent(drain(f)), 'append-response');
    assert.deepEqual(acks.map((m) => [m.success, m.index]), [[false, 5], [false, 3]]);
    assert.deepEqual(termsOf(f), [1, 1, 2]);
  });

  test('3. an existing entry that conflicts with a new one is deleted with all that follow it', () => {
    const f = newRaft(2, stateOf([1, 1, 2, 2, 2], cfg([1, 2, 3]), { term: 2 }));
    drain(f);
    f.step(appendReq(1, 2, 3, 2, 1, [ent(3, 3)], 1));
    assert.deepEqual(termsOf(f), [1, 1, 3]);
    const rd = f.ready();
    // The Ready tells the runtime to replace the suffix from index 3 on.
    assert.deepEqual(rd.entries.map((e) => `${e.term}/${e.index}`), ['3/3']);
    f.advance(rd);
  });

  test('3. entries already present are not a conflict: a delayed, shorter append truncates nothing', () => {
    const f = newRaft(2, stateOf([1, 2, 2, 2, 2], cfg([1, 2, 3]), { term: 2 }));
    f.step(appendReq(1, 2, 2, 1, 1, [ent(2, 2)], 1));
    assert.deepEqual(termsOf(f), [1, 2, 2, 2, 2]);
    const acks = of(sent(drain(f)), 'append-response');
    assert.deepEqual(acks.map((m) => [m.success, m.index]), [[true, 2]]);
  });

  test('4. append any new entries not already in the log', () => {
    const f = newRaft(2, stateOf([1, 1], cfg([1, 2, 3]), { term: 1 }));
    f.step(appendReq(1, 2, 1, 1, 1, [ent(1, 2), ent(1, 3), ent(1, 4)], 1));
    assert.deepEqual(termsOf(f), [1, 1, 1, 1]);
    assert.equal(f.log.entry(4)?.data.length, 4);
  });

  test('5. if leaderCommit > commitIndex: commitIndex = min(leaderCommit, index of last new entry)', () => {
    // Entries 3 and 4 (term 2) came from a deposed leader: the new leader's commit index must not
    // commit them just because they sit at indexes it committed.
    const f = newRaft(2, stateOf([1, 1, 2, 2], cfg([1, 2, 3]), { term: 3, commit: 1 }));
    f.step(appendReq(1, 2, 3, 2, 1, [], 4));
    assert.equal(f.status().commit, 2);
    f.step(appendReq(1, 2, 3, 2, 1, [ent(3, 3)], 9));
    assert.equal(f.status().commit, 3);
    // The commit index never goes back.
    f.step(appendReq(1, 2, 3, 1, 1, [], 1));
    assert.equal(f.status().commit, 3);
  });
});

describe('RequestVote receiver', () => {
  test('1. reply false if term < currentTerm (no vote, no change)', () => {
    const f = newRaft(2, stateOf([1], cfg([1, 2, 3]), { term: 5 }));
    f.step(voteReq(3, 2, 4, 9, 4));
    const msgs = sent(drain(f));
    assert.ok(!msgs.some((m) => m.type === 'vote-response' && m.granted));
    assert.equal(f.status().vote, undefined);
    assert.equal(f.term, 5);
  });

  test('2. grant only if votedFor is null or the candidate (one vote per term, retransmissions answered)', () => {
    const f = newRaft(2, stateOf([1], cfg([1, 2, 3, 4]), { term: 1 }));
    f.step(voteReq(3, 2, 2, 1, 1));
    f.step(voteReq(4, 2, 2, 1, 1));
    f.step(voteReq(3, 2, 2, 1, 1));
    const answers = of(sent(drain(f)), 'vote-response');
    assert.deepEqual(answers.map((m) => [m.to, m.granted]), [['3', true], ['4', false], ['3', true]]);
    assert.equal(f.status().vote, '3');
  });

  test('2. grant only if the candidate log is at least as up to date (5.4.1: last term, then length)', () => {
    const cases: [lastIndex: number, lastTerm: number, granted: boolean][] = [
      [10, 1, false], // longer, but an older last term
      [2, 2, false], // same last term, shorter
      [3, 2, true], // identical
      [4, 2, true], // same last term, longer
      [1, 3, true], // shorter, newer last term
    ];
    for (const [lastIndex, lastTerm, granted] of cases) {
      const f = newRaft(2, stateOf([1, 1, 2], cfg([1, 2, 3]), { term: 2 }));
      f.step(voteReq(3, 2, 3, lastIndex, lastTerm));
      const answer = of(sent(drain(f)), 'vote-response')[0]!;
      assert.equal(answer.granted, granted, `candidate last ${lastTerm}/${lastIndex} vs 2/3`);
      assert.equal(f.status().vote, granted ? '3' : undefined);
    }
  });
});

describe('Persistence: a vote or an ack leaves only in a Ready that persists what it promises', () => {
  test('a granted vote travels with the hard state that records it', () => {
    const f = newRaft(2, stateOf([1], cfg([1, 2, 3]), { term: 1 }));
    drain(f);
    f.step(voteReq(3, 2, 4, 1, 1));
    const rd = f.ready();
    const grant = of(rd.messages, 'vote-response').find((m) => m.granted);
    assert.ok(grant !== undefined);
    assert.deepEqual(rd.hardState, { term: 4, vote: '3', commit: 1 });
    f.advance(rd);
  });

  test('a candidate\'s vote requests travel with the hard state recording its new term and self-vote', () => {
    const c = newRaft(1, stateOf([1], cfg([1, 2, 3])));
    drain(c);
    c.campaign();
    const rd = c.ready();
    assert.equal(of(rd.messages, 'vote').length, 2);
    assert.deepEqual(rd.hardState, { term: 2, vote: '1', commit: 1 });
    c.advance(rd);
  });

  test('an append ack travels with (or after) the entries it acknowledges', () => {
    const f = newRaft(2, stateOf([1], cfg([1, 2, 3]), { term: 1 }));
    drain(f);
    f.step(appendReq(1, 2, 2, 1, 1, [ent(2, 2), ent(2, 3)], 1));
    const rd = f.ready();
    const ack = of(rd.messages, 'append-response')[0] as AppendResponse;
    assert.equal(ack.success, true);
    assert.equal(ack.index, 3);
    assert.deepEqual(rd.entries.map((e) => e.index), [2, 3]);
    assert.deepEqual(rd.hardState, { term: 2, vote: undefined, commit: 1 });
    f.advance(rd);
  });

  test('votes and acks of a whole randomized run always find their promise on the harness disk', () => {
    // Wraps advance(): by then the harness has persisted the Ready it acknowledges.
    for (let seed = 1; seed <= 20; seed++) {
      const h = RaftHarness.cluster(3, { seed, raft: PAPER });
      let checked = 0;
      const wrap = (id: number): void => {
        const n = h.node(id);
        const r = n.raft;
        const advance = r.advance.bind(r);
        r.advance = (rd: Ready): void => {
          for (const m of rd.messages) {
            if (m.type === 'vote-response' && m.granted && !m.preVote) {
              const hs = n.disk.hardState;
              assert.ok(hs.term > m.term || (hs.term === m.term && hs.vote === m.to), `seed ${seed}: vote for ${m.to} in ${m.term} not on disk`);
              checked++;
            }
            if (m.type === 'append-response' && m.success) {
              const onDisk = n.disk.entries.some((e) => e.index === m.index) || (n.disk.snapshot?.index ?? 0) >= m.index;
              assert.ok(onDisk, `seed ${seed}: ack of ${m.index} to ${m.to} without it on disk`);
              checked++;
            }
          }
          advance(rd);
        };
      };
      for (const id of [1, 2, 3]) wrap(id);
      for (let step = 0; step < 120; step++) {
        h.tickAll();
        h.stabilize();
        const l = h.leader();
        if (l !== undefined && step % 3 === 0) h.raft(l).propose(bytes(`s${seed}c${step}`));
        if (step % 40 === 20) {
          const victim = 1 + (seed + step) % 3;
          h.crash(victim);
          h.tickAll(25);
          h.stabilize();
          h.restart(victim);
          wrap(victim);
        }
      }
      assert.ok(checked > 50, `seed ${seed}: only ${checked} promises checked`);
    }
  });
});

// Keeps the VoteResponse import honest for readers: vote answers are what the candidate counts.
export type { VoteResponse };
