// Constraint operators (job.ts, Constraint), compiled once per job so that a placement run checks
// thousands of nodes without re-parsing lists, numbers, patterns or versions.
//
// Semantics, chosen to read the way an operator writes them:
//  - `==` `!=` `<` `<=` `>` `>=` compare as numbers when both sides are decimal numbers, else as
//    strings (UTF-16 code-unit order, the same on every node: no locale).
//  - `in` / `not-in` take a comma-separated list (items trimmed, empty items dropped) and use
//    the equality of `==`.
//  - `regex` is a JavaScript pattern, unanchored (add ^ and $ to match the whole value).
//  - `version>=` compares dotted versions (version.ts).
//  - A node without the attribute fails every operator except `!=`, `not-in` and `not-exists`:
//    it certainly does not hold the excluded value. (Nomad fails `!=` on a missing attribute
//    too; we find "tag.zone != a" admitting zone-less nodes closer to what it says.)
// A constraint that cannot mean anything (a missing value, a bad pattern or version on the
// right-hand side) fails on every node, with the detail, rather than crashing the leader: the
// job-file parser should have refused it, but the replicated state may hold older jobs.
import type { Constraint } from './job.ts';
import { compareParsedVersions, parseVersion } from './version.ts';

export type ConstraintOperator = Constraint['operator'];

export const CONSTRAINT_OPERATORS: readonly ConstraintOperator[] = ['==', '!=', '<', '<=', '>', '>=', 'in', 'not-in', 'exists', 'not-exists', 'regex', 'version>='];

/** Why one node's value does not satisfy a constraint. */
export type ConstraintMiss =
  | { readonly kind: 'missing' }
  | { readonly kind: 'mismatch'; readonly actual: string }
  | { readonly kind: 'invalid'; readonly detail: string };

export interface CompiledConstraint {
  readonly constraint: Constraint;
  /** Undefined when the value satisfies the constraint. */
  check(actual: string | undefined): ConstraintMiss | undefined;
}

const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/** The number a decimal text spells, or undefined (so '', ' ', '0x10' and 'Infinity' are strings). */
export function asNumber(text: string): number | undefined {
  if (!DECIMAL.test(text)) return undefined;
  const n = Number(text);
  return Number.isFinite(n) ? n : undefined;
}

/** `==` semantics: numerically equal when both are numbers, else identical strings. */
export function valuesEqual(a: string, b: string): boolean {
  const x = asNumber(a);
  const y = asNumber(b);
  return x !== undefined && y !== undefined ? x === y : a === b;
}

/** Sign of a compared with b: numeric when both are numbers, else by code units. */
export function compareValues(a: string, b: string): number {
  const x = asNumber(a);
  const y = asNumber(b);
  if (x !== undefined && y !== undefined) return x < y ? -1 : x > y ? 1 : 0;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Items of an `in` / `not-in` list. */
export function listItems(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

const MISSING: ConstraintMiss = { kind: 'missing' };

export function compileConstraint(constraint: Constraint): CompiledConstraint {
  const { operator, value } = constraint;
  const make = (holds: (actual: string) => boolean, missingHolds = false): CompiledConstraint => ({
    constraint,
    check: (actual) => (actual === undefined ? (missingHolds ? undefined : MISSING) : holds(actual) ? undefined : { kind: 'mismatch', actual }),
  });
  const invalid = (detail: string): CompiledConstraint => {
    const miss: ConstraintMiss = { kind: 'invalid', detail };
    return { constraint, check: () => miss };
  };
  switch (operator) {
    case 'exists':
      return make(() => true);
    case 'not-exists':
      return { constraint, check: (actual) => (actual === undefined ? undefined : { kind: 'mismatch', actual }) };
    default:
      break;
  }
  if (value === undefined) return invalid(`operator ${operator} needs a value`);
  switch (operator) {
    case '==':
      return make((a) => valuesEqual(a, value));
    case '!=':
      return make((a) => !valuesEqual(a, value), true);
    case '<':
      return make((a) => compareValues(a, value) < 0);
    case '<=':
      return make((a) => compareValues(a, value) <= 0);
    case '>':
      return make((a) => compareValues(a, value) > 0);
    case '>=':
      return make((a) => compareValues(a, value) >= 0);
    case 'in': {
      const items = listItems(value);
      return make((a) => items.some((item) => valuesEqual(a, item)));
    }
    case 'not-in': {
      const items = listItems(value);
      return make((a) => !items.some((item) => valuesEqual(a, item)), true);
    }
    case 'regex': {
      let pattern: RegExp;
      try {
        pattern = new RegExp(value);
      } catch {
        return invalid(`invalid regular expression ${JSON.stringify(value)}`);
      }
      return make((a) => pattern.test(a));
    }
    case 'version>=': {
      const wanted = parseVersion(value);
      if (wanted === undefined) return invalid(`${JSON.stringify(value)} is not a dotted version`);
      return {
        constraint,
        check: (actual) => {
          if (actual === undefined) return MISSING;
          const have = parseVersion(actual);
          if (have === undefined) return { kind: 'invalid', detail: `node version ${JSON.stringify(actual)} is not a dotted version` };
          return compareParsedVersions(have, wanted) >= 0 ? undefined : { kind: 'mismatch', actual };
        },
      };
    }
  }
  // An operator outside the union (an old or damaged record): never satisfied, never a crash.
  return invalid(`unknown operator ${JSON.stringify(operator)}`);
}

/** How the constraint reads in messages: `tag.zone == a`, `tag.gpu exists`. */
export function describeConstraint(c: Constraint): string {
  return c.value === undefined ? `${c.attribute} ${c.operator}` : `${c.attribute} ${c.operator} ${c.value}`;
}
