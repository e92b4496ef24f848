// The dashboard's only way to the cluster: the public HTTP API of the agent that served it
// (same origin, paths like /v1/members). Every request carries `Authorization: Bearer <token>`
// when the operator logged in; the token lives in sessionStorage only (gone with the tab, never
// in a URL, never in localStorage). A 401 or 403 logs out: the shell shows the login form with
// the server's message (see setAuthFailureHandler).

const TOKEN_KEY = 'sappers.token';
/** Reconnect delays of a broken stream: doubled from the first to the last, reset once open. */
const STREAM_RETRY_FIRST_MS = 500;
const STREAM_RETRY_MAX_MS = 15_000;
/** One SSE event larger than this is a broken stream (the server's events are a few KB). */
const MAX_SSE_EVENT_CHARS = 4 * 1024 * 1024;

/** An API failure: the HTTP status and the `{error: {code, message}}` the agent sent. Status 0 means the agent could not be reached. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

export function getToken(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    // Storage can be disabled (privacy settings); then nobody is logged in.
    return null;
  }
}

/** Stores the token for this tab; null logs out. */
export function setToken(token: string | null): void {
  try {
    if (token === null) sessionStorage.removeItem(TOKEN_KEY);
    else sessionStorage.setItem(TOKEN_KEY, token);
  } catch {
    // Nothing to keep it in: the next request will ask again.
  }
}

/**
 * The shell's logout, called with the error of any request the agent refused for its token
 * (401 or 403). A page never handles these itself. The one piece of module state here: the
 * contract's functions are free functions, so the shell registers its handler once at start.
 */
let authFailureHandler: ((error: ApiError) => void) | undefined;

export function setAuthFailureHandler(handler: ((error: ApiError) => void) | undefined): void {
  authFailureHandler = handler;
}

/** A request body (the DOM's BodyInit; spelled this way so Node's types, used by the unit tests, know it too). */
type RequestBody = NonNullable<RequestInit['body']>;

function isAuthFailure(status: number): boolean {
  return status === 401 || status === 403;
}

function headers(accept: string, extra?: Record<string, string>): Record<string, string> {
  const h: Record<string, string> = { accept, ...extra };
  const token = getToken();
  if (token !== null && token !== '') h['authorization'] = `Bearer ${token}`;
  return h;
}

/** Turns a non-2xx response into an ApiError (and logs out on 401/403). */
async function failure(response: Response): Promise<ApiError> {
  let code = `http-${response.status}`;
  let message = `${response.status} ${response.statusText}`.trim();
  const text = await response.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    if (typeof body.error?.code === 'string') code = body.error.code;
    if (typeof body.error?.message === 'string') message = body.error.message;
  } catch {
    if (text !== '' && text.length < 500) message = text;
  }
  const error = new ApiError(response.status, code, message);
  if (isAuthFailure(response.status)) {
    setToken(null);
    authFailureHandler?.(error);
  }
  return error;
}

function unreachable(e: unknown): ApiError {
  const why = e instanceof Error ? e.message : String(e);
  return new ApiError(0, 'unreachable', `cannot reach the agent (${why}); is it running?`);
}

async function request(method: string, path: string, init: { headers: Record<string, string>; body?: RequestBody }, signal?: AbortSignal): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(path, { method, headers: init.headers, ...(init.body === undefined ? {} : { body: init.body }), ...(signal === undefined ? {} : { signal }), cache: 'no-store', credentials: 'same-origin' });
  } catch (e) {
    if (signal?.aborted === true) throw e;
    throw unreachable(e);
  }
  if (!response.ok) throw await failure(response);
  return response;
}

async function parse<T>(response: Response): Promise<T> {
  const type = response.headers.get('content-type') ?? '';
  if (type.includes('application/json')) return (await response.json()) as T;
  // Raw values (GET /v1/kv/<key>?raw) come back as text.
  return (await response.text()) as T;
}

/** GET a JSON route, e.g. apiGet<MemberView[]>('/v1/members'). Throws ApiError. */
export async function apiGet<T>(path: string): Promise<T> {
  return parse<T>(await request('GET', path, { headers: headers('application/json') }));
}

/**
 * A write. Objects go as JSON; a string or bytes go as they are (the KV value of
 * PUT /v1/kv/<key> is the raw body). Throws ApiError.
 */
export async function apiSend<T>(method: 'PUT' | 'POST' | 'DELETE', path: string, body?: unknown | Uint8Array | string): Promise<T> {
  let init: { headers: Record<string, string>; body?: RequestBody };
  if (body === undefined) init = { headers: headers('application/json') };
  else if (typeof body === 'string') init = { headers: headers('application/json', { 'content-type': 'text/plain; charset=utf-8' }), body };
  else if (body instanceof Uint8Array) init = { headers: headers('application/json', { 'content-type': 'application/octet-stream' }), body: body as Uint8Array<ArrayBuffer> };
  else init = { headers: headers('application/json', { 'content-type': 'application/json' }), body: JSON.stringify(body) };
  return parse<T>(await request(method, path, init));
}

/**
 * Whether the agent answers the API without a token (a --dev or --insecure cluster): asks
 * GET /v1/status with no Authorization header. true: open; false: it wants the token. Throws
 * ApiError for anything else (unreachable, 5xx).
 */
