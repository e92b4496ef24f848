// Shapes of the API answers the shell's pages read (src/api/schemas.ts, src/api/services.ts).
// The UI is built apart from the server, so they are restated here, not imported.

export type ClusterState = 'active' | 'electing' | 'no-quorum' | 'joining' | 'waiting-for-nodes';

export interface Status {
  readonly nodeId: string;
  readonly version: string;
  readonly leader: string | null;
  readonly term: number;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly voters: readonly string[];
  readonly learners: readonly string[];
  readonly epoch: number;
  readonly state: ClusterState;
  readonly ports: { readonly http: number; readonly rpc: number | null; readonly gossip: number | null; readonly dns: number | null };
  readonly bind: string;
  readonly security: { readonly mode: 'secure' | 'insecure' | 'dev'; readonly certified: boolean };
  readonly dataDir: string;
  readonly startedAt: string;
  readonly uptimeSeconds: number;
}

export type MemberStatus = 'alive' | 'suspect' | 'dead' | 'left';
export type MemberRole = 'leader' | 'voter' | 'learner' | 'none';

export interface Member {
  readonly id: string;
  readonly addr: string;
  readonly status: MemberStatus;
  readonly role: MemberRole;
  readonly incarnation: number;
  readonly version: string;
  readonly protocol: number;
  readonly tags: Readonly<Record<string, string>>;
  readonly resources: {
    readonly cpuCores: number;
    readonly memoryTotalBytes: number;
    readonly memoryFreeBytes: number;
    readonly diskFreeBytes: number;
    readonly load1: number;
  };
  readonly rpcAddr: string;
  readonly httpAddr: string;
  /** ISO time the member's agent started (its uptime is now minus this). */
  readonly startedAt: string;
  /** ISO time the answering agent saw this member's status change last. */
  readonly statusSince: string;
}

export interface ServiceSummary {
  readonly name: string;
  readonly tags: readonly string[];
  readonly jobs: readonly string[];
  readonly instances: number;
  readonly passing: number;
  readonly warning: number;
  readonly critical: number;
}
