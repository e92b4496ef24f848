// The job, allocation and service routes on a bare fastify instance (error handling as the API
// server), served by a real JobsService over the real state machine (the test's World plays the
// leader and the nodes): bodies and queries checked, views serialized through their schemas
// without losing fields, errors with the right status.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { ApiError } from '../../src/api/errors.ts';
import { registerJobRoutes, type JobsApi } from '../../src/api/jobs.ts';
import { registerAllocRoutes, type AllocOps, type AllocsApi } from '../../src/api/allocs.ts';
import { registerServiceRoutes, type ServicesApi } from '../../src/api/services.ts';
import { ErrorSchema } from '../../src/api/schemas.ts';
import { JobsService } from '../../src/agent/jobs.ts';
import type { JobSpec } from '../../src/core/scheduler/job.ts';
import { job } from '../core/scheduler/fixtures.ts';
import { World } from '../core/scheduler/world.ts';

const web = (over: Partial<JobSpec> = {}): JobSpec => ({
  ...job('web', { count: 2, ports: [{ label: 'http' }] }),
  service: { name: 'web', port: 'http', tags: ['a'], checks: [] },
  ...over,
});

async function harness(): Promise<{ app: FastifyInstance; w: World; staleSeen: boolean[]; opsSeen: string[] }> {
  const w = new World(['a', 'b']);
  const staleSeen: boolean[] = [];
  const opsSeen: string[] = [];
  const ops: AllocOps = {
    logs: async (a, o) => {
      opsSeen.push(`logs ${a.id} ${o.stream} ${o.offset} ${o.limit}`);
      return { data: new Uint8Array([0xff, 0x68, 0x69]), offset: 7, nextOffset: 10, size: 10 };
    },
    restart: async (a) => void opsSeen.push(`restart ${a.id}`),
  };
  const service = new JobsService({
    state: async (stale) => {
      staleSeen.push(stale);
      return w.fsm;
    },
    propose: async (command) => w.apply(command),
    nodes: () => [...w.nodes.values()],
    leader: () => w.leader,
    settings: () => w.settings,
    wallMs: () => w.nowMs,
    allocOps: () => ops,
  });
  const api: JobsApi & AllocsApi & ServicesApi = {
    jobRun: (s) => service.run(s),
    jobPlan: (s, stale) => service.plan(s, stale),
    jobList: (stale) => service.list(stale),
    jobStatus: (n, stale) => service.status(n, stale),
    jobStop: (n, purge) => service.stop(n, purge),
    jobHistory: (n, stale) => service.history(n, stale),
    allocList: (f, stale) => service.allocs(f, stale),
    allocGet: (id, stale) => service.alloc(id, stale),
    allocLogs: (id, o) => service.logs(id, o),
    allocRestart: (id) => service.restart(id),
    serviceList: (stale) => service.services(stale),
    serviceGet: (n, o, stale) => service.service(n, o, stale),
  };
  const app = Fastify();
  app.setErrorHandler((error: FastifyError | ApiError, _request, reply) => {
    if (error instanceof ApiError) return reply.status(error.status).send({ error: { code: error.code, message: error.message } });
    const status = error.statusCode ?? 500;
    return reply.status(status).send({ error: { code: status >= 500 ? 'internal' : 'bad-request', message: error.message } });
  });
  const errors = { '4xx': ErrorSchema, '5xx': ErrorSchema };
  registerJobRoutes(app, api, errors);
  registerAllocRoutes(app, api, errors);
  registerServiceRoutes(app, api, errors);
  return { app, w, staleSeen, opsSeen };
}

const post = (app: FastifyInstance, url: string, payload: unknown) => app.inject({ method: 'POST', url, payload: JSON.stringify(payload), headers: { 'content-type': 'application/json' } });
const errorOf = (body: string): { code: string; message: string } => (JSON.parse(body) as { error: { code: string; message: string } }).error;

