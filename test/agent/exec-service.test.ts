// ExecService with real child processes and an in-memory RPC network between services: the
// origin's fan-out, the target's runner, refusal, busy, cancel, abandon, owners and timeouts.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { ExecService, createExecCodec, type ExecLimits } from '../../src/agent/exec.ts';
import type { ExecLine, ExecSink, ExecSummary } from '../../src/api/exec.ts';
import { ApiError } from '../../src/api/errors.ts';
import type { MemberView } from '../../src/api/schemas.ts';
import { SystemClock } from '../../src/runtime/clock.ts';
import { TransportError, type MessageHandler, type RequestHandler, type RequestOptions, type RpcTransport } from '../../src/runtime/transport/types.ts';
import { until } from '../helpers/until.ts';

const root = await mkdtemp(join(tmpdir(), 'sappers-exec-service-'));
const services: ExecService[] = [];
after(async () => {
  await Promise.all(services.map((s) => s.close()));
  await rm(root, { recursive: true, force: true });
});

/** Routes requests between services by address, presenting the caller's node ID as its certificate identity. */
class FakeNetwork {
  readonly handlers = new Map<string, Map<string, RequestHandler>>();
  transport(addr: string, identity: string | undefined): RpcTransport {
    const net = this;
    const own = new Map<string, RequestHandler>();
    net.handlers.set(addr, own);
    return {
      localAddress: addr,
      async request(to: string, method: string, body: Uint8Array, _options?: RequestOptions): Promise<Uint8Array> {
        const peer = net.handlers.get(to);
        if (peer === undefined) throw new TransportError('unreachable', `nobody at ${to}`);
        const handler = peer.get(method);
        if (handler === undefined) throw new TransportError('no-handler', `no handler for ${method}`);
        try {
          return await handler(body, { from: addr, method, peerIdentity: identity });
        } catch (e) {
          throw new TransportError('remote', e instanceof Error ? e.message : String(e));
        }
      },
      send: () => false,
      handle(method: string, handler: RequestHandler) {
        own.set(method, handler);
      },
      onMessage(_method: string, _handler: MessageHandler) {},
      close: async () => undefined,
    };
  }
}

function memberOf(id: string, tags: Record<string, string> = {}): MemberView {
  return {
    id,
    addr: `${id}:gossip`,
    status: 'alive',
    role: 'voter',
    incarnation: 0,
    version: '0.1.0',
    protocol: 1,
    tags,
    resources: { cpuCores: 1, memoryTotalBytes: 1, memoryFreeBytes: 1, diskTotalBytes: 1, diskFreeBytes: 1, load1: 0 },
    rpcAddr: `${id}:rpc`,
    httpAddr: `${id}:http`,
    startedAt: new Date(0).toISOString(),
    statusSince: new Date(0).toISOString(),
  } as MemberView;
}

interface Node {
  readonly id: string;
  readonly service: ExecService;
  readonly audits: string[];
}

function cluster(specs: ReadonlyArray<{ id: string; enabled?: boolean; tags?: Record<string, string>; withHandlers?: boolean; limits?: Partial<ExecLimits> }>, members: MemberView[] = specs.map((s) => memberOf(s.id, s.tags))): Node[] {
  const net = new FakeNetwork();
  return specs.map((s) => {
    const audits: string[] = [];
    const service = new ExecService({
      nodeId: s.id,
      dataDir: join(root, `${s.id}-${Math.random().toString(36).slice(2)}`),
      enabled: s.enabled ?? true,
      securityMode: 'secure',
      clock: new SystemClock(),
      logger: pino({ level: 'silent' }),
      env: { PATH: process.env.PATH, HOME: process.env.HOME, SECRET: 'must-not-leak' },
      members: () => members,
      audit: (m) => audits.push(m),
      ...(s.limits === undefined ? {} : { limits: s.limits }),
    });
    services.push(service);
    const transport = net.transport(`${s.id}:rpc`, s.id);
    if (s.withHandlers ?? true) service.attach(transport);
    else net.handlers.set(`${s.id}:rpc`, new Map());
    return { id: s.id, service, audits };
  });
}

interface Collected {
  readonly lines: ExecLine[];
  readonly summary: ExecSummary;
  output(node: string, stream?: 'stdout' | 'stderr'): string;
  done(node: string): Extract<ExecLine, { kind: 'done' }>['done'];
}

