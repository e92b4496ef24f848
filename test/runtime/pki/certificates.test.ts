// The cluster CA and node certificates (src/runtime/pki/certificates.ts), read back by
// node:crypto's X509Certificate and by the openssl CLI (`verify -x509_strict`), and the checks
// that guard a node's TLS setup.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CA_VALIDITY_DAYS,
  CertificateError,
  checkNodeCertificate,
  createCertificateAuthority,
  generateNodeKey,
  issueNodeCertificate,
  NODE_CERT_VALIDITY_DAYS,
  nodeUri,
  parseCertificate,
  publicKeyOf,
  summarize,
  type CertifiedKey,
} from '../../../src/runtime/pki/certificates.ts';

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
/** A fixed "now" keeps validity dates, and openssl's -attime, deterministic. */
const NOW = new Date('2030-06-15T12:34:56.789Z');
const NOW_SECONDS = new Date('2030-06-15T12:34:56Z');

function nodeCert(ca: CertifiedKey, nodeId: string, now = NOW, validityDays?: number): CertifiedKey {
  const key = generateNodeKey();
  return { certPem: issueNodeCertificate(ca, nodeId, key.publicKeyDer, now, validityDays), keyPem: key.keyPem };
}

function certificateError(pattern: RegExp): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof CertificateError, `expected a CertificateError, got ${String(e)}`);
    assert.match(e.message, pattern);
    return true;
  };
}

const spki = (key: { publicKey: { export(o: { type: 'spki'; format: 'der' }): Buffer } }): Uint8Array => new Uint8Array(key.publicKey.export({ type: 'spki', format: 'der' }));

