// Types of the SWIM + Lifeguard membership core. Pure data: the runtime encodes these on the
// wire (src/wire/swim.ts) and feeds them back in; the core never sees bytes, sockets or clocks.

/** A node's identity (never an address: DESIGN.md, Protocols). */
export type NodeId = string & { readonly __brand: 'NodeId' };
/** "host:port" of a node's gossip endpoint. */
export type GossipAddress = string;
/** SWIM incarnation number: only the node itself raises its own (SWIM paper, 4.2). */
export type Incarnation = number;

export const MEMBER_STATUSES = ['alive', 'suspect', 'dead', 'left'] as const;
export type MemberStatus = (typeof MEMBER_STATUSES)[number];

export interface Member<Meta> {
  readonly id: NodeId;
  readonly addr: GossipAddress;
  readonly incarnation: Incarnation;
  readonly status: MemberStatus;
  readonly meta: Meta;
  /** When this node last saw the status change (ms, the core's injected time). */
  readonly sinceMs: number;
}

/** State updates, piggybacked on every packet and spread epidemically (SWIM 4.1). */
export type Update<Meta> =
  | { readonly kind: 'alive'; readonly id: NodeId; readonly incarnation: Incarnation; readonly addr: GossipAddress; readonly meta: Meta }
  | { readonly kind: 'suspect'; readonly id: NodeId; readonly incarnation: Incarnation; readonly from: NodeId }
  /** from === id marks a graceful leave (status 'left'), anything else a failure. */
  | { readonly kind: 'dead'; readonly id: NodeId; readonly incarnation: Incarnation; readonly from: NodeId };

/** The failure-detector messages of one probe (SWIM 3, Lifeguard 4.1 for nack). */
export type ProbeMessage =
  | { readonly kind: 'ping'; readonly seq: number; readonly target: NodeId; readonly from: NodeId; readonly fromAddr: GossipAddress }
  | {
      readonly kind: 'indirect-ping';
      readonly seq: number;
      readonly target: NodeId;
      readonly targetAddr: GossipAddress;
      readonly from: NodeId;
      readonly fromAddr: GossipAddress;
    }
  | { readonly kind: 'ack'; readonly seq: number; readonly from: NodeId }
  | { readonly kind: 'nack'; readonly seq: number; readonly from: NodeId };

/** One datagram: at most one probe message plus as many updates as fit. */
export interface Packet<Meta> {
  readonly probe?: ProbeMessage;
  readonly updates: ReadonlyArray<Update<Meta>>;
}

/** Full-state exchange over TCP (anti-entropy; memberlist's push-pull). */
export interface PushPull<Meta> {
  readonly from: NodeId;
  readonly join: boolean;
  readonly members: ReadonlyArray<Omit<Member<Meta>, 'sinceMs'>>;
}

export type MemberEvent<Meta> =
  | { readonly kind: 'join'; readonly member: Member<Meta> }
  | { readonly kind: 'update'; readonly member: Member<Meta> }
  | { readonly kind: 'suspect'; readonly member: Member<Meta>; readonly by: NodeId }
  | { readonly kind: 'alive'; readonly member: Member<Meta> }
  | { readonly kind: 'dead'; readonly member: Member<Meta>; readonly by: NodeId }
  | { readonly kind: 'leave'; readonly member: Member<Meta> }
  | { readonly kind: 'reap'; readonly member: Member<Meta> }
  /** Another node claims our ID, or two addresses claim one ID: an operator must look. */
  | { readonly kind: 'conflict'; readonly id: NodeId; readonly ours: GossipAddress; readonly theirs: GossipAddress }
  | { readonly kind: 'joined'; readonly via: GossipAddress }
  | { readonly kind: 'join-failed'; readonly addrs: readonly GossipAddress[]; readonly attempt: number; readonly retryInMs: number };

export interface SwimOutput<Meta> {
  readonly packets: ReadonlyArray<{ readonly to: GossipAddress; readonly packet: Packet<Meta> }>;
  /** Push-pull exchanges to start; answer each with onPushPullReply or onPushPullFailed. */
  readonly pushPulls: ReadonlyArray<{ readonly to: GossipAddress; readonly request: PushPull<Meta> }>;
  readonly events: ReadonlyArray<MemberEvent<Meta>>;
}
