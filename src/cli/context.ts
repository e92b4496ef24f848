import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { SappersClient } from '../client/client.ts';
import { CliError } from './errors.ts';

/** The API client for a command, from the global --addr and --token / --token-file options. */
export function clientFrom(command: Command): SappersClient {
  const { addr } = command.optsWithGlobals<{ addr: string }>();
  const token = tokenFrom(command);
  return new SappersClient({ addr, ...(token ? { token } : {}) });
}

/** --token (SAPPERS_TOKEN) wins over --token-file (SAPPERS_TOKEN_FILE). */
export function tokenFrom(command: Command): string | undefined {
  const { token, tokenFile } = command.optsWithGlobals<{ token?: string; tokenFile?: string }>();
  if (token) return token;
  if (tokenFile === undefined) return undefined;
  try {
    return readFileSync(tokenFile, 'utf8').trim();
  } catch (e) {
    throw new CliError(`cannot read the token file ${tokenFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 2);
  }
}
