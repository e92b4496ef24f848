import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SeededRandom } from '../../../src/core/random.ts';
import { DNS_CLASS, DNS_OPCODE, DNS_RCODE, DNS_TYPE, type DnsMessage } from '../../../src/wire/dns.ts';
import { DnsResponder, MAX_QUERY_BYTES, shuffled, type DnsLookup, type DnsReply } from '../../../src/runtime/dns/responder.ts';
import { classifyQueryName, decodeAddrLabel, encodeAddrLabel } from '../../../src/runtime/dns/query-name.ts';
import { addressesOf, catalogLookup, decodeReply, EDNS, queryBytes, rcodeOf, type Catalog, type CatalogInstance } from './fixtures.ts';

const CATALOG: Catalog = {
  services: {
    web: [
      { node: 'n1', address: '10.0.0.1', port: 8080, tags: ['v1', 'primary'] },
      { node: 'n2', address: '10.0.0.2', port: 8081, tags: ['v2'] },
      { node: 'n3', address: 'fd00::3', port: 8082, tags: ['v1'] },
      // Same address as n1's instance: one A record, two SRV records.
      { node: 'n1', address: '10.0.0.1', port: 9090, tags: [] },
      // fd00::3 spelled differently: still one AAAA record, and still n3's own address.
      { node: 'n3', address: 'FD00:0::3', port: 8083, tags: [] },
    ],
    idle: [],
    odd: [
      { node: 'n1', address: 'not-an-ip', port: 80, tags: [] },
      { node: 'n1', address: '10.0.0.1', port: 70000, tags: [] },
      { node: 'Rack.B7', address: '10.0.0.7', port: 7, tags: [] },
    ],
  },
  nodes: { n1: '10.0.0.1', n2: '10.0.0.99', n3: 'fd00::3', 'Rack.B7': '10.0.0.7' },
};

function responder(options: { lookup?: DnsLookup; seed?: number; ttlSeconds?: number; domain?: string } = {}): DnsResponder {
  return new DnsResponder({
    domain: options.domain ?? 'sappers',
    lookup: options.lookup ?? catalogLookup(CATALOG),
    random: new SeededRandom(options.seed ?? 1),
    ttlSeconds: options.ttlSeconds ?? 0,
    maxUdpPayloadBytes: 1232,
  });
}

function replyOf(r: DnsReply): Extract<DnsReply, { kind: 'reply' }> {
  assert.equal(r.kind, 'reply', JSON.stringify(r));
  return r as Extract<DnsReply, { kind: 'reply' }>;
}

function ask(res: DnsResponder, name: string, type: number = DNS_TYPE.A, options: Parameters<typeof queryBytes>[2] = {}): DnsMessage {
  return decodeReply(replyOf(res.respond(queryBytes(name, type, options))).bytes);
}

