// The hash router's matching, apart from its hook (router.ts) so Node tests can load it
// without preact. The app's location is the part of the URL after '#' ("#/jobs/web"), so the
// agent serves one index.html and a reload or a shared link opens the same page. Patterns are
// "#/jobs/:name"; a matched parameter is percent-decoded. A "?query" after the path is kept
// apart and does not take part in matching.

export interface Match<R> {
  readonly route: R;
  readonly params: Readonly<Record<string, string>>;
}

export interface RouteLocation {
  /** The hash without its query, "#/" at least. */
  readonly path: string;
  readonly query: URLSearchParams;
}

export function parseHash(hash: string): RouteLocation {
  const raw = hash === '' || hash === '#' ? '#/' : hash.startsWith('#') ? hash : `#${hash}`;
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  return { path: path === '#' ? '#/' : path, query: new URLSearchParams(q < 0 ? '' : raw.slice(q + 1)) };
}

/** The first route whose pattern matches the path, with its parameters; undefined for none. */
export function matchPath<R extends { readonly pattern: string }>(routes: readonly R[], path: string): Match<R> | undefined {
  const parts = trimSlash(path).split('/');
  for (const route of routes) {
    const pattern = trimSlash(route.pattern).split('/');
    if (pattern.length !== parts.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < pattern.length && ok; i++) {
      const want = pattern[i]!;
      const got = parts[i]!;
      if (want.startsWith(':')) {
        if (got === '') ok = false;
        else params[want.slice(1)] = safeDecode(got);
      } else if (want !== got) ok = false;
    }
    if (ok) return { route, params };
  }
  return undefined;
}

function trimSlash(path: string): string {
  return path.length > 2 && path.endsWith('/') ? path.slice(0, -1) : path;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** A link target for an app path: href('/jobs/' + name) -> "#/jobs/<name, encoded>". */
export function href(...segments: readonly string[]): string {
  return `#/${segments.map((s) => encodeURIComponent(s)).join('/')}`;
}
