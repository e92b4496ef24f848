// Service catalog routes of the HTTP API (issue 6, item 6; `sappers services`):
//   GET /v1/services                   -> every service with its instance counts by status
//   GET /v1/services/<name>[?passing]  -> its instances: allocation, node, address, port, status, checks
// A service is what a job's `service:` section names; its instances are that job's allocations
// that are wanted and running. An instance's status is its worst check (no checks: passing when
// its allocation is healthy, else critical). ?passing keeps only passing instances (as Consul's
// health endpoint). Reads take ?stale. The agent builds the views (src/agent/jobs.ts).

import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { SERVICE_NAME_PATTERN } from '../wire/job.ts';
import { AllocCheckSchema } from './allocs.ts';
import { ApiError } from './errors.ts';
import { isSet } from './jobs.ts';

const StatusSchema = Type.Union([Type.Literal('passing'), Type.Literal('warning'), Type.Literal('critical')]);

export const ServiceInstanceSchema = Type.Object({
  alloc: Type.String(),
  job: Type.String(),
  node: Type.String(),
  /** Host part of the node's RPC address from the node registry; null when the registry does not know the node yet. */
  address: Type.Union([Type.String(), Type.Null()]),
  /** The host port of the service's port label; null if the allocation has none (should not happen). */
  port: Type.Union([Type.Integer(), Type.Null()]),
  status: StatusSchema,
  checks: Type.Array(AllocCheckSchema),
  tags: Type.Array(Type.String()),
});
export type ServiceInstance = Static<typeof ServiceInstanceSchema>;

export const ServiceSummarySchema = Type.Object({
  name: Type.String(),
  /** Every tag any instance's job gives the service, sorted. */
  tags: Type.Array(Type.String()),
  /** Jobs that declare it. */
  jobs: Type.Array(Type.String()),
  instances: Type.Integer(),
  passing: Type.Integer(),
  warning: Type.Integer(),
  critical: Type.Integer(),
});
export type ServiceSummary = Static<typeof ServiceSummarySchema>;

export const ServiceViewSchema = Type.Object({
  name: Type.String(),
  tags: Type.Array(Type.String()),
  instances: Type.Array(ServiceInstanceSchema),
});
export type ServiceView = Static<typeof ServiceViewSchema>;

export interface ServicesApi {
  serviceList(stale: boolean): Promise<ServiceSummary[]>;
  serviceGet(name: string, options: { passing: boolean }, stale: boolean): Promise<ServiceView>;
}

const serviceName = new RegExp(SERVICE_NAME_PATTERN);

export function registerServiceRoutes(app: FastifyInstance, api: ServicesApi, errors: Record<string, unknown>): void {
  app.get('/v1/services', { schema: { response: { 200: Type.Array(ServiceSummarySchema), ...errors } } }, (request) => api.serviceList(isSet(request, 'stale')));

  app.get('/v1/services/:name', { schema: { response: { 200: ServiceViewSchema, ...errors } } }, (request) =>
    api.serviceGet(nameOf(request), { passing: isSet(request, 'passing') }, isSet(request, 'stale')),
  );
}

function nameOf(request: FastifyRequest): string {
  const name = (request.params as { name: string }).name;
  if (!serviceName.test(name)) throw new ApiError('not-found', `no service ${JSON.stringify(name)}`);
  return name;
}
