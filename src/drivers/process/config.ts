// The process driver's `config` in a job file:
//   config:
//     command: /usr/bin/python3     # required; a path, or a name looked up on the task's PATH
//     args: ["-m", "http.server"]   # optional list of strings
//     workingDir: www               # optional, relative to the allocation dir (default "work")
import { isAbsolute, normalize } from 'node:path';
import { asConfigObject, has, unknownKeys } from '../config-check.ts';

export interface ProcessConfig {
  readonly command: string;
  readonly args: readonly string[];
  /** Relative to the allocation directory, normalized, never leaving it. */
  readonly workingDir: string;
}

export const PROCESS_CONFIG_KEYS: readonly string[] = ['command', 'args', 'workingDir'];
const MAX_ARGS = 1024;
const MAX_ARG_CHARS = 32 * 1024;
const MAX_PATH_CHARS = 4096;
export const DEFAULT_WORKING_DIR = 'work';

export function validateProcessConfig(config: unknown): string[] {
  const r = parseProcessConfig(config);
  return r.ok ? [] : r.errors;
}

export function parseProcessConfig(config: unknown): { ok: true; value: ProcessConfig } | { ok: false; errors: string[] } {
  const o = asConfigObject(config);
  if (!o.ok) return o;
  const c = o.value;
  const errors = unknownKeys(c, PROCESS_CONFIG_KEYS);

  let command = '';
  if (!has(c, 'command')) errors.push('config.command: required (the program to run, e.g. "/usr/bin/env" or "python3")');
  else if (typeof c['command'] !== 'string') errors.push('config.command: must be a string');
  else if (c['command'].trim() === '') errors.push('config.command: must not be empty');
  else if (c['command'].length > MAX_PATH_CHARS) errors.push(`config.command: longer than ${MAX_PATH_CHARS} characters`);
  else if (c['command'].includes('\0')) errors.push('config.command: must not contain a NUL character');
  else command = c['command'];

  let args: string[] = [];
  if (has(c, 'args')) {
    const a = c['args'];
    if (!Array.isArray(a)) errors.push('config.args: must be a list of strings');
    else if (a.length > MAX_ARGS) errors.push(`config.args: more than ${MAX_ARGS} arguments`);
    else {
      a.forEach((v: unknown, i) => {
        if (typeof v !== 'string') errors.push(`config.args[${i}]: must be a string (quote numbers and booleans)`);
        else if (v.length > MAX_ARG_CHARS) errors.push(`config.args[${i}]: longer than ${MAX_ARG_CHARS} characters`);
        else if (v.includes('\0')) errors.push(`config.args[${i}]: must not contain a NUL character`);
      });
      args = a.filter((v): v is string => typeof v === 'string');
    }
  }

  let workingDir = DEFAULT_WORKING_DIR;
  if (has(c, 'workingDir')) {
    const w = c['workingDir'];
    if (typeof w !== 'string' || w === '') errors.push('config.workingDir: must be a non-empty string');
    else if (w.length > MAX_PATH_CHARS || w.includes('\0')) errors.push('config.workingDir: not a valid path');
    else if (isAbsolute(w)) errors.push('config.workingDir: must be relative to the allocation directory, not absolute');
    else {
      const n = normalize(w);
      if (n === '..' || n.startsWith('../')) errors.push('config.workingDir: must stay inside the allocation directory (it leaves it with "..")');
      else workingDir = n.endsWith('/') ? n.slice(0, -1) : n;
    }
  }

  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, value: { command, args, workingDir } };
}
