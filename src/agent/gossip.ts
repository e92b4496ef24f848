// Wires membership into the agent: gossip sockets (UDP for probes and gossip, TCP on the same
// port for push-pull), the keyring, this node's metadata, and periodic resource refresh.
import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { SeededRandom } from '../core/random.ts';
import { SWIM_PRESETS } from '../core/swim/config.ts';
import { Swim } from '../core/swim/swim.ts';
import type { NodeId } from '../core/swim/types.ts';
import type { Clock, Timer } from '../runtime/clock.ts';
import { Membership } from '../runtime/membership.ts';
import { readAtomic, writeAtomic } from '../runtime/storage/atomic-file.ts';
import { NodeFileSystem } from '../runtime/storage/node-fs.ts';
import { formatAddress } from '../runtime/transport/address.ts';
import { TcpRpcTransport } from '../runtime/transport/rpc.ts';
import { UdpTransport } from '../runtime/transport/udp.ts';
import type { RpcTransport } from '../runtime/transport/types.ts';
import { PROTOCOL_VERSION } from '../wire/codec.ts';
import type { Keyring } from '../wire/keyring.ts';
import { createWireCodec } from '../wire/messages.ts';
import type { NodeMeta } from '../wire/swim.ts';
import { VERSION } from '../version.ts';
import type { AgentConfig } from './config.ts';
import type { Logger } from './log.ts';
import { resourcesChanged, sampleResources } from './resources.ts';

/** Gossip datagrams may exceed one MTU on loopback or with large metadata; IP fragments them. */
const MAX_DATAGRAM_BYTES = 8192;
const RESOURCE_REFRESH_MS = 10_000;
/** Publish resources at least this often even without a big change. */
const RESOURCE_MAX_AGE_MS = 300_000;
/** Gossip addresses of the members last seen alive, joined again on the next start. */
const KNOWN_PEERS_FILE = 'known-peers.json';
const MAX_KNOWN_PEERS = 64;

