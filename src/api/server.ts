// The HTTP API (fastify): validate, read or propose, respond; no business logic here
// (DESIGN.md, Architecture). Routes get what they need through the AgentApi interface.
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { ApiError, type ApiErrorBody } from './errors.ts';
import { registerKeyringRoutes, type KeyringApi } from './keyring.ts';
import { registerKvRoutes, type KvApi } from './kv.ts';
import { registerExecRoutes, type ExecApi } from './exec.ts';
import { registerMetricsRoute, type MetricsApi } from './metrics-route.ts';
import { registerOperatorRoutes, type OperatorApi } from './operator.ts';
import { registerSessionRoutes, type SessionApi } from './sessions.ts';
import { registerSnapshotRoutes, type SnapshotApi } from './snapshot.ts';
import { registerHealthRoutes, type HealthApi } from './health.ts';
import { registerJobRoutes, type JobsApi } from './jobs.ts';
import { registerAllocRoutes, type AllocsApi } from './allocs.ts';
import { registerServiceRoutes, type ServicesApi } from './services.ts';
import { registerStreamRoutes, type StreamApi } from './streams.ts';
import { isPublicUiRoute, registerUiRoutes } from './ui.ts';
import { ErrorSchema, MemberSchema, StatusSchema, type MemberView, type Status } from './schemas.ts';
import { streamLiveView, wantsEventStream } from './sse.ts';
import { Type } from '@sinclair/typebox';

/** What the API needs from the agent. Grows as the agent does (KV, members, events, ...). */
export interface AgentApi extends KvApi, StreamApi, OperatorApi, MetricsApi, SessionApi, SnapshotApi, KeyringApi, HealthApi, ExecApi, JobsApi, AllocsApi, ServicesApi {
  status(): Status;
  members(): MemberView[];
  /** Calls `fn` when membership, Raft roles or the replicated state change; returns the unsubscribe. */
  onClusterChange(fn: () => void): () => void;
  /** Graceful departure: out of the configuration, then the agent stops. */
  leave(): Promise<{ removed: boolean }>;
}

export interface ApiServerOptions {
  readonly agent: AgentApi;
  readonly logger: Logger;
  /** Largest request body accepted, in bytes. */
  readonly bodyLimitBytes?: number;
  /** Throws an ApiError for a request that may not proceed (the management token check). */
  readonly authorize?: (authorizationHeader: string | undefined, request: { readonly method: string; readonly url: string }) => void;
  /** Where the built dashboard may be, first match wins (src/api/ui.ts, defaultUiDirs()). */
  readonly uiDirs?: readonly string[];
}

export function createApiServer(options: ApiServerOptions): FastifyInstance {
  const app = Fastify({
    // Requests are not logged one by one (the access log would drown the agent's own events);
    // failures still are, at error level.
    loggerInstance: options.logger.child({ component: 'api' }, { level: 'warn' }) as FastifyBaseLogger,
    bodyLimit: options.bodyLimitBytes ?? 1024 * 1024,
    // Keep-alive connections must not hold up a clean shutdown.
    forceCloseConnections: true,
    return503OnClosing: true,
  });

  app.setErrorHandler((error: FastifyError | ApiError, request, reply) => {
    if (error instanceof ApiError) {
      return reply.status(error.status).send(errorBody(error.code, error.message));
    }
    const status = error.statusCode ?? 500;
    if (status >= 500) request.log.error({ err: error, url: request.url }, 'request failed');
    const code = status === 413 ? 'payload-too-large' : status >= 500 ? 'internal' : 'bad-request';
    return reply.status(status).send(errorBody(code, status >= 500 ? 'internal error; see the agent log' : error.message));
  });

  const authorize = options.authorize;
  if (authorize !== undefined) {
    // Every route, before its body is read: an unauthorized client learns nothing and sends nothing.
    app.addHook('onRequest', async (request) => {
      // The dashboard's static files are public: the app asks for the token and sends it with
      // every API call. Decided by the route fastify matched, never by the raw URL.
      if (isPublicUiRoute(request.routeOptions.url)) return;
      authorize(request.headers.authorization, { method: request.method, url: request.url });
    });
  }

  app.setNotFoundHandler((request, reply) => {
    reply.status(404).send(errorBody('not-found', `no route for ${request.method} ${request.url.split('?')[0]}`));
  });

  const errors = { '4xx': ErrorSchema, '5xx': ErrorSchema };
  // With Accept: text/event-stream, status and members are live views: the current value, then
  // again on every change of gossip, Raft role or state (event: status | members).
  app.get('/v1/status', { schema: { response: { 200: StatusSchema, ...errors } } }, (request, reply) =>
    wantsEventStream(request) ? streamLiveView(request, reply, 'status', () => options.agent.status(), (fn) => options.agent.onClusterChange(fn)) : options.agent.status(),
  );
  app.get('/v1/members', { schema: { response: { 200: Type.Array(MemberSchema), ...errors } } }, (request, reply) =>
    wantsEventStream(request) ? streamLiveView(request, reply, 'members', () => options.agent.members(), (fn) => options.agent.onClusterChange(fn)) : options.agent.members(),
  );
  app.post('/v1/leave', { schema: { response: { 200: Type.Object({ removed: Type.Boolean() }), ...errors } } }, () => options.agent.leave());
  registerKvRoutes(app, options.agent, errors);
  registerStreamRoutes(app, options.agent, errors);
  registerOperatorRoutes(app, options.agent, errors);
  registerKeyringRoutes(app, options.agent, errors);
  registerSessionRoutes(app, options.agent, errors);
  registerSnapshotRoutes(app, options.agent, errors);
  registerHealthRoutes(app, options.agent, errors);
  registerJobRoutes(app, options.agent, errors);
  registerAllocRoutes(app, options.agent, errors);
  registerServiceRoutes(app, options.agent, errors);
  registerMetricsRoute(app, options.agent, errors);
  registerExecRoutes(app, options.agent, errors);
  registerUiRoutes(app, options.uiDirs === undefined ? {} : { dirs: options.uiDirs });

  return app;
}

function errorBody(code: string, message: string): ApiErrorBody {
  return { error: { code, message } };
}
