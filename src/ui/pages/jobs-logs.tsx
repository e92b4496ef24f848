// An allocation's log tail. The API has no log stream (src/api/allocs.ts): the node's live log
// file is read in pieces, GET /v1/allocs/ID/logs?stream=&offset=&limit= -> {data (base64),
// offset, nextOffset, size}. So this reads the last 64 KiB first (a negative offset counts back
// from the end), then asks again from nextOffset every 2 s while the page is open and visible.
// Rotation (copy-and-truncate on the node): an offset past the file's size is read from 0 by the
// agent (the answer's offset is then below the one asked), and a size smaller than the last one
// seen means the file was truncated even if our offset still fits: start over at 0.

import type { JSX } from 'preact';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { apiGet } from '../api.ts';
import { formatBytes } from '../format.ts';
import type { AllocLogs } from './jobs-parts.tsx';

export const LOG_TAIL_BYTES = 64 * 1024;
export const LOG_POLL_MS = 2000;
/** Characters kept on screen (older output is dropped at a line break). */
const MAX_LOG_CHARS = 256 * 1024;
/** Reads in one poll when the log grew faster than one read takes (64 KiB each). */
const MAX_READS_PER_POLL = 4;

type Stream = 'stdout' | 'stderr';

interface TailState {
  readonly text: string;
  readonly error: string | undefined;
  readonly loaded: boolean;
  readonly size: number;
}

export function LogTail(props: { allocId: string; running: boolean }): JSX.Element {
  const [stream, setStream] = useState<Stream>('stdout');
  const [autoScroll, setAutoScroll] = useState(true);
  const [state, setState] = useState<TailState>({ text: '', error: undefined, loaded: false, size: 0 });
  const preRef = useRef<HTMLPreElement>(null);

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let next = -LOG_TAIL_BYTES;
    let lastSize = -1;
    // Reads may end inside a UTF-8 character: a streaming decoder carries it to the next read.
    let decoder = new TextDecoder('utf-8');
    let text = '';
    setState({ text: '', error: undefined, loaded: false, size: 0 });

    const base = `/v1/allocs/${encodeURIComponent(props.allocId)}/logs?stream=${stream}`;
    const read = (offset: number): Promise<AllocLogs> => apiGet<AllocLogs>(`${base}&offset=${offset}&limit=${LOG_TAIL_BYTES}`);
    const startOver = (why: string): void => {
      decoder = new TextDecoder('utf-8');
      text = keepTail(`${text}${text === '' || text.endsWith('\n') ? '' : '\n'}--- ${why} ---\n`);
    };

    const poll = async (): Promise<void> => {
      if (stopped) return;
      // A hidden tab asks nothing; it catches up when shown again.
      if (typeof document === 'undefined' || !document.hidden) {
        try {
          for (let i = 0; i < MAX_READS_PER_POLL && !stopped; i++) {
            let r = await read(next);
            if (stopped) return;
            if (next > 0 && r.offset < next) {
              startOver('log rotated');
            } else if (lastSize >= 0 && r.size < lastSize && next > 0) {
              // Truncated under us, but our offset still fits: what we read is from the new file's middle.
              startOver('log rotated');
              r = await read(0);
              if (stopped) return;
            }
            text = keepTail(text + decoder.decode(base64Bytes(r.data), { stream: true }));
            next = r.nextOffset;
            lastSize = r.size;
            if (r.nextOffset >= r.size || r.data.length === 0) break;
          }
          setState({ text, error: undefined, loaded: true, size: lastSize });
        } catch (e) {
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

function keepTail(text: string): string {
  if (text.length <= MAX_LOG_CHARS) return text;
  const cut = text.length - MAX_LOG_CHARS;
  const newline = text.indexOf('\n', cut);
  return text.slice(newline === -1 ? cut : newline + 1);
}

function base64Bytes(b64: string): Uint8Array {
  const binary = atob(b64);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}
