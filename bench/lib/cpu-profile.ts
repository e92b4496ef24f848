// CPU profiles of a running Node agent without restarting it, and their summary. The agent is
// started with --inspect-port=127.0.0.1:PORT (nothing listens yet); SIGUSR1 opens the
// inspector there (Node's documented way to attach late), and the V8 sampling profiler runs over
// the DevTools protocol only for the window of interest, so the measured runs before it carry no
// profiler overhead. The summary (self time per function and per area) is pure and tested
// (test/bench/cpu-profile.test.ts). Also: a process's CPU time from /proc, for CPU per operation.

import { clockTicksPerSecond, readCpuTicks } from './child.ts';

/** The parts of V8's .cpuprofile format (Profiler.Profile in the DevTools protocol) used here. */
export interface CpuProfile {
  readonly nodes: ReadonlyArray<{
    readonly id: number;
    readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  }>;
  readonly startTime: number;
  readonly endTime: number;
  readonly samples?: readonly number[];
  /** Microseconds since the previous sample (the first: since startTime). */
  readonly timeDeltas?: readonly number[];
}

export interface SelfTime {
  readonly name: string;
  readonly selfMs: number;
  /** Share of the profiled wall time. */
  readonly percent: number;
}

export interface ProfileSummary {
  readonly wallMs: number;
  /** Sampled time not in "(idle)": the share of the window the thread was busy. */
  readonly busyPercent: number;
  readonly topFunctions: readonly SelfTime[];
  readonly byArea: readonly SelfTime[];
}

/**
 * Where code lives, coarsely: a package under node_modules, a folder of our sources (src/api),
 * Node's own internals (node:internal/...), or V8's pseudo-frames ((garbage collector)).
 */
export function areaOf(url: string, functionName: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const parts = url.slice(nm + '/node_modules/'.length).split('/');
    return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1] ?? ''}` : parts[0]!;
  }
  if (url.startsWith('node:')) {
    const parts = url.slice('node:'.length).split('/');
    return parts[0] === 'internal' && parts.length > 2 ? `node:internal/${parts[1]}` : `node:${parts[0]}`;
  }
  const src = url.lastIndexOf('/src/');
  if (src >= 0) {
    const parts = url.slice(src + 1).split('/');
    return parts.length > 2 ? `${parts[0]}/${parts[1]}` : parts.join('/');
  }
  return url;
}

function shortUrl(url: string): string {
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) return url.slice(nm + '/node_modules/'.length);
  const src = url.lastIndexOf('/src/');
  if (src >= 0) return url.slice(src + 1);
  return url.replace(/^file:\/\//, '');
}

/** Self time per function (name, file, line) and per area, largest first. */
export function summarizeProfile(profile: CpuProfile, top: number): ProfileSummary {
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  // V8 attributes the interval before a sample to that sample (as DevTools does).
  for (let i = 0; i < samples.length; i++) selfUs.set(samples[i]!, (selfUs.get(samples[i]!) ?? 0) + Math.max(0, deltas[i] ?? 0));
  const wallUs = Math.max(1, profile.endTime - profile.startTime);
  const fn = new Map<string, number>();
  const area = new Map<string, number>();
  let idleUs = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (node === undefined) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') idleUs += us;
    const name = url === '' ? functionName || '(anonymous)' : `${functionName || '(anonymous)'} ${shortUrl(url)}:${lineNumber + 1}`;
    fn.set(name, (fn.get(name) ?? 0) + us);
    const a = areaOf(url, functionName);
    area.set(a, (area.get(a) ?? 0) + us);
  }
  const rank = (m: Map<string, number>, n: number): SelfTime[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .slice(0, n)
      .map(([name, us]) => ({ name, selfMs: us / 1000, percent: (us / wallUs) * 100 }));
  const sampledUs = [...selfUs.values()].reduce((s, v) => s + v, 0);
  return {
    wallMs: wallUs / 1000,
    busyPercent: sampledUs === 0 ? 0 : ((sampledUs - idleUs) / wallUs) * 100,
    topFunctions: rank(fn, top),
    byArea: rank(area, top),
  };
}

/** One DevTools-protocol session to an agent's inspector. */
export class InspectorSession {
  readonly #ws: WebSocket;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #nextId = 1;

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.addEventListener('message', (event: MessageEvent) => {
      const msg = JSON.parse(String(event.data)) as { id?: number; result?: unknown; error?: { message: string } };
      if (msg.id === undefined) return;
      const waiter = this.#pending.get(msg.id);
      if (waiter === undefined) return;
      this.#pending.delete(msg.id);
      if (msg.error !== undefined) waiter.reject(new Error(msg.error.message));
      else waiter.resolve(msg.result);
    });
    ws.addEventListener('close', () => {
      for (const w of this.#pending.values()) w.reject(new Error('inspector connection closed'));
      this.#pending.clear();
    });
  }

  /** Opens the inspector of PID (SIGUSR1) on 127.0.0.1:PORT and connects to it. */
  static async attach(pid: number, port: number, timeoutMs: number): Promise<InspectorSession> {
    process.kill(pid, 'SIGUSR1');
    const deadline = performance.now() + timeoutMs;
    let last = 'no answer';
    while (performance.now() < deadline) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/json/list`, { signal: AbortSignal.timeout(1_000) });
        const targets = (await res.json()) as Array<{ webSocketDebuggerUrl?: string }>;
        const url = targets[0]?.webSocketDebuggerUrl;
        if (url !== undefined) {
          const ws = new WebSocket(url);
          await new Promise<void>((resolve, reject) => {
            ws.addEventListener('open', () => resolve(), { once: true });
            ws.addEventListener('error', () => reject(new Error(`cannot connect to ${url}`)), { once: true });
          });
          return new InspectorSession(ws);
        }
        last = 'no debug target listed';
      } catch (e) {
        last = (e as Error).message;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`inspector of pid ${pid} on port ${port} not reachable within ${timeoutMs} ms (${last})`);
  }

  call(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#ws.send(JSON.stringify({ id, method, params }));
    });
  }

  /** Starts the sampling profiler (intervalUs between samples). */
  async startProfiler(intervalUs: number): Promise<void> {
    await this.call('Profiler.enable');
    await this.call('Profiler.setSamplingInterval', { interval: intervalUs });
    await this.call('Profiler.start');
  }

  async stopProfiler(): Promise<CpuProfile> {
    const result = (await this.call('Profiler.stop')) as { profile: CpuProfile };
    await this.call('Profiler.disable');
    return result.profile;
  }

  close(): void {
    this.#ws.close();
  }
}

/** utime + stime of PID in ms (proc(5) fields 14 and 15), or undefined once it is gone. */
export function processCpuMs(pid: number): number | undefined {
  const ticks = readCpuTicks(pid);
  return ticks === undefined ? undefined : (ticks.self / clockTicksPerSecond()) * 1000;
}
