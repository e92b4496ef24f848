// A deterministic, synchronous harness for SWIM cores: virtual time, an event heap, latency,
// loss, partitions, crashes and pauses. It drives the pure core directly (no bytes, no
// promises), so hundreds of nodes run for minutes of virtual time in well under a second.
import { SeededRandom, type Random } from '../../../src/core/random.ts';
import { SWIM_PRESETS, type SwimConfig } from '../../../src/core/swim/config.ts';
import { Swim } from '../../../src/core/swim/swim.ts';
import type { MemberEvent, MemberStatus, NodeId, Packet, PushPull } from '../../../src/core/swim/types.ts';

export type Meta = { readonly zone: string };

type Event =
  | { kind: 'wake'; node: NodeId }
  | { kind: 'packet'; to: NodeId; fromAddr: string; packet: Packet<Meta> }
  | { kind: 'push-pull'; to: NodeId; fromNode: NodeId; fromAddr: string; request: PushPull<Meta> }
  | { kind: 'push-pull-reply'; to: NodeId; peerAddr: string; reply: PushPull<Meta> | undefined };

interface Scheduled {
  readonly at: number;
  readonly seq: number;
  readonly event: Event;
}

interface Node {
  swim: Swim<Meta>;
  readonly addr: string;
  up: boolean;
  paused: boolean;
  wakeAt: number;
  events: Array<MemberEvent<Meta> & { atMs: number }>;
  backlog: Event[];
}

export interface ClusterOptions {
  readonly seed: number;
  readonly config?: Partial<SwimConfig>;
  readonly minLatencyMs?: number;
  readonly maxLatencyMs?: number;
  readonly loss?: number;
  /** How long a push-pull to an unreachable peer takes to fail (a TCP timeout). */
  readonly tcpTimeoutMs?: number;
}

export class SwimCluster {
  readonly random: Random;
  readonly config: SwimConfig;
  readonly nodes = new Map<NodeId, Node>();
  readonly #byAddr = new Map<string, NodeId>();
  readonly #blocked = new Set<string>();
  #heap: Scheduled[] = [];
  #seq = 0;
  nowMs = 0;
  loss: number;
  readonly #minLatencyMs: number;
  readonly #maxLatencyMs: number;
  readonly #tcpTimeoutMs: number;
  packetsSent = 0;
  packetsDropped = 0;

  constructor(options: ClusterOptions) {
    this.random = new SeededRandom(options.seed);
    this.config = { ...SWIM_PRESETS.lan, ...options.config };
    this.loss = options.loss ?? 0;
    this.#minLatencyMs = options.minLatencyMs ?? 1;
    this.#maxLatencyMs = options.maxLatencyMs ?? 5;
    this.#tcpTimeoutMs = options.tcpTimeoutMs ?? 1000;
  }

  static id(i: number): NodeId {
    return `n${String(i).padStart(3, '0')}` as NodeId;
  }

  /** Starts a node; with join, it joins through those node IDs' addresses. */
  add(id: NodeId, join: readonly NodeId[] = [], incarnation = 0): Swim<Meta> {
    const addr = `10.0.${this.nodes.size >> 8}.${this.nodes.size & 255}:7702`;
    const existing = this.nodes.get(id);
    const nodeAddr = existing?.addr ?? addr;
    const swim = new Swim<Meta>({ id, addr: nodeAddr, meta: { zone: 'a' }, config: this.config, random: this.random.fork(), nowMs: this.nowMs, incarnation });
    const node: Node = { swim, addr: nodeAddr, up: true, paused: false, wakeAt: Infinity, events: existing?.events ?? [], backlog: [] };
    this.nodes.set(id, node);
    this.#byAddr.set(nodeAddr, id);
    if (join.length > 0) swim.join(join.map((j) => this.node(j).addr), this.nowMs);
    this.#flush(id);
    return swim;
  }

