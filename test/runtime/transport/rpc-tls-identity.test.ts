// Mutual TLS with the cluster's own certificates (src/runtime/pki/certificates.ts): the peer's
// verified node ID reaches handlers as ctx.peerIdentity, certificates from another CA are
// refused both ways, verifyServer 'ca' trusts the CA rather than the dialed address, and
// setTlsCredentials moves a node from a placeholder identity to its real one.
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createCertificateAuthority, generateNodeKey, issueNodeCertificate, type CertifiedKey } from '../../../src/runtime/pki/certificates.ts';
import type { RpcTlsOptions, TcpRpcTransport } from '../../../src/runtime/transport/rpc.ts';
import type { RequestContext } from '../../../src/runtime/transport/types.ts';
import { bytes, isTransportError, Resources, text, waitFor } from './helpers.ts';

// Certificates are checked against the real clock by TLS, so they are issued now.
const NOW = new Date();
const CA = createCertificateAuthority('test', NOW);
/** Same name as the cluster CA, different key: what an attacker would make. */
const FORGED_CA = createCertificateAuthority('test', NOW);
/** What an unenrolled node listens with (src/agent/security.ts): trusted by nobody, trusting nobody. */
const THROWAWAY_CA = createCertificateAuthority('unenrolled', NOW);

function certify(ca: CertifiedKey, nodeId: string): CertifiedKey {
  const key = generateNodeKey();
  return { certPem: issueNodeCertificate(ca, nodeId, key.publicKeyDer, NOW), keyPem: key.keyPem };
}

const NODE_A = certify(CA, 'node-a');
const NODE_B = certify(CA, 'node-b');
const FORGED_B = certify(FORGED_CA, 'node-b');

function mtls(node: CertifiedKey, ca: CertifiedKey = CA, extra: Partial<RpcTlsOptions> = {}): RpcTlsOptions {
  return { cert: node.certPem, key: node.keyPem, ca: ca.certPem, requireClientCert: true, verifyServer: 'ca', ...extra };
}

/** Resolves with the context of the next one-way message to `method`. */
function nextMessage(t: TcpRpcTransport, method: string): Promise<{ body: string; ctx: RequestContext }> {
  return new Promise((resolve) => t.onMessage(method, (body, ctx) => resolve({ body: text(body), ctx })));
}

const FAST = { connectTimeoutMs: 2000, requestTimeoutMs: 2000, reconnectBackoff: { initialDelayMs: 20, maxDelayMs: 20 } } as const;

