// The dashboard in a real browser (issue 7, Tests): a secure 3-node cluster of real agents, the
// dashboard of one of them opened in headless chromium. A wrong token shows an error and no
// data; the right one shows 3 alive members and the leader; a SIGKILLed node turns dead on the
// members page; a key written in the KV browser reads back through the CLI; a job run through
// the API shows its allocations, and an allocation page its log tail. Every page is saved as a
// screenshot (test-artifacts/ui/, light and dark, and at a phone's width) for a person to look
// at. One cluster and one browser for the file, steps in order; deadlines only guard hangs.
// The hooks used (data-page, data-table, data-row, data-status, data-login, ...) are the ones
// the dashboard promises tests (see the UI contract in src/ui/components/page.tsx and table.tsx).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Page, Request } from 'playwright-core';
import { parseJobFile } from '../../src/wire/job-file.ts';
import type { JobSpec } from '../../src/core/scheduler/job.ts';
import type { SappersClient } from '../../src/client/client.ts';
import { agentGroup, type AgentGroup } from '../helpers/agent-group.ts';
import { runCli, type AgentProcess } from '../helpers/agent-process.ts';
import { PHONE, openBrowser, screenshot, uiSkipReason, type BrowserSession } from '../helpers/browser.ts';
import { until } from '../helpers/until.ts';

const skip = await uiSkipReason();
if (skip !== undefined) console.log(`# dashboard browser tests skipped: ${skip}`);

// Node IDs long enough to find as text on a page (a one-letter ID matches everywhere).
const NODES = ['alpha', 'bravo', 'charlie'] as const;
const KEY = 'dashboard/greeting';
const VALUE = 'written-in-the-browser';
const GONE = 30_000; // gossip needs a few seconds to call a SIGKILLed node dead; guard only

/**
 * A job whose tasks print a line and stay up, with a service whose check always passes; kept
 * off the killed node, so that it never waits for the scheduler to give up on that node.
 */
function greeterJob(avoid: string): JobSpec {
  const text = [
    'job: greeter',
    'driver: process',
    'count: 2',
    'constraints:',
    `  - "node.id != ${avoid}"`,
    'config:',
    '  command: /bin/sh',
    `  args: ["-c", "echo hello-from-the-task; exec sleep 1000"]`,
    'resources:',
    '  cpu: 50',
    '  memoryMB: 32',
    '  ports:',
    '    http: {}',
    'service:',
    '  name: greeter',
    '  checks:',
    '    - type: exec',
    '      command: ["/bin/true"]',
    '      interval: 1s',
    '      timeout: 500ms',
  ].join('\n');
  const parsed = parseJobFile('greeter.yaml', text);
  if (!parsed.ok) throw new Error(parsed.error.map((e) => `${e.source}: ${e.field}: ${e.message}`).join('\n'));
  return parsed.value;
}

const group: AgentGroup = await agentGroup('ui');

/** The pages to photograph, by route and data-page name (job and alloc filled in once known). */
interface Shot {
  readonly name: string;
  readonly hash: string;
}

