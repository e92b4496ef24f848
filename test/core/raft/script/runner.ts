// Scripted interaction tests for the Raft core (DESIGN.md, How we test, 2). A script drives real
// Raft cores by hand: no message is delivered and no tick happens unless a command says so, so
// every step of a protocol rule can be seen, delayed, dropped or reordered. The transcript (each
// command echoed, then what it caused) is compared with a golden file by ../script.test.ts.
// The shape follows etcd-io/raft's datadriven interaction tests and our SWIM scripts
// (test/core/swim/script/runner.ts); the language is our own.
//
// Language (one command per line; '#' lines and blank lines are copied to the transcript):
//
//   add-nodes N [voters=1,2,3 [learners=4]] [learner] [FIELD=V...]
//       Adds N nodes with the next free ids (1, 2, ...). With voters= they start from the
//       bootstrap log (one committed config entry at 1/1, term 1); without it they start empty
//       and wait to be added by a leader (`learner` only says so in the script). FIELD is any
//       RaftOptions field (electionTicks=10, preVote=false, checkQuorum=false, readMode=lease,
//       maxInflightMsgs=2, maxAppendBytes=1, ...); the rest come from SCRIPT_DEFAULTS, pinned
//       here so that tuning RAFT_DEFAULTS does not rewrite every golden. Each core's PRNG seed is
//       derived from the script's name, the node id and how often it started.
//   ready auto|manual    auto (the default): after every input (tick, message, proposal) the
//                        node's Ready is handled at once: persisted, its messages queued, its
//                        committed entries applied, then advance(). manual: Readies wait for
//                        process-ready, so several inputs can land in one Ready (batching), and a
//                        crash loses what was not processed.
//   process-ready [ID...]   Handle the pending Readies of the named nodes (all without ID).
//   campaign ID          Start an election now (a pre-vote first when the node has preVote on).
//   forget-leader ID     The runtime found the leader's process gone (Raft.forgetLeader).
//   tick ID [N]          Tick one node N times (default 1). Lines caused by tick k start '@k'.
//   tick-all [N]         Tick every live node, N rounds.
//   run N                N rounds of: tick every live node, then stabilize. Quiet: prints only
//                        role changes (prefixed '@round') and a summary.
//   propose ID DATA...   One proposal per DATA word, in order.
//   propose-conf ID add-learner|promote|demote|remove NODE
//   transfer ID TARGET   Leadership transfer (thesis 3.10).
//   read-index ID REQ    A ReadIndex request with request id REQ (thesis 6.4).
//   deliver [FILTER...]  Deliver the pending messages that match, in the order they were sent.
//                        Each is printed; under it (indented) what the receiver did in response.
//                        New messages are queued, not delivered.
//   drop [FILTER...]     Discard the pending messages that match.
//       FILTER: A->B (either side may be *), a bare ID (= *->ID), a message type (vote,
//       vote-response, append, append-response, heartbeat, heartbeat-response, snapshot,
//       timeout-now, read-index, read-index-response), max=N (only the first N matches).
//   stabilize            Handle Readies and deliver messages until nothing is left (bounded).
//   pending              The queued messages.
//   partition A... | B...   Block both directions between the groups (adds to existing blocks).
//   isolate ID           Block ID from and to every other node.
//   block A->B           Block one direction. Blocked messages are lost when delivered.
//   heal                 Remove every block.
//   crash ID             The node stops: its memory is lost, its disk (what Readies persisted)
//                        stays; messages to it are lost.
//   restart ID           Rebuild the core from its disk: hard state, snapshot, entries.
//   compact ID [KEEP]    Take a snapshot of the state machine at the applied index and drop the
//                        log up to it, keeping the last KEEP entries (default 0).
//   report-snapshot-failed ID TARGET   The runtime could not send the snapshot to TARGET.
//   report-unreachable ID TARGET       The runtime could not reach TARGET.
//   status [ID...]       Role, term, vote, leader, log marks, configuration, and a leader's view
//                        of each follower's progress.
//   log [ID...]          The entries in memory (after the snapshot, if any).
//   fsm [ID...]          The state machine: the applied commands, in order.
//
// Ready notation (indented under the input that caused it):
//   N: follower -> leader t2           a role or leader change (SoftState)
//   N: persist entries [...]           entries to persist (term/index kind), and the ones on
//                                      disk they replace (a conflicting suffix cut off)
//   N: persist term=2 vote=1 commit=3  a changed hard state
//   N: install snapshot 2/5 ...        a snapshot received from the leader
//   A->B type tTERM ...                a message sent (src/core/raft/format.ts)
//   N: apply [...]                     committed entries applied
//   N: read-state req=7 index=5        a confirmed read point (index 0: failed, retry)
//
// Safety is checked as the script runs (Raft paper, Figure 3): one leader per term, every node
// applies the same entry at an index, and a new leader holds every entry applied anywhere.
// A breach prints a '!! VIOLATION' line, which script.test.ts refuses to accept as golden.
import { runScriptText, ScriptError, filterMatches, fnv1a, parseCount, parseFilter, parseLink, type Filter } from '../../../helpers/script-language.ts';
import { SeededRandom } from '../../../../src/core/random.ts';
import { formatData, formatEntry, formatMessage } from '../../../../src/core/raft/format.ts';
import { RAFT_DEFAULTS, checkRaftOptions, type RaftOptions } from '../../../../src/core/raft/options.ts';
import { formatConfig, type ConfigChange, type ConfigChangeKind } from '../../../../src/core/raft/quorum.ts';
import { bootstrapState, EMPTY_STATE, Raft, type RestoredState } from '../../../../src/core/raft/raft.ts';
import type { ClusterConfig, Entry, HardState, Message, MessageType, NodeId, ProposeError, Ready, SnapshotMeta, SoftState } from '../../../../src/core/raft/types.ts';

