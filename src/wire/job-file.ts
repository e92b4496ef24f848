// Job files (DESIGN.md, Interfaces; docs/operator-guide.md, "Job files"): YAML an operator keeps
// in git, read into a JobSpec (src/core/scheduler/job.ts). Every complaint names the file, line
// and column, the field as the file spells it (`resources.ports.http.static`,
// `constraints[1]`), and what is wrong, in the operator's words.
//
// Reading happens in two passes. The first walks the YAML tree: unknown keys (with a
// did-you-mean), types, units (durations, cpu), bounds, and the rules that only the file can
// tell (a `count` written on a system job). If it finds nothing wrong, the second pass runs the
// admission rules between fields (validateJobSpec, src/wire/job.ts: ports declared, duplicates,
// constraints that mean something, ...) and maps each problem back to the place in the file
// the first pass recorded for that field. Two passes, so that a value the first pass refused
// does not echo as a second, confusing error elsewhere.
import { isAlias, isMap, isScalar, isSeq, visit, type Scalar } from 'yaml';
import { CONSTRAINT_OPERATORS, type ConstraintOperator } from '../core/scheduler/constraint.ts';
import {
  DEFAULT_RESOURCES,
  DEFAULT_RESTART,
  DEFAULT_STOP_TIMEOUT_MS,
  DEFAULT_UPDATE,
  JOB_TYPES,
  type Constraint,
  type HealthCheck,
  type JobSpec,
  type JobType,
  type PortRequest,
  type RestartPolicy,
  type ServiceSpec,
  type Spread,
  type UpdatePolicy,
} from '../core/scheduler/job.ts';
import { err, ok, type Result } from '../core/result.ts';
import { formatDuration, parseDuration } from './duration.ts';
import {
  CHECK_NAME_PATTERN,
  DEFAULT_CHECK_INTERVAL_MS,
  DEFAULT_CHECK_TIMEOUT_MS,
  DEFAULT_SPREAD_WEIGHT,
  DRIVER_NAME_PATTERN,
  DURATION_BOUNDS_MS,
  ENV_NAME_PATTERN,
  HTTP_PATH_PATTERN,
  JOB_NAME_PATTERN,
  MAX_ATTRIBUTE_CHARS,
  MAX_BACKOFF,
  MAX_CHECKS,
  MAX_CONFIG_DEPTH,
  MAX_CONFIG_ITEMS,
  MAX_CONFIG_KEY_CHARS,
  MAX_CONFIG_STRING_CHARS,
  MAX_CONFIG_VALUES,
  MAX_CONSTRAINT_VALUE_CHARS,
  MAX_CONSTRAINTS,
  MAX_CPU_MILLIS,
  MAX_ENV_VALUE_CHARS,
  MAX_ENV_VARS,
  MAX_EXEC_ARG_CHARS,
  MAX_EXEC_ARGS,
  MAX_JOB_COUNT,
  MAX_MEMORY_MB,
  MAX_PORTS,
  MAX_RESTART_ATTEMPTS,
  MAX_SERVICE_TAGS,
  MAX_SPREADS,
  MIN_CPU_MILLIS,
  PORT_LABEL_PATTERN,
  SERVICE_NAME_PATTERN,
  SERVICE_TAG_PATTERN,
  validateJobSpec,
} from './job.ts';
import { suggestion } from './suggest.ts';
import { parseLocatedYaml, type LocatedYaml } from './yaml-locate.ts';

/** What is wrong, and where: `source` is "file:line:col"; `field` the dotted path as the file spells it. */
export interface JobFileError {
  readonly source: string;
  readonly line: number;
  readonly col: number;
  readonly field: string;
  readonly message: string;
}

/** Larger files are refused before parsing. */
export const MAX_JOB_FILE_BYTES = 1024 * 1024;
/** At most this many errors are reported (the first ones, in file order). */
export const MAX_JOB_FILE_ERRORS = 50;

/** One error a line: `web.yaml:12:5: resources.cpu: ...`. */
export function formatJobFileErrors(errors: readonly JobFileError[]): string {
  return errors.map((e) => `${e.source}: ${e.field ? `${e.field}: ` : ''}${e.message}`).join('\n');
}

const TOP_KEYS = ['job', 'type', 'count', 'driver', 'config', 'env', 'resources', 'constraints', 'spread', 'restart', 'update', 'service', 'stopTimeout'] as const;
const RESOURCE_KEYS = ['cpu', 'memoryMB', 'ports'] as const;
const PORT_KEYS = ['label', 'static'] as const;
const CONSTRAINT_KEYS = ['attribute', 'operator', 'value'] as const;
const SPREAD_KEYS = ['attribute', 'weight'] as const;
const RESTART_KEYS = ['attempts', 'interval', 'delay', 'backoff', 'maxDelay'] as const;
const UPDATE_KEYS = ['maxParallel', 'healthyDeadline', 'minHealthy', 'autoRevert'] as const;
const SERVICE_KEYS = ['name', 'port', 'tags', 'check', 'checks'] as const;
const CHECK_KEYS: Readonly<Record<HealthCheck['type'], readonly string[]>> = {
  ttl: ['type', 'name', 'ttl'],
  http: ['type', 'name', 'path', 'port', 'interval', 'timeout'],
  tcp: ['type', 'name', 'port', 'interval', 'timeout'],
  exec: ['type', 'name', 'command', 'interval', 'timeout'],
};
const CHECK_TYPES = ['ttl', 'http', 'tcp', 'exec'] as const;
/** Where a key found at the top level belongs, for "belongs under resources". */
const SECTION_OF: Readonly<Record<string, string>> = Object.fromEntries([
  ...RESOURCE_KEYS.map((k) => [k, 'resources']),
  ...RESTART_KEYS.map((k) => [k, 'restart']),
  ...UPDATE_KEYS.map((k) => [k, 'update']),
  ...['port', 'tags', 'check', 'checks'].map((k) => [k, 'service']),
]);

/** Spec fields whose file key differs: the file says `cpu` and `maxDelay`, the spec cpuMillis and maxDelayMs. */
function fileKeyOf(specKey: string): string {
  if (specKey === 'cpuMillis') return 'cpu';
  if (specKey === 'stopTimeoutMs') return 'stopTimeout';
  if (specKey === 'ttlMs') return 'ttl';
  return specKey.endsWith('Ms') ? specKey.slice(0, -2) : specKey;
}

