// Membership between real agent processes on 127.0.0.1 (issue 3's process tests).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, join as join_ } from 'node:path';
import { SappersClient } from '../../src/client/client.ts';
import type { MemberView } from '../../src/api/schemas.ts';
import { writeFile } from 'node:fs/promises';
import { generateKey } from '../../src/wire/keyring.ts';
import { runCli, startAgent, type AgentProcess } from '../helpers/agent-process.ts';

const root = await mkdtemp(join(tmpdir(), 'sappers-members-'));
const running = new Set<AgentProcess>();
after(async () => {
  await Promise.all([...running].map((a) => a.stop('SIGKILL')));
  await rm(root, { recursive: true, force: true });
});

async function agent(name: string, extra: string[] = []): Promise<AgentProcess> {
  const a = await startAgent([
    '--data-dir', join(root, name), '--node-id', name, '--bind', '127.0.0.1',
    '--http-port', '0', '--gossip-port', '0', '--gossip-preset', 'local', ...extra,
  ]);
  running.add(a);
  return a;
}

async function stop(a: AgentProcess, signal: NodeJS.Signals): Promise<void> {
  await a.stop(signal);
  running.delete(a);
}

async function gossipPort(a: AgentProcess): Promise<number> {
  return (await new SappersClient({ ...a.api }).status()).ports.gossip!;
}

/** Polls until every listed agent sees `expected` (id -> status); generous bound, not a perf check. */
async function waitForView(agents: AgentProcess[], expected: Record<string, MemberView['status']>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    // A joining agent answers 503 until it has the cluster's security settings (a few seconds).
    const views = await Promise.all(agents.map((a) => new SappersClient({ ...a.api }).members().catch((): MemberView[] => [])));
    const ok = views.every((members) => Object.entries(expected).every(([id, status]) => members.find((m) => m.id === id)?.status === status));
    if (ok) return;
    last = JSON.stringify(views.map((v) => v.map((m) => `${m.id}:${m.status}`)));
    if (Date.now() > deadline) assert.fail(`members did not converge to ${JSON.stringify(expected)}; last views: ${last}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('membership between real agents', { concurrency: false }, () => {
  it('five agents see each other; a SIGKILLed one turns dead, comes back alive on restart, and a leave shows left', async () => {
    const seed = await agent('a0', []);
    const join = `127.0.0.1:${await gossipPort(seed)}`;
    const others = [];
    // a2 joins by DNS name: every address "localhost" resolves to is tried.
    const joinFor = (i: number): string => (i === 2 ? join.replace('127.0.0.1', 'localhost') : join);
    for (let i = 1; i < 5; i++) others.push(await agent(`a${i}`, ['--join', joinFor(i), '--tag', `zone=z${i % 2}`]));
    const all = [seed, ...others];
    await waitForView(all, { a0: 'alive', a1: 'alive', a2: 'alive', a3: 'alive', a4: 'alive' });

    const table = await runCli(['members', '--addr', seed.addr]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^ID\s+ADDRESS\s+STATUS/);
    assert.equal(table.stdout.trim().split('\n').length, 6);
    const json = JSON.parse((await runCli(['members', '--json', '--addr', seed.addr])).stdout) as MemberView[];
    assert.equal(json.find((m) => m.id === 'a1')!.tags.zone, 'z1');
    assert.ok(json.every((m) => m.resources.cpuCores > 0 && m.resources.memoryTotalBytes > 0));

    const victim = others[3]!;
    await stop(victim, 'SIGKILL');
    await waitForView(all.slice(0, 4), { a4: 'dead' });

    const back = await agent('a4', ['--join', join]);
    await waitForView([...all.slice(0, 4), back], { a0: 'alive', a4: 'alive' });

    await stop(others[2]!, 'SIGTERM');
    await waitForView([seed, others[0]!, others[1]!, back], { a3: 'left' });
  });

  it('an agent with the wrong cluster key never joins, and cannot serve the API', async () => {
    const seed = await agent('k0', []);
    const join = `127.0.0.1:${await gossipPort(seed)}`;
    const member = await agent('k1', ['--join', join]);
    const wrongKey = join_(root, 'wrong.key');
    await writeFile(wrongKey, `${generateKey()}\n`, { mode: 0o600 });
    const intruder = await agent('k2', ['--cluster-key-file', wrongKey, '--join', join]);
    await waitForView([seed, member], { k0: 'alive', k1: 'alive' });
    await new Promise((r) => setTimeout(r, 3000));
    const seen = await new SappersClient({ ...seed.api }).members();
    assert.deepEqual(seen.map((m) => m.id).sort(), ['k0', 'k1']);
    // It never receives the cluster's security settings, so it cannot check a token either.
    await assert.rejects(new SappersClient({ ...intruder.api }).members(), (e: Error & { status?: number }) => e.status === 503 && /has not received the cluster's security settings/.test(e.message));
    for (const a of [seed, member, intruder]) await stop(a, 'SIGTERM');
  });
});
