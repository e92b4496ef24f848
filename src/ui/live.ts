// The shell's one connection to the cluster's event log: GET /v1/events?from=N with
// Accept: text/event-stream (src/api/streams.ts: `event: cluster-event`, `id: <seq>`, data =
// the event as JSON; it replays from N, then follows what this agent applies). Every page's
// useLive() listens here instead of opening its own stream or polling. (Status and members,
// which change without events, have streams of their own: live-views.ts, kept by the hub too.)
//
// At start it asks the head of the log (a stale read: it works without quorum, like the stream,
// which also reads this agent's copy), then streams from RECENT_EVENTS before the head so the
// overview has the recent decisions at once; only events past the head count as news. News is
// passed on at most once per NEWS_THROTTLE_MS, so a burst of events makes one reload, not fifty.

import { ApiError, apiGet, openStream } from './api.ts';
import { LiveViews } from './live-views.ts';

/** One entry of the replicated event log, as GET /v1/events sends it. */
export type { ClusterEvent } from '../core/fsm/types.ts';
import type { ClusterEvent } from '../core/fsm/types.ts';

interface EventsHead {
  readonly head: { readonly seq: number };
}

export type StreamState = 'connecting' | 'live' | 'reconnecting' | 'stopped';

/** Events fetched before the head on start, and the most kept in memory. */
export const RECENT_EVENTS = 200;
export const MAX_RECENT_EVENTS = 500;
export const NEWS_THROTTLE_MS = 300;
const HEAD_RETRY_MS = 2000;

export class LiveHub {
  /** The streams of the values that change without events (status, members): live-views.ts. */
  readonly views = new LiveViews();
  readonly #newsListeners = new Set<() => void>();
  readonly #eventListeners = new Set<() => void>();
  readonly #stateListeners = new Set<() => void>();
  #recent: ClusterEvent[] = [];
  #headAtStart = 0;
  #lastSeq = 0;
  #state: StreamState = 'connecting';
  #lastError: unknown;
  #closeStream: (() => void) | undefined;
  #newsTimer: ReturnType<typeof setTimeout> | undefined;
  #headTimer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  #generation = 0;

  start(): void {
    this.#stopped = false;
    this.views.start();
    void this.#begin(++this.#generation);
  }

  stop(): void {
    this.#stopped = true;
    this.#generation++;
    this.views.stop();
    this.#closeStream?.();
    this.#closeStream = undefined;
    if (this.#newsTimer !== undefined) clearTimeout(this.#newsTimer);
    if (this.#headTimer !== undefined) clearTimeout(this.#headTimer);
    this.#newsTimer = undefined;
    this.#setState('stopped', undefined);
  }

  get state(): StreamState {
    return this.#state;
  }

  /** Why the stream is down, when it is. */
  get lastError(): unknown {
    return this.#lastError;
  }

  /** The newest events seen, oldest first (at most MAX_RECENT_EVENTS). */
  get recent(): readonly ClusterEvent[] {
    return this.#recent;
  }

  /** Called (throttled) when the cluster changed: new events, or the stream came back after a gap. */
  onNews(fn: () => void): () => void {
    this.#newsListeners.add(fn);
    return () => this.#newsListeners.delete(fn);
  }

  /** Called for every batch of events received, including the ones loaded at start. */
  onEvents(fn: () => void): () => void {
    this.#eventListeners.add(fn);
    return () => this.#eventListeners.delete(fn);
  }

  onState(fn: () => void): () => void {
    this.#stateListeners.add(fn);
    return () => this.#stateListeners.delete(fn);
  }

  async #begin(generation: number): Promise<void> {
    let head: number;
    try {
      head = (await apiGet<EventsHead>('/v1/events?limit=1&stale')).head.seq;
    } catch (e) {
      if (generation !== this.#generation) return;
      this.#setState('reconnecting', e);
      // A refused token stops everything (the shell logs out); anything else is retried.
      if (!(e instanceof ApiError && (e.status === 401 || e.status === 403))) this.#headTimer = setTimeout(() => void this.#begin(generation), HEAD_RETRY_MS);
      return;
    }
    if (generation !== this.#generation) return;
    this.#headAtStart = head;
    this.#lastSeq = Math.max(0, head - RECENT_EVENTS);
    this.#recent = [];
    let hadError = false;
    this.#closeStream = openStream(`/v1/events?from=${this.#lastSeq + 1}`, (m) => this.#receive(m.event, m.data), {
      resume: () => `/v1/events?from=${this.#lastSeq + 1}`,
      onOpen: () => {
        this.#setState('live', undefined);
        // Back after a gap: events resume where they stopped, but gossip and the agent's own
        // state may have moved meanwhile, and the agent may be a new one (a --dev restart
        // starts a new log): check the head, and reload every page.
        if (hadError) void this.#checkHead(generation);
        hadError = false;
      },
      onError: (e) => {
        hadError = true;
        this.#setState('reconnecting', e);
      },
    });
  }

  async #checkHead(generation: number): Promise<void> {
    try {
      const head = (await apiGet<EventsHead>('/v1/events?limit=1&stale')).head.seq;
      if (generation !== this.#generation) return;
      if (head < this.#lastSeq) {
        // A different log (a new cluster behind the same address): start over.
        this.#closeStream?.();
        this.#closeStream = undefined;
        this.start();
      }
    } catch {
      // The stream's own retry covers it.
    }
    this.#news();
  }

  #receive(event: string, data: string): void {
    if (event !== 'cluster-event') return;
    let e: ClusterEvent;
    try {
      e = JSON.parse(data) as ClusterEvent;
    } catch {
      return;
    }
    if (typeof e.seq !== 'number' || e.seq <= this.#lastSeq) return;
    this.#lastSeq = e.seq;
    // A new array each time: readers compare by reference.
    this.#recent = this.#recent.length >= MAX_RECENT_EVENTS ? [...this.#recent.slice(1 - MAX_RECENT_EVENTS), e] : [...this.#recent, e];
    for (const fn of this.#eventListeners) fn();
    if (e.seq > this.#headAtStart) this.#news();
  }

  #news(): void {
    if (this.#newsTimer !== undefined || this.#stopped) return;
    this.#newsTimer = setTimeout(() => {
      this.#newsTimer = undefined;
      for (const fn of this.#newsListeners) fn();
    }, NEWS_THROTTLE_MS);
  }

  #setState(state: StreamState, error: unknown): void {
    this.#lastError = error;
    if (state === this.#state) return;
    this.#state = state;
    for (const fn of this.#stateListeners) fn();
  }
}
