// The event log and KV watches of a real agent: live streams over SSE, replay from a revision,
// and `sappers events verify` recomputing the hash chain.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SappersClient } from '../../src/client/client.ts';
import type { SseMessage } from '../../src/client/sse.ts';
import { runCli, startAgent, type AgentProcess } from '../helpers/agent-process.ts';
import { until } from '../helpers/until.ts';

let agent: AgentProcess | undefined;
after(async () => {
  // SIGINT, not SIGKILL: a --dev agent removes its temporary data directory on a clean stop.
  await agent?.stop('SIGINT');
});

/** Collects the first n messages of a stream (bounded wait; the stream is aborted after). */
async function take(stream: AsyncGenerator<SseMessage>, n: number, controller: AbortController, keep: (m: SseMessage) => boolean = () => true): Promise<SseMessage[]> {
  const out: SseMessage[] = [];
  const timer = setTimeout(() => controller.abort(), 20_000);
  try {
    for await (const m of stream) {
      if (keep(m)) out.push(m);
      if (out.length >= n) break;
    }
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return out;
}

describe('event log and watches (real agent)', { concurrency: false }, () => {
  it('streams KV changes under a prefix, replays from a revision, and records every change as a verifiable event', async () => {
    agent = await startAgent(['--dev']);
    const client = new SappersClient({ ...agent.api });
    // Both streams start from an explicit point (the next revision, the first event), so a stream
    // that opens after the writes below still replays them: no race with how fast it connects.
    const from = (await client.kvList('')).revision + 1;
    const live = new AbortController();
    const watching = take(client.watch('app/', from, live.signal), 3, live);
    const following = new AbortController();
    // The agent records its own events too (the autopilot registers the node): only the KV ones count here.
    const isKv = (m: SseMessage): boolean => (JSON.parse(m.data) as { type: string }).type.startsWith('kv.');
    const events = take(client.followEvents(1, following.signal), 4, following, isKv);
    await client.kvPut('app/a', '1');
    await client.kvPut('other', 'x');
    await client.kvPut('app/b', '2');
    await client.kvDelete('app/a');

    const changes = await watching;
    assert.deepEqual(
      changes.map((m) => [m.event, (JSON.parse(m.data) as { key: string }).key, m.id]),
      [['put', 'app/a', '1'], ['put', 'app/b', '3'], ['delete', 'app/a', '4']],
    );
    const seen = await events;
    assert.deepEqual(seen.map((m) => (JSON.parse(m.data) as { type: string }).type), ['kv.put', 'kv.put', 'kv.put', 'kv.delete']);

    const replay = new AbortController();
    const replayed = await take(client.watch('app/', 2, replay.signal), 2, replay);
    assert.deepEqual(replayed.map((m) => m.id), ['3', '4']);

    const verify = await runCli(['--addr', agent.addr, 'events', 'verify', '--json']);
    assert.equal(verify.code, 0, verify.stderr);
    const result = JSON.parse(verify.stdout) as { ok: boolean; checked: number };
    assert.equal(result.ok, true);
    assert.ok(result.checked >= 4, `checked ${result.checked} events`);
  });

  it('serves status and members as live views: the value at once, then again on a change', async () => {
    const client = new SappersClient({ ...agent!.api });
    const members = new AbortController();
    const [first] = await take(client.followCluster('members', members.signal), 1, members);
    assert.equal(first!.event, 'members');
    assert.equal((JSON.parse(first!.data) as { id: string }[]).length, 1);
    const status = new AbortController();
    const views: SseMessage[] = [];
    const following = (async () => {
      for await (const m of client.followCluster('status', status.signal)) {
        views.push(m);
        if (views.length >= 2) break;
      }
    })().catch(() => undefined);
    await until('the first status view', async () => (views.length >= 1 ? true : undefined), 10_000, 20);
    await client.kvPut('live/x', '1');
    await until('a second status view after a write', async () => (views.length >= 2 ? true : undefined), 10_000, 20);
    status.abort();
    await following;
    const [before, after_] = views.map((m) => JSON.parse(m.data) as { appliedIndex: number });
    assert.ok(after_!.appliedIndex > before!.appliedIndex);
  });

  it('refuses bad parameters with a clear error', async () => {
    const client = new SappersClient({ ...agent!.api });
    await assert.rejects(client.events(0), /from must be between 1/);
    const r = await runCli(['--addr', agent!.addr, 'events', '--from', 'x']);
    assert.equal(r.code, 2);
  });
});