/** The options the goldens were written and checked with (etcd-raft's test timings). */
const SCRIPT_DEFAULTS: Omit<RaftOptions, 'id'> = {
  ...RAFT_DEFAULTS,
  electionTicks: 10,
  heartbeatTicks: 1,
  checkQuorum: true,
  preVote: true,
  readMode: 'safe',
  maxAppendBytes: 1024 * 1024,
  maxInflightMsgs: 256,
  maxInflightBytes: 32 * 1024 * 1024,
  maxUncommittedBytes: 64 * 1024 * 1024,
  maxEntryBytes: 4 * 1024 * 1024,
  maxApplyBytes: 16 * 1024 * 1024,
};

/** Bounds: a script that does not settle is a failure to report, not a hang. */
const MAX_STABILIZE_ROUNDS = 1000;
const MAX_READIES_PER_NODE = 1000;
const MAX_TICKS = 10_000;

const MESSAGE_TYPES: ReadonlySet<string> = new Set<MessageType>([
  'vote',
  'vote-response',
  'append',
  'append-response',
  'heartbeat',
  'heartbeat-response',
  'snapshot',
  'timeout-now',
  'read-index',
  'read-index-response',
]);

const CHANGE_KINDS: ReadonlySet<string> = new Set<ConfigChangeKind>(['add-learner', 'promote', 'demote', 'remove']);

/** What one node durably holds: exactly what its handled Readies persisted. */
interface Disk {
  hardState: HardState;
  snapshot: SnapshotMeta | undefined;
  entries: Entry[];
}

interface ScriptNode {
  readonly id: NodeId;
  readonly options: RaftOptions;
  raft: Raft;
  up: boolean;
  starts: number;
  readonly disk: Disk;
  /** The state machine: the applied commands (non-empty normal entries), in order. */
  fsm: string[];
  /** The soft state last reported in a Ready (to print transitions). */
  soft: SoftState;
  /**
   * Which cluster the node belongs to, for the safety checks: the bootstrap configuration, or,
   * for a node that started empty, its first sender's cluster. A script may run two clusters.
   */
  cluster: string | undefined;
}

export { ScriptError };

/** Runs one script; returns the transcript. Throws ScriptError (with the line) on bad input. */
export function runScript(scriptName: string, text: string): string {
  return runScriptText(scriptName, text, new Runner(scriptName));
}

class Runner {
  readonly out: string[] = [];
  readonly #script: string;
  readonly #nodes = new Map<NodeId, ScriptNode>();
  readonly #blocked = new Set<string>();
  #pending: Message[] = [];
  #auto = true;
  /** Snapshot contents by "term/index": the state machine when the snapshot was taken. */
  readonly #snapshots = new Map<string, string[]>();
  // Printing: a prefix (tick number) and an indent (what a delivered message caused).
  #prefix = '';
  #indent = '';
  #quiet = false;
  /** Messages sent so far (run prints how many). */
  #sent = 0;
  // Safety checks (Raft paper, Figure 3).
  readonly #leaderOfTerm = new Map<string, NodeId>();
  readonly #appliedAt = new Map<string, Map<number, string>>();