interface Entry {
  readonly key: unknown;
  readonly value: unknown;
  /** The field as the file spells it. */
  readonly field: string;
}

type Entries = ReadonlyMap<string, Entry>;

const join = (field: string, key: string): string => (field === '' ? key : `${field}.${key}`);
const item = (field: string, i: number): string => `${field}[${i}]`;

export function parseJobFile(path: string, text: string): Result<JobSpec, JobFileError[]> {
  if (text.length > MAX_JOB_FILE_BYTES) {
    return err([{ source: `${path}:1:1`, line: 1, col: 1, field: '', message: `the file is larger than ${MAX_JOB_FILE_BYTES / 1024} KiB; a job file is far smaller` }]);
  }
  const parsed = parseLocatedYaml(path, text);
  if (!parsed.ok) {
    return err(parsed.error.slice(0, MAX_JOB_FILE_ERRORS).map((e) => ({ ...e, field: '', message: e.message + syntaxHint(e.message) })));
  }
  const reader = new JobFileReader(parsed.value);
  const spec = reader.read();
  if (reader.errors.length === 0 && spec !== undefined) {
    for (const problem of validateJobSpec(spec)) reader.problem(problem.field, problem.message);
  }
  if (reader.errors.length > 0) return err(reader.sortedErrors());
  if (spec === undefined) throw new Error('assertion failed: a job file read without errors yields a spec');
  return ok(spec);
}

function syntaxHint(message: string): string {
  if (/block scalar header/i.test(message)) return ' (an operator such as >= starts a YAML block here; quote it: operator: ">=")';
  if (/tab/i.test(message)) return ' (indent with spaces, not tabs)';
  return '';
}

class JobFileReader {
  readonly errors: JobFileError[] = [];
  readonly #y: LocatedYaml;
  /** Where each spec field came from, for the admission rules' problems (second pass). */
  readonly #places = new Map<string, { readonly field: string; readonly node: unknown }>();

  constructor(y: LocatedYaml) {
    this.#y = y;
  }

  sortedErrors(): JobFileError[] {
    return [...this.errors].sort((a, b) => a.line - b.line || a.col - b.col).slice(0, MAX_JOB_FILE_ERRORS);
  }

  error(node: unknown, field: string, message: string): void {
    const p = this.#y.nodeAt(node);
    this.errors.push({ source: p.source, line: p.line, col: p.col, field, message });
  }

  place(specPath: string, field: string, node: unknown): void {
    this.#places.set(specPath, { field, node });
  }

  /** An admission problem at a spec path: at the nearest recorded place, named as the file names it. */
  problem(specPath: string, message: string): void {
    const parts = specPath.match(/[^.[\]]+|\[\d+\]/g) ?? [];
    for (let n = parts.length; n >= 0; n--) {
      const prefix = pathOf(parts.slice(0, n));
      const place = n === 0 ? { field: '', node: this.#y.doc.contents } : this.#places.get(prefix);
      if (place === undefined) continue;
      const rest = parts.slice(n).map((p) => (p.startsWith('[') ? p : fileKeyOf(p)));
      const field = rest.reduce((f, p) => (p.startsWith('[') ? `${f}${p}` : join(f, p)), place.field);
      // Every field the file sets is placed; a leaf missing here took its default.
      const leaf = rest.length === 1 && !rest[0]!.startsWith('[') ? ` (${rest[0]} is not set, so its default applies)` : '';
      this.error(place.node, field, message + leaf);
      return;
    }
  }

  read(): JobSpec | undefined {
    const root = this.#y.doc.contents;
    visit(this.#y.doc, {
      Alias: (_key, node) => {
        this.error(node, '', `aliases (*${node.source}) are not supported in job files; write the value out`);
      },
    });
    if (root === null || (isScalar(root) && root.value === null)) {
      this.error(root, '', 'the job file is empty; it needs at least "job: <name>" and "driver: <driver>"');
      return undefined;
    }
    if (!isMap(root)) {
      this.error(root, '', 'a job file is a YAML mapping (key: value lines) starting with "job: <name>"');
      return undefined;
    }
    const top = this.mapping(root, '', TOP_KEYS, 'the job');
    if (top === undefined) return undefined;

    const job = this.text(top.get('job'), { pattern: JOB_NAME_PATTERN, rule: 'a job name is 1-64 letters, digits, ".", "_" and "-", starting with a letter or digit' });
    if (!top.has('job')) this.error(root, 'job', 'missing: every job file names its job ("job: <name>")');
    const type = this.choice(top.get('type'), JOB_TYPES, 'job types') ?? 'service';
    const count = this.count(top.get('count'), type);
    const driver = this.text(top.get('driver'), { pattern: DRIVER_NAME_PATTERN, rule: 'a driver name is lower-case letters, digits and "-"' });
    if (!top.has('driver')) this.error(root, 'driver', 'missing: say which driver runs the job ("driver: process")');
    this.placeEntry('driver', top.get('driver'));
    const config = this.config(top.get('config'));
    const env = this.env(top.get('env'));
    const resources = this.resources(top.get('resources'));
    const constraints = this.constraints(top.get('constraints'));
    const spread = this.spread(top.get('spread'));
    const restart = this.restart(top.get('restart'));
    const update = this.update(top.get('update'));
    const service = this.service(top.get('service'), job, resources.ports);
    const stopTimeoutMs = this.duration(top.get('stopTimeout'), DURATION_BOUNDS_MS.stopTimeout) ?? DEFAULT_STOP_TIMEOUT_MS;

    if (job === undefined || driver === undefined) return undefined;
    const spec: JobSpec = { job, type, count, driver, config, env, resources, constraints, spread, restart, update, stopTimeoutMs, ...(service ? { service } : {}) };
    return spec;
  }

  // -------------------------------------------------------------------------------------------
  // Shapes.

