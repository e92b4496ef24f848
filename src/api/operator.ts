// Operator tools for consensus: GET /v1/operator/raft lists the configuration as this agent sees
// it (the leader adds each follower's replication progress, which only it knows);
// POST /v1/operator/recover forces a new one-voter configuration on a survivor of a lost majority.
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';

export const RaftPeerSchema = Type.Object({
  id: Type.String(),
  role: Type.Union([Type.Literal('leader'), Type.Literal('voter'), Type.Literal('learner')]),
  /** The peer's RPC address from gossip, when known. */
  address: Type.Union([Type.String(), Type.Null()]),
  /** Leader view only: the highest log index known to be on the peer. */
  match: Type.Union([Type.Integer(), Type.Null()]),
  /** Leader view only: entries the peer is behind the leader's log. */
  lag: Type.Union([Type.Integer(), Type.Null()]),
  /** Leader view only: answered since the last check-quorum round. */
  active: Type.Union([Type.Boolean(), Type.Null()]),
  /** Leader view only: probe, replicate or snapshot. */
  replication: Type.Union([Type.String(), Type.Null()]),
});

export const RaftViewSchema = Type.Object({
  nodeId: Type.String(),
  leader: Type.Union([Type.String(), Type.Null()]),
  /** The leader's HTTP address from gossip, to ask it for progress. */
  leaderHttpAddr: Type.Union([Type.String(), Type.Null()]),
  isLeader: Type.Boolean(),
  term: Type.Integer(),
  commitIndex: Type.Integer(),
  lastIndex: Type.Integer(),
  peers: Type.Array(RaftPeerSchema),
});
export type RaftView = Static<typeof RaftViewSchema>;

export const RecoverResultSchema = Type.Object({ epoch: Type.Integer(), term: Type.Integer(), index: Type.Integer() });
export type RecoverResult = Static<typeof RecoverResultSchema>;

export interface OperatorApi {
  raftView(): RaftView;
  /** Forces a new configuration with this node as the only voter, in a new epoch. */
  recover(): Promise<RecoverResult>;
}

export function registerOperatorRoutes(app: FastifyInstance, api: OperatorApi, errors: Record<string, unknown>): void {
  app.get('/v1/operator/raft', { schema: { response: { 200: RaftViewSchema, ...errors } } }, () => api.raftView());
  app.post('/v1/operator/recover', { schema: { response: { 200: RecoverResultSchema, ...errors } } }, () => api.recover());
}
