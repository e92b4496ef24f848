// The KV load generator shared by every system under test (bench/kv.bench.ts): N concurrent
// clients, each with its own keep-alive connection (a node:http Agent with one socket), issuing
// one request at a time for a duration and recording each latency. Sappers and etcd go through
// this same code path (raw node:http, no client library), so client-side cost is equal; only
// the request each system's protocol builds differs (bench/lib/kv-protocols.ts).
//
// Also here: the failover probe (the earliest write that succeeds after a kill) and the pure
// result arithmetic (percentiles, throughput), which test/bench/kv-load.test.ts covers.
import { Agent, request as httpRequest } from 'node:http';
import { performance } from 'node:perf_hooks';

export interface HttpTarget {
  readonly host: string;
  readonly port: number;
}

/** One HTTP request, as a system's protocol builds it. */
export interface HttpRequestSpec {
  readonly method: 'GET' | 'PUT' | 'POST';
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer | undefined;
}

/** A request and how to judge its answer: undefined when it succeeded, else why not. */
export interface LoadOp {
  readonly spec: HttpRequestSpec;
  readonly check: (status: number, body: Buffer) => string | undefined;
}

export interface HttpResponse {
  readonly status: number;
  readonly body: Buffer;
}

/** Bounded answer size: KV answers here are well under 1 KiB; a huge one is an error. */
const MAX_RESPONSE_BYTES = 1024 * 1024;
/** Distinct error messages kept per run (with counts), for the notes. */
const MAX_ERROR_KINDS = 8;

