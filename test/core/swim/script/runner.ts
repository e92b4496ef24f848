// Scripted interaction tests for the SWIM core (DESIGN.md, How we test, 2). A script drives real
// Swim cores by hand: nothing is delivered and no timer fires unless a command says so, so every
// message of a protocol rule can be seen, delayed, dropped or reordered. The transcript (each
// command echoed, then what it caused) is compared against a golden file by script.test.ts.
// The shape follows etcd-io/raft's datadriven interaction tests; the language is our own.
//
// Language (one command per line; '#' lines and blank lines are copied to the transcript):
//
//   add NAME... [preset=lan|wan|local] [FIELD=N...] [gossip=off] [probes=off] [id=ID] [inc=N]
//       Start cores at the current time. Address NAME:7702, node ID NAME (or ID, to make an
//       impostor that shares another node's ID), starting incarnation N. FIELD is any SwimConfig
//       field (probeIntervalMs=...). gossip=off pushes the gossip, push-pull and reconnect
//       timers out of reach, probes=off the probe timer (so also the suspicion timeout, which
//       scales with probeIntervalMs): such a node only answers, relays and forwards, which
//       keeps a script about one rule free of unrelated traffic. Without preset=, scripts run on
//       SCRIPT_DEFAULTS (memberlist's LAN timings), pinned here so that tuning a preset does not
//       rewrite every golden.
//       Each core's PRNG seed is derived from the script's and the node's names.
//   restart NAME [inc=N]     A crashed node starts again: same ID and address, fresh state.
//   crash NAME               The node stops: it no longer ticks, and messages to it are lost.
//   join NAME SEED...        NAME joins through the seeds' addresses (a join push-pull each).
//   leave NAME               Graceful leave.
//   meta NAME k=v...         NAME publishes new metadata (updateMeta).
//   time +DUR                Advance the shared clock by DUR (e.g. 500ms, 2s), ticking every live
//                            node at each of its deadlines on the way. Nothing is delivered.
//   next [NAME...]           Advance the clock to the earliest timer deadline of the named nodes
//                            (of any node without NAME), firing every node's timers due by then.
//   tick NAME... [+DUR]      Like time, but only the named nodes' timers fire (the others stall);
//                            without DUR, tick the named nodes once at the current time.
//   deliver [FILTER...]      Deliver the pending messages that match, in the order they were
//                            sent. What the receivers send in response is queued, not delivered.
//                            A push-pull is answered by its target at once, and the reply is
//                            delivered to the requester in the same step.
//   drop [FILTER...]         Discard the pending messages that match.
//       FILTER: A->B (either side may be *), a bare NAME (= *->NAME), a message kind (ping,
//       indirect-ping, ack, nack, gossip, push-pull), max=N (only the first N matches).
//   stabilize                Deliver rounds until nothing is pending (bounded), time standing still.
//   run +DUR                 Automatic mode: time advances deadline by deadline and every message
//                            is delivered at once; prints only a summary. Use events/members after.
//   block A->B               Messages from A to B are lost at delivery (one direction).
//   partition A B | C D      Block both directions between the two groups.
//   heal                     Remove every block.
//   members NAME...          NAME's view: id, status, incarnation, address, metadata.
//   pending                  The queued messages.
//   events [NAME...]         Member events not printed yet (all nodes without NAME), node by node.
//   health NAME...           Lifeguard local health score.
//
// Message notation: A->B for datagrams, A=>B for push-pull (TCP). Updates in brackets:
// 'alive n1#3' (ID n1, incarnation 3; address shown only when not ID:7702, metadata when set),
// 'suspect n3#0 by n1', 'dead n3#0 by n1', 'left n3#0'.
import { runScriptText, ScriptError, filterMatches, fnv1a, parseCount, parseFilter, parseLink, type Filter } from '../../../helpers/script-language.ts';
import { SeededRandom } from '../../../../src/core/random.ts';
import { SWIM_PRESETS, checkSwimConfig, type SwimConfig, type SwimPreset } from '../../../../src/core/swim/config.ts';

/** The timings the goldens were written and checked with (memberlist's LAN defaults). */
const SCRIPT_DEFAULTS: SwimConfig = { ...SWIM_PRESETS.lan, probeIntervalMs: 1000, probeTimeoutMs: 500, suspicionMult: 4, suspicionConfirmations: 2 };
import { Swim } from '../../../../src/core/swim/swim.ts';
import type { GossipAddress, MemberEvent, NodeId, Packet, ProbeMessage, PushPull, Update } from '../../../../src/core/swim/types.ts';