describe('job routes', () => {
  it('POST /v1/jobs registers; the body must be {spec}; a bad spec is a 400 naming its fields', async () => {
    const { app } = await harness();
    const ok = await post(app, '/v1/jobs', { spec: web() });
    assert.equal(ok.statusCode, 200, ok.body);
    assert.deepEqual(JSON.parse(ok.body), { job: 'web', version: 1, changed: true });
    // (Fastify drops unknown top-level keys rather than refusing them: removeAdditional.)
    for (const body of [{}, web()]) {
      const r = await post(app, '/v1/jobs', body);
      assert.equal(r.statusCode, 400, JSON.stringify(body));
    }
    const bad = await post(app, '/v1/jobs', { spec: { ...web(), count: -1, driver: 'Bad Driver' } });
    assert.equal(bad.statusCode, 400);
    assert.match(errorOf(bad.body).message, /^invalid job spec:\n {2}count: .*\n {2}driver: /);
    await app.close();
  });

  it('GET /v1/jobs/:name returns the spec whole, ?stale reads the local copy; unknown or impossible names are 404', async () => {
    const { app, staleSeen } = await harness();
    await post(app, '/v1/jobs', { spec: web() });
    const r = await app.inject({ url: '/v1/jobs/web?stale' });
    assert.equal(r.statusCode, 200, r.body);
    const status = JSON.parse(r.body) as { spec: JobSpec; paused: null; blocked: null; deployment: null };
    assert.deepEqual(status.spec, web());
    assert.equal(status.deployment, null);
    assert.deepEqual(staleSeen.slice(-1), [true]);
    await app.inject({ url: '/v1/jobs/web?stale=false' });
    assert.deepEqual(staleSeen.slice(-1), [false]);
    assert.equal((await app.inject({ url: '/v1/jobs/nope' })).statusCode, 404);
    assert.equal((await app.inject({ url: '/v1/jobs/%20bad%20' })).statusCode, 404);
    const list = JSON.parse((await app.inject({ url: '/v1/jobs' })).body) as { name: string; instances: { desired: number } }[];
    assert.deepEqual(list.map((j) => [j.name, j.instances.desired]), [['web', 2]]);
    await app.close();
  });

  it('POST /v1/jobs/plan keeps the before and after of each change; history and DELETE ?purge', async () => {
    const { app, w } = await harness();
    await post(app, '/v1/jobs', { spec: web() });
    w.settle();
    const plan = await post(app, '/v1/jobs/plan', { spec: web({ count: 3, env: { X: '1' } }) });
    assert.equal(plan.statusCode, 200, plan.body);
    const p = JSON.parse(plan.body) as { kind: string; changes: unknown[]; update: { outdated: unknown[] } | null; place: { ports: Record<string, number> }[] };
    assert.equal(p.kind, 'rolling-update');
    assert.deepEqual(p.changes, [
      { field: 'count', change: 'modified', before: 2, after: 3 },
      { field: 'env', change: 'modified', before: {}, after: { X: '1' } },
    ]);
    assert.equal(p.update?.outdated.length, 2);
    assert.ok(p.place.every((x) => typeof x.ports['http'] === 'number'));

    await post(app, '/v1/jobs', { spec: web({ count: 3 }) });
    const h = JSON.parse((await app.inject({ url: '/v1/jobs/web/history' })).body) as { versions: { version: number; changed: string[]; spec: JobSpec }[] };
    assert.deepEqual(h.versions.map((v) => [v.version, v.changed, v.spec.count]), [
      [2, ['count'], 3],
      [1, [], 2],
    ]);

    const stop = await app.inject({ method: 'DELETE', url: '/v1/jobs/web' });
    assert.deepEqual(JSON.parse(stop.body), { job: 'web', version: 2, changed: true, purged: false });
    const purge = await app.inject({ method: 'DELETE', url: '/v1/jobs/web?purge' });
    assert.equal(JSON.parse(purge.body).purged, true);
    assert.equal((await app.inject({ method: 'DELETE', url: '/v1/jobs/web' })).statusCode, 404);
    await app.close();
  });
});

