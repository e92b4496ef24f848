// Turns one DNS query (bytes) into one reply (bytes) or a drop, with no sockets: the UDP server
// is a thin shell around it, and tests drive it directly. It never throws on what a client
// sent; a lookup that throws becomes SERVFAIL (the agent keeps running, the fault is reported).
//
// Answers: A/AAAA/SRV for services (passing instances only: that filter is the lookup's job),
// A/AAAA for nodes and addr targets, SOA at the apex. Names that exist but have no record of
// the asked type get NODATA, names that cannot exist NXDOMAIN, both with the zone's SOA in the
// authority section so resolvers can cache the negative answer for ttlSeconds (RFC 2308 §3).
// Records are shuffled with the injected Random so that clients taking the first address
// spread their load, like Consul's DNS interface.
import type { Random } from '../../core/random.ts';
import { assert } from '../../core/result.ts';
import {
  checkName,
  decodeDnsMessage,
  DNS_CLASS,
  DNS_OPCODE,
  DNS_RCODE,
  DNS_TYPE,
  encodeDnsMessage,
  formatIpv4,
  formatIpv6,
  lowerAscii,
  MAX_MESSAGE_BYTES,
  MIN_UDP_PAYLOAD_BYTES,
  parseIpv4,
  parseIpv6,
  type DnsDecodeError,
  type DnsEdns,
  type DnsName,
  type DnsQuestion,
  type DnsRecord,
} from '../../wire/dns.ts';
import { ADDR_LABEL, classifyQueryName, encodeAddrLabel, NODE_LABEL } from './query-name.ts';

export interface DnsServiceInstance {
  /** The node ID the instance runs on (names the SRV target when the addresses agree). */
  readonly node: string;
  /** An IPv4 or IPv6 literal; anything else is skipped and counted. */
  readonly address: string;
  readonly port: number;
}

export interface DnsServiceAnswer {
  /** The service is known (registered), even if no instance passes: NODATA instead of NXDOMAIN. */
  readonly exists: boolean;
  /** Only the instances whose checks pass (and that carry the tag, when one was asked). */
  readonly instances: readonly DnsServiceInstance[];
}

/**
 * What the agent knows, read from its local copy of the catalog. Names arrive in ASCII lower
 * case (DNS is case-insensitive, RFC 4343); compare case-insensitively (node IDs may have
 * upper case). Called synchronously on the event loop, so keep it an in-memory read.
 */
export interface DnsLookup {
  services(name: string, tag?: string): DnsServiceAnswer;
  /** A node's address (IPv4 or IPv6 literal), or undefined when there is no such node. */
  node(name: string): string | undefined;
}

export interface DnsResponderOptions {
  /** The zone, e.g. "sappers" or "cluster.example"; answered case-insensitively. */
  readonly domain: string;
  readonly lookup: DnsLookup;
  readonly random: Random;
  /** TTL of every record and of negative answers (SOA minimum). */
  readonly ttlSeconds: number;
  /** The UDP payload size we advertise in EDNS and accept from EDNS clients, in [512, 4096]. */
  readonly maxUdpPayloadBytes: number;
}

/** Queries larger than this are dropped unread; a real query is under 300 bytes. */
export const MAX_QUERY_BYTES = 4096;

export type DnsOutcome = 'answer' | 'nodata' | 'nxdomain' | 'refused' | 'notimp' | 'formerr' | 'servfail' | 'badvers';

export type DnsReply =
  | {
      readonly kind: 'reply';
      readonly bytes: Uint8Array;
      readonly outcome: DnsOutcome;
      /** Some answers did not fit: TC is set. */
      readonly truncated: boolean;
      /** Why the query was malformed (outcome 'formerr'). */
      readonly malformed?: DnsDecodeError;
      /** What the lookup threw (outcome 'servfail'). */
      readonly failure?: unknown;
    }
  | {
      readonly kind: 'drop';
      /** oversize: over MAX_QUERY_BYTES; short: no header to answer; response: QR set (never answer answers, so two servers cannot ping-pong). */
      readonly reason: 'oversize' | 'short' | 'response';
    };

export interface DnsResponderCounters {
  /** Instances or node addresses the lookup returned that could not be put in a record (bad IP, port, or name). */
  readonly skippedInstances: number;
}

/** How the reply travels: UDP answers are cut to the client's size, TCP ones to 65535 bytes. */
export type DnsTransportKind = 'udp' | 'tcp';

