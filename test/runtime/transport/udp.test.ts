import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { UdpTransport } from '../../../src/runtime/transport/udp.ts';
import { parseAddress } from '../../../src/runtime/transport/address.ts';

/** Resolves with the next datagram the transport delivers, or rejects after a generous bound. */
function nextDatagram(t: UdpTransport): Promise<{ from: string; data: Uint8Array }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no datagram within 5 s')), 5000);
    t.onDatagram((from, data) => {
      clearTimeout(timer);
      resolve({ from, data: Uint8Array.from(data) });
    });
  });
}

async function ipv6Available(): Promise<boolean> {
  const s = createSocket('udp6');
  try {
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind({ address: '::1', port: 0 }, resolve);
    });
    return true;
  } catch {
    return false;
  } finally {
    s.close();
  }
}

describe('UdpTransport', () => {
  for (const host of ['127.0.0.1', '::1']) {
    it(`sends and receives datagrams on ${host} and reports the OS-chosen port`, async (t) => {
      if (host === '::1' && !(await ipv6Available())) {
        t.skip('IPv6 loopback is not available on this machine');
        return;
      }
      const a = await UdpTransport.bind({ host, port: 0, maxDatagramBytes: 1400 });
      const b = await UdpTransport.bind({ host, port: 0, maxDatagramBytes: 1400 });
      try {
        const parsed = parseAddress(a.localAddress);
        assert.ok(parsed.ok, a.localAddress);
        assert.equal(parsed.value.host, host);
        assert.notEqual(parsed.value.port, 0);
        if (host === '::1') assert.match(a.localAddress, /^\[::1\]:\d+$/);

        const received = nextDatagram(b);
        const payload = Uint8Array.from([1, 2, 3, 4]);
        assert.equal(a.send(b.localAddress, payload), true);
        payload.fill(9); // the transport copied it
        const got = await received;
        assert.equal(got.from, a.localAddress);
        assert.deepEqual(got.data, Uint8Array.from([1, 2, 3, 4]));

        const max = nextDatagram(b);
        assert.equal(a.send(b.localAddress, new Uint8Array(1400).fill(7)), true, 'exactly the limit is sent');
        assert.equal((await max).data.length, 1400);
        assert.equal(a.counters.sent, 2);
        assert.equal(b.counters.received, 2);
      } finally {
        await a.close();
        await b.close();
      }
    });
  }

  it('refuses oversize datagrams and bad addresses, and drops oversize ones it receives', async () => {
    const small = await UdpTransport.bind({ host: '127.0.0.1', port: 0, maxDatagramBytes: 100 });
    const big = await UdpTransport.bind({ host: '127.0.0.1', port: 0, maxDatagramBytes: 1000 });
    try {
      assert.equal(small.send(big.localAddress, new Uint8Array(101)), false);
      assert.equal(small.counters.refusedOversize, 1);
      for (const bad of ['nonsense', '127.0.0.1:0', '127.0.0.1:70000', '::1:80', '[nope]:80', '']) {
        assert.equal(small.send(bad, new Uint8Array(1)), false, bad);
      }
      assert.equal(small.counters.refusedBadAddress, 6);

      // A peer with a larger limit sends 500 bytes: dropped unseen; then a fitting one arrives.
      const seen = nextDatagram(small);
      assert.equal(big.send(small.localAddress, new Uint8Array(500)), true);
      assert.equal(big.send(small.localAddress, new Uint8Array(50)), true);
      assert.equal((await seen).data.length, 50, 'the oversize datagram was never delivered');
      assert.equal(small.counters.droppedOversize, 1);
    } finally {
      await small.close();
      await big.close();
    }
  });

  it('swallows and counts send errors (loss is normal)', async () => {
    const a = await UdpTransport.bind({ host: '127.0.0.1', port: 0, maxDatagramBytes: 100 });
    try {
      // An IPv6 destination from an IPv4 socket fails inside the OS or libuv, never in the caller.
      assert.doesNotThrow(() => a.send('[::1]:9', new Uint8Array(1)));
      for (let i = 0; i < 500 && a.counters.sendErrors === 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(a.counters.sendErrors, 1);
      assert.equal(a.counters.sent, 0);
    } finally {
      await a.close();
    }
  });

  it('close is idempotent and stops sending and delivery', async () => {
    const a = await UdpTransport.bind({ host: '127.0.0.1', port: 0, maxDatagramBytes: 100 });
    const b = await UdpTransport.bind({ host: '127.0.0.1', port: 0, maxDatagramBytes: 100 });
    try {
      await Promise.all([a.close(), a.close()]);
      await a.close();
      assert.equal(a.send(b.localAddress, new Uint8Array(1)), false);
    } finally {
      await b.close();
    }
  });

  it('reports a bind failure as a rejected promise', async () => {
    const a = await UdpTransport.bind({ host: '127.0.0.1', port: 0, maxDatagramBytes: 100 });
    try {
      const port = parseAddress(a.localAddress);
      assert.ok(port.ok);
      await assert.rejects(UdpTransport.bind({ host: '127.0.0.1', port: port.value.port, maxDatagramBytes: 100 }), /cannot bind UDP/);
    } finally {
      await a.close();
    }
  });
});
