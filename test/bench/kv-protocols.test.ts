import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkEtcdPut, checkEtcdRange, checkSappersGet, checkSappersPut, etcdProtocol, etcdRevision, sappersProtocol } from '../../bench/lib/kv-protocols.ts';
import { parseEtcdStatus, parseEtcdVersion } from '../../bench/lib/etcd.ts';
import { promValue } from '../../bench/lib/kv-cluster.ts';

const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

describe('etcd gateway answers', () => {
  it('builds put and range with base64 key and value', () => {
    const put = etcdProtocol.put('bench/k0001', 'hello');
    assert.equal(put.spec.method, 'POST');
    assert.equal(put.spec.path, '/v3/kv/put');
    assert.deepEqual(JSON.parse(put.spec.body!.toString()), { key: Buffer.from('bench/k0001').toString('base64'), value: Buffer.from('hello').toString('base64') });
    const get = etcdProtocol.get('bench/k0001');
    assert.equal(get.spec.path, '/v3/kv/range');
    assert.deepEqual(JSON.parse(get.spec.body!.toString()), { key: Buffer.from('bench/k0001').toString('base64') });
  });

  it('accepts a put with a revision in its header (int64 as a JSON string)', () => {
    const ok = json({ header: { cluster_id: '14841639068965178418', member_id: '10276657743932975437', revision: '42', raft_term: '2' } });
    assert.equal(checkEtcdPut(200, ok), undefined);
    assert.equal(etcdRevision({ header: { revision: '42' } }), 42);
    assert.equal(etcdRevision({ header: { revision: 7 } }), 7);
    assert.equal(etcdRevision({ header: {} }), undefined);
    assert.equal(etcdRevision({ header: { revision: 'x' } }), undefined);
  });

  it('rejects gateway errors with their message, and answers that are not JSON', () => {
    assert.equal(checkEtcdPut(503, json({ error: 'etcdserver: no leader', message: 'etcdserver: no leader', code: 14 })), '503 etcdserver: no leader');
    assert.equal(checkEtcdPut(500, json({ error: 'etcdserver: request timed out', code: 14 })), '500 etcdserver: request timed out');
    assert.match(checkEtcdPut(200, Buffer.from('<html>')) ?? '', /without a revision/);
    assert.match(checkEtcdPut(502, Buffer.from('bad gateway')) ?? '', /^502 bad gateway/);
  });

  it('accepts a range that found the key, refuses one that did not', () => {
    const found = json({ header: { revision: '9' }, kvs: [{ key: 'YQ==', create_revision: '2', mod_revision: '9', version: '3', value: 'dg==' }], count: '1' });
    assert.equal(checkEtcdRange(200, found), undefined);
    // proto3 JSON leaves out empty fields: no kvs, no count.
    assert.match(checkEtcdRange(200, json({ header: { revision: '9' } })) ?? '', /key not found/);
    assert.match(checkEtcdRange(200, json({ header: {}, kvs: [{ key: 'YQ==' }] })) ?? '', /without a value/);
  });

  it('reads member status and version', () => {
    assert.deepEqual(parseEtcdStatus({ header: { member_id: '123' }, leader: '456', raftTerm: '3' }), { memberId: '123', leader: '456', raftTerm: 3 });
    assert.deepEqual(parseEtcdStatus({ header: { member_id: '123' }, leader: '0', raftTerm: '3' }), { memberId: '123', leader: undefined, raftTerm: 3 });
    assert.equal(parseEtcdStatus({ leader: '1' }), undefined);
    assert.equal(parseEtcdStatus(null), undefined);
    assert.equal(parseEtcdVersion('etcd Version: 3.4.23\nGit SHA: Not provided\nGo Version: go1.19.8\n'), '3.4.23');
    assert.equal(parseEtcdVersion('something else'), undefined);
  });
});

describe('Sappers answers', () => {
  it('builds PUT and GET on /v1/kv with the token when there is one', () => {
    const p = sappersProtocol('tok');
    const put = p.put('bench/k0001', 'hello');
    assert.equal(put.spec.method, 'PUT');
    assert.equal(put.spec.path, '/v1/kv/bench/k0001');
    assert.equal(put.spec.headers['authorization'], 'Bearer tok');
    assert.equal(put.spec.body!.toString(), 'hello');
    assert.equal(sappersProtocol(undefined).get('a b/c').spec.path, '/v1/kv/a%20b/c');
    assert.equal(sappersProtocol(undefined).get('x').spec.headers['authorization'], undefined);
  });

  it('judges writes and reads', () => {
    assert.equal(checkSappersPut(200, json({ revision: 5 })), undefined);
    assert.match(checkSappersPut(200, json({})) ?? '', /without a revision/);
    assert.equal(checkSappersPut(503, json({ error: { code: 'no-leader', message: 'no leader is known' } })), '503 no-leader');
    assert.equal(checkSappersGet(200, json({ key: 'k', value: 'v', valueEncoding: 'utf8', createRevision: 1, modRevision: 1, version: 1 })), undefined);
    assert.equal(checkSappersGet(404, json({ error: { code: 'not-found', message: 'no key' } })), '404 not-found');
    assert.match(checkSappersGet(500, Buffer.from('oops')) ?? '', /^500 oops/);
  });
});

describe('promValue', () => {
  const text = [
    '# HELP sappers_raft_leader_changes_total Leaders seen',
    '# TYPE sappers_raft_leader_changes_total counter',
    'sappers_raft_leader_changes_total 3',
    'sappers_raft_leader_changes_total_extra 100',
    'etcd_server_leader_changes_seen_total 2',
    'x{a="1"} 4',
    'x{a="2"} 5.5',
  ].join('\n');

  it('reads a metric by its exact name, summing label sets', () => {
    assert.equal(promValue(text, 'sappers_raft_leader_changes_total'), 3);
    assert.equal(promValue(text, 'etcd_server_leader_changes_seen_total'), 2);
    assert.equal(promValue(text, 'x'), 9.5);
    assert.equal(promValue(text, 'missing'), undefined);
  });
});
