// Remote exec (issue 6 item 7; Raptiformica's use of `consul exec`): an operator runs one
// command on many nodes and reads their output, prefixed by node, as it comes.
//
// Shape. The CLI talks only to its local agent (POST /v1/exec, src/api/exec.ts), the origin.
// The origin picks the targets (alive gossip members matching a node filter) and talks to each
// over the agent RPC transport (mutual TLS in secure mode: only certified members get in):
//   exec.start  {argv, timeoutMs}      -> {ok, id} | {ok: false, reason, message}
//   exec.poll   {id, cursor, waitMs}   -> {ok, chunks, cursor, done?}   (a long poll)
//   exec.cancel {id}                   -> {found}
//
// Why the origin polls instead of the target pushing chunks with one-way messages: RPC one-way
// sends are dropped when a peer's queue is full and carry no acknowledgement, so pushing would
// need our own sequence numbers, acks and resends anyway. A long poll with a cursor gets all of
// that from request/response: a lost reply is asked for again with the same cursor (the target
// frees output only below a cursor the origin asked with, i.e. output it has received), a slow
// origin (or a slow CLI behind it) simply polls later, which is flow control, and a target whose
// origin stops polling knows it was abandoned and kills the command. The wait inside the poll
// keeps latency at one round trip while output flows and costs one idle request per second
// otherwise.
//
// Bounds: output per node and run (1 MiB, the rest counted as truncated), bytes per poll reply,
// commands running per node (8) and runs per origin (4), targets per run, the timeout (after it
// the command's whole process group gets SIGTERM, then SIGKILL), how long a finished run's
// result is kept for a late poll, and how long a node may go without a poll before its command
// is killed as abandoned.
//
// The command runs without a shell (argv as given: no quoting surprises, no injection through
// arguments; ask for a shell with `sh -c '...'`), in a fresh directory under <dataDir>/exec/,
// with a minimal environment, in its own process group (so a timeout kills what it started too).
// Disabled unless exec.enabled: a node with it off answers "exec is disabled on this node".

import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { TextDecoder } from 'node:util';
import { Type } from '@sinclair/typebox';
import { err, ok, type Result } from '../core/result.ts';
import type { Clock, Timer } from '../runtime/clock.ts';
import { TransportError, type RequestContext, type RpcTransport } from '../runtime/transport/types.ts';
import { MessageCodec, describeDecodeError, type MessageOf } from '../wire/codec.ts';
import { MAX_ID_CHARS } from '../wire/limits.ts';
import { ApiError } from '../api/errors.ts';
import { MAX_EXEC_ARG_CHARS, MAX_EXEC_ARGS, MAX_EXEC_TIMEOUT_MS, DEFAULT_EXEC_TIMEOUT_MS, type ExecDone, type ExecLine, type ExecRequest, type ExecRun, type ExecSink, type ExecStream, type ExecSummary } from '../api/exec.ts';
import type { MemberView } from '../api/schemas.ts';
import type { Logger } from './log.ts';

export const EXEC_START_METHOD = 'exec.start';
export const EXEC_POLL_METHOD = 'exec.poll';
export const EXEC_CANCEL_METHOD = 'exec.cancel';

export const EXEC_LIMITS = {
  /** Output kept per node and run; past it bytes are counted, not kept. */
  outputCapBytes: 1024 * 1024,
  /** Output in one poll reply (well under the RPC frame limit). */
  maxPollReplyBytes: 256 * 1024,
  /** Commands running at once on one node; more are refused as busy. */
  maxRunning: 8,
  /** Runs at once through one origin agent. */
  maxOriginRuns: 4,
  /** Nodes one run may target. */
  maxTargets: 1024,
  /** All arguments together. */
  maxArgvChars: 64 * 1024,
  /** How long a poll waits for output before answering with none. */
  pollWaitMs: 1000,
  /** SIGTERM first; SIGKILL this long after. */
  killGraceMs: 2000,
  /** After the main process exits, how long its pipes may stay open (a background child). */
  stdioGraceMs: 2000,
  /** A finished run's result is kept this long for the origin's last poll. */
  lingerMs: 60_000,
  /** Finished runs kept at most (oldest forgotten first). */
  maxFinished: 64,
  /** A running command nobody polled for this long is killed as abandoned. */
  abandonAfterMs: 30_000,
  /** The origin gives up on a node that has not answered for this long. */
  lostAfterMs: 15_000,
  startTimeoutMs: 5000,
} as const;

export type ExecLimits = { readonly [K in keyof typeof EXEC_LIMITS]: number };

// --- Node filter ------------------------------------------------------------------------------

/**
 * `--node-filter EXPR`: terms joined by commas, all of which must hold (AND). A term is
 * ATTRIBUTE OP VALUE with OP one of `=` (equal), `!=` (not equal), `~` (matches the regular
 * expression, unanchored, JavaScript syntax), `!~` (does not match). Attributes: `id`, `role`
 * (leader, voter, learner, none), `version`, and `tag.KEY` (a node without the tag matches only
 * `!=` and `!~`). `\,` is a literal comma inside a value. Examples: `id=node-a`,
 * `tag.zone=eu,role!=leader`, `id~^web-[0-9]+$`.
 */
