// The cluster's certificate authority and node certificates (DESIGN.md: RPC runs over mutual
// TLS). The originating node makes the CA; every node gets a certificate naming its node ID,
// signed by the CA, so a peer is known by the ID in its certificate, never by its IP address
// (hashicorp/consul#457). ECDSA P-256, SHA-256 signatures, per RFC 5280.
//
// Certificates are built with the small DER encoder beside this file and node:crypto's signer
// (an X.509 library would pull in a global reflection polyfill for this one job); they are
// parsed and checked with node:crypto's X509Certificate, that is, by OpenSSL.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import {
  bitString,
  boolean,
  explicit,
  implicitPrimitive,
  octetString,
  oid,
  sequence,
  set,
  smallInteger,
  time,
  unsignedInteger,
  utf8String,
  type Der,
} from './der.ts';

const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

/** Every Sappers certificate says who issued it this way, for operators reading `openssl x509`. */
const ORGANIZATION = 'Sappers cluster';
export const CA_VALIDITY_DAYS = 3650;
export const NODE_CERT_VALIDITY_DAYS = 365;
/** Certificates start an hour in the past: a peer whose clock runs behind still accepts them. */
const BACKDATE_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** PEM text of a certificate and its private key (PKCS#8). */
export interface CertifiedKey {
  readonly certPem: string;
  readonly keyPem: string;
}

export class CertificateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CertificateError';
  }
}

/** A new ECDSA P-256 key pair: the private key as PEM, the public key as DER SubjectPublicKeyInfo. */
export function generateNodeKey(): { keyPem: string; publicKeyDer: Uint8Array } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyDer: new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })),
  };
}

/** The cluster CA: self-signed, may sign node certificates only (path length 0). */
export function createCertificateAuthority(clusterName: string, now: Date): CertifiedKey {
  const { keyPem, publicKeyDer } = generateNodeKey();
  const key = createPrivateKey(keyPem);
  const name = distinguishedName(`Sappers CA ${clusterName}`);
  const keyId = keyIdentifier(publicKeyDer);
  const certPem = signCertificate({
    issuer: name,
    subject: name,
    publicKeyDer,
    signingKey: key,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + CA_VALIDITY_DAYS * DAY_MS),
    extensions: [
      extension(OID.basicConstraints, true, sequence(boolean(true), smallInteger(0))),
      // keyCertSign and cRLSign (bits 5 and 6) plus digitalSignature (bit 0).
      extension(OID.keyUsage, true, bitString(Uint8Array.of(0x86), 1)),
      extension(OID.subjectKeyIdentifier, false, octetString(keyId)),
    ],
  });
  return { certPem, keyPem };
}

/**
 * A node certificate for `nodeId` over the given public key, signed by the CA. It serves both
 * ends of mutual TLS (server and client auth); the node ID is its common name and a URI SAN.
 */
export function issueNodeCertificate(ca: CertifiedKey, nodeId: string, publicKeyDer: Uint8Array, now: Date, validityDays = NODE_CERT_VALIDITY_DAYS): string {
  const caCert = parseCertificate(ca.certPem, 'the cluster CA certificate');
  const caPublicDer = new Uint8Array(caCert.publicKey.export({ type: 'spki', format: 'der' }));
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: Buffer.from(publicKeyDer), format: 'der', type: 'spki' });
  } catch (e) {
    throw new CertificateError(`the public key for ${nodeId} is not a DER SubjectPublicKeyInfo: ${(e as Error).message}`);
  }
  if (publicKey.asymmetricKeyType !== 'ec' || publicKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new CertificateError(`the public key for ${nodeId} must be ECDSA P-256`);
  }
  return signCertificate({
    issuer: distinguishedName(commonNameOf(caCert)),
    subject: distinguishedName(nodeId),
    publicKeyDer,
    signingKey: createPrivateKey(ca.keyPem),
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + validityDays * DAY_MS),
    extensions: [
      extension(OID.basicConstraints, true, sequence()),
      extension(OID.keyUsage, true, bitString(Uint8Array.of(0x80), 7)),
      extension(OID.extKeyUsage, false, sequence(oid(OID.serverAuth), oid(OID.clientAuth))),
      extension(OID.subjectAltName, false, sequence(implicitPrimitive(6, new TextEncoder().encode(nodeUri(nodeId))))),
      extension(OID.subjectKeyIdentifier, false, octetString(keyIdentifier(publicKeyDer))),
      extension(OID.authorityKeyIdentifier, false, sequence(implicitPrimitive(0, keyIdentifier(caPublicDer)))),
    ],
  });
}

