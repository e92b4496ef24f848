// The shell: decides whether a login is needed, then shows the nav, the cluster's state, the
// theme toggle and the page of the current location, with one live event stream for all pages.
//
// Login: a secure cluster's API wants the management token; --dev and --insecure clusters want
// none. The shell first asks GET /v1/status without a token: answered means open (no login);
// 401 means the token is needed. The token is kept in sessionStorage (api.ts) and checked with
// GET /v1/status before the app shows anything. Any later 401/403 logs out with the agent's
// message (api.ts calls the handler registered here).
import type { JSX } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { ApiError, apiGet, apiIsOpen, getToken, setAuthFailureHandler, setToken } from './api.ts';
import { Badge } from './components/badge.tsx';
import { ErrorBox } from './components/error-box.tsx';
import { Loading } from './components/loading.tsx';
import { FlapTracker } from './flaps.ts';
import { FlapContext, LiveContext, useLive, useStreamState } from './hooks.ts';
import { LiveHub } from './live.ts';
import { NAV, useCurrentRoute } from './routes.ts';
import type { Member } from './types.ts';
import { applyTheme, effectiveTheme, loadTheme, nextTheme, type ThemeChoice } from './theme.ts';

type Access =
  | { readonly kind: 'checking' }
  /** The API answers without a token (--dev, --insecure). */
  | { readonly kind: 'open' }
  /** Logged in with a token that the agent accepted. */
  | { readonly kind: 'token' }
  | { readonly kind: 'login'; readonly message: string | undefined }
  | { readonly kind: 'unreachable'; readonly error: unknown };

interface StatusLite {
  readonly nodeId: string;
  readonly state: string;
  readonly leader: string | null;
  readonly security: { readonly mode: string };
}

export function App(): JSX.Element {
  const [access, setAccess] = useState<Access>({ kind: 'checking' });
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    setAuthFailureHandler((e) => setAccess({ kind: 'login', message: e.message }));
    return () => setAuthFailureHandler(undefined);
  }, []);

  useEffect(() => {
    let cancelled = false;
    const decide = async (): Promise<Access> => {
      if (await apiIsOpen()) return { kind: 'open' };
      if (getToken() === null) return { kind: 'login', message: undefined };
      try {
        await apiGet('/v1/status');
        return { kind: 'token' };
      } catch (e) {
        if (e instanceof ApiError && (e.status === 401 || e.status === 403)) return { kind: 'login', message: e.message };
        // The token may be fine and the cluster busy: let the pages say what fails.
        return { kind: 'token' };
      }
    };
    setAccess({ kind: 'checking' });
    decide().then(
      (a) => {
        if (!cancelled) setAccess(a);
      },
      (e: unknown) => {
        if (!cancelled) setAccess({ kind: 'unreachable', error: e });
      },
    );
    return () => {
      cancelled = true;
    };
  }, [attempt]);

  switch (access.kind) {
    case 'checking':
      return (
        <main class="center-screen">
          <Loading what="the dashboard" />
        </main>
      );
    case 'unreachable':
      return (
        <main class="center-screen">
          <ErrorBox error={access.error} onRetry={() => setAttempt((n) => n + 1)} />
        </main>
      );
    case 'login':
      return <Login message={access.message} onLoggedIn={() => setAccess({ kind: 'token' })} />;
    case 'open':
    case 'token':
      return (
        <Shell
          withToken={access.kind === 'token'}
          onLogout={() => {
            setToken(null);
            setAccess({ kind: 'login', message: 'Logged out.' });
          }}
        />
      );
  }
}

