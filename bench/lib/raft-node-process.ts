// One Raft node in its own process, for the Raft benchmark's multi-process mode. Started with
// child_process.fork (same node binary) and driven over the IPC channel (raft-ipc.ts):
//   argv ID VOTERS DIR SEED -> listens on 127.0.0.1:0, reports 'listening' with its address;
//   'start' with the peers' addresses -> opens RaftStorage in DIR and starts the node;
//   'status', 'load' (runs the closed-loop clients here, on the leader), 'stop'.
// It exits when the parent goes away (the IPC channel closes), so no node outlives a benchmark.

import type { NodeId } from '../../src/core/raft/types.ts';
import { SystemClock } from '../../src/runtime/clock.ts';
import { TcpRpcTransport } from '../../src/runtime/transport/rpc.ts';
import { BenchRaftNode, runProposalLoad } from './raft-bench-node.ts';
import { decodeArgs, type ChildReply, type ParentCommand } from './raft-ipc.ts';

const STOP_TIMEOUT_MS = 5_000;

function reply(message: ChildReply): void {
  process.send?.(message);
}

async function main(): Promise<void> {
  if (process.send === undefined) throw new Error('raft-node-process.ts must be started with child_process.fork (it needs the IPC channel)');
  const args = decodeArgs(process.argv.slice(2));
  const rpc = await TcpRpcTransport.listen({ host: '127.0.0.1', port: 0, clock: new SystemClock() });
  let peers: Readonly<Record<string, string>> = {};
  let bench: BenchRaftNode | undefined;
  let stopping: Promise<void> | undefined;

  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      const timer = setTimeout(() => process.exit(3), STOP_TIMEOUT_MS);
      timer.unref();
      await bench?.stop();
      await rpc.close();
    })();
    return stopping;
  };
  // The parent died or disconnected: nothing will ever ask us to stop.
  process.on('disconnect', () => {
    void stop().finally(() => process.exit(0));
  });

  const handle = async (cmd: ParentCommand): Promise<ChildReply> => {
    switch (cmd.type) {
      case 'start': {
        if (bench !== undefined) return { type: 'error', seq: cmd.seq, message: 'already started' };
        peers = cmd.peers;
        bench = await BenchRaftNode.start({
          id: args.id,
          voters: args.voters,
          dir: args.dir,
          rpc,
          resolve: (id: NodeId) => peers[id],
          seed: args.seed,
          onProblem: (line) => reply({ type: 'problem', seq: 0, line }),
        });
        return { type: 'started', seq: cmd.seq };
      }
      case 'status': {
        if (bench === undefined) return { type: 'error', seq: cmd.seq, message: 'not started' };
        const s = bench.node.status();
        return { type: 'status', seq: cmd.seq, status: { role: s.role, leader: s.leader, term: s.term, commit: s.commit, applied: s.applied } };
      }
      case 'load': {
        if (bench === undefined) return { type: 'error', seq: cmd.seq, message: 'not started' };
        if (bench.node.role !== 'leader') return { type: 'error', seq: cmd.seq, message: `${args.id} is not the leader (role ${bench.node.role}, leader ${bench.node.leader ?? 'unknown'})` };
        return { type: 'load-result', seq: cmd.seq, result: await runProposalLoad(bench, cmd.plan) };
      }
      case 'stop': {
        await stop();
        return { type: 'stopped', seq: cmd.seq };
      }
    }
  };

  process.on('message', (raw: ParentCommand) => {
    handle(raw).then(
      (answer) => {
        reply(answer);
        if (answer.type === 'stopped') process.disconnect();
      },
      (e: unknown) => reply({ type: 'error', seq: raw.seq, message: e instanceof Error ? (e.stack ?? e.message) : String(e) }),
    );
  });
  reply({ type: 'listening', seq: 0, address: rpc.localAddress });
}

main().catch((e: unknown) => {
  process.stderr.write(`raft node process failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