describe('DNS responder: services', () => {
  it('A and AAAA give the distinct addresses of the passing instances, authoritatively, with TTL 0', () => {
    const res = responder();
    const a = ask(res, 'web.service.sappers');
    assert.equal(rcodeOf(a), DNS_RCODE.NOERROR);
    assert.equal(a.header.aa, true);
    assert.equal(a.header.id, 0x4242);
    assert.equal(a.header.rd, true);
    assert.equal(a.header.ra, false);
    assert.deepEqual(addressesOf(a), ['10.0.0.1', '10.0.0.2']);
    assert.ok(a.answers.every((r) => r.ttl === 0 && r.class === DNS_CLASS.IN));
    assert.deepEqual(addressesOf(ask(res, 'web.service.sappers', DNS_TYPE.AAAA)), ['fd00::3']);
    assert.deepEqual(addressesOf(ask(res, 'web.service.sappers', DNS_TYPE.ANY)), ['10.0.0.1', '10.0.0.2', 'fd00::3']);
  });

  it('SRV answers one record per instance, in both name forms, with target addresses in the additional section', () => {
    const res = responder();
    for (const name of ['web.service.sappers', '_web._tcp.service.sappers']) {
      const m = ask(res, name, DNS_TYPE.SRV);
      const srv = m.answers.map((r) => (r.data.type === 'SRV' ? `${r.data.target.join('.')}:${r.data.port}/${r.data.priority}/${r.data.weight}` : '?')).sort();
      // n2's instance listens on 10.0.0.2, not on its node's address 10.0.0.99: the target is
      // the instance address itself, so that it always resolves to where the port is.
      assert.deepEqual(srv, ['0a000002.addr.sappers:8081/1/1', 'n1.node.sappers:8080/1/1', 'n1.node.sappers:9090/1/1', 'n3.node.sappers:8082/1/1', 'n3.node.sappers:8083/1/1']);
      const extra = m.additionals.map((r) => `${r.name.join('.')}=${r.data.type === 'A' || r.data.type === 'AAAA' ? r.data.address : '?'}`).sort();
      assert.deepEqual(extra, ['0a000002.addr.sappers=10.0.0.2', 'n1.node.sappers=10.0.0.1', 'n3.node.sappers=fd00::3']);
    }
  });

  it('SRV targets resolve: node names to the node, addr names to the address', () => {
    const res = responder();
    assert.deepEqual(addressesOf(ask(res, 'n1.node.sappers')), ['10.0.0.1']);
    assert.deepEqual(addressesOf(ask(res, '0a000002.addr.sappers')), ['10.0.0.2']);
    assert.deepEqual(addressesOf(ask(res, `${encodeAddrLabel(Uint8Array.from([0xfd, ...new Array<number>(14).fill(0), 3]))}.addr.sappers`, DNS_TYPE.AAAA)), ['fd00::3']);
    assert.equal(rcodeOf(ask(res, 'zz000002.addr.sappers')), DNS_RCODE.NXDOMAIN);
    // The wrong family for an address is NODATA.
    const nodata = ask(res, '0a000002.addr.sappers', DNS_TYPE.AAAA);
    assert.equal(rcodeOf(nodata), DNS_RCODE.NOERROR);
    assert.equal(nodata.answers.length, 0);
  });

  it('filters by tag: <tag>.<name>.service and _<name>._<tag>.service', () => {
    const res = responder();
    assert.deepEqual(addressesOf(ask(res, 'v1.web.service.sappers', DNS_TYPE.ANY)), ['10.0.0.1', 'fd00::3']);
    assert.deepEqual(addressesOf(ask(res, 'v2.web.service.sappers')), ['10.0.0.2']);
    const srv = ask(res, '_web._primary.service.sappers', DNS_TYPE.SRV);
    assert.deepEqual(
      srv.answers.map((r) => (r.data.type === 'SRV' ? r.data.port : 0)),
      [8080],
    );
    // A tag nobody carries: the service exists, so NODATA rather than NXDOMAIN.
    const none = ask(res, 'v9.web.service.sappers');
    assert.equal(rcodeOf(none), DNS_RCODE.NOERROR);
    assert.equal(none.answers.length, 0);
  });

  it('names are case-insensitive; the question comes back exactly as asked (0x20 randomization)', () => {
    const calls: string[] = [];
    const res = responder({ lookup: catalogLookup(CATALOG, calls) });
    const m = ask(res, 'WeB.SeRvIcE.SAPPERS');
    assert.deepEqual(m.questions[0]!.name, ['WeB', 'SeRvIcE', 'SAPPERS']);
    assert.deepEqual(m.answers[0]!.name, ['WeB', 'SeRvIcE', 'SAPPERS']);
    assert.deepEqual(addressesOf(m), ['10.0.0.1', '10.0.0.2']);
    assert.deepEqual(calls, ['services(web)'], 'the lookup gets lower-case names');
  });

  it('an existing service with no passing instance is NODATA with the SOA; an unknown one NXDOMAIN with the SOA', () => {
    const res = responder({ ttlSeconds: 5 });
    for (const [name, rcode] of [
      ['idle.service.sappers', DNS_RCODE.NOERROR],
      ['nope.service.sappers', DNS_RCODE.NXDOMAIN],
    ] as const) {
      const m = ask(res, name);
      assert.equal(rcodeOf(m), rcode);
      assert.equal(m.answers.length, 0);
      assert.equal(m.header.aa, true);
      assert.equal(m.authorities.length, 1);
      const soa = m.authorities[0]!;
      assert.deepEqual(soa.name, ['sappers']);
      assert.ok(soa.data.type === 'SOA' && soa.data.minimum === 5 && soa.ttl === 5, 'negative answers are cached for the configured TTL (RFC 2308)');
    }
  });

  it('unknown record types: NODATA for names that exist, NXDOMAIN for names that do not', () => {
    const res = responder();
    for (const name of ['web.service.sappers', 'n1.node.sappers', 'service.sappers', 'node.sappers', 'sappers']) {
      const m = ask(res, name, DNS_TYPE.TXT);
      assert.equal(rcodeOf(m), DNS_RCODE.NOERROR, name);
      assert.equal(m.answers.length, 0, name);
    }
    for (const name of ['nope.service.sappers', 'nope.node.sappers', 'www.sappers', 'a.b.c.service.sappers', '_web.service.sappers']) {
      assert.equal(rcodeOf(ask(res, name, DNS_TYPE.TXT)), DNS_RCODE.NXDOMAIN, name);
    }
  });

  it('the apex answers SOA', () => {
    const m = ask(responder(), 'sappers', DNS_TYPE.SOA);
    assert.equal(m.answers.length, 1);
    assert.equal(m.answers[0]!.data.type, 'SOA');
  });

  it('a multi-label domain works, and names outside it are REFUSED without lookups', () => {
    const calls: string[] = [];
    const res = responder({ domain: 'Cluster.Example.', lookup: catalogLookup(CATALOG, calls) });
    assert.deepEqual(addressesOf(ask(res, 'web.service.cluster.example')), ['10.0.0.1', '10.0.0.2']);
    calls.length = 0;
    for (const name of ['web.service.sappers', 'example', 'com', 'service.cluster.example.org']) {
      const m = ask(res, name);
      assert.equal(rcodeOf(m), DNS_RCODE.REFUSED, name);
      assert.equal(m.header.aa, false);
    }
    assert.deepEqual(calls, []);
  });

  it('nodes: dotted node IDs are one name; unknown nodes are NXDOMAIN', () => {
    const res = responder();
    assert.deepEqual(addressesOf(ask(res, 'rack.b7.node.sappers')), ['10.0.0.7']);
    assert.deepEqual(addressesOf(ask(res, 'n3.node.sappers', DNS_TYPE.AAAA)), ['fd00::3']);
    assert.equal(rcodeOf(ask(res, 'n9.node.sappers')), DNS_RCODE.NXDOMAIN);
  });

  it('skips and counts instances that cannot become records (not an IP, port out of range)', () => {
    const res = responder();
    const m = ask(res, 'odd.service.sappers', DNS_TYPE.SRV);
    assert.deepEqual(
      m.answers.map((r) => (r.data.type === 'SRV' ? `${r.data.target.join('.')}:${r.data.port}` : '?')),
      ['Rack.B7.node.sappers:7'],
    );
    assert.equal(res.counters.skippedInstances, 2);
  });
});