  node(id: NodeId): Node {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  /** Starts n nodes n000.., each joining through the first. */
  static started(n: number, options: ClusterOptions): SwimCluster {
    const c = new SwimCluster(options);
    c.add(SwimCluster.id(0));
    for (let i = 1; i < n; i++) c.add(SwimCluster.id(i), [SwimCluster.id(0)]);
    return c;
  }

  crash(id: NodeId): void {
    this.node(id).up = false;
  }

  /** Restarts a crashed node with the same identity and address (fresh state, incarnation 0). */
  restart(id: NodeId, join: readonly NodeId[]): void {
    this.add(id, join);
  }

  pause(id: NodeId): void {
    this.node(id).paused = true;
  }

  resume(id: NodeId): void {
    const node = this.node(id);
    node.paused = false;
    const backlog = node.backlog;
    node.backlog = [];
    // A stalled process wakes up: its timers fire late, then it reads its socket buffer.
    this.#wake(id);
    for (const e of backlog) this.#handle(e);
  }

  /** Blocks traffic from a to b (one direction). */
  block(a: NodeId, b: NodeId): void {
    this.#blocked.add(`${a}>${b}`);
  }

  partition(groupA: readonly NodeId[], groupB: readonly NodeId[]): void {
    for (const a of groupA) for (const b of groupB) {
      this.block(a, b);
      this.block(b, a);
    }
  }

  heal(): void {
    this.#blocked.clear();
  }

  leave(id: NodeId): void {
    this.node(id).swim.leave(this.nowMs);
    this.#flush(id);
  }

  /** Status of `of` as seen by `by`. */
  statusOf(by: NodeId, of: NodeId): MemberStatus | undefined {
    return this.node(by).swim.member(of)?.status;
  }

  liveNodes(): NodeId[] {
    return [...this.nodes.entries()].filter(([, n]) => n.up).map(([id]) => id);
  }

  /** True when every live node sees exactly the expected statuses for the given members. */
  converged(expect: ReadonlyMap<NodeId, MemberStatus>): boolean {
    for (const by of this.liveNodes()) {
      if (this.node(by).paused) continue;
      for (const [of, status] of expect) if (this.statusOf(by, of) !== status) return false;
    }
    return true;
  }

  runFor(ms: number, check?: () => void): void {
    this.runUntil(() => false, ms, check);
  }

  /** Runs events until done() holds (checked after each event) or maxMs pass; returns elapsed ms or -1. */
  runUntil(done: () => boolean, maxMs: number, check?: () => void): number {
    const start = this.nowMs;
    const end = start + maxMs;
    if (done()) return 0;
    // Conditions are checked every 10 ms of virtual time: cheap enough for N=200, and finer
    // than any protocol timer.
    let checkedAt = this.nowMs;
    while (this.#heap.length > 0 && this.#heap[0]!.at <= end) {
      const next = this.#pop();
      this.nowMs = Math.max(this.nowMs, next.at);
      this.#handle(next.event);
      if (this.nowMs - checkedAt >= 10) {
        checkedAt = this.nowMs;
        check?.();
        if (done()) return this.nowMs - start;
      }
    }
    this.nowMs = end;
    return -1;
  }

  #handle(event: Event): void {
    const id = event.kind === 'wake' ? event.node : event.to;
    const node = this.nodes.get(id);
    if (!node || !node.up) return;
    if (node.paused) {
      if (event.kind !== 'wake') node.backlog.push(event);
      return;
    }
    switch (event.kind) {
      case 'wake':
        node.wakeAt = Infinity;
        node.swim.tick(this.nowMs);
        break;
      case 'packet':
        node.swim.onPacket(event.fromAddr, event.packet, this.nowMs);
        break;
      case 'push-pull': {
        const reply = node.swim.onPushPullRequest(event.request, this.nowMs);
        this.#schedule(this.#latency(), { kind: 'push-pull-reply', to: event.fromNode, peerAddr: node.addr, reply });
        break;
      }
      case 'push-pull-reply':
        if (event.reply) node.swim.onPushPullReply(event.peerAddr, event.reply, this.nowMs);
        else node.swim.onPushPullFailed(event.peerAddr, this.nowMs);
        break;
    }
    this.#flush(id);
  }

  #flush(id: NodeId): void {
    const node = this.node(id);
    const out = node.swim.takeOutput();
    for (const e of out.events) node.events.push({ ...e, atMs: this.nowMs });
    for (const { to, packet } of out.packets) {
      this.packetsSent++;
      const dest = this.#byAddr.get(to);
      if (dest === undefined || this.#blocked.has(`${id}>${dest}`) || this.random.float() < this.loss) {
        this.packetsDropped++;
        continue;
      }
      this.#schedule(this.#latency(), { kind: 'packet', to: dest, fromAddr: node.addr, packet });
    }
    for (const { to, request } of out.pushPulls) {
      const dest = this.#byAddr.get(to);
      const reachable = dest !== undefined && !this.#blocked.has(`${id}>${dest}`) && !this.#blocked.has(`${dest}>${id}`) && this.node(dest).up && !this.node(dest).paused;
      if (!reachable) {
        this.#schedule(this.#tcpTimeoutMs, { kind: 'push-pull-reply', to: id, peerAddr: to, reply: undefined });
        continue;
      }
      this.#schedule(this.#latency(), { kind: 'push-pull', to: dest, fromNode: id, fromAddr: node.addr, request });
    }
    this.#wake(id);
  }

  #wake(id: NodeId): void {
    const node = this.node(id);
    const at = Math.max(this.nowMs, node.swim.nextDeadlineMs());
    if (at < node.wakeAt) {
      node.wakeAt = at;
      this.#schedule(at - this.nowMs, { kind: 'wake', node: id });
    }
  }

  #latency(): number {
    return this.#minLatencyMs + this.random.int(this.#maxLatencyMs - this.#minLatencyMs + 1);
  }

  #schedule(delayMs: number, event: Event): void {
    const item = { at: this.nowMs + delayMs, seq: this.#seq++, event };
    const heap = this.#heap;
    heap.push(item);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (before(heap[parent]!, item)) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = item;
  }

  #pop(): Scheduled {
    const heap = this.#heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        const cur = m === i ? last : heap[m]!;
        let best = cur;
        if (l < heap.length && before(heap[l]!, best)) {
          m = l;
          best = heap[l]!;
        }
        if (r < heap.length && before(heap[r]!, best)) {
          m = r;
          best = heap[r]!;
        }
        if (m === i) break;
        heap[i] = heap[m]!;
        i = m;
      }
      heap[i] = last;
    }
    return top;
  }
}

function before(a: Scheduled, b: Scheduled): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