  constructor(script: string) {
    this.#script = script;
  }

  exec(words: string[]): void {
    const [cmd, ...args] = words;
    switch (cmd) {
      case 'add-nodes':
        return this.#addNodes(args);
      case 'ready':
        return this.#readyMode(args);
      case 'process-ready':
        return this.#processReadyCmd(args);
      case 'campaign':
        return this.#input(this.#onlyLive(args, 'campaign'), (n) => n.raft.campaign());
      case 'forget-leader':
        return this.#input(this.#onlyLive(args, 'forget-leader'), (n) => {
          if (!n.raft.forgetLeader()) this.#say(`${n.id}: forget-leader ignored (not a follower with a leader, or lease mode)`);
        });
      case 'tick':
        return this.#tick(args);
      case 'tick-all':
        return this.#tickAll(args);
      case 'run':
        return this.#run(args);
      case 'propose':
        return this.#propose(args);
      case 'propose-conf':
        return this.#proposeConf(args);
      case 'transfer':
        return this.#transfer(args);
      case 'read-index':
        return this.#readIndex(args);
      case 'deliver':
        return this.#deliverCmd(args);
      case 'drop':
        return this.#dropCmd(args);
      case 'stabilize':
        return this.#stabilize(args);
      case 'pending':
        return this.#pendingCmd(args);
      case 'partition':
        return this.#partition(args);
      case 'isolate':
        return this.#isolate(args);
      case 'block':
        return this.#block(args);
      case 'heal':
        return this.#heal(args);
      case 'crash':
        return this.#crash(args);
      case 'restart':
        return this.#restart(args);
      case 'compact':
        return this.#compact(args);
      case 'report-snapshot-failed':
        return this.#report(args, 'report-snapshot-failed');
      case 'report-unreachable':
        return this.#report(args, 'report-unreachable');
      case 'status':
        return this.#status(args);
      case 'log':
        return this.#log(args);
      case 'fsm':
        return this.#fsm(args);
      default:
        throw new ScriptError(`unknown command ${cmd}`);
    }
  }

  // ---- nodes ----------------------------------------------------------------------------------

  #addNodes(args: string[]): void {
    const [countArg, ...rest] = args;
    const count = parseCount(countArg ?? '', 'add-nodes');
    if (count === 0) throw new ScriptError('add-nodes: want at least one node');
    let voters: NodeId[] | undefined;
    let learners: NodeId[] = [];
    const overrides: Record<string, unknown> = {};
    for (const arg of rest) {
      if (arg === 'learner') continue;
      const eq = arg.indexOf('=');
      if (eq <= 0) throw new ScriptError(`add-nodes: bad argument ${arg}`);
      const key = arg.slice(0, eq);
      const value = arg.slice(eq + 1);
      if (key === 'voters') voters = parseIds(value);
      else if (key === 'learners') learners = parseIds(value);
      else if (key in SCRIPT_DEFAULTS) overrides[key] = parseOption(key, value);
      else throw new ScriptError(`add-nodes: unknown option ${key}`);
    }
    if (voters === undefined && learners.length > 0) throw new ScriptError('add-nodes: learners= needs voters=');
    const config: ClusterConfig | undefined = voters === undefined ? undefined : { voters, learners };
    for (let k = 0; k < count; k++) {
      const id = String(this.#nodes.size + 1) as NodeId;
      const options = { ...SCRIPT_DEFAULTS, ...overrides, id } as RaftOptions;
      const problem = checkRaftOptions(options);
      if (problem !== undefined) throw new ScriptError(`add-nodes: ${problem}`);
      const state = config === undefined ? EMPTY_STATE : bootstrapState(config);
      const disk: Disk = { hardState: state.hardState, snapshot: state.snapshot, entries: [...state.entries] };
      const node: ScriptNode = {
        id,
        options,
        raft: undefined as unknown as Raft,
        up: true,
        starts: 0,
        disk,
        fsm: [],
        soft: { role: 'follower', leader: undefined, term: 0 },
        cluster: config === undefined ? undefined : `cluster of ${formatConfig(config)}`,
      };
      this.#start(node, state);
      this.#nodes.set(id, node);
      const opts = Object.keys(overrides).length === 0 ? '' : ` ${Object.entries(overrides).map(([key, v]) => `${key}=${String(v)}`).join(' ')}`;
      this.#say(`${id}: ${config === undefined ? 'empty log' : `bootstrap ${formatConfig(config)}`}${opts}`);
      // The bootstrap entry is committed: in auto mode it is applied at once.
      this.#afterInput(node);
    }
  }

  #start(node: ScriptNode, state: RestoredState): void {
    node.starts += 1;
    node.up = true;
    node.raft = new Raft(node.options, new SeededRandom(fnv1a(`${this.#script}/${node.id}/${node.starts}`)), state);
    node.soft = { role: node.raft.role, leader: node.raft.leader, term: node.raft.term };
  }

  #crash(args: string[]): void {
    for (const node of this.#named(args, 'crash')) {
      if (!node.up) throw new ScriptError(`crash: ${node.id} is down`);
      node.up = false;
      this.#say(`${node.id}: crashed`);
    }
  }

  #restart(args: string[]): void {
    for (const node of this.#named(args, 'restart')) {
      if (node.up) throw new ScriptError(`restart: ${node.id} is up (crash it first)`);
      const state: RestoredState = { hardState: node.disk.hardState, snapshot: node.disk.snapshot, entries: [...node.disk.entries] };
      node.fsm = node.disk.snapshot === undefined ? [] : [...this.#snapshotData(node.disk.snapshot)];
      this.#start(node, state);
      const hs = node.disk.hardState;
      const snap = node.disk.snapshot === undefined ? '' : ` snapshot=${node.disk.snapshot.term}/${node.disk.snapshot.index}`;
      this.#say(`${node.id}: restarted term=${hs.term} vote=${hs.vote ?? '-'} commit=${hs.commit}${snap} last=${node.raft.log.lastTerm}/${node.raft.log.lastIndex}`);
      this.#afterInput(node);
    }
  }

  #compact(args: string[]): void {
    const [idArg, keepArg] = args;
    if (args.length < 1 || args.length > 2) throw new ScriptError('compact: want ID [KEEP]');
    const node = this.#liveNode(idArg!, 'compact');
    const keep = keepArg === undefined ? 0 : parseCount(keepArg, 'compact');
    const meta = node.raft.snapshotMetaAtApplied();
    this.#snapshots.set(`${meta.term}/${meta.index}`, [...node.fsm]);
    node.disk.snapshot = meta;
    node.raft.snapshotSaved(meta);
    const through = Math.max(meta.index - keep, node.raft.log.offsetIndex);
    node.raft.compact(through);
    node.disk.entries = node.disk.entries.filter((e) => e.index > through);
    this.#say(`${node.id}: snapshot ${meta.term}/${meta.index} ${formatConfig(meta.config)}; log now starts at ${node.raft.log.firstIndex}`);
  }

  // ---- inputs ---------------------------------------------------------------------------------

  #readyMode(args: string[]): void {
    if (args.length !== 1 || (args[0] !== 'auto' && args[0] !== 'manual')) throw new ScriptError('ready: want auto or manual');
    this.#auto = args[0] === 'auto';
  }

  #processReadyCmd(args: string[]): void {
    const nodes = args.length === 0 ? [...this.#nodes.values()] : this.#named(args, 'process-ready');
    let any = false;
    for (const node of nodes) if (node.up && this.#processReady(node)) any = true;
    if (!any) this.#say('(nothing ready)');
  }

  /** Runs one input on a live node, then (in auto mode) handles its Readies. */
  #input(node: ScriptNode, fn: (n: ScriptNode) => void): void {
    fn(node);
    this.#afterInput(node);
  }

  #afterInput(node: ScriptNode): void {
    if (this.#auto && node.up) this.#processReady(node);
  }

  #tick(args: string[]): void {
    if (args.length < 1 || args.length > 2) throw new ScriptError('tick: want ID [N]');
    const node = this.#liveNode(args[0]!, 'tick');
    const times = args[1] === undefined ? 1 : parseTicks(args[1]);
    for (let k = 1; k <= times; k++) {
      this.#withPrefix(times > 1 ? `@${k} ` : '', () => this.#input(node, (n) => n.raft.tick()));
    }
  }

  #tickAll(args: string[]): void {
    if (args.length > 1) throw new ScriptError('tick-all: want [N]');
    const times = args[0] === undefined ? 1 : parseTicks(args[0]);
    for (let k = 1; k <= times; k++) {
      this.#withPrefix(times > 1 ? `@${k} ` : '', () => {
        for (const node of this.#nodes.values()) if (node.up) this.#input(node, (n) => n.raft.tick());
      });
    }
  }

  #run(args: string[]): void {
    if (args.length !== 1) throw new ScriptError('run: want N');
    const rounds = parseTicks(args[0]!);
    const before = this.#sent;
    this.#quiet = true;
    try {
      for (let k = 1; k <= rounds; k++) {
        this.#withPrefix(`@${k} `, () => {
          for (const node of this.#nodes.values()) if (node.up) this.#input(node, (n) => n.raft.tick());
          this.#settle();
        });
      }
    } finally {
      this.#quiet = false;
    }
    this.#say(`(${rounds} rounds, ${this.#sent - before} messages sent)`);
  }

  #propose(args: string[]): void {
    const [idArg, ...data] = args;
    const node = this.#liveNode(idArg ?? '', 'propose');
    if (data.length === 0) throw new ScriptError('propose: want ID DATA...');
    for (const word of data) {
      this.#input(node, (n) => {
        const r = n.raft.propose(new TextEncoder().encode(word));
        this.#say(r.ok ? `${n.id}: proposed ${formatData(new TextEncoder().encode(word))} at ${r.value.term}/${r.value.index}` : `${n.id}: refused: ${fmtProposeError(r.error)}`, true);
      });
    }
  }

  #proposeConf(args: string[]): void {
    const [idArg, kind, target] = args;
    if (args.length !== 3 || !CHANGE_KINDS.has(kind!)) throw new ScriptError('propose-conf: want ID add-learner|promote|demote|remove NODE');
    const node = this.#liveNode(idArg!, 'propose-conf');
    const change = { kind, node: target } as ConfigChange;
    this.#input(node, (n) => {
      const r = n.raft.proposeConfigChange(change);
      if (r.ok) {
        const e = n.raft.log.entry(r.value.index);
        this.#say(`${n.id}: proposed ${e === undefined ? `${r.value.term}/${r.value.index}` : formatEntry(e)}`, true);
      } else {
        this.#say(`${n.id}: refused: ${fmtProposeError(r.error)}`, true);
      }
    });
  }

  #transfer(args: string[]): void {
    if (args.length !== 2) throw new ScriptError('transfer: want ID TARGET');
    const node = this.#liveNode(args[0]!, 'transfer');
    this.#input(node, (n) => {
      const r = n.raft.transferLeadership(args[1]! as NodeId);
      this.#say(r.ok ? `${n.id}: transferring leadership to ${args[1]}` : `${n.id}: transfer refused: ${r.error}`, true);
    });
  }

  #readIndex(args: string[]): void {
    if (args.length !== 2) throw new ScriptError('read-index: want ID REQ');
    const node = this.#liveNode(args[0]!, 'read-index');
    const req = parseCount(args[1]!, 'read-index');
    this.#input(node, (n) => n.raft.readIndex(req));
  }

  #report(args: string[], cmd: string): void {
    if (args.length !== 2) throw new ScriptError(`${cmd}: want ID TARGET`);
    const node = this.#liveNode(args[0]!, cmd);
    const target = args[1]! as NodeId;
    this.#input(node, (n) => (cmd === 'report-snapshot-failed' ? n.raft.reportSnapshotFailed(target) : n.raft.reportUnreachable(target)));
  }

  // ---- Ready handling -------------------------------------------------------------------------

  /** Handles every Ready the node has, as the runtime would (types.ts, Ready). */
  #processReady(node: ScriptNode): boolean {
    let handled = 0;
    while (node.raft.hasReady()) {
      if (++handled > MAX_READIES_PER_NODE) throw new Error(`assertion failed: ${node.id} produced Readies without end`);
      this.#handleReady(node, node.raft.ready());
    }
    return handled > 0;
  }

  #handleReady(node: ScriptNode, rd: Ready): void {
    const id = node.id;
    if (rd.softState !== undefined) {
      this.#say(fmtSoft(id, node.soft, rd.softState), true);
      node.soft = rd.softState;
      if (rd.softState.role === 'leader') this.#checkNewLeader(node, rd.softState.term);
    }
    // 1. Persist: snapshot, entries, hard state.
    if (rd.snapshot !== undefined) {
      const snap = rd.snapshot;
      this.#say(`${id}: install snapshot ${snap.term}/${snap.index} ${formatConfig(snap.config)}`);
      node.disk.snapshot = snap;
      const keep = node.disk.entries.some((e) => e.index === snap.index && e.term === snap.term);
      node.disk.entries = keep ? node.disk.entries.filter((e) => e.index > snap.index) : [];
      node.fsm = [...this.#snapshotData(snap)];
    }
    const first = rd.entries[0];
    if (first !== undefined) {
      const replaced = node.disk.entries.filter((e) => e.index >= first.index);
      const note = replaced.length === 0 ? '' : ` replacing [${replaced.map(formatEntry).join(', ')}]`;
      this.#say(`${id}: persist entries [${rd.entries.map(formatEntry).join(', ')}]${note}`);
      node.disk.entries = node.disk.entries.filter((e) => e.index < first.index).concat(rd.entries);
    }
    if (rd.hardState !== undefined) {
      const hs = rd.hardState;
      this.#say(`${id}: persist term=${hs.term} vote=${hs.vote ?? '-'} commit=${hs.commit}`);
      node.disk.hardState = hs;
    }
    // 2. Send.
    for (const m of rd.messages) {
      this.#pending.push(m);
      this.#sent++;
      this.#say(formatMessage(m));
    }
    // 3. Apply.
    if (rd.committed.length > 0) {
      this.#say(`${id}: apply [${rd.committed.map(formatEntry).join(', ')}]`);
      for (const e of rd.committed) {
        this.#checkApplied(node, e);
        if (e.type === 'normal' && e.data.length > 0) node.fsm.push(new TextDecoder().decode(e.data));
      }
    }
    // 4. Read states.
    for (const rs of rd.readStates) {
      this.#say(`${id}: read-state req=${rs.requestId} ${rs.index === 0 ? 'failed (index 0)' : `index=${rs.index}`}`, true);
    }
    node.raft.advance(rd);
  }

  #snapshotData(meta: SnapshotMeta): readonly string[] {
    const data = this.#snapshots.get(`${meta.term}/${meta.index}`);
    if (data === undefined) throw new Error(`assertion failed: no node took snapshot ${meta.term}/${meta.index}`);
    return data;
  }

  // ---- safety (Raft paper, Figure 3) ------------------------------------------------------------

  #violation(text: string): void {
    this.#say(`!! VIOLATION: ${text}`, true);
  }

  #checkNewLeader(node: ScriptNode, term: number): void {
    const other = this.#leaderOfTerm.get(`${node.cluster}/${term}`);
    if (other !== undefined && other !== node.id) this.#violation(`election safety: ${other} and ${node.id} both lead term ${term}`);
    this.#leaderOfTerm.set(`${node.cluster}/${term}`, node.id);
    // Leader Completeness: the new leader holds every entry that any node applied.
    const log = node.raft.log;
    for (const [index, entry] of this.#applied(node)) {
      if (index <= log.offsetIndex) continue;
      const own = log.entry(index);
      if (own === undefined || formatEntry(own) !== entry) {
        this.#violation(`leader completeness: ${node.id} leads term ${term} without applied entry ${entry}`);
      }
    }
  }

  #checkApplied(node: ScriptNode, e: Entry): void {
    const text = formatEntry(e);
    const applied = this.#applied(node);
    const seen = applied.get(e.index);
    if (seen === undefined) applied.set(e.index, text);
    else if (seen !== text) this.#violation(`state machine safety: ${node.id} applies ${text} where ${seen} was applied`);
  }

  #applied(node: ScriptNode): Map<number, string> {
    const key = node.cluster ?? `node ${node.id}`;
    let applied = this.#appliedAt.get(key);
    if (applied === undefined) {
      applied = new Map();
      this.#appliedAt.set(key, applied);
    }
    return applied;
  }

  // ---- the network ----------------------------------------------------------------------------

  #deliverCmd(args: string[]): void {
    const chosen = this.#take(parseFilter(args, MESSAGE_TYPES));
    if (chosen.length === 0) this.#say('(nothing to deliver)');
    for (const m of chosen) this.#deliver(m);
  }

  #dropCmd(args: string[]): void {
    const chosen = this.#take(parseFilter(args, MESSAGE_TYPES));
    if (chosen.length === 0) this.#say('(nothing to drop)');
    for (const m of chosen) this.#say(`${formatMessage(m)} -- dropped`);
  }

  /** Removes and returns the pending messages that match, oldest first. */
  #take(filter: Filter): Message[] {
    const chosen: Message[] = [];
    const rest: Message[] = [];
    for (const m of this.#pending) {
      if (chosen.length < filter.max && filterMatches(filter, m.from, m.to, m.type)) chosen.push(m);
      else rest.push(m);
    }
    this.#pending = rest;
    return chosen;
  }

  #deliver(m: Message): void {
    const head = formatMessage(m);
    const dest = this.#nodes.get(m.to);
    const lost = dest === undefined ? `no node ${m.to}` : !dest.up ? `${m.to} is down` : this.#blocked.has(`${m.from}>${m.to}`) ? 'blocked' : undefined;
    if (lost !== undefined || dest === undefined) {
      this.#say(`${head} -- lost: ${lost}`);
      return;
    }
    this.#say(head);
    const sender = this.#nodes.get(m.from);
    dest.cluster ??= sender?.cluster;
    const indent = this.#indent;
    this.#indent = `${indent}  `;
    try {
      this.#input(dest, (n) => n.raft.step(m));
    } finally {
      this.#indent = indent;
    }
  }

  #stabilize(args: string[]): void {
    if (args.length > 0) throw new ScriptError('stabilize: no arguments');
    this.#settle();
  }

  /** Readies and deliveries until nothing is left. */
  #settle(): void {
    for (let round = 0; round < MAX_STABILIZE_ROUNDS; round++) {
      let handled = false;
      for (const node of this.#nodes.values()) if (node.up && this.#processReady(node)) handled = true;
      if (this.#pending.length === 0 && !handled) return;
      const batch = this.#pending;
      this.#pending = [];
      for (const m of batch) this.#deliver(m);
    }
    throw new ScriptError(`stabilize: not stable after ${MAX_STABILIZE_ROUNDS} rounds (${this.#pending.length} pending)`);
  }

  #pendingCmd(args: string[]): void {
    if (args.length > 0) throw new ScriptError('pending: no arguments');
    if (this.#pending.length === 0) this.#say('(none)');
    for (const m of this.#pending) this.#say(formatMessage(m));
  }

  #partition(args: string[]): void {
    const bar = args.indexOf('|');
    if (bar <= 0 || bar === args.length - 1) throw new ScriptError('partition: want A... | B...');
    const left = this.#named(args.slice(0, bar), 'partition');
    const right = this.#named(args.slice(bar + 1), 'partition');
    for (const a of left) {
      for (const b of right) {
        this.#blocked.add(`${a.id}>${b.id}`);
        this.#blocked.add(`${b.id}>${a.id}`);
      }
    }
  }

  #isolate(args: string[]): void {
    for (const node of this.#named(args, 'isolate')) {
      for (const other of this.#nodes.keys()) {
        if (other === node.id) continue;
        this.#blocked.add(`${node.id}>${other}`);
        this.#blocked.add(`${other}>${node.id}`);
      }
    }
  }

  #block(args: string[]): void {
    if (args.length === 0) throw new ScriptError('block: want A->B...');
    for (const arg of args) {
      const [a, b] = parseLink(arg);
      this.#node(a, 'block');
      this.#node(b, 'block');
      this.#blocked.add(`${a}>${b}`);
    }
  }

  #heal(args: string[]): void {
    if (args.length > 0) throw new ScriptError('heal: no arguments');
    this.#blocked.clear();
  }

  // ---- inspection -----------------------------------------------------------------------------

  #status(args: string[]): void {
    const nodes = args.length === 0 ? [...this.#nodes.values()] : this.#named(args, 'status');
    for (const node of nodes) {
      if (!node.up) {
        this.#say(`${node.id}: down`);
        continue;
      }
      const s = node.raft.status();
      const transfer = s.transferee === undefined ? '' : ` transferring-to=${s.transferee}`;
      this.#say(
        `${s.id}: ${s.role} term=${s.term} vote=${s.vote ?? '-'} leader=${s.leader ?? '-'} commit=${s.commit} applied=${s.applied} last=${s.lastTerm}/${s.lastIndex} ${formatConfig(s.config)}${transfer}`,
      );
      for (const [peer, pr] of [...s.progress].sort(([a], [b]) => compareIds(a, b))) {
        this.#say(`  ${peer}: ${pr.state} match=${pr.match} next=${pr.next} inflight=${pr.inflight}${pr.recentActive ? ' active' : ''}`);
      }
    }
  }

  #log(args: string[]): void {
    const nodes = args.length === 0 ? [...this.#nodes.values()] : this.#named(args, 'log');
    for (const node of nodes) {
      if (!node.up) {
        this.#say(`${node.id}: down`);
        continue;
      }
      const log = node.raft.log;
      const entries: string[] = [];
      for (let i = log.firstIndex; i <= log.lastIndex; i++) entries.push(formatEntry(log.entry(i)!));
      const snap = log.offsetIndex === 0 ? '' : `compacted through ${log.term(log.offsetIndex)}/${log.offsetIndex}, then `;
      this.#say(`${node.id}: ${snap}[${entries.join(', ')}]`);
    }
  }

  #fsm(args: string[]): void {
    const nodes = args.length === 0 ? [...this.#nodes.values()] : this.#named(args, 'fsm');
    for (const node of nodes) {
      if (!node.up) {
        this.#say(`${node.id}: down`);
        continue;
      }
      this.#say(`${node.id}: applied=${node.raft.log.applied} [${node.fsm.join(', ')}]`);
    }
  }

  // ---- helpers --------------------------------------------------------------------------------

  /** Prints a line; in quiet mode (run) only the important ones (role changes, refusals). */
  #say(line: string, important = false): void {
    if (this.#quiet && !important) return;
    this.out.push(`${this.#prefix}${this.#indent}${line}`);
  }

  #withPrefix(prefix: string, fn: () => void): void {
    const saved = this.#prefix;
    this.#prefix = prefix;
    try {
      fn();
    } finally {
      this.#prefix = saved;
    }
  }

  #node(id: string, cmd: string): ScriptNode {
    const node = this.#nodes.get(id as NodeId);
    if (node === undefined) throw new ScriptError(`${cmd}: no node ${id}`);
    return node;
  }

  #liveNode(id: string, cmd: string): ScriptNode {
    const node = this.#node(id, cmd);
    if (!node.up) throw new ScriptError(`${cmd}: ${id} is down`);
    return node;
  }

  #onlyLive(args: string[], cmd: string): ScriptNode {
    if (args.length !== 1) throw new ScriptError(`${cmd}: want ID`);
    return this.#liveNode(args[0]!, cmd);
  }

  #named(ids: string[], cmd: string): ScriptNode[] {
    if (ids.length === 0) throw new ScriptError(`${cmd}: no node ids`);
    return ids.map((id) => this.#node(id, cmd));
  }
}

