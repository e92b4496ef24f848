// The DNS server on real sockets, asked by real resolvers: node's dns.promises.Resolver (c-ares,
// which falls back to TCP on TC like glibc does) and dig when it is installed.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { promises as dnsPromises } from 'node:dns';
import { connect } from 'node:net';
import { pino } from 'pino';
import { SeededRandom } from '../../../src/core/random.ts';
import { DNS_RCODE, DNS_TYPE } from '../../../src/wire/dns.ts';
import { startDnsServer, type DnsLogger, type DnsServer, type DnsServerOptions } from '../../../src/runtime/dns/server.ts';
import { addressesOf, catalogLookup, decodeReply, queryBytes, rcodeOf, type Catalog, type CatalogInstance } from './fixtures.ts';

const many: CatalogInstance[] = Array.from({ length: 200 }, (_, i) => ({ node: `big-${i}`, address: `10.9.${i >> 8}.${i & 0xff}`, port: 30000 + i, tags: [] }));
const CATALOG: Catalog = {
  services: {
    web: [
      { node: 'n1', address: '127.0.0.11', port: 8080, tags: ['v1'] },
      { node: 'n2', address: '127.0.0.12', port: 8081, tags: ['v2'] },
      { node: 'n3', address: 'fd00::13', port: 8082, tags: [] },
    ],
    idle: [],
    big: many,
  },
  nodes: { n1: '127.0.0.11', n2: '127.0.0.12', n3: 'fd00::13', ...Object.fromEntries(many.map((i) => [i.node, i.address])) },
};

interface LogLine {
  readonly level: 'debug' | 'warn';
  readonly msg: string;
  readonly obj: object;
}

function recordingLogger(lines: LogLine[]): DnsLogger {
  return {
    debug: (obj, msg) => lines.push({ level: 'debug', msg, obj }),
    warn: (obj, msg) => lines.push({ level: 'warn', msg, obj }),
  };
}

async function start(options: Partial<DnsServerOptions> = {}, lines: LogLine[] = []): Promise<DnsServer> {
  return startDnsServer({ host: '127.0.0.1', port: 0, lookup: catalogLookup(CATALOG), logger: recordingLogger(lines), random: new SeededRandom(3), ...options });
}

function resolverFor(server: DnsServer, host = '127.0.0.1'): dnsPromises.Resolver {
  const resolver = new dnsPromises.Resolver({ timeout: 2000, tries: 1 });
  resolver.setServers([host.includes(':') ? `[${host}]:${server.port}` : `${host}:${server.port}`]);
  return resolver;
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: NodeJS.ErrnoException) => {
    assert.equal(e.code, code);
    return true;
  });
}

/** Sends datagrams and collects replies until `want` arrived (or the deadline passed). */
async function udpExchange(port: number, packets: readonly Uint8Array[], want: number, host = '127.0.0.1'): Promise<Buffer[]> {
  const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  const replies: Buffer[] = [];
  try {
    await new Promise<void>((resolve) => socket.bind(0, host, () => resolve()));
    const done = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 2000);
      socket.on('message', (msg) => {
        replies.push(msg);
        if (replies.length >= want) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    for (const p of packets) socket.send(p, port, host);
    await done;
    return replies;
  } finally {
    socket.close();
  }
}

/** DNS over TCP: sends frames (or raw bytes) and reads length-prefixed replies until `want` or close. */
async function tcpExchange(port: number, payload: Uint8Array, want: number): Promise<{ replies: Buffer[]; closed: boolean }> {
  const socket = connect({ host: '127.0.0.1', port });
  const replies: Buffer[] = [];
  let buffered = Buffer.alloc(0);
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`TCP exchange timed out with ${replies.length} replies`)), 3000);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        clearTimeout(timer);
        resolve({ replies, closed: true });
      });
      socket.on('data', (chunk) => {
        buffered = Buffer.concat([buffered, chunk]);
        while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
          replies.push(buffered.subarray(2, 2 + buffered.readUInt16BE(0)));
          buffered = buffered.subarray(2 + buffered.readUInt16BE(0));
        }
        if (replies.length >= want) {
          clearTimeout(timer);
          resolve({ replies, closed: false });
        }
      });
      socket.write(payload);
    });
  } finally {
    socket.destroy();
  }
}

