import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SappersClient } from '../../src/client/client.ts';
import { runCli, startAgent } from '../helpers/agent-process.ts';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sappers-test-'));
  dirs.push(dir);
  return dir;
}
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe('sappers agent (real processes)', () => {
  it('serves /v1/status, keeps its identity across restarts and stops cleanly on SIGINT and SIGTERM', async () => {
    const dataDir = await tempDir();
    const first = await startAgent(['--data-dir', dataDir, '--bind', '127.0.0.1', '--http-port', '0', '--tag', 'zone=a']);
    try {
      const status = await new SappersClient({ ...first.api }).status();
      assert.equal(status.nodeId, first.nodeId);
      assert.equal(status.ports.http, first.httpPort);
      assert.equal(status.dataDir, dataDir);
      // With nothing to join, the agent originates a one-node cluster and leads it.
      assert.equal(status.state, 'active');
      assert.equal(status.leader, first.nodeId);
      assert.deepEqual(status.voters, [first.nodeId]);
      assert.ok(status.ports.rpc !== null && status.ports.rpc > 0);
      assert.equal((await readFile(join(dataDir, 'node-id'), 'utf8')).trim(), first.nodeId);
    } finally {
      assert.equal(await first.stop('SIGINT'), 0);
    }
    await assert.rejects(stat(join(dataDir, 'LOCK')), { code: 'ENOENT' });

    const second = await startAgent(['--data-dir', dataDir, '--bind', '127.0.0.1', '--http-port', '0']);
    try {
      assert.equal(second.nodeId, first.nodeId);
    } finally {
      assert.equal(await second.stop('SIGTERM'), 0);
    }
  });

  it('reports waiting-for-nodes while fewer nodes are alive than cluster.minNodes', async () => {
    const agent = await startAgent(['--dev', '--min-nodes', '2']);
    try {
      const status = await new SappersClient({ ...agent.api }).status();
      assert.equal(status.state, 'waiting-for-nodes');
      // Consensus itself works: the one node leads and accepts writes.
      assert.equal(status.leader, agent.nodeId);
      assert.ok((await new SappersClient({ ...agent.api }).kvPut('k', 'v')).revision > 0);
    } finally {
      assert.equal(await agent.stop('SIGINT'), 0);
    }
  });

  it('--dev uses a temporary data dir on loopback and removes it on shutdown', async () => {
    const agent = await startAgent(['--dev', '--http-port', '0']);
    const status = await new SappersClient({ ...agent.api }).status();
    assert.equal(status.bind, '127.0.0.1');
    await stat(status.dataDir);
    assert.equal(await agent.stop('SIGINT'), 0);
    await assert.rejects(stat(status.dataDir), { code: 'ENOENT' });
  });

  it('refuses a data dir that another live agent holds, and takes over a stale lock', async () => {
    const dataDir = await tempDir();
    const holder = await startAgent(['--data-dir', dataDir, '--bind', '127.0.0.1', '--http-port', '0']);
    try {
      const second = await runCli(['agent', '--data-dir', dataDir, '--bind', '127.0.0.1', '--http-port', '0']);
      assert.equal(second.code, 1);
      assert.match(second.stderr, new RegExp(`data directory ${dataDir} is in use by another agent \\(pid ${holder.child.pid}\\)`));
    } finally {
      assert.equal(await holder.stop('SIGKILL'), 'SIGKILL');
    }
    // SIGKILL left the LOCK file behind; its pid is dead, so the next agent takes over.
    await stat(join(dataDir, 'LOCK'));
    const next = await startAgent(['--data-dir', dataDir, '--bind', '127.0.0.1', '--http-port', '0']);
    assert.equal(next.nodeId, holder.nodeId);
    assert.equal(await next.stop(), 0);
  });

  it('refuses a --node-id that differs from the stored identity', async () => {
    const dataDir = await tempDir();
    await writeFile(join(dataDir, 'node-id'), 'node-a\n');
    const result = await runCli(['agent', '--data-dir', dataDir, '--node-id', 'node-b', '--http-port', '0']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /--node-id node-b differs from the ID node-a stored in/);
  });

  it('exits 2 naming file, line and field for a bad config file', async () => {
    const dir = await tempDir();
    const file = join(dir, 'agent.yaml');
    await writeFile(file, 'bind: 127.0.0.1\nports:\n  http: "eighty"\n');
    const result = await runCli(['agent', '--config', file]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, new RegExp(`${file}:3:9: ports\\.http: expected integer`));
    const missing = await runCli(['agent', '--config', join(dir, 'nope.yaml')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read configuration file .*nope\.yaml: no such file/);
  });

  it('reports a busy port clearly', async () => {
    const holder = await startAgent(['--dev', '--http-port', '0']);
    try {
      const result = await runCli(['agent', '--dev', '--http-port', String(holder.httpPort)]);
      assert.equal(result.code, 1);
      assert.match(result.stderr, new RegExp(`HTTP port ${holder.httpPort} on 127\\.0\\.0\\.1 is already in use`));
    } finally {
      await holder.stop();
    }
  });
});

describe('sappers CLI', () => {
  it('prints its version and help for every command', async () => {
    const version = await runCli(['--version']);
    assert.equal(version.code, 0);
    assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
    for (const args of [['--help'], ['agent', '--help'], ['status', '--help']]) {
      const help = await runCli(args);
      assert.equal(help.code, 0, args.join(' '));
      assert.match(help.stdout, /^Usage: sappers/);
    }
  });

  it('status prints a table, or JSON with --json, from --addr or SAPPERS_ADDR', async () => {
    const agent = await startAgent(['--dev', '--http-port', '0']);
    try {
      const table = await runCli(['status', '--addr', agent.addr]);
      assert.equal(table.code, 0, table.stderr);
      assert.match(table.stdout, new RegExp(`^Node\\s+${agent.nodeId}$`, 'm'));
      const json = await runCli(['status', '--json'], { SAPPERS_ADDR: agent.addr });
      assert.equal(json.code, 0, json.stderr);
      assert.equal((JSON.parse(json.stdout) as { nodeId: string }).nodeId, agent.nodeId);
    } finally {
      await agent.stop();
    }
  });

  it('says clearly when no agent answers, and rejects unknown commands', async () => {
    const down = await runCli(['status', '--addr', 'http://127.0.0.1:9']);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /cannot reach the agent at http:\/\/127\.0\.0\.1:9/);
    const unknown = await runCli(['stauts']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command 'stauts'/);
  });
});
