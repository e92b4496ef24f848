// GET /metrics (DESIGN.md, Interfaces): the agent's metrics in the Prometheus text exposition
// format, for a Prometheus server to scrape. Outside /v1 by convention: scrapers look for
// /metrics. The agent builds the text (src/agent/metrics.ts); this route only serves it.
import type { FastifyInstance } from 'fastify';

export interface MetricsApi {
  /** The current metrics as text, with the content type to serve them under. */
  metrics(): Promise<{ readonly contentType: string; readonly text: string }>;
}

export function registerMetricsRoute(app: FastifyInstance, api: MetricsApi, errors: Record<string, unknown>): void {
  app.get('/metrics', { schema: { response: errors } }, async (_request, reply) => {
    const { contentType, text } = await api.metrics();
    // A scrape must show the values of now, never a cached copy.
    return reply.type(contentType).header('cache-control', 'no-store').send(text);
  });
}