/** The identity a node certificate carries in its subject alternative name. */
export function nodeUri(nodeId: string): string {
  return `urn:sappers:node:${nodeId}`;
}

export interface CertificateSummary {
  readonly nodeId: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly serial: string;
  readonly fingerprint: string;
}

/** Reads a certificate, naming `what` in the error when it is not one. */
export function parseCertificate(pem: string, what: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (e) {
    throw new CertificateError(`${what} is not a PEM certificate: ${(e as Error).message}`);
  }
}

export function summarize(pem: string, what: string): CertificateSummary {
  const cert = parseCertificate(pem, what);
  return {
    nodeId: commonNameOf(cert),
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    serial: cert.serialNumber,
    fingerprint: cert.fingerprint256,
  };
}

/**
 * Checks what a node's TLS setup depends on: the certificate is signed by the CA, is valid at
 * `now`, and belongs to the private key. Throws CertificateError saying which check failed.
 */
export function checkNodeCertificate(node: CertifiedKey, caPem: string, now: Date, what: string): CertificateSummary {
  const cert = parseCertificate(node.certPem, what);
  const ca = parseCertificate(caPem, 'the cluster CA certificate');
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) throw new CertificateError(`${what} was not signed by the cluster CA`);
  let key: KeyObject;
  try {
    key = createPrivateKey(node.keyPem);
  } catch (e) {
    throw new CertificateError(`the private key for ${what} is not a PEM key: ${(e as Error).message}`);
  }
  if (!cert.checkPrivateKey(key)) throw new CertificateError(`${what} does not belong to its private key`);
  const summary = summarize(node.certPem, what);
  if (now < summary.notBefore || now > summary.notAfter) {
    throw new CertificateError(`${what} is valid from ${summary.notBefore.toISOString()} to ${summary.notAfter.toISOString()}, not now (${now.toISOString()})`);
  }
  return summary;
}

/** The public key of a PEM private key, as DER SubjectPublicKeyInfo. */
export function publicKeyOf(keyPem: string): Uint8Array {
  return new Uint8Array(createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' }));
}

function commonNameOf(cert: X509Certificate): string {
  // node:crypto prints the subject one attribute per line: "O=...\nCN=...".
  const line = cert.subject.split('\n').find((l) => l.startsWith('CN='));
  if (line === undefined) throw new CertificateError('the certificate has no common name');
  return line.slice(3);
}

function distinguishedName(commonName: string): Der {
  const attribute = (type: string, value: string): Der => set(sequence(oid(type), utf8String(value)));
  return sequence(attribute(OID.organization, ORGANIZATION), attribute(OID.commonName, commonName));
}

function extension(id: string, critical: boolean, value: Der): Der {
  return critical ? sequence(oid(id), boolean(true), octetString(value)) : sequence(oid(id), octetString(value));
}

/** RFC 7093 method 1: the leftmost 160 bits of the SHA-256 of the public key. */
function keyIdentifier(publicKeyDer: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(publicKeyDer).digest().subarray(0, 20));
}

interface ToBeSigned {
  readonly issuer: Der;
  readonly subject: Der;
  readonly publicKeyDer: Uint8Array;
  readonly signingKey: KeyObject;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly extensions: readonly Der[];
}

function signCertificate(t: ToBeSigned): string {
  const algorithm = sequence(oid(OID.ecdsaWithSha256));
  // 16 random bytes, top bit clear: a positive serial within RFC 5280's 20-octet limit.
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x01;
  const tbs = sequence(
    explicit(0, smallInteger(2)), // v3
    unsignedInteger(serial),
    algorithm,
    t.issuer,
    sequence(time(t.notBefore), time(t.notAfter)),
    t.subject,
    t.publicKeyDer,
    explicit(3, sequence(...t.extensions)),
  );
  const signature = sign('sha256', tbs, { key: t.signingKey, dsaEncoding: 'der' });
  const der = sequence(tbs, algorithm, bitString(new Uint8Array(signature)));
  const base64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n').trimEnd();
  return `-----BEGIN CERTIFICATE-----\n${base64}\n-----END CERTIFICATE-----\n`;
}