interface Resolution {
  readonly rcode: number;
  readonly answers: readonly DnsRecord[];
  readonly additionals: readonly DnsRecord[];
}

/** An RR is at least 12 bytes (2-byte pointer, 10 fixed bytes): no more can fit a message. */
const MIN_RECORD_BYTES = 12;

export class DnsResponder {
  readonly #domain: DnsName;
  readonly #lookup: DnsLookup;
  readonly #random: Random;
  readonly #ttl: number;
  readonly #maxUdp: number;
  #skipped = 0;

  constructor(options: DnsResponderOptions) {
    const domain = options.domain.replace(/\.$/, '').split('.').map(lowerAscii);
    assert(domain.length > 0 && checkName(domain).ok && domain.every((l) => /^[\x21-\x7e]+$/.test(l)), `DNS domain must be a valid name, got ${JSON.stringify(options.domain)}`);
    // Leave room under 255 bytes for <63-byte label>.<kind>.<domain> names.
    assert(domain.reduce((n, l) => n + 1 + l.length, 1) <= 160, 'DNS domain is too long');
    assert(Number.isInteger(options.ttlSeconds) && options.ttlSeconds >= 0 && options.ttlSeconds <= 0x7fffffff, `ttlSeconds must be in [0, 2^31), got ${options.ttlSeconds}`);
    assert(
      Number.isInteger(options.maxUdpPayloadBytes) && options.maxUdpPayloadBytes >= MIN_UDP_PAYLOAD_BYTES && options.maxUdpPayloadBytes <= MAX_QUERY_BYTES,
      `maxUdpPayloadBytes must be in [512, 4096], got ${options.maxUdpPayloadBytes}`,
    );
    this.#domain = domain;
    this.#lookup = options.lookup;
    this.#random = options.random;
    this.#ttl = options.ttlSeconds;
    this.#maxUdp = options.maxUdpPayloadBytes;
  }