  /** The entries of a mapping, unknown keys reported; undefined (reported) when not a mapping. */
  mapping(node: unknown, field: string, allowed: readonly string[], what: string, nullIsEmpty = false): Entries | undefined {
    if (isAlias(node)) return undefined;
    if (nullIsEmpty && isNull(node)) return new Map();
    if (!isMap(node)) {
      this.error(node, field, `${what} is a mapping (key: value lines), not ${describe(node)}`);
      return undefined;
    }
    const out = new Map<string, Entry>();
    for (const pair of node.items) {
      const name = keyName(pair.key);
      if (name === undefined) {
        this.error(pair.key ?? node, field, 'keys are plain names');
        continue;
      }
      const f = join(field, name);
      if (!allowed.includes(name)) {
        this.error(pair.key, f, unknownField(name, field, allowed));
        continue;
      }
      out.set(name, { key: pair.key, value: pair.value, field: f });
    }
    return out;
  }

  /** Items of a list; null counts as empty; undefined (reported) when not a list or too long. */
  list(entry: Entry | undefined, max: number, what: string): Array<{ readonly node: unknown; readonly field: string }> | undefined {
    if (entry === undefined || isNull(entry.value)) return [];
    const node = entry.value;
    if (isAlias(node)) return undefined;
    if (!isSeq(node)) {
      this.error(node, entry.field, `${what} is a list (lines starting with "- "), not ${describe(node)}`);
      return undefined;
    }
    if (node.items.length > max) {
      this.error(node.items[max], item(entry.field, max), `at most ${max} ${what} (this is number ${max + 1})`);
      return undefined;
    }
    return node.items.map((n, i) => ({ node: n, field: item(entry.field, i) }));
  }

  placeEntry(specPath: string, entry: Entry | undefined): void {
    if (entry !== undefined) this.place(specPath, entry.field, entry.value);
  }

  // -------------------------------------------------------------------------------------------
  // Scalars. Each reports its own error and returns undefined for a missing or bad value.

  /** Text, also from a plain number or boolean (as written: `1.10` stays "1.10"). */
  text(entry: Entry | undefined, rule?: { readonly pattern?: string; readonly rule?: string; readonly maxChars?: number; readonly nonEmpty?: boolean }): string | undefined {
    if (entry === undefined) return undefined;
    return this.textOf(entry.value, entry.field, entry.key, rule);
  }

  textOf(node: unknown, field: string, keyNode: unknown, rule?: { readonly pattern?: string; readonly rule?: string; readonly maxChars?: number; readonly nonEmpty?: boolean }): string | undefined {
    if (isAlias(node)) return undefined;
    if (isNull(node)) {
      this.error(keyNode ?? node, field, 'has no value');
      return undefined;
    }
    const s = isScalar(node) ? scalarText(node) : undefined;
    if (s === undefined) {
      this.error(node, field, `expected text, got ${describe(node)}`);
      return undefined;
    }
    if (rule?.maxChars !== undefined && s.length > rule.maxChars) {
      this.error(node, field, `is ${s.length} characters long; at most ${rule.maxChars}`);
      return undefined;
    }
    if (rule?.nonEmpty && s === '') {
      this.error(node, field, 'is empty');
      return undefined;
    }
    if (rule?.pattern !== undefined && !new RegExp(rule.pattern).test(s)) {
      this.error(node, field, `${JSON.stringify(s)} is not allowed: ${rule.rule ?? `it must match ${rule.pattern}`}`);
      return undefined;
    }
    return s;
  }

  int(entry: Entry | undefined, min: number, max: number, unit = ''): number | undefined {
    if (entry === undefined) return undefined;
    const node = entry.value;
    if (isAlias(node)) return undefined;
    if (isNull(node)) return this.fail(entry.key, entry.field, 'has no value');
    if (!isScalar(node) || typeof node.value !== 'number') {
      const quoted = isScalar(node) && typeof node.value === 'string' && /^\s*\d+\s*$/.test(node.value);
      return this.fail(node, entry.field, quoted ? `expected a number, got text ${JSON.stringify(node.value)} (remove the quotes)` : `expected a whole number, got ${describe(node)}`);
    }
    const n = node.value;
    if (!Number.isInteger(n)) return this.fail(node, entry.field, `expected a whole number, got ${n}`);
    if (n < min || n > max) return this.fail(node, entry.field, `must be between ${min} and ${max}${unit} (got ${n})`);
    return n;
  }

  number(entry: Entry | undefined, min: number, max: number): number | undefined {
    if (entry === undefined) return undefined;
    const node = entry.value;
    if (isAlias(node)) return undefined;
    if (isNull(node)) return this.fail(entry.key, entry.field, 'has no value');
    if (!isScalar(node) || typeof node.value !== 'number' || !Number.isFinite(node.value)) return this.fail(node, entry.field, `expected a number, got ${describe(node)}`);
    if (node.value < min || node.value > max) return this.fail(node, entry.field, `must be between ${min} and ${max} (got ${node.value})`);
    return node.value;
  }

  bool(entry: Entry | undefined): boolean | undefined {
    if (entry === undefined) return undefined;
    const node = entry.value;
    if (isAlias(node)) return undefined;
    if (isScalar(node) && typeof node.value === 'boolean') return node.value;
    const word = isScalar(node) && typeof node.value === 'string' ? node.value.toLowerCase() : '';
    const hint = ['yes', 'on', 'y'].includes(word) ? ' (write true)' : ['no', 'off', 'n'].includes(word) ? ' (write false)' : '';
    return this.fail(isNull(node) ? entry.key : node, entry.field, `expected true or false, got ${describe(node)}${hint}`);
  }

  choice<T extends string>(entry: Entry | undefined, options: readonly T[], what: string): T | undefined {
    const s = this.text(entry);
    if (s === undefined || entry === undefined) return undefined;
    if ((options as readonly string[]).includes(s)) return s as T;
    return this.fail(entry.value, entry.field, `${JSON.stringify(s)} is not one of the ${what}: ${options.join(', ')}${suggestion(s, options)}`);
  }