export type Meta = Readonly<Record<string, string>>;

const PORT = 7702;
/** Bounds: a script that does not settle is a failure to report, not a hang. */
const MAX_STABILIZE_ROUNDS = 100;
const MAX_TICKS_PER_ADVANCE = 100_000;
/** A timer interval no script reaches: how gossip=off and probes=off silence a node. */
const OFF_MS = 1_000_000_000;

interface ScriptNode {
  readonly name: string;
  readonly id: NodeId;
  readonly addr: GossipAddress;
  readonly config: SwimConfig;
  swim: Swim<Meta>;
  up: boolean;
  starts: number;
  readonly events: Array<{ readonly atMs: number; readonly event: MemberEvent<Meta> }>;
  printedEvents: number;
}

type Wire =
  | { readonly kind: 'packet'; readonly from: string; readonly to: GossipAddress; readonly packet: Packet<Meta> }
  | { readonly kind: 'push-pull'; readonly from: string; readonly to: GossipAddress; readonly request: PushPull<Meta> };

export { ScriptError };

/** Runs one script; returns the transcript. Throws ScriptError (with the line) on bad input. */
export function runScript(scriptName: string, text: string): string {
  return runScriptText(scriptName, text, new Runner(scriptName));
}

class Runner {
  readonly out: string[] = [];
  readonly #script: string;
  readonly #nodes = new Map<string, ScriptNode>();
  readonly #byAddr = new Map<GossipAddress, string>();
  readonly #blocked = new Set<string>();
  #pending: Wire[] = [];
  #nowMs = 0;

  constructor(script: string) {
    this.#script = script;
  }

  exec(words: string[]): void {
    const [cmd, ...args] = words;
    switch (cmd) {
      case 'add':
        return this.#add(args);
      case 'restart':
        return this.#restart(args);
      case 'crash':
        return this.#crash(args);
      case 'join':
        return this.#join(args);
      case 'leave':
        return this.#leave(args);
      case 'meta':
        return this.#meta(args);
      case 'time':
        return this.#time(args);
      case 'tick':
        return this.#tick(args);
      case 'next':
        return this.#next(args);
      case 'deliver':
        return this.#deliverCmd(args);
      case 'drop':
        return this.#dropCmd(args);
      case 'stabilize':
        return this.#stabilize(args);
      case 'run':
        return this.#run(args);
      case 'block':
        return this.#block(args);
      case 'partition':
        return this.#partition(args);
      case 'heal':
        return this.#heal(args);
      case 'members':
        return this.#members(args);
      case 'pending':
        return this.#pendingCmd(args);
      case 'events':
        return this.#eventsCmd(args);
      case 'health':
        return this.#health(args);
      default:
        throw new ScriptError(`unknown command ${cmd}`);
    }
  }

  // ---- nodes ----------------------------------------------------------------------------------

  #add(args: string[]): void {
    const { names, options } = splitArgs(args);
    if (names.length === 0) throw new ScriptError('add: no node names');
    let config: SwimConfig = SCRIPT_DEFAULTS;
    let id: string | undefined;
    let incarnation = 0;
    const overrides: Record<string, number> = {};
    for (const [key, value] of options) {
      if (key === 'preset') {
        if (!(value in SWIM_PRESETS)) throw new ScriptError(`add: unknown preset ${value}`);
        config = SWIM_PRESETS[value as SwimPreset];
      } else if (key === 'id') id = value;
      else if (key === 'inc') incarnation = parseCount(value, 'inc');
      else if (key === 'gossip' && value === 'off') Object.assign(overrides, { gossipIntervalMs: OFF_MS, pushPullIntervalMs: OFF_MS, reconnectIntervalMs: OFF_MS });
      else if (key === 'probes' && value === 'off') overrides.probeIntervalMs = OFF_MS;
      else if (key in SWIM_PRESETS.lan) overrides[key] = parseCount(value, key);
      else throw new ScriptError(`add: unknown option ${key}`);
    }
    config = { ...config, ...overrides };
    const problems = checkSwimConfig(config);
    if (problems.length > 0) throw new ScriptError(`add: ${problems.join('; ')}`);
    if (id !== undefined && names.length > 1) throw new ScriptError('add: id= needs exactly one name');
    for (const name of names) {
      if (this.#nodes.has(name)) throw new ScriptError(`add: ${name} exists (use restart)`);
      const node: ScriptNode = {
        name,
        id: (id ?? name) as NodeId,
        addr: `${name}:${PORT}`,
        config,
        swim: undefined as unknown as Swim<Meta>,
        up: true,
        starts: 0,
        events: [],
        printedEvents: 0,
      };
      this.#start(node, incarnation);
      this.#nodes.set(name, node);
      this.#byAddr.set(node.addr, name);
      this.out.push(`${name}: id=${node.id} addr=${node.addr} inc=${incarnation}`);
    }
  }

