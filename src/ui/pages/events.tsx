// Events page (#/events): the replicated event log, live. It starts with the newest ~200 events
// (GET /v1/events JSON pages: the first, with limit=1, only tells the anchor and head), then
// follows the SSE stream from the seq after the last one loaded, so nothing falls in between
// (src/api/streams.ts replays from `from` and subscribes in one step). Newest first; filters by
// type prefix and subject text; pause holds new events aside instead of dropping them; "Verify
// chain" recomputes the sha256 chain over every event the agent keeps, as `sappers events verify`.

import type { JSX } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { apiGet, openStream } from '../api.ts';
import { Badge, Empty, ErrorBox, Loading, Page } from '../components/index.ts';
import { hashEngine, short, verifyAll, type ClusterEvent, type EventsPage, type HashEngine, type VerifyResult } from './events-chain.ts';
import './events.css';

/** Events loaded before following the stream. */
const INITIAL_EVENTS = 200;
/** Events kept in the page (older ones fall off; the agent keeps 10,000 for `verify`). */
const MAX_KEPT_EVENTS = 2000;
/** Rows rendered at once after filtering (the rest are counted, not drawn). */
const MAX_SHOWN_ROWS = 300;

type Connection = 'loading' | 'connecting' | 'live' | 'reconnecting';
type Verification = { readonly state: 'idle' } | { readonly state: 'running' } | { readonly state: 'done'; readonly result: VerifyResult; readonly atMs: number; readonly engine: HashEngine } | { readonly state: 'error'; readonly message: string };