  duration(entry: Entry | undefined, bounds: { readonly min: number; readonly max: number }): number | undefined {
    if (entry === undefined) return undefined;
    const node = entry.value;
    if (isAlias(node)) return undefined;
    if (isNull(node)) return this.fail(entry.key, entry.field, 'has no value');
    let ms: number;
    if (isScalar(node) && node.value === 0) ms = 0;
    else if (isScalar(node) && (typeof node.value === 'string' || typeof node.value === 'number')) {
      const parsed = parseDuration(String(isScalar(node) && typeof node.value === 'number' ? (node.source ?? node.value) : node.value));
      if (!parsed.ok) return this.fail(node, entry.field, parsed.error);
      ms = parsed.value;
    } else return this.fail(node, entry.field, `expected a duration such as "30s", got ${describe(node)}`);
    if (ms < bounds.min || ms > bounds.max) {
      return this.fail(node, entry.field, `must be between ${formatDuration(bounds.min)} and ${formatDuration(bounds.max)} (got ${formatDuration(ms)})`);
    }
    return ms;
  }

  fail(node: unknown, field: string, message: string): undefined {
    this.error(node, field, message);
    return undefined;
  }

  // -------------------------------------------------------------------------------------------
  // Sections.

  count(entry: Entry | undefined, type: JobType): number {
    if (type === 'system') {
      // One instance on every eligible node: a number here would mean nothing.
      if (entry !== undefined) this.error(entry.key, entry.field, 'a system job runs one instance on every eligible node, so it takes no count; remove it (use constraints to choose the nodes)');
      return 0;
    }
    const n = this.int(entry, 0, MAX_JOB_COUNT);
    this.placeEntry('count', entry);
    return n ?? 1;
  }

  config(entry: Entry | undefined): Record<string, unknown> {
    if (entry === undefined || isNull(entry.value)) return {};
    const node = entry.value;
    if (isAlias(node)) return {};
    if (!isMap(node)) {
      this.error(node, entry.field, `the driver config is a mapping (key: value lines), not ${describe(node)}`);
      return {};
    }
    const budget = { values: 0, reported: false };
    const value = this.plain(node, entry.field, 1, budget);
    return (value ?? {}) as Record<string, unknown>;
  }

  /** A driver config value as plain data, bounded in depth, count and sizes. */
  plain(node: unknown, field: string, depth: number, budget: { values: number; reported: boolean }): unknown {
    if (isAlias(node) || budget.reported) return undefined;
    budget.values++;
    if (budget.values > MAX_CONFIG_VALUES) {
      budget.reported = true;
      return this.fail(node, field, `the driver config holds more than ${MAX_CONFIG_VALUES} values`);
    }
    if (isScalar(node)) {
      const v = node.value;
      if (v === null || typeof v === 'boolean') return v;
      if (typeof v === 'string') return v.length <= MAX_CONFIG_STRING_CHARS ? v : this.fail(node, field, `text longer than ${MAX_CONFIG_STRING_CHARS / 1024} KiB`);
      if (typeof v === 'number') {
        if (!Number.isFinite(v)) return this.fail(node, field, 'numbers must be finite (quote ".inf" or ".nan" to mean text)');
        if (Number.isInteger(v) && !Number.isSafeInteger(v) && /^[-+]?\d+$/.test(node.source ?? '')) {
          return this.fail(node, field, `${node.source} is too large to keep exactly; quote it to keep it as text`);
        }
        return v;
      }
      return this.fail(node, field, `expected plain data, got ${describe(node)}`);
    }
    if (!isMap(node) && !isSeq(node)) return this.fail(node, field, `expected plain data, got ${describe(node)}`);
    if (depth > MAX_CONFIG_DEPTH) return this.fail(node, field, `the driver config nests more than ${MAX_CONFIG_DEPTH} levels deep`);
    if (node.items.length > MAX_CONFIG_ITEMS) return this.fail(node, field, `more than ${MAX_CONFIG_ITEMS} entries`);
    if (isSeq(node)) return node.items.map((n, i) => this.plain(n, item(field, i), depth + 1, budget));
    const out: Record<string, unknown> = {};
    for (const pair of node.items) {
      const key = keyName(pair.key);
      if (key === undefined) {
        this.error(pair.key ?? node, field, 'keys are plain names');
        continue;
      }
      const f = join(field, key);
      if (key === '__proto__') this.error(pair.key, f, 'the key "__proto__" is not allowed');
      else if (key.length > MAX_CONFIG_KEY_CHARS) this.error(pair.key, f, `keys are at most ${MAX_CONFIG_KEY_CHARS} characters`);
      else out[key] = this.plain(pair.value, f, depth + 1, budget);
    }
    return out;
  }

  env(entry: Entry | undefined): Record<string, string> {
    const out: Record<string, string> = {};
    if (entry === undefined || isNull(entry.value) || isAlias(entry.value)) return out;
    if (!isMap(entry.value)) {
      this.error(entry.value, entry.field, `env is a mapping of NAME: value, not ${describe(entry.value)}`);
      return out;
    }
    const items = entry.value.items;
    items.forEach((pair, i) => {
      const name = keyName(pair.key);
      if (name === undefined) return this.error(pair.key ?? entry.value, entry.field, 'variable names are plain names');
      const f = join(entry.field, name);
      if (i === MAX_ENV_VARS) this.error(pair.key, f, `at most ${MAX_ENV_VARS} environment variables`);
      if (i >= MAX_ENV_VARS) return;
      if (!new RegExp(ENV_NAME_PATTERN).test(name)) {
        return this.error(pair.key, f, `${JSON.stringify(name)} is not a variable name (letters, digits and "_", not starting with a digit, at most 128)`);
      }
      const value = pair.value;
      if (isAlias(value)) return;
      if (isMap(value) || isSeq(value)) return this.error(value, f, `environment values are text, not ${describe(value)}`);
      const text = this.textOf(value, f, pair.key, { maxChars: MAX_ENV_VALUE_CHARS });
      if (text === undefined) return;
      out[name] = text;
      this.place(`env.${name}`, f, pair.key);
    });
    return out;
  }

  resources(entry: Entry | undefined): JobSpec['resources'] {
    const r = entry === undefined ? new Map<string, Entry>() : this.mapping(entry.value, entry.field, RESOURCE_KEYS, 'resources', true);
    if (r === undefined) return DEFAULT_RESOURCES;
    this.placeEntry('resources', entry);
    const cpuMillis = this.cpu(r.get('cpu')) ?? DEFAULT_RESOURCES.cpuMillis;
    const memoryMB = this.int(r.get('memoryMB'), 1, MAX_MEMORY_MB, ' MB') ?? DEFAULT_RESOURCES.memoryMB;
    return { cpuMillis, memoryMB, ports: this.ports(r.get('ports')) };
  }