  get counters(): DnsResponderCounters {
    return { skippedInstances: this.#skipped };
  }

  respond(query: Uint8Array, transport: DnsTransportKind = 'udp'): DnsReply {
    if (query.length > MAX_QUERY_BYTES) return { kind: 'drop', reason: 'oversize' };
    const decoded = decodeDnsMessage(query);
    if (!decoded.ok) {
      const header = decoded.error.header;
      if (header === null) return { kind: 'drop', reason: 'short' };
      if (header.qr) return { kind: 'drop', reason: 'response' };
      const bytes = this.#encode(header.id, header.opcode, header.rd, false, DNS_RCODE.FORMERR, [], { answers: [], additionals: [] }, null, MIN_UDP_PAYLOAD_BYTES);
      return { kind: 'reply', bytes: bytes.bytes, outcome: 'formerr', truncated: false, malformed: decoded.error };
    }
    const msg = decoded.value;
    const h = msg.header;
    if (h.qr) return { kind: 'drop', reason: 'response' };
    const echo = msg.questions.length === 1 ? msg.questions : [];
    const udpLimit = msg.edns === null ? MIN_UDP_PAYLOAD_BYTES : Math.min(this.#maxUdp, Math.max(MIN_UDP_PAYLOAD_BYTES, msg.edns.udpPayloadBytes));
    const limit = transport === 'tcp' ? MAX_MESSAGE_BYTES : udpLimit;
    const ourEdns = msg.edns === null ? null : this.#edns(0);
    const reply = (outcome: DnsOutcome, rcode: number, aa: boolean, res: { answers: readonly DnsRecord[]; additionals: readonly DnsRecord[] }, extra: { failure?: unknown } = {}): DnsReply => {
      const edns = ourEdns === null ? null : this.#edns(rcode >> 4);
      const encoded = this.#encode(h.id, h.opcode, h.rd, aa, rcode & 0xf, echo, res, edns, limit);
      return { kind: 'reply', bytes: encoded.bytes, outcome, truncated: encoded.truncated, ...extra };
    };
    const none = { answers: [], additionals: [] };
    if (h.opcode !== DNS_OPCODE.QUERY) return reply('notimp', DNS_RCODE.NOTIMP, false, none);
    if (msg.questions.length !== 1) return reply('formerr', DNS_RCODE.FORMERR, false, none);
    // RFC 6891 §6.1.3: we speak EDNS version 0 only.
    if (msg.edns !== null && msg.edns.version !== 0) return reply('badvers', DNS_RCODE.BADVERS, false, none);
    const question = msg.questions[0] as DnsQuestion;
    if (question.class !== DNS_CLASS.IN && question.class !== DNS_CLASS.ANY) return reply('refused', DNS_RCODE.REFUSED, false, none);
    const maxRecords = Math.ceil(limit / MIN_RECORD_BYTES);
    let res: Resolution | 'outside';
    try {
      res = this.#resolve(question, maxRecords);
    } catch (failure) {
      return reply('servfail', DNS_RCODE.SERVFAIL, false, none, { failure });
    }
    if (res === 'outside') return reply('refused', DNS_RCODE.REFUSED, false, none);
    const outcome: DnsOutcome = res.rcode === DNS_RCODE.NXDOMAIN ? 'nxdomain' : res.answers.length === 0 ? 'nodata' : 'answer';
    return reply(outcome, res.rcode, true, res);
  }

  #edns(extendedRcode: number): DnsEdns {
    return { udpPayloadBytes: this.#maxUdp, extendedRcode, version: 0, dnssecOk: false, z: 0, options: [] };
  }

  #encode(
    id: number,
    opcode: number,
    rd: boolean,
    aa: boolean,
    rcode: number,
    questions: readonly DnsQuestion[],
    res: { readonly answers: readonly DnsRecord[]; readonly additionals: readonly DnsRecord[] },
    edns: DnsEdns | null,
    maxBytes: number,
  ): { readonly bytes: Uint8Array; readonly truncated: boolean } {
    // Negative answers carry the SOA (RFC 2308 §3); so does nothing else we send.
    const negative = aa && res.answers.length === 0 && (rcode === DNS_RCODE.NOERROR || rcode === DNS_RCODE.NXDOMAIN);
    const encoded = encodeDnsMessage(
      {
        header: { id, qr: true, opcode, aa, tc: false, rd, ra: false, z: 0, rcode },
        questions,
        answers: res.answers,
        authorities: negative ? [this.#soa()] : [],
        additionals: res.additionals,
        edns,
      },
      { maxBytes },
    );
    // One question of <= 255 bytes and an empty OPT always fit in 512 bytes.
    assert(encoded.ok, 'a DNS reply header and question always fit');
    return encoded.value;
  }

  #soa(): DnsRecord {
    const d = this.#domain;
    return {
      name: d,
      class: DNS_CLASS.IN,
      ttl: this.#ttl,
      data: { type: 'SOA', mname: ['ns', ...d], rname: ['hostmaster', ...d], serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum: this.#ttl },
    };
  }

  #resolve(q: DnsQuestion, maxRecords: number): Resolution | 'outside' {
    const target = classifyQueryName(q.name, this.#domain);
    const nodata: Resolution = { rcode: DNS_RCODE.NOERROR, answers: [], additionals: [] };
    const nxdomain: Resolution = { rcode: DNS_RCODE.NXDOMAIN, answers: [], additionals: [] };
    switch (target.kind) {
      case 'outside':
        return 'outside';
      case 'none':
        return nxdomain;
      case 'empty':
        return nodata;
      case 'apex':
        return q.type === DNS_TYPE.SOA || q.type === DNS_TYPE.ANY ? { ...nodata, answers: [{ ...this.#soa(), name: q.name }] } : nodata;
      case 'node': {
        const address = this.#lookup.node(target.name);
        if (address === undefined) return nxdomain;
        return { ...nodata, answers: this.#addressRecords(q, [address], maxRecords) };
      }
      case 'addr': {
        const text = target.bytes.length === 4 ? formatIpv4(target.bytes) : formatIpv6(target.bytes);
        return { ...nodata, answers: this.#addressRecords(q, [text], maxRecords) };
      }
      case 'service': {
        const found = this.#lookup.services(target.name, target.tag);
        if (!found.exists) return nxdomain;
        if (q.type === DNS_TYPE.SRV) return { ...nodata, ...this.#srvRecords(q, found.instances, maxRecords) };
        return { ...nodata, answers: this.#addressRecords(q, found.instances.map((i) => i.address), maxRecords) };
      }
    }
  }

  /** A and/or AAAA records for the asked type, one per distinct address, shuffled. */
  #addressRecords(q: DnsQuestion, addresses: readonly string[], maxRecords: number): DnsRecord[] {
    const wantA = q.type === DNS_TYPE.A || q.type === DNS_TYPE.ANY;
    const wantAaaa = q.type === DNS_TYPE.AAAA || q.type === DNS_TYPE.ANY;
    if (!wantA && !wantAaaa) return [];
    // RFC 2181 §5: an RRset holds no duplicates; canonical text makes equal addresses equal.
    // Drawing in random order and stopping once enough records are found keeps the work per
    // query near what fits in the reply, however many instances there are.
    const seen = new Map<string, 'A' | 'AAAA'>();
    for (const address of shuffled(addresses, this.#random)) {
      if (seen.size >= maxRecords) break;
      const family = this.#family(address);
      if (family === undefined) continue;
      if ((family.type === 'A' && wantA) || (family.type === 'AAAA' && wantAaaa)) seen.set(family.text, family.type);
    }
    const picked = [...seen];
    return picked.map(([address, type]) => ({ name: q.name, class: DNS_CLASS.IN, ttl: this.#ttl, data: { type, address } }));
  }

  #family(address: string): { readonly type: 'A' | 'AAAA'; readonly text: string } | undefined {
    const v4 = parseIpv4(address);
    if (v4 !== undefined) return { type: 'A', text: formatIpv4(v4) };
    const v6 = parseIpv6(address);
    if (v6 !== undefined) return { type: 'AAAA', text: formatIpv6(v6) };
    this.#skipped++;
    return undefined;
  }

  /**
   * SRV records (priority 1, weight 1: every passing instance is as good as another) with
   * the target's address in the additional section, as Consul does, so a client needs no
   * second query. The target is <node>.node.<domain> when the instance listens on its node's
   * address, else <hex>.addr.<domain>, so that the target always resolves to where the port is.
   */
  #srvRecords(q: DnsQuestion, instances: readonly DnsServiceInstance[], maxRecords: number): Pick<Resolution, 'answers' | 'additionals'> {
    const answers: DnsRecord[] = [];
    const additionals: DnsRecord[] = [];
    const targetsDone = new Set<string>();
    const nodeAddresses = new Map<string, string | undefined>();
    // Stopping once enough records are found keeps the work per query bounded by what can fit.
    for (const instance of shuffled(instances, this.#random)) {
      if (answers.length >= maxRecords) break;
      const family = this.#family(instance.address);
      if (family === undefined) continue;
      if (!Number.isInteger(instance.port) || instance.port < 0 || instance.port > 0xffff) {
        this.#skipped++;
        continue;
      }
      let nodeAddress = nodeAddresses.get(instance.node);
      if (!nodeAddresses.has(instance.node)) {
        const raw = this.#lookup.node(instance.node);
        nodeAddress = raw === undefined ? undefined : this.#family(raw)?.text;
        nodeAddresses.set(instance.node, nodeAddress);
      }
      const byNode: DnsName = [...instance.node.split('.'), NODE_LABEL, ...this.#domain];
      const useNode = nodeAddress === family.text && checkName(byNode).ok;
      const bytes = family.type === 'A' ? (parseIpv4(family.text) as Uint8Array) : (parseIpv6(family.text) as Uint8Array);
      const target: DnsName = useNode ? byNode : [encodeAddrLabel(bytes), ADDR_LABEL, ...this.#domain];
      answers.push({ name: q.name, class: DNS_CLASS.IN, ttl: this.#ttl, data: { type: 'SRV', priority: 1, weight: 1, port: instance.port, target } });
      const key = target.map(lowerAscii).join('.');
      if (!targetsDone.has(key)) {
        targetsDone.add(key);
        additionals.push({ name: target, class: DNS_CLASS.IN, ttl: this.#ttl, data: { type: family.type, address: family.text } });
      }
    }
    return { answers, additionals };
  }
}

/**
 * The items in uniformly random order, drawn lazily (Fisher-Yates one step per item taken), so
 * a caller that stops early pays for the copy and the items it took, not for a full shuffle.
 */
export function* shuffled<T>(items: readonly T[], random: Random): Generator<T, void, undefined> {
  const copy = items.slice();
  for (let i = 0; i < copy.length; i++) {
    const j = i + random.int(copy.length - i);
    const t = copy[j] as T;
    copy[j] = copy[i] as T;
    copy[i] = t;
    yield t;
  }
}
