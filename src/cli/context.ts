import type { Command } from 'commander';
import { SappersClient } from '../client/client.ts';

/** The API client for a command, from the global --addr option (or SAPPERS_ADDR). */
export function clientFrom(command: Command): SappersClient {
  const { addr, token } = command.optsWithGlobals<{ addr: string; token?: string }>();
  return new SappersClient({ addr, ...(token ? { token } : {}) });
}