/** Sends SPEC to TARGET through AGENT; rejects on a network error, an oversize answer or the timeout. */
export function send(agent: Agent, target: HttpTarget, spec: HttpRequestSpec, timeoutMs: number): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...spec.headers };
    if (spec.body !== undefined) headers['content-length'] = spec.body.length;
    const req = httpRequest({ agent, host: target.host, port: target.port, method: spec.method, path: spec.path, headers, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_RESPONSE_BYTES) {
          res.destroy(new Error(`answer larger than ${MAX_RESPONSE_BYTES} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(spec.body);
  });
}

export interface LoadOptions {
  /** Client i talks to targets[i % targets.length] for the whole run. */
  readonly targets: readonly HttpTarget[];
  readonly clients: number;
  /** Requests before the window are not counted (connections open, caches and JIT warm). */
  readonly warmupMs: number;
  readonly durationMs: number;
  /** The request client CLIENT makes for its SEQ-th operation. */
  readonly op: (client: number, seq: number) => LoadOp;
  readonly timeoutMs: number;
  /** A client pauses this long after a failure (a dead node must not become a busy loop). */
  readonly errorPauseMs: number;
  /** Called every sampleEveryMs while the window runs (e.g. to read the servers' RSS). */
  readonly onSample?: () => void;
  readonly sampleEveryMs?: number;
  /** Ends the run early (the window then ends at the abort). */
  readonly stop?: AbortSignal;
}

export interface LoadResult {
  readonly clients: number;
  /** Operations that completed successfully inside the window. */
  readonly ops: number;
  readonly errors: number;
  /** Distinct error messages with their counts, at most MAX_ERROR_KINDS. */
  readonly errorKinds: ReadonlyMap<string, number>;
  readonly windowMs: number;
  /** Latencies of the successful operations in the window, in ms. */
  readonly latenciesMs: readonly number[];
  /** CPU time of this (load generator) process during the window, ms (user + system). */
  readonly loadGenCpuMs: number;
}

/** Runs the load and resolves once every client has finished its last request. */
export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  if (o.targets.length === 0) throw new Error('runLoad: no targets');
  if (!Number.isInteger(o.clients) || o.clients < 1) throw new Error(`runLoad: clients must be a positive integer, got ${o.clients}`);
  const agents = Array.from({ length: o.clients }, () => new Agent({ keepAlive: true, maxSockets: 1 }));
  const start = performance.now();
  const windowStart = start + o.warmupMs;
  const windowEnd = windowStart + o.durationMs;
  const latenciesMs: number[] = [];
  const errorKinds = new Map<string, number>();
  let errors = 0;
  let cpuAtWindow: NodeJS.CpuUsage | undefined;
  const windowTimer = setTimeout(() => {
    cpuAtWindow = process.cpuUsage();
  }, o.warmupMs);
  let sampler: NodeJS.Timeout | undefined;
  if (o.onSample !== undefined) {
    const sample = o.onSample;
    const every = o.sampleEveryMs ?? 500;
    const first = setTimeout(() => {
      sample();
      sampler = setInterval(sample, every);
    }, o.warmupMs);
    sampler = first;
  }
  const noteError = (message: string, at: number): void => {
    if (at < windowStart || at > windowEnd) return;
    errors += 1;
    const kind = message.slice(0, 200);
    if (errorKinds.has(kind) || errorKinds.size < MAX_ERROR_KINDS) errorKinds.set(kind, (errorKinds.get(kind) ?? 0) + 1);
  };
  const client = async (index: number): Promise<void> => {
    const agent = agents[index]!;
    const target = o.targets[index % o.targets.length]!;
    for (let seq = 0; performance.now() < windowEnd && o.stop?.aborted !== true; seq++) {
      const op = o.op(index, seq);
      const t0 = performance.now();
      let failure: string | undefined;
      try {
        const res = await send(agent, target, op.spec, o.timeoutMs);
        failure = op.check(res.status, res.body);
      } catch (e) {
        failure = (e as Error).message;
      }
      const t1 = performance.now();
      if (failure === undefined) {
        if (t0 >= windowStart && t1 <= windowEnd) latenciesMs.push(t1 - t0);
      } else {
        noteError(failure, t1);
        await pause(o.errorPauseMs);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: o.clients }, (_, i) => client(i)));
  } finally {
    clearTimeout(windowTimer);
    // Node's timer handles are one kind: clearTimeout stops the first delay or the interval.
    if (sampler !== undefined) clearTimeout(sampler);
    for (const a of agents) a.destroy();
  }
  const cpu = process.cpuUsage(cpuAtWindow);
  // Stopped early, the window ends at the stop; else it is exactly the duration asked for.
  const now = performance.now();
  const windowMs = now >= windowEnd ? o.durationMs : Math.max(0, now - windowStart);
  return { clients: o.clients, ops: latenciesMs.length, errors, errorKinds, windowMs, latenciesMs, loadGenCpuMs: cpuAtWindow === undefined ? Number.NaN : (cpu.user + cpu.system) / 1000 };
}

export interface LoadSummary {
  readonly opsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly meanMs: number;
}

/** Throughput and latency percentiles of a run; NaN where there were no operations. */
export function summarize(result: Pick<LoadResult, 'ops' | 'windowMs' | 'latenciesMs'>): LoadSummary {
  const sorted = [...result.latenciesMs].sort((a, b) => a - b);
  const mean = sorted.length === 0 ? Number.NaN : sorted.reduce((s, v) => s + v, 0) / sorted.length;
  return {
    opsPerSecond: result.windowMs > 0 ? (result.ops / result.windowMs) * 1000 : Number.NaN,
    p50Ms: percentileOfSorted(sorted, 50),
    p99Ms: percentileOfSorted(sorted, 99),
    maxMs: sorted.length === 0 ? Number.NaN : sorted[sorted.length - 1]!,
    meanMs: mean,
  };
}

/**
 * The nearest-rank percentile (the smallest value with at least P% of the values at or below
 * it) of values sorted ascending; NaN for none. Nearest rank never invents a latency that was
 * not measured, unlike interpolation.
 */
export function percentileOfSorted(sorted: readonly number[], p: number): number {
  if (!(p > 0 && p <= 100)) throw new Error(`percentile must be in (0, 100], got ${p}`);
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function median(values: readonly number[]): number {
  return percentileOfSorted([...values].sort((a, b) => a - b), 50);
}

export interface ProbeOptions {
  /** Probes alternate over these (the surviving nodes). */
  readonly targets: readonly HttpTarget[];
  /** Only probes started at or after this performance.now() count (the kill). */
  readonly fromMs: number;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Probes in flight at most; a new one waits for a free slot (each holds a socket). */
  readonly maxInFlight: number;
  /** Give up this long after fromMs. */
  readonly deadlineMs: number;
  readonly op: (seq: number) => LoadOp;
}

export interface ProbeResult {
  /** ms from fromMs until the first probe (started after fromMs) succeeded; undefined if none did. */
  readonly recoveredAfterMs: number | undefined;
  readonly probes: number;
  readonly failures: number;
  /** The last failure before the success, e.g. "503 no-leader". */
  readonly lastFailure: string | undefined;
}

/**
 * Starts an independent write every intervalMs (not one after another), so a request stuck on
 * a dead leader does not delay the measurement: the answer is when the cluster first accepted a
 * write, to within intervalMs, whatever each system's own request timeout is.
 */
export function probeUntilWritable(o: ProbeOptions): Promise<ProbeResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: o.maxInFlight });
  return new Promise((resolve) => {
    let seq = 0;
    let inFlight = 0;
    let failures = 0;
    let lastFailure: string | undefined;
    let done = false;
    const finish = (recoveredAfterMs: number | undefined): void => {
      if (done) return;
      done = true;
      clearInterval(timer);
      clearTimeout(deadline);
      agent.destroy();
      resolve({ recoveredAfterMs, probes: seq, failures, lastFailure });
    };
    const launch = (): void => {
      if (done || inFlight >= o.maxInFlight) return;
      const t0 = performance.now();
      if (t0 < o.fromMs) return;
      const op = o.op(seq);
      const target = o.targets[seq % o.targets.length]!;
      seq += 1;
      inFlight += 1;
      send(agent, target, op.spec, o.timeoutMs).then(
        (res) => {
          inFlight -= 1;
          const failure = op.check(res.status, res.body);
          if (failure === undefined) finish(performance.now() - o.fromMs);
          else {
            failures += 1;
            lastFailure = failure;
          }
        },
        (e: unknown) => {
          inFlight -= 1;
          failures += 1;
          lastFailure = (e as Error).message;
        },
      );
    };
    const timer = setInterval(launch, o.intervalMs);
    const deadline = setTimeout(() => finish(undefined), Math.max(0, o.fromMs + o.deadlineMs - performance.now()));
    launch();
  });
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
