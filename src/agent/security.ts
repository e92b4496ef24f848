// Security, on by default (DESIGN.md; issue 5). One of three modes:
//   secure    a cluster key (--cluster-key-file) seals all gossip; RPC between agents runs over
//             mutual TLS with certificates from the cluster CA; the HTTP API wants the
//             management token as a bearer token.
//   insecure  --insecure: none of that, announced loudly.
//   dev       --dev without a key: none of that, and every port on 127.0.0.1 only.
//
// Certificates need no manual work. The node that originates the cluster makes the CA, gives
// itself a certificate and records the CA, the token's hash and the keyring in the replicated
// state (security.init). A joining node holds the cluster key but no certificate: it asks a
// member over the gossip port's TCP side with a request sealed by the key (proof that it
// holds it), and gets back a certificate for its own key pair, which never leaves the node.
// An operator may supply certificate files instead (all nodes then need them).
//
// Files, under <dataDir> (mode 0700): keyring.json (0600), tls/ca.crt, tls/node.crt,
// tls/node.key (0600), and on the originating node tls/ca.key (0600).

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ApiError } from '../api/errors.ts';
import { keyFingerprint, type SecurityState } from '../core/fsm/security.ts';
import type { NodeId } from '../core/swim/types.ts';
import type { Clock, Timer } from '../runtime/clock.ts';
import {
  CertificateError,
  checkNodeCertificate,
  createCertificateAuthority,
  generateNodeKey,
  issueNodeCertificate,
  NODE_CERT_VALIDITY_DAYS,
  type CertifiedKey,
} from '../runtime/pki/certificates.ts';
import type { RpcTlsOptions } from '../runtime/transport/rpc.ts';
import type { RequestContext } from '../runtime/transport/types.ts';
import { Keyring, KeyringError, parseKey } from '../wire/keyring.ts';
import { createWireCodec } from '../wire/messages.ts';
import type { AgentConfig } from './config.ts';
import type { Consensus } from './consensus.ts';
import type { Gossip } from './gossip.ts';
import type { Logger } from './log.ts';

export type SecurityMode = 'secure' | 'insecure' | 'dev';

/** Gossip-port method a joining node asks for its certificate with. */
export const ENROLL_METHOD = 'security.enroll';
const KEYRING_FILE = 'keyring.json';
const TLS_DIR = 'tls';
const DEFAULT_TOKEN_FILE = 'management-token';
/** How often replicated security settings are looked at (keyring changes, the first record). */
const SYNC_MS = 1000;
/** How often the certificate's remaining life is checked; renewed with a third of it left. */
const RENEW_CHECK_MS = 6 * 3_600_000;
const ENROLL_TIMEOUT_MS = 5000;
const ENROLL_RETRY_MAX_MS = 10_000;
const MIN_TOKEN_CHARS = 16;
/** The node-ID rule of the agent's configuration. */
const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export class SecurityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecurityError';
  }
}

export interface SecurityInit {
  readonly config: AgentConfig;
  readonly nodeId: string;
  readonly dataDir: string;
  /** This node originates the cluster (no --join, no remembered peers). */
  readonly founder: boolean;
  readonly clock: Clock;
  readonly logger: Logger;
}

interface Credentials extends CertifiedKey {
  readonly caPem: string;
}

export class AgentSecurity {
  readonly mode: SecurityMode;
  /** Seals gossip; undefined outside secure mode. */
  readonly keyring: Keyring | undefined;
  readonly #init: SecurityInit;
  readonly #log: Logger;
  readonly #codec = createWireCodec();
  #credentials: Credentials | undefined;
  /** True once this node holds a certificate its peers accept (CA-signed, or operator files). */
  #certified = false;
  readonly #operatorFiles: boolean;
  /** The originator's settings, until the replicated state holds them. */
  #pendingInit: SecurityState | undefined;
  #consensus: () => Consensus | undefined = () => undefined;
  #gossip: Gossip | undefined;
  /** The pending timer of each loop (sync, renewal, enrollment retry), cancelled on close. */
  readonly #timers = new Map<'sync' | 'renew' | 'enroll', Timer>();
  #closed = false;
  #initProposed = false;
  #enrolling = false;
  /** Digest of the cluster key file's keys, kept in keyring.json (see loadKeyring). */
  #keyFileDigest = '';

