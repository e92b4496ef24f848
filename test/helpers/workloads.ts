// Workloads outlive their agent by design (src/agent/workloads.ts), so a test that SIGKILLs its
// agents must kill what they ran: every process group recorded under <dataDir>/allocs/.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** SIGKILLs the process group of every workload recorded under the data directories in `root`. */
export async function killWorkloads(root: string): Promise<number> {
  let killed = 0;
  for (const node of await readdir(root).catch(() => [] as string[])) {
    const allocs = join(root, node, 'allocs');
    for (const id of await readdir(allocs).catch(() => [] as string[])) {
      const pid = await readFile(join(allocs, id, 'alloc.json'), 'utf8')
        .then((text) => (JSON.parse(text) as { state?: { data?: { pid?: unknown } } }).state?.data?.pid)
        .catch(() => undefined);
      if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 1) continue;
      try {
        process.kill(-pid, 'SIGKILL');
        killed += 1;
      } catch {
        // Already gone.
      }
    }
  }
  return killed;
}
