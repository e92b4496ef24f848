// Dotted-version comparison for the `version>=` constraint (e.g. `node.version version>= 0.4`).
// Semantic Versioning 2.0.0 precedence (semver.org, section 11), relaxed the way operators write
// versions by hand: a leading `v` is allowed, the core may have any number of numeric parts and
// missing parts count as zero (`1.2` equals `1.2.0`), build metadata after `+` is ignored.

export interface ParsedVersion {
  readonly core: readonly number[];
  /** Pre-release identifiers (after `-`); empty for a release. */
  readonly pre: readonly string[];
}

const VERSION = /^v?(\d+(?:\.\d+)*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;
const NUMERIC = /^\d+$/;

/** Undefined when the text is not a dotted version. */
export function parseVersion(text: string): ParsedVersion | undefined {
  const m = VERSION.exec(text);
  if (m === null) return undefined;
  const core = m[1]!.split('.').map(Number);
  if (!core.every(Number.isSafeInteger)) return undefined;
  return { core, pre: m[2] === undefined ? [] : m[2].split('.') };
}

/** Negative, zero or positive as a is lower than, equal to or higher than b. */
export function compareParsedVersions(a: ParsedVersion, b: ParsedVersion): number {
  const parts = Math.max(a.core.length, b.core.length);
  for (let i = 0; i < parts; i++) {
    const d = (a.core[i] ?? 0) - (b.core[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  // A pre-release ranks below its release (semver 11.3).
  if (a.pre.length === 0 && b.pre.length === 0) return 0;
  if (a.pre.length === 0) return 1;
  if (b.pre.length === 0) return -1;
  const ids = Math.min(a.pre.length, b.pre.length);
  for (let i = 0; i < ids; i++) {
    const d = compareIdentifiers(a.pre[i]!, b.pre[i]!);
    if (d !== 0) return d;
  }
  return Math.sign(a.pre.length - b.pre.length);
}

/** Numeric identifiers compare as numbers and rank below alphanumeric ones (semver 11.4). */
function compareIdentifiers(a: string, b: string): number {
  const an = NUMERIC.test(a);
  const bn = NUMERIC.test(b);
  if (an && bn) {
    // Compared as digit strings, so identifiers beyond 2^53 stay exact.
    const x = a.replace(/^0+(?=\d)/, '');
    const y = b.replace(/^0+(?=\d)/, '');
    if (x.length !== y.length) return x.length < y.length ? -1 : 1;
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (an !== bn) return an ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Undefined when either side is not a dotted version. */
export function compareVersions(a: string, b: string): number | undefined {
  const pa = parseVersion(a);
  const pb = parseVersion(b);
  return pa === undefined || pb === undefined ? undefined : compareParsedVersions(pa, pb);
}