  #start(node: ScriptNode, incarnation: number): void {
    node.starts += 1;
    node.up = true;
    node.swim = new Swim<Meta>({
      id: node.id,
      addr: node.addr,
      meta: {},
      config: node.config,
      random: new SeededRandom(fnv1a(`${this.#script}/${node.name}/${node.starts}`)),
      nowMs: this.#nowMs,
      incarnation,
    });
    // The announcement made at start-up waits in the broadcast queue; nothing is sent yet.
    this.#collect(node, '');
  }

  #restart(args: string[]): void {
    const { names, options } = splitArgs(args);
    const node = this.#one(names, 'restart');
    if (node.up) throw new ScriptError(`restart: ${node.name} is up (crash it first)`);
    let incarnation = 0;
    for (const [key, value] of options) {
      if (key === 'inc') incarnation = parseCount(value, 'inc');
      else throw new ScriptError(`restart: unknown option ${key}`);
    }
    this.#start(node, incarnation);
    this.out.push(`${node.name}: restarted id=${node.id} inc=${incarnation}`);
  }

  #crash(args: string[]): void {
    for (const node of this.#named(args, 'crash')) node.up = false;
  }

  #join(args: string[]): void {
    const [name, ...seeds] = args;
    const node = this.#live(name ?? '', 'join');
    if (seeds.length === 0) throw new ScriptError('join: no seeds');
    node.swim.join(
      seeds.map((s) => this.#node(s, 'join').addr),
      this.#nowMs,
    );
    this.#collect(node, '');
  }

  #leave(args: string[]): void {
    for (const node of this.#named(args, 'leave')) {
      if (!node.up) throw new ScriptError(`leave: ${node.name} is down`);
      node.swim.leave(this.#nowMs);
      this.#collect(node, '');
    }
  }

  #meta(args: string[]): void {
    const { names, options } = splitArgs(args);
    const node = this.#one(names, 'meta');
    if (!node.up) throw new ScriptError(`meta: ${node.name} is down`);
    node.swim.updateMeta(Object.fromEntries(options), this.#nowMs);
    this.#collect(node, '');
  }

  // ---- time -----------------------------------------------------------------------------------

  #time(args: string[]): void {
    if (args.length !== 1) throw new ScriptError('time: want +DUR');
    this.#advance(parseDuration(args[0]!), [...this.#nodes.values()], true);
  }

  #tick(args: string[]): void {
    const durations = args.filter((a) => a.startsWith('+'));
    const nodes = this.#named(
      args.filter((a) => !a.startsWith('+')),
      'tick',
    );
    if (nodes.some((n) => !n.up)) throw new ScriptError('tick: a named node is down');
    if (durations.length > 1) throw new ScriptError('tick: at most one +DUR');
    if (durations.length === 1) {
      this.#advance(parseDuration(durations[0]!), nodes, true);
      return;
    }
    for (const node of nodes) {
      node.swim.tick(this.#nowMs);
      this.#collect(node, `@${this.#nowMs}ms `);
    }
  }

  #next(args: string[]): void {
    const all = [...this.#nodes.values()];
    const nodes = (args.length > 0 ? this.#named(args, 'next') : all).filter((n) => n.up);
    if (nodes.length === 0) throw new ScriptError('next: no live node');
    const next = Math.min(...nodes.map((n) => n.swim.nextDeadlineMs()));
    // Time is shared: every node's timers due on the way fire too, not only the named ones'.
    this.#advance(Math.max(0, next - this.#nowMs), all, true);
  }

  /** Fires the given nodes' timers at their deadlines up to now + ms (SWIM's protocol periods). */
  #advance(ms: number, nodes: ScriptNode[], print: boolean, onStep?: () => void): void {
    const endMs = this.#nowMs + ms;
    for (let steps = 0; ; steps++) {
      if (steps > MAX_TICKS_PER_ADVANCE) throw new Error(`assertion failed: timers did not advance past ${this.#nowMs}ms`);
      const live = nodes.filter((n) => n.up);
      const next = Math.min(...live.map((n) => n.swim.nextDeadlineMs()));
      if (!(next <= endMs)) break;
      this.#nowMs = Math.max(this.#nowMs, next);
      for (const node of live) {
        if (node.swim.nextDeadlineMs() > this.#nowMs) continue;
        node.swim.tick(this.#nowMs);
        this.#collect(node, print ? `@${this.#nowMs}ms ` : undefined);
      }
      onStep?.();
    }
    this.#nowMs = endMs;
    if (print) this.out.push(`now=${this.#nowMs}ms`);
  }

  // ---- the network ----------------------------------------------------------------------------

  #deliverCmd(args: string[]): void {
    const filter = parseFilter(args, KINDS);
    const chosen = this.#take(filter);
    if (chosen.length === 0) this.out.push('(nothing to deliver)');
    for (const wire of chosen) this.#deliver(wire, true);
  }

  #dropCmd(args: string[]): void {
    const filter = parseFilter(args, KINDS);
    const chosen = this.#take(filter);
    if (chosen.length === 0) this.out.push('(nothing to drop)');
    for (const wire of chosen) this.out.push(`${this.#fmtWire(wire)} -- dropped`);
  }

  /** Removes and returns the pending messages that match, oldest first. */
  #take(filter: Filter): Wire[] {
    const chosen: Wire[] = [];
    const rest: Wire[] = [];
    for (const wire of this.#pending) {
      if (chosen.length < filter.max && this.#matches(wire, filter)) chosen.push(wire);
      else rest.push(wire);
    }
    this.#pending = rest;
    return chosen;
  }

  #matches(wire: Wire, filter: Filter): boolean {
    return filterMatches(filter, wire.from, this.#byAddr.get(wire.to) ?? wire.to, wireKind(wire));
  }

  #deliver(wire: Wire, print: boolean): void {
    const say = (line: string): void => {
      if (print) this.out.push(line);
    };
    const head = this.#fmtWire(wire);
    const sender = this.#node(wire.from, 'deliver');
    const destName = this.#byAddr.get(wire.to);
    const dest = destName === undefined ? undefined : this.#nodes.get(destName);
    const lost = !dest ? `nobody at ${wire.to}` : !dest.up ? `${dest.name} is down` : this.#isBlocked(sender.name, dest.name) ? 'blocked' : undefined;
    if (wire.kind === 'packet') {
      if (lost !== undefined || !dest) {
        say(`${head} -- lost: ${lost}`);
        return;
      }
      say(head);
      dest.swim.onPacket(sender.addr, wire.packet, this.#nowMs);
      this.#collect(dest, print ? '  ' : undefined);
      return;
    }
    // A push-pull is a TCP exchange: it needs both directions, and fails as a whole.
    const tcpLost = lost ?? (dest && this.#isBlocked(dest.name, sender.name) ? 'blocked' : undefined);
    if (tcpLost !== undefined || !dest) {
      say(`${head} -- failed: ${tcpLost}`);
      if (sender.up) {
        sender.swim.onPushPullFailed(wire.to, this.#nowMs);
        this.#collect(sender, print ? '  ' : undefined);
      }
      return;
    }
    say(head);
    const reply = dest.swim.onPushPullRequest(wire.request, this.#nowMs);
    this.#collect(dest, print ? '  ' : undefined);
    if (!sender.up) {
      say(`  ${dest.name}=>${sender.name} reply -- lost: ${sender.name} is down`);
      return;
    }
    say(`  ${dest.name}=>${sender.name} reply ${fmtState(reply)}`);
    sender.swim.onPushPullReply(dest.addr, reply, this.#nowMs);
    this.#collect(sender, print ? '    ' : undefined);
  }

  #stabilize(args: string[]): void {
    if (args.length > 0) throw new ScriptError('stabilize: no arguments');
    for (let round = 1; round <= MAX_STABILIZE_ROUNDS; round++) {
      if (this.#pending.length === 0) {
        this.out.push(`stable after ${round - 1} round(s)`);
        return;
      }
      this.out.push(`round ${round}:`);
      const wires = this.#pending;
      this.#pending = [];
      for (const wire of wires) this.#deliver(wire, true);
    }
    this.out.push(`NOT stable after ${MAX_STABILIZE_ROUNDS} rounds: ${this.#pending.length} pending`);
  }

  #run(args: string[]): void {
    if (args.length !== 1) throw new ScriptError('run: want +DUR');
    let delivered = 0;
    const flush = (): void => {
      for (let round = 0; this.#pending.length > 0; round++) {
        if (round >= MAX_STABILIZE_ROUNDS) throw new Error('assertion failed: run: messages did not settle');
        const wires = this.#pending;
        this.#pending = [];
        for (const wire of wires) this.#deliver(wire, false);
        delivered += wires.length;
      }
    };
    flush();
    this.#advance(parseDuration(args[0]!), [...this.#nodes.values()], false, flush);
    this.out.push(`now=${this.#nowMs}ms (${delivered} messages sent, lost or delivered)`);
  }

  #block(args: string[]): void {
    for (const arg of args) {
      const [a, b] = parseLink(arg);
      this.#node(a, 'block');
      this.#node(b, 'block');
      this.#blocked.add(`${a}>${b}`);
    }
  }

  #partition(args: string[]): void {
    const bar = args.indexOf('|');
    if (bar <= 0 || bar === args.length - 1) throw new ScriptError('partition: want A... | B...');
    const left = this.#named(args.slice(0, bar), 'partition');
    const right = this.#named(args.slice(bar + 1), 'partition');
    for (const a of left) for (const b of right) {
      this.#blocked.add(`${a.name}>${b.name}`);
      this.#blocked.add(`${b.name}>${a.name}`);
    }
  }

  #heal(args: string[]): void {
    if (args.length > 0) throw new ScriptError('heal: no arguments');
    this.#blocked.clear();
  }

  #isBlocked(from: string, to: string): boolean {
    return this.#blocked.has(`${from}>${to}`);
  }

  // ---- inspection -----------------------------------------------------------------------------

  #members(args: string[]): void {
    for (const node of this.#named(args, 'members')) {
      this.out.push(`${node.name} sees:${node.up ? '' : ' (down)'}`);
      for (const m of node.swim.members()) {
        const meta = fmtMeta(m.meta);
        this.out.push(`  ${m.id} ${m.status}#${m.incarnation} ${m.addr}${meta ? ` ${meta}` : ''} since=${m.sinceMs}ms`);
      }
    }
  }

  #pendingCmd(args: string[]): void {
    if (args.length > 0) throw new ScriptError('pending: no arguments');
    if (this.#pending.length === 0) this.out.push('(none)');
    for (const wire of this.#pending) this.out.push(this.#fmtWire(wire));
  }

  #eventsCmd(args: string[]): void {
    const nodes = args.length > 0 ? this.#named(args, 'events') : [...this.#nodes.values()];
    let any = false;
    for (const node of nodes) {
      for (const { atMs, event } of node.events.slice(node.printedEvents)) {
        this.out.push(`@${atMs}ms ${node.name}: ${fmtEvent(event)}`);
        any = true;
      }
      node.printedEvents = node.events.length;
    }
    if (!any) this.out.push('(no new events)');
  }

  #health(args: string[]): void {
    for (const node of this.#named(args, 'health')) this.out.push(`${node.name}: local health ${node.swim.localHealth()}`);
  }

  // ---- helpers --------------------------------------------------------------------------------

  /** Queues a core's output; prints the messages with the prefix unless it is undefined. */
  #collect(node: ScriptNode, prefix: string | undefined): void {
    const out = node.swim.takeOutput();
    for (const event of out.events) node.events.push({ atMs: this.#nowMs, event });
    const wires: Wire[] = [
      ...out.packets.map(({ to, packet }): Wire => ({ kind: 'packet', from: node.name, to, packet })),
      ...out.pushPulls.map(({ to, request }): Wire => ({ kind: 'push-pull', from: node.name, to, request })),
    ];
    for (const wire of wires) {
      this.#pending.push(wire);
      if (prefix !== undefined) this.out.push(`${prefix}${this.#fmtWire(wire)}`);
    }
  }

  #fmtWire(wire: Wire): string {
    const to = this.#byAddr.get(wire.to) ?? wire.to;
    if (wire.kind === 'push-pull') return `${wire.from}=>${to} push-pull${wire.request.join ? ' join' : ''} ${fmtState(wire.request)}`;
    const probe = wire.packet.probe ? fmtProbe(wire.packet.probe) : 'gossip';
    const updates = wire.packet.updates.length > 0 ? ` [${wire.packet.updates.map(fmtUpdate).join(', ')}]` : '';
    return `${wire.from}->${to} ${probe}${updates}`;
  }

  #node(name: string, cmd: string): ScriptNode {
    const node = this.#nodes.get(name);
    if (!node) throw new ScriptError(`${cmd}: no node ${name}`);
    return node;
  }

  #live(name: string, cmd: string): ScriptNode {
    const node = this.#node(name, cmd);
    if (!node.up) throw new ScriptError(`${cmd}: ${name} is down`);
    return node;
  }

  #named(names: string[], cmd: string): ScriptNode[] {
    if (names.length === 0) throw new ScriptError(`${cmd}: no node names`);
    return names.map((n) => this.#node(n, cmd));
  }

  #one(names: string[], cmd: string): ScriptNode {
    if (names.length !== 1) throw new ScriptError(`${cmd}: want exactly one node name`);
    return this.#node(names[0]!, cmd);
  }
}

