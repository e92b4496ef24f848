// GET /metrics: real in-process agents are scraped over HTTP and the Prometheus text is parsed
// and checked against what the agent does (writes, refusals, a follower forwarding to the
// leader); two agents in one process keep separate registries; the leader-change rule and the
// transport's request observer are checked on their own. Waits have deadlines only against hangs.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { register as globalRegistry } from 'prom-client';
import { Agent } from '../../src/agent/agent.ts';
import { DEFAULT_CONFIG, type AgentConfig } from '../../src/agent/config.ts';
import { createLogger } from '../../src/agent/log.ts';
import { AgentMetrics, type MetricsSources } from '../../src/agent/metrics.ts';
import type { RaftStatus } from '../../src/core/raft/raft.ts';
import { SystemClock } from '../../src/runtime/clock.ts';
import { TcpRpcTransport } from '../../src/runtime/transport/rpc.ts';
import type { Status } from '../../src/api/schemas.ts';

const logger = createLogger({ level: 'silent' });
const clock = new SystemClock();
const running: Agent[] = [];
after(async () => {
  await Promise.all(running.map((a) => a.stop()));
});

function devConfig(join: string[] = []): AgentConfig {
  return {
    ...DEFAULT_CONFIG,
    dev: true,
    join,
    ports: { http: 0, rpc: 0, gossip: 0, dns: 0 },
    gossip: { ...DEFAULT_CONFIG.gossip, preset: 'local' },
    autopilot: { ...DEFAULT_CONFIG.autopilot, learnerStableMs: 0 },
  };
}

async function startAgent(join: string[] = []): Promise<Agent> {
  const agent = await Agent.start(devConfig(join), { logger, clock });
  running.push(agent);
  return agent;
}

// --- Prometheus text format ------------------------------------------------------------------

interface Scrape {
  readonly contentType: string;
  readonly text: string;
  /** Series (name plus labels sorted by name) -> value. */
  readonly series: ReadonlyMap<string, number>;
}

function seriesKey(name: string, labels: Record<string, string>): string {
  const parts = Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`);
  return parts.length === 0 ? name : `${name}{${parts.join(',')}}`;
}

function parseExposition(text: string): Map<string, number> {
  const series = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
    assert.ok(!Number.isNaN(value) || m[3]!.toLowerCase() === 'nan', `bad value in ${line}`);
    const key = seriesKey(m[1]!, labels);
    assert.ok(!series.has(key), `series ${key} appears twice`);
    series.set(key, value);
  }
  return series;
}

async function scrape(agent: Agent): Promise<Scrape> {
  const res = await fetch(`http://127.0.0.1:${agent.status().ports.http}/metrics`);
  assert.equal(res.status, 200);
  const text = await res.text();
  return { contentType: res.headers.get('content-type') ?? '', text, series: parseExposition(text) };
}

function value(s: Scrape, name: string, labels: Record<string, string> = {}): number | undefined {
  return s.series.get(seriesKey(name, labels));
}

