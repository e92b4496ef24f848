// Response shapes of the public HTTP API, shared by the server (serialization) and the typed
// client (src/client/), so both sides agree on one definition.
import { Type, type Static } from '@sinclair/typebox';

export const ClusterStateSchema = Type.Union([
  // A leader is known: writes and linearizable reads are served.
  Type.Literal('active'),
  // No leader right now; an election is expected to end it shortly.
  Type.Literal('electing'),
  // No leader for several seconds: a majority of voters is unreachable; writes are refused.
  Type.Literal('no-quorum'),
  // Not yet part of a configuration: waiting for the leader to add this node (--join).
  Type.Literal('joining'),
  // Consensus works, but fewer nodes are alive than cluster.minNodes: workloads wait.
  Type.Literal('waiting-for-nodes'),
]);

export const StatusSchema = Type.Object({
  nodeId: Type.String(),
  version: Type.String(),
  leader: Type.Union([Type.String(), Type.Null()]),
  term: Type.Integer(),
  commitIndex: Type.Integer(),
  appliedIndex: Type.Integer(),
  voters: Type.Array(Type.String()),
  learners: Type.Array(Type.String()),
  epoch: Type.Integer(),
  state: ClusterStateSchema,
  ports: Type.Object({
    http: Type.Integer(),
    rpc: Type.Union([Type.Integer(), Type.Null()]),
    gossip: Type.Union([Type.Integer(), Type.Null()]),
    dns: Type.Union([Type.Integer(), Type.Null()]),
  }),
  bind: Type.String(),
  /**
   * secure: gossip sealed with the cluster key, mutual TLS between agents, API token required;
   * insecure (--insecure) and dev (--dev without a key): none of it. certified: this node holds
   * a certificate its peers accept (a joining node gets one within seconds).
   */
  security: Type.Object({
    mode: Type.Union([Type.Literal('secure'), Type.Literal('insecure'), Type.Literal('dev')]),
    certified: Type.Boolean(),
  }),
  /** Workload drivers on this node and whether they enforce cpu and memory limits here (and how, or why not). */
  drivers: Type.Record(Type.String(), Type.Object({ resourceLimits: Type.Union([Type.Literal('enforced'), Type.Literal('not-enforced')]), detail: Type.String() })),
  dataDir: Type.String(),
  /** Set while the data dir's disk is full: Raft is frozen here and resumes by itself once space returns. */
  diskFull: Type.Optional(Type.Object({ since: Type.String({ description: 'ISO 8601' }), detail: Type.String() })),
  startedAt: Type.String({ description: 'ISO 8601 wall-clock time the agent started' }),
  uptimeSeconds: Type.Number(),
});

export type Status = Static<typeof StatusSchema>;

export const ErrorSchema = Type.Object({
  error: Type.Object({ code: Type.String(), message: Type.String() }),
});

export const MemberSchema = Type.Object({
  id: Type.String(),
  addr: Type.String({ description: 'gossip address' }),
  status: Type.Union([Type.Literal('alive'), Type.Literal('suspect'), Type.Literal('dead'), Type.Literal('left')]),
  role: Type.Union([Type.Literal('leader'), Type.Literal('voter'), Type.Literal('learner'), Type.Literal('none')]),
  incarnation: Type.Integer(),
  version: Type.String(),
  protocol: Type.Integer(),
  tags: Type.Record(Type.String(), Type.String()),
  resources: Type.Object({
    cpuCores: Type.Integer(),
    memoryTotalBytes: Type.Number(),
    memoryFreeBytes: Type.Number(),
    diskFreeBytes: Type.Number(),
    load1: Type.Number(),
  }),
  rpcAddr: Type.String(),
  httpAddr: Type.String(),
  startedAt: Type.String({ description: 'ISO 8601 time the member\'s agent started' }),
  statusSince: Type.String({ description: 'ISO 8601 time this node saw the status change' }),
});

export type MemberView = Static<typeof MemberSchema>;