function frame(bytes: Uint8Array): Buffer {
  const out = Buffer.alloc(2 + bytes.length);
  out.writeUInt16BE(bytes.length, 0);
  out.set(bytes, 2);
  return out;
}

describe('DNS server answered by node:dns (c-ares)', () => {
  let server: DnsServer;
  const lines: LogLine[] = [];
  before(async () => {
    server = await start({}, lines);
  });
  after(async () => {
    await server.close();
  });

  it('resolve4, resolve6 and resolveSrv (both SRV name forms) give the passing instances', async () => {
    const r = resolverFor(server);
    assert.deepEqual((await r.resolve4('web.service.sappers')).sort(), ['127.0.0.11', '127.0.0.12']);
    assert.deepEqual(await r.resolve6('web.service.sappers'), ['fd00::13']);
    for (const name of ['_web._tcp.service.sappers', 'web.service.sappers']) {
      const srv = (await r.resolveSrv(name)).map((s) => `${s.name}:${s.port}`).sort();
      assert.deepEqual(srv, ['n1.node.sappers:8080', 'n2.node.sappers:8081', 'n3.node.sappers:8082']);
    }
    assert.deepEqual(await r.resolve4('v2.web.service.sappers'), ['127.0.0.12']);
    assert.deepEqual(await r.resolve4('N1.Node.Sappers'), ['127.0.0.11']);
    // TTL 0 by default.
    assert.deepEqual(
      (await r.resolve4('n1.node.sappers', { ttl: true })).map((a) => a.ttl),
      [0],
    );
  });

  it('NXDOMAIN is ENOTFOUND, NODATA is ENODATA, outside the zone EREFUSED', async () => {
    const r = resolverFor(server);
    await rejectsWith(r.resolve4('nope.service.sappers'), 'ENOTFOUND');
    await rejectsWith(r.resolve4('nope.node.sappers'), 'ENOTFOUND');
    await rejectsWith(r.resolve4('idle.service.sappers'), 'ENODATA');
    await rejectsWith(r.resolveTxt('web.service.sappers'), 'ENODATA');
    await rejectsWith(r.resolve4('example.com'), 'EREFUSED');
  });

  it('a service with many instances: UDP is cut with TC, and the resolver gets all of them over TCP', async () => {
    const before = server.counters;
    const [raw] = await udpExchange(server.port, [queryBytes('big.service.sappers')], 1);
    assert.ok(raw !== undefined && raw.length <= 512);
    const m = decodeReply(raw);
    assert.equal(m.header.tc, true);
    assert.ok(m.answers.length > 0 && m.answers.length < 200);
    const all = await resolverFor(server).resolve4('big.service.sappers');
    assert.equal(new Set(all).size, 200);
    const after = server.counters;
    assert.ok(after.truncated >= before.truncated + 2, 'both UDP answers were truncated');
    assert.ok(after.tcpQueries > before.tcpQueries, 'the resolver retried over TCP');
  });

  it('bad packets are counted, never crash the server, and it keeps answering', async () => {
    const before = server.counters;
    const good = queryBytes('web.service.sappers', DNS_TYPE.A, { id: 777 });
    const cut = queryBytes('web.service.sappers', DNS_TYPE.A, { id: 555 }).subarray(0, 20);
    const loop = Uint8Array.from([0x02, 0x2b, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1]);
    const garbage = [Uint8Array.from([1, 2, 3]), new Uint8Array(5000), cut, loop, good];
    const replies = (await udpExchange(server.port, garbage, 3)).map(decodeReply);
    assert.deepEqual(
      replies.map((m) => [m.header.id, rcodeOf(m)]),
      [
        [555, DNS_RCODE.FORMERR],
        [555, DNS_RCODE.FORMERR],
        [777, DNS_RCODE.NOERROR],
      ],
    );
    const after = server.counters;
    assert.equal(after.malformed - before.malformed, 3, 'short, cut and loop');
    assert.equal(after.droppedOversize - before.droppedOversize, 1);
    assert.equal(after.outcomes.formerr - before.outcomes.formerr, 2);
    assert.ok(lines.some((l) => l.level === 'debug' && /FORMERR/.test(l.msg)));
  });

  it('DNS over TCP: pipelined queries each get an answer; an over-long frame closes the connection', async () => {
    const two = Buffer.concat([frame(queryBytes('web.service.sappers', DNS_TYPE.A, { id: 1 })), frame(queryBytes('n2.node.sappers', DNS_TYPE.A, { id: 2 }))]);
    const { replies } = await tcpExchange(server.port, two, 2);
    assert.deepEqual(
      replies.map((b) => decodeReply(b)).map((m) => [m.header.id, addressesOf(m)]),
      [
        [1, ['127.0.0.11', '127.0.0.12']],
        [2, ['127.0.0.12']],
      ],
    );
    const huge = await tcpExchange(server.port, Buffer.from([0x20, 0x00, 1, 2, 3]), 1);
    assert.deepEqual(huge, { replies: [], closed: true });
  });

  it('dig, when installed, gets the same answers', async (t) => {
    let dig: string;
    try {
      dig = execFileSync('which', ['dig'], { encoding: 'utf8' }).trim();
    } catch {
      t.skip('dig is not installed');
      return;
    }
    const run = (args: string[]): Promise<string> =>
      new Promise((resolve, reject) =>
        execFile(dig, ['@127.0.0.1', '-p', String(server.port), '+short', '+tries=1', '+time=2', ...args], { timeout: 5000 }, (e, out) => (e ? reject(e) : resolve(out))),
      );
    assert.deepEqual((await run(['web.service.sappers', 'A'])).trim().split('\n').sort(), ['127.0.0.11', '127.0.0.12']);
    assert.match(await run(['_web._tcp.service.sappers', 'SRV']), /^1 1 8080 n1\.node\.sappers\.$/m);
    assert.equal((await run(['+notcp', '+ignore', 'big.service.sappers', 'A'])).trim().split('\n').length < 200, true);
  });
});

