// The dashboard's static files (src/api/ui.ts) behind the real server with a token check:
// redirects, content types and cache headers, the index for client routes, 404 for a missing
// asset, no way out of the directory, 503 when not built, and the token still required for
// everything that is not the dashboard.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import fc from 'fast-check';
import { pino } from 'pino';
import { ApiError } from '../../src/api/errors.ts';
import { createApiServer, type AgentApi } from '../../src/api/server.ts';
import { insideRoot, NOT_BUILT_MESSAGE } from '../../src/api/ui.ts';
import type { Status } from '../../src/api/schemas.ts';

const INDEX = '<!doctype html><title>Sappers</title><div id="app"></div>';
const SCRIPT = 'console.log("app");';
const SECRET = 'the-secret-outside-the-ui-dir';
const TOKEN = 'right-token';

function server(uiDir: string) {
  const agent = {
    status: (): Status => ({
      nodeId: 'n1',
      version: '0.0.0',
      leader: 'n1',
      term: 1,
      commitIndex: 1,
      appliedIndex: 1,
      voters: ['n1'],
      learners: [],
      epoch: 1,
      state: 'active',
      ports: { http: 1, rpc: null, gossip: null, dns: null },
      bind: '127.0.0.1',
      security: { mode: 'secure', certified: true },
      drivers: {},
      dataDir: '/nowhere',
      startedAt: new Date(0).toISOString(),
      uptimeSeconds: 1,
    }),
  } as Partial<AgentApi> as AgentApi;
  return createApiServer({
    agent,
    logger: pino({ level: 'silent' }),
    uiDirs: [uiDir],
    // As the agent's: no header, no entry (src/agent/security.ts).
    authorize: (header) => {
      if (header === undefined) throw new ApiError('unauthorized', 'this request needs the management token');
      if (header !== `Bearer ${TOKEN}`) throw new ApiError('forbidden', 'the API token is not valid for this cluster');
    },
  });
}

