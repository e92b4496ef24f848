// TTL sessions of a real agent: keys owned by a session go when it is released or expires
// (expiry is decided by the leader, applied only when really expired); keepalives extend it.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ClientError, SappersClient } from '../../src/client/client.ts';
import { startAgent, type AgentProcess } from '../helpers/agent-process.ts';
import { until } from '../helpers/until.ts';

let agent: AgentProcess | undefined;
after(async () => {
  // SIGINT, not SIGKILL: a --dev agent removes its temporary data directory on a clean stop.
  await agent?.stop('SIGINT');
});


describe('TTL sessions (real agent)', { concurrency: false }, () => {
  it('a released session takes its keys with it; an unrenewed one expires with them', async () => {
    agent = await startAgent(['--dev']);
    const client = new SappersClient({ ...agent.api });

    const lock = await client.sessionCreate(60_000, 'worker-1');
    assert.equal(lock.owner, 'worker-1');
    await client.kvPut('locks/job', 'worker-1', { cas: 0, session: lock.id });
    assert.equal((await client.kvGet('locks/job'))?.session, lock.id);
    // A second holder cannot take the lock while it is held.
    await assert.rejects(client.kvPut('locks/job', 'worker-2', { cas: 0 }), (e: unknown) => e instanceof ClientError && e.status === 409);
    await client.sessionRelease(lock.id);
    assert.equal(await client.kvGet('locks/job'), undefined);

    const short = await client.sessionCreate(1000);
    await client.kvPut('leader/app', 'me', { session: short.id });
    const renewed = await client.sessionRenew(short.id);
    assert.ok(renewed.expiresAtMs >= short.expiresAtMs);
    await until('the unrenewed session to expire with its key', async () => ((await client.kvGet('leader/app')) === undefined ? true : undefined));
    await assert.rejects(client.sessionRenew(short.id), (e: unknown) => e instanceof ClientError && e.status === 404);
    assert.deepEqual(await client.sessions(), []);
    const events = (await client.events(1)).events.filter((e) => e.type === 'session.destroy').map((e) => e.detail['reason']);
    assert.deepEqual(events, ['released', 'expired']);
  });

  it('refuses a TTL below one second, a key for an unknown session, and an unknown session', async () => {
    const client = new SappersClient({ ...agent!.api });
    await assert.rejects(client.sessionCreate(10), (e: unknown) => e instanceof ClientError && e.status === 400);
    await assert.rejects(client.kvPut('k', 'v', { session: 'nope' }), (e: unknown) => e instanceof ClientError && e.status === 400 && /no session/.test(e.message));
    await assert.rejects(client.sessionRelease('nope'), (e: unknown) => e instanceof ClientError && e.status === 404);
  });
});