export type FilterOp = '=' | '!=' | '~' | '!~';

export interface FilterTerm {
  readonly attribute: string;
  readonly op: FilterOp;
  readonly value: string;
  /** Compiled for ~ and !~. */
  readonly regex: RegExp | undefined;
}

/** What a filter looks at: a member as GET /v1/members shows it. */
export type FilterSubject = Pick<MemberView, 'id' | 'role' | 'version' | 'tags'>;

export const FILTER_ATTRIBUTES = ['id', 'role', 'version', 'tag.KEY'] as const;
const MAX_FILTER_TERMS = 32;

export function parseNodeFilter(expr: string): Result<FilterTerm[], string> {
  if (expr.trim() === '') return ok([]);
  const pieces = splitTerms(expr);
  if (pieces.length > MAX_FILTER_TERMS) return err(`the node filter has ${pieces.length} terms; at most ${MAX_FILTER_TERMS}`);
  const terms: FilterTerm[] = [];
  for (const piece of pieces) {
    const text = piece.trim();
    if (text === '') return err(`the node filter ${JSON.stringify(expr)} has an empty term (two commas, or one at an end)`);
    const at = text.search(/[=~]/);
    if (at <= 0) return err(`${JSON.stringify(text)} is not ATTRIBUTE=VALUE (or !=, ~ for a regular expression, !~); e.g. id=node-a or tag.zone=eu`);
    const negated = text[at - 1] === '!';
    const op = `${negated ? '!' : ''}${text[at]}` as FilterOp;
    const attribute = text.slice(0, negated ? at - 1 : at).trim();
    const value = text.slice(at + 1).trim();
    if (!(attribute === 'id' || attribute === 'role' || attribute === 'version' || (attribute.startsWith('tag.') && attribute.length > 4))) {
      const hint =
        attribute === 'tag' || attribute === 'tag.'
          ? ': name the tag, e.g. tag.zone=eu'
          : attribute.startsWith('tags.')
            ? `; did you mean tag.${attribute.slice(5)}?`
            : /^[A-Za-z0-9][A-Za-z0-9._/-]*$/.test(attribute)
              ? ` (for a tag, write tag.${attribute})`
              : '';
      return err(`unknown attribute ${JSON.stringify(attribute)} in the node filter; use ${FILTER_ATTRIBUTES.join(', ')}${hint}`);
    }
    let regex: RegExp | undefined;
    if (op === '~' || op === '!~') {
      try {
        regex = new RegExp(value);
      } catch (e) {
        return err(`${JSON.stringify(value)} in ${JSON.stringify(text)} is not a regular expression: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    terms.push({ attribute, op, value, regex });
  }
  return ok(terms);
}

/** Splits on commas not preceded by a backslash; `\,` becomes `,`, other escapes stay (regexes). */
function splitTerms(expr: string): string[] {
  const out: string[] = [];
  let current = '';
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i]!;
    if (c === '\\' && expr[i + 1] === ',') {
      current += ',';
      i++;
    } else if (c === ',') {
      out.push(current);
      current = '';
    } else {
      current += c;
    }
  }
  out.push(current);
  return out;
}

export function matchesNodeFilter(terms: readonly FilterTerm[], m: FilterSubject): boolean {
  return terms.every((t) => {
    const actual = attributeOf(m, t.attribute);
    switch (t.op) {
      case '=':
        return actual === t.value;
      case '!=':
        return actual !== t.value;
      case '~':
        return actual !== undefined && t.regex!.test(actual);
      case '!~':
        return actual === undefined || !t.regex!.test(actual);
    }
  });
}

function attributeOf(m: FilterSubject, attribute: string): string | undefined {
  if (attribute.startsWith('tag.')) {
    const key = attribute.slice(4);
    // Own keys only: tag.constructor must not find Object's.
    return Object.hasOwn(m.tags, key) ? m.tags[key] : undefined;
  }
  return attribute === 'id' ? m.id : attribute === 'role' ? m.role : m.version;
}

// --- Output buffer ----------------------------------------------------------------------------

export interface OutputChunk {
  readonly stream: ExecStream;
  readonly data: Uint8Array;
}

/**
 * A command's stdout and stderr interleaved as produced, addressed by a cursor (bytes accepted
 * so far). Keeps at most capBytes over the whole run: past that, bytes are counted as
 * truncated. A read at cursor C frees everything before C: the reader has it.
 */
export class OutputBuffer {
  readonly capBytes: number;
  #chunks: { stream: ExecStream; data: Uint8Array; offset: number }[] = [];
  #start = 0;
  #end = 0;
  #truncatedBytes = 0;

  constructor(capBytes: number) {
    if (!(Number.isSafeInteger(capBytes) && capBytes >= 0)) throw new Error('assertion failed: capBytes must be a non-negative integer');
    this.capBytes = capBytes;
  }

  /** Bytes accepted so far (the cursor after the last one). */
  get end(): number {
    return this.#end;
  }

  get truncatedBytes(): number {
    return this.#truncatedBytes;
  }

  /** Bytes held (accepted and not yet read past). */
  get bufferedBytes(): number {
    return this.#end - this.#start;
  }

  append(stream: ExecStream, data: Uint8Array): void {
    const room = this.capBytes - this.#end;
    const kept = Math.min(room, data.byteLength);
    this.#truncatedBytes += data.byteLength - kept;
    if (kept === 0) return;
    // A copy: the caller's buffer may be pooled (child process pipes reuse theirs).
    const last = this.#chunks.at(-1);
    const piece = data.slice(0, kept);
    if (last !== undefined && last.stream === stream && last.data.byteLength + kept <= 64 * 1024) {
      // Small writes to one stream coalesce: fewer, larger chunks on the wire.
      const merged = new Uint8Array(last.data.byteLength + kept);
      merged.set(last.data);
      merged.set(piece, last.data.byteLength);
      last.data = merged;
    } else {
      this.#chunks.push({ stream, data: piece, offset: this.#end });
    }
    this.#end += kept;
  }

  /** Output from `cursor` on, at most maxBytes of it, and the cursor after it; frees what lies before `cursor`. */
  read(cursor: number, maxBytes: number): { chunks: OutputChunk[]; cursor: number } {
    const from = Math.min(Math.max(cursor, this.#start), this.#end);
    this.#release(from);
    const chunks: OutputChunk[] = [];
    let at = from;
    for (const c of this.#chunks) {
      const budget = maxBytes - (at - from);
      if (budget <= 0) break;
      const skip = at - c.offset;
      const data = c.data.subarray(skip, skip + budget);
      if (data.byteLength === 0) continue;
      chunks.push({ stream: c.stream, data });
      at += data.byteLength;
    }
    return { chunks, cursor: at };
  }

  #release(cursor: number): void {
    while (this.#chunks.length > 0) {
      const first = this.#chunks[0]!;
      const firstEnd = first.offset + first.data.byteLength;
      if (firstEnd <= cursor) {
        this.#chunks.shift();
        continue;
      }
      if (first.offset < cursor) {
        first.data = first.data.slice(cursor - first.offset);
        first.offset = cursor;
      }
      break;
    }
    this.#start = Math.max(this.#start, cursor);
  }
}

// --- Wire messages (node to node) ---------------------------------------------------------------

const Id = Type.String({ minLength: 1, maxLength: MAX_ID_CHARS });
const Cursor = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
const DoneWire = Type.Object(
  {
    exitCode: Type.Union([Type.Integer(), Type.Null()]),
    signal: Type.Union([Type.String({ maxLength: 32 }), Type.Null()]),
    error: Type.Optional(Type.String({ maxLength: 1024 })),
    timedOut: Type.Boolean(),
    cancelled: Type.Boolean(),
    truncatedBytes: Cursor,
  },
  { additionalProperties: false },
);

export const ExecMessages = {
  'exec.start': Type.Object(
    {
      argv: Type.Array(Type.String({ maxLength: MAX_EXEC_ARG_CHARS }), { minItems: 1, maxItems: MAX_EXEC_ARGS }),
      timeoutMs: Type.Integer({ minimum: 1, maximum: MAX_EXEC_TIMEOUT_MS }),
    },
    { additionalProperties: false },
  ),
  'exec.start-reply': Type.Union([
    Type.Object({ ok: Type.Literal(true), id: Id }, { additionalProperties: false }),
    Type.Object(
      { ok: Type.Literal(false), reason: Type.Union([Type.Literal('disabled'), Type.Literal('busy'), Type.Literal('invalid')]), message: Type.String({ maxLength: 1024 }) },
      { additionalProperties: false },
    ),
  ]),
  'exec.poll': Type.Object(
    {
      id: Id,
      cursor: Cursor,
      waitMs: Type.Integer({ minimum: 0, maximum: 10_000 }),
      /** At most this much output in the reply (0: only "still here", while the origin's reader is slow). */
      maxBytes: Type.Optional(Type.Integer({ minimum: 0, maximum: EXEC_LIMITS.maxPollReplyBytes })),
    },
    { additionalProperties: false },
  ),
  'exec.poll-reply': Type.Union([
    Type.Object(
      {
        ok: Type.Literal(true),
        cursor: Cursor,
        chunks: Type.Array(
          Type.Object({ stream: Type.Union([Type.Literal('stdout'), Type.Literal('stderr')]), data: Type.Uint8Array({ maxByteLength: EXEC_LIMITS.maxPollReplyBytes }) }, { additionalProperties: false }),
          { maxItems: 4096 },
        ),
        done: Type.Optional(DoneWire),
      },
      { additionalProperties: false },
    ),
    Type.Object({ ok: Type.Literal(false), message: Type.String({ maxLength: 1024 }) }, { additionalProperties: false }),
  ]),
  'exec.cancel': Type.Object({ id: Id }, { additionalProperties: false }),
  'exec.cancel-reply': Type.Object({ found: Type.Boolean() }, { additionalProperties: false }),
} as const;

type ExecMessage = MessageOf<typeof ExecMessages>;
type Body<T extends ExecMessage['type']> = Extract<ExecMessage, { type: T }>['body'];
type DoneBody = NonNullable<Extract<Body<'exec.poll-reply'>, { ok: true }>['done']>;

export function createExecCodec(): MessageCodec<typeof ExecMessages> {
  return new MessageCodec(ExecMessages, { maxMessageBytes: 2 * EXEC_LIMITS.maxPollReplyBytes });
}

// --- The service --------------------------------------------------------------------------------

export interface ExecServiceInit {
  readonly nodeId: string;
  readonly dataDir: string;
  /** exec.enabled in the agent config: whether this node runs commands for others. */
  readonly enabled: boolean;
  /** secure, insecure or dev: exec without mutual TLS is worth a warning. */
  readonly securityMode: string;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The agent's environment: PATH, HOME and LANG are passed on, nothing else. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Members as gossip knows them (GET /v1/members). */
  readonly members: () => readonly MemberView[];
  /** Records a run in the cluster's event log (best effort). */
  readonly audit: (message: string) => void;
  readonly limits?: Partial<ExecLimits>;
}

/** One command running (or recently finished) on this node for an origin. */
interface LocalExec {
  readonly id: string;
  /** The certificate identity of the node that started it; undefined without TLS. */
  readonly owner: string | undefined;
  readonly argv: readonly string[];
  readonly dir: string;
  readonly buffer: OutputBuffer;
  readonly waiters: Set<() => void>;
  readonly timers: Timer[];
  child: ChildProcess | undefined;
  done: DoneBody | undefined;
  exit: { code: number | null; signal: string | null } | undefined;
  lastPolledMs: number;
  timedOut: boolean;
  cancelled: boolean;
  abandoned: boolean;
}

type TargetOutcome = 'no-answer' | 'refused' | 'succeeded' | 'completed' | 'failed';

export class ExecService {
  readonly #init: ExecServiceInit;
  readonly #limits: ExecLimits;
  readonly #codec = createExecCodec();
  readonly #log: Logger;
  readonly #execs = new Map<string, LocalExec>();
  /** Leftovers of an earlier run of the agent are removed before the first command runs. */
  readonly #ready: Promise<void>;
  #rpc: RpcTransport | undefined;
  #running = 0;
  #originRuns = 0;
  #closed = false;

  constructor(init: ExecServiceInit) {
    this.#init = init;
    this.#limits = { ...EXEC_LIMITS, ...init.limits };
    this.#log = init.logger.child({ component: 'exec' });
    this.#ready = rm(this.#execRoot(), { recursive: true, force: true }).catch((e: unknown) => {
      this.#log.warn({ err: e instanceof Error ? e.message : String(e) }, 'could not clear old exec directories');
    });
    if (init.enabled) {
      if (init.securityMode === 'secure') this.#log.info('exec is enabled: members of the cluster may run commands here (sappers exec, with the management token)');
      else this.#log.warn({ mode: init.securityMode }, 'exec is enabled WITHOUT mutual TLS: anyone who can reach the RPC port can run commands as this agent\'s user');
    }
  }

  /** Registers the RPC handlers on a (new) transport: consensus restarts bring a new one. */
  attach(rpc: RpcTransport): void {
    this.#rpc = rpc;
    rpc.handle(EXEC_START_METHOD, (body, ctx) => this.#handle(body, ctx));
    rpc.handle(EXEC_POLL_METHOD, (body, ctx) => this.#handle(body, ctx));
    rpc.handle(EXEC_CANCEL_METHOD, (body, ctx) => this.#handle(body, ctx));
  }

  /** Stops everything: commands here are killed (SIGKILL to their groups), runs through here end. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const e of this.#execs.values()) {
      if (e.done === undefined) {
        e.cancelled = true;
        killGroup(e.child, 'SIGKILL');
      }
      for (const t of e.timers) t.cancel();
      for (const w of e.waiters) w();
    }
    await this.#ready;
    await rm(this.#execRoot(), { recursive: true, force: true }).catch(() => undefined);
  }

  // --- Origin: fan out to the targets ----------------------------------------------------------

  prepare(request: ExecRequest): ExecRun {
    if (this.#closed) throw new ApiError('unavailable', 'the agent is stopping');
    const argv = request.argv;
    if (argv[0] === undefined || argv[0] === '') throw new ApiError('bad-request', 'the command is empty: give a program and its arguments after --');
    const argvChars = argv.reduce((n, a) => n + a.length, 0);
    if (argvChars > this.#limits.maxArgvChars) throw new ApiError('bad-request', `the command has ${argvChars} characters; at most ${this.#limits.maxArgvChars}`);
    const filterText = request.nodeFilter ?? '';
    const filter = parseNodeFilter(filterText);
    if (!filter.ok) throw new ApiError('bad-request', filter.error);
    const alive = this.#init.members().filter((m) => m.status === 'alive');
    const targets = alive.filter((m) => matchesNodeFilter(filter.value, m)).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    if (targets.length === 0) {
      const known = alive.map((m) => m.id).sort();
      throw new ApiError(
        'bad-request',
        filterText.trim() === ''
          ? 'no alive members are known yet'
          : `no alive member matches the node filter ${JSON.stringify(filterText)} (alive: ${known.slice(0, 20).join(', ')}${known.length > 20 ? ', ...' : ''})`,
      );
    }
    if (targets.length > this.#limits.maxTargets) throw new ApiError('bad-request', `${targets.length} nodes match; one run may target at most ${this.#limits.maxTargets}: narrow it with --node-filter`);
    if (this.#originRuns >= this.#limits.maxOriginRuns) throw new ApiError('unavailable', `${this.#originRuns} exec runs are already going through this agent (the limit); retry when one ends`);
    const timeoutMs = request.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
    return {
      targets: targets.map((t) => t.id),
      run: (sink, signal) => this.#run(argv, filterText, timeoutMs, targets, sink, signal),
    };
  }

  async #run(argv: readonly string[], filter: string, timeoutMs: number, targets: readonly MemberView[], sink: ExecSink, signal: AbortSignal): Promise<ExecSummary> {
    // Counted synchronously, before the first await: prepare() checked the limit just before.
    this.#originRuns++;
    try {
      sink.write({ kind: 'targets', nodes: targets.map((t) => t.id), timeoutMs });
      const shown = JSON.stringify(argv);
      const what = `${shown.length > 512 ? `${shown.slice(0, 509)}...` : shown} on ${targets.length} node(s)${filter.trim() === '' ? '' : ` matching ${JSON.stringify(filter)}`}`;
      this.#log.info({ argv, filter, targets: targets.map((t) => t.id), timeoutMs }, 'sappers exec: running a command on the cluster');
      this.#init.audit(`ran ${what}`);
      const outcomes = await Promise.all(targets.map(async (t) => ({ node: t.id, outcome: await this.#runOn(t, argv, timeoutMs, sink, signal) })));
      const of = (kind: TargetOutcome): string[] => outcomes.filter((o) => o.outcome === kind).map((o) => o.node);
      const succeeded = of('succeeded');
      const completed = succeeded.length + of('completed').length;
      const noAnswer = of('no-answer');
      return {
        targets: targets.length,
        acknowledged: targets.length - noAnswer.length,
        completed,
        succeeded: succeeded.length,
        refused: of('refused'),
        failed: outcomes.filter((o) => o.outcome === 'completed' || o.outcome === 'failed').map((o) => o.node),
        noAnswer,
      };
    } finally {
      this.#originRuns--;
    }
  }

  /** One target, from start to its result; every way it can end is written to the sink as a done line. */
  async #runOn(target: MemberView, argv: readonly string[], timeoutMs: number, sink: ExecSink, signal: AbortSignal): Promise<TargetOutcome> {
    const node = target.id;
    const finish = (done: ExecDone, outcome: TargetOutcome): TargetOutcome => {
      sink.write({ kind: 'done', node, done });
      return outcome;
    };
    if (signal.aborted) return finish({ exitCode: null, signal: null, error: 'cancelled before it started' }, 'no-answer');
    let started: Body<'exec.start-reply'>;
    try {
      started = await this.#call(target, { type: 'exec.start', body: { argv: [...argv], timeoutMs } }, 'exec.start-reply', this.#limits.startTimeoutMs);
    } catch (e) {
      if (e instanceof TransportError && e.code === 'no-handler') return finish({ exitCode: null, signal: null, error: 'its agent does not support exec (an older version)' }, 'no-answer');
      return finish({ exitCode: null, signal: null, error: `did not answer: ${describe(e)}` }, 'no-answer');
    }
    if (!started.ok) return finish({ exitCode: null, signal: null, refused: true, error: started.message }, 'refused');
    const id = started.id;
    sink.write({ kind: 'ack', node });

    let cancelSent: Promise<void> | undefined;
    const cancel = (): Promise<void> => (cancelSent ??= this.#cancelOn(target, id));
    const onAbort = (): void => void cancel();
    signal.addEventListener('abort', onAbort, { once: true });
    const decoders: Record<ExecStream, TextDecoder> = { stdout: new TextDecoder(), stderr: new TextDecoder() };
    const { clock } = this.#init;
    // The node kills the command at the timeout; this is for a node that never says so.
    const giveUpAtMs = clock.nowMs() + timeoutMs + this.#limits.killGraceMs + this.#limits.lostAfterMs;
    let lastAnswerMs = clock.nowMs();
    let cursor = 0;
    try {
      for (;;) {
        if (signal.aborted) {
          await cancel();
          return finish({ exitCode: null, signal: null, cancelled: true, error: 'cancelled: the node was told to kill it' }, 'failed');
        }
        // A reader that does not keep up (a slow terminal) slows the polling, not our memory.
        await this.#waitForRoom(target, id, cursor, sink, signal);
        if (clock.nowMs() > giveUpAtMs) {
          await cancel();
          return finish({ exitCode: null, signal: null, error: 'no result within the timeout; the node was told to kill it' }, 'failed');
        }
        let reply: Body<'exec.poll-reply'>;
        try {
          reply = await this.#call(target, { type: 'exec.poll', body: { id, cursor, waitMs: this.#limits.pollWaitMs } }, 'exec.poll-reply', this.#limits.pollWaitMs + this.#limits.startTimeoutMs);
          lastAnswerMs = clock.nowMs();
        } catch (e) {
          if (clock.nowMs() - lastAnswerMs > this.#limits.lostAfterMs) {
            return finish({ exitCode: null, signal: null, error: `stopped answering (${describe(e)}); the command may still be running there until its timeout` }, 'failed');
          }
          await sleep(clock, 250);
          continue;
        }
        if (!reply.ok) return finish({ exitCode: null, signal: null, error: `lost track of the command: ${reply.message}` }, 'failed');
        for (const c of reply.chunks) {
          const data = decoders[c.stream].decode(c.data, { stream: true });
          if (data !== '') sink.write({ kind: 'output', node, stream: c.stream, data });
        }
        cursor = reply.cursor;
        if (reply.done !== undefined) {
          for (const stream of ['stdout', 'stderr'] as const) {
            const rest = decoders[stream].decode();
            if (rest !== '') sink.write({ kind: 'output', node, stream, data: rest });
          }
          const d = reply.done;
          const done: ExecDone = {
            exitCode: d.exitCode,
            signal: d.signal,
            ...(d.error === undefined ? {} : { error: d.error }),
            ...(d.timedOut ? { timedOut: true as const } : {}),
            ...(d.cancelled ? { cancelled: true as const } : {}),
            ...(d.truncatedBytes > 0 ? { truncatedBytes: d.truncatedBytes } : {}),
          };
          const clean = d.error === undefined && !d.timedOut && !d.cancelled;
          return finish(done, clean && d.exitCode === 0 ? 'succeeded' : clean ? 'completed' : 'failed');
        }
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Waits until the sink has room. Meanwhile the target hears from us now and then (an empty
   * poll), so a paused terminal is not mistaken for an origin that went away.
   */
  async #waitForRoom(target: MemberView, id: string, cursor: number, sink: ExecSink, signal: AbortSignal): Promise<void> {
    let roomy = false;
    const room = sink.waitForRoom().then(() => {
      roomy = true;
    });
    while (!roomy && !signal.aborted) {
      await Promise.race([room, sleep(this.#init.clock, this.#limits.abandonAfterMs / 3)]);
      if (roomy || signal.aborted) break;
      await this.#call(target, { type: 'exec.poll', body: { id, cursor, waitMs: 0, maxBytes: 0 } }, 'exec.poll-reply', this.#limits.startTimeoutMs).catch(() => undefined);
    }
  }

  /** Tells a target to kill its command; a few tries, since the point is that it stops. */
  async #cancelOn(target: MemberView, id: string): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await this.#call(target, { type: 'exec.cancel', body: { id } }, 'exec.cancel-reply', 2000);
        return;
      } catch {
        await sleep(this.#init.clock, 250);
      }
    }
    this.#log.warn({ node: target.id, id }, 'could not tell the node to cancel its command; it stops at its timeout, or when it notices nobody polls');
  }

  /** One request to a target: this node's own handler directly, others over RPC. */
  async #call<R extends ExecMessage['type']>(target: MemberView, message: ExecMessage, replyType: R, timeoutMs: number): Promise<Body<R>> {
    const encoded = this.#codec.encode(message);
    if (!encoded.ok) throw new Error(`cannot encode ${message.type}: ${encoded.error.code}`);
    let bytes: Uint8Array;
    if (target.id === this.#init.nodeId) {
      bytes = await this.#handle(encoded.value, { from: 'local', method: message.type, peerIdentity: this.#init.nodeId });
    } else {
      const rpc = this.#rpc;
      if (rpc === undefined) throw new TransportError('closed', 'RPC is not running here right now');
      if (target.rpcAddr === '') throw new TransportError('unreachable', 'gossip knows no RPC address for it yet');
      bytes = await rpc.request(target.rpcAddr, message.type, encoded.value, { timeoutMs });
    }
    const decoded = this.#codec.decode(bytes);
    if (!decoded.ok) throw new TransportError('protocol', describeDecodeError(decoded.error));
    if (decoded.value.type !== replyType) throw new TransportError('protocol', `answered ${decoded.value.type} instead of ${replyType}`);
    return decoded.value.body as Body<R>;
  }

  // --- Target: run commands for origins ----------------------------------------------------------

  async #handle(body: Uint8Array, ctx: RequestContext): Promise<Uint8Array> {
    const decoded = this.#codec.decode(body);
    if (!decoded.ok) throw new Error(`malformed ${ctx.method} request: ${describeDecodeError(decoded.error)}`);
    const m = decoded.value;
    let reply: ExecMessage;
    switch (m.type) {
      case 'exec.start':
        reply = { type: 'exec.start-reply', body: await this.#start(m.body, ctx.peerIdentity) };
        break;
      case 'exec.poll':
        reply = { type: 'exec.poll-reply', body: await this.#poll(m.body, ctx.peerIdentity) };
        break;
      case 'exec.cancel':
        reply = { type: 'exec.cancel-reply', body: this.#cancel(m.body.id, ctx.peerIdentity) };
        break;
      default:
        throw new Error(`${m.type} is a reply, not a request`);
    }
    const encoded = this.#codec.encode(reply);
    if (!encoded.ok) throw new Error(`cannot encode ${reply.type}: ${encoded.error.code}`);
    return encoded.value;
  }

  async #start(body: Body<'exec.start'>, owner: string | undefined): Promise<Body<'exec.start-reply'>> {
    if (!this.#init.enabled) return { ok: false, reason: 'disabled', message: 'exec is disabled on this node (set exec.enabled: true in its agent config, or start it with --exec-enabled)' };
    if (this.#closed) return { ok: false, reason: 'busy', message: 'the agent is stopping' };
    const program = body.argv[0]!;
    const argvChars = body.argv.reduce((n, a) => n + a.length, 0);
    if (program === '' || argvChars > this.#limits.maxArgvChars || body.argv.some((a) => a.includes('\0'))) {
      return { ok: false, reason: 'invalid', message: 'the command is empty, too long, or holds a NUL character' };
    }
    if (this.#running >= this.#limits.maxRunning) return { ok: false, reason: 'busy', message: `${this.#running} commands are already running here (the limit); retry when one ends` };
    this.#running++;
    const id = randomUUID();
    const dir = join(this.#execRoot(), id);
    const e: LocalExec = {
      id,
      owner,
      argv: body.argv,
      dir,
      buffer: new OutputBuffer(this.#limits.outputCapBytes),
      waiters: new Set(),
      timers: [],
      child: undefined,
      done: undefined,
      exit: undefined,
      lastPolledMs: this.#init.clock.nowMs(),
      timedOut: false,
      cancelled: false,
      abandoned: false,
    };
    this.#execs.set(id, e);
    try {
      await this.#ready;
      await mkdir(dir, { recursive: true, mode: 0o700 });
    } catch (x) {
      this.#finish(e, { code: null, signal: null }, `cannot make its working directory ${dir}: ${describe(x)}`);
      return { ok: true, id };
    }
    if (this.#closed) {
      this.#finish(e, { code: null, signal: null }, 'the agent is stopping');
      return { ok: true, id };
    }
    this.#log.info({ id, origin: owner, argv: body.argv, timeoutMs: body.timeoutMs }, 'running a command for sappers exec');
    this.#spawn(e, body.timeoutMs);
    return { ok: true, id };
  }

  #spawn(e: LocalExec, timeoutMs: number): void {
    const { env } = this.#init;
    const childEnv: Record<string, string> = {
      PATH: env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin',
      HOME: env['HOME'] ?? e.dir,
      LANG: env['LANG'] ?? 'C.UTF-8',
      SAPPERS_NODE_ID: this.#init.nodeId,
      SAPPERS_EXEC_ID: e.id,
    };
    let child: ChildProcess;
    try {
      // detached: its own process group, so a timeout or cancel reaches what it started too.
      child = spawn(e.argv[0]!, e.argv.slice(1), { cwd: e.dir, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    } catch (x) {
      this.#finish(e, { code: null, signal: null }, `cannot run ${JSON.stringify(e.argv[0])}: ${describe(x)}`);
      return;
    }
    e.child = child;
    const wake = (): void => {
      for (const w of e.waiters) w();
      e.waiters.clear();
    };
    child.stdout!.on('data', (d: Buffer) => {
      e.buffer.append('stdout', d);
      wake();
    });
    child.stderr!.on('data', (d: Buffer) => {
      e.buffer.append('stderr', d);
      wake();
    });
    child.on('error', (x: NodeJS.ErrnoException) => {
      // Only a failure to start ends the run here; a failed kill of a gone process is no news.
      if (child.pid === undefined) {
        const why = x.code === 'ENOENT' ? 'no such program (give a path, or a name on the node\'s PATH)' : x.code === 'EACCES' ? 'permission denied' : x.message;
        this.#finish(e, { code: null, signal: null }, `cannot run ${JSON.stringify(e.argv[0])}: ${why}`);
      }
    });
    child.on('exit', (code, sig) => {
      e.exit = { code, signal: sig };
      // Something it started in the background may hold the pipes open: not for long.
      e.timers.push(
        this.#init.clock.setTimer(this.#limits.stdioGraceMs, () => {
          if (e.done !== undefined) return;
          killGroup(child, 'SIGKILL');
          child.stdout?.destroy();
          child.stderr?.destroy();
        }),
      );
    });
    child.on('close', (code, sig) => this.#finish(e, e.exit ?? { code, signal: sig }));
    e.timers.push(
      this.#init.clock.setTimer(timeoutMs, () => {
        if (e.done !== undefined || e.cancelled) return;
        e.timedOut = true;
        this.#log.warn({ id: e.id, timeoutMs }, 'sappers exec: the command ran past its timeout; killing its process group');
        this.#kill(e);
      }),
    );
    this.#watchAbandon(e);
  }

  /** SIGTERM to the group, SIGKILL after the grace period if anything is left. */
  #kill(e: LocalExec): void {
    if (e.child === undefined || e.done !== undefined) return;
    const child = e.child;
    killGroup(child, 'SIGTERM');
    e.timers.push(this.#init.clock.setTimer(this.#limits.killGraceMs, () => killGroup(child, 'SIGKILL')));
  }

  /** A command nobody asks about any more (its origin died or was cut off) is killed. */
  #watchAbandon(e: LocalExec): void {
    const { clock } = this.#init;
    const check = (): void => {
      if (e.done !== undefined) return;
      const idleMs = clock.nowMs() - e.lastPolledMs;
      if (idleMs >= this.#limits.abandonAfterMs) {
        e.abandoned = true;
        e.cancelled = true;
        this.#log.warn({ id: e.id, origin: e.owner, idleMs: Math.round(idleMs) }, 'sappers exec: nobody has asked for the command\'s output for a while (the origin is gone); killing it');
        this.#kill(e);
        return;
      }
      e.timers.push(clock.setTimer(this.#limits.abandonAfterMs - idleMs, check));
    };
    e.timers.push(clock.setTimer(this.#limits.abandonAfterMs, check));
  }

  #finish(e: LocalExec, exit: { code: number | null; signal: string | null }, error?: string): void {
    if (e.done !== undefined) return;
    const why =
      error ??
      (e.timedOut ? 'timed out: its process group was killed' : e.abandoned ? 'abandoned: nobody polled for its output, so it was killed' : e.cancelled ? 'cancelled: its process group was killed' : undefined);
    e.done = {
      exitCode: exit.code,
      signal: exit.signal,
      ...(why === undefined ? {} : { error: why }),
      timedOut: e.timedOut,
      cancelled: e.cancelled,
      truncatedBytes: e.buffer.truncatedBytes,
    };
    for (const t of e.timers) t.cancel();
    e.timers.length = 0;
    this.#running--;
    this.#log.info({ id: e.id, exitCode: exit.code, signal: exit.signal, error: why, outputBytes: e.buffer.end, truncatedBytes: e.buffer.truncatedBytes }, 'sappers exec: command finished');
    for (const w of e.waiters) w();
    e.waiters.clear();
    void rm(e.dir, { recursive: true, force: true }).catch((x: unknown) => this.#log.warn({ dir: e.dir, err: describe(x) }, 'could not remove an exec working directory'));
    // Kept a while for the origin's last poll, then forgotten; never more than maxFinished.
    e.timers.push(this.#init.clock.setTimer(this.#limits.lingerMs, () => this.#execs.delete(e.id)));
    const finished = [...this.#execs.values()].filter((x) => x.done !== undefined);
    for (const old of finished.slice(0, Math.max(0, finished.length - this.#limits.maxFinished))) {
      for (const t of old.timers) t.cancel();
      this.#execs.delete(old.id);
    }
  }

  async #poll(body: Body<'exec.poll'>, owner: string | undefined): Promise<Body<'exec.poll-reply'>> {
    const e = this.#own(body.id, owner);
    if (e === undefined) return { ok: false, message: `no command ${body.id} here (it finished over ${Math.round(this.#limits.lingerMs / 1000)} s ago, or this agent restarted)` };
    e.lastPolledMs = this.#init.clock.nowMs();
    if (e.done === undefined && e.buffer.end <= body.cursor && body.waitMs > 0 && !this.#closed) {
      await new Promise<void>((resolve) => {
        const wakeUp = (): void => {
          timer.cancel();
          e.waiters.delete(wakeUp);
          resolve();
        };
        const timer = this.#init.clock.setTimer(Math.min(body.waitMs, this.#limits.pollWaitMs), wakeUp);
        e.waiters.add(wakeUp);
      });
      e.lastPolledMs = this.#init.clock.nowMs();
    }
    const read = e.buffer.read(body.cursor, Math.min(body.maxBytes ?? Infinity, this.#limits.maxPollReplyBytes));
    const done = e.done !== undefined && read.cursor >= e.buffer.end ? e.done : undefined;
    return { ok: true, cursor: read.cursor, chunks: read.chunks, ...(done === undefined ? {} : { done }) };
  }

  #cancel(id: string, owner: string | undefined): Body<'exec.cancel-reply'> {
    const e = this.#own(id, owner);
    if (e === undefined) return { found: false };
    if (e.done === undefined && !e.cancelled) {
      e.cancelled = true;
      this.#log.info({ id, origin: owner }, 'sappers exec: cancelled by its origin; killing its process group');
      this.#kill(e);
    }
    return { found: true };
  }

  /** The exec, if the asking node is the one that started it (any node, without TLS). */
  #own(id: string, owner: string | undefined): LocalExec | undefined {
    const e = this.#execs.get(id);
    if (e === undefined) return undefined;
    return e.owner === undefined || e.owner === owner ? e : undefined;
  }

  #execRoot(): string {
    return join(this.#init.dataDir, 'exec');
  }
}

function killGroup(child: ChildProcess | undefined, signal: NodeJS.Signals): void {
  const pid = child?.pid;
  if (pid === undefined) return;
  try {
    // A negative pid signals the whole process group (the child leads its own: detached).
    process.kill(-pid, signal);
  } catch {
    // Already gone (ESRCH): nothing left to kill.
  }
}

function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimer(ms, resolve));
}

function describe(e: unknown): string {
  if (e instanceof TransportError) return `${e.code}: ${e.message}`;
  return e instanceof Error ? e.message : String(e);
}