// ---- parsing -------------------------------------------------------------------------------------

const KINDS = new Set(['ping', 'indirect-ping', 'ack', 'nack', 'gossip', 'push-pull']);

function splitArgs(args: string[]): { names: string[]; options: Array<[string, string]> } {
  const names: string[] = [];
  const options: Array<[string, string]> = [];
  for (const arg of args) {
    const eq = arg.indexOf('=');
    if (eq < 0) names.push(arg);
    else if (eq === 0 || eq === arg.length - 1) throw new ScriptError(`bad option ${arg}`);
    else options.push([arg.slice(0, eq), arg.slice(eq + 1)]);
  }
  return { names, options };
}



function parseDuration(arg: string): number {
  const m = /^\+(\d+)(ms|s)$/.exec(arg);
  if (!m) throw new ScriptError(`bad duration ${arg} (want +500ms or +2s)`);
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
}


// ---- formatting ----------------------------------------------------------------------------------

function wireKind(wire: Wire): string {
  return wire.kind === 'push-pull' ? 'push-pull' : (wire.packet.probe?.kind ?? 'gossip');
}

function fmtProbe(p: ProbeMessage): string {
  switch (p.kind) {
    case 'ping':
      return `ping seq=${p.seq} target=${p.target}`;
    case 'indirect-ping':
      return `indirect-ping seq=${p.seq} target=${p.target}`;
    case 'ack':
      return `ack seq=${p.seq} from=${p.from}`;
    case 'nack':
      return `nack seq=${p.seq} from=${p.from}`;
  }
}