// ---- parsing -------------------------------------------------------------------------------------



function parseIds(value: string): NodeId[] {
  const ids = value.split(',').filter((s) => s !== '');
  if (ids.length === 0) throw new ScriptError(`bad id list ${value}`);
  return ids as NodeId[];
}

function parseOption(key: string, value: string): unknown {
  const current = (SCRIPT_DEFAULTS as unknown as Record<string, unknown>)[key];
  if (typeof current === 'boolean') {
    if (value !== 'true' && value !== 'false') throw new ScriptError(`${key}: want true or false`);
    return value === 'true';
  }
  if (typeof current === 'number') return parseCount(value, key);
  return value;
}


function parseTicks(value: string): number {
  const n = parseCount(value, 'ticks');
  if (n < 1 || n > MAX_TICKS) throw new ScriptError(`ticks: want 1..${MAX_TICKS}, got ${value}`);
  return n;
}

function compareIds(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

// ---- formatting ----------------------------------------------------------------------------------

function fmtSoft(id: NodeId, before: SoftState, after: SoftState): string {
  const leader = after.leader === undefined ? 'no leader' : after.leader === id ? '' : `leader ${after.leader}`;
  const role: string = before.role === after.role ? after.role : `${before.role} -> ${after.role}`;
  return `${id}: ${role} t${after.term}${leader === '' ? '' : `, ${leader}`}`;
}

function fmtProposeError(e: ProposeError): string {
  switch (e.code) {
    case 'not-leader':
      return `not-leader (leader ${e.leader ?? 'unknown'})`;
    case 'transferring':
      return `transferring (to ${e.leader ?? 'unknown'})`;
    case 'config-change-pending':
      return 'config-change-pending';
    case 'not-ready':
    case 'invalid-config':
      return `${e.code}: ${e.reason}`;
    case 'too-large':
      return `too-large (${e.bytes} > ${e.maxBytes} bytes)`;
    case 'overloaded':
      return `overloaded (${e.uncommittedBytes} uncommitted bytes)`;
  }
}