describe('RPC peer identity under mutual TLS', () => {
  let res: Resources;
  beforeEach(() => {
    res = new Resources();
  });
  afterEach(async () => {
    await res.closeAll();
  });

  it('request and message handlers see the client node ID, each way', async () => {
    const a = await res.rpc({ ...FAST, tls: mtls(NODE_A) });
    const b = await res.rpc({ ...FAST, tls: mtls(NODE_B) });
    const seen: Array<string | undefined> = [];
    for (const t of [a, b]) {
      t.handle('who', (body, ctx) => {
        seen.push(ctx.peerIdentity);
        return bytes(`${text(body)} from ${ctx.peerIdentity ?? '?'}`);
      });
    }
    assert.equal(text(await a.request(b.localAddress, 'who', bytes('hi'))), 'hi from node-a');
    assert.equal(text(await b.request(a.localAddress, 'who', bytes('hi'))), 'hi from node-b');
    assert.deepEqual(seen, ['node-a', 'node-b']);

    const atB = nextMessage(b, 'note');
    assert.equal(a.send(b.localAddress, 'note', bytes('one-way')), true);
    const got = await atB;
    assert.equal(got.body, 'one-way');
    assert.equal(got.ctx.peerIdentity, 'node-a');
    assert.match(got.ctx.from, /^127\.0\.0\.1:\d+$/);
    const atA = nextMessage(a, 'note');
    assert.equal(b.send(a.localAddress, 'note', bytes('back')), true);
    assert.equal((await atA).ctx.peerIdentity, 'node-b');
  });

  it('refuses a client whose certificate comes from another CA (a forged node-b)', async () => {
    const server = await res.rpc({ ...FAST, tls: mtls(NODE_A) });
    let handled = 0;
    server.handle('echo', (body) => {
      handled++;
      return body;
    });
    server.onMessage('note', () => {
      handled++;
    });
    // The forger trusts the real CA, so it accepts the server: only the server can refuse it.
    const forger = await res.rpc({ ...FAST, tls: mtls(FORGED_B, CA) });
    await assert.rejects(forger.request(server.localAddress, 'echo', bytes('x')), isTransportError('unreachable'));
    await waitFor(() => server.counters.tlsClientErrors >= 1, 'the server to count the refused handshake');
    assert.equal(server.counters.accepted, 0);
    assert.equal(handled, 0);
    // The genuine node-b still gets through.
    const genuine = await res.rpc({ ...FAST, tls: mtls(NODE_B) });
    assert.equal(text(await genuine.request(server.localAddress, 'echo', bytes('ok'))), 'ok');
    assert.equal(handled, 1);
  });

  it('refuses a server whose certificate comes from another CA, though verifyServer is ca', async () => {
    // The forged server would accept our client (it trusts the real CA): the client must refuse it.
    const forged = await res.rpc({ ...FAST, tls: mtls(FORGED_B, CA) });
    let handled = 0;
    forged.handle('echo', (body) => {
      handled++;
      return body;
    });
    const client = await res.rpc({ ...FAST, tls: mtls(NODE_A) });
    await assert.rejects(client.request(forged.localAddress, 'echo', bytes('secret')), isTransportError('unreachable'));
    assert.equal(client.counters.dialFailures, 1);
    assert.equal(handled, 0);
  });

  it("verifyServer 'ca' accepts a server certificate that names no address; 'hostname' does not", async () => {
    const server = await res.rpc({ ...FAST, tls: mtls(NODE_B) });
    server.handle('echo', (body) => body);
    const byCa = await res.rpc({ ...FAST, tls: mtls(NODE_A) });
    assert.equal(text(await byCa.request(server.localAddress, 'echo', bytes('ok'))), 'ok');
    // The same certificates checked against the dialed IP: node certificates carry no IP SAN.
    const byHost = await res.rpc({ ...FAST, tls: mtls(NODE_A, CA, { verifyServer: 'hostname' }) });
    await assert.rejects(byHost.request(server.localAddress, 'echo', bytes('x')), isTransportError('unreachable', '127.0.0.1'));
  });

  it('setTlsCredentials moves a node from a placeholder identity to its real one, for new connections', async () => {
    const placeholder = certify(THROWAWAY_CA, 'node-n');
    const n = await res.rpc({ ...FAST, tls: mtls(placeholder, THROWAWAY_CA) });
    const a = await res.rpc({ ...FAST, tls: mtls(NODE_A) });
    const callers: Record<string, Array<string | undefined>> = { n: [], a: [] };
    n.handle('who', (_body, ctx) => {
      callers['n']!.push(ctx.peerIdentity);
      return bytes('n');
    });
    a.handle('who', (_body, ctx) => {
      callers['a']!.push(ctx.peerIdentity);
      return bytes('a');
    });

    // Unenrolled: neither side can talk to the other.
    await assert.rejects(a.request(n.localAddress, 'who', bytes('')), isTransportError('unreachable'));
    await assert.rejects(n.request(a.localAddress, 'who', bytes('')), isTransportError('unreachable'));
    assert.deepEqual(callers, { n: [], a: [] });

    const enrolled = certify(CA, 'node-n');
    n.setTlsCredentials({ cert: enrolled.certPem, key: enrolled.keyPem, ca: CA.certPem });

    // The failed dials left both channels backing off for a moment: new connections after it.
    await waitFor(() => a.peerStats(n.localAddress)?.state !== 'backoff' && n.peerStats(a.localAddress)?.state !== 'backoff', 'the reconnect backoff to pass');
    assert.equal(text(await a.request(n.localAddress, 'who', bytes(''))), 'n');
    assert.equal(text(await n.request(a.localAddress, 'who', bytes(''))), 'a');
    assert.deepEqual(callers, { n: ['node-a'], a: ['node-n'] });
    const atA = nextMessage(a, 'note');
    assert.equal(n.send(a.localAddress, 'note', bytes('enrolled')), true);
    assert.equal((await atA).ctx.peerIdentity, 'node-n');
  });

  it('a TLS server that does not ask for client certificates has no peer identity', async () => {
    const server = await res.rpc({ ...FAST, tls: mtls(NODE_B, CA, { requireClientCert: false }) });
    server.handle('who', (_body, ctx) => bytes(String(ctx.peerIdentity)));
    const client = await res.rpc({ ...FAST, tls: mtls(NODE_A) });
    assert.equal(text(await client.request(server.localAddress, 'who', bytes(''))), 'undefined');
  });

  it('without TLS peerIdentity is undefined, for requests and messages', async () => {
    const server = await res.rpc(FAST);
    const client = await res.rpc(FAST);
    let requestCtx: RequestContext | undefined;
    server.handle('who', (_body, ctx) => {
      requestCtx = ctx;
      return bytes('');
    });
    const message = nextMessage(server, 'note');
    await client.request(server.localAddress, 'who', bytes(''));
    assert.ok(requestCtx !== undefined);
    assert.equal(requestCtx.peerIdentity, undefined);
    assert.equal(requestCtx.method, 'who');
    assert.equal(client.send(server.localAddress, 'note', bytes('m')), true);
    assert.equal((await message).ctx.peerIdentity, undefined);
  });
});
