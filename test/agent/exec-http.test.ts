// POST /v1/exec (src/api/exec.ts) and SappersClient.exec over a real HTTP socket, with a fake
// ExecApi: NDJSON lines in order, refusals before the stream, an error line mid-run, and a
// client that goes away cancelling the run.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { registerExecRoutes, type ExecApi, type ExecLine, type ExecRequest, type ExecSummary } from '../../src/api/exec.ts';
import { ApiError } from '../../src/api/errors.ts';
import { ErrorSchema } from '../../src/api/schemas.ts';
import { ClientError, SappersClient } from '../../src/client/client.ts';

const SUMMARY: ExecSummary = { targets: 1, acknowledged: 1, completed: 1, succeeded: 1, refused: [], failed: [], noAnswer: [] };

let behaviour: (request: ExecRequest) => ReturnType<ExecApi['execPrepare']> = () => {
  throw new Error('set per test');
};
const api: ExecApi = { execPrepare: (request) => behaviour(request) };
const app = Fastify({ forceCloseConnections: true });
app.setErrorHandler((error: Error & { statusCode?: number }, _request, reply) => {
  if (error instanceof ApiError) return reply.status(error.status).send({ error: { code: error.code, message: error.message } });
  return reply.status(error.statusCode ?? 500).send({ error: { code: 'bad-request', message: error.message } });
});
registerExecRoutes(app, api, { '4xx': ErrorSchema, '5xx': ErrorSchema });
await app.listen({ host: '127.0.0.1', port: 0 });
after(() => app.close());
const address = app.server.address();
const client = new SappersClient({ addr: `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}` });

async function collect(request: ExecRequest, signal?: AbortSignal): Promise<ExecLine[]> {
  const lines: ExecLine[] = [];
  for await (const l of client.exec(request, signal)) lines.push(l);
  return lines;
}

describe('POST /v1/exec', () => {
  it('streams the run\'s lines in order and ends with the summary', async () => {
    let seen: ExecRequest | undefined;
    behaviour = (request) => {
      seen = request;
      return {
        targets: ['a'],
        run: async (sink) => {
          sink.write({ kind: 'targets', nodes: ['a'], timeoutMs: 5000 });
          sink.write({ kind: 'output', node: 'a', stream: 'stdout', data: 'héllo\n' });
          await sink.waitForRoom();
          sink.write({ kind: 'done', node: 'a', done: { exitCode: 0, signal: null } });
          return SUMMARY;
        },
      };
    };
    const lines = await collect({ argv: ['echo', 'héllo'], nodeFilter: 'id=a', timeoutMs: 5000 });
    assert.deepEqual(seen, { argv: ['echo', 'héllo'], nodeFilter: 'id=a', timeoutMs: 5000 });
    assert.deepEqual(lines, [
      { kind: 'targets', nodes: ['a'], timeoutMs: 5000 },
      { kind: 'output', node: 'a', stream: 'stdout', data: 'héllo\n' },
      { kind: 'done', node: 'a', done: { exitCode: 0, signal: null } },
      { kind: 'summary', summary: SUMMARY },
    ]);
  });

  it('refuses a bad body and what prepare refuses with the usual error, before any stream', async () => {
    await assert.rejects(collect({ argv: [] }), (e: unknown) => e instanceof ClientError && e.status === 400);
    await assert.rejects(collect({ argv: ['x'], timeoutMs: 0 }), (e: unknown) => e instanceof ClientError && e.status === 400);
    behaviour = () => {
      throw new ApiError('bad-request', 'no alive member matches the node filter "id=z"');
    };
    await assert.rejects(collect({ argv: ['true'], nodeFilter: 'id=z' }), (e: unknown) => e instanceof ClientError && e.status === 400 && e.code === 'bad-request' && /id=z/.test(e.message));
  });

  it('a failure mid-run becomes an error line', async () => {
    behaviour = () => ({
      targets: ['a'],
      run: async (sink) => {
        sink.write({ kind: 'targets', nodes: ['a'], timeoutMs: 1000 });
        throw new ApiError('unavailable', 'the agent is stopping');
      },
    });
    const lines = await collect({ argv: ['true'] });
    assert.deepEqual(lines.at(-1), { kind: 'error', error: { code: 'unavailable', message: 'the agent is stopping' } });
  });

  it('a client that goes away (Ctrl-C) aborts the run\'s signal', async () => {
    let aborted!: () => void;
    const wasAborted = new Promise<void>((resolve) => (aborted = resolve));
    behaviour = () => ({
      targets: ['a'],
      run: (sink, signal) =>
        new Promise<ExecSummary>((resolve) => {
          sink.write({ kind: 'targets', nodes: ['a'], timeoutMs: 1000 });
          signal.addEventListener('abort', () => {
            aborted();
            resolve(SUMMARY);
          });
        }),
    });
    const controller = new AbortController();
    const lines: ExecLine[] = [];
    for await (const l of client.exec({ argv: ['sleep', '30'] }, controller.signal)) {
      lines.push(l);
      controller.abort();
    }
    assert.equal(lines[0]!.kind, 'targets');
    await wasAborted;
  });
});
