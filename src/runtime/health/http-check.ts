// HTTP check (Consul's "http"): GET the path on the allocation's port. 2xx is passing, 429 Too
// Many Requests is warning (the app is alive but shedding load; Consul does the same), anything
// else critical. The output is the status line and the head of the body, read up to the output
// bound and no further. Redirects are followed only to the same host and port, at most
// maxRedirects times (a trailing-slash redirect is common; a health check wandering off to
// another host is not what the operator configured, and is reported instead).

import { request, type IncomingMessage } from 'node:http';
import { assert } from '../../core/result.ts';
import { MAX_CHECK_OUTPUT_BYTES } from '../../core/health/output.ts';
import type { CheckStatus } from '../../core/health/status.ts';
import { abortMessage, type CheckResult } from './check-result.ts';
import { hostPort } from './tcp-check.ts';

export const DEFAULT_MAX_REDIRECTS = 3;

export interface HttpCheckTarget {
  readonly host: string;
  readonly port: number;
  /** Starts with "/" (job admission checks it). */
  readonly path: string;
  readonly maxRedirects?: number;
  /** Body bytes read for the output (default MAX_CHECK_OUTPUT_BYTES). */
  readonly maxBodyBytes?: number;
}

type Fetched =
  | { readonly kind: 'response'; readonly code: number; readonly message: string; readonly location: string | undefined; readonly body: string; readonly note: string }
  | { readonly kind: 'failed'; readonly message: string };

export async function httpCheck(target: HttpCheckTarget, signal: AbortSignal): Promise<CheckResult> {
  const maxRedirects = target.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  const maxBodyBytes = target.maxBodyBytes ?? MAX_CHECK_OUTPUT_BYTES;
  const origin = `http://${hostPort(target.host, target.port)}`;
  let path = target.path;
  for (let redirects = 0; ; redirects++) {
    const url = `${origin}${path}`;
    const got = await getOnce(target.host, target.port, path, maxBodyBytes, signal);
    if (got.kind === 'failed') return { status: 'critical', output: `HTTP GET ${url}: ${got.message}` };
    const line = `HTTP GET ${url}: ${got.code} ${got.message}${got.note}`;
    if (isRedirect(got.code) && got.location !== undefined) {
      const next = sameOriginPath(origin, url, got.location);
      if (next === undefined) return { status: 'critical', output: `${line}\nredirect to ${got.location} not followed: only redirects to ${origin} are` };
      if (redirects >= maxRedirects) return { status: 'critical', output: `${line}\nstopped after ${maxRedirects} redirects` };
      path = next;
      continue;
    }
    return { status: statusOfCode(got.code), output: got.body === '' ? line : `${line}\n${got.body}`, keep: 'head' };
  }
}

export function statusOfCode(code: number): CheckStatus {
  if (code >= 200 && code <= 299) return 'passing';
  if (code === 429) return 'warning';
  return 'critical';
}

function isRedirect(code: number): boolean {
  return code === 301 || code === 302 || code === 303 || code === 307 || code === 308;
}

/** The path (with query) a Location points to, if it stays on origin; else undefined. */
function sameOriginPath(origin: string, base: string, location: string): string | undefined {
  let next: URL;
  try {
    next = new URL(location, base);
  } catch {
    return undefined;
  }
  if (next.origin !== new URL(origin).origin) return undefined;
  return `${next.pathname}${next.search}`;
}

function getOnce(host: string, port: number, path: string, maxBodyBytes: number, signal: AbortSignal): Promise<Fetched> {
  if (signal.aborted) return Promise.resolve({ kind: 'failed', message: abortMessage(signal) });
  return new Promise((resolve) => {
    let settled = false;
    let response: IncomingMessage | undefined;
    const chunks: Buffer[] = [];
    let bodyBytes = 0;
    const settle = (result: Fetched): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      req.destroy();
      resolve(result);
    };
    const respond = (note: string): void => {
      assert(response !== undefined, 'a response exists before its body is read');
      const body = Buffer.concat(chunks).subarray(0, maxBodyBytes).toString('utf8');
      const location = response.headers.location;
      settle({ kind: 'response', code: response.statusCode ?? 0, message: response.statusMessage ?? '', location, body, note });
    };
    const onAbort = (): void => {
      // Headers in hand: the status code decides; the body is what arrived in time.
      if (response !== undefined) respond(` (body cut short: ${abortMessage(signal)})`);
      else settle({ kind: 'failed', message: abortMessage(signal) });
    };
    // A fresh connection per run (agent: false): no pooled sockets outlive the check.
    const req = request({
      host,
      port,
      path,
      method: 'GET',
      agent: false,
      headers: { 'user-agent': 'Sappers-Health-Check', accept: 'text/plain, text/*, */*', connection: 'close' },
    });
    signal.addEventListener('abort', onAbort, { once: true });
    req.once('error', (e: Error) => {
      if (response !== undefined) respond(` (body cut short: ${e.message})`);
      else settle({ kind: 'failed', message: e.message });
    });
    req.once('response', (res) => {
      response = res;
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        bodyBytes += chunk.length;
        // Enough for the output: stop reading (the rest of a large body is not our business).
        if (bodyBytes >= maxBodyBytes) respond('');
      });
      res.once('end', () => respond(''));
      res.once('error', (e: Error) => respond(` (body cut short: ${e.message})`));
      res.once('close', () => respond(res.complete ? '' : ' (body cut short: connection closed)'));
    });
    req.end();
  });
}
