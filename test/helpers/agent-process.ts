// Starts real agent processes for multi-process tests and stops them, whatever happens.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

export const CLI = fileURLToPath(new URL('../../src/cli/bin.ts', import.meta.url));

export interface AgentProcess {
  readonly child: ChildProcess;
  readonly httpPort: number;
  readonly addr: string;
  readonly nodeId: string;
  /** Every stdout line so far (JSON log lines). */
  readonly lines: string[];
  /** Sends a signal and resolves with the exit code (or signal name). */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

/** Runs `sappers agent ARGS` and waits for its "agent started" log line. */
export async function startAgent(args: readonly string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<AgentProcess> {
  // Tests run many agents on one host at once: unless a test pins a port, let the OS pick.
  const extra: string[] = [];
  for (const flag of ['--http-port', '--rpc-port', '--gossip-port']) if (!args.includes(flag)) extra.push(flag, '0');
  const child = spawn(process.execPath, [CLI, 'agent', ...args, ...extra], {
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const started = new Promise<Record<string, unknown>>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (line) => {
      lines.push(line);
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        if (entry.msg === 'agent started') resolve(entry);
      } catch {
        // not a JSON line: keep it for diagnostics only
      }
    });
    child.once('exit', (code, signal) => reject(new Error(`agent exited (${code ?? signal}) before starting:\n${stderr}\n${lines.join('\n')}`)));
  });
  const timeoutMs = options.timeoutMs ?? 20_000;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`agent did not start within ${timeoutMs} ms:\n${stderr}`)), timeoutMs);
  });
  let entry: Record<string, unknown>;
  try {
    entry = await Promise.race([started, timeout]);
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  } finally {
    clearTimeout(timer);
  }
  const ports = entry.ports as { http: number };
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  return {
    child,
    httpPort: ports.http,
    addr: `http://127.0.0.1:${ports.http}`,
    nodeId: String(entry.nodeId),
    lines,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const [code, sig] = await exited;
      return code ?? sig ?? 'unknown';
    },
  };
}

/** Runs the CLI to completion and returns its exit code and output. */
export async function runCli(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code: code ?? -1, stdout, stderr };
}
