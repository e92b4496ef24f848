// The health routes on a bare fastify instance, with the same error handling as the API server
// and a real HealthMonitor (virtual clock) behind HealthApi: pushes, reads, 404 for an unknown
// allocation or check, 409 for a check the agent runs itself, 400 for bad bodies.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Fastify, { type FastifyError } from 'fastify';
import { ApiError } from '../../src/api/errors.ts';
import { registerHealthRoutes, type HealthApi, MAX_PUSH_OUTPUT_CHARS } from '../../src/api/health.ts';
import { ErrorSchema } from '../../src/api/schemas.ts';
import { SeededRandom } from '../../src/core/random.ts';
import { HealthMonitor } from '../../src/runtime/health/monitor.ts';
import { VirtualClock } from '../../src/sim/clock.ts';

async function harness() {
  const clock = new VirtualClock();
  const never = () => new Promise<never>(() => {});
  const monitor = new HealthMonitor({ clock, random: new SeededRandom(3), checkers: { http: never, tcp: never, exec: never } });
  const api: HealthApi = {
    healthPush: (alloc, check, status, output) => monitor.push(alloc, check, status, output),
    healthStatus: (alloc) => monitor.status(alloc),
  };
  // A longer parameter limit than fastify's default (100, answered 414) lets the route's own
  // bound on allocation ids show.
  const app = Fastify({ maxParamLength: 1024 });
  // As src/api/server.ts does: ApiErrors keep their status; validation errors are 400s.
  app.setErrorHandler((error: FastifyError | ApiError, _request, reply) => {
    if (error instanceof ApiError) return reply.status(error.status).send({ error: { code: error.code, message: error.message } });
    const status = error.statusCode ?? 500;
    return reply.status(status).send({ error: { code: status >= 500 ? 'internal' : 'bad-request', message: error.message } });
  });
  registerHealthRoutes(app, api, { '4xx': ErrorSchema, '5xx': ErrorSchema });
  const add = monitor.add('alloc-1', [{ type: 'ttl', name: 'app', ttlMs: 10_000 }, { type: 'http', name: 'web', path: '/', intervalMs: 10_000, timeoutMs: 1000 }], {
    host: '127.0.0.1',
    ports: { web: 1 },
    servicePort: 'web',
  });
  assert.ok(add.ok);
  const close = async () => {
    await app.close();
    // The never-answering probes end when the monitor aborts them.
    await monitor.close();
  };
  return { app, clock, close };
}

const put = (app: ReturnType<typeof Fastify>, url: string, payload: unknown) =>
  app.inject({ method: 'PUT', url, payload: payload as Record<string, unknown>, headers: { 'content-type': 'application/json' } });

describe('health routes', () => {
  it('PUT takes a push and GET shows it, with the TTL deadline', async () => {
    const { app, clock, close } = await harness();
    try {
      const r = await put(app, '/v1/health/alloc-1/app', { status: 'warning', output: 'queue deep' });
      assert.equal(r.statusCode, 200);
      assert.deepEqual(r.json(), { status: 'warning', check: 'app', alloc: 'alloc-1' });
      const g = await app.inject({ method: 'GET', url: '/v1/health/alloc-1' });
      assert.equal(g.statusCode, 200);
      const view = g.json() as { alloc: string; status: string; checks: Array<Record<string, unknown>> };
      assert.equal(view.alloc, 'alloc-1');
      assert.equal(view.status, 'critical', 'the http check has not run yet');
      assert.deepEqual(view.checks[0], {
        name: 'app',
        type: 'ttl',
        status: 'warning',
        output: 'queue deep',
        changedAtMs: clock.wallMs(),
        updatedAtMs: clock.wallMs(),
        expiresAtMs: clock.wallMs() + 10_000,
        ttlMs: 10_000,
      });
      assert.equal(view.checks[1]!['type'], 'http');
      assert.equal(view.checks[1]!['updatedAtMs'], null);
      // Output is optional.
      assert.equal((await put(app, '/v1/health/alloc-1/app', { status: 'passing' })).statusCode, 200);
    } finally {
      await close();
    }
  });

  it('404 for an unknown allocation or check, 409 for a check the agent runs itself', async () => {
    const { app, close } = await harness();
    try {
      const noAlloc = await put(app, '/v1/health/alloc-9/app', { status: 'passing' });
      assert.equal(noAlloc.statusCode, 404);
      assert.deepEqual(noAlloc.json(), { error: { code: 'not-found', message: 'no allocation "alloc-9" runs on this node (push health to the agent of the node that runs it)' } });
      const noCheck = await put(app, '/v1/health/alloc-1/db', { status: 'passing' });
      assert.equal(noCheck.statusCode, 404);
      assert.deepEqual(noCheck.json(), { error: { code: 'not-found', message: 'allocation alloc-1 has no check "db"; its checks: app, web' } });
      assert.equal((await put(app, '/v1/health/alloc-1/..bad%20name', { status: 'passing' })).statusCode, 404);
      const notTtl = await put(app, '/v1/health/alloc-1/web', { status: 'passing' });
      assert.equal(notTtl.statusCode, 409);
      assert.deepEqual(notTtl.json(), { error: { code: 'conflict', message: 'check "web" of allocation alloc-1 is an http check that the agent runs itself; only ttl checks take pushed status' } });
      const g = await app.inject({ method: 'GET', url: '/v1/health/alloc-9' });
      assert.equal(g.statusCode, 404);
      assert.equal((g.json() as { error: { code: string } }).error.code, 'not-found');
      assert.equal((await app.inject({ method: 'GET', url: `/v1/health/${'x'.repeat(300)}` })).statusCode, 400);
    } finally {
      await close();
    }
  });

  // fastify's default Ajv coerces scalars (output: 7 becomes "7") and drops unknown properties;
  // the API server keeps those defaults, so they are not refusals here either.
  it('400 for a bad body, before the monitor sees it', async () => {
    const { app, close } = await harness();
    try {
      for (const bad of [{}, { status: 'ok' }, { status: 'PASSING' }, { status: 'passing', output: 'x'.repeat(MAX_PUSH_OUTPUT_CHARS + 1) }, [], 'passing']) {
        const r = await put(app, '/v1/health/alloc-1/app', bad);
        assert.equal(r.statusCode, 400, JSON.stringify(bad).slice(0, 80));
        assert.equal((r.json() as { error: { code: string } }).error.code, 'bad-request');
      }
      const notJson = await app.inject({ method: 'PUT', url: '/v1/health/alloc-1/app', payload: '{"status":', headers: { 'content-type': 'application/json' } });
      assert.equal(notJson.statusCode, 400);
      const g = (await app.inject({ method: 'GET', url: '/v1/health/alloc-1' })).json() as { checks: Array<{ updatedAtMs: unknown }> };
      assert.equal(g.checks[0]!.updatedAtMs, null, 'no refused push reached the monitor');
    } finally {
      await close();
    }
  });
});
