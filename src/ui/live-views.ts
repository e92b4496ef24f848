// Live views: routes whose value changes without any event in the cluster's log. Gossip marks a
// node suspect, dead or alive again, load and free memory move, a leader is elected; none of it
// goes through the replicated log, so the shell's event stream (live.ts) never hears of it.
// For these, the agent streams the value itself: GET /v1/status and GET /v1/members with
// Accept: text/event-stream send `event: status` / `event: members` with the whole value at
// once, then again on every change (debounced 250 ms, deduplicated: src/api/sse.ts
// streamLiveView). One stream per path for the whole tab, however many components show it,
// opened with the first listener and closed with the last; openStream reconnects with backoff,
// and the first message after a reconnect is the full value again.

import { ApiError, openStream } from './api.ts';

/** The paths served as live views, with the SSE event name carrying their value. */
const LIVE_VIEW_EVENTS: Readonly<Record<string, string>> = { '/v1/status': 'status', '/v1/members': 'members' };

/** Whether `path` is a live view (followed over its own stream rather than loaded and reloaded). */
export function isLiveView(path: string): boolean {
  return Object.hasOwn(LIVE_VIEW_EVENTS, path);
}

export interface ViewState {
  /** The last value received (kept while reconnecting). */
  readonly value: unknown;
  readonly received: boolean;
  /** Why the stream is down, when it is (cleared by the next value). */
  readonly error: ApiError | Error | undefined;
}

interface View {
  state: ViewState;
  readonly listeners: Set<(s: ViewState) => void>;
  close: (() => void) | undefined;
}

export class LiveViews {
  readonly #views = new Map<string, View>();
  #running = true;

  /** Listens to the view at `path` (isLiveView); called at once with what is known. Returns the unsubscribe. */
  subscribe(path: string, listener: (s: ViewState) => void): () => void {
    const event = LIVE_VIEW_EVENTS[path];
    if (event === undefined) throw new Error(`not a live view: ${path}`);
    let view = this.#views.get(path);
    if (view === undefined) {
      view = { state: { value: undefined, received: false, error: undefined }, listeners: new Set(), close: undefined };
      this.#views.set(path, view);
    }
    view.listeners.add(listener);
    if (view.close === undefined && this.#running) this.#open(path, event, view);
    listener(view.state);
    const owned = view;
    return () => {
      owned.listeners.delete(listener);
      if (owned.listeners.size > 0) return;
      owned.close?.();
      if (this.#views.get(path) === owned) this.#views.delete(path);
    };
  }

  /** Closes every stream (logout, shell unmounted); start() opens them again for the listeners left. */
  stop(): void {
    this.#running = false;
    for (const view of this.#views.values()) {
      view.close?.();
      view.close = undefined;
    }
  }

  start(): void {
    this.#running = true;
    for (const [path, view] of this.#views) {
      const event = LIVE_VIEW_EVENTS[path];
      if (view.close === undefined && event !== undefined) this.#open(path, event, view);
    }
  }

  #open(path: string, event: string, view: View): void {
    let closed = false;
    const set = (state: ViewState): void => {
      if (closed) return;
      view.state = state;
      for (const fn of [...view.listeners]) fn(state);
    };
    const close = openStream(
      path,
      (m) => {
        if (m.event !== event) return;
        let value: unknown;
        try {
          value = JSON.parse(m.data);
        } catch {
          return;
        }
        set({ value, received: true, error: undefined });
      },
      { onError: (e) => set({ ...view.state, error: e instanceof Error ? e : new ApiError(0, 'stream-failed', String(e)) }) },
    );
    view.close = () => {
      closed = true;
      close();
    };
  }
}
