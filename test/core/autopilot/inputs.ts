// Compact autopilot inputs for rule tests: one line per node.

import type { AutopilotInput, MemberView } from '../../../src/core/autopilot/types.ts';
import type { NodeId } from '../../../src/core/raft/types.ts';
import type { MemberStatus } from '../../../src/core/swim/types.ts';

export const GIB = 1024 ** 3;

export interface NodeLine {
  readonly id: string;
  readonly role: 'voter' | 'learner' | 'none';
  /** 'absent': not in gossip's member list at all. */
  readonly status?: MemberStatus | 'absent';
  readonly sinceMs?: number;
  readonly leaving?: boolean;
  readonly hub?: boolean;
  readonly memGiB?: number;
  readonly diskGiB?: number;
  readonly cores?: number;
  readonly startedAtMs?: number;
  /** Entries behind the leader; undefined with noProgress. */
  readonly lag?: number;
  readonly active?: boolean;
  readonly noProgress?: boolean;
}

export interface InputOptions {
  readonly nowMs?: number;
  /** Defaults to the first voter. */
  readonly leader?: string;
  readonly pending?: boolean;
  readonly lastIndex?: number;
}

export const id = (s: string): NodeId => s as NodeId;

export function member(line: NodeLine): MemberView {
  return {
    id: id(line.id),
    status: line.status === undefined || line.status === 'absent' ? 'alive' : line.status,
    statusSinceMs: line.sinceMs ?? 0,
    leaving: line.leaving ?? false,
    tags: line.hub === true ? { hub: 'true' } : { zone: 'a' },
    resources: { cpuCores: line.cores ?? 4, memoryFreeBytes: (line.memGiB ?? 8) * GIB, diskFreeBytes: (line.diskGiB ?? 100) * GIB },
    startedAtMs: line.startedAtMs ?? 0,
  };
}

export function input(lines: readonly NodeLine[], opts: InputOptions = {}): AutopilotInput {
  const lastIndex = opts.lastIndex ?? 1000;
  const voters = lines.filter((l) => l.role === 'voter').map((l) => id(l.id));
  const learners = lines.filter((l) => l.role === 'learner').map((l) => id(l.id));
  const leader = id(opts.leader ?? voters[0] ?? 'none');
  const progress = new Map<NodeId, { match: number; recentActive: boolean }>();
  for (const l of lines) {
    if (l.role === 'none' || l.id === leader || l.noProgress === true) continue;
    const down = l.status === 'dead' || l.status === 'left' || l.status === 'absent';
    progress.set(id(l.id), { match: lastIndex - (l.lag ?? 0), recentActive: l.active ?? !down });
  }
  return {
    nowMs: opts.nowMs ?? 100_000,
    leader,
    config: { voters, learners },
    configChangePending: opts.pending ?? false,
    leaderLastIndex: lastIndex,
    members: lines.filter((l) => l.status !== 'absent').map(member),
    progress,
  };
}

export const voter = (name: string, extra: Partial<NodeLine> = {}): NodeLine => ({ id: name, role: 'voter', ...extra });
export const learner = (name: string, extra: Partial<NodeLine> = {}): NodeLine => ({ id: name, role: 'learner', ...extra });
export const outsider = (name: string, extra: Partial<NodeLine> = {}): NodeLine => ({ id: name, role: 'none', ...extra });