  private constructor(init: SecurityInit, mode: SecurityMode, keyring: Keyring | undefined) {
    this.#init = init;
    this.mode = mode;
    this.keyring = keyring;
    this.#log = init.logger.child({ component: 'security' });
    const tls = init.config.security.tls;
    this.#operatorFiles = tls.certFile !== undefined;
  }

  /** Decides the mode and loads (or, on the originating node, makes) keys and certificates. */
  static async prepare(init: SecurityInit): Promise<AgentSecurity> {
    const { config, logger } = init;
    const keyFile = config.security.clusterKeyFile;
    if (keyFile === undefined) {
      if (config.security.insecure) {
        logger.warn(
          {},
          'SECURITY IS OFF (--insecure): gossip is not encrypted, RPC is not authenticated and the HTTP API needs no token. ' +
            'Anyone who can reach these ports controls the cluster. Use a cluster key (sappers keygen --out FILE; --cluster-key-file FILE) outside trusted test networks.',
        );
        return new AgentSecurity(init, 'insecure', undefined);
      }
      if (config.dev) return new AgentSecurity(init, 'dev', undefined);
      throw new SecurityError(
        'refusing to start without a cluster key: create one with "sappers keygen --out /etc/sappers/cluster.key", copy it to every node ' +
          'and start each agent with --cluster-key-file /etc/sappers/cluster.key (or SAPPERS_CLUSTER_KEY_FILE). ' +
          'To run without any security on a trusted test network, pass --insecure; for a local trial, --dev.',
      );
    }
    const { keyring, keyFileDigest } = await loadKeyring(init.dataDir, keyFile, logger);
    const security = new AgentSecurity(init, 'secure', keyring);
    security.#keyFileDigest = keyFileDigest;
    await security.#loadCredentials();
    return security;
  }

  /** TLS options for the RPC transport (secure mode): mutual TLS, peers known by certificate. */
  rpcTls(): RpcTlsOptions | undefined {
    const c = this.#credentials;
    if (c === undefined) return undefined;
    return { cert: c.certPem, key: c.keyPem, ca: c.caPem, requireClientCert: true, verifyServer: 'ca' };
  }

  get certified(): boolean {
    return this.#certified;
  }