  /**
   * A bare number is millicores (1000 = one core); text is cores ("0.5", "2") or millicores
   * with an m ("500m"), the Kubernetes spelling.
   */
  cpu(entry: Entry | undefined): number | undefined {
    if (entry === undefined) return undefined;
    const node = entry.value;
    if (isAlias(node)) return undefined;
    if (isNull(node)) return this.fail(entry.key, entry.field, 'has no value');
    const range = `the least is ${MIN_CPU_MILLIS} millicores, the most ${MAX_CPU_MILLIS / 1000} cores`;
    let millis: number;
    if (isScalar(node) && typeof node.value === 'number') {
      const n = node.value;
      if (!Number.isInteger(n)) return this.fail(node, entry.field, `a bare number is millicores (1000 = one core); for ${n} cores write "${n}" (quoted) or ${Math.round(n * 1000)}`);
      if (n < MIN_CPU_MILLIS && n > 0) return this.fail(node, entry.field, `${n} is ${n} millicores (${n / 1000} cores); for ${n} cores write "${n}" (quoted) or ${n * 1000}; ${range}`);
      millis = n;
    } else if (isScalar(node) && typeof node.value === 'string') {
      const s = node.value.trim();
      const m = /^(\d+)m$/.exec(s);
      if (m) millis = Number(m[1]);
      else if (/^(\d+(\.\d*)?|\.\d+)$/.test(s)) {
        const exact = Number(s) * 1000;
        millis = Math.round(exact);
        if (Math.abs(exact - millis) > 1e-6) return this.fail(node, entry.field, `${JSON.stringify(node.value)} cores is finer than a millicore`);
      } else return this.fail(node, entry.field, `${JSON.stringify(node.value)} is not a cpu amount; write millicores (500), cores as text ("0.5") or millicores as text ("500m")`);
    } else return this.fail(node, entry.field, `expected a cpu amount such as 500, "0.5" or "500m", got ${describe(node)}`);
    if (millis < MIN_CPU_MILLIS || millis > MAX_CPU_MILLIS) return this.fail(node, entry.field, `${millis} millicores is out of range; ${range}`);
    return millis;
  }

  /** A list (`- http`, `- label: http` / `static: 8080`) or a mapping (`http: {static: 8080}`, `http:`). */
  ports(entry: Entry | undefined): PortRequest[] {
    if (entry === undefined || isNull(entry.value) || isAlias(entry.value)) return [];
    this.placeEntry('resources.ports', entry);
    const out: PortRequest[] = [];
    const add = (label: string | undefined, labelNode: unknown, labelField: string, stat: Entry | undefined, node: unknown, field: string): void => {
      if (label === undefined) return;
      const i = out.length;
      this.place(`resources.ports[${i}]`, field, node);
      this.place(`resources.ports[${i}].label`, labelField, labelNode);
      const s = this.int(stat, 1, 65535);
      if (s !== undefined && stat !== undefined) this.place(`resources.ports[${i}].static`, stat.field, stat.value);
      out.push(s === undefined ? { label } : { label, static: s });
    };
    const labelRule = { pattern: PORT_LABEL_PATTERN, rule: 'a port label is 1-32 letters, digits, "_" and "-", starting with a letter' };
    const node = entry.value;
    if (isSeq(node)) {
      const items = this.list(entry, MAX_PORTS, 'ports');
      for (const it of items ?? []) {
        if (isScalar(it.node)) {
          add(this.textOf(it.node, it.field, undefined, labelRule), it.node, it.field, undefined, it.node, it.field);
          continue;
        }
        const p = this.mapping(it.node, it.field, PORT_KEYS, 'a port');
        if (p === undefined) continue;
        if (!p.has('label')) {
          this.error(it.node, join(it.field, 'label'), 'missing: name the port ("label: http")');
          continue;
        }
        const labelEntry = p.get('label')!;
        add(this.text(labelEntry, labelRule), labelEntry.value, labelEntry.field, p.get('static'), it.node, it.field);
      }
      return out;
    }
    if (!isMap(node)) {
      this.error(node, entry.field, `ports is a list or a mapping of labels, not ${describe(node)}`);
      return out;
    }
    if (node.items.length > MAX_PORTS) {
      this.error(node.items[MAX_PORTS]?.key, entry.field, `at most ${MAX_PORTS} ports`);
      return out;
    }
    for (const pair of node.items) {
      const label = keyName(pair.key);
      if (label === undefined) {
        this.error(pair.key ?? node, entry.field, 'port labels are plain names');
        continue;
      }
      const f = join(entry.field, label);
      const checked = this.textOf(pair.key, f, pair.key, labelRule);
      if (checked === undefined) continue;
      if (isScalar(pair.value) && typeof pair.value.value === 'number') {
        this.error(pair.value, f, `write "static: ${pair.value.value}" for a fixed host port, or leave the port empty for one picked by the cluster`);
        continue;
      }
      const p = this.mapping(pair.value, f, PORT_KEYS.filter((k) => k !== 'label'), `port ${label}`, true);
      if (p === undefined) continue;
      add(label, pair.key, f, p.get('static'), pair.key, f);
    }
    return out;
  }

  constraints(entry: Entry | undefined): Constraint[] {
    const items = this.list(entry, MAX_CONSTRAINTS, 'constraints');
    if (items === undefined) return [];
    this.placeEntry('constraints', entry);
    const out: Constraint[] = [];
    for (const it of items) {
      const c = isScalar(it.node) ? this.shortConstraint(it.node, it.field, out.length) : this.longConstraint(it.node, it.field, out.length);
      if (c !== undefined) out.push(c);
    }
    return out;
  }

