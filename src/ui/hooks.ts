// Live data for the pages. useLive(path) loads a route once, then again whenever the shell's
// one event stream (live.ts) reports that the cluster changed, throttled to one reload per
// ~300 ms: pages stay current without polling loops of their own.
//
// One exception, kept here in one place: membership (GET /v1/members) and the node's status
// (GET /v1/status) also change without any event (gossip, Raft roles), so the agent streams
// them as live views: for those two paths useLive follows the shell's shared stream of the
// value (live-views.ts) instead of loading. No path is ever reloaded on a timer.

import { createContext } from 'preact';
import { useCallback, useContext, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, apiGet } from './api.ts';
import type { FlapTracker } from './flaps.ts';
import type { ClusterEvent, LiveHub, StreamState } from './live.ts';
import { isLiveView } from './live-views.ts';

/** The shell's event stream; pages reach it through the hooks below. */
export const LiveContext = createContext<LiveHub | undefined>(undefined);

/** The shell's count of gossip status changes per node (flaps.ts). */
export const FlapContext = createContext<FlapTracker | undefined>(undefined);

export interface LiveData<T> {
  readonly data: T | undefined;
  /** The last load's failure; data keeps the last good answer meanwhile. */
  readonly error: ApiError | Error | undefined;
  /** True until the first answer (or failure) for this path. */
  readonly loading: boolean;
  readonly reload: () => void;
}

/**
 * Keeps `path` (null: nothing yet) current: a live view (/v1/status, /v1/members) from its
 * shared stream, any other route loaded and reloaded on the cluster's events.
 */
export function useLive<T>(path: string | null): LiveData<T> {
  const hub = useContext(LiveContext);
  const viewed = path !== null && hub !== undefined && isLiveView(path);
  const loaded = useLoaded<T>(viewed ? null : path, hub);
  const streamed = useView<T>(viewed ? path : null, hub);
  return viewed ? streamed : loaded;
}

/** A live view's value from the hub's shared stream (null: none). */
function useView<T>(path: string | null, hub: LiveHub | undefined): LiveData<T> {
  const [state, setState] = useState<{ path: string | null; data: T | undefined; error: ApiError | Error | undefined; received: boolean }>({ path, data: undefined, error: undefined, received: false });
  useEffect(() => {
    if (path === null || hub === undefined) return undefined;
    return hub.views.subscribe(path, (s) => setState({ path, data: s.value as T | undefined, error: s.error, received: s.received }));
  }, [path, hub]);
  // The stream sends the whole value again on every change, and again after a reconnect: there
  // is nothing to reload (retry buttons are harmless no-ops).
  const reload = useCallback(() => undefined, []);
  const same = state.path === path;
  return { data: same ? state.data : undefined, error: same ? state.error : undefined, loading: same ? !state.received && state.error === undefined : path !== null, reload };
}

/**
 * Loads `path` (null: nothing to load yet) and reloads it on the shell's news. Answers for an
 * older path or an older request are dropped; at most one request per hook is in flight (a
 * reload asked for meanwhile runs when it ends).
 */
function useLoaded<T>(path: string | null, hub: LiveHub | undefined): LiveData<T> {
  const [state, setState] = useState<{ path: string | null; data: T | undefined; error: ApiError | Error | undefined; loading: boolean }>({ path, data: undefined, error: undefined, loading: path !== null });
  const inFlight = useRef(false);
  const again = useRef(false);
  const current = useRef(path);
  current.current = path;

  const load = useCallback(() => {
    const target = current.current;
    if (target === null) return;
    if (inFlight.current) {
      again.current = true;
      return;
    }
    inFlight.current = true;
    const done = (update: { data?: T; error: ApiError | Error | undefined }): void => {
      inFlight.current = false;
      if (current.current === target) {
        setState((s) => ({ path: target, data: 'data' in update ? update.data : s.path === target ? s.data : undefined, error: update.error, loading: false }));
      }
      if (again.current || current.current !== target) {
        again.current = false;
        load();
      }
    };
    apiGet<T>(target).then(
      (data) => done({ data, error: undefined }),
      (e: unknown) => done({ error: e instanceof Error ? e : new Error(String(e)) }),
    );
  }, []);

  // A new path: forget the old data, load the new one.
  useEffect(() => {
    setState({ path, data: undefined, error: undefined, loading: path !== null });
    load();
  }, [path, load]);

  useEffect(() => (hub === undefined || path === null ? undefined : hub.onNews(load)), [hub, path, load]);

  // Never show the previous path's data for a new path, even for the one render before the effect.
  const same = state.path === path;
  return { data: same ? state.data : undefined, error: same ? state.error : undefined, loading: same ? state.loading : path !== null, reload: load };
}

/** The newest events of the cluster's log (oldest first), as the shell's stream sees them. */
export function useRecentEvents(): readonly ClusterEvent[] {
  const hub = useContext(LiveContext);
  const [events, setEvents] = useState<readonly ClusterEvent[]>(hub?.recent ?? []);
  useEffect(() => {
    if (hub === undefined) return undefined;
    setEvents(hub.recent);
    return hub.onEvents(() => setEvents(hub.recent));
  }, [hub]);
  return events;
}

/** Whether the shell's event stream is connected (pages can say "live" or "reconnecting"). */
export function useStreamState(): { state: StreamState; error: unknown } {
  const hub = useContext(LiveContext);
  const [, setTick] = useState(0);
  useEffect(() => (hub === undefined ? undefined : hub.onState(() => setTick((n) => n + 1))), [hub]);
  return { state: hub?.state ?? 'stopped', error: hub?.lastError };
}

/** The current time, ticking every `everyMs` (for "3 s ago" texts). */
export function useNow(everyMs = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(timer);
  }, [everyMs]);
  return now;
}
