// An allocation's log tail on its page: stdout or stderr, the last 64 KiB then what follows,
// through the agent's log stream while the page is open (one connection; the agent reads the
// file every second; jobs-logfollow.ts interprets the reads and notices rotation). Scrolls with
// the output while the reader is at the end; scrolling up to read stops that, scrolling back
// down resumes it.

import type { JSX } from 'preact';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { openStream } from '../api.ts';
import { formatBytes } from '../format.ts';
import type { AllocLogs } from './jobs-parts.ts';
import { LOG_READ_LIMIT_BYTES, LogFollower } from './jobs-logfollow.ts';

/** After the stream's `event: error` (a failed read ends it), it is opened again after this, doubled up to the max. */
const LOG_RETRY_FIRST_MS = 2000;
const LOG_RETRY_MAX_MS = 30_000;

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
    setState({ text: '', error: undefined, loaded: false, size: 0 });
    const follower = new LogFollower();
    const base = `/v1/allocs/${encodeURIComponent(props.allocId)}/logs?stream=${stream}&limit=${LOG_READ_LIMIT_BYTES}`;
    // Each opened stream has its number: messages of a stream replaced meanwhile are dropped
    // (closing it does not stop the events already parsed from the same chunk).
    let generation = 0;
    let close: (() => void) | undefined;
    let retryTimer: ReturnType<typeof setTimeout> | undefined;
    let retryMs = LOG_RETRY_FIRST_MS;
    const stop = (): void => {
      generation++;
      close?.();
      close = undefined;
      if (retryTimer !== undefined) clearTimeout(retryTimer);
      retryTimer = undefined;
    };
    const fail = (message: string): void => setState((s) => ({ ...s, loaded: true, error: message }));
    const open = (offset: number): void => {
      stop();
      const mine = generation;
      close = openStream(
        `${base}&offset=${offset}`,
        (m) => {
          if (mine !== generation) return;
          if (m.event === 'log') {
            let read: AllocLogs;
            try {
              read = JSON.parse(m.data) as AllocLogs;
            } catch {
              return;
            }
            const reopenAt = follower.receive(read);
            retryMs = LOG_RETRY_FIRST_MS;
            setState({ text: follower.text, error: undefined, loaded: true, size: Math.max(0, follower.size) });
            if (reopenAt !== undefined) open(reopenAt);
          } else if (m.event === 'error') {
            // A failed read ends the stream: say why, and try again later from where we were.
            let message = m.data;
            try {
              const e = JSON.parse(m.data) as { message?: unknown };
              if (typeof e.message === 'string') message = e.message;
            } catch {
              // keep the raw text
            }
            stop();
            fail(message);
            const resumeAt = follower.next;
            retryTimer = setTimeout(() => open(resumeAt), retryMs);
            retryMs = Math.min(retryMs * 2, LOG_RETRY_MAX_MS);
          }
        },
        {
          // After a broken connection, openStream comes back here: continue where the reads stopped.
          resume: () => `${base}&offset=${follower.next}`,
          onError: (e) => {
            if (mine === generation) fail(e instanceof Error ? e.message : String(e));
          },
        },
      );
    };
    open(follower.next);
    return stop;
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
        <span class="hint">{state.loaded ? `${formatBytes(state.size)} in the live file; following` : ''}</span>
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