  /** `"tag.zone == a"`, `"tag.gpu exists"`, `"node.version version>= 0.4"`: attribute, operator, rest. */
  shortConstraint(node: Scalar, field: string, at: number): Constraint | undefined {
    const s = this.textOf(node, field, undefined, { maxChars: MAX_ATTRIBUTE_CHARS + MAX_CONSTRAINT_VALUE_CHARS + 16 });
    if (s === undefined) return undefined;
    const words = /^\s*(\S+)\s+(\S+)(?:\s+(.*?))?\s*$/.exec(s);
    const compact = /^\s*([^\s=!<>]+)\s*(==|!=|<=|>=|<|>)\s*(.*?)\s*$/.exec(s);
    const isOperator = (o: string | undefined): o is ConstraintOperator => o !== undefined && (CONSTRAINT_OPERATORS as readonly string[]).includes(o);
    const m = words && isOperator(words[2]) ? words : compact && isOperator(compact[2]) ? compact : words;
    if (!m) return this.fail(node, field, `write a constraint as "<attribute> <operator> <value>", e.g. "tag.zone == a" or "tag.gpu exists"`);
    const [, attribute, operator, value] = m as unknown as [string, string, string, string | undefined];
    if (!isOperator(operator)) return this.fail(node, field, `unknown operator ${JSON.stringify(operator)}${operatorHint(operator)}; operators: ${CONSTRAINT_OPERATORS.join(' ')}`);
    if (attribute.length > MAX_ATTRIBUTE_CHARS) return this.fail(node, field, `the attribute is longer than ${MAX_ATTRIBUTE_CHARS} characters`);
    if (value !== undefined && value.length > MAX_CONSTRAINT_VALUE_CHARS) return this.fail(node, field, `the value is longer than ${MAX_CONSTRAINT_VALUE_CHARS} characters`);
    for (const part of ['', '.attribute', '.operator', '.value']) this.place(`constraints[${at}]${part}`, field, node);
    return value === undefined || value === '' ? { attribute, operator } : { attribute, operator, value };
  }

  longConstraint(node: unknown, field: string, at: number): Constraint | undefined {
    const c = this.mapping(node, field, CONSTRAINT_KEYS, 'a constraint');
    if (c === undefined) return undefined;
    this.place(`constraints[${at}]`, field, node);
    const attribute = this.text(c.get('attribute'), { maxChars: MAX_ATTRIBUTE_CHARS, nonEmpty: true });
    if (!c.has('attribute')) this.error(node, join(field, 'attribute'), 'missing: say what to compare, e.g. "attribute: tag.zone"');
    this.placeEntry(`constraints[${at}].attribute`, c.get('attribute'));
    let operator: ConstraintOperator = '==';
    const opEntry = c.get('operator');
    if (opEntry !== undefined) {
      const op = this.text(opEntry);
      if (op === undefined) return undefined;
      if (!(CONSTRAINT_OPERATORS as readonly string[]).includes(op)) {
        return this.fail(opEntry.value, opEntry.field, `unknown operator ${JSON.stringify(op)}${operatorHint(op)}; operators: ${CONSTRAINT_OPERATORS.join(' ')}`);
      }
      operator = op as ConstraintOperator;
      this.placeEntry(`constraints[${at}].operator`, opEntry);
    }
    const valueEntry = c.get('value');
    let value: string | undefined;
    if (valueEntry !== undefined) {
      this.placeEntry(`constraints[${at}].value`, valueEntry);
      if (isSeq(valueEntry.value)) {
        // A list for in / not-in: the spec keeps it comma-separated.
        const parts = valueEntry.value.items.map((n, k) => this.textOf(n, item(valueEntry.field, k), undefined, { nonEmpty: true }));
        if (parts.some((p) => p === undefined)) return undefined;
        const bad = parts.findIndex((p) => p!.includes(','));
        if (bad >= 0) return this.fail(valueEntry.value.items[bad], item(valueEntry.field, bad), 'list values cannot contain commas');
        value = parts.join(',');
      } else {
        value = this.text(valueEntry);
        if (value === undefined) return undefined;
      }
      if (value.length > MAX_CONSTRAINT_VALUE_CHARS) return this.fail(valueEntry.value, valueEntry.field, `the value is longer than ${MAX_CONSTRAINT_VALUE_CHARS} characters`);
    }
    if (attribute === undefined) return undefined;
    return value === undefined ? { attribute, operator } : { attribute, operator, value };
  }

  spread(entry: Entry | undefined): Spread[] {
    const items = this.list(entry, MAX_SPREADS, 'spreads');
    if (items === undefined) return [];
    this.placeEntry('spread', entry);
    const out: Spread[] = [];
    for (const it of items) {
      const at = out.length;
      if (isScalar(it.node)) {
        const attribute = this.textOf(it.node, it.field, undefined, { maxChars: MAX_ATTRIBUTE_CHARS, nonEmpty: true });
        if (attribute === undefined) continue;
        this.place(`spread[${at}]`, it.field, it.node);
        this.place(`spread[${at}].attribute`, it.field, it.node);
        out.push({ attribute, weight: DEFAULT_SPREAD_WEIGHT });
        continue;
      }
      const s = this.mapping(it.node, it.field, SPREAD_KEYS, 'a spread');
      if (s === undefined) continue;
      const attribute = this.text(s.get('attribute'), { maxChars: MAX_ATTRIBUTE_CHARS, nonEmpty: true });
      if (!s.has('attribute')) this.error(it.node, join(it.field, 'attribute'), 'missing: say what to spread over, e.g. "attribute: tag.zone"');
      const weight = this.int(s.get('weight'), 1, 100) ?? DEFAULT_SPREAD_WEIGHT;
      if (attribute === undefined) continue;
      this.place(`spread[${at}]`, it.field, it.node);
      this.placeEntry(`spread[${at}].attribute`, s.get('attribute'));
      out.push({ attribute, weight });
    }
    return out;
  }

