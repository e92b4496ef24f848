// Prometheus metrics of one agent (GET /metrics; DESIGN.md, Interfaces), with prom-client.
//
// Each agent owns its Registry: prom-client's global default registry would be shared by every
// agent in a process (tests run several), and metrics registered twice there throw. Every
// metric below therefore names `registers: [this.registry]` explicitly (prom-client registers
// into the global one when that is left out).
//
// Most values are read when Prometheus scrapes (gauge and counter `collect` callbacks over the
// agent's existing state: Raft status, membership and RPC counters, the KV store), so nothing
// is sampled on a timer and a scrape always shows the current state. Events the state does not
// keep (leader changes, request and write latencies, write outcomes) are pushed in by the agent.
//
// Naming follows the Prometheus conventions (https://prometheus.io/docs/practices/naming/):
// `sappers_` prefix, the unit last (`_seconds`, `_bytes`, `_entries`), `_total` on counters.
// The process metrics of prom-client's collectDefaultMetrics (CPU, memory, heap, event-loop lag,
// GC, open file descriptors) keep their standard unprefixed names (`process_*`, `nodejs_*`), so
// the usual Node.js dashboards and alerts work unchanged; they describe the whole process, so
// agents sharing one process (tests) report the same values there.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RaftStatus } from '../core/raft/raft.ts';
import type { MembershipCounters } from '../runtime/membership.ts';
import type { RpcCounters } from '../runtime/transport/rpc.ts';
import { ClusterStateSchema, type Status } from '../api/schemas.ts';

/** The text a scrape returns, with its content type (Prometheus text exposition format 0.0.4). */
export interface MetricsExposition {
  readonly contentType: string;
  readonly text: string;
}

/** Where the scrape-time values come from; each may be absent while the agent starts or stops. */
export interface MetricsSources {
  readonly raft: () => RaftStatus | undefined;
  readonly clusterState: () => Status['state'];
  /** Each known member's status as gossip sees it (this node included). */
  readonly memberStatuses: () => readonly string[];
  readonly gossip: () => Readonly<MembershipCounters> | undefined;
  readonly rpc: () => { readonly counters: Readonly<RpcCounters>; readonly inboundConnections: number } | undefined;
  readonly kv: () => { readonly revision: number; readonly keys: number } | undefined;
}

export interface AgentMetricsOptions {
  readonly nodeId: string;
  readonly version: string;
  readonly sources: MetricsSources;
  /** prom-client's default process metrics (on by default). */
  readonly processMetrics?: boolean;
}

/** How a write proposed through this agent's API ended. */
export type ProposalOutcome =
  /** Committed and applied by the state machine. */
  | { readonly kind: 'applied' }
  /** Committed, but the state machine refused it (cas-mismatch, not-found, ...). */
  | { readonly kind: 'refused'; readonly code: string }
  /** Not known to be applied: no leader, timeout (maybe applied), unavailable, too large, stopped. */
  | { readonly kind: 'failed'; readonly code: string };

const MEMBER_STATUSES = ['alive', 'suspect', 'dead', 'left'] as const;
const CLUSTER_STATES: readonly string[] = ClusterStateSchema.anyOf.map((literal) => literal.const);

/**
 * Latency buckets in seconds: from a loopback round trip (well under a millisecond) up to the
 * 10 s forwarding deadline, so that a slow peer and a timeout land in different buckets.
 */