describe('certificate authority and node certificates (node:crypto)', () => {
  const ca = createCertificateAuthority('alpha', NOW);
  const node = nodeCert(ca, 'node-1');
  const caX = new X509Certificate(ca.certPem);
  const nodeX = new X509Certificate(node.certPem);

  it('the CA is self-signed, a CA, and holds its key', () => {
    assert.equal(caX.ca, true);
    assert.equal(caX.subject, 'O=Sappers cluster\nCN=Sappers CA alpha');
    assert.equal(caX.issuer, caX.subject);
    assert.ok(caX.checkIssued(caX));
    assert.ok(caX.verify(caX.publicKey));
    assert.ok(caX.checkPrivateKey(createPrivateKey(ca.keyPem)));
    assert.equal(caX.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  });

  it('the node certificate is issued by the CA, verifies with its key, and matches its private key', () => {
    assert.equal(nodeX.ca, false);
    assert.ok(nodeX.checkIssued(caX));
    assert.ok(nodeX.verify(caX.publicKey));
    assert.ok(nodeX.checkPrivateKey(createPrivateKey(node.keyPem)));
    assert.equal(nodeX.issuer, caX.subject);
    // Signed by the CA, not by the node's own key.
    assert.equal(nodeX.verify(nodeX.publicKey), false);
    assert.equal(nodeX.checkPrivateKey(createPrivateKey(ca.keyPem)), false);
  });

  it('names the node ID as its common name and as a URI SAN, for both TLS ends', () => {
    assert.equal(nodeX.subject, 'O=Sappers cluster\nCN=node-1');
    assert.equal(nodeUri('node-1'), 'urn:sappers:node:node-1');
    assert.equal(nodeX.subjectAltName, 'URI:urn:sappers:node:node-1');
    // X509Certificate.keyUsage lists the extended key usages: serverAuth and clientAuth.
    assert.deepEqual(nodeX.keyUsage, ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
    // Identity never comes from an address: the certificate names no IP.
    assert.equal(nodeX.checkIP('127.0.0.1'), undefined);
  });

  it('validity: backdated an hour, CA ten years, node one year, whole seconds', () => {
    assert.equal(caX.validFromDate.getTime(), NOW_SECONDS.getTime() - HOUR_MS);
    assert.equal(caX.validToDate.getTime(), NOW_SECONDS.getTime() + CA_VALIDITY_DAYS * DAY_MS);
    assert.equal(nodeX.validFromDate.getTime(), NOW_SECONDS.getTime() - HOUR_MS);
    assert.equal(nodeX.validToDate.getTime(), NOW_SECONDS.getTime() + NODE_CERT_VALIDITY_DAYS * DAY_MS);
    const short = new X509Certificate(nodeCert(ca, 'node-2', NOW, 3).certPem);
    assert.equal(short.validToDate.getTime(), NOW_SECONDS.getTime() + 3 * DAY_MS);
  });

  it('serials are positive, 16 bytes, and differ between certificates', () => {
    const serials = [caX, nodeX, new X509Certificate(nodeCert(ca, 'node-1').certPem)].map((c) => c.serialNumber);
    for (const s of serials) {
      assert.match(s, /^[0-7][0-9A-F]{31}$/);
      assert.notEqual(s.slice(0, 2), '00');
    }
    assert.equal(new Set(serials).size, serials.length);
  });

  it('summarize reads the node ID, validity, serial and fingerprint', () => {
    const s = summarize(node.certPem, 'the node certificate');
    assert.deepEqual(s, {
      nodeId: 'node-1',
      notBefore: nodeX.validFromDate,
      notAfter: nodeX.validToDate,
      serial: nodeX.serialNumber,
      fingerprint: nodeX.fingerprint256,
    });
    // Node IDs as the agent's configuration allows them ([A-Za-z0-9][A-Za-z0-9._-]*, up to 128).
    for (const id of ['a', 'Node_7.example-b', 'n'.repeat(128)]) {
      assert.equal(summarize(nodeCert(ca, id).certPem, 'x').nodeId, id);
    }
  });

  it('publicKeyOf gives the SPKI the certificate was issued for', () => {
    const key = generateNodeKey();
    assert.deepEqual(publicKeyOf(key.keyPem), key.publicKeyDer);
    const cert = new X509Certificate(issueNodeCertificate(ca, 'node-9', key.publicKeyDer, NOW));
    assert.deepEqual(new Uint8Array(cert.publicKey.export({ type: 'spki', format: 'der' })), key.publicKeyDer);
  });

  it('a CA valid past 2049 writes GeneralizedTime that reads back', () => {
    const late = new Date('2045-01-01T00:00:00Z');
    const lateCa = new X509Certificate(createCertificateAuthority('late', late).certPem);
    assert.equal(lateCa.validToDate.getTime(), late.getTime() + CA_VALIDITY_DAYS * DAY_MS);
    assert.equal(lateCa.validToDate.getUTCFullYear(), 2054);
  });
});

describe('checkNodeCertificate', () => {
  const ca = createCertificateAuthority('alpha', NOW);
  const node = nodeCert(ca, 'node-1');

  it('accepts a genuine certificate at a time inside its validity', () => {
    const s = checkNodeCertificate(node, ca.certPem, NOW, 'the node certificate');
    assert.equal(s.nodeId, 'node-1');
    // The hour of backdating covers a peer whose clock runs behind.
    checkNodeCertificate(node, ca.certPem, new Date(NOW.getTime() - 59 * 60_000), 'x');
    checkNodeCertificate(node, ca.certPem, new Date(NOW.getTime() + (NODE_CERT_VALIDITY_DAYS - 1) * DAY_MS), 'x');
  });

  it('refuses a certificate from another CA, even one with the same name', () => {
    const other = createCertificateAuthority('other', NOW);
    assert.throws(() => checkNodeCertificate(nodeCert(other, 'node-1'), ca.certPem, NOW, 'the node certificate'), certificateError(/^the node certificate was not signed by the cluster CA$/));
    const twin = createCertificateAuthority('alpha', NOW);
    assert.equal(new X509Certificate(twin.certPem).subject, new X509Certificate(ca.certPem).subject);
    assert.throws(() => checkNodeCertificate(nodeCert(twin, 'node-1'), ca.certPem, NOW, 'the node certificate'), certificateError(/not signed by the cluster CA/));
  });

  it('refuses a certificate with somebody else\'s private key', () => {
    const other = nodeCert(ca, 'node-2');
    assert.throws(() => checkNodeCertificate({ certPem: node.certPem, keyPem: other.keyPem }, ca.certPem, NOW, 'node.crt'), certificateError(/^node\.crt does not belong to its private key$/));
  });

  it('refuses an expired certificate', () => {
    const old = nodeCert(ca, 'node-1', new Date('2001-01-01T00:00:00Z'), 1);
    assert.throws(
      () => checkNodeCertificate(old, ca.certPem, NOW, 'node.crt'),
      certificateError(/^node\.crt is valid from 2000-12-31T23:00:00\.000Z to 2001-01-02T00:00:00\.000Z, not now \(2030-06-15T12:34:56\.789Z\)$/),
    );
    // One second past notAfter is too late.
    assert.throws(() => checkNodeCertificate(old, ca.certPem, new Date('2001-01-02T00:00:01Z'), 'node.crt'), certificateError(/not now/));
    checkNodeCertificate(old, ca.certPem, new Date('2001-01-02T00:00:00Z'), 'node.crt');
  });

  it('refuses a certificate that is not valid yet', () => {
    const future = nodeCert(ca, 'node-1', new Date(NOW.getTime() + 10 * DAY_MS), 30);
    assert.throws(() => checkNodeCertificate(future, ca.certPem, NOW, 'node.crt'), certificateError(/^node\.crt is valid from 2030-06-25T11:34:56\.000Z to .*, not now/));
  });

  it('dates before 1950 are not read as 20YY (an expired 1949 certificate stays expired)', () => {
    const ancient = nodeCert(ca, 'node-1', new Date('1949-06-01T00:00:00Z'), 1);
    checkNodeCertificate(ancient, ca.certPem, new Date('1949-06-01T12:00:00Z'), 'old');
    assert.throws(() => checkNodeCertificate(ancient, ca.certPem, new Date('2049-06-01T12:00:00Z'), 'old'), certificateError(/valid from 1949-05-31T23:00:00\.000Z to 1949-06-02T00:00:00\.000Z/));
  });

  it('refuses garbage PEM for the certificate, the CA and the key, naming which', () => {
    assert.throws(() => checkNodeCertificate({ certPem: 'garbage', keyPem: node.keyPem }, ca.certPem, NOW, 'node.crt'), certificateError(/^node\.crt is not a PEM certificate: /));
    const truncated = node.certPem.slice(0, 200) + '\n-----END CERTIFICATE-----\n';
    assert.throws(() => checkNodeCertificate({ certPem: truncated, keyPem: node.keyPem }, ca.certPem, NOW, 'node.crt'), certificateError(/^node\.crt is not a PEM certificate/));
    assert.throws(() => checkNodeCertificate(node, 'not a CA', NOW, 'node.crt'), certificateError(/^the cluster CA certificate is not a PEM certificate: /));
    assert.throws(() => checkNodeCertificate({ certPem: node.certPem, keyPem: 'nope' }, ca.certPem, NOW, 'node.crt'), certificateError(/^the private key for node\.crt is not a PEM key: /));
    assert.throws(() => parseCertificate('', 'an empty file'), certificateError(/^an empty file is not a PEM certificate/));
    assert.throws(() => summarize('x', 'the thing'), certificateError(/^the thing is not a PEM certificate/));
  });
});

describe('issueNodeCertificate refuses keys it must not certify', () => {
  const ca = createCertificateAuthority('alpha', NOW);

  it('non-P-256 public keys: ed25519, RSA, P-384, secp256k1', () => {
    const keys: Array<[string, Uint8Array]> = [
      ['ed25519', spki(generateKeyPairSync('ed25519'))],
      ['rsa', spki(generateKeyPairSync('rsa', { modulusLength: 1024 }))],
      ['P-384', spki(generateKeyPairSync('ec', { namedCurve: 'P-384' }))],
      ['secp256k1', spki(generateKeyPairSync('ec', { namedCurve: 'secp256k1' }))],
    ];
    for (const [what, der] of keys) {
      assert.throws(() => issueNodeCertificate(ca, 'node-1', der, NOW), certificateError(/^the public key for node-1 must be ECDSA P-256$/), what);
    }
  });

  it('bytes that are not a SubjectPublicKeyInfo', () => {
    const good = generateNodeKey().publicKeyDer;
    for (const bad of [Uint8Array.of(), Uint8Array.of(1, 2, 3), good.subarray(0, good.length - 1), new TextEncoder().encode('-----BEGIN PUBLIC KEY-----')]) {
      assert.throws(() => issueNodeCertificate(ca, 'node-1', bad, NOW), certificateError(/^the public key for node-1 is not a DER SubjectPublicKeyInfo: /));
    }
  });

  it('a CA that is not a certificate', () => {
    const key = generateNodeKey();
    assert.throws(() => issueNodeCertificate({ certPem: 'junk', keyPem: ca.keyPem }, 'node-1', key.publicKeyDer, NOW), certificateError(/^the cluster CA certificate is not a PEM certificate/));
  });
});

// OpenSSL's own verifier, strict mode, for the purposes the certificates serve in mutual TLS.
const opensslProblem = ((): string | undefined => {
  const r = spawnSync('openssl', ['version'], { encoding: 'utf8' });
  return r.error !== undefined || r.status !== 0 ? `openssl CLI not available (${r.error?.message ?? r.stderr})` : undefined;
})();

describe('openssl verify -x509_strict', () => {
  let dir = '';
  const ca = createCertificateAuthority('alpha', NOW);
  const node = nodeCert(ca, 'node-1');
  const stranger = nodeCert(createCertificateAuthority('alpha', NOW), 'node-1');

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sappers-pki-'));
    writeFileSync(join(dir, 'ca.pem'), ca.certPem);
    writeFileSync(join(dir, 'node.pem'), node.certPem);
    writeFileSync(join(dir, 'stranger.pem'), stranger.certPem);
  });
  after(() => {
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  const openssl = (args: string[]): { status: number | null; out: string } => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8', timeout: 10_000 });
    return { status: r.status, out: `${r.stdout}${r.stderr}` };
  };
  const verify = (file: string, extra: string[] = []): { status: number | null; out: string } =>
    openssl(['verify', '-x509_strict', '-attime', String(Math.floor(NOW.getTime() / 1000)), ...extra, '-CAfile', 'ca.pem', file]);

  it('passes for the CA and for the node certificate as TLS client and server', (t) => {
    if (opensslProblem !== undefined) return t.skip(opensslProblem);
    for (const args of [[], ['-purpose', 'sslclient'], ['-purpose', 'sslserver']]) {
      const r = verify('node.pem', args);
      assert.equal(r.status, 0, r.out);
      assert.match(r.out, /node\.pem: OK/);
    }
    const self = verify('ca.pem');
    assert.equal(self.status, 0, self.out);
  });

  it('fails for a certificate of another CA and outside the validity period', (t) => {
    if (opensslProblem !== undefined) return t.skip(opensslProblem);
    assert.notEqual(verify('stranger.pem').status, 0);
    const expired = openssl(['verify', '-x509_strict', '-attime', String(Math.floor(NOW.getTime() / 1000) + 400 * 86_400), '-CAfile', 'ca.pem', 'node.pem']);
    assert.notEqual(expired.status, 0);
    assert.match(expired.out, /expired/);
  });

  it('shows the extensions an operator reading `openssl x509 -text` expects', (t) => {
    if (opensslProblem !== undefined) return t.skip(opensslProblem);
    const caText = openssl(['x509', '-noout', '-text', '-in', 'ca.pem']);
    assert.equal(caText.status, 0, caText.out);
    assert.match(caText.out, /CA:TRUE, pathlen:0/);
    assert.match(caText.out, /Digital Signature, Certificate Sign, CRL Sign/);
    assert.match(caText.out, /ecdsa-with-SHA256/);
    const nodeText = openssl(['x509', '-noout', '-text', '-in', 'node.pem']);
    assert.equal(nodeText.status, 0, nodeText.out);
    assert.match(nodeText.out, /CA:FALSE/);
    assert.match(nodeText.out, /X509v3 Key Usage: critical\s+Digital Signature\n/);
    assert.match(nodeText.out, /TLS Web Server Authentication, TLS Web Client Authentication/);
    assert.match(nodeText.out, /URI:urn:sappers:node:node-1/);
    assert.match(nodeText.out, /X509v3 Authority Key Identifier/);
    assert.match(nodeText.out, /Subject: O = Sappers cluster, CN = node-1/);
  });
});