async function run(origin: Node, argv: string[], options: { nodeFilter?: string; timeoutMs?: number; signal?: AbortSignal; onLine?: (l: ExecLine) => void } = {}): Promise<Collected> {
  const lines: ExecLine[] = [];
  const sink: ExecSink = {
    write: (l) => {
      lines.push(l);
      options.onLine?.(l);
    },
    waitForRoom: () => Promise.resolve(),
  };
  const prepared = origin.service.prepare({ argv, ...(options.nodeFilter === undefined ? {} : { nodeFilter: options.nodeFilter }), ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }) });
  const summary = await prepared.run(sink, options.signal ?? new AbortController().signal);
  return {
    lines,
    summary,
    output: (node, stream = 'stdout') =>
      lines
        .filter((l): l is Extract<ExecLine, { kind: 'output' }> => l.kind === 'output' && l.node === node && l.stream === stream)
        .map((l) => l.data)
        .join(''),
    done: (node) => {
      const d = lines.find((l): l is Extract<ExecLine, { kind: 'done' }> => l.kind === 'done' && l.node === node);
      assert.ok(d, `no done line for ${node}`);
      return d.done;
    },
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('exec service', () => {
  it('runs argv without a shell on every target (itself locally, others over RPC), in a fresh directory with a minimal environment', async () => {
    const [a] = cluster([{ id: 'a' }, { id: 'b' }, { id: 'c' }]);
    const r = await run(a!, ['sh', '-c', 'echo "$SAPPERS_NODE_ID in $(basename $(dirname $PWD)) secret=${SECRET:-none} args=$#" "$0"; echo warn >&2; exit 0', 'x', 'y z']);
    assert.deepEqual(r.lines[0], { kind: 'targets', nodes: ['a', 'b', 'c'], timeoutMs: 60_000 });
    for (const id of ['a', 'b', 'c']) {
      assert.equal(r.output(id), `${id} in exec secret=none args=1 x\n`);
      assert.equal(r.output(id, 'stderr'), 'warn\n');
      assert.deepEqual(r.done(id), { exitCode: 0, signal: null });
    }
    assert.deepEqual(r.summary, { targets: 3, acknowledged: 3, completed: 3, succeeded: 3, refused: [], failed: [], noAnswer: [] });
    assert.equal(a!.audits.length, 1);
    assert.match(a!.audits[0]!, /^ran \["sh","-c",.*\] on 3 node\(s\)$/);
  });

  it('a node filter picks the targets; no match, a bad filter and an empty command are refused before anything runs', async () => {
    const [a] = cluster([{ id: 'a', tags: { zone: 'eu' } }, { id: 'b', tags: { zone: 'us' } }]);
    const r = await run(a!, ['echo', 'hi'], { nodeFilter: 'tag.zone=us' });
    assert.deepEqual(r.summary.targets, 1);
    assert.equal(r.output('b'), 'hi\n');
    assert.equal(r.lines.filter((l) => l.kind === 'done').length, 1);
    assert.throws(() => a!.service.prepare({ argv: ['true'], nodeFilter: 'tag.zone=mars' }), (e: unknown) => e instanceof ApiError && e.code === 'bad-request' && /no alive member matches the node filter "tag.zone=mars" \(alive: a, b\)/.test(e.message));
    assert.throws(() => a!.service.prepare({ argv: ['true'], nodeFilter: 'zone=eu' }), (e: unknown) => e instanceof ApiError && /unknown attribute "zone"/.test(e.message));
    assert.throws(() => a!.service.prepare({ argv: [''] }), (e: unknown) => e instanceof ApiError && /the command is empty/.test(e.message));
  });

  it('non-zero exits and a missing program are failures; a disabled node refuses, an old one and an unreachable one do not answer', async () => {
    const members = ['a', 'off', 'old', 'gone'].map((id) => memberOf(id));
    const [a] = cluster([{ id: 'a' }, { id: 'off', enabled: false }, { id: 'old', withHandlers: false }], members);
    const r = await run(a!, ['sh', '-c', 'exit 7']);
    assert.deepEqual(r.done('a'), { exitCode: 7, signal: null });
    assert.deepEqual(r.done('off'), { exitCode: null, signal: null, refused: true, error: 'exec is disabled on this node (set exec.enabled: true in its agent config, or start it with --exec-enabled)' });
    assert.match(r.done('old').error!, /does not support exec/);
    assert.match(r.done('gone').error!, /did not answer: unreachable/);
    assert.deepEqual(r.summary, { targets: 4, acknowledged: 2, completed: 1, succeeded: 0, refused: ['off'], failed: ['a'], noAnswer: ['gone', 'old'] });

    const missing = await run(a!, ['/no/such/program'], { nodeFilter: 'id=a' });
    assert.match(missing.done('a').error!, /cannot run "\/no\/such\/program": no such program/);
    assert.deepEqual(missing.summary.failed, ['a']);
    assert.equal(missing.summary.completed, 0);
  });

  it('past the timeout the whole process group is killed, background children too', async () => {
    const [a, b] = cluster([{ id: 'a' }, { id: 'b' }]);
    const pidFile = join(root, 'timeout.pid');
    const r = await run(a!, ['sh', '-c', `sleep 30 & echo $! > ${pidFile}; echo started; wait`], { nodeFilter: 'id=b', timeoutMs: 300 });
    assert.equal(r.output('b'), 'started\n');
    const done = r.done('b');
    assert.equal(done.timedOut, true);
    assert.equal(done.signal, 'SIGTERM');
    assert.match(done.error!, /timed out/);
    assert.deepEqual(r.summary.failed, ['b']);
    const pid = Number(await readFile(pidFile, 'utf8'));
    await until('the background sleep to be gone', async () => (alive(pid) ? undefined : true), 5000, 50);
    void b;
  });

  it('output past the cap is dropped and counted; a reader gets the rest in bounded replies', async () => {
    const [a] = cluster([{ id: 'a', limits: { outputCapBytes: 100_000, maxPollReplyBytes: 8192 } }]);
    const r = await run(a!, ['sh', '-c', 'head -c 250000 /dev/zero | tr "\\0" "x"']);
    assert.equal(r.output('a').length, 100_000);
    assert.equal(r.done('a').truncatedBytes, 150_000);
    assert.equal(r.summary.succeeded, 1, 'truncation alone is not a failure');
  });

  it('a node runs at most maxRunning commands; more are refused as busy', async () => {
    const [a] = cluster([{ id: 'a', limits: { maxRunning: 1 } }]);
    const controller = new AbortController();
    let acked!: () => void;
    const ack = new Promise<void>((resolve) => (acked = resolve));
    const first = run(a!, ['sleep', '30'], { signal: controller.signal, onLine: (l) => l.kind === 'ack' && acked() });
    await ack;
    const second = await run(a!, ['true']);
    assert.equal(second.done('a').refused, true);
    assert.match(second.done('a').error!, /1 commands are already running here/);
    controller.abort();
    const cancelled = await first;
    assert.equal(cancelled.done('a').cancelled, true);
  });

  it('aborting the run (Ctrl-C) tells every target to kill its command', async () => {
    const [a] = cluster([{ id: 'a' }, { id: 'b' }]);
    const controller = new AbortController();
    const pids: number[] = [];
    const result = run(a!, ['sh', '-c', 'echo $$; sleep 30'], {
      signal: controller.signal,
      onLine: (l) => {
        if (l.kind === 'output') pids.push(Number(l.data.trim()));
        if (pids.length === 2 && !controller.signal.aborted) controller.abort();
      },
    });
    const r = await result;
    assert.deepEqual(r.summary.failed, ['a', 'b']);
    for (const id of ['a', 'b']) assert.equal(r.done(id).cancelled, true);
    for (const pid of pids) await until(`process ${pid} to be killed`, async () => (alive(pid) ? undefined : true), 5000, 50);
  });

  it('a slow reader slows the polling but keeps the command alive (empty polls tell the node the origin is still there)', async () => {
    // Abandonment after 1 s, a reader stalled for 3 s: generous to a loaded machine, whose event
    // loop may pause for a few hundred ms between the keepalive polls.
    const [a] = cluster([{ id: 'a', limits: { abandonAfterMs: 1000 } }]);
    const lines: ExecLine[] = [];
    let stalled = false;
    const sink: ExecSink = {
      write: (l) => lines.push(l),
      // After the first output the reader stalls for well past abandonAfterMs.
      waitForRoom: () => {
        if (stalled || !lines.some((l) => l.kind === 'output')) return Promise.resolve();
        stalled = true;
        return new Promise((resolve) => setTimeout(resolve, 3000));
      },
    };
    const summary = await a!.service.prepare({ argv: ['sh', '-c', 'echo one; sleep 1; echo two'] }).run(sink, new AbortController().signal);
    assert.ok(stalled);
    assert.deepEqual(summary.succeeded, 1, JSON.stringify(lines));
    assert.equal(lines.filter((l) => l.kind === 'output').map((l) => (l as { data: string }).data).join(''), 'one\ntwo\n');
  });

  it('a command nobody polls is killed as abandoned; only the node that started a command may poll or cancel it', async () => {
    const [a, b] = cluster([{ id: 'a' }, { id: 'b', limits: { abandonAfterMs: 300 } }]);
    void a;
    const codec = createExecCodec();
    const net = new FakeNetwork();
    // b's handlers, called as two different certified nodes.
    const handlers = new Map<string, RequestHandler>();
    b!.service.attach({ ...net.transport('b2:rpc', 'b'), handle: (m: string, h: RequestHandler) => void handlers.set(m, h) });
    const call = async (as: string, message: Parameters<typeof codec.encode>[0]): Promise<unknown> => {
      const encoded = codec.encode(message);
      assert.ok(encoded.ok);
      const reply = codec.decode(await handlers.get(message.type)!(encoded.value, { from: 'x', method: message.type, peerIdentity: as }));
      assert.ok(reply.ok);
      return reply.value.body;
    };
    const started = (await call('a', { type: 'exec.start', body: { argv: ['sleep', '30'], timeoutMs: 60_000 } })) as { ok: true; id: string };
    assert.equal(started.ok, true);
    assert.deepEqual(await call('mallory', { type: 'exec.cancel', body: { id: started.id } }), { found: false });
    const stranger = (await call('mallory', { type: 'exec.poll', body: { id: started.id, cursor: 0, waitMs: 0 } })) as { ok: boolean };
    assert.equal(stranger.ok, false);
    // Nobody polls as a for a while: the command is killed and says why.
    await new Promise((r) => setTimeout(r, 800));
    const done = await until('the abandoned command to be killed', async () => {
      const r = (await call('a', { type: 'exec.poll', body: { id: started.id, cursor: 0, waitMs: 0 } })) as { ok: true; done?: { error?: string; cancelled: boolean } };
      return r.done;
    }, 10_000, 400);
    assert.match(done.error!, /abandoned/);
    assert.equal(done.cancelled, true);
  });
});