describe('DNS responder: shuffling and truncation', () => {
  const many: CatalogInstance[] = Array.from({ length: 300 }, (_, i) => ({ node: `node-${i}`, address: `10.1.${i >> 8}.${i & 0xff}`, port: 20000 + i, tags: [] }));
  const big: Catalog = { services: { big: many }, nodes: Object.fromEntries(many.map((i) => [i.node, i.address])) };

  it('the order depends on the injected Random only: same seed, same order; other seeds, other orders', () => {
    const order = (seed: number): string[] => ask(responder({ seed }), 'web.service.sappers', DNS_TYPE.SRV).answers.map((r) => (r.data.type === 'SRV' ? String(r.data.port) : '?'));
    assert.deepEqual(order(7), order(7));
    const seen = new Set(Array.from({ length: 20 }, (_, s) => order(s).join(',')));
    assert.ok(seen.size > 1, 'different seeds give different orders');
    // Every record is there whatever the order.
    for (const o of seen) assert.deepEqual(o.split(',').sort(), ['8080', '8081', '8082', '8083', '9090']);
  });

  it('shuffled yields every item exactly once, and is lazy', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 50 }), fc.nat(), (items, seed) => {
        assert.deepEqual([...shuffled(items, new SeededRandom(seed))].sort((a, b) => a - b), items.slice().sort((a, b) => a - b));
      }),
    );
    let draws = 0;
    const counting = new SeededRandom(1);
    const spy = { ...counting, nextUint32: () => counting.nextUint32(), float: () => counting.float(), fork: () => counting.fork(), int: (n: number) => (draws++, counting.int(n)) };
    const it = shuffled(Array.from({ length: 1000 }, (_, i) => i), spy);
    it.next();
    it.next();
    assert.equal(draws, 2);
  });

  it('without EDNS a big answer is cut to 512 bytes with TC; with EDNS to the smaller of both sizes', () => {
    const res = responder({ lookup: catalogLookup(big) });
    const plain = replyOf(res.respond(queryBytes('big.service.sappers')));
    assert.equal(plain.truncated, true);
    assert.ok(plain.bytes.length <= 512);
    const m = decodeReply(plain.bytes);
    assert.equal(m.header.tc, true);
    assert.ok(m.answers.length > 20 && m.answers.length < 300);
    assert.equal(new Set(addressesOf(m)).size, m.answers.length);

    const edns = replyOf(res.respond(queryBytes('big.service.sappers', DNS_TYPE.A, { edns: EDNS })));
    assert.ok(edns.truncated && edns.bytes.length <= 1232 && edns.bytes.length > 1000, `advertised 1232 bounds it: ${edns.bytes.length}`);
    const e = decodeReply(edns.bytes);
    assert.equal(e.edns?.udpPayloadBytes, 1232, 'we advertise our UDP size');
    // A client advertising less than 512 still gets 512 (RFC 6891 §6.2.5).
    const tiny = replyOf(res.respond(queryBytes('big.service.sappers', DNS_TYPE.A, { edns: { ...EDNS, udpPayloadBytes: 100 } })));
    assert.ok(tiny.bytes.length <= 512 && tiny.bytes.length > 400);
  });

  it('over TCP the whole answer fits; SRV additional records are dropped before answers', () => {
    const res = responder({ lookup: catalogLookup(big) });
    const tcp = replyOf(res.respond(queryBytes('big.service.sappers'), 'tcp'));
    assert.equal(tcp.truncated, false);
    assert.equal(addressesOf(decodeReply(tcp.bytes)).length, 300);
    const srv = decodeReply(replyOf(res.respond(queryBytes('big.service.sappers', DNS_TYPE.SRV, { edns: EDNS }))).bytes);
    assert.equal(srv.header.tc, true);
    assert.ok(srv.additionals.length <= srv.answers.length);
  });
});

