// What the scheduler knows of a node, from the metadata it gossips (src/wire/swim.ts NodeMeta).
import type { NodeInfo } from '../core/scheduler/job.ts';
import type { NodeMeta } from '../wire/swim.ts';

const MIB = 1024 * 1024;
/**
 * Memory kept back from workloads for the agent and the operating system: a tenth of the total,
 * at least 256 MiB (Nomad's reserved resources are the same idea, set by hand there).
 */
export function reservedMemoryMB(totalMB: number): number {
  return Math.min(totalMB, Math.max(256, Math.round(totalMB / 10)));
}

/** Capacity offered to workloads: the operator's offer, else every core and memory less the reserve; the data disk's free space. */
export function nodeInfoOf(id: string, meta: NodeMeta, eligible: boolean): NodeInfo {
  const totalMB = Math.floor(meta.resources.memoryTotalBytes / MIB);
  return {
    id,
    version: meta.version,
    tags: meta.tags,
    cpuMillis: meta.offer?.cpuMillis ?? meta.resources.cpuCores * 1000,
    memoryMB: meta.offer?.memoryMB ?? totalMB - reservedMemoryMB(totalMB),
    diskFreeMB: Math.floor(meta.resources.diskFreeBytes / MIB),
    cpuCores: meta.resources.cpuCores,
    eligible,
  };
}