const LATENCY_BUCKETS_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class AgentMetrics {
  readonly registry = new Registry();
  readonly #leaderChanges: Counter;
  readonly #rpcDuration: Histogram<'method' | 'outcome'>;
  readonly #proposals: Counter<'type' | 'outcome' | 'code'>;
  readonly #proposalDuration: Histogram<'outcome'>;
  /** The leader and term last counted as a leader change. */
  #lastLeader: { leader: string; term: number } | undefined;

  constructor(options: AgentMetricsOptions) {
    const registers = [this.registry];
    const sources = options.sources;
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });

    new Gauge({
      name: 'sappers_agent_info',
      help: 'Always 1; its labels name this agent (node ID and Sappers version), for joining with other series.',
      labelNames: ['node_id', 'version'],
      registers,
    }).set({ node_id: options.nodeId, version: options.version }, 1);

    // --- Raft ------------------------------------------------------------------------------
    const raftGauge = (name: string, help: string, read: (s: RaftStatus) => number): void => {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          const status = sources.raft();
          this.set(status === undefined ? 0 : read(status));
        },
      });
    };
    raftGauge('sappers_raft_term', 'Current Raft term seen by this node (0 while Raft is not running). Rises with every election.', (s) => s.term);
    raftGauge('sappers_raft_commit_index', 'Highest Raft log index this node knows to be committed (stored by a majority of voters).', (s) => s.commit);
    raftGauge('sappers_raft_applied_index', 'Highest Raft log index this node has applied to its replicated state machine.', (s) => s.applied);
    raftGauge('sappers_raft_last_log_index', 'Index of the last entry in this node\'s Raft log (committed or not).', (s) => s.lastIndex);
    raftGauge(
      'sappers_raft_apply_lag_entries',
      'Committed Raft entries not yet applied here (commit index minus applied index); growing means this node cannot keep up.',
      (s) => Math.max(0, s.commit - s.applied),
    );
    raftGauge('sappers_raft_is_leader', '1 if this node is the Raft leader, else 0. Summed over the cluster it should be exactly 1.', (s) => (s.role === 'leader' ? 1 : 0));
    raftGauge('sappers_raft_voters', 'Voting members in the Raft configuration this node holds (the autopilot keeps it at 1, 3, 5 or 7).', (s) => s.config.voters.length);
    raftGauge('sappers_raft_learners', 'Non-voting members (learners catching up before promotion) in the Raft configuration this node holds.', (s) => s.config.learners.length);
    this.#leaderChanges = new Counter({
      name: 'sappers_raft_leader_changes_total',
      help: 'Leaders this node has seen: the first one, then every new leader or re-election in a later term. A steady rise means unstable leadership (flapping network, overloaded voters).',
      registers,
    });
    new Gauge({
      name: 'sappers_cluster_state',
      help: 'The cluster state this node reports in /v1/status: 1 for the current state, 0 for the others (active, electing, no-quorum, joining, waiting-for-nodes).',
      labelNames: ['state'],
      registers,
      collect() {
        const current = sources.clusterState();
        this.reset();
        for (const state of CLUSTER_STATES) this.set({ state }, state === current ? 1 : 0);
        if (!CLUSTER_STATES.includes(current)) this.set({ state: current }, 1);
      },
    });

    // --- Membership (gossip) ------------------------------------------------------------------
    new Gauge({
      name: 'sappers_members',
      help: 'Cluster members known to this node by gossip status (alive, suspect, dead, left), this node included.',
      labelNames: ['status'],
      registers,
      collect() {
        const counts = new Map<string, number>(MEMBER_STATUSES.map((s) => [s, 0]));
        for (const status of sources.memberStatuses()) counts.set(status, (counts.get(status) ?? 0) + 1);
        this.reset();
        for (const [status, count] of counts) this.set({ status }, count);
      },
    });
    const gossipCounter = (name: string, help: string, read: (c: Readonly<MembershipCounters>) => number): void => {
      mirroredCounter(registers, name, help, () => {
        const c = sources.gossip();
        return c === undefined ? undefined : read(c);
      });
    };
    gossipCounter('sappers_gossip_sent_packets_total', 'Gossip (SWIM) UDP packets sent.', (c) => c.packetsSent);
    gossipCounter('sappers_gossip_received_packets_total', 'Gossip (SWIM) UDP packets received, before authentication and decoding.', (c) => c.packetsReceived);
    gossipCounter('sappers_gossip_sent_bytes_total', 'Bytes of gossip UDP packets sent.', (c) => c.bytesSent);
    gossipCounter('sappers_gossip_received_bytes_total', 'Bytes of gossip UDP packets received.', (c) => c.bytesReceived);
    gossipCounter('sappers_gossip_push_pulls_total', 'Full-state gossip exchanges (TCP push-pull anti-entropy) this node started.', (c) => c.pushPulls);
    gossipCounter('sappers_gossip_push_pull_failures_total', 'Push-pull exchanges this node started that failed (peer unreachable, timeout, reply refused).', (c) => c.pushPullFailures);
    new Counter({
      name: 'sappers_gossip_dropped_packets_total',
      help:
        'Gossip messages dropped, by reason: unauthenticated (wrong or missing cluster key, or plaintext refused), ' +
        'malformed (undecodable), oversize (an outgoing packet larger than a datagram). A rising unauthenticated count usually means a node with another cluster key.',
      labelNames: ['reason'],
      registers,
      collect() {
        const c = sources.gossip();
        this.reset();
        if (c === undefined) return;
        this.inc({ reason: 'unauthenticated' }, c.droppedUnauthenticated);
        this.inc({ reason: 'malformed' }, c.droppedMalformed);
        this.inc({ reason: 'oversize' }, c.droppedOversize);
      },
    });

    // --- RPC (Raft traffic and forwarded writes) ----------------------------------------------
    this.#rpcDuration = new Histogram({
      name: 'sappers_rpc_request_duration_seconds',
      help:
        'Latency of RPC requests this node sent to peers, by method (fsm.propose: a write forwarded to the leader; raft.snapshot-chunk: ' +
        'a snapshot sent to a lagging follower; cluster.leave) and outcome (ok or the transport error). Raft appends and votes are one-way messages and are not timed here.',
      labelNames: ['method', 'outcome'],
      buckets: LATENCY_BUCKETS_SECONDS,
      registers,
    });
    const rpcCounter = (name: string, help: string, read: (c: Readonly<RpcCounters>) => number): void => {
      mirroredCounter(registers, name, help, () => {
        const rpc = sources.rpc();
        return rpc === undefined ? undefined : read(rpc.counters);
      });
    };
    rpcCounter('sappers_rpc_dials_total', 'Outgoing RPC connection attempts to peers.', (c) => c.dials);
    rpcCounter('sappers_rpc_dial_failures_total', 'Outgoing RPC connection attempts that failed before the peer answered (refused, TLS failure, timeout).', (c) => c.dialFailures);
    rpcCounter('sappers_rpc_accepted_connections_total', 'Inbound RPC connections accepted from peers.', (c) => c.accepted);
    new Gauge({
      name: 'sappers_rpc_inbound_connections',
      help: 'Inbound RPC connections from peers open now.',
      registers,
      collect() {
        this.set(sources.rpc()?.inboundConnections ?? 0);
      },
    });
    new Counter({
      name: 'sappers_rpc_errors_total',
      help:
        'RPC problems by kind: protocol (undecodable bytes; connection dropped), handler (a request handler failed), unknown_message (no handler), ' +
        'late_reply (reply after the request timed out), too_large and overloaded (refused by a bound), tls_handshake (failed inbound TLS).',
      labelNames: ['kind'],
      registers,
      collect() {
        const rpc = sources.rpc();
        this.reset();
        if (rpc === undefined) return;
        const c = rpc.counters;
        this.inc({ kind: 'protocol' }, c.protocolErrors);
        this.inc({ kind: 'handler' }, c.handlerErrors);
        this.inc({ kind: 'unknown_message' }, c.unknownMessages);
        this.inc({ kind: 'late_reply' }, c.lateReplies);
        this.inc({ kind: 'too_large' }, c.refusedTooLarge);
        this.inc({ kind: 'overloaded' }, c.refusedOverloaded);
        this.inc({ kind: 'tls_handshake' }, c.tlsClientErrors);
      },
    });

    // --- Replicated state and writes ------------------------------------------------------------
    new Gauge({
      name: 'sappers_kv_revision',
      help: 'Global KV revision in this node\'s copy of the replicated state (rises by one with every applied KV change).',
      registers,
      collect() {
        this.set(sources.kv()?.revision ?? 0);
      },
    });
    new Gauge({
      name: 'sappers_kv_keys',
      help: 'Keys in this node\'s copy of the replicated KV store.',
      registers,
      collect() {
        this.set(sources.kv()?.keys ?? 0);
      },
    });
    this.#proposals = new Counter({
      name: 'sappers_proposals_total',
      help:
        'Writes received on this agent\'s API, by command type and outcome: applied; refused by the state machine (code: cas-mismatch, not-found, ...); ' +
        'or failed before an answer (code: no-leader, timeout (may still be applied), unavailable, too-large, stopped).',
      labelNames: ['type', 'outcome', 'code'],
      registers,
    });
    this.#proposalDuration = new Histogram({
      name: 'sappers_proposal_duration_seconds',
      help: 'Time from a write reaching this agent\'s API to its outcome (commit and apply on the leader, forwarding included), by outcome.',
      labelNames: ['outcome'],
      buckets: LATENCY_BUCKETS_SECONDS,
      registers,
    });
  }

  /**
   * Feeds the leader and term this node sees (Raft soft state, and the status when the node was
   * wired in). Intervals without a leader are not changes: the leader coming back in the same
   * term is the same leadership.
   */
  observeLeader(s: { readonly leader: string | undefined; readonly term: number }): void {
    if (s.leader === undefined) return;
    const last = this.#lastLeader;
    if (last !== undefined && last.leader === s.leader && last.term === s.term) return;
    this.#lastLeader = { leader: s.leader, term: s.term };
    this.#leaderChanges.inc();
  }

  /** An outgoing RPC request settled (TcpRpcTransport.observeRequests). */
  observeRpcRequest(method: string, outcome: string, elapsedMs: number): void {
    this.#rpcDuration.observe({ method, outcome }, elapsedMs / 1000);
  }

  /** A write proposed through the API ended. */
  observeProposal(type: string, outcome: ProposalOutcome, elapsedMs: number): void {
    this.#proposals.inc({ type, outcome: outcome.kind, code: outcome.kind === 'applied' ? '' : outcome.code });
    this.#proposalDuration.observe({ outcome: outcome.kind }, elapsedMs / 1000);
  }

  /** The current values in the Prometheus text format. */
  async exposition(): Promise<MetricsExposition> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }
}

/**
 * A counter whose value is kept elsewhere (a monotonic field of the membership or RPC counters)
 * and copied in at scrape time; 0 while the source is absent (Prometheus reads that as a reset).
 */
function mirroredCounter(registers: Registry[], name: string, help: string, read: () => number | undefined): void {
  new Counter({
    name,
    help,
    registers,
    collect() {
      const value = read();
      this.reset();
      if (value !== undefined) this.inc(value);
    },
  });
}
