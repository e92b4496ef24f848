// Starts real agent processes for multi-process tests and stops them, whatever happens.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

export const CLI = fileURLToPath(new URL('../../src/cli/bin.ts', import.meta.url));

/**
 * Agents start secure, as in production: one cluster key and one management token per test
 * process (every cluster a test file forms uses them; clusters stay apart by their ports and
 * data directories). Made on first use, removed at exit.
 */
let secrets: { readonly dir: string; readonly keyFile: string; readonly tokenFile: string; readonly token: string } | undefined;
export function testSecrets(): NonNullable<typeof secrets> {
  if (secrets === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'sappers-secrets-'));
    const token = randomBytes(24).toString('base64url');
    const keyFile = join(dir, 'cluster.key');
    const tokenFile = join(dir, 'management-token');
    writeFileSync(keyFile, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
    secrets = { dir, keyFile, tokenFile, token };
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return secrets;
}

export interface AgentProcess {
  readonly child: ChildProcess;
  readonly httpPort: number;
  readonly addr: string;
  readonly nodeId: string;
  /** What a SappersClient needs: `new SappersClient({ ...agent.api })`. */
  readonly api: { readonly addr: string; readonly token: string };
  /** Every stdout line so far (JSON log lines). */
  readonly lines: string[];
  /** Sends a signal and resolves with the exit code (or signal name). */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

/** Runs `sappers agent ARGS` and waits for its "agent started" log line. */
export async function startAgent(args: readonly string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<AgentProcess> {
  // Tests run many agents on one host at once: unless a test pins a port, let the OS pick.
  const extra: string[] = [];
  for (const flag of ['--http-port', '--rpc-port', '--gossip-port', '--dns-port']) if (!args.includes(flag)) extra.push(flag, '0');
  if (!['--insecure', '--dev', '--cluster-key-file'].some((f) => args.includes(f))) {
    extra.push('--cluster-key-file', testSecrets().keyFile, '--management-token-file', testSecrets().tokenFile);
  }
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
    api: { addr: `http://127.0.0.1:${ports.http}`, token: testSecrets().token },
    lines,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const [code, sig] = await exited;
      return code ?? sig ?? 'unknown';
    },
  };
}

/** Runs the CLI to completion and returns its exit code and output (with the test token unless env says otherwise). */
export async function runCli(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, SAPPERS_TOKEN: testSecrets().token, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code: code ?? -1, stdout, stderr };
}