function must(s: Scrape, name: string, labels: Record<string, string> = {}): number {
  const v = value(s, name, labels);
  assert.ok(v !== undefined, `no series ${seriesKey(name, labels)} in:\n${s.text}`);
  return v;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

// --- Agents ----------------------------------------------------------------------------------

describe('GET /metrics on a real agent', { concurrency: false }, () => {
  let a: Agent;

  it('reports Raft, cluster, membership and KV state in the Prometheus text format', async () => {
    a = await startAgent();
    const s = await scrape(a);
    assert.match(s.contentType, /^text\/plain; version=0\.0\.4; charset=utf-8$/);
    const status: Status = a.status();
    assert.equal(must(s, 'sappers_agent_info', { node_id: a.nodeId, version: status.version }), 1);
    assert.ok(must(s, 'sappers_raft_term') >= 1);
    assert.equal(must(s, 'sappers_raft_term'), status.term);
    assert.equal(must(s, 'sappers_raft_is_leader'), 1);
    // The founder elected itself once: the first leader seen counts as one change.
    assert.equal(must(s, 'sappers_raft_leader_changes_total'), 1);
    assert.equal(must(s, 'sappers_raft_voters'), 1);
    assert.equal(must(s, 'sappers_raft_learners'), 0);
    // Right after the election the leader's first entry may be committed but not yet applied.
    assert.ok(must(s, 'sappers_raft_commit_index') >= must(s, 'sappers_raft_applied_index'));
    assert.ok(must(s, 'sappers_raft_last_log_index') >= must(s, 'sappers_raft_commit_index'));
    assert.equal(must(s, 'sappers_raft_apply_lag_entries'), must(s, 'sappers_raft_commit_index') - must(s, 'sappers_raft_applied_index'));
    assert.equal(must(s, 'sappers_cluster_state', { state: 'active' }), 1);
    for (const state of ['electing', 'no-quorum', 'joining', 'waiting-for-nodes']) assert.equal(must(s, 'sappers_cluster_state', { state }), 0);
    assert.equal(must(s, 'sappers_members', { status: 'alive' }), 1);
    for (const status of ['suspect', 'dead', 'left']) assert.equal(must(s, 'sappers_members', { status }), 0);
    assert.equal(must(s, 'sappers_kv_revision'), 0);
    assert.equal(must(s, 'sappers_kv_keys'), 0);
    for (const reason of ['unauthenticated', 'malformed', 'oversize']) assert.equal(must(s, 'sappers_gossip_dropped_packets_total', { reason }), 0);
    assert.equal(must(s, 'sappers_rpc_inbound_connections'), 0);
    // prom-client's process metrics, under their standard names.
    assert.ok(must(s, 'process_cpu_user_seconds_total') >= 0);
    assert.ok(must(s, 'nodejs_heap_size_used_bytes') > 0);
    // Every series of ours is described for the operator.
    const names = new Set([...s.series.keys()].map((k) => k.replace(/\{.*$/, '').replace(/_(bucket|sum|count)$/, '')).filter((n) => n.startsWith('sappers_')));
    assert.ok(names.size >= 20, `only ${names.size} sappers_ metrics`);
    for (const name of names) {
      assert.match(s.text, new RegExp(`^# HELP ${name} \\S.{20,}$`, 'm'), `${name} has no useful HELP`);
      assert.match(s.text, new RegExp(`^# TYPE ${name} (gauge|counter|histogram)$`, 'm'));
    }
  });

  it('follows writes: indexes, KV revision and keys, and proposals by outcome', async () => {
    const before = await scrape(a);
    assert.equal(value(before, 'sappers_proposals_total', { type: 'kv.put', outcome: 'applied', code: '' }), undefined);
    const { revision } = await a.kvPut('m/one', bytes('1'), undefined);
    await a.kvPut('m/two', bytes('2'), undefined);
    await assert.rejects(a.kvPut('m/one', bytes('x'), revision + 100), { code: 'conflict' });
    await a.kvDelete('m/two', undefined);
    await assert.rejects(a.kvDelete('m/absent', undefined), { code: 'not-found' });

    const statusBefore = a.status();
    const s = await scrape(a);
    const statusAfter = a.status();
    // Each write (refused ones too) is a log entry applied before its answer.
    assert.ok(must(s, 'sappers_raft_applied_index') >= must(before, 'sappers_raft_applied_index') + 5, 'five writes, five entries at least');
    assert.ok(must(s, 'sappers_raft_applied_index') >= statusBefore.appliedIndex && must(s, 'sappers_raft_applied_index') <= statusAfter.appliedIndex);
    assert.ok(must(s, 'sappers_raft_commit_index') >= statusBefore.commitIndex && must(s, 'sappers_raft_commit_index') <= statusAfter.commitIndex);
    assert.equal(must(s, 'sappers_kv_revision'), 3);
    assert.equal(must(s, 'sappers_kv_keys'), 1);
    assert.equal(must(s, 'sappers_proposals_total', { type: 'kv.put', outcome: 'applied', code: '' }), 2);
    assert.equal(must(s, 'sappers_proposals_total', { type: 'kv.put', outcome: 'refused', code: 'cas-mismatch' }), 1);
    assert.equal(must(s, 'sappers_proposals_total', { type: 'kv.delete', outcome: 'applied', code: '' }), 1);
    assert.equal(must(s, 'sappers_proposals_total', { type: 'kv.delete', outcome: 'refused', code: 'not-found' }), 1);
    assert.equal(must(s, 'sappers_proposal_duration_seconds_count', { outcome: 'applied' }), 3);
    assert.equal(must(s, 'sappers_proposal_duration_seconds_count', { outcome: 'refused' }), 2);
    assert.equal(must(s, 'sappers_proposal_duration_seconds_bucket', { outcome: 'applied', le: '+Inf' }), 3);
    // A single node sends no RPC requests.
    assert.ok(![...s.series.keys()].some((k) => k.startsWith('sappers_rpc_request_duration_seconds')));
  });

  it('keeps each agent\'s metrics apart; a joined follower times its forwarded writes', async () => {
    const gossipPort = a.status().ports.gossip;
    assert.ok(gossipPort !== null);
    const b = await startAgent([`127.0.0.1:${gossipPort}`]);
    // The autopilot adds b as a learner; b knows the leader once it hears from it.
    await until('b to follow a', async () => (b.status().leader === a.nodeId ? true : undefined));
    const aBefore = await scrape(a);
    const { revision } = await b.kvPut('m/from-b', bytes('b'), undefined);
    await until('b to apply its own write', async () => ((await b.kvGet('m/from-b', true)) !== undefined ? true : undefined));

    const [sa, sb] = [await scrape(a), await scrape(b)];
    assert.equal(must(sb, 'sappers_agent_info', { node_id: b.nodeId, version: b.status().version }), 1);
    assert.equal(value(sb, 'sappers_agent_info', { node_id: a.nodeId, version: a.status().version }), undefined);
    assert.equal(must(sa, 'sappers_raft_is_leader'), 1);
    assert.equal(must(sb, 'sappers_raft_is_leader'), 0);
    assert.equal(must(sb, 'sappers_raft_leader_changes_total'), 1);
    assert.equal(must(sb, 'sappers_raft_term'), must(sa, 'sappers_raft_term'));
    // The write is counted where it arrived (b), timed as a forward over RPC, and applied on both.
    assert.equal(must(sb, 'sappers_proposals_total', { type: 'kv.put', outcome: 'applied', code: '' }), 1);
    assert.equal(must(sa, 'sappers_proposals_total', { type: 'kv.put', outcome: 'applied', code: '' }), must(aBefore, 'sappers_proposals_total', { type: 'kv.put', outcome: 'applied', code: '' }));
    assert.equal(must(sb, 'sappers_rpc_request_duration_seconds_count', { method: 'fsm.propose', outcome: 'ok' }), 1);
    assert.equal(must(sb, 'sappers_rpc_request_duration_seconds_bucket', { method: 'fsm.propose', outcome: 'ok', le: '+Inf' }), 1);
    assert.equal(value(sa, 'sappers_rpc_request_duration_seconds_count', { method: 'fsm.propose', outcome: 'ok' }), undefined);
    assert.ok(must(sb, 'sappers_rpc_dials_total') >= 1);
    assert.ok(must(sa, 'sappers_rpc_accepted_connections_total') >= 1);
    assert.equal(must(sa, 'sappers_kv_revision'), revision);
    assert.equal(must(sb, 'sappers_kv_revision'), revision);
    assert.equal(must(sb, 'sappers_kv_keys'), 2);
    // Both see each other alive by gossip, and gossip traffic flowed both ways.
    const alive = await until('both members alive on b', async () => {
      const s = await scrape(b);
      return must(s, 'sappers_members', { status: 'alive' }) === 2 ? s : undefined;
    });
    assert.ok(must(alive, 'sappers_gossip_sent_packets_total') > 0);
    assert.ok(must(alive, 'sappers_gossip_received_bytes_total') > 0);
    // b's own registry lists b only once per metric (no second agent's metrics leaked in).
    assert.equal((alive.text.match(/^# TYPE sappers_raft_term /gm) ?? []).length, 1);
    // Metrics live in the agents' registries, never in prom-client's global one.
    assert.equal((await globalRegistry.metrics()).trim(), '');
  });
});

// --- Units -----------------------------------------------------------------------------------

function fakeRaft(over: Partial<RaftStatus> = {}): RaftStatus {
  return {
    id: 'n1',
    role: 'follower',
    term: 7,
    vote: undefined,
    leader: 'n2',
    firstIndex: 1,
    lastIndex: 12,
    lastTerm: 7,
    commit: 10,
    applied: 8,
    stable: 12,
    config: { voters: ['n1', 'n2', 'n3'], learners: ['n4'] },
    transferee: undefined,
    progress: new Map(),
    ...over,
  } as unknown as RaftStatus;
}

async function scrapeUnit(metrics: AgentMetrics): Promise<Scrape> {
  const { contentType, text } = await metrics.exposition();
  return { contentType, text, series: parseExposition(text) };
}

describe('AgentMetrics', () => {
  const sources = (over: Partial<MetricsSources> = {}): MetricsSources => ({
    raft: () => fakeRaft(),
    clusterState: () => 'active',
    memberStatuses: () => ['alive', 'alive', 'suspect', 'dead', 'dead', 'left'],
    gossip: () => undefined,
    rpc: () => undefined,
    kv: () => ({ revision: 42, keys: 5 }),
    ...over,
  });

  it('reads its sources at scrape time', async () => {
    let raft = fakeRaft();
    const metrics = new AgentMetrics({ nodeId: 'n1', version: 'v', processMetrics: false, sources: sources({ raft: () => raft }) });
    let s = await scrapeUnit(metrics);
    assert.equal(must(s, 'sappers_raft_apply_lag_entries'), 2);
    assert.equal(must(s, 'sappers_raft_last_log_index'), 12);
    assert.equal(must(s, 'sappers_raft_voters'), 3);
    assert.equal(must(s, 'sappers_raft_learners'), 1);
    assert.equal(must(s, 'sappers_raft_is_leader'), 0);
    assert.deepEqual(['alive', 'suspect', 'dead', 'left'].map((status) => must(s, 'sappers_members', { status })), [2, 1, 2, 1]);
    assert.equal(must(s, 'sappers_kv_revision'), 42);
    assert.equal(must(s, 'sappers_kv_keys'), 5);
    raft = fakeRaft({ role: 'leader', leader: 'n1', term: 8, commit: 12, applied: 12 } as Partial<RaftStatus>);
    s = await scrapeUnit(metrics);
    assert.equal(must(s, 'sappers_raft_is_leader'), 1);
    assert.equal(must(s, 'sappers_raft_term'), 8);
    assert.equal(must(s, 'sappers_raft_apply_lag_entries'), 0);
    // Without process metrics only ours are there.
    assert.ok([...s.series.keys()].every((k) => k.startsWith('sappers_')));
  });

  it('reports zeros while the agent has no Raft, gossip or KV, and a state it does not know', async () => {
    const metrics = new AgentMetrics({
      nodeId: 'n1',
      version: 'v',
      processMetrics: false,
      sources: sources({ raft: () => undefined, kv: () => undefined, memberStatuses: () => [], clusterState: () => 'mystery' as Status['state'] }),
    });
    const s = await scrapeUnit(metrics);
    assert.equal(must(s, 'sappers_raft_term'), 0);
    assert.equal(must(s, 'sappers_raft_is_leader'), 0);
    assert.equal(must(s, 'sappers_kv_revision'), 0);
    assert.equal(must(s, 'sappers_members', { status: 'alive' }), 0);
    assert.equal(must(s, 'sappers_gossip_sent_packets_total'), 0);
    assert.equal(value(s, 'sappers_gossip_dropped_packets_total', { reason: 'malformed' }), undefined);
    assert.equal(must(s, 'sappers_cluster_state', { state: 'mystery' }), 1);
    assert.equal(must(s, 'sappers_cluster_state', { state: 'active' }), 0);
  });

  it('mirrors the membership and RPC counters', async () => {
    const gossip = { packetsSent: 5, packetsReceived: 4, bytesSent: 500, bytesReceived: 400, droppedUnauthenticated: 3, droppedMalformed: 2, droppedOversize: 1, pushPulls: 6, pushPullFailures: 1 };
    const counters = { dials: 9, dialFailures: 2, accepted: 3, protocolErrors: 1, handlerErrors: 2, unknownMessages: 3, lateReplies: 4, refusedTooLarge: 5, refusedOverloaded: 6, tlsClientErrors: 7 };
    const metrics = new AgentMetrics({ nodeId: 'n1', version: 'v', processMetrics: false, sources: sources({ gossip: () => gossip, rpc: () => ({ counters, inboundConnections: 2 }) }) });
    let s = await scrapeUnit(metrics);
    assert.equal(must(s, 'sappers_gossip_sent_packets_total'), 5);
    assert.equal(must(s, 'sappers_gossip_received_bytes_total'), 400);
    assert.equal(must(s, 'sappers_gossip_dropped_packets_total', { reason: 'unauthenticated' }), 3);
    assert.equal(must(s, 'sappers_gossip_dropped_packets_total', { reason: 'oversize' }), 1);
    assert.equal(must(s, 'sappers_gossip_push_pull_failures_total'), 1);
    assert.equal(must(s, 'sappers_rpc_dials_total'), 9);
    assert.equal(must(s, 'sappers_rpc_inbound_connections'), 2);
    assert.equal(must(s, 'sappers_rpc_errors_total', { kind: 'tls_handshake' }), 7);
    assert.equal(must(s, 'sappers_rpc_errors_total', { kind: 'late_reply' }), 4);
    gossip.packetsSent = 8;
    counters.dials = 10;
    s = await scrapeUnit(metrics);
    assert.equal(must(s, 'sappers_gossip_sent_packets_total'), 8);
    assert.equal(must(s, 'sappers_rpc_dials_total'), 10);
  });

  it('counts a leader change for each new leader or new term, not for leaderless gaps', async () => {
    const metrics = new AgentMetrics({ nodeId: 'n1', version: 'v', processMetrics: false, sources: sources() });
    const changes = async (): Promise<number> => must(await scrapeUnit(metrics), 'sappers_raft_leader_changes_total');
    assert.equal(await changes(), 0);
    metrics.observeLeader({ leader: undefined, term: 1 });
    assert.equal(await changes(), 0);
    metrics.observeLeader({ leader: 'n1', term: 1 });
    metrics.observeLeader({ leader: 'n1', term: 1 });
    assert.equal(await changes(), 1);
    metrics.observeLeader({ leader: undefined, term: 1 });
    metrics.observeLeader({ leader: 'n1', term: 1 });
    assert.equal(await changes(), 1);
    metrics.observeLeader({ leader: 'n1', term: 2 });
    metrics.observeLeader({ leader: 'n2', term: 3 });
    assert.equal(await changes(), 3);
  });

  it('records RPC latencies and proposals with their labels, in seconds', async () => {
    const metrics = new AgentMetrics({ nodeId: 'n1', version: 'v', processMetrics: false, sources: sources() });
    metrics.observeRpcRequest('fsm.propose', 'ok', 3);
    metrics.observeRpcRequest('fsm.propose', 'timeout', 10_000);
    metrics.observeProposal('kv.put', { kind: 'failed', code: 'no-leader' }, 1);
    const s = await scrapeUnit(metrics);
    assert.equal(must(s, 'sappers_rpc_request_duration_seconds_bucket', { method: 'fsm.propose', outcome: 'ok', le: '0.0025' }), 0);
    assert.equal(must(s, 'sappers_rpc_request_duration_seconds_bucket', { method: 'fsm.propose', outcome: 'ok', le: '0.005' }), 1);
    assert.equal(must(s, 'sappers_rpc_request_duration_seconds_sum', { method: 'fsm.propose', outcome: 'timeout' }), 10);
    assert.equal(must(s, 'sappers_rpc_request_duration_seconds_bucket', { method: 'fsm.propose', outcome: 'timeout', le: '5' }), 0);
    assert.equal(must(s, 'sappers_rpc_request_duration_seconds_bucket', { method: 'fsm.propose', outcome: 'timeout', le: '10' }), 1);
    assert.equal(must(s, 'sappers_proposals_total', { type: 'kv.put', outcome: 'failed', code: 'no-leader' }), 1);
    assert.equal(must(s, 'sappers_proposal_duration_seconds_count', { outcome: 'failed' }), 1);
  });

  it('keeps two instances apart and out of the global registry', async () => {
    const one = new AgentMetrics({ nodeId: 'one', version: 'v', sources: sources() });
    const two = new AgentMetrics({ nodeId: 'two', version: 'v', sources: sources() });
    one.observeProposal('kv.put', { kind: 'applied' }, 1);
    const [s1, s2] = [await scrapeUnit(one), await scrapeUnit(two)];
    assert.equal(must(s1, 'sappers_proposals_total', { type: 'kv.put', outcome: 'applied', code: '' }), 1);
    assert.equal(value(s2, 'sappers_proposals_total', { type: 'kv.put', outcome: 'applied', code: '' }), undefined);
    assert.equal(value(s2, 'sappers_agent_info', { node_id: 'one', version: 'v' }), undefined);
    assert.ok(must(s2, 'nodejs_heap_size_total_bytes') > 0);
    assert.equal((await globalRegistry.metrics()).trim(), '');
  });
});

describe('TcpRpcTransport.observeRequests', () => {
  it('reports each request\'s method, outcome and elapsed time until unsubscribed', async () => {
    const server = await TcpRpcTransport.listen({ host: '127.0.0.1', port: 0 });
    const client = await TcpRpcTransport.listen({ host: '127.0.0.1', port: 0 });
    try {
      server.handle('echo', (body) => body);
      server.handle('fail', () => {
        throw new Error('nope');
      });
      const seen: Array<[string, string, number]> = [];
      const stop = client.observeRequests((method, outcome, elapsedMs) => seen.push([method, outcome, elapsedMs]));
      assert.deepEqual(await client.request(server.localAddress, 'echo', bytes('hi')), bytes('hi'));
      await assert.rejects(client.request(server.localAddress, 'fail', bytes('')), { code: 'remote' });
      await assert.rejects(client.request(server.localAddress, 'missing', bytes('')), { code: 'no-handler' });
      assert.deepEqual(
        seen.map(([m, o]) => [m, o]),
        [
          ['echo', 'ok'],
          ['fail', 'remote'],
          ['missing', 'no-handler'],
        ],
      );
      assert.ok(seen.every(([, , ms]) => ms >= 0 && Number.isFinite(ms)));
      stop();
      await client.request(server.localAddress, 'echo', bytes('again'));
      assert.equal(seen.length, 3);
    } finally {
      await Promise.all([client.close(), server.close()]);
    }
  });
});