describe('the dashboard routes', () => {
  let dir: string;
  let uiDir: string;
  let app: ReturnType<typeof server>;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sappers-ui-test-'));
    uiDir = join(dir, 'dist', 'ui');
    await mkdir(join(uiDir, 'assets'), { recursive: true });
    await writeFile(join(uiDir, 'index.html'), INDEX);
    await writeFile(join(uiDir, 'assets', 'index-AbC123.js'), SCRIPT);
    await writeFile(join(uiDir, 'assets', 'index-AbC123.css'), 'body{}');
    await writeFile(join(uiDir, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    await writeFile(join(dir, 'dist', 'secret.txt'), SECRET);
    await writeFile(join(dir, 'secret.txt'), SECRET);
    app = server(uiDir);
  });

  after(async () => {
    await app?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('redirects / and /ui to /ui/, without a token', async () => {
    for (const url of ['/', '/ui']) {
      const r = await app.inject({ method: 'GET', url });
      assert.equal(r.statusCode, 302, url);
      assert.equal(r.headers.location, '/ui/', url);
    }
  });

  it('serves index.html at /ui/ without a token, never cached, with a content security policy', async () => {
    const r = await app.inject({ method: 'GET', url: '/ui/' });
    assert.equal(r.statusCode, 200);
    assert.equal(r.body, INDEX);
    assert.equal(r.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(r.headers['cache-control'], 'no-cache');
    assert.match(String(r.headers['content-security-policy']), /default-src 'self'/);
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    const head = await app.inject({ method: 'HEAD', url: '/ui/' });
    assert.equal(head.statusCode, 200);
    assert.equal(head.body, '');
  });

  it('serves assets with their content types; hashed assets are cached for good', async () => {
    const js = await app.inject({ method: 'GET', url: '/ui/assets/index-AbC123.js' });
    assert.equal(js.statusCode, 200);
    assert.equal(js.body, SCRIPT);
    assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.equal(js.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.equal(js.headers['content-length'], String(Buffer.byteLength(SCRIPT)));
    const css = await app.inject({ method: 'GET', url: '/ui/assets/index-AbC123.css' });
    assert.equal(css.headers['content-type'], 'text/css; charset=utf-8');
    const svg = await app.inject({ method: 'GET', url: '/ui/favicon.svg' });
    assert.equal(svg.statusCode, 200);
    assert.equal(svg.headers['content-type'], 'image/svg+xml');
    // Not under assets/: its name is not a content hash, so the browser asks again.
    assert.equal(svg.headers['cache-control'], 'no-cache');
  });

  it('answers a missing asset with 404, and a client-side route with the index', async () => {
    for (const url of ['/ui/assets/index-gone.js', '/ui/nothing.css', '/ui/assets']) {
      const r = await app.inject({ method: 'GET', url });
      assert.equal(r.statusCode, 404, url);
      assert.equal((r.json() as { error: { code: string } }).error.code, 'not-found', url);
    }
    for (const url of ['/ui/jobs', '/ui/jobs/web', '/ui/members?sort=id']) {
      const r = await app.inject({ method: 'GET', url });
      assert.equal(r.statusCode, 200, url);
      assert.equal(r.body, INDEX, url);
    }
  });

  it('never serves a file outside the dashboard directory', async () => {
    const attempts = [
      '/ui/../secret.txt',
      '/ui/../../secret.txt',
      '/ui/..%2fsecret.txt',
      '/ui/..%2f..%2fsecret.txt',
      '/ui/%2e%2e/secret.txt',
      '/ui/%2e%2e%2f%2e%2e%2fsecret.txt',
      '/ui/assets/..%2f..%2fsecret.txt',
      '/ui/assets/../../secret.txt',
      '/ui/..%5csecret.txt',
      '/ui/%2fetc%2fpasswd',
      '//ui/../../secret.txt',
      `/ui/${encodeURIComponent(join(dir, 'secret.txt'))}`,
      '/ui/secret.txt%00.js',
    ];
    for (const url of attempts) {
      const r = await app.inject({ method: 'GET', url });
      assert.ok(!r.body.includes(SECRET), `${url} leaked the file`);
      assert.ok(!r.body.includes('root:'), `${url} leaked /etc/passwd`);
      // Refused, or (a path without an extension) the app's own index, never another file.
      assert.ok([400, 401, 404].includes(r.statusCode) || (r.statusCode === 200 && r.body === INDEX), `${url}: ${r.statusCode}`);
    }
  });

  it('still wants the token for the API, also on paths that start like the dashboard', async () => {
    assert.equal((await app.inject({ method: 'GET', url: '/v1/status' })).statusCode, 401);
    assert.equal((await app.inject({ method: 'GET', url: '/v1/status', headers: { authorization: 'Bearer wrong' } })).statusCode, 403);
    assert.equal((await app.inject({ method: 'GET', url: '/v1/status', headers: { authorization: `Bearer ${TOKEN}` } })).statusCode, 200);
    for (const url of ['/ui/../v1/status', '/ui%2f..%2fv1/status', '/ui/%2e%2e/v1/status', '/uix', '/v1/status?/ui/']) {
      const r = await app.inject({ method: 'GET', url });
      assert.ok(!r.body.includes('"nodeId"'), `${url} reached the API without a token`);
      assert.notEqual(r.statusCode, 200, url);
    }
    // Writes to the dashboard's paths are no route at all, and still need the token first.
    assert.equal((await app.inject({ method: 'POST', url: '/ui/' })).statusCode, 401);
  });

  it('answers 503 saying how to build the dashboard when it is not built', async () => {
    const empty = join(dir, 'not-built');
    await mkdir(empty);
    const bare = server(empty);
    try {
      for (const url of ['/ui/', '/ui/assets/index-AbC123.js', '/ui/members']) {
        const r = await bare.inject({ method: 'GET', url });
        assert.equal(r.statusCode, 503, url);
        assert.deepEqual(r.json(), { error: { code: 'unavailable', message: NOT_BUILT_MESSAGE } });
      }
      assert.match(NOT_BUILT_MESSAGE, /npm run build:ui/);
      assert.equal((await bare.inject({ method: 'GET', url: '/' })).statusCode, 302);
    } finally {
      await bare.close();
    }
  });

  it('insideRoot never resolves outside the root, whatever the path', () => {
    const root = join(dir, 'dist', 'ui');
    fc.assert(
      fc.property(fc.array(fc.constantFrom('..', '.', '', 'a', 'assets', '%2e', '\\', '/', '\0', 'x.js', '/etc'), { maxLength: 8 }), (parts) => {
        const file = insideRoot(root, parts.join('/'));
        return file === undefined || file.startsWith(root + sep);
      }),
    );
    fc.assert(fc.property(fc.string(), (s) => {
      const file = insideRoot(root, s);
      return file === undefined || file.startsWith(root + sep);
    }));
    assert.equal(insideRoot(root, 'assets/x.js'), join(root, 'assets', 'x.js'));
    assert.equal(insideRoot(root, '../secret.txt'), undefined);
    assert.equal(insideRoot(root, '/etc/passwd'), join(root, 'etc', 'passwd'));
  });
});