  /**
   * Starts serving certificates to joining nodes, getting one for this node if it has none,
   * recording the originator's settings once a leader exists, and following keyring changes.
   */
  attach(gossip: Gossip, consensus: () => Consensus | undefined): void {
    if (this.mode !== 'secure') return;
    this.#gossip = gossip;
    this.#consensus = consensus;
    gossip.stream.handle(ENROLL_METHOD, (body, ctx) => this.#onEnroll(body, ctx));
    if (!this.#certified) void this.#enroll();
    const sync = (): void => {
      this.#timers.set(
        'sync',
        this.#init.clock.setTimer(SYNC_MS, () => {
          void this.#sync()
            .catch((e: unknown) => this.#log.warn({ err: errorText(e) }, 'applying the cluster security settings failed; retrying'))
            .finally(() => {
              if (!this.#closed) sync();
            });
        }),
      );
    };
    sync();
    const renew = (): void => {
      this.#timers.set(
        'renew',
        this.#init.clock.setTimer(RENEW_CHECK_MS, () => {
          this.#renewIfDue();
          if (!this.#closed) renew();
        }),
      );
    };
    renew();
  }

  close(): void {
    this.#closed = true;
    for (const t of this.#timers.values()) t.cancel();
  }

  /** Throws the API error for a request that may not proceed (secure mode wants the token). */
  authorize(authorization: string | undefined): void {
    if (this.mode !== 'secure') return;
    const expected = this.#consensus()?.machine.fsm.security?.managementTokenSha256 ?? this.#pendingInit?.managementTokenSha256;
    if (expected === undefined) {
      throw new ApiError('unavailable', "this node has not received the cluster's security settings yet (it is still joining); retry in a moment or ask another node");
    }
    if (authorization === undefined || authorization === '') {
      throw new ApiError(
        'unauthorized',
        'this request needs the management token: pass --token or set SAPPERS_TOKEN (the node that originated the cluster wrote it to its --management-token-file, by default <data-dir>/management-token)',
      );
    }
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (match === null) throw new ApiError('unauthorized', 'the Authorization header must read "Bearer <token>"');
    const given = createHash('sha256').update(match[1]!).digest();
    if (!timingSafeEqual(given, Buffer.from(expected, 'hex'))) throw new ApiError('forbidden', 'the API token is not valid for this cluster');
  }

  // --- Certificates ---------------------------------------------------------------------------

  async #loadCredentials(): Promise<void> {
    const { config, nodeId, dataDir, founder } = this.#init;
    const now = new Date(this.#init.clock.wallMs());
    const tls = config.security.tls;
    if (tls.certFile !== undefined && tls.keyFile !== undefined && tls.caFile !== undefined) {
      const files = { certPem: await readText(tls.certFile, 'security.tls.certFile'), keyPem: await readText(tls.keyFile, 'security.tls.keyFile') };
      const caPem = await readText(tls.caFile, 'security.tls.caFile');
      const summary = checkOrExplain(() => checkNodeCertificate(files, caPem, now, `the certificate ${tls.certFile}`));
      if (summary.nodeId !== nodeId) {
        throw new SecurityError(`the certificate ${tls.certFile} names node ${JSON.stringify(summary.nodeId)}, but this node is ${JSON.stringify(nodeId)}: issue it for this node ID, or start with --node-id ${summary.nodeId}`);
      }
      this.#credentials = { ...files, caPem };
      this.#certified = true;
      await this.#loadPendingInit();
      return;
    }
    const dir = join(dataDir, TLS_DIR);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const stored = await readStoredCredentials(dir);
    if (stored !== undefined) {
      try {
        const summary = checkNodeCertificate(stored, stored.caPem, now, `the certificate in ${dir}`);
        if (summary.nodeId !== nodeId) throw new CertificateError(`it names node ${summary.nodeId}, not ${nodeId}`);
        this.#credentials = stored;
        this.#certified = true;
      } catch (e) {
        // An expired or foreign certificate is replaced the way a new node gets one.
        this.#log.warn({ dir, problem: errorText(e) }, 'the stored node certificate cannot be used; asking the cluster for a new one');
      }
    } else if (founder) {
      await this.#createAuthority();
      return;
    }
    if (!this.#certified) {
      // Until the cluster gives it a certificate the RPC port must still listen (gossip
      // publishes its address): with a throwaway identity that no peer trusts, and trusting none.
      const placeholderCa = createCertificateAuthority('unenrolled', now);
      const node = generateNodeKey();
      this.#credentials = { certPem: issueNodeCertificate(placeholderCa, nodeId, node.publicKeyDer, now, 1), keyPem: node.keyPem, caPem: placeholderCa.certPem };
    }
    await this.#loadPendingInit();
  }

  /**
   * This node originates the cluster (--bootstrap-expect: it proposed the initial voters): it
   * makes the CA and its own certificate, and will record them once a leader exists. Secure mode only;
   * a node that already holds a certificate (operator files, or a restart) keeps it.
   */
  async originate(): Promise<void> {
    if (this.mode !== 'secure' || this.#certified) return;
    await this.#createAuthority();
    const c = this.#credentials!;
    this.#consensus()?.rpc.setTlsCredentials({ cert: c.certPem, key: c.keyPem, ca: c.caPem });
  }

  async #createAuthority(): Promise<void> {
    const { nodeId, dataDir } = this.#init;
    const now = new Date(this.#init.clock.wallMs());
    const dir = join(dataDir, TLS_DIR);
    const ca = createCertificateAuthority(nodeId, now);
    const node = generateNodeKey();
    const certPem = issueNodeCertificate(ca, nodeId, node.publicKeyDer, now);
    await writePrivate(join(dir, 'ca.key'), ca.keyPem);
    await writeDurable(join(dir, 'ca.crt'), ca.certPem, 0o644);
    await writePrivate(join(dir, 'node.key'), node.keyPem);
    await writeDurable(join(dir, 'node.crt'), certPem, 0o644);
    this.#credentials = { certPem, keyPem: node.keyPem, caPem: ca.certPem };
    this.#certified = true;
    this.#log.info({ dir }, "created the cluster certificate authority and this node's certificate");
    await this.#loadPendingInit();
  }

  /** On the originating node: the settings to record once a leader exists (CA, token hash, keyring). */
  async #loadPendingInit(): Promise<void> {
    const { config, dataDir } = this.#init;
    const caKeyPath = join(dataDir, TLS_DIR, 'ca.key');
    const caKeyPem = await readFile(caKeyPath, 'utf8').catch(() => undefined);
    const caCertPem = await readFile(join(dataDir, TLS_DIR, 'ca.crt'), 'utf8').catch(() => undefined);
    if (caKeyPem === undefined || caCertPem === undefined || this.keyring === undefined) return;
    const tokenFile = config.security.managementTokenFile ?? join(dataDir, DEFAULT_TOKEN_FILE);
    const token = await readOrCreateToken(tokenFile, this.#log);
    const keys = this.keyring.keys;
    this.#pendingInit = {
      caCertPem,
      caKeyPem,
      managementTokenSha256: createHash('sha256').update(token).digest('hex'),
      gossipKeys: [...keys.all],
      gossipPrimary: keys.primary,
    };
  }

  /** A member's side of enrollment: a certificate for whoever proves they hold the cluster key. */
  async #onEnroll(body: Uint8Array, ctx: RequestContext): Promise<Uint8Array> {
    const keyring = this.keyring!;
    const opened = keyring.open(body);
    // Without the key there is nothing to answer with: an error reply is all they get.
    if (!opened.ok) throw new Error(`enrollment refused: the request is not sealed with this cluster's key (${opened.error.code})`);
    const reply = (r: { ok: true; caCertPem: string; certPem: string } | { ok: false; reason: string }): Uint8Array => {
      const encoded = this.#codec.encode({ type: 'security.enroll-reply', body: r });
      if (!encoded.ok) throw new Error(`cannot encode the enrollment reply: ${encoded.error.code}`);
      return keyring.seal(encoded.value);
    };
    const decoded = this.#codec.decode(opened.value);
    if (!decoded.ok || decoded.value.type !== 'security.enroll') return reply({ ok: false, reason: 'malformed enrollment request' });
    const { node, publicKey } = decoded.value.body;
    // Node IDs are plain names (config.ts); anything else could not be told apart in a certificate.
    if (!NODE_ID.test(node)) return reply({ ok: false, reason: `${JSON.stringify(node)} is not a node ID (letters, digits, ".", "_", "-")` });
    // The originator signs with its own CA until the replicated state holds it: with
    // --bootstrap-expect the other initial voters need certificates before any leader exists.
    const state = this.#consensus()?.machine.fsm.security ?? this.#pendingInit;
    if (state === undefined) return reply({ ok: false, reason: `${this.#init.nodeId} has not received the cluster CA yet` });
    const member = this.#gossip?.membership.swim.member(node as NodeId);
    if (member === undefined || member.status !== 'alive') return reply({ ok: false, reason: `${node} is not an alive member in gossip here yet` });
    let certPem: string;
    try {
      certPem = issueNodeCertificate({ certPem: state.caCertPem, keyPem: state.caKeyPem }, node, publicKey, new Date(this.#init.clock.wallMs()));
    } catch (e) {
      return reply({ ok: false, reason: errorText(e) });
    }
    this.#log.info({ node, from: ctx.from }, 'issued a node certificate');
    void this.#consensus()
      ?.propose({ type: 'note', atMs: Math.round(this.#init.clock.wallMs()), kind: 'security.certificate', subject: node, message: `${this.#init.nodeId} issued a certificate to ${node} (requested from ${ctx.from}), valid ${NODE_CERT_VALIDITY_DAYS} days` })
      .catch(() => undefined);
    return reply({ ok: true, caCertPem: state.caCertPem, certPem });
  }

  /** A joining node's side: asks alive members in turn until one issues a certificate. */
  async #enroll(): Promise<void> {
    if (this.#enrolling) return;
    this.#enrolling = true;
    const { nodeId, clock } = this.#init;
    const node = generateNodeKey();
    const request = this.#codec.encode({ type: 'security.enroll', body: { node: nodeId, publicKey: node.publicKeyDer } });
    if (!request.ok) throw new Error(`cannot encode the enrollment request: ${request.error.code}`);
    let delayMs = 500;
    try {
      for (let attempt = 1; !this.#closed && !this.#certified; attempt++) {
        const reasons: string[] = [];
        const members = (this.#gossip?.membership.members() ?? []).filter((m) => m.status === 'alive' && m.id !== nodeId);
        for (const m of members.sort(() => Math.random() - 0.5)) {
          const outcome = await this.#askForCertificate(m.addr, request.value, node.keyPem).catch((e: unknown) => errorText(e));
          if (outcome === undefined) {
            this.#log.info({ from: m.id }, "received this node's certificate from the cluster");
            return;
          }
          reasons.push(`${m.id}: ${outcome}`);
        }
        // Gossip needs a moment to find members after start: stay quiet about the first tries.
        if (attempt === 3 || attempt % 10 === 0) {
          this.#log.warn({ attempt, reasons: reasons.length > 0 ? reasons : ['no alive members known yet'] }, 'waiting for a certificate from the cluster (Raft traffic needs one)');
        }
        await new Promise<void>((resolve) => this.#timers.set('enroll', clock.setTimer(delayMs, resolve)));
        delayMs = Math.min(ENROLL_RETRY_MAX_MS, delayMs * 2);
      }
    } finally {
      this.#enrolling = false;
    }
  }

  /** Resolves undefined once certified, or with why this member did not certify us. */
  async #askForCertificate(addr: string, request: Uint8Array, keyPem: string): Promise<string | undefined> {
    const keyring = this.keyring!;
    const sealed = await this.#gossip!.stream.request(addr, ENROLL_METHOD, keyring.seal(request), { timeoutMs: ENROLL_TIMEOUT_MS });
    const opened = keyring.open(sealed);
    if (!opened.ok) return `the reply is not sealed with our cluster key (${opened.error.code})`;
    const decoded = this.#codec.decode(opened.value);
    if (!decoded.ok || decoded.value.type !== 'security.enroll-reply') return 'malformed enrollment reply';
    const reply = decoded.value.body;
    if (!reply.ok) return reply.reason;
    const summary = checkNodeCertificate({ certPem: reply.certPem, keyPem }, reply.caCertPem, new Date(this.#init.clock.wallMs()), 'the issued certificate');
    if (summary.nodeId !== this.#init.nodeId) return `the issued certificate names ${summary.nodeId}`;
    await this.#install({ certPem: reply.certPem, keyPem, caPem: reply.caCertPem });
    return undefined;
  }

  /** Writes new credentials and switches the RPC transport to them. */
  async #install(c: Credentials): Promise<void> {
    const dir = join(this.#init.dataDir, TLS_DIR);
    await writeDurable(join(dir, 'ca.crt'), c.caPem, 0o644);
    await writePrivate(join(dir, 'node.key'), c.keyPem);
    await writeDurable(join(dir, 'node.crt'), c.certPem, 0o644);
    this.#credentials = c;
    this.#certified = true;
    this.#consensus()?.rpc.setTlsCredentials({ cert: c.certPem, key: c.keyPem, ca: c.caPem });
  }

  /** Renews a CA-issued certificate with a third of its life left, from the replicated CA. */
  #renewIfDue(): void {
    const c = this.#credentials;
    const state = this.#consensus()?.machine.fsm.security;
    if (this.#operatorFiles || c === undefined || state === undefined || !this.#certified) return;
    const now = new Date(this.#init.clock.wallMs());
    const summary = checkOrExplain(() => checkNodeCertificate(c, c.caPem, now, 'this node\'s certificate'));
    const life = summary.notAfter.getTime() - summary.notBefore.getTime();
    if (summary.notAfter.getTime() - now.getTime() > life / 3) return;
    const node = generateNodeKey();
    const certPem = issueNodeCertificate({ certPem: state.caCertPem, keyPem: state.caKeyPem }, this.#init.nodeId, node.publicKeyDer, now);
    void this.#install({ certPem, keyPem: node.keyPem, caPem: state.caCertPem })
      .then(() => this.#log.info({ previousExpiry: summary.notAfter.toISOString() }, 'renewed this node\'s certificate'))
      .catch((e: unknown) => this.#log.error({ err: errorText(e) }, 'renewing this node\'s certificate failed; will retry'));
  }

  // --- Replicated settings --------------------------------------------------------------------

  async #sync(): Promise<void> {
    const consensus = this.#consensus();
    if (consensus === undefined || this.#closed) return;
    const state = consensus.machine.fsm.security;
    if (state === undefined) {
      // Forwarded to whoever leads: with --bootstrap-expect another initial voter may win first.
      if (this.#pendingInit !== undefined && !this.#initProposed && consensus.node.leader !== undefined) {
        this.#initProposed = true;
        try {
          const result = await consensus.propose({ type: 'security.init', atMs: Math.round(this.#init.clock.wallMs()), ...this.#pendingInit });
          if (result.ok) this.#log.info({}, 'recorded the cluster CA, management token hash and keyring in the replicated state');
        } finally {
          this.#initProposed = false;
        }
      }
      return;
    }
    this.#pendingInit = undefined;
    const keyring = this.keyring!;
    const current = keyring.keys;
    const same = current.primary === state.gossipPrimary && current.all.length === state.gossipKeys.length && state.gossipKeys.every((k) => current.all.includes(k));
    if (same) return;
    keyring.replace(
      state.gossipKeys.map((k) => Buffer.from(k, 'base64')),
      Buffer.from(state.gossipPrimary, 'base64'),
    );
    await saveKeyring(this.#init.dataDir, keyring, this.#keyFileDigest);
    this.#log.info({ primary: keyFingerprint(state.gossipPrimary), installed: state.gossipKeys.map(keyFingerprint) }, 'gossip keyring changed to follow the cluster');
  }
}

// --- Files ----------------------------------------------------------------------------------

/**
 * This node's keyring: keyring.json once it exists (it follows the cluster's rotations),
 * otherwise the cluster key file. keyring.json also remembers a digest of the key file it was
 * last started with: when the file has changed since, the operator replaced it (after a
 * rotation this node missed, say), so its keys are installed and its first key made primary.
 * An unchanged file never overrides what the cluster rotated to.
 */
async function loadKeyring(dataDir: string, keyFile: string, logger: Logger): Promise<{ keyring: Keyring; keyFileDigest: string }> {
  const text = await readText(keyFile, 'security.clusterKeyFile');
  const fromFile = parseKeyFile(text, keyFile);
  const keyFileDigest = createHash('sha256').update(fromFile.map((k) => k.toString('base64')).join('\n')).digest('hex');
  const stored = await readFile(join(dataDir, KEYRING_FILE), 'utf8').catch((e: unknown) => {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new SecurityError(`cannot read ${join(dataDir, KEYRING_FILE)}: ${errorText(e)}`);
  });
  let keyring: Keyring;
  if (stored === undefined) keyring = new Keyring(fromFile);
  else {
    let parsed: { primary: string; keys: string[]; keyFileDigest?: string };
    try {
      parsed = JSON.parse(stored) as typeof parsed;
      keyring = new Keyring(
        parsed.keys.map((k, i) => parseKey(k, `${KEYRING_FILE} keys[${i}]`)),
        parseKey(parsed.primary, `${KEYRING_FILE} primary`),
      );
    } catch (e) {
      throw new SecurityError(
        `${join(dataDir, KEYRING_FILE)} is damaged (${errorText(e)}). Nothing was changed. Move it away to start from the cluster key file (${keyFile}) again.`,
      );
    }
    if (parsed.keyFileDigest !== undefined && parsed.keyFileDigest !== keyFileDigest) {
      logger.warn(
        { keyFile, primary: keyFingerprint(fromFile[0]!.toString('base64')) },
        "the cluster key file changed since this node last started: installing its keys and sealing gossip with its first key (a node that missed a rotation comes back this way)",
      );
      for (const k of fromFile) keyring.install(k);
      keyring.use(fromFile[0]!);
    }
  }
  await saveKeyring(dataDir, keyring, keyFileDigest);
  return { keyring, keyFileDigest };
}

/** One base64 key per line (the first encrypts); blank lines and # comments are skipped. */
export function parseKeyFile(text: string, path: string): Buffer[] {
  const keys: Buffer[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    try {
      keys.push(parseKey(line, `${path}:${i + 1}`));
    } catch (e) {
      throw new SecurityError(e instanceof KeyringError ? e.message : errorText(e));
    }
  });
  if (keys.length === 0) throw new SecurityError(`${path} holds no key: write one made by "sappers keygen" into it`);
  return keys;
}

async function saveKeyring(dataDir: string, keyring: Keyring, keyFileDigest: string): Promise<void> {
  const { primary, all } = keyring.keys;
  await writePrivate(join(dataDir, KEYRING_FILE), `${JSON.stringify({ primary, keys: all, keyFileDigest })}\n`);
}

async function readStoredCredentials(dir: string): Promise<Credentials | undefined> {
  const read = (name: string): Promise<string | undefined> => readFile(join(dir, name), 'utf8').catch(() => undefined);
  const [certPem, keyPem, caPem] = await Promise.all([read('node.crt'), read('node.key'), read('ca.crt')]);
  return certPem === undefined || keyPem === undefined || caPem === undefined ? undefined : { certPem, keyPem, caPem };
}

/** The management token: read from `path`, or made and written there (0600) if absent. */
async function readOrCreateToken(path: string, log: Logger): Promise<string> {
  const existing = await readFile(path, 'utf8').catch((e: unknown) => {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new SecurityError(`cannot read the management token file ${path}: ${errorText(e)}`);
  });
  if (existing !== undefined) {
    const token = existing.trim();
    if (token.length < MIN_TOKEN_CHARS || /\s/.test(token)) {
      throw new SecurityError(`the management token file ${path} must hold one token of at least ${MIN_TOKEN_CHARS} characters without spaces; delete it to have one generated`);
    }
    return token;
  }
  const token = randomBytes(32).toString('base64url');
  await writePrivate(path, `${token}\n`);
  log.info({ file: path }, 'wrote a new management token (use it as SAPPERS_TOKEN or --token)');
  return token;
}

async function readText(path: string, field: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw new SecurityError(`${field}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? errorText(e)}`);
  }
}

/** Writes a secret: temp file with mode 0600, fsync, rename (never a half-written key). */
async function writePrivate(path: string, text: string): Promise<void> {
  await writeDurable(path, text, 0o600);
}

/** Temp file with `mode`, fsync, rename: a crash leaves the old file or the new one. */
async function writeDurable(path: string, text: string, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, text, { mode, flush: true });
  await rename(tmp, path);
}

function checkOrExplain<T>(check: () => T): T {
  try {
    return check();
  } catch (e) {
    if (e instanceof CertificateError) throw new SecurityError(e.message);
    throw e;
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

