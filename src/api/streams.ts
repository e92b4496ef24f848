// The event log and KV watches over HTTP (DESIGN.md, Interfaces):
//   GET /v1/events[?from=SEQ][&limit=N]     JSON page {anchor, head, events}; with
//                                           Accept: text/event-stream, a stream of events from
//                                           SEQ on, live as they are applied (event: cluster-event)
//   GET /v1/watch?prefix=P[&from=REV]       stream of KV changes under P (event: put | delete),
//                                           from revision REV on, then live; a revision older
//                                           than the history kept ends the stream with
//                                           event: error {code: compacted, compactedBefore};
//                                           so does a snapshot restore (PUT /v1/snapshot), which
//                                           replaces every key at once: re-read, then watch again
// The stream reads this agent's copy (it follows what is applied here); the JSON page is
// linearizable unless ?stale.

import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ClusterFsm, FsmNotification } from '../core/fsm/fsm.ts';
import type { ClusterEvent, KvChange } from '../core/fsm/types.ts';
import { ApiError } from './errors.ts';
import { kvEntryView } from './kv.ts';
import { openSse, wantsEventStream } from './sse.ts';

const MAX_EVENTS_PAGE = 10_000;

export interface StreamApi {
  /** The local replicated state machine, once consensus runs. */
  fsm(): ClusterFsm | undefined;
  /** Waits until a local read is linearizable (or throws an ApiError). */
  readBarrier(stale: boolean): Promise<void>;
}

const EventSchema = Type.Object({
  seq: Type.Integer(),
  index: Type.Integer(),
  atMs: Type.Number(),
  type: Type.String(),
  subject: Type.String(),
  detail: Type.Record(Type.String(), Type.Union([Type.String(), Type.Number()])),
  prevHash: Type.String(),
  hash: Type.String(),
});
const AnchorSchema = Type.Object({ seq: Type.Integer(), hash: Type.String() });
export const EventsPageSchema = Type.Object({ anchor: AnchorSchema, head: AnchorSchema, events: Type.Array(EventSchema), more: Type.Boolean() });

export function registerStreamRoutes(app: FastifyInstance, api: StreamApi, errors: Record<string, unknown>): void {
  app.get('/v1/events', { schema: { response: { 200: EventsPageSchema, ...errors } } }, async (request, reply) => {
    const query = request.query as Record<string, string | undefined>;
    const from = query['from'] === undefined ? 1 : intParam(query['from'], 'from', 1);
    const fsm = requireFsm(api);
    if (wantsEventStream(request)) {
      const stream = openSse(request, reply);
      const send = (e: ClusterEvent): boolean => stream.send('cluster-event', e.seq, e);
      // Replay and subscribe in one synchronous step: nothing applied in between is missed.
      for (const e of fsm.events(from)) send(e);
      const unsubscribe = fsm.subscribe((n: FsmNotification) => {
        if (n.kind === 'event' && n.event.seq >= from) send(n.event);
      });
      stream.onClose(unsubscribe);
      return reply;
    }
    await api.readBarrier(query['stale'] !== undefined);
    const limit = query['limit'] === undefined ? MAX_EVENTS_PAGE : intParam(query['limit'], 'limit', 1, MAX_EVENTS_PAGE);
    const events = fsm.events(from, limit + 1);
    return reply.send({ anchor: fsm.eventAnchor, head: fsm.eventHead, events: events.slice(0, limit), more: events.length > limit });
  });

  app.get('/v1/watch', async (request, reply) => {
    const query = request.query as Record<string, string | undefined>;
    const prefix = query['prefix'] ?? '';
    const fsm = requireFsm(api);
    const from = query['from'] === undefined ? fsm.revision + 1 : intParam(query['from'], 'from', 0);
    const stream = openSse(request, reply);
    const send = (c: KvChange): boolean =>
      stream.send(c.type, c.revision, c.entry === undefined ? { key: c.key, revision: c.revision } : { ...kvEntryView(c.entry), revision: c.revision });
    const past = fsm.changesSince(from, prefix);
    if (!past.ok) {
      stream.send('error', undefined, { code: 'compacted', message: `revision ${from} is older than the history kept; read the keys again and watch from ${past.compactedBefore} or later`, compactedBefore: past.compactedBefore });
      stream.close();
      return reply;
    }
    for (const c of past.changes) send(c);
    const unsubscribe = fsm.subscribe((n: FsmNotification) => {
      if (n.kind === 'kv' && n.change.revision >= from && n.change.key.startsWith(prefix)) send(n.change);
      if (n.kind === 'kv-reset') {
        const next = n.revision + 1;
        stream.send('error', undefined, { code: 'compacted', message: `a snapshot restore replaced every key at revision ${n.revision}; read the keys again and watch from ${next}`, compactedBefore: next });
        stream.close();
      }
    });
    stream.onClose(unsubscribe);
    return reply;
  });
}

function requireFsm(api: StreamApi): ClusterFsm {
  const fsm = api.fsm();
  if (fsm === undefined) throw new ApiError('unavailable', 'the agent is starting or stopping');
  return fsm;
}

function intParam(value: string, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^\d+$/.test(value)) throw new ApiError('bad-request', `?${name} must be an integer, got ${JSON.stringify(value)}`);
  const n = Number(value);
  if (n < min || n > max) throw new ApiError('bad-request', `?${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}