export function EventsPage(): JSX.Element {
  // Ascending by seq; shown reversed.
  const [events, setEvents] = useState<readonly ClusterEvent[]>([]);
  const [held, setHeld] = useState<readonly ClusterEvent[]>([]);
  const [paused, setPaused] = useState(false);
  const [connection, setConnection] = useState<Connection>('loading');
  const [loadError, setLoadError] = useState<unknown>(undefined);
  const [streamNote, setStreamNote] = useState<string | undefined>(undefined);
  const [typePrefix, setTypePrefix] = useState('');
  const [subjectText, setSubjectText] = useState('');
  const [expanded, setExpanded] = useState<number | undefined>(undefined);
  const [verification, setVerification] = useState<Verification>({ state: 'idle' });
  const [attempt, setAttempt] = useState(0);

  // The stream callback outlives renders: it reads these through refs.
  const pausedRef = useRef(paused);
  pausedRef.current = paused;
  const lastSeqRef = useRef(0);

  useEffect(() => {
    let closed = false;
    let close: (() => void) | undefined;
    lastSeqRef.current = 0;
    setEvents([]);
    setHeld([]);
    setConnection('loading');
    setLoadError(undefined);

    const receive = (incoming: readonly ClusterEvent[]): void => {
      // Only what follows the newest seq held: a resumed stream never repeats or reorders.
      const fresh = incoming.filter((e) => e.seq > lastSeqRef.current);
      if (fresh.length === 0) return;
      lastSeqRef.current = fresh.at(-1)!.seq;
      if (pausedRef.current) setHeld((h) => keepNewest([...h, ...fresh]));
      else setEvents((list) => keepNewest([...list, ...fresh]));
    };

    void (async () => {
      try {
        const probe = await apiGet<EventsPage>('/v1/events?from=1&limit=1');
        const from = Math.max(1, probe.anchor.seq + 1, probe.head.seq - INITIAL_EVENTS + 1);
        const page = await apiGet<EventsPage>(`/v1/events?from=${from}&limit=${INITIAL_EVENTS}`);
        if (closed) return;
        receive(page.events);
        const next = Math.max(lastSeqRef.current, probe.head.seq) + 1;
        close = openStream(
          `/v1/events?from=${next}`,
          (m) => {
            if (m.event === 'cluster-event') {
              receive([JSON.parse(m.data) as ClusterEvent]);
            } else if (m.event === 'error') {
              setStreamNote(`the agent ended the stream: ${errorMessage(m.data)}; reconnecting`);
            }
          },
          {
            resume: (lastId) => `/v1/events?from=${Number(lastId) + 1}`,
            onOpen: () => {
              setConnection('live');
              setStreamNote(undefined);
            },
            onError: (e) => {
              setConnection('reconnecting');
              setStreamNote(`stream interrupted (${e instanceof Error ? e.message : String(e)}); reconnecting`);
            },
          },
        );
        setConnection((c) => (c === 'loading' ? 'connecting' : c));
      } catch (e) {
        if (!closed) setLoadError(e);
      }
    })();
    return () => {
      closed = true;
      close?.();
    };
  }, [attempt]);

  const togglePause = (): void => {
    if (paused) {
      setEvents((list) => keepNewest([...list, ...held]));
      setHeld([]);
    }
    setPaused(!paused);
  };

  const verify = async (): Promise<void> => {
    setVerification({ state: 'running' });
    try {
      const result = await verifyAll((from, limit) => apiGet<EventsPage>(`/v1/events?from=${from}&limit=${limit}`));
      setVerification({ state: 'done', result, atMs: Date.now(), engine: hashEngine() });
    } catch (e) {
      setVerification({ state: 'error', message: e instanceof Error ? e.message : String(e) });
    }
  };

  const types = useMemo(() => [...new Set(events.map((e) => e.type))].sort(), [events]);
  const filtered = useMemo(() => {
    const prefix = typePrefix.trim();
    const text = subjectText.trim().toLowerCase();
    const out: ClusterEvent[] = [];
    for (let i = events.length - 1; i >= 0; i--) {
      const e = events[i]!;
      if (prefix !== '' && !e.type.startsWith(prefix)) continue;
      if (text !== '' && !e.subject.toLowerCase().includes(text)) continue;
      out.push(e);
    }
    return out;
  }, [events, typePrefix, subjectText]);
  const shown = filtered.slice(0, MAX_SHOWN_ROWS);
  const brokenSeq = verification.state === 'done' && !verification.result.ok ? verification.result.brokenAt : undefined;

  return (
    <Page
      name="events"
      title="Events"
      actions={
        <span class="events-conn" data-connection={loadError === undefined ? connection : 'error'}>
          <Badge status={loadError !== undefined ? 'not connected' : connection} tone={loadError !== undefined ? 'bad' : connection === 'live' ? 'good' : 'warn'}>
            {loadError !== undefined ? 'not connected' : connection === 'live' ? (paused ? 'live, paused' : 'live') : connection}
          </Badge>
        </span>
      }
    >
      <VerifyPanel verification={verification} onVerify={() => void verify()} />

      <div class="events-controls">
        <label>
          <span>Type prefix</span>
          <input class="input" type="search" name="type" list="events-types" placeholder="e.g. kv. or sched." value={typePrefix} onInput={(e) => setTypePrefix(e.currentTarget.value)} />
          <datalist id="events-types">
            {typePrefixes(types).map((t) => (
              <option key={t} value={t} />
            ))}
          </datalist>
        </label>
        <label>
          <span>Subject contains</span>
          <input class="input" type="search" name="subject" placeholder="key, node, job…" value={subjectText} onInput={(e) => setSubjectText(e.currentTarget.value)} />
        </label>
        <button type="button" class="button events-pause" data-action="pause" aria-pressed={paused} onClick={togglePause}>
          {paused ? `Resume${held.length > 0 ? ` (${held.length} new)` : ''}` : 'Pause'}
        </button>
      </div>

      {streamNote !== undefined && loadError === undefined && <p class="note events-note" role="status">{streamNote}</p>}

      {loadError !== undefined ? (
        <ErrorBox error={loadError} onRetry={() => setAttempt((a) => a + 1)} />
      ) : connection === 'loading' && events.length === 0 ? (
        <Loading what="events" />
      ) : events.length === 0 ? (
        <Empty title="No events yet">Every change to the cluster (keys, nodes, jobs, autopilot decisions) appears here as it happens.</Empty>
      ) : filtered.length === 0 ? (
        <Empty title="Nothing matches">No event among the {events.length} loaded matches these filters.</Empty>
      ) : (
        <>
          <p class="events-count">
            {filtered.length === events.length ? `${events.length} events` : `${filtered.length} of ${events.length} events`}
            {filtered.length > shown.length ? ` (the newest ${shown.length} shown)` : ''}, newest first
          </p>
          <ol class="events-list" data-table="events">
            {shown.map((e) => (
              <EventRow key={e.seq} event={e} open={expanded === e.seq} broken={e.seq === brokenSeq} onToggle={() => setExpanded(expanded === e.seq ? undefined : e.seq)} />
            ))}
          </ol>
        </>
      )}
    </Page>
  );
}

