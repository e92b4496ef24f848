// Real Sappers agents for the end-to-end benchmarks (workloads, kv): started from the .ts sources
// on 127.0.0.1, either secure as in production (a cluster key: gossip encryption and mutual TLS
// between nodes, and a management token on the API) or --insecure (none of those), with the
// local gossip preset. An agent is ready once it logs "agent started" with its ports; a cluster
// is formed once every agent agrees on one leader and N voters.
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { SappersClient } from '../../src/client/client.ts';
import { BenchChild } from './child.ts';
import type { CleanupStack } from './cleanup.ts';

const CLI = fileURLToPath(new URL('../../src/cli/bin.ts', import.meta.url));
const STARTED_POLL_MS = 50;
const FORMED_POLL_MS = 200;

/** The cluster key and management token files of a secure cluster (the same for every agent). */
export interface SappersSecrets {
  readonly keyFile: string;
  readonly tokenFile: string;
  readonly token: string;
}

/** Writes a fresh cluster key and management token into DIR (mode 0700, files 0600). */
export function writeSappersSecrets(dir: string): SappersSecrets {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const token = randomBytes(24).toString('base64url');
  const secrets = { keyFile: join(dir, 'cluster.key'), tokenFile: join(dir, 'management-token'), token };
  writeFileSync(secrets.keyFile, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  writeFileSync(secrets.tokenFile, `${token}\n`, { mode: 0o600 });
  return secrets;
}

export interface SappersPorts {
  readonly http: number;
  readonly rpc: number;
  readonly gossip: number;
}

export interface SappersAgentOptions {
  readonly cleanup: CleanupStack;
  readonly name: string;
  /** Created when missing; an existing one restarts the agent with its identity and log. */
  readonly dataDir: string;
  /** undefined: --insecure. */
  readonly secrets: SappersSecrets | undefined;
  /** A member's gossip port on 127.0.0.1 to join; undefined for the first agent. */
  readonly joinGossipPort?: number;
  /** Fixed ports (e.g. to restart an agent where it was); 0 for each when absent. */
  readonly ports?: SappersPorts;
  /** Extra agent flags (e.g. --offer-cpu-millis N). */
  readonly extraArgs?: readonly string[];
  /** Flags for node itself, before the script (e.g. --inspect-port=127.0.0.1:N). */
  readonly nodeArgs?: readonly string[];
  readonly startTimeoutMs: number;
  readonly clientTimeoutMs: number;
}

export interface SappersAgent {
  readonly name: string;
  readonly dataDir: string;
  readonly child: BenchChild;
  readonly client: SappersClient;
  readonly ports: SappersPorts;
}

/** Starts one agent and resolves once it has logged "agent started" (with the ports it took). */
export async function startSappersAgent(o: SappersAgentOptions): Promise<SappersAgent> {
  mkdirSync(o.dataDir, { recursive: true });
  const args = [
    ...(o.nodeArgs ?? []),
    CLI,
    'agent',
    ...(o.extraArgs ?? []),
    '--data-dir', o.dataDir,
    '--node-id', o.name,
    '--bind', '127.0.0.1',
    '--http-port', String(o.ports?.http ?? 0),
    '--rpc-port', String(o.ports?.rpc ?? 0),
    '--gossip-port', String(o.ports?.gossip ?? 0),
    '--dns-port', '0',
    '--gossip-preset', 'local',
    // Voters after 1 s of being caught up, as the multi-process tests do, not 10 s.
    '--learner-stable-ms', '1000',
    ...(o.secrets === undefined ? ['--insecure'] : ['--cluster-key-file', o.secrets.keyFile, '--management-token-file', o.secrets.tokenFile]),
    ...(o.joinGossipPort === undefined ? [] : ['--join', `127.0.0.1:${o.joinGossipPort}`]),
  ];
  // SAPPERS_* variables of the caller's shell could add joins, keys or tags: flags alone.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SAPPERS_')));
  const child = BenchChild.start(o.cleanup, `sappers ${o.name}`, process.execPath, args, env);
  const deadline = performance.now() + o.startTimeoutMs;
  while (performance.now() < deadline) {
    if (!child.running) throw new Error(`agent ${o.name} exited (${child.exitReason ?? '?'}) before it started:\n${child.outputTail.trim()}`);
    const line = child.outputTail.split('\n').find((l) => l.includes('"agent started"'));
    if (line !== undefined) {
      const entry = JSON.parse(line) as { ports: SappersPorts };
      const client = new SappersClient({ addr: `http://127.0.0.1:${entry.ports.http}`, timeoutMs: o.clientTimeoutMs, ...(o.secrets === undefined ? {} : { token: o.secrets.token }) });
      return { name: o.name, dataDir: o.dataDir, child, client, ports: { http: entry.ports.http, rpc: entry.ports.rpc, gossip: entry.ports.gossip } };
    }
    await sleep(STARTED_POLL_MS);
  }
  throw new Error(`agent ${o.name} did not start within ${o.startTimeoutMs} ms:\n${child.outputTail.trim()}`);
}

/** Waits until every agent agrees on one leader and VOTERS voters, all active; returns the leader. */
export async function waitSappersFormed<A extends SappersAgent>(agents: readonly A[], voters: number, timeoutMs: number): Promise<A> {
  const deadline = performance.now() + timeoutMs;
  let last = 'no answer yet';
  while (performance.now() < deadline) {
    try {
      const statuses = await Promise.all(agents.map((a) => a.client.status()));
      const leader = statuses[0]!.leader;
      if (leader !== null && statuses.every((s) => s.leader === leader && s.voters.length === voters && s.state === 'active')) {
        const found = agents.find((a) => a.name === leader);
        if (found !== undefined) return found;
      }
      last = statuses.map((s) => `${s.nodeId}: leader ${s.leader ?? '-'}, ${s.voters.length} voters, ${s.state}`).join('; ');
    } catch (e) {
      last = (e as Error).message;
    }
    for (const a of agents) if (!a.child.running) throw new Error(`agent ${a.name} exited (${a.child.exitReason ?? '?'}):\n${a.child.outputTail.trim()}`);
    await sleep(FORMED_POLL_MS);
  }
  throw new Error(`no ${voters}-voter cluster within ${timeoutMs} ms (${last})`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