  restart(entry: Entry | undefined): RestartPolicy {
    const r = entry === undefined ? new Map<string, Entry>() : this.mapping(entry.value, entry.field, RESTART_KEYS, 'restart', true);
    if (r === undefined) return DEFAULT_RESTART;
    this.placeEntry('restart', entry);
    this.placeEntry('restart.delayMs', r.get('delay'));
    this.placeEntry('restart.maxDelayMs', r.get('maxDelay'));
    const d = DEFAULT_RESTART;
    return {
      attempts: this.int(r.get('attempts'), 0, MAX_RESTART_ATTEMPTS) ?? d.attempts,
      intervalMs: this.duration(r.get('interval'), DURATION_BOUNDS_MS.restartInterval) ?? d.intervalMs,
      delayMs: this.duration(r.get('delay'), DURATION_BOUNDS_MS.restartDelay) ?? d.delayMs,
      backoff: this.number(r.get('backoff'), 1, MAX_BACKOFF) ?? d.backoff,
      maxDelayMs: this.duration(r.get('maxDelay'), DURATION_BOUNDS_MS.restartMaxDelay) ?? d.maxDelayMs,
    };
  }

  update(entry: Entry | undefined): UpdatePolicy {
    const u = entry === undefined ? new Map<string, Entry>() : this.mapping(entry.value, entry.field, UPDATE_KEYS, 'update', true);
    if (u === undefined) return DEFAULT_UPDATE;
    this.placeEntry('update', entry);
    this.placeEntry('update.minHealthyMs', u.get('minHealthy'));
    this.placeEntry('update.healthyDeadlineMs', u.get('healthyDeadline'));
    const d = DEFAULT_UPDATE;
    return {
      maxParallel: this.int(u.get('maxParallel'), 1, MAX_JOB_COUNT) ?? d.maxParallel,
      healthyDeadlineMs: this.duration(u.get('healthyDeadline'), DURATION_BOUNDS_MS.healthyDeadline) ?? d.healthyDeadlineMs,
      minHealthyMs: this.duration(u.get('minHealthy'), DURATION_BOUNDS_MS.minHealthy) ?? d.minHealthyMs,
      autoRevert: this.bool(u.get('autoRevert')) ?? d.autoRevert,
    };
  }

  service(entry: Entry | undefined, job: string | undefined, ports: readonly PortRequest[]): ServiceSpec | undefined {
    if (entry === undefined) return undefined;
    const s = this.mapping(entry.value, entry.field, SERVICE_KEYS, 'service');
    if (s === undefined) return undefined;
    this.placeEntry('service', entry);
    let name = this.text(s.get('name'), { pattern: SERVICE_NAME_PATTERN, rule: 'a service name is a DNS label: 1-63 lower-case letters, digits and "-", not starting or ending with "-"' });
    if (!s.has('name') && job !== undefined) {
      if (new RegExp(SERVICE_NAME_PATTERN).test(job)) name = job;
      else this.error(entry.key, join(entry.field, 'name'), `the service would be named after the job, but ${JSON.stringify(job)} is not a DNS label (lower-case letters, digits and "-"); give the service a name`);
    }
    let port = this.text(s.get('port'), { pattern: PORT_LABEL_PATTERN, rule: 'name one of the job\'s port labels' });
    this.placeEntry('service.port', s.get('port'));
    if (!s.has('port')) {
      if (ports.length === 1) port = ports[0]!.label;
      else {
        const which = ports.length === 0 ? 'declare one under resources.ports' : `one of: ${ports.map((p) => p.label).join(', ')}`;
        this.error(entry.key, join(entry.field, 'port'), `missing: name the port the service listens on (${which})`);
      }
    }
    const tags: string[] = [];
    const tagItems = this.list(s.get('tags'), MAX_SERVICE_TAGS, 'tags') ?? [];
    for (const t of tagItems) {
      const tag = this.textOf(t.node, t.field, undefined, { pattern: SERVICE_TAG_PATTERN, rule: 'a tag is 1-128 printable characters without spaces' });
      if (tag === undefined) continue;
      this.place(`service.tags[${tags.length}]`, t.field, t.node);
      tags.push(tag);
    }
    const checks = this.checks(s.get('check'), s.get('checks'));
    if (name === undefined || port === undefined) return undefined;
    return { name, port, tags, checks };
  }

  /** `check:` (one) or `checks:` (a list), not both. */
  checks(one: Entry | undefined, many: Entry | undefined): HealthCheck[] {
    if (one !== undefined && many !== undefined) {
      this.error(one.key, one.field, 'give either check (one) or checks (a list), not both');
      return [];
    }
    const items = one !== undefined ? [{ node: one.value, field: one.field }] : this.list(many, MAX_CHECKS, 'checks');
    if (items === undefined) return [];
    const out: HealthCheck[] = [];
    for (const it of items) {
      const c = this.check(it.node, it.field, out.length);
      if (c !== undefined) out.push(c);
    }
    return out;
  }

