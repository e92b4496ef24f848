// Durations as operators write them in files: "30s", "5m", "1h30m", "250ms", "1.5h" (the form
// of Go's time.ParseDuration, which Nomad and Consul files use, limited to ms, s, m and h). A
// file says "30s"; the code keeps whole milliseconds in fields named ...Ms.
import { err, ok, type Result } from '../core/result.ts';

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Longest duration the parser accepts: a year (fields set tighter bounds of their own). */
export const MAX_DURATION_MS = 366 * 24 * 3_600_000;

const EXAMPLES = 'e.g. "30s", "5m", "1h30m" or "250ms"';
const PART = /(\d+(?:\.\d*)?|\.\d+)([^\d.]*)/y;

/** Whole milliseconds, or an error saying what is wrong in an operator's words. */
export function parseDuration(text: string): Result<number, string> {
  const shown = JSON.stringify(text);
  if (text.trim() === '') return err(`a duration cannot be empty; write one like ${EXAMPLES.slice(5)}`);
  if (text !== text.trim() || /\s/.test(text)) return err(`${shown} has spaces; write a duration without them, ${EXAMPLES}`);
  if (text.startsWith('-')) return err(`${shown} is negative; a duration is zero or more`);
  const body = text.startsWith('+') ? text.slice(1) : text;
  if (body === '0') return ok(0);
  let totalMs = 0;
  let at = 0;
  while (at < body.length) {
    PART.lastIndex = at;
    const m = PART.exec(body);
    if (m === null) return err(`${shown} is not a duration; write a number followed by a unit, ${EXAMPLES}`);
    const [whole, digits, unit] = m as unknown as [string, string, string];
    if (unit === '') {
      const hint = at === 0 ? `; write "${body}s" for seconds (units: ms, s, m, h)` : ' (units: ms, s, m, h)';
      return err(`${shown} has a number without a unit${hint}`);
    }
    const perUnit = UNIT_MS[unit];
    if (perUnit === undefined) return err(`${shown} has an unknown unit ${JSON.stringify(unit)}; use ms, s, m or h${unitHint(unit)}`);
    totalMs += Number(digits) * perUnit;
    at += whole.length;
  }
  // Decimal fractions of hours and minutes can land a hair off a whole number in binary.
  const rounded = Math.round(totalMs);
  if (Math.abs(totalMs - rounded) > 1e-6) return err(`${shown} is not a whole number of milliseconds`);
  if (rounded > MAX_DURATION_MS) return err(`${shown} is longer than a year`);
  return ok(rounded);
}

function unitHint(unit: string): string {
  switch (unit.toLowerCase()) {
    case 'd':
    case 'day':
    case 'days':
      return ' (for days, write hours: "24h")';
    case 'us':
    case 'µs':
    case 'ns':
      return ' (the smallest unit is ms)';
    case 'sec':
    case 'secs':
    case 'second':
    case 'seconds':
      return ' ("s" for seconds)';
    case 'min':
    case 'mins':
    case 'minute':
    case 'minutes':
      return ' ("m" for minutes)';
    case 'hr':
    case 'hrs':
    case 'hour':
    case 'hours':
      return ' ("h" for hours)';
    case 'm':
    case 'h':
    case 's':
    case 'ms':
      return ' (units are lower case)';
    default:
      return '';
  }
}

/** The shortest text parseDuration reads back as the same milliseconds: 5400000 -> "1h30m", 0 -> "0s". */
export function formatDuration(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0) throw new Error(`assertion failed: formatDuration of ${ms}`);
  if (ms === 0) return '0s';
  let rest = ms;
  let out = '';
  for (const [unit, size] of [['h', 3_600_000], ['m', 60_000], ['s', 1000], ['ms', 1]] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * size;
  }
  return out;
}
