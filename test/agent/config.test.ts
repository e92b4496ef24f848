import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_CONFIG, formatConfigErrors, loadConfig } from '../../src/agent/config.ts';

const none = { env: {}, flags: {} };

describe('agent config', () => {
  it('uses the defaults when nothing is given', () => {
    const result = loadConfig(none);
    assert.deepEqual(result, { ok: true, value: DEFAULT_CONFIG });
  });

  it('layers file, then environment, then flags', () => {
    const text = ['nodeId: from-file', 'ports:', '  http: 8000', '  rpc: 8001', 'tags:', '  zone: a', 'join: [10.0.0.1:7702]'].join('\n');
    const result = loadConfig({
      file: { path: 'agent.yaml', text },
      env: { SAPPERS_HTTP_PORT: '9000', SAPPERS_NODE_ID: 'from-env', SAPPERS_TAGS: 'hub=true,zone=b' },
      flags: { nodeId: 'from-flag', join: ['a.example:7702', 'b.example:7702'] },
    });
    assert.ok(result.ok, result.ok ? '' : formatConfigErrors(result.error));
    assert.equal(result.value.nodeId, 'from-flag');
    assert.equal(result.value.ports.http, 9000);
    assert.equal(result.value.ports.rpc, 8001);
    assert.equal(result.value.ports.gossip, DEFAULT_CONFIG.ports.gossip);
    assert.deepEqual(result.value.tags, { hub: 'true', zone: 'b' });
    assert.deepEqual(result.value.join, ['a.example:7702', 'b.example:7702']);
  });

  it('names file, line, column and field of a bad value', () => {
    const text = ['bind: 127.0.0.1', 'ports:', '  http: 70000', 'log:', '  level: loud'].join('\n');
    const result = loadConfig({ ...none, file: { path: '/etc/sappers.yaml', text } });
    assert.ok(!result.ok);
    const message = formatConfigErrors(result.error);
    assert.match(message, /^\/etc\/sappers\.yaml:3:9: ports\.http: expected integer to be less or equal to 65535 \(got 70000\)$/m);
    assert.match(message, /^\/etc\/sappers\.yaml:5:10: log\.level: /m);
  });

  it('names an unknown field at its key', () => {
    const result = loadConfig({ ...none, file: { path: 'a.yaml', text: 'bind: x\nprots:\n  http: 1\n' } });
    assert.ok(!result.ok);
    assert.equal(formatConfigErrors(result.error), 'a.yaml:2:1: prots: unknown field "prots"');
  });

  it('reports YAML syntax errors with their position', () => {
    const result = loadConfig({ ...none, file: { path: 'a.yaml', text: 'bind: x\nports: [1, 2\n' } });
    assert.ok(!result.ok);
    assert.match(result.error[0]!.source, /^a\.yaml:\d+:\d+$/);
    assert.match(result.error[0]!.message, /^invalid YAML/);
  });

  it('rejects a file that is not a mapping, and duplicate keys', () => {
    const list = loadConfig({ ...none, file: { path: 'a.yaml', text: '- 1\n- 2\n' } });
    assert.ok(!list.ok && /must be a YAML mapping/.test(list.error[0]!.message));
    const dup = loadConfig({ ...none, file: { path: 'a.yaml', text: 'bind: a\nbind: b\n' } });
    assert.ok(!dup.ok && dup.error[0]!.source.startsWith('a.yaml:2:'));
  });

  it('names the environment variable or flag of a bad value', () => {
    const env = loadConfig({ env: { SAPPERS_HTTP_PORT: 'eighty' }, flags: {} });
    assert.ok(!env.ok);
    assert.equal(formatConfigErrors(env.error), 'environment SAPPERS_HTTP_PORT: ports.http: expected a port number 0-65535, got "eighty"');
    const flag = loadConfig({ env: {}, flags: { rpcPort: '99999' } });
    assert.ok(!flag.ok);
    assert.match(formatConfigErrors(flag.error), /^flag --rpc-port: ports\.rpc: expected integer to be less or equal to 65535/);
    const tag = loadConfig({ env: {}, flags: { tag: ['novalue'] } });
    assert.ok(!tag.ok);
    assert.match(formatConfigErrors(tag.error), /^flag --tag: tags: expected key=value, got "novalue"/);
    const badKey = loadConfig({ env: {}, flags: { tag: ['bad key=1'] } });
    assert.ok(!badKey.ok);
    assert.match(formatConfigErrors(badKey.error), /^flag --tag: tags\.bad key: tag keys are/);
    const tls = loadConfig({ env: { SAPPERS_TLS_CERT_FILE: '/etc/node.crt' }, flags: {} });
    assert.ok(!tls.ok);
    assert.equal(formatConfigErrors(tls.error), 'environment SAPPERS_TLS_CERT_FILE: security.tls: give certFile, keyFile and caFile together (or none: certificates then come from the cluster CA)');
    const insecure = loadConfig({ env: { SAPPERS_INSECURE: 'maybe' }, flags: {} });
    assert.ok(!insecure.ok);
    assert.match(formatConfigErrors(insecure.error), /^environment SAPPERS_INSECURE: security\.insecure: expected true or false/);
    const preset = loadConfig({ env: {}, flags: { gossipPreset: 'moon' } });
    assert.ok(!preset.ok);
    assert.match(formatConfigErrors(preset.error), /^flag --gossip-preset: gossip\.preset: /);
    const join = loadConfig({ env: {}, flags: { join: ['no-port'] } });
    assert.ok(!join.ok);
    assert.match(formatConfigErrors(join.error), /^flag --join: join\.0: /);
  });
});
