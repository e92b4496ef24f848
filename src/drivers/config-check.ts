// Small checks shared by the drivers' validateConfig: a driver config is untrusted operator
// data, so every key must be known (a misspelt key would otherwise be silently ignored) and
// every value must have the expected type. Errors name the field as the job file spells it.
import { suggestion } from '../wire/suggest.ts';

export type ConfigObject = Readonly<Record<string, unknown>>;

/** The config as a plain mapping, or an error list when it is not one. */
export function asConfigObject(config: unknown): { ok: true; value: ConfigObject } | { ok: false; errors: string[] } {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    return { ok: false, errors: ['config: must be a mapping'] };
  }
  return { ok: true, value: config as ConfigObject };
}

/** "config.<key>: unknown key (did you mean ...?)" for every key outside `known`. */
export function unknownKeys(config: ConfigObject, known: readonly string[]): string[] {
  const errors: string[] = [];
  for (const key of Object.keys(config)) {
    if (!known.includes(key)) errors.push(`config.${key}: unknown key${suggestion(key, known)}; known keys are ${known.join(', ')}`);
  }
  return errors;
}

export function has(config: ConfigObject, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(config, key) && config[key] !== undefined;
}