describe('the dashboard in a browser', { skip: skip ?? false, concurrency: false }, () => {
  let a: AgentProcess;
  let api: SappersClient;
  let session: BrowserSession;
  let page: Page;
  let url: string;
  let leader: string;
  let victim: string;
  let allocId: string;
  /** Every URL the browser asked for: the token must never be in one. */
  const requested: string[] = [];

  before(async () => {
    a = await group.agent(NODES[0]);
    const gossip = (await group.client(a).status()).ports.gossip;
    for (const name of NODES.slice(1)) await group.agent(name, ['--join', `127.0.0.1:${gossip}`]);
    api = group.client(a);
    leader = await until('three voters and a leader', async () => {
      const s = await api.status();
      return s.voters.length === 3 && s.leader !== null && s.state === 'active' ? s.leader : undefined;
    });
    url = `${a.addr}/ui/`;
    session = await openBrowser();
    page = session.page;
    session.context.on('request', (r) => requested.push(r.url()));
  });

  after(async () => {
    await session?.close();
    assert.deepEqual(session?.pageErrors ?? [], [], 'the dashboard threw no uncaught exception');
  });

  /** Opens the dashboard afresh and submits `token` in its login form. */
  async function logIn(p: Page, token: string): Promise<void> {
    await p.goto(url);
    const form = p.locator('form[data-login]');
    await form.locator('input[name=token]').fill(token);
    await form.locator('[type=submit]').click();
  }

  /** Goes to a route of the app (hash router) and waits for the page's root and its data. */
  async function show(p: Page, hash: string, name: string): Promise<void> {
    await p.goto(`${url}${hash}`);
    await p.locator(`[data-page="${name}"]`).waitFor();
    await until(`${name} loaded`, async () => ((await p.locator('[data-page] [data-loading]').count()) === 0 ? true : undefined), 30_000, 100);
  }

  async function shootAll(p: Page, shots: readonly Shot[], suffix: string): Promise<void> {
    for (const s of shots) {
      await show(p, s.hash, s.name);
      await screenshot(p, `${s.name}-${suffix}`);
    }
  }

  it('a wrong token shows an error and no data', async () => {
    await logIn(page, 'not-the-token');
    const alert = page.locator('form[data-login] [role=alert]');
    await alert.waitFor();
    assert.notEqual(((await alert.textContent()) ?? '').trim(), '', 'the refusal is explained');
    assert.equal(await page.locator('[data-page]').count(), 0, 'no page is shown');
    assert.equal(await page.locator('[data-row]').count(), 0, 'no data is shown');
    assert.equal(await page.evaluate("sessionStorage.getItem('sappers.token')"), null, 'a refused token is not kept');
    await session.screenshot('login-refused');
  });

  it('logs in with the token and shows 3 alive members and the leader', async () => {
    await logIn(page, a.api.token);
    const overview = page.locator('[data-page="overview"]');
    await overview.waitFor();
    assert.equal(await page.locator('form[data-login]').count(), 0, 'the login form is gone');
    await overview.locator('[data-leader]').filter({ hasText: leader }).waitFor();
    await session.screenshot('overview-light');

    await show(page, '#/members', 'members');
    const table = page.locator('[data-table="members"]');
    for (const id of NODES) await table.locator(`[data-row="${id}"] [data-status="alive"]`).waitFor();
    assert.equal(await table.locator('[data-row]').count(), 3);
    await session.screenshot('members-light');

    await show(page, '#/topology', 'topology');
    for (const id of NODES) await page.locator(`[data-topology] [data-node="${id}"][data-status="alive"]`).waitFor();
    await page.locator(`[data-topology] [data-node="${leader}"][data-role="leader"]`).waitFor();
    await session.screenshot('topology-light');
  });

  it('shows a SIGKILLed node as dead', async () => {
    // Not the leader (no election to wait for) and not the node the browser talks to.
    victim = NODES.slice(1).find((id) => id !== leader)!;
    await group.kill(victim);
    await show(page, '#/members', 'members');
    const table = page.locator('[data-table="members"]');
    await table.locator(`[data-row="${victim}"] [data-status="dead"]`).waitFor({ timeout: GONE });
    for (const id of NODES.filter((x) => x !== victim)) assert.equal(await table.locator(`[data-row="${id}"] [data-status="alive"]`).count(), 1, `${id} is still alive`);
    await session.screenshot('members-one-dead');
    await show(page, '#/topology', 'topology');
    await page.locator(`[data-topology] [data-node="${victim}"][data-status="dead"]`).waitFor({ timeout: GONE });
    await session.screenshot('topology-one-dead');
  });

  it('writes, edits (compare-and-swap) and deletes a key in the KV browser, as the CLI sees', async () => {
    const cliGet = (): Promise<{ code: number; stdout: string; stderr: string }> => runCli(['kv', 'get', KEY, '--raw', '--addr', a.addr]);
    await show(page, '#/kv', 'kv');
    await page.locator('[data-action="new-key"]').click();
    const create = page.locator('form[data-form="kv-create"]');
    await create.locator('input[name=key]').fill(KEY);
    await create.locator('textarea[name=value]').fill(VALUE);
    await create.locator('[type=submit]').click();
    const detail = page.locator(`[data-key="${KEY}"]`);
    await detail.locator('[data-value]').filter({ hasText: VALUE }).waitFor();
    const created = await cliGet();
    assert.equal(created.code, 0, created.stderr);
    assert.equal(created.stdout, VALUE);
    await session.screenshot('kv-light');

    await detail.locator('[data-action="edit"]').click();
    const edit = page.locator('form[data-form="kv-edit"]');
    await edit.locator('textarea[name=value]').fill(`${VALUE}-again`);
    await edit.locator('[type=submit]').click();
    await detail.locator('[data-value]').filter({ hasText: `${VALUE}-again` }).waitFor();
    const edited = await cliGet();
    assert.equal(edited.code, 0, edited.stderr);
    assert.equal(edited.stdout, `${VALUE}-again`);
    assert.equal(await detail.locator('[data-version]').textContent(), '2');

    await detail.locator('[data-action="delete"]').click();
    await page.locator('[data-confirm] [data-confirm-button]').click();
    await page.locator(`[data-table="kv"] [data-row="${KEY}"]`).waitFor({ state: 'detached' });
    const deleted = await cliGet();
    assert.notEqual(deleted.code, 0, 'the key is gone');
    // Kept for the later screenshots of the KV page.
    await api.kvPut(KEY, VALUE);
  });

  it("shows a job's allocations, an allocation's log tail, and its service", async () => {
    await api.jobRun(greeterJob(victim));
    const allocs = await until('2 running allocations of greeter', async () => {
      const list = (await api.allocs({ job: 'greeter' })).filter((x) => x.desired === 'run' && x.client === 'running');
      return list.length === 2 ? list : undefined;
    });
    allocId = allocs[0]!.id;

    await show(page, '#/jobs', 'jobs');
    await page.locator('[data-table="jobs"] [data-row="greeter"]').waitFor();
    await session.screenshot('jobs-light');

    await show(page, '#/jobs/greeter', 'job');
    const rows = page.locator('[data-table="allocations"]');
    for (const x of allocs) await rows.locator(`[data-row="${x.id}"] [data-status="running"]`).waitFor();
    await session.screenshot('job-light');

    await show(page, `#/allocs/${allocId}`, 'alloc');
    await page.locator('[data-log-text]').filter({ hasText: 'hello-from-the-task' }).waitFor();
    await session.screenshot('alloc-light');

    await show(page, '#/services', 'services');
    await page.locator('[data-table="services"] [data-row="greeter"]').waitFor();
    await session.screenshot('services-light');
    await show(page, '#/services/greeter', 'service');
    const instances = page.locator('[data-table="instances"]');
    for (const x of allocs) await instances.locator(`[data-row="${x.id}"] [data-status="passing"]`).first().waitFor();
    await session.screenshot('service-light');
  });

  it('shows the events and verifies their hash chain', async () => {
    await show(page, '#/events', 'events');
    await page.locator(`[data-table="events"] [data-type="job.register"]`).first().waitFor();
    await page.locator('[data-action="verify"]').click();
    await page.locator('[data-verify="ok"]').waitFor();
    await session.screenshot('events-light');
  });

  it("every page in the dark theme, and at a phone's width", async () => {
    const shots: Shot[] = [
      { name: 'overview', hash: '#/' },
      { name: 'topology', hash: '#/topology' },
      { name: 'members', hash: '#/members' },
      { name: 'jobs', hash: '#/jobs' },
      { name: 'job', hash: '#/jobs/greeter' },
      { name: 'alloc', hash: `#/allocs/${allocId}` },
      { name: 'services', hash: '#/services' },
      { name: 'service', hash: '#/services/greeter' },
      { name: 'kv', hash: `#/kv?prefix=dashboard/&key=${encodeURIComponent(KEY)}` },
      { name: 'events', hash: '#/events' },
    ];
    await page.locator('[data-theme-toggle]').click();
    assert.equal(await page.locator('html').getAttribute('data-theme'), 'dark');
    await shootAll(page, shots, 'dark');

    const phone = await session.newPage({ viewport: PHONE });
    await logIn(phone, a.api.token);
    await phone.locator('[data-page="overview"]').waitFor();
    await shootAll(phone, shots, 'phone');
    await phone.locator('[data-menu]').click();
    await screenshot(phone, 'menu-phone');

    assert.ok(requested.length > 0);
    for (const r of requested) assert.ok(!r.includes(a.api.token), `the token is never in a URL (${r})`);
  });

  // The issue asks for live updates through SSE streams, no polling loops: with the overview
  // (status and members) and then an allocation's log tail open and idle, nothing is asked for
  // again on a timer. Only stream connections may appear (at most one reconnect per path).
  it('keeps status, members and a log tail live through streams, not timers', async () => {
    for (const [hash, name, paths] of [
      ['#/', 'overview', ['/v1/status', '/v1/members']],
      [`#/allocs/${allocId}`, 'alloc', ['/v1/status', '/v1/members', `/v1/allocs/${allocId}/logs`]],
    ] as const) {
      const seen: { path: string; accept: string }[] = [];
      const listener = (r: Request): void => {
        const path = new URL(r.url()).pathname;
        if ((paths as readonly string[]).includes(path)) seen.push({ path, accept: r.headers()['accept'] ?? '' });
      };
      session.context.on('request', listener);
      // A fresh document (the session's token stays in this tab's sessionStorage).
      await page.goto('about:blank');
      await show(page, hash, name);
      if (name === 'alloc') await page.locator('[data-log-text]').filter({ hasText: 'hello-from-the-task' }).waitFor();
      // Opening the page (a fresh document) connects each stream: this also shows the listener sees them.
      for (const path of paths) assert.ok(seen.some((r) => r.path === path && r.accept.includes('text/event-stream')), `${path} is followed through a stream on ${name}: ${JSON.stringify(seen)}`);
      const idleFrom = seen.length;
      await new Promise((resolve) => setTimeout(resolve, 6000));
      session.context.off('request', listener);
      const idle = seen.slice(idleFrom);
      for (const r of idle) assert.ok(r.accept.includes('text/event-stream'), `${r.path} was asked for again without a stream on ${name} (${r.accept})`);
      for (const path of paths) assert.ok(idle.filter((r) => r.path === path).length <= 1, `${path} reconnected more than once in 6 s on ${name}: ${JSON.stringify(idle)}`);
    }
  });

  // Seen by eye in overview-dark.png: "alpha is flapping, 14 gossip status changes" for a node
  // that never changed: GET /v1/members' statusSince moved by a millisecond between requests
  // (agent.ts converted the monotonic change time to wall time at each request), and the flap
  // tracker (src/ui/flaps.ts) counts a newer statusSince as two changes. Fixed in the agent.
  it('does not call a node flapping whose status never changed', async () => {
    await show(page, '#/', 'overview');
    const steady = NODES.filter((id) => id !== victim);
    // The first tab has watched the members list for the whole file (about 20 s, 10 looks).
    for (const id of steady) assert.equal(await page.locator(`[data-alert="flap-${id}"]`).count(), 0, `${id} is not flapping`);
  });
});
