// The fault helpers themselves, without agents: partitions really drop (and only the way they
// say), netem is installed and removed, the small disk fills and frees, and leftovers of a dead
// run are removed while a live run's are not. Run by `npm run test:faults` (root).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { Faults, netemSkipReason, smallDisk } from './faults.ts';
import { netnsSkipReason, removeLeftovers, TestNetwork, type Host } from './hosts.ts';

const skip = process.env['SAPPERS_FAULTS'] !== '1' ? 'network-namespace fault tests run with `npm run test:faults`' : netnsSkipReason();
if (skip !== undefined) console.log(`# netns fault helper tests skipped: ${skip}`);

const PROBE_PORT = 9999;

describe('netns fault helpers', { skip: skip ?? false, concurrency: false }, () => {
  let net: TestNetwork;
  let faults: Faults;

  before(async () => {
    net = await TestNetwork.create({ hosts: 2 });
    faults = new Faults(net);
  });
  after(async () => {
    await net?.destroy();
  });

  /**
   * Whether UDP datagrams from `from` reach `to`: a listener in `to`'s namespace, a sender in
   * `from`'s that sends a few datagrams. Not arriving within a few seconds counts as lost.
   */
  async function reaches(from: Host, to: Host): Promise<boolean> {
    const listener = spawn('ip', ['netns', 'exec', to.ns, process.execPath, '-e', `
      const s = require('node:dgram').createSocket('udp4');
      s.on('message', () => { console.log('got'); process.exit(0); });
      s.bind(${PROBE_PORT}, '${to.ip}', () => console.log('ready'));
      setTimeout(() => { console.log('none'); process.exit(0); }, 3000);
    `], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    listener.stdout.on('data', (d: Buffer) => (out += d.toString()));
    while (!out.includes('ready') && listener.exitCode === null) await new Promise((r) => setTimeout(r, 20));
    const sender = spawn('ip', ['netns', 'exec', from.ns, process.execPath, '-e', `
      const s = require('node:dgram').createSocket('udp4');
      let n = 0;
      const t = setInterval(() => { s.send('x', ${PROBE_PORT}, '${to.ip}'); if (++n === 10) { clearInterval(t); s.close(); } }, 100);
    `], { stdio: 'ignore' });
    await Promise.all([once(listener, 'exit'), once(sender, 'exit')]);
    return out.includes('got');
  }

  it('hosts reach each other; a one-way partition drops one direction only; a symmetric one both; heal restores', async () => {
    const [a, b] = net.hosts as [Host, Host];
    assert.equal(await reaches(a, b), true);
    assert.equal(await reaches(b, a), true);
    await faults.partitionOneWay([a], [b]);
    assert.equal(await reaches(a, b), false, 'a -> b should be dropped');
    assert.equal(await reaches(b, a), true, 'b -> a should still pass');
    await faults.partition([a], [b]);
    assert.equal(await reaches(b, a), false);
    await faults.healPartitions();
    assert.equal(await reaches(a, b), true);
    assert.equal(await reaches(b, a), true);
  });

  it('loss drops what a host sends, silently, until it is healed', async () => {
    const [a, b] = net.hosts as [Host, Host];
    await faults.loss(a, 100);
    assert.equal(await reaches(a, b), false);
    assert.equal(await reaches(b, a), true, 'loss is on what a sends, not on what it receives');
    await assert.rejects(faults.loss(a, 101), /percentage/);
    await faults.healAll();
    assert.equal(await reaches(a, b), true);
  });

  it('netem delay and reordering are installed on the host\'s link and removed', async (t) => {
    const [a] = net.hosts as [Host, Host];
    const reason = await netemSkipReason(net, a);
    if (reason !== undefined) {
      t.skip(reason);
      return;
    }
    await faults.netem(a, { lossPercent: 10, delayMs: 20, jitterMs: 5, reorderPercent: 25 });
    const shown = await net.exec(a, 'tc', ['qdisc', 'show', 'dev', 'eth0']);
    assert.match(shown, /netem/);
    assert.match(shown, /loss 10%/);
    assert.match(shown, /reorder 25%/);
    await assert.rejects(faults.netem(a, { reorderPercent: 5 }), /needs a delay/);
    await faults.healAll();
    assert.doesNotMatch(await net.exec(a, 'tc', ['qdisc', 'show', 'dev', 'eth0']), /netem/);
  });

  it('a small disk fills up (ENOSPC) and frees its space again', async () => {
    const disk = await smallDisk(join(net.root, 'small'), 1024 * 1024);
    try {
      const written = await disk.fill();
      assert.ok(written > 900 * 1024 && written <= 1024 * 1024, `wrote ${written} bytes`);
      assert.equal((await statfs(disk.dir)).bavail, 0);
      await disk.free();
      assert.ok((await statfs(disk.dir)).bavail > 0);
    } finally {
      await disk.unmount();
    }
  });

  it('leftovers of a dead run older than a minute are removed; a live run is left alone', () => {
    const oldRun = `${Math.floor((Date.now() - 120_000) / 1000).toString(36).padStart(6, '0')}zz`;
    execFileSync('ip', ['netns', 'add', `sap-${oldRun}-0`]);
    execFileSync('ip', ['link', 'add', `spb${oldRun}`, 'type', 'bridge']);
    const removed = removeLeftovers();
    assert.ok(removed.includes(oldRun));
    assert.ok(!removed.includes(net.run), 'the live run (its owner is this process) is kept');
    assert.doesNotMatch(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }), new RegExp(`sap-${oldRun}-`));
    assert.doesNotMatch(execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }), new RegExp(`spb${oldRun}`));
    assert.match(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }), new RegExp(`sap-${net.run}-0`));
  });
});
