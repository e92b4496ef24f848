// TcpRpcTransport over TLS and mutual TLS, with certificates made by the openssl CLI in a temp
// dir (skipped, with the reason printed, where openssl is missing).
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import type { RpcTlsOptions } from '../../../src/runtime/transport/rpc.ts';
import { bytes, isTransportError, portOf, Resources, text } from './helpers.ts';

interface Pki {
  readonly ca: string;
  readonly node: { cert: string; key: string };
  readonly otherCa: string;
  /** A node certificate signed by otherCa (untrusted by nodes that trust ca). */
  readonly stranger: { cert: string; key: string };
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

function makeCa(dir: string, name: string): void {
  openssl(dir, [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
}

function makeLeaf(dir: string, name: string, ca: string): { cert: string; key: string } {
  writeFileSync(
    join(dir, `${name}.ext`),
    'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1,DNS:server.sappers\n',
  );
  openssl(dir, ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`]);
  return { cert: readFileSync(join(dir, `${name}.crt`), 'utf8'), key: readFileSync(join(dir, `${name}.key`), 'utf8') };
}

function opensslMissing(): string | null {
  try {
    execFileSync('openssl', ['version'], { stdio: 'pipe' });
    return null;
  } catch (e) {
    return `openssl CLI not available (${(e as Error).message}); TLS tests need it to make certificates`;
  }
}

const skipReason = opensslMissing();
if (skipReason !== null) console.log(`# skipping TLS tests: ${skipReason}`);

describe('TcpRpcTransport over TLS', { skip: skipReason ?? false }, () => {
  let dir = '';
  let pki: Pki;
  let res: Resources;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sappers-tls-'));
    makeCa(dir, 'ca');
    makeCa(dir, 'other-ca');
    pki = {
      ca: readFileSync(join(dir, 'ca.crt'), 'utf8'),
      node: makeLeaf(dir, 'node', 'ca'),
      otherCa: readFileSync(join(dir, 'other-ca.crt'), 'utf8'),
      stranger: makeLeaf(dir, 'stranger', 'other-ca'),
    };
  });
  after(() => {
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    res = new Resources();
  });
  afterEach(async () => {
    await res.closeAll();
  });

  const tls = (extra: Partial<RpcTlsOptions> = {}): RpcTlsOptions => ({ ...pki.node, ca: pki.ca, ...extra });

  it('serves requests over TLS, verifying the server against the CA', async () => {
    const server = await res.rpc({ tls: tls() });
    server.handle('echo', (body) => body);
    const client = await res.rpc({ tls: tls() });
    const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => client.request(server.localAddress, 'echo', bytes(`m${i}`))));
    assert.deepEqual(replies.map(text), Array.from({ length: 50 }, (_, i) => `m${i}`));
    assert.equal(server.counters.accepted, 1);
  });

  it("refuses a server whose certificate is not from the trusted CA ('unreachable')", async () => {
    const server = await res.rpc({ tls: tls() });
    server.handle('echo', (body) => body);
    const client = await res.rpc({ tls: tls({ ca: pki.otherCa }) });
    await assert.rejects(client.request(server.localAddress, 'echo', bytes('x')), isTransportError('unreachable'));
    assert.equal(client.counters.dialFailures, 1);
  });

  it('checks the server name given by serverName instead of the dialed IP', async () => {
    const server = await res.rpc({ tls: tls() });
    server.handle('echo', (body) => body);
    const good = await res.rpc({ tls: tls({ serverName: 'server.sappers' }) });
    assert.equal(text(await good.request(server.localAddress, 'echo', bytes('ok'))), 'ok');
    const wrong = await res.rpc({ tls: tls({ serverName: 'other.sappers' }) });
    await assert.rejects(wrong.request(server.localAddress, 'echo', bytes('x')), isTransportError('unreachable', 'other.sappers'));
  });

  describe('mutual TLS', () => {
    it('serves a client with a certificate from the CA', async () => {
      const server = await res.rpc({ tls: tls({ requireClientCert: true }) });
      server.handle('who', (_body, ctx) => bytes(ctx.from));
      const client = await res.rpc({ tls: tls() });
      assert.match(text(await client.request(server.localAddress, 'who', bytes(''))), /^127\.0\.0\.1:\d+$/);
    });

    it('refuses a client without a certificate before any RPC byte is exchanged', async () => {
      const server = await res.rpc({ tls: tls({ requireClientCert: true }) });
      server.handle('echo', (body) => body);
      const received = await new Promise<Buffer>((resolve, reject) => {
        const chunks: Buffer[] = [];
        const socket = tlsConnect({ host: '127.0.0.1', port: portOf(server.localAddress), ca: pki.ca });
        const timer = setTimeout(() => {
          socket.destroy();
          reject(new Error('the server did not refuse the client within 5 s'));
        }, 5000);
        socket.on('data', (d: Buffer) => chunks.push(d));
        socket.on('error', () => {});
        socket.on('close', () => {
          clearTimeout(timer);
          resolve(Buffer.concat(chunks));
        });
      });
      assert.equal(received.length, 0, 'not even the hello');
      assert.equal(server.counters.accepted, 0);
      assert.ok(server.counters.tlsClientErrors >= 1);
    });

    it("refuses a client whose certificate is from another CA ('unreachable' at the client)", async () => {
      const server = await res.rpc({ tls: tls({ requireClientCert: true }) });
      server.handle('echo', (body) => body);
      const client = await res.rpc({ tls: { ...pki.stranger, ca: pki.ca } });
      await assert.rejects(client.request(server.localAddress, 'echo', bytes('x')), isTransportError('unreachable'));
      assert.equal(server.counters.accepted, 0);
    });
  });

  it('does not mix plain and TLS peers, and the TLS server keeps serving', async () => {
    const tlsServer = await res.rpc({ tls: tls() });
    tlsServer.handle('echo', (body) => body);
    const plainServer = await res.rpc();
    plainServer.handle('echo', (body) => body);
    const plainClient = await res.rpc({ connectTimeoutMs: 2000 });
    const tlsClient = await res.rpc({ tls: tls(), connectTimeoutMs: 2000 });
    await assert.rejects(plainClient.request(tlsServer.localAddress, 'echo', bytes('x')), isTransportError('unreachable'));
    await assert.rejects(tlsClient.request(plainServer.localAddress, 'echo', bytes('x')), isTransportError('unreachable'));
    assert.equal(text(await tlsClient.request(tlsServer.localAddress, 'echo', bytes('still'))), 'still');
  });
});