describe('DNS responder: protocol errors', () => {
  it('opcodes other than QUERY are NOTIMP', () => {
    for (const opcode of [DNS_OPCODE.IQUERY, DNS_OPCODE.STATUS, DNS_OPCODE.NOTIFY, DNS_OPCODE.UPDATE]) {
      const m = ask(responder(), 'web.service.sappers', DNS_TYPE.A, { opcode });
      assert.equal(rcodeOf(m), DNS_RCODE.NOTIMP);
      assert.equal(m.header.opcode, opcode);
      assert.equal(m.answers.length, 0);
    }
  });

  it('EDNS versions other than 0 get BADVERS', () => {
    const m = ask(responder(), 'web.service.sappers', DNS_TYPE.A, { edns: { ...EDNS, version: 1 } });
    assert.equal(rcodeOf(m), DNS_RCODE.BADVERS);
    assert.equal(m.edns?.version, 0);
  });

  it('classes other than IN and ANY are REFUSED (no CHAOS version.bind)', () => {
    assert.equal(rcodeOf(ask(responder(), 'web.service.sappers', DNS_TYPE.A, { class: DNS_CLASS.CH })), DNS_RCODE.REFUSED);
    assert.deepEqual(addressesOf(ask(responder(), 'web.service.sappers', DNS_TYPE.A, { class: DNS_CLASS.ANY })), ['10.0.0.1', '10.0.0.2']);
  });

  it('malformed queries with a header get FORMERR with their id; without one, or with QR set, nothing', () => {
    const res = responder();
    const good = queryBytes('web.service.sappers');
    const cut = replyOf(res.respond(good.subarray(0, good.length - 3)));
    assert.equal(cut.outcome, 'formerr');
    assert.equal(cut.malformed?.code, 'truncated');
    const m = decodeReply(cut.bytes);
    assert.equal(rcodeOf(m), DNS_RCODE.FORMERR);
    assert.equal(m.header.id, 0x4242);
    assert.deepEqual(res.respond(good.subarray(0, 11)), { kind: 'drop', reason: 'short' });
    const response = good.slice();
    response[2] = response[2]! | 0x80;
    assert.deepEqual(res.respond(response), { kind: 'drop', reason: 'response' });
    assert.deepEqual(res.respond(new Uint8Array(MAX_QUERY_BYTES + 1)), { kind: 'drop', reason: 'oversize' });
    // Zero or two questions.
    const noQuestion = Uint8Array.from([0, 7, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert.equal(rcodeOf(decodeReply(replyOf(res.respond(noQuestion)).bytes)), DNS_RCODE.FORMERR);
    const two = Uint8Array.from([0, 7, 1, 0, 0, 2, 0, 0, 0, 0, 0, 0, 1, 0x61, 0, 0, 1, 0, 1, 0xc0, 12, 0, 1, 0, 1]);
    assert.equal(rcodeOf(decodeReply(replyOf(res.respond(two)).bytes)), DNS_RCODE.FORMERR);
  });

  it('a lookup that throws becomes SERVFAIL, not a crash', () => {
    const res = responder({
      lookup: {
        services: () => {
          throw new Error('catalog unavailable');
        },
        node: () => undefined,
      },
    });
    const r = replyOf(res.respond(queryBytes('web.service.sappers')));
    assert.equal(r.outcome, 'servfail');
    assert.match(String(r.failure), /catalog unavailable/);
    assert.equal(rcodeOf(decodeReply(r.bytes)), DNS_RCODE.SERVFAIL);
  });

  it('never throws on any bytes; every reply decodes and carries the query id', () => {
    const res = responder();
    const valid = fc
      .tuple(fc.constantFrom('web.service.sappers', '_web._tcp.service.sappers', 'n1.node.sappers', 'x.sappers', 'a.b', 'sappers'), fc.constantFrom(1, 28, 33, 255, 16, 6), fc.boolean())
      .map(([n, t, e]) => queryBytes(n, t, { edns: e ? EDNS : null }));
    const mutated = fc.tuple(valid, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 })).map(([b, flips]) => {
      const out = b.slice();
      for (const [at, v] of flips) out[at % out.length] = v;
      return out;
    });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), mutated), (bytes) => {
        const r = res.respond(bytes);
        if (r.kind === 'drop') return;
        const m = decodeReply(r.bytes);
        assert.equal(m.header.id, (bytes[0]! << 8) | bytes[1]!);
        assert.ok(r.bytes.length <= 1232);
      }),
      { numRuns: 1500 },
    );
  });
});