function EventRow(props: { event: ClusterEvent; open: boolean; broken: boolean; onToggle: () => void }): JSX.Element {
  const e = props.event;
  const at = new Date(e.atMs);
  return (
    <li class={`events-row${props.open ? ' open' : ''}${props.broken ? ' broken' : ''}`} data-row={String(e.seq)} data-type={e.type}>
      <button type="button" class="events-summary" aria-expanded={props.open} onClick={props.onToggle}>
        <span class="events-seq">#{e.seq}</span>
        <time class="events-time" dateTime={at.toISOString()} title={at.toISOString()}>
          {clockTime(at)}
        </time>
        <span class={`events-type events-family-${family(e.type)}`} title={e.type}>
          {e.type}
        </span>
        <span class="events-subject">{e.subject}</span>
        <span class="events-brief">{detailLine(e)}</span>
      </button>
      {props.open && (
        <dl class="events-detail">
          <dt>Time</dt>
          <dd>{at.toISOString()}</dd>
          <dt>Raft index</dt>
          <dd>{e.index}</dd>
          {Object.keys(e.detail)
            .sort()
            .map((k) => (
              <div key={k} class="events-kv">
                <dt>{k}</dt>
                <dd class="mono">{String(e.detail[k])}</dd>
              </div>
            ))}
          <dt>prevHash</dt>
          <dd class="mono hash">{e.prevHash === '' ? '(none: the first event)' : e.prevHash}</dd>
          <dt>hash</dt>
          <dd class="mono hash">{e.hash}</dd>
        </dl>
      )}
    </li>
  );
}

function VerifyPanel(props: { verification: Verification; onVerify: () => void }): JSX.Element {
  const v = props.verification;
  return (
    <div class="events-verify" data-verify={v.state === 'done' ? (v.result.ok ? 'ok' : 'broken') : v.state}>
      <button type="button" class="button button-primary" data-action="verify" disabled={v.state === 'running'} onClick={props.onVerify}>
        {v.state === 'running' ? 'Verifying…' : 'Verify chain'}
      </button>
      <div class="events-verify-result" aria-live="polite">
        {v.state === 'idle' && <span class="hint">Recomputes the sha256 chain over every event the agent keeps, here in the browser (as `sappers events verify`).</span>}
        {v.state === 'running' && <span>Fetching and hashing the event log…</span>}
        {v.state === 'error' && <span class="events-verify-error">Could not verify: {v.message}</span>}
        {v.state === 'done' && <VerifyOutcome result={v.result} atMs={v.atMs} engine={v.engine} />}
      </div>
    </div>
  );
}

function VerifyOutcome(props: { result: VerifyResult; atMs: number; engine: HashEngine }): JSX.Element {
  const r = props.result;
  const anchor = r.anchor.seq === 0 ? 'the start of the log (nothing compacted)' : `seq ${r.anchor.seq}, hash ${short(r.anchor.hash)}`;
  return (
    <>
      {r.ok ? (
        <p>
          <Badge status="passing" tone="good">
            intact
          </Badge>{' '}
          {r.checked === 0 ? 'no events kept to check' : `${r.checked} events verified, seq ${r.anchor.seq + 1}..${r.head.seq}`}
        </p>
      ) : (
        <p>
          <span data-broken-seq={String(r.brokenAt)}>
            <Badge status="critical" tone="bad">
              broken at seq {r.brokenAt}
            </Badge>
          </span>{' '}
          {r.problem} ({r.checked} events fetched)
        </p>
      )}
      <p class="hint">
        Anchor: {anchor}. Head: seq {r.head.seq}
        {r.head.hash === '' ? '' : `, hash ${short(r.head.hash)}`}. Checked at {clockTime(new Date(props.atMs))} with {props.engine === 'web-crypto' ? "the browser's Web Crypto" : "the cluster's own SHA-256 code (this page is not a secure context, so the browser offers no Web Crypto)"}.
      </p>
    </>
  );
}

function keepNewest(list: readonly ClusterEvent[]): readonly ClusterEvent[] {
  return list.length > MAX_KEPT_EVENTS ? list.slice(list.length - MAX_KEPT_EVENTS) : list;
}

/** `kv.put`, `sched.place` -> `kv.`, `sched.`, plus the full types, for the prefix suggestions. */
function typePrefixes(types: readonly string[]): string[] {
  const out = new Set<string>();
  for (const t of types) {
    const dot = t.indexOf('.');
    if (dot > 0) out.add(t.slice(0, dot + 1));
    out.add(t);
  }
  return [...out].sort();
}

/** The type's first part picks a colour (kv, node, sched, ...). */
function family(type: string): string {
  const head = type.split('.')[0] ?? '';
  return /^[a-z]+$/.test(head) ? head : 'other';
}

function detailLine(e: ClusterEvent): string {
  return Object.entries(e.detail)
    .filter(([k]) => k !== 'sha256')
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}

function clockTime(d: Date): string {
  const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

function errorMessage(data: string): string {
  try {
    const parsed = JSON.parse(data) as { message?: unknown };
    return typeof parsed.message === 'string' ? parsed.message : data;
  } catch {
    return data;
  }
}
