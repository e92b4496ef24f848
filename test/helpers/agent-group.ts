// A group of real agents for one multi-process test file: a temp root holding their data
// directories, agents started on loopback with the local gossip preset (and learners promoted
// after 1 s, so tests do not wait 10 s per node), all SIGKILLed and removed after the file.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { SappersClient } from '../../src/client/client.ts';
import { startAgent, type AgentProcess } from './agent-process.ts';
import { killWorkloads } from './workloads.ts';

export interface AgentGroup {
  readonly root: string;
  /** Agents started and not yet killed, by name. */
  readonly running: Map<string, AgentProcess>;
  /** Starts agent `name` (node ID and data dir `<root>/<name>`) with `extra` flags. */
  agent(name: string, extra?: readonly string[]): Promise<AgentProcess>;
  /** SIGKILLs agent `name` and forgets it. */
  kill(name: string): Promise<void>;
  /** An API client with the test token and a generous timeout. */
  client(a: AgentProcess): SappersClient;
}

export async function agentGroup(label: string): Promise<AgentGroup> {
  const root = await mkdtemp(join(tmpdir(), `sappers-${label}-`));
  const running = new Map<string, AgentProcess>();
  after(async () => {
    await Promise.all([...running.values()].map((a) => a.stop('SIGKILL')));
    await killWorkloads(root);
    await rm(root, { recursive: true, force: true });
  });
  return {
    root,
    running,
    async agent(name, extra = []) {
      const a = await startAgent(['--data-dir', join(root, name), '--node-id', name, '--bind', '127.0.0.1', '--gossip-preset', 'local', '--learner-stable-ms', '1000', ...extra]);
      running.set(name, a);
      return a;
    },
    async kill(name) {
      await running.get(name)?.stop('SIGKILL');
      running.delete(name);
    },
    client: (a) => new SappersClient({ ...a.api, timeoutMs: 15_000 }),
  };
}
