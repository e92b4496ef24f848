// One Raft node as the simulator runs it: RaftStorage on the node's SimDisk, recovered on every
// start (a crash must never leave a log that recovery refuses), bootstrapped on first start when
// it is one of the founding voters, otherwise empty until a leader adds it.

import type { RaftOptions } from '../core/raft/options.ts';
import type { NodeId, SoftState } from '../core/raft/types.ts';
import { RaftNode, type StateMachine } from '../runtime/raft/node.ts';
import { openRaftState } from '../runtime/raft/open.ts';
import type { RaftStorage } from '../runtime/storage/raft-storage.ts';
import type { NodeContext } from './simulation.ts';

export interface SimRaftNode {
  readonly node: RaftNode;
  readonly storage: RaftStorage;
  readonly fsm: StateMachine;
}

export interface SimRaftNodeOptions {
  /** The founding voters (bootstrapped together at index 1). */
  readonly voters: readonly NodeId[];
  readonly resolve: (id: NodeId) => string | undefined;
  readonly fsm: StateMachine;
  readonly tickMs?: number;
  readonly raft?: Partial<Omit<RaftOptions, 'id'>>;
  readonly snapshotEveryEntries?: number;
  readonly snapshotChunkBytes?: number;
  readonly proposalTimeoutMs?: number;
  readonly onSoftState?: (node: RaftNode, s: SoftState) => void;
  readonly onFatal?: (e: Error, ctx: NodeContext) => void;
}

export const SIM_RAFT_DIR = '/raft';

export async function startSimRaftNode(ctx: NodeContext, options: SimRaftNodeOptions): Promise<SimRaftNode> {
  const id = ctx.id as NodeId;
  const founder = options.voters.includes(id);
  const opened = await openRaftState(ctx.disk, SIM_RAFT_DIR, founder ? { bootstrap: { voters: options.voters, learners: [] } } : {});
  if (!opened.ok) throw new Error(`recovery refused after a crash: ${opened.error.message}`);
  const { storage, restored, snapshotData } = opened.value;
  const every = options.snapshotEveryEntries ?? 40;
  const node: RaftNode = new RaftNode({
    id,
    cluster: 'sim',
    clock: ctx.clock,
    random: ctx.random,
    rpc: ctx.rpc,
    store: storage,
    fsm: options.fsm,
    resolve: options.resolve,
    restored,
    snapshotData,
    tickMs: options.tickMs ?? 50,
    ...(options.raft === undefined ? {} : { raft: options.raft }),
    snapshotEveryEntries: every,
    snapshotKeepEntries: Math.floor(every / 4),
    proposalTimeoutMs: options.proposalTimeoutMs ?? 3000,
    snapshotChunkBytes: options.snapshotChunkBytes ?? 4,
    onSoftState: (s) => {
      ctx.log(`role ${s.role} term ${s.term} leader ${s.leader ?? '-'}`);
      options.onSoftState?.(node, s);
    },
    onConfigApplied: (config, index) => ctx.log(`config@${index} voters=${config.voters.join(',')} learners=${config.learners.join(',')}`),
    onFatal: (e) => options.onFatal?.(e, ctx),
    log: {
      // Role changes are traced by onSoftState; the rest (snapshots, failures) goes in as is.
      info: (obj, msg) => {
        if (msg !== 'raft role changed') ctx.log(`${msg} ${JSON.stringify(obj)}`);
      },
      warn: (obj, msg) => ctx.log(`warn ${msg} ${JSON.stringify(obj)}`),
      error: (obj, msg) => ctx.log(`error ${msg} ${JSON.stringify(obj)}`),
    },
  });
  node.start();
  return { node, storage, fsm: options.fsm };
}
