// The keyring routes: body validation, the stale flag, and ApiErrors turned into JSON errors
// with their status codes (a stub agent behind the real server).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { ApiError } from '../../src/api/errors.ts';
import type { KeyringChangeResult, KeyringOp, KeyringView } from '../../src/api/keyring.ts';
import { createApiServer, type AgentApi } from '../../src/api/server.ts';

const view: KeyringView = { nodeId: 'n1', primary: 'aaaaaaaaaaaaaaaa', keys: [{ fingerprint: 'aaaaaaaaaaaaaaaa', primary: true }], local: { primary: 'aaaaaaaaaaaaaaaa', keys: ['aaaaaaaaaaaaaaaa'] } };

function server(calls: unknown[]) {
  const agent = {
    async keyringView(stale: boolean): Promise<KeyringView> {
      calls.push({ view: stale });
      return view;
    },
    async keyringChange(op: KeyringOp, key: string): Promise<KeyringChangeResult> {
      calls.push({ op, key });
      if (key === 'primary') throw new ApiError('conflict', 'key aaaaaaaaaaaaaaaa is the primary key');
      return { op, fingerprint: 'bbbbbbbbbbbbbbbb', primary: view.primary, keys: view.keys };
    },
  } as Partial<AgentApi> as AgentApi;
  return createApiServer({ agent, logger: pino({ level: 'silent' }) });
}

describe('keyring routes', () => {
  it('GET answers the view, linearizable unless ?stale', async () => {
    const calls: unknown[] = [];
    const app = server(calls);
    try {
      const r = await app.inject({ method: 'GET', url: '/v1/operator/keyring' });
      assert.equal(r.statusCode, 200);
      assert.deepEqual(r.json(), view);
      await app.inject({ method: 'GET', url: '/v1/operator/keyring?stale' });
      assert.deepEqual(calls, [{ view: false }, { view: true }]);
    } finally {
      await app.close();
    }
  });

  it('POST passes op and key through, and refuses a bad body with 400 before the agent sees it', async () => {
    const calls: unknown[] = [];
    const app = server(calls);
    try {
      const post = (body: unknown) => app.inject({ method: 'POST', url: '/v1/operator/keyring', payload: body as Record<string, unknown> });
      const ok = await post({ op: 'use', key: 'bbbbbbbbbbbbbbbb' });
      assert.equal(ok.statusCode, 200);
      assert.equal((ok.json() as KeyringChangeResult).fingerprint, 'bbbbbbbbbbbbbbbb');
      for (const bad of [{ op: 'rotate', key: 'x' }, { op: 'use' }, { op: 'use', key: '' }, { op: 'use', key: 'x'.repeat(300) }]) {
        const r = await post(bad);
        assert.equal(r.statusCode, 400, JSON.stringify(bad));
        assert.equal((r.json() as { error: { code: string } }).error.code, 'bad-request');
      }
      const refused = await post({ op: 'remove', key: 'primary' });
      assert.equal(refused.statusCode, 409);
      assert.deepEqual(refused.json(), { error: { code: 'conflict', message: 'key aaaaaaaaaaaaaaaa is the primary key' } });
      assert.deepEqual(calls, [{ op: 'use', key: 'bbbbbbbbbbbbbbbb' }, { op: 'remove', key: 'primary' }]);
    } finally {
      await app.close();
    }
  });
});
