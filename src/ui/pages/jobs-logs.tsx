// An allocation's log tail on its page: stdout or stderr, the last 64 KiB then what follows,
// asked for every 2 s while the page is open and the tab visible (the API has no log stream;
// jobs-logfollow.ts does the reading and notices rotation). Scrolls with the output while the
// reader is at the end; scrolling up to read stops that, scrolling back down resumes it.

import type { JSX } from 'preact';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { apiGet } from '../api.ts';
import { formatBytes } from '../format.ts';
import type { AllocLogs } from './jobs-parts.ts';
import { LOG_POLL_MS, LOG_TAIL_BYTES, LogFollower } from './jobs-logfollow.ts';

interface TailState {
  readonly text: string;
  readonly error: string | undefined;
  readonly loaded: boolean;
  readonly size: number;
}

export function LogTail(props: { allocId: string; running: boolean }): JSX.Element {
  const [stream, setStream] = useState<'stdout' | 'stderr'>('stdout');
  const [autoScroll, setAutoScroll] = useState(true);
  const [state, setState] = useState<TailState>({ text: '', error: undefined, loaded: false, size: 0 });
  const preRef = useRef<HTMLPreElement>(null);

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    setState({ text: '', error: undefined, loaded: false, size: 0 });
    const base = `/v1/allocs/${encodeURIComponent(props.allocId)}/logs?stream=${stream}`;
    const follower = new LogFollower((offset) => apiGet<AllocLogs>(`${base}&offset=${offset}&limit=${LOG_TAIL_BYTES}`));

    const poll = async (): Promise<void> => {
      // A hidden tab asks nothing; it catches up when shown again.
      if (!document.hidden) {
        try {
          await follower.poll();
          if (stopped) return;
          setState({ text: follower.text, error: undefined, loaded: true, size: Math.max(0, follower.size) });
        } catch (e) {
          if (stopped) return;
          setState((s) => ({ ...s, loaded: true, error: e instanceof Error ? e.message : String(e) }));
        }
      }
      if (!stopped) timer = setTimeout(() => void poll(), LOG_POLL_MS);
    };
    void poll();
    return () => {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
    };
  }, [props.allocId, stream]);

  // Follow the end while the reader is at the end (or auto-scroll is on).
  useLayoutEffect(() => {
    const pre = preRef.current;
    if (pre !== null && autoScroll) pre.scrollTop = pre.scrollHeight;
  }, [state.text, autoScroll]);

  return (
    <section class="jobs-logs" data-logs={stream}>
      <div class="jobs-logs-bar">
        <h2>Log</h2>
        <div class="jobs-seg" role="group" aria-label="stream">
          {(['stdout', 'stderr'] as const).map((s) => (
            <button key={s} type="button" data-stream={s} aria-pressed={stream === s} class={`button${stream === s ? ' active' : ''}`} onClick={() => setStream(s)}>
              {s}
            </button>
          ))}
        </div>
        <label class="jobs-logs-follow">
          <input type="checkbox" checked={autoScroll} onChange={(e) => setAutoScroll(e.currentTarget.checked)} /> auto-scroll
        </label>
        <span class="hint">{state.loaded ? `${formatBytes(state.size)} in the live file; refreshed every ${LOG_POLL_MS / 1000} s` : ''}</span>
      </div>
      {state.error !== undefined && (
        <p class="error-box" role="alert">
          Could not read the log: {state.error}
          {props.running ? '' : ' (the allocation is not running; its node may have removed the files)'}
        </p>
      )}
      {!state.loaded ? (
        <p class="loading">Loading the log…</p>
      ) : state.text === '' && state.error === undefined ? (
        <p class="empty">Nothing written to {stream} yet.</p>
      ) : (
        <pre class="jobs-log-text" ref={preRef} data-log-text tabIndex={0} onScroll={(e) => {
          // Scrolling up to read stops the follow; scrolling back to the end resumes it.
          const pre = e.currentTarget;
          const atEnd = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 24;
          if (atEnd !== autoScroll) setAutoScroll(atEnd);
        }}>
          {state.text}
        </pre>
      )}
    </section>
  );
}