describe('DNS server lifecycle and limits', () => {
  it('binds IPv6 loopback and answers over it', async (t) => {
    let server: DnsServer;
    try {
      server = await start({ host: '::1' });
    } catch (e) {
      t.skip(`no IPv6 loopback here: ${(e as Error).message}`);
      return;
    }
    try {
      assert.deepEqual(await resolverFor(server, '::1').resolve6('n3.node.sappers'), ['fd00::13']);
    } finally {
      await server.close();
    }
  });

  it('a lookup that throws answers SERVFAIL and warns; a pino logger fits DnsLogger', async () => {
    const lines: LogLine[] = [];
    const server = await start(
      {
        lookup: {
          services: () => {
            throw new Error('catalog unavailable');
          },
          node: () => undefined,
        },
      },
      lines,
    );
    try {
      await rejectsWith(resolverFor(server).resolve4('web.service.sappers'), 'ESERVFAIL');
      assert.ok(lines.some((l) => l.level === 'warn' && /SERVFAIL/.test(l.msg) && JSON.stringify(l.obj).includes('catalog unavailable')));
      assert.equal(server.counters.outcomes.servfail >= 1, true);
    } finally {
      await server.close();
    }
    const logger: DnsLogger = pino({ level: 'silent' });
    const quiet = await start({ logger, tcp: false, ttlSeconds: 5, domain: 'cluster.test' });
    try {
      const answers = await resolverFor(quiet).resolve4('web.service.cluster.test', { ttl: true });
      assert.deepEqual(answers.map((a) => a.ttl), [5, 5]);
    } finally {
      await quiet.close();
    }
  });

  it('TCP connections beyond the limit are closed at once and counted', async () => {
    const server = await start({ maxTcpConnections: 0 });
    try {
      const r = await tcpExchange(server.port, frame(queryBytes('web.service.sappers')), 1);
      assert.deepEqual(r, { replies: [], closed: true });
      assert.equal(server.counters.tcpRejected, 1);
    } finally {
      await server.close();
    }
  });

  it('close is idempotent and frees the port; a taken port is an error, not a crash', async () => {
    const server = await start();
    await assert.rejects(start({ port: server.port }), /cannot bind DNS UDP/);
    await Promise.all([server.close(), server.close()]);
    const again = await start({ port: server.port });
    await again.close();
    await assert.rejects(startDnsServer({ host: 'localhost', port: 0, lookup: catalogLookup(CATALOG), logger: recordingLogger([]) }), /assertion failed/);
  });
});