export async function apiIsOpen(): Promise<boolean> {
  let response: Response;
  try {
    response = await fetch('/v1/status', { headers: { accept: 'application/json' }, cache: 'no-store' });
  } catch (e) {
    throw unreachable(e);
  }
  if (response.ok) return true;
  if (response.status === 401) return false;
  // Not failure(): this probe carried no token, so a refusal must not log anyone out.
  const text = await response.text().catch(() => '');
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = JSON.parse(text) as { error?: { message?: unknown } };
    if (typeof body.error?.message === 'string') message = body.error.message;
  } catch {
    // keep the status line
  }
  throw new ApiError(response.status, 'probe-failed', message);
}

export interface StreamMessage {
  readonly event: string;
  readonly data: string;
  readonly id: string | undefined;
}

export interface StreamOptions {
  /** Builds the path to reconnect to from the last event id seen (e.g. `/v1/events?from=${Number(id) + 1}`). Without it, or before any id, the original path is used again. */
  readonly resume?: (lastId: string) => string;
  readonly onError?: (e: unknown) => void;
  readonly onOpen?: () => void;
}

/**
 * Server-sent events read over fetch, since EventSource cannot send the Authorization header
 * (and the token never goes in a URL). Format: lines `event:`, `id:`, `data:`, `: comment`,
 * an empty line ends an event (HTML Living Standard, "Server-sent events", parsing).
 * Reconnects after an error or the end of the stream with a doubling delay; a 401/403 logs out
 * and stops. Returns the function that closes the stream for good.
 */
export function openStream(path: string, onMessage: (m: StreamMessage) => void, options: StreamOptions = {}): () => void {
  const abort = new AbortController();
  let lastId: string | undefined;
  let retryMs = STREAM_RETRY_FIRST_MS;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;

  const connect = async (): Promise<void> => {
    const target = lastId !== undefined && options.resume !== undefined ? options.resume(lastId) : path;
    try {
      const response = await request('GET', target, { headers: headers('text/event-stream') }, abort.signal);
      if (response.body === null) throw new ApiError(0, 'no-body', 'the stream has no body');
      retryMs = STREAM_RETRY_FIRST_MS;
      options.onOpen?.();
      await readEvents(response.body, abort.signal, (m) => {
        if (m.id !== undefined) lastId = m.id;
        onMessage(m);
      });
      if (abort.signal.aborted) return;
      // The server ended the stream (a restart, a slow-consumer cut): pick it up again.
      options.onError?.(new ApiError(0, 'stream-ended', 'the event stream ended; reconnecting'));
    } catch (e) {
      if (abort.signal.aborted) return;
      options.onError?.(e);
      if (e instanceof ApiError && isAuthFailure(e.status)) return;
    }
    retryTimer = setTimeout(() => void connect(), retryMs);
    retryMs = Math.min(retryMs * 2, STREAM_RETRY_MAX_MS);
  };
  void connect();
  return () => {
    abort.abort();
    if (retryTimer !== undefined) clearTimeout(retryTimer);
  };
}

async function readEvents(body: ReadableStream<Uint8Array>, signal: AbortSignal, emit: (m: StreamMessage) => void): Promise<void> {
  // (The DOM typings' TextDecoderStream takes any BufferSource, which pipeThrough's types reject.)
  const reader = body.pipeThrough(new TextDecoderStream() as unknown as ReadableWritablePair<string, Uint8Array>).getReader();
  signal.addEventListener('abort', () => void reader.cancel().catch(() => undefined), { once: true });
  const parser = new SseParser(emit);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      parser.push(value);
    }
  } catch (e) {
    if (signal.aborted) return;
    throw e;
  } finally {
    reader.releaseLock();
  }
}

/** Incremental SSE parser: feed it text as it arrives, it emits each complete event. */
export class SseParser {
  readonly #emit: (m: StreamMessage) => void;
  #buffer = '';
  #event = '';
  #data: string[] = [];
  #dataChars = 0;
  #id: string | undefined;

  constructor(emit: (m: StreamMessage) => void) {
    this.#emit = emit;
  }

  push(text: string): void {
    this.#buffer += text;
    for (;;) {
      const end = this.#buffer.search(/\r\n|\r|\n/);
      if (end < 0) break;
      // A CR that ends the text so far may be the first half of a CRLF: wait for the next chunk.
      if (end === this.#buffer.length - 1 && this.#buffer[end] === '\r') break;
      const line = this.#buffer.slice(0, end);
      const eolLength = this.#buffer.startsWith('\r\n', end) ? 2 : 1;
      this.#buffer = this.#buffer.slice(end + eolLength);
      this.#line(line);
    }
    if (this.#buffer.length + this.#dataChars > MAX_SSE_EVENT_CHARS) throw new ApiError(0, 'event-too-large', `an event of the stream exceeds ${MAX_SSE_EVENT_CHARS} characters`);
  }

  #line(line: string): void {
    if (line === '') {
      if (this.#data.length > 0) this.#emit({ event: this.#event === '' ? 'message' : this.#event, data: this.#data.join('\n'), id: this.#id });
      this.#event = '';
      this.#data = [];
      this.#dataChars = 0;
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.#event = value;
    else if (field === 'data') {
      this.#data.push(value);
      this.#dataChars += value.length;
    } else if (field === 'id' && !value.includes('\0')) this.#id = value;
  }
}
