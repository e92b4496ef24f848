// Pushed health (issue 6, item 5; DESIGN.md, "Push over pull"): an app reports its TTL checks to
// its local agent, which knows the allocations it runs.
//   PUT /v1/health/<alloc>/<check>  {status: passing|warning|critical, output?}  -> {status, check, alloc}
//   GET /v1/health/<alloc>                                                        -> the allocation's checks
// Unknown allocation or check: 404. A check the agent runs itself (http, tcp, exec): 409.
// Validation and translation only: the agent's HealthMonitor decides (HealthApi).

import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { HealthPushError } from '../core/health/table.ts';
import type { AllocationHealthView } from '../core/health/view.ts';
import type { CheckStatus } from '../core/health/status.ts';
import { unreachable, type Result } from '../core/result.ts';
import { CHECK_NAME_PATTERN } from '../wire/job.ts';
import { ApiError } from './errors.ts';

/** Output an app may send in one push; the monitor keeps the first 4 KiB of it. */
export const MAX_PUSH_OUTPUT_CHARS = 64 * 1024;
export const MAX_ALLOC_ID_CHARS = 256;

const StatusSchema = Type.Union([Type.Literal('passing'), Type.Literal('warning'), Type.Literal('critical')]);

export const HealthPushBodySchema = Type.Object(
  { status: StatusSchema, output: Type.Optional(Type.String({ maxLength: MAX_PUSH_OUTPUT_CHARS })) },
  { additionalProperties: false },
);
export type HealthPushBody = Static<typeof HealthPushBodySchema>;

export const HealthPushResultSchema = Type.Object({ status: StatusSchema, check: Type.String(), alloc: Type.String() });
export type HealthPushResult = Static<typeof HealthPushResultSchema>;

const Millis = Type.Integer();
const NullableMillis = Type.Union([Type.Integer(), Type.Null()]);
export const CheckViewSchema = Type.Object({
  name: Type.String(),
  type: Type.Union([Type.Literal('ttl'), Type.Literal('http'), Type.Literal('tcp'), Type.Literal('exec')]),
  status: StatusSchema,
  output: Type.String(),
  changedAtMs: Millis,
  updatedAtMs: NullableMillis,
  expiresAtMs: NullableMillis,
  ttlMs: NullableMillis,
});
export const AllocationHealthSchema = Type.Object({ alloc: Type.String(), status: StatusSchema, checks: Type.Array(CheckViewSchema) });

// The schema and the monitor's view type must agree both ways (checked at compile time).
const _viewFits: Omit<Static<typeof AllocationHealthSchema>, 'checks'> & { readonly checks: readonly Static<typeof CheckViewSchema>[] } =
  null as unknown as AllocationHealthView;
const _schemaFits: AllocationHealthView = null as unknown as Static<typeof AllocationHealthSchema>;
void _viewFits;
void _schemaFits;

/** What the health routes need from the agent (its HealthMonitor's push and status). */
export interface HealthApi {
  healthPush(allocId: string, check: string, status: CheckStatus, output: string | undefined): Result<void, HealthPushError> | Promise<Result<void, HealthPushError>>;
  healthStatus(allocId: string): AllocationHealthView | undefined | Promise<AllocationHealthView | undefined>;
}

const checkName = new RegExp(CHECK_NAME_PATTERN);

export function registerHealthRoutes(app: FastifyInstance, api: HealthApi, errors: Record<string, unknown>): void {
  app.put('/v1/health/:alloc/:check', { schema: { body: HealthPushBodySchema, response: { 200: HealthPushResultSchema, ...errors } } }, async (request): Promise<HealthPushResult> => {
    const { alloc, check } = request.params as { alloc: string; check: string };
    allocIdOf(alloc);
    // A name no check can have is simply not one of this allocation's checks.
    if (!checkName.test(check)) throw new ApiError('not-found', `allocation ${alloc} has no check ${JSON.stringify(check)}`);
    const body = request.body as HealthPushBody;
    const pushed = await api.healthPush(alloc, check, body.status, body.output);
    if (!pushed.ok) throw pushError(pushed.error);
    return { status: body.status, check, alloc };
  });

  app.get('/v1/health/:alloc', { schema: { response: { 200: AllocationHealthSchema, ...errors } } }, async (request) => {
    const alloc = allocIdOf((request.params as { alloc: string }).alloc);
    const view = await api.healthStatus(alloc);
    if (view === undefined) throw new ApiError('not-found', notHere(alloc));
    return view;
  });
}

export function pushError(e: HealthPushError): ApiError {
  switch (e.kind) {
    case 'unknown-allocation':
      return new ApiError('not-found', notHere(e.allocId));
    case 'unknown-check':
      return new ApiError('not-found', `allocation ${e.allocId} has no check ${JSON.stringify(e.check)}; its checks: ${e.known.length === 0 ? 'none' : e.known.join(', ')}`);
    case 'not-ttl':
      return new ApiError('conflict', `check ${JSON.stringify(e.check)} of allocation ${e.allocId} is an ${e.checkType} check that the agent runs itself; only ttl checks take pushed status`);
    default:
      return unreachable(e);
  }
}

function notHere(alloc: string): string {
  return `no allocation ${JSON.stringify(alloc)} runs on this node (push health to the agent of the node that runs it)`;
}

function allocIdOf(alloc: string): string {
  if (alloc.length === 0 || alloc.length > MAX_ALLOC_ID_CHARS) throw new ApiError('bad-request', `an allocation id has 1 to ${MAX_ALLOC_ID_CHARS} characters`);
  return alloc;
}