describe('allocation routes', () => {
  it('list with filters, one by prefix with every field, ambiguous prefixes 400', async () => {
    const { app, w } = await harness();
    await post(app, '/v1/jobs', { spec: web() });
    w.settle();
    const all = JSON.parse((await app.inject({ url: '/v1/allocs' })).body) as { id: string; node: string }[];
    assert.equal(all.length, 2);
    const onA = JSON.parse((await app.inject({ url: '/v1/allocs?node=a&job=web' })).body) as { node: string }[];
    assert.ok(onA.every((x) => x.node === 'a'));
    const one = await app.inject({ url: `/v1/allocs/${all[0]!.id.slice(0, 8)}` });
    assert.equal(one.statusCode, 200, one.body);
    const view = JSON.parse(one.body) as Record<string, unknown>;
    for (const field of ['taskSha256', 'ports', 'checks', 'healthySinceMs', 'replaces', 'reschedules', 'nodeAddress', 'desiredReason']) assert.ok(field in view, field);
    assert.equal(view['nodeAddress'], null);
    const ambiguous = await app.inject({ url: '/v1/allocs/0000' });
    assert.equal(ambiguous.statusCode, 400);
    assert.match(errorOf(ambiguous.body).message, /ambiguous/);
    assert.equal((await app.inject({ url: `/v1/allocs/${'f'.repeat(65)}` })).statusCode, 400);
    await app.close();
  });

  it('logs: stream, offset and limit checked; bytes come back base64', async () => {
    const { app, w, opsSeen } = await harness();
    await post(app, '/v1/jobs', { spec: web() });
    w.settle();
    const id = w.running('web')[0]!.id;
    const r = await app.inject({ url: `/v1/allocs/${id}/logs?stream=stderr&offset=-1024&limit=100` });
    assert.equal(r.statusCode, 200, r.body);
    assert.deepEqual(JSON.parse(r.body), { alloc: id, stream: 'stderr', data: Buffer.from([0xff, 0x68, 0x69]).toString('base64'), offset: 7, nextOffset: 10, size: 10 });
    await app.inject({ url: `/v1/allocs/${id}/logs` });
    assert.deepEqual(opsSeen, [`logs ${id} stderr -1024 100`, `logs ${id} stdout 0 65536`]);
    for (const [query, message] of [
      ['stream=both', /\?stream must be stdout or stderr/],
      ['offset=abc', /\?offset must be an integer/],
      [`offset=-${1024 * 1024 + 1}`, /\?offset must be between/],
      ['limit=0', /\?limit must be between 1 and/],
      [`limit=${1024 * 1024 + 1}`, /\?limit must be between/],
    ] as const) {
      const bad = await app.inject({ url: `/v1/allocs/${id}/logs?${query}` });
      assert.equal(bad.statusCode, 400, query);
      assert.match(errorOf(bad.body).message, message);
    }
    await app.close();
  });

  it('restart goes to the runner for a running allocation and is a 409 otherwise', async () => {
    const { app, w, opsSeen } = await harness();
    await post(app, '/v1/jobs', { spec: web({ count: 1 }) });
    w.step();
    const pending = w.fsm.allocs()[0]!.id;
    const refused = await app.inject({ method: 'POST', url: `/v1/allocs/${pending}/restart` });
    assert.equal(refused.statusCode, 409);
    w.nodesAct();
    const ok = await app.inject({ method: 'POST', url: `/v1/allocs/${pending}/restart` });
    assert.equal(ok.statusCode, 200, ok.body);
    assert.deepEqual(JSON.parse(ok.body), { alloc: pending, node: w.fsm.alloc(pending)!.node });
    assert.deepEqual(opsSeen, [`restart ${pending}`]);
    await app.close();
  });
});

describe('service routes', () => {
  it('lists services and instances; ?passing filters; unknown or impossible names are 404', async () => {
    const { app, w } = await harness();
    await post(app, '/v1/jobs', { spec: web() });
    w.settle((a) => (a.index === 0 ? 'healthy' : 'unhealthy'));
    const list = JSON.parse((await app.inject({ url: '/v1/services' })).body) as unknown[];
    assert.deepEqual(list, [{ name: 'web', tags: ['a'], jobs: ['web'], instances: 2, passing: 1, warning: 0, critical: 1 }]);
    const all = JSON.parse((await app.inject({ url: '/v1/services/web' })).body) as { instances: { status: string; port: number; address: null }[] };
    assert.deepEqual(all.instances.map((i) => i.status).sort(), ['critical', 'passing']);
    assert.ok(all.instances.every((i) => typeof i.port === 'number' && i.address === null));
    const passing = JSON.parse((await app.inject({ url: '/v1/services/web?passing' })).body) as { instances: { status: string }[] };
    assert.deepEqual(passing.instances.map((i) => i.status), ['passing']);
    assert.equal((await app.inject({ url: '/v1/services/nope' })).statusCode, 404);
    assert.equal((await app.inject({ url: '/v1/services/Not_A_Name' })).statusCode, 404);
    await app.close();
  });
});