function fmtMeta(meta: Meta): string {
  const entries = Object.entries(meta);
  return entries.length === 0 ? '' : `{${entries.map(([k, v]) => `${k}=${v}`).join(',')}}`;
}

function fmtAddr(id: NodeId, addr: GossipAddress): string {
  return addr === `${id}:${PORT}` ? '' : ` @${addr}`;
}

function fmtUpdate(u: Update<Meta>): string {
  switch (u.kind) {
    case 'alive': {
      const meta = fmtMeta(u.meta);
      return `alive ${u.id}#${u.incarnation}${fmtAddr(u.id, u.addr)}${meta ? ` ${meta}` : ''}`;
    }
    case 'suspect':
      return `suspect ${u.id}#${u.incarnation} by ${u.from}`;
    case 'dead':
      return u.from === u.id ? `left ${u.id}#${u.incarnation}` : `dead ${u.id}#${u.incarnation} by ${u.from}`;
  }
}

function fmtState(state: PushPull<Meta>): string {
  return `{${state.members.map((m) => `${m.id} ${m.status}#${m.incarnation}${fmtAddr(m.id, m.addr)}${fmtMeta(m.meta) ? ` ${fmtMeta(m.meta)}` : ''}`).join(', ')}}`;
}

function fmtEvent(e: MemberEvent<Meta>): string {
  switch (e.kind) {
    case 'join':
    case 'update':
    case 'alive':
    case 'leave':
    case 'reap': {
      const meta = fmtMeta(e.member.meta);
      return `${e.kind} ${e.member.id}#${e.member.incarnation}${fmtAddr(e.member.id, e.member.addr)}${meta ? ` ${meta}` : ''}`;
    }
    case 'suspect':
    case 'dead':
      return `${e.kind} ${e.member.id}#${e.member.incarnation} by ${e.by}`;
    case 'conflict':
      return `conflict id=${e.id} ours=${e.ours} theirs=${e.theirs}`;
    case 'joined':
      return `joined via ${e.via}`;
    case 'join-failed':
      return `join-failed attempt=${e.attempt} retry in ${e.retryInMs}ms (${e.addrs.join(' ')})`;
  }
}
