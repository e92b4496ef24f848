// Security between real agent processes: no start without a cluster key, a joining node gets
// its certificate from the cluster, the API wants the management token, and forged
// certificates, impersonation and unsealed enrollment requests are refused.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SappersClient } from '../../src/client/client.ts';
import { createCertificateAuthority, generateNodeKey, issueNodeCertificate } from '../../src/runtime/pki/certificates.ts';
import { TcpRpcTransport } from '../../src/runtime/transport/rpc.ts';
import { TransportError } from '../../src/runtime/transport/types.ts';
import { Keyring, generateKey } from '../../src/wire/keyring.ts';
import { createWireCodec } from '../../src/wire/messages.ts';
import { runCli, startAgent, testSecrets, type AgentProcess } from '../helpers/agent-process.ts';
import { until } from '../helpers/until.ts';

const root = await mkdtemp(join(tmpdir(), 'sappers-security-'));
const running = new Set<AgentProcess>();
const transports = new Set<TcpRpcTransport>();
after(async () => {
  await Promise.all([...transports].map((t) => t.close()));
  await Promise.all([...running].map((a) => a.stop('SIGKILL')));
  await rm(root, { recursive: true, force: true });
});

async function agent(name: string, extra: string[] = []): Promise<AgentProcess> {
  const a = await startAgent(['--data-dir', join(root, name), '--node-id', name, '--bind', '127.0.0.1', '--gossip-preset', 'local', ...extra]);
  running.add(a);
  return a;
}

/** An RPC client on loopback presenting `tls` (or none). */
async function rpcClient(tls?: { cert: string; key: string; ca: string }): Promise<TcpRpcTransport> {
  const t = await TcpRpcTransport.listen({ host: '127.0.0.1', port: 0, connectTimeoutMs: 2000, ...(tls === undefined ? {} : { tls: { ...tls, verifyServer: 'ca' as const } }) });
  transports.add(t);
  return t;
}

function leaveRequest(node: string): Uint8Array {
  const encoded = createWireCodec().encode({ type: 'cluster.leave', body: { node } });
  assert.ok(encoded.ok);
  return encoded.value;
}

