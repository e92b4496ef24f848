// Remote exec over HTTP (issue 6 item 7; `sappers exec`, after Consul's `consul exec`):
//   POST /v1/exec  {argv, nodeFilter?, timeoutMs?}  -> 200, a stream of NDJSON lines (ExecLine):
//       {kind: 'targets', nodes, timeoutMs}                 first, once
//       {kind: 'ack', node}                                  the command started there
//       {kind: 'output', node, stream, data}                 output as it arrives (UTF-8 text)
//       {kind: 'done', node, done: {exitCode, signal, ...}}  one per targeted node
//       {kind: 'summary', summary}                           last; or {kind: 'error', error}
// A bad filter, no matching node or too many runs at once are refused before the stream starts
// (the usual {error} body and status). Closing the connection cancels the run: every node is
// told to kill the command's process group. The agent does the work (ExecApi,
// src/agent/exec.ts); this file validates and streams.

import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { ApiError } from './errors.ts';

/** Arguments of one command: enough for any shell one-liner, bounded for the wire and the logs. */
export const MAX_EXEC_ARGS = 256;
export const MAX_EXEC_ARG_CHARS = 16 * 1024;
/** Longest command run: an hour (a longer task is a batch job, not an exec). */
export const MAX_EXEC_TIMEOUT_MS = 3_600_000;
export const DEFAULT_EXEC_TIMEOUT_MS = 60_000;
export const MAX_NODE_FILTER_CHARS = 1024;
/** Unsent stream bytes above which the agent stops asking the nodes for more output. */
const MAX_BACKLOG_BYTES = 1024 * 1024;

export const ExecRequestSchema = Type.Object(
  {
    /** The program and its arguments, run without a shell (use ["sh", "-c", "..."] for one). */
    argv: Type.Array(Type.String({ maxLength: MAX_EXEC_ARG_CHARS }), { minItems: 1, maxItems: MAX_EXEC_ARGS }),
    /** Which alive members run it (syntax: src/agent/exec.ts parseNodeFilter); absent: all. */
    nodeFilter: Type.Optional(Type.String({ maxLength: MAX_NODE_FILTER_CHARS })),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_EXEC_TIMEOUT_MS })),
  },
  { additionalProperties: false },
);
export type ExecRequest = Static<typeof ExecRequestSchema>;

/** How the command ended on one node. Optional fields appear only when they apply. */
export interface ExecDone {
  /** The exit code, or null when it did not exit by itself (a signal, or it never ran). */
  readonly exitCode: number | null;
  /** The signal that ended it (e.g. "SIGTERM"), or null. */
  readonly signal: string | null;
  /** Why it did not run or finish normally: refused, timed out, cancelled, lost. */
  readonly error?: string;
  /** The node answered but would not run it (exec disabled there, busy, invalid). */
  readonly refused?: true;
  /** It ran past the timeout and its process group was killed. */
  readonly timedOut?: true;
  /** The run was cancelled (Ctrl-C, or the origin stopped asking) and its process group killed. */
  readonly cancelled?: true;
  /** Output bytes dropped past the per-node cap. */
  readonly truncatedBytes?: number;
}

export interface ExecSummary {
  /** Alive members that matched the filter. */
  readonly targets: number;
  /** Nodes that answered the start request, including those that refused. */
  readonly acknowledged: number;
  /** Nodes where the command ran and exited by itself (any exit code). */
  readonly completed: number;
  /** Nodes where it exited with code 0. */
  readonly succeeded: number;
  readonly refused: readonly string[];
  /** Acknowledged, not refused, and not a clean exit 0 (a non-zero code, killed, lost). */
  readonly failed: readonly string[];
  readonly noAnswer: readonly string[];
}

export type ExecStream = 'stdout' | 'stderr';

export type ExecLine =
  | { readonly kind: 'targets'; readonly nodes: readonly string[]; readonly timeoutMs: number }
  | { readonly kind: 'ack'; readonly node: string }
  | { readonly kind: 'output'; readonly node: string; readonly stream: ExecStream; readonly data: string }
  | { readonly kind: 'done'; readonly node: string; readonly done: ExecDone }
  | { readonly kind: 'summary'; readonly summary: ExecSummary }
  | { readonly kind: 'error'; readonly error: { readonly code: string; readonly message: string } };

/** Where a run writes its lines; waitForRoom resolves once the reader has caught up enough. */
export interface ExecSink {
  write(line: ExecLine): void;
  waitForRoom(): Promise<void>;
}

/** A run whose targets are chosen; run() streams it to the sink until done or aborted. */
export interface ExecRun {
  readonly targets: readonly string[];
  run(sink: ExecSink, signal: AbortSignal): Promise<ExecSummary>;
}

export interface ExecApi {
  /** Validates the request and picks the targets (throws an ApiError: bad filter, none, busy). */
  execPrepare(request: ExecRequest): ExecRun;
}

export function registerExecRoutes(app: FastifyInstance, api: ExecApi, errors: Record<string, unknown>): void {
  app.post('/v1/exec', { schema: { body: ExecRequestSchema, response: { ...errors } } }, async (request, reply) => {
    const run = api.execPrepare(request.body as ExecRequest);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'application/x-ndjson; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' });
    const controller = new AbortController();
    // The response closing before we end it means the client went away (Ctrl-C): cancel.
    res.on('close', () => {
      if (!res.writableEnded) controller.abort();
    });
    const sink: ExecSink = {
      write(line) {
        if (!res.destroyed && !res.writableEnded) res.write(`${JSON.stringify(line)}\n`);
      },
      waitForRoom() {
        if (res.writableLength <= MAX_BACKLOG_BYTES || res.destroyed) return Promise.resolve();
        return new Promise<void>((resolve) => {
          const done = (): void => {
            res.off('drain', done);
            res.off('close', done);
            resolve();
          };
          res.on('drain', done);
          res.on('close', done);
        });
      },
    };
    try {
      const summary = await run.run(sink, controller.signal);
      sink.write({ kind: 'summary', summary });
    } catch (e) {
      const error = e instanceof ApiError ? { code: e.code, message: e.message } : { code: 'internal', message: e instanceof Error ? e.message : String(e) };
      if (!(e instanceof ApiError)) request.log.error({ err: e }, 'exec failed');
      sink.write({ kind: 'error', error });
    } finally {
      if (!res.writableEnded) res.end();
    }
  });
}