describe('query names', () => {
  const d = ['sappers'];
  it('classifies the zone layout', () => {
    const c = (n: string): unknown => classifyQueryName(n.split('.'), d);
    assert.deepEqual(c('web.service.sappers'), { kind: 'service', name: 'web', tag: undefined });
    assert.deepEqual(c('V1.Web.Service.Sappers'), { kind: 'service', name: 'web', tag: 'v1' });
    assert.deepEqual(c('_web._tcp.service.sappers'), { kind: 'service', name: 'web', tag: undefined });
    assert.deepEqual(c('_web._v1.service.sappers'), { kind: 'service', name: 'web', tag: 'v1' });
    assert.deepEqual(c('_._tcp.service.sappers'), { kind: 'none' });
    assert.deepEqual(c('_web.v1.service.sappers'), { kind: 'none' });
    assert.deepEqual(c('a.b.node.sappers'), { kind: 'node', name: 'a.b' });
    assert.deepEqual(c('service.sappers'), { kind: 'empty' });
    assert.deepEqual(c('sappers'), { kind: 'apex' });
    assert.deepEqual(c('sappers.com'), { kind: 'outside' });
    assert.deepEqual(c('other.sappers'), { kind: 'none' });
    assert.deepEqual(classifyQueryName(['a.b', 'node', 'sappers'], d), { kind: 'none' }, 'a dot inside a label');
  });

  it('addr labels round-trip IPv4 and IPv6 bytes and refuse anything else', () => {
    fc.assert(fc.property(fc.oneof(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.uint8Array({ minLength: 16, maxLength: 16 })), (b) => assert.deepEqual(decodeAddrLabel(encodeAddrLabel(b)), b)));
    for (const bad of ['0a00000', '0a0000020', 'gg000000', '']) assert.equal(decodeAddrLabel(bad), undefined);
  });

  it('asserts on a bad domain or options (programmer errors)', () => {
    assert.throws(() => responder({ domain: '' }), /assertion failed/);
    assert.throws(() => responder({ domain: 'a..b' }), /assertion failed/);
    assert.throws(() => responder({ ttlSeconds: -1 }), /assertion failed/);
  });
});
