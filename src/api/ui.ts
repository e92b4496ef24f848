// The web dashboard's static files (issue 7; DESIGN.md, Interfaces: `GET /ui/`):
//   GET /           -> 302 to /ui/
//   GET /ui         -> 302 to /ui/
//   GET /ui/<path>  -> the built file under dist/ui/ (vite's output, `npm run build:ui`);
//                      a path without a file extension that names no file is a client-side
//                      route: index.html; a missing asset is a 404
// These routes need no token (isPublicUiRoute): the app asks the operator for the token itself
// and sends it with each API call; the files hold no cluster data. When the dashboard has not
// been built, every UI route answers 503 saying how to build it.

import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from './errors.ts';

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** Vite names files under assets/ by their content hash, so they can be cached for good. */
const IMMUTABLE = 'public, max-age=31536000, immutable';
/** index.html names the current assets: the browser must ask again each time. */
const REVALIDATE = 'no-cache';
/**
 * The app loads only its own scripts and styles and talks only to this agent. Inline style
 * attributes stay allowed (preact sets styles through the DOM, which CSP does not block, but the
 * bars and the topology use style attributes in the markup).
 */
const CONTENT_SECURITY_POLICY = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

export const NOT_BUILT_MESSAGE = 'the dashboard is not built: run npm run build:ui';

/** The route patterns registered here: requests that matched one skip the token check. */
const UI_ROUTE_URLS: ReadonlySet<string> = new Set(['/', '/ui', '/ui/*']);

/** True for a request that fastify routed to one of the dashboard's routes (its matched pattern, not its raw URL, so no spelling of a URL can reach an API route this way). */
export function isPublicUiRoute(routeUrl: string | undefined): boolean {
  return routeUrl !== undefined && UI_ROUTE_URLS.has(routeUrl);
}

/**
 * Where the built dashboard may be: beside the sources (dist/ui of the checkout, when the agent
 * runs from src/) or beside the bundle (dist/ui next to dist/sappers.mjs). The first that holds
 * an index.html at request time wins, so building while the agent runs works.
 */
export function defaultUiDirs(): string[] {
  return [fileURLToPath(new URL('../../dist/ui/', import.meta.url)), fileURLToPath(new URL('./ui/', import.meta.url))];
}

export interface UiRoutesOptions {
  /** Candidate directories of the built dashboard, first match wins (defaultUiDirs()). */
  readonly dirs?: readonly string[];
}

export function registerUiRoutes(app: FastifyInstance, options: UiRoutesOptions = {}): void {
  const dirs = (options.dirs ?? defaultUiDirs()).map((d) => resolve(d));
  const toUi = (_request: FastifyRequest, reply: FastifyReply): FastifyReply => reply.redirect('/ui/', 302);
  app.get('/', toUi);
  app.get('/ui', toUi);
  // Also matches /ui/ itself, with an empty path: the index.
  app.get('/ui/*', async (request, reply) => {
    const root = await builtDir(dirs);
    const relative = (request.params as { '*': string })['*'];
    if (relative === '') return sendIndex(reply, root);
    const file = insideRoot(root, relative);
    if (file === undefined) throw new ApiError('not-found', `no file ${JSON.stringify(relative)} in the dashboard`);
    const info = await stat(file).catch(() => undefined);
    if (info?.isFile() === true) return sendFile(reply, file, info.size, relative.startsWith('assets/') ? IMMUTABLE : REVALIDATE);
    // An asset (it has an extension) that is not there is an error the browser should see;
    // anything else is a route of the app itself, which index.html handles.
    if (extname(relative) !== '' || info !== undefined) throw new ApiError('not-found', `no file ${JSON.stringify(relative)} in the dashboard`);
    return sendIndex(reply, root);
  });
}

async function builtDir(dirs: readonly string[]): Promise<string> {
  for (const dir of dirs) {
    const index = await stat(resolve(dir, 'index.html')).catch(() => undefined);
    if (index?.isFile() === true) return dir;
  }
  throw new ApiError('unavailable', NOT_BUILT_MESSAGE);
}

/**
 * The file a request path names, or undefined when it would leave the root: `..` segments,
 * absolute paths and NUL bytes never reach the file system. Fastify hands the wildcard over
 * already percent-decoded, so `%2e%2e%2f` arrives here as `../` and is caught too.
 */
export function insideRoot(root: string, relative: string): string | undefined {
  if (relative.includes('\0') || relative.includes('\\')) return undefined;
  const file = resolve(root, '.' + sep + relative);
  return file.startsWith(root + sep) ? file : undefined;
}

async function sendIndex(reply: FastifyReply, root: string): Promise<FastifyReply> {
  const file = resolve(root, 'index.html');
  const info = await stat(file);
  return sendFile(reply, file, info.size, REVALIDATE);
}

function sendFile(reply: FastifyReply, file: string, sizeBytes: number, cacheControl: string): FastifyReply {
  const type = CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
  reply.header('content-type', type).header('content-length', sizeBytes).header('cache-control', cacheControl).header('x-content-type-options', 'nosniff');
  if (type.startsWith('text/html')) reply.header('content-security-policy', CONTENT_SECURITY_POLICY).header('referrer-policy', 'no-referrer');
  return reply.send(createReadStream(file));
}
