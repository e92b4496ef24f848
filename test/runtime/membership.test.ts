// The membership runtime over the simulated transports: encoding, sealing, push-pull over RPC,
// timers on the virtual clock. (Real sockets and processes: test/cli/members.test.ts.)
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRandom } from '../../src/core/random.ts';
import { SWIM_PRESETS } from '../../src/core/swim/config.ts';
import { Swim } from '../../src/core/swim/swim.ts';
import type { MemberEvent, NodeId } from '../../src/core/swim/types.ts';
import { Membership } from '../../src/runtime/membership.ts';
import { VirtualClock } from '../../src/sim/clock.ts';
import { SimNetwork } from '../../src/sim/network.ts';
import { runSettled } from '../../src/sim/settle.ts';
import { Trace } from '../../src/sim/trace.ts';
import { SimDatagramTransport, SimRpcTransport } from '../../src/sim/transport.ts';
import { Keyring, generateKey, parseKey } from '../../src/wire/keyring.ts';
import { createWireCodec } from '../../src/wire/messages.ts';
import type { NodeMeta } from '../../src/wire/swim.ts';

const meta = (zone: string): NodeMeta => ({
  protocol: 1,
  version: '0.1.0',
  tags: { zone },
  resources: { cpuCores: 2, memoryTotalBytes: 1 << 30, memoryFreeBytes: 1 << 29, diskFreeBytes: 1 << 30, load1: 0.1 },
  rpcAddr: '',
  httpAddr: '',
  startedAtMs: 0,
});

function world(seed: number) {
  const clock = new VirtualClock();
  const random = new SeededRandom(seed);
  const network = new SimNetwork(clock, random.fork(), new Trace(() => clock.nowMs(), { maxLines: 1000 }));
  const nodes = new Map<string, { membership: Membership; events: MemberEvent<NodeMeta>[]; crash: () => void }>();
  const start = (i: number, keyring: Keyring | undefined, join: string[]) => {
    const addr = `10.0.0.${i + 1}:7702`;
    const swim = new Swim<NodeMeta>({ id: `node-${i}` as NodeId, addr, meta: meta('a'), config: SWIM_PRESETS.lan, random: random.fork(), nowMs: clock.nowMs() });
    const datagrams = new SimDatagramTransport(network, addr);
    const stream = new SimRpcTransport(network, clock, streamAddress(addr));
    const membership = new Membership({
      swim,
      datagrams,
      stream,
      streamAddress,
      codec: createWireCodec(),
      clock,
      keyring,
    });
    const events: MemberEvent<NodeMeta>[] = [];
    membership.subscribe((e) => events.push(e));
    if (join.length > 0) membership.join(join);
    const crash = (): void => {
      void membership.stop();
      datagrams.kill();
      stream.kill();
      network.crashHost(addr.split(':')[0]!);
    };
    nodes.set(`node-${i}`, { membership, events, crash });
    return membership;
  };
  return { clock, network, nodes, start, run: (ms: number) => runSettled(clock, clock.nowMs() + ms) };
}

/** The simulated network keys endpoints by address only: put the TCP side one port up. */
const streamAddress = (addr: string): string => addr.replace(/:(\d+)$/, (_, p: string) => `:${Number(p) + 1}`);

const statusOf = (m: Membership, id: string) => m.members().find((x) => x.id === id)?.status;

describe('membership runtime (simulated network)', () => {
  it('five encrypted nodes see each other alive, then detect a crash', async () => {
    const w = world(1);
    const key = parseKey(generateKey(), 'test');
    for (let i = 0; i < 5; i++) w.start(i, new Keyring([key]), i === 0 ? [] : ['10.0.0.1:7702']);
    await w.run(15_000);
    for (const { membership } of w.nodes.values()) {
      assert.deepEqual(membership.members().map((m) => m.status), ['alive', 'alive', 'alive', 'alive', 'alive']);
      assert.equal(membership.counters.droppedUnauthenticated, 0);
      assert.ok(membership.counters.packetsSent > 0);
    }
    w.nodes.get('node-4')!.crash();
    await w.run(30_000);
    for (let i = 0; i < 4; i++) assert.equal(statusOf(w.nodes.get(`node-${i}`)!.membership, 'node-4'), 'dead');
    assert.ok(w.nodes.get('node-0')!.events.some((e) => e.kind === 'dead' && e.member.id === 'node-4'));
  });

  it('a node with the wrong key never joins, and its packets are dropped unparsed', async () => {
    const w = world(2);
    const key = parseKey(generateKey(), 'test');
    const good = [0, 1, 2].map((i) => w.start(i, new Keyring([key]), i === 0 ? [] : ['10.0.0.1:7702']));
    const intruder = w.start(3, new Keyring([parseKey(generateKey(), 'other')]), ['10.0.0.1:7702']);
    const plaintext = w.start(4, undefined, ['10.0.0.1:7702']);
    await w.run(20_000);
    for (const m of good) assert.deepEqual(m.members().map((x) => x.id), ['node-0', 'node-1', 'node-2']);
    assert.deepEqual(intruder.members().map((x) => x.id), ['node-3']);
    assert.deepEqual(plaintext.members().map((x) => x.id), ['node-4']);
    assert.ok(good[0]!.counters.droppedUnauthenticated > 0, 'the seed dropped the intruders’ push-pulls');
    assert.ok(intruder.swim.isJoining(), 'still retrying');
  });

  it('gracefully leaving members are seen as left', async () => {
    const w = world(3);
    for (let i = 0; i < 3; i++) w.start(i, undefined, i === 0 ? [] : ['10.0.0.1:7702']);
    await w.run(10_000);
    const leaving = w.nodes.get('node-2')!.membership;
    const left = leaving.leave(5_000);
    await w.run(5_000);
    await left;
    w.nodes.get('node-2')!.crash();
    await w.run(20_000);
    assert.equal(statusOf(w.nodes.get('node-0')!.membership, 'node-2'), 'left');
    assert.equal(statusOf(w.nodes.get('node-1')!.membership, 'node-2'), 'left');
  });
});
