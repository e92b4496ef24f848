// JSON logs with pino (DESIGN.md, Dependencies): one JSON object per line for machines, and
// readable colored lines when a person is watching a terminal.
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { LogLevel } from './config.ts';

export type { Logger } from 'pino';

export interface LoggerOptions {
  readonly level: LogLevel;
  /** Human-readable output; defaults to whether stdout is a terminal. */
  readonly pretty?: boolean;
  /** Where lines go; defaults to stdout (fd 1). */
  readonly destination?: NodeJS.WritableStream;
}

export function createLogger(options: LoggerOptions): Logger {
  const base = { level: options.level, base: { pid: process.pid } };
  const human = options.pretty ?? process.stdout.isTTY === true;
  if (human) {
    // In-process pretty printing (no worker thread): synchronous, so the last lines before a
    // shutdown are never lost.
    return pino(base, pretty({ colorize: true, sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', ...(options.destination ? { destination: options.destination } : {}) }));
  }
  return pino(base, options.destination ?? pino.destination({ fd: 1, sync: true }));
}
