// What this machine offers, for node metadata: the autopilot ranks hubs by it and the
// scheduler places work by it. Sampled periodically; published only on meaningful change,
// since every publish raises the incarnation and costs a broadcast.
import { statfs } from 'node:fs/promises';
import { availableParallelism, freemem, loadavg, totalmem } from 'node:os';
import type { NodeMeta } from '../wire/swim.ts';

export type Resources = NodeMeta['resources'];

export async function sampleResources(dataDir: string): Promise<Resources> {
  let diskFreeBytes = 0;
  try {
    const fs = await statfs(dataDir);
    diskFreeBytes = fs.bavail * fs.bsize;
  } catch {
    // An unreadable data dir shows as no free disk, which keeps work away from this node.
  }
  return {
    cpuCores: availableParallelism(),
    memoryTotalBytes: totalmem(),
    memoryFreeBytes: freemem(),
    diskFreeBytes,
    load1: Math.round((loadavg()[0] ?? 0) * 100) / 100,
  };
}

/**
 * True when the change is worth a broadcast: a tenth of memory or disk, or a load change of a
 * quarter of the cores (at least 1). Finer detail is noise to placement decisions, and every
 * publish is a full-metadata broadcast to every member.
 */
export function resourcesChanged(before: Resources, after: Resources): boolean {
  const memoryStep = before.memoryTotalBytes * 0.1;
  const diskStep = Math.max(before.diskFreeBytes, after.diskFreeBytes) * 0.1;
  const loadStep = Math.max(1, before.cpuCores / 4);
  return (
    before.cpuCores !== after.cpuCores ||
    before.memoryTotalBytes !== after.memoryTotalBytes ||
    Math.abs(before.memoryFreeBytes - after.memoryFreeBytes) > memoryStep ||
    Math.abs(before.diskFreeBytes - after.diskFreeBytes) > diskStep ||
    Math.abs(before.load1 - after.load1) > loadStep
  );
}
