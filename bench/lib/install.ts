// Makes a Debian package's command available for a benchmark, or says why it cannot: tries the
// command, then (as root) `apt-get install -y PACKAGE`, and once more after `apt-get update`.
import { execFileSync } from 'node:child_process';

const APT_TIMEOUT_MS = 300_000;

/** undefined when COMMAND runs (after installing PACKAGE if needed), else the reason it does not. */
export function ensureCommand(command: string, versionArgs: readonly string[], pkg: string, progress: (line: string) => void): string | undefined {
  if (runs(command, versionArgs)) return undefined;
  if (process.getuid?.() !== 0) return `${command} is not installed and installing ${pkg} needs root`;
  progress(`${command} not found: apt-get install -y ${pkg}`);
  let failure = apt(['install', '-y', pkg]);
  if (failure !== undefined) {
    progress(`apt-get install failed; apt-get update, then install again`);
    failure = apt(['update']) ?? apt(['install', '-y', pkg]);
  }
  if (failure !== undefined) return `apt-get install -y ${pkg} failed: ${failure}`;
  return runs(command, versionArgs) ? undefined : `${command} still does not run after installing ${pkg}`;
}

function runs(command: string, args: readonly string[]): boolean {
  try {
    execFileSync(command, args, { stdio: 'pipe', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

function apt(args: readonly string[]): string | undefined {
  try {
    execFileSync('apt-get', args, {
      stdio: 'pipe',
      timeout: APT_TIMEOUT_MS,
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    return undefined;
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    const tail = err.stderr?.toString().trim().split('\n').slice(-3).join(' | ');
    return tail !== undefined && tail !== '' ? tail : err.message;
  }
}