  check(node: unknown, field: string, at: number): HealthCheck | undefined {
    if (isAlias(node)) return undefined;
    if (!isMap(node)) return this.fail(node, field, `a check is a mapping (type: ttl|http|tcp|exec, ...), not ${describe(node)}`);
    const typePair = node.items.find((p) => keyName(p.key) === 'type');
    if (typePair === undefined) return this.fail(node, join(field, 'type'), `missing: say what kind of check this is (${CHECK_TYPES.join(', ')})`);
    const type = this.choice({ key: typePair.key, value: typePair.value, field: join(field, 'type') }, CHECK_TYPES, 'check types');
    if (type === undefined) return undefined;
    const allowed = CHECK_KEYS[type];
    // Report keys that belong to other check types plainly; others get a did-you-mean.
    const entries = new Map<string, Entry>();
    for (const pair of node.items) {
      const key = keyName(pair.key);
      if (key === undefined) {
        this.error(pair.key ?? node, field, 'keys are plain names');
        continue;
      }
      const f = join(field, key);
      if (!allowed.includes(key)) {
        const other = CHECK_TYPES.filter((t) => CHECK_KEYS[t].includes(key));
        this.error(pair.key, f, other.length > 0 ? `${type} checks take no ${key} (only ${listed(other)} checks do)` : unknownField(key, field, allowed));
        continue;
      }
      entries.set(key, { key: pair.key, value: pair.value, field: f });
    }
    this.place(`service.checks[${at}]`, field, node);
    this.placeEntry(`service.checks[${at}].name`, entries.get('name'));
    this.placeEntry(`service.checks[${at}].port`, entries.get('port'));
    this.placeEntry(`service.checks[${at}].timeoutMs`, entries.get('timeout'));
    const name = this.text(entries.get('name'), { pattern: CHECK_NAME_PATTERN, rule: 'a check name is 1-64 letters, digits, ".", "_" and "-", starting with a letter or digit' }) ?? (entries.has('name') ? undefined : type);
    if (name === undefined) return undefined;
    const interval = (): number | undefined => (entries.has('interval') ? this.duration(entries.get('interval'), DURATION_BOUNDS_MS.checkInterval) : DEFAULT_CHECK_INTERVAL_MS);
    const timeout = (): number | undefined => (entries.has('timeout') ? this.duration(entries.get('timeout'), DURATION_BOUNDS_MS.checkTimeout) : DEFAULT_CHECK_TIMEOUT_MS);
    const portOf = (): { ok: boolean; port?: string } => {
      if (!entries.has('port')) return { ok: true };
      const p = this.text(entries.get('port'), { pattern: PORT_LABEL_PATTERN, rule: 'name one of the job\'s port labels' });
      return p === undefined ? { ok: false } : { ok: true, port: p };
    };
    switch (type) {
      case 'ttl': {
        if (!entries.has('ttl')) return this.fail(node, join(field, 'ttl'), 'missing: how long a pushed status stays valid, e.g. "ttl: 30s"');
        const ttlMs = this.duration(entries.get('ttl'), DURATION_BOUNDS_MS.checkTtl);
        return ttlMs === undefined ? undefined : { type, name, ttlMs };
      }
      case 'http': {
        const path = entries.has('path') ? this.text(entries.get('path'), { pattern: HTTP_PATH_PATTERN, rule: 'a path starts with "/" and has no spaces (at most 1024 characters)' }) : '/';
        const intervalMs = interval();
        const timeoutMs = timeout();
        const port = portOf();
        if (path === undefined || intervalMs === undefined || timeoutMs === undefined || !port.ok) return undefined;
        return port.port === undefined ? { type, name, path, intervalMs, timeoutMs } : { type, name, path, intervalMs, timeoutMs, port: port.port };
      }
      case 'tcp': {
        const intervalMs = interval();
        const timeoutMs = timeout();
        const port = portOf();
        if (intervalMs === undefined || timeoutMs === undefined || !port.ok) return undefined;
        return port.port === undefined ? { type, name, intervalMs, timeoutMs } : { type, name, intervalMs, timeoutMs, port: port.port };
      }
      case 'exec': {
        const commandEntry = entries.get('command');
        if (commandEntry === undefined) return this.fail(node, join(field, 'command'), 'missing: the program and its arguments, e.g. command: ["/usr/local/bin/check", "--quick"]');
        if (isScalar(commandEntry.value) && typeof commandEntry.value.value === 'string') {
          return this.fail(commandEntry.value, commandEntry.field, 'give the command as a list of program and arguments, e.g. ["/bin/sh", "-c", "..."] (no shell is involved otherwise)');
        }
        const items = this.list(commandEntry, MAX_EXEC_ARGS, 'arguments');
        if (items === undefined) return undefined;
        if (items.length === 0) return this.fail(commandEntry.value, commandEntry.field, 'the command is empty');
        const command = items.map((a) => this.textOf(a.node, a.field, undefined, { maxChars: MAX_EXEC_ARG_CHARS, nonEmpty: true }));
        const intervalMs = interval();
        const timeoutMs = timeout();
        if (command.some((a) => a === undefined) || intervalMs === undefined || timeoutMs === undefined) return undefined;
        return { type, name, command: command as string[], intervalMs, timeoutMs };
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------

function listed(items: readonly string[]): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;
}

function pathOf(parts: readonly string[]): string {
  return parts.reduce((f, p) => (p.startsWith('[') ? `${f}${p}` : join(f, p)), '');
}

function isNull(node: unknown): boolean {
  return node === null || node === undefined || (isScalar(node) && node.value === null);
}

/**
 * A key as text, as written: `1: a` has the key "1", `null: a` the key "null" (keys in a job
 * file are names, never YAML's null). Undefined for complex keys (`? [a, b]`) and empty ones.
 */
function keyName(key: unknown): string | undefined {
  if (!isScalar(key)) return undefined;
  if (key.value === null) return key.source !== undefined && key.source !== '' && key.source !== '~' ? key.source : undefined;
  return scalarText(key);
}

/** String scalars as they are; numbers and booleans as written (`1.10`, `0x10`, `true`). */
function scalarText(node: Scalar): string | undefined {
  const v = node.value;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return node.source ?? String(v);
  return undefined;
}

function describe(node: unknown): string {
  if (isNull(node)) return 'nothing';
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  if (isAlias(node)) return 'an alias';
  if (isScalar(node)) {
    const v = node.value;
    if (typeof v === 'string') return `text ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v)}`;
    if (typeof v === 'number') return `the number ${node.source ?? v}`;
    if (typeof v === 'boolean') return `${v}`;
  }
  return 'an unsupported value';
}

function unknownField(name: string, parent: string, allowed: readonly string[]): string {
  const close = suggestion(name, allowed);
  if (close) return `unknown field ${JSON.stringify(name)}${close}`;
  if (parent === '') {
    if (name === 'name') return 'unknown field "name" (the job\'s name is given as "job: <name>")';
    const section = SECTION_OF[name];
    if (section !== undefined) return `unknown field ${JSON.stringify(name)} (it belongs under ${section}:)`;
  }
  return `unknown field ${JSON.stringify(name)}; ${parent === '' ? 'a job' : parent} takes ${allowed.join(', ')}`;
}

function operatorHint(op: string): string {
  const aliases: Readonly<Record<string, string>> = { '=': '==', eq: '==', ne: '!=', '<>': '!=', lt: '<', le: '<=', gt: '>', ge: '>=', '=~': 'regex', '~=': 'regex', set_contains: 'in', is_set: 'exists', is_not_set: 'not-exists', not_in: 'not-in', notin: 'not-in', semver: 'version>=', version: 'version>=' };
  const hit = aliases[op.toLowerCase()];
  return hit !== undefined ? ` (did you mean ${JSON.stringify(hit)}?)` : suggestion(op, CONSTRAINT_OPERATORS);
}