describe('security between real agents', { concurrency: false }, () => {
  it('refuses to start without a cluster key, explaining the choices; --insecure starts with a loud warning', async () => {
    const refused = await runCli(['agent', '--data-dir', join(root, 'nokey'), '--bind', '127.0.0.1', '--http-port', '0', '--rpc-port', '0', '--gossip-port', '0']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /refusing to start without a cluster key: create one with "sappers keygen --out/);
    assert.match(refused.stderr, /--insecure/);

    const open = await agent('open', ['--insecure']);
    assert.ok(open.lines.some((l) => l.includes('SECURITY IS OFF (--insecure)')));
    // No token needed, and none is checked.
    assert.equal((await new SappersClient({ addr: open.addr }).status()).nodeId, 'open');
    await open.stop('SIGINT');
    running.delete(open);
  });

  it('a joining node is certified by the cluster; the API wants the management token; secrets are 0600', async () => {
    const s1 = await agent('s1');
    const status = await new SappersClient({ ...s1.api }).status();
    const s2 = await agent('s2', ['--join', `127.0.0.1:${status.ports.gossip}`]);
    await until('s2 to join the configuration', async () => {
      const view = await new SappersClient({ ...s1.api }).status();
      return [...view.voters, ...view.learners].includes('s2') ? true : undefined;
    });
    await until('s2 to receive its certificate', async () => (s2.lines.some((l) => l.includes("received this node's certificate from the cluster")) ? true : undefined));
    // Its API answers once it has caught up with the cluster's security settings.
    await until('s2 to accept the management token', () => new SappersClient({ ...s2.api }).status());
    // A write through the certified joiner reaches the leader over mutual TLS.
    const written = await new SappersClient({ ...s2.api, timeoutMs: 15_000 }).kvPut('secure/hello', 'world');
    assert.ok(written.revision > 0);

    const none = await new SappersClient({ addr: s1.addr }).status().catch((e: unknown) => e);
    assert.equal((none as { status?: number }).status, 401);
    assert.match(String((none as Error).message), /needs the management token: pass --token or set SAPPERS_TOKEN/);
    const wrong = await new SappersClient({ addr: s1.addr, token: 'not-the-token-at-all' }).kvGet('secure/hello').catch((e: unknown) => e);
    assert.equal((wrong as { status?: number }).status, 403);
    const cli = await runCli(['kv', 'get', 'secure/hello', '--addr', s2.addr], { SAPPERS_TOKEN: '' });
    assert.equal(cli.code, 1);
    assert.match(cli.stderr, /HTTP 401, unauthorized/);
    const viaFile = await runCli(['kv', 'get', 'secure/hello', '--addr', s2.addr, '--token-file', testSecrets().tokenFile], { SAPPERS_TOKEN: '' });
    assert.equal(viaFile.code, 0, viaFile.stderr);
    assert.match(viaFile.stdout, /world/);

    for (const file of [join(root, 's1', 'tls', 'node.key'), join(root, 's1', 'tls', 'ca.key'), join(root, 's2', 'tls', 'node.key'), join(root, 's2', 'keyring.json')]) {
      assert.equal((await stat(file)).mode & 0o777, 0o600, file);
    }
  });

  it('refuses a forged certificate, a certified peer speaking for another node, and unsealed enrollment', async () => {
    const s1 = [...running].find((a) => a.nodeId === 's1')!;
    const status = await new SappersClient({ ...s1.api }).status();
    const rpcAddr = `127.0.0.1:${status.ports.rpc}`;
    const gossipAddr = `127.0.0.1:${status.ports.gossip}`;
    const now = new Date();

    // A certificate for a real member's ID, from a CA the cluster never heard of.
    const forgedCa = createCertificateAuthority('forged', now);
    const forgedKey = generateNodeKey();
    const forged = await rpcClient({ cert: issueNodeCertificate(forgedCa, 's2', forgedKey.publicKeyDer, now), key: forgedKey.keyPem, ca: (await readFile(join(root, 's1', 'tls', 'ca.crt'), 'utf8')) });
    await assert.rejects(forged.request(rpcAddr, 'cluster.leave', leaveRequest('s2'), { timeoutMs: 3000 }), (e: unknown) => e instanceof TransportError && e.code === 'unreachable');

    // Without any certificate: the TLS handshake fails too.
    const bare = await rpcClient({ ...(() => {
      const ca = createCertificateAuthority('bare', now);
      const k = generateNodeKey();
      return { cert: issueNodeCertificate(ca, 'bare', k.publicKeyDer, now), key: k.keyPem };
    })(), ca: await readFile(join(root, 's1', 'tls', 'ca.crt'), 'utf8') });
    await assert.rejects(bare.request(rpcAddr, 'cluster.log-position', new Uint8Array(0), { timeoutMs: 3000 }), TransportError);

    // A genuine certificate (signed with the real CA key) for "mallory" cannot ask for s2's removal.
    const ca = { certPem: await readFile(join(root, 's1', 'tls', 'ca.crt'), 'utf8'), keyPem: await readFile(join(root, 's1', 'tls', 'ca.key'), 'utf8') };
    const malloryKey = generateNodeKey();
    const mallory = await rpcClient({ cert: issueNodeCertificate(ca, 'mallory', malloryKey.publicKeyDer, now), key: malloryKey.keyPem, ca: ca.certPem });
    await assert.rejects(mallory.request(rpcAddr, 'cluster.leave', leaveRequest('s2'), { timeoutMs: 3000 }), (e: unknown) => e instanceof TransportError && e.code === 'remote' && /mallory may not ask for s2 to leave/.test(e.message));

    // Enrollment must be sealed with the cluster key: plaintext and a wrong key are refused.
    const gossipSide = await rpcClient();
    const enroll = createWireCodec().encode({ type: 'security.enroll', body: { node: 'mallory', publicKey: malloryKey.publicKeyDer } });
    assert.ok(enroll.ok);
    await assert.rejects(gossipSide.request(gossipAddr, 'security.enroll', enroll.value, { timeoutMs: 3000 }), (e: unknown) => e instanceof TransportError && e.code === 'remote' && /not sealed with this cluster's key/.test(e.message));
    const wrongRing = new Keyring([Buffer.from(generateKey(), 'base64')]);
    await assert.rejects(gossipSide.request(gossipAddr, 'security.enroll', wrongRing.seal(enroll.value), { timeoutMs: 3000 }), (e: unknown) => e instanceof TransportError && /auth-failed/.test(e.message));
    // With the right key but for a node gossip does not know: refused with a reason, no certificate.
    const rightRing = new Keyring([Buffer.from((await readFile(testSecrets().keyFile, 'utf8')).trim(), 'base64')]);
    const sealedReply = await gossipSide.request(gossipAddr, 'security.enroll', rightRing.seal(enroll.value), { timeoutMs: 3000 });
    const opened = rightRing.open(sealedReply);
    assert.ok(opened.ok);
    const reply = createWireCodec().decode(opened.value);
    assert.ok(reply.ok && reply.value.type === 'security.enroll-reply');
    assert.deepEqual(reply.value.body, { ok: false, reason: 'mallory is not an alive member in gossip here yet' });

    // The cluster still works, and s2 is still a member.
    const after = await new SappersClient({ ...s1.api }).status();
    assert.ok([...after.voters, ...after.learners].includes('s2'));
  });
});