export interface Gossip {
  readonly membership: Membership;
  /** The gossip port's TCP side (push-pull; certificate enrollment registers here too). */
  readonly stream: RpcTransport;
  readonly port: number;
  readonly advertiseAddr: string;
  /** Publishes a new Raft cluster epoch (after operator recover, or on rejoining fresh). */
  setEpoch(epoch: number, origin: string | undefined): void;
  /** Publishes this node's group-bootstrap state (--bootstrap-expect); undefined clears it. */
  setBootstrap(bootstrap: NodeMeta['bootstrap']): void;
  /** Gossips a graceful leave and waits for it to spread (bounded). */
  leave(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

export interface GossipInit {
  readonly config: AgentConfig;
  readonly nodeId: string;
  readonly dataDir: string;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly httpPort: number;
  /** The RPC port actually listened on (Raft and forwarded writes). */
  readonly rpcPort: number;
  /** The Raft cluster epoch to publish, and the node whose recovery started it. */
  readonly epoch: number;
  readonly epochOrigin: string | undefined;
  /** Group-bootstrap state to publish from the start (a node waiting for --bootstrap-expect peers). */
  readonly bootstrap?: NodeMeta['bootstrap'];
  /** The cluster keyring that seals all gossip; undefined runs gossip in the clear (--insecure, --dev). */
  readonly keyring: Keyring | undefined;
}

export async function startGossip(init: GossipInit): Promise<Gossip> {
  const { config, clock, logger } = init;
  const host = config.dev ? '127.0.0.1' : config.bind;
  const advertiseHost = config.advertise ?? (isUnspecified(host) ? guessAdvertiseHost() : host);
  const keyring = init.keyring;

  // TCP first: with port 0 the OS picks a port, and UDP then takes the same number.
  const stream = await TcpRpcTransport.listen({ host, port: config.ports.gossip, clock });
  const port = portOf(stream.localAddress);
  let datagrams: UdpTransport;
  try {
    datagrams = await UdpTransport.bind({ host, port, maxDatagramBytes: MAX_DATAGRAM_BYTES });
  } catch (e) {
    await stream.close();
    throw e;
  }

  const advertiseAddr = formatAddress(advertiseHost, port);
  let resources = await sampleResources(init.dataDir);
  const meta = (): NodeMeta => ({
    protocol: PROTOCOL_VERSION,
    version: VERSION,
    tags: config.tags,
    resources,
    ...offerOf(config),
    rpcAddr: formatAddress(advertiseHost, init.rpcPort),
    httpAddr: formatAddress(advertiseHost, init.httpPort),
    startedAtMs: Math.round(clock.wallMs()),
    epoch,
    ...(epochOrigin === undefined ? {} : { epochOrigin }),
    ...(bootstrap === undefined ? {} : { bootstrap }),
  });
  let epoch = init.epoch;
  let epochOrigin = init.epochOrigin;
  let bootstrap = init.bootstrap;
  const startedMeta = meta();
  /** The metadata now: what was published at start, with what has changed since. */
  const current = (): NodeMeta => {
    const { bootstrap: _b, epochOrigin: _o, ...base } = startedMeta;
    return { ...base, resources, epoch, ...(epochOrigin === undefined ? {} : { epochOrigin }), ...(bootstrap === undefined ? {} : { bootstrap }) };
  };
  const swim = new Swim<NodeMeta>({
    id: init.nodeId as NodeId,
    addr: advertiseAddr,
    meta: startedMeta,
    config: SWIM_PRESETS[config.gossip.preset],
    random: new SeededRandom(randomBytes(4).readUInt32LE(0)),
    nowMs: clock.nowMs(),
  });
  const log = logger.child({ component: 'gossip' });
  const membership = new Membership({ swim, datagrams, stream, codec: createWireCodec(), clock, keyring, log });

  let closed = false;
  // The members known before a restart are joined too: after a whole cluster reboots, a node
  // started without --join (the one that originated the cluster) still finds the others.
  const known = await readKnownPeers(init.dataDir, log);
  if (config.join.length > 0) {
    void resolveJoin(config.join, clock, log, () => closed).then((addrs) => {
      const all = [...new Set([...addrs, ...known])].filter((a) => a !== advertiseAddr);
      if (all.length > 0 && !closed) membership.join(all);
    });
  } else if (known.length > 0) {
    membership.join(known.filter((a) => a !== advertiseAddr));
  }
  let savedPeers = JSON.stringify([...known].sort());
  const savePeers = async (): Promise<void> => {
    const addrs = membership.members().filter((m) => m.status === 'alive' && m.addr !== advertiseAddr).map((m) => m.addr).sort().slice(0, MAX_KNOWN_PEERS);
    const text = JSON.stringify(addrs);
    if (addrs.length === 0 || text === savedPeers) return;
    savedPeers = text;
    await writeAtomic(new NodeFileSystem(), join(init.dataDir, KNOWN_PEERS_FILE), new TextEncoder().encode(text)).catch((e: unknown) => {
      log.warn({ err: e instanceof Error ? e.message : String(e) }, 'cannot save the known peers (a full reboot may need --join)');
    });
  };

  // A first save soon after start, so a node that is killed early still remembers its peers.
  const firstSave = clock.setTimer(3000, () => void savePeers());

  // Refresh resources; publish only meaningful changes (each publish is a broadcast).
  let publishedAtMs = clock.nowMs();
  let refresh: Timer | undefined;
  const schedule = (): void => {
    // Jittered, so agents sharing a host (who see the same changes) do not publish in waves.
    const delayMs = RESOURCE_REFRESH_MS * (0.75 + 0.5 * Math.random());
    refresh = clock.setTimer(delayMs, () => {
      void sampleResources(init.dataDir).then((next) => {
        if (closed) return;
        if (resourcesChanged(resources, next) || clock.nowMs() - publishedAtMs >= RESOURCE_MAX_AGE_MS) {
          resources = next;
          publishedAtMs = clock.nowMs();
          membership.updateMeta(current());
        }
        return savePeers();
      }).catch((e: unknown) => log.warn({ err: e instanceof Error ? e.message : String(e) }, 'resource refresh failed'))
        .finally(() => {
          if (!closed) schedule();
        });
    });
  };
  schedule();

  log.info({ addr: advertiseAddr, preset: config.gossip.preset, encrypted: keyring !== undefined }, 'gossip listening');
  return {
    membership,
    stream,
    port,
    advertiseAddr,
    setEpoch(next, origin) {
      epoch = next;
      epochOrigin = origin;
      membership.updateMeta(current());
    },
    setBootstrap(next) {
      bootstrap = next;
      membership.updateMeta(current());
    },
    leave: (timeoutMs) => membership.leave(timeoutMs),
    async close() {
      firstSave.cancel();
      await savePeers();
      closed = true;
      refresh?.cancel();
      await membership.stop();
      await Promise.all([datagrams.close(), stream.close()]);
    },
  };
}

/**
 * Resolves --join targets: a DNS name joins every address it resolves to. Names that do not
 * resolve yet (DNS not up at boot) are retried with backoff, like unreachable seeds.
 */
async function resolveJoin(targets: readonly string[], clock: Clock, log: Logger, closed: () => boolean): Promise<string[]> {
  for (let attempt = 0; !closed(); attempt++) {
    const out: string[] = [];
    for (const target of targets) {
      const colon = target.lastIndexOf(':');
      const name = target.slice(0, colon).replace(/^\[|\]$/g, '');
      const port = Number(target.slice(colon + 1));
      if (isIP(name)) {
        out.push(formatAddress(name, port));
        continue;
      }
      try {
        for (const { address } of await lookup(name, { all: true })) out.push(formatAddress(address, port));
      } catch (e) {
        log.warn({ target, err: (e as Error).message }, 'cannot resolve join address');
      }
    }
    if (out.length > 0) return [...new Set(out)];
    const delayMs = Math.min(30_000, 500 * 2 ** attempt);
    await new Promise<void>((resolve) => clock.setTimer(delayMs, resolve));
  }
  return [];
}

function isUnspecified(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}

/** The first non-internal IPv4 address: what peers most likely reach us at. */
function guessAdvertiseHost(): string {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

function portOf(address: string): number {
  return Number(address.slice(address.lastIndexOf(':') + 1));
}

/** The peers saved by an earlier run; a damaged file is ignored with a warning (--join still works). */
export async function readKnownPeers(dataDir: string, log: Logger): Promise<string[]> {
  const r = await readAtomic(new NodeFileSystem(), join(dataDir, KNOWN_PEERS_FILE));
  if (!r.ok) {
    log.warn({ err: r.error.message }, 'ignoring a damaged known-peers file');
    return [];
  }
  if (r.value === undefined) return [];
  try {
    const parsed: unknown = JSON.parse(new TextDecoder().decode(r.value));
    if (!Array.isArray(parsed)) return [];
    return parsed.filter((a): a is string => typeof a === 'string' && a.length <= 300).slice(0, MAX_KNOWN_PEERS);
  } catch {
    log.warn({}, 'ignoring a known-peers file that is not JSON');
    return [];
  }
}

/** The operator's override of what this node offers to workloads, when set. */
function offerOf(config: AgentConfig): Pick<NodeMeta, 'offer'> {
  const { offerCpuMillis, offerMemoryMB } = config.workloads;
  if (offerCpuMillis === undefined && offerMemoryMB === undefined) return {};
  return { offer: { ...(offerCpuMillis === undefined ? {} : { cpuMillis: offerCpuMillis }), ...(offerMemoryMB === undefined ? {} : { memoryMB: offerMemoryMB }) } };
}