function Login(props: { readonly message: string | undefined; readonly onLoggedIn: () => void }): JSX.Element {
  const [token, setTokenText] = useState('');
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState(props.message);
  useEffect(() => setMessage(props.message), [props.message]);

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    const given = token.trim();
    if (given === '') {
      setMessage('Enter the management token.');
      return;
    }
    setBusy(true);
    setToken(given);
    try {
      await apiGet('/v1/status');
      props.onLoggedIn();
    } catch (err) {
      // A refused token already logged out through the handler, which set the message; say it
      // here too in case the handler's message is the same as before (no re-render).
      setToken(null);
      setMessage(err instanceof ApiError && (err.status === 401 || err.status === 403) ? err.message : `Could not check the token: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="center-screen">
      <form class="login card" data-login onSubmit={(e) => void submit(e)}>
        <h1 class="brand-title">
          <Logo /> Sappers
        </h1>
        <p>
          This cluster's API wants its <strong>management token</strong>. The node that started the cluster wrote it to its data directory (<code>&lt;data-dir&gt;/management-token</code>, or the file named by
          <code>--management-token-file</code>).
        </p>
        <label class="field">
          <span>Management token</span>
          <input class="input" name="token" type="password" autocomplete="off" spellcheck={false} value={token} onInput={(e) => setTokenText(e.currentTarget.value)} disabled={busy} required />
        </label>
        {message === undefined ? null : (
          <p class="login-error" role="alert">
            {message}
          </p>
        )}
        <button type="submit" class="button button-primary" disabled={busy}>
          {busy ? 'Checking…' : 'Log in'}
        </button>
        <p class="hint">The token stays in this browser tab only (session storage) and is sent with each API request; closing the tab forgets it.</p>
      </form>
    </main>
  );
}

function Shell(props: { readonly withToken: boolean; readonly onLogout: () => void }): JSX.Element {
  const hub = useMemo(() => new LiveHub(), []);
  const flaps = useMemo(() => new FlapTracker(), []);
  useEffect(() => {
    hub.start();
    return () => hub.stop();
  }, [hub]);
  const { path, match } = useCurrentRoute();
  const [menuOpen, setMenuOpen] = useState(false);
  const [theme, setTheme] = useState<ThemeChoice>(loadTheme);
  useEffect(() => setMenuOpen(false), [path]);

  const PageComponent = match?.route.page;
  return (
    <LiveContext.Provider value={hub}>
      <FlapContext.Provider value={flaps}>
      <MemberWatch tracker={flaps} />
      <div class={`shell${menuOpen ? ' menu-open' : ''}`}>
        <header class="topbar">
          <button type="button" class="button menu-button" aria-label="Menu" title="Pages" aria-expanded={menuOpen} aria-controls="nav" onClick={() => setMenuOpen((o) => !o)} data-menu>
            <span aria-hidden="true">☰</span>
            <span class="button-text">Menu</span>
          </button>
          <a class="brand" href="#/">
            <Logo /> Sappers
          </a>
          <ClusterState />
          <div class="topbar-actions">
            <button
              type="button"
              class="button"
              onClick={() => {
                const next = nextTheme(theme);
                applyTheme(next);
                setTheme(next);
              }}
              title={theme === 'auto' ? 'Theme follows the system; click to switch' : `Theme: ${theme} (remembered); click to switch`}
              aria-label={effectiveTheme(theme) === 'dark' ? 'Switch to the light theme' : 'Switch to the dark theme'}
              data-theme-toggle
            >
              {effectiveTheme(theme) === 'dark' ? (
                <>
                  <span aria-hidden="true">☀</span>
                  <span class="button-text">Light</span>
                </>
              ) : (
                <>
                  <span aria-hidden="true">☾</span>
                  <span class="button-text">Dark</span>
                </>
              )}
            </button>
            {props.withToken ? (
              <button type="button" class="button" onClick={props.onLogout} data-logout>
                Log out
              </button>
            ) : null}
          </div>
        </header>
        <nav id="nav" class="nav" aria-label="Pages">
          <ul>
            {NAV.map((n) => (
              <li key={n.section}>
                <a href={n.href} class={match?.route.section === n.section ? 'current' : undefined} aria-current={match?.route.section === n.section ? 'page' : undefined}>
                  {n.label}
                </a>
              </li>
            ))}
          </ul>
          <StreamNote />
        </nav>
        <main class="content" id="content">
          {PageComponent === undefined || match === undefined ? <NoSuchPage path={path} /> : <PageComponent key={path} {...match.params} />}
        </main>
      </div>
      </FlapContext.Provider>
    </LiveContext.Provider>
  );
}

/** The cluster's state as this agent sees it, in every page's top bar. */
function ClusterState(): JSX.Element | null {
  const status = useLive<StatusLite>('/v1/status');
  if (status.data === undefined) return status.error === undefined ? null : <Badge status="unknown" title={status.error.message}>agent unreachable</Badge>;
  const s = status.data;
  return (
    <span class="cluster-state" title={`this agent: ${s.nodeId}; leader: ${s.leader ?? 'none'}; security: ${s.security.mode}`}>
      <Badge status={s.state} />
      {s.security.mode === 'secure' ? null : <span class="mode-note">{s.security.mode}</span>}
    </span>
  );
}

/**
 * Feeds the flap tracker with the members list on every page (the shared stream of
 * /v1/members, sent again on every change), so the overview can tell a flapping node from what was seen while
 * the operator looked elsewhere.
 */
function MemberWatch(props: { readonly tracker: FlapTracker }): null {
  const members = useLive<Member[]>('/v1/members');
  useEffect(() => {
    if (members.data !== undefined) props.tracker.observe(members.data, Date.now());
  }, [members.data, props.tracker]);
  return null;
}

/** Whether live updates flow; shown under the nav. */
function StreamNote(): JSX.Element {
  const { state, error } = useStreamState();
  const text = state === 'live' ? 'Live' : state === 'connecting' ? 'Connecting…' : state === 'reconnecting' ? 'Reconnecting…' : 'Stopped';
  return (
    <p class={`stream-note stream-${state}`} title={error instanceof Error ? error.message : 'updates from the cluster event stream'} data-stream={state}>
      <span class="dot" aria-hidden="true" /> {text}
    </p>
  );
}

function NoSuchPage(props: { readonly path: string }): JSX.Element {
  return (
    <section class="page" data-page="not-found">
      <header class="page-head">
        <h1>No such page</h1>
      </header>
      <p>
        Nothing lives at <code>{props.path}</code>. <a href="#/">Go to the overview</a>.
      </p>
    </section>
  );
}

function Logo(): JSX.Element {
  return (
    <svg class="logo" viewBox="0 0 32 32" width="22" height="22" aria-hidden="true">
      <circle cx="16" cy="7" r="4.5" />
      <circle cx="7" cy="23" r="4.5" />
      <circle cx="25" cy="23" r="4.5" />
      <path d="M16 7 L7 23 L25 23 Z" fill="none" stroke-width="2" />
    </svg>
  );
}
