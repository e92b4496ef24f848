// A job specification (src/core/scheduler/job.ts) as data that crosses the wire and lives in the
// replicated state, and the rules a job must meet to be admitted.
//
// Three layers, each usable on its own:
//   JobSpecSchema     the shape and every bound (typebox): what any node accepts as a job's bytes.
//                     Its Static type is assignable to JobSpec (checked at compile time below).
//   validateJobSpec   the rules between fields (ports declared, counts per type, constraints that
//                     can mean something, ...), for a value that already matches the schema.
//                     Run it when a job is admitted (a file is read, the API receives one), NOT
//                     when a replicated command is applied: every node must apply the same bytes
//                     the same way, and a newer node's rules may differ from an older one's.
//   encode/decodeJobSpec  msgpack through the versioned codec (src/wire/codec.ts); decoding checks
//                     the schema only, for the reason above.
// The limits are sane bounds for operator-written jobs, documented in docs/operator-guide.md
// ("Job files"); the job-file parser (src/wire/job-file.ts) enforces the same numbers with
// messages that name the file's own keys.
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { isNodeAttribute, NODE_ATTRIBUTES, TAG_PREFIX } from '../core/scheduler/attributes.ts';
import { asNumber, CONSTRAINT_OPERATORS, listItems } from '../core/scheduler/constraint.ts';
import type { Constraint, JobSpec } from '../core/scheduler/job.ts';
import { JOB_TYPES } from '../core/scheduler/job.ts';
import { parseVersion } from '../core/scheduler/version.ts';
import { err, ok, type Result } from '../core/result.ts';
import { MessageCodec, describeDecodeError } from './codec.ts';
import { formatDuration } from './duration.ts';
import { didYouMean } from './suggest.ts';

// ---------------------------------------------------------------------------------------------
// Limits (one place; the parser, the schema and the docs use these).

/** Job names: letters, digits, `.`, `_`, `-`, starting with a letter or digit, 1-64 characters. */
export const JOB_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$';
/** Instances of one job (Nomad's C1M ran a million over thousands of jobs; one job of 10,000 is plenty). */
export const MAX_JOB_COUNT = 10_000;
export const DRIVER_NAME_PATTERN = '^[a-z][a-z0-9-]{0,31}$';
/** Drivers this build knows: `fake` is the in-memory driver of tests and simulations. */
export const KNOWN_DRIVERS: readonly string[] = ['process', 'container', 'microvm', 'fake'];
/** 10 millicores at least: a bare `cpu: 2` is two thousandths of a core, almost surely meant as "2". */
export const MIN_CPU_MILLIS = 10;
export const MAX_CPU_MILLIS = 1_024_000;
export const MAX_MEMORY_MB = 4 * 1024 * 1024;
export const MAX_PORTS = 32;
/** Port labels become environment variable suffixes (SAPPERS_PORT_<LABEL>), so no dots. */
export const PORT_LABEL_PATTERN = '^[A-Za-z][A-Za-z0-9_-]{0,31}$';
export const MAX_ENV_VARS = 128;
export const ENV_NAME_PATTERN = '^[A-Za-z_][A-Za-z0-9_]{0,127}$';
export const MAX_ENV_VALUE_CHARS = 32 * 1024;
/** The driver sets SAPPERS_ALLOC_ID, SAPPERS_ADDR, SAPPERS_TOKEN, SAPPERS_PORT_*: a job may not. */
export const RESERVED_ENV_PREFIX = 'SAPPERS_';
export const MAX_CONSTRAINTS = 32;
export const MAX_ATTRIBUTE_CHARS = TAG_PREFIX.length + 63;
export const MAX_CONSTRAINT_VALUE_CHARS = 1024;
/** Tag keys as agents accept them (src/agent/config.ts). */
export const TAG_KEY_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$';
export const MAX_SPREADS = 8;
export const DEFAULT_SPREAD_WEIGHT = 50;
export const MAX_RESTART_ATTEMPTS = 100;
export const MAX_BACKOFF = 10;
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** The service name is a DNS label: `<name>.service.sappers`. */
export const SERVICE_NAME_PATTERN = '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$';
export const MAX_SERVICE_TAGS = 32;
/** Service tags: 1-128 printable ASCII characters without spaces. */
export const SERVICE_TAG_PATTERN = '^[\\x21-\\x7e]{1,128}$';
export const MAX_CHECKS = 8;
/** Check names appear in PUT /v1/health/<allocation>/<check>. */
export const CHECK_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$';
export const HTTP_PATH_PATTERN = '^/[\\x21-\\x7e]{0,1023}$';
export const MAX_EXEC_ARGS = 64;
export const MAX_EXEC_ARG_CHARS = 4096;
export const DEFAULT_CHECK_INTERVAL_MS = 10_000;
export const DEFAULT_CHECK_TIMEOUT_MS = 2_000;
/** Nesting of mappings and lists in a driver's config, the config mapping itself included. */
export const MAX_CONFIG_DEPTH = 6;
/** Values (scalars and containers) in a driver's config, all levels together. */
export const MAX_CONFIG_VALUES = 4096;
export const MAX_CONFIG_ITEMS = 1024;
export const MAX_CONFIG_KEY_CHARS = 256;
export const MAX_CONFIG_STRING_CHARS = 64 * 1024;
/** One encoded job specification. */
export const MAX_JOB_SPEC_BYTES = 1024 * 1024;

/** Bounds of every duration field, in milliseconds (inclusive). */
export const DURATION_BOUNDS_MS = {
  restartInterval: { min: 1000, max: DAY_MS },
  restartDelay: { min: 0, max: HOUR_MS },
  restartMaxDelay: { min: 0, max: DAY_MS },
  healthyDeadline: { min: 1000, max: DAY_MS },
  minHealthy: { min: 0, max: HOUR_MS },
  stopTimeout: { min: 0, max: HOUR_MS },
  checkTtl: { min: 1000, max: DAY_MS },
  checkInterval: { min: 1000, max: DAY_MS },
  checkTimeout: { min: 100, max: HOUR_MS },
} as const;

// ---------------------------------------------------------------------------------------------
// Schema.

const Ms = (b: { readonly min: number; readonly max: number }) => Type.Integer({ minimum: b.min, maximum: b.max });
const strict = { additionalProperties: false } as const;

function configValue(depth: number): TSchema {
  const scalars = [Type.String({ maxLength: MAX_CONFIG_STRING_CHARS }), Type.Number(), Type.Boolean(), Type.Null()];
  if (depth === 0) return Type.Union(scalars);
  const inner = configValue(depth - 1);
  return Type.Union([
    ...scalars,
    Type.Array(inner, { maxItems: MAX_CONFIG_ITEMS }),
    Type.Record(Type.String({ maxLength: MAX_CONFIG_KEY_CHARS }), inner, { maxProperties: MAX_CONFIG_ITEMS }),
  ]);
}

const PortRequestSchema = Type.Object(
  { label: Type.String({ pattern: PORT_LABEL_PATTERN }), static: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })) },
  strict,
);

const ConstraintSchema = Type.Object(
  {
    attribute: Type.String({ minLength: 1, maxLength: MAX_ATTRIBUTE_CHARS }),
    operator: Type.Union(CONSTRAINT_OPERATORS.map((o) => Type.Literal(o))),
    value: Type.Optional(Type.String({ maxLength: MAX_CONSTRAINT_VALUE_CHARS })),
  },
  strict,
);

const CheckName = Type.String({ pattern: CHECK_NAME_PATTERN });
const Interval = Ms(DURATION_BOUNDS_MS.checkInterval);
const Timeout = Ms(DURATION_BOUNDS_MS.checkTimeout);
const PortLabel = Type.String({ pattern: PORT_LABEL_PATTERN });

const HealthCheckSchema = Type.Union([
  Type.Object({ type: Type.Literal('ttl'), name: CheckName, ttlMs: Ms(DURATION_BOUNDS_MS.checkTtl) }, strict),
  Type.Object(
    { type: Type.Literal('http'), name: CheckName, path: Type.String({ pattern: HTTP_PATH_PATTERN }), intervalMs: Interval, timeoutMs: Timeout, port: Type.Optional(PortLabel) },
    strict,
  ),
  Type.Object({ type: Type.Literal('tcp'), name: CheckName, intervalMs: Interval, timeoutMs: Timeout, port: Type.Optional(PortLabel) }, strict),
  Type.Object(
    {
      type: Type.Literal('exec'),
      name: CheckName,
      command: Type.Array(Type.String({ minLength: 1, maxLength: MAX_EXEC_ARG_CHARS }), { minItems: 1, maxItems: MAX_EXEC_ARGS }),
      intervalMs: Interval,
      timeoutMs: Timeout,
    },
    strict,
  ),
]);

export const JobSpecSchema = Type.Object(
  {
    job: Type.String({ pattern: JOB_NAME_PATTERN }),
    type: Type.Union(JOB_TYPES.map((t) => Type.Literal(t))),
    count: Type.Integer({ minimum: 0, maximum: MAX_JOB_COUNT }),
    driver: Type.String({ pattern: DRIVER_NAME_PATTERN }),
    config: Type.Record(Type.String({ maxLength: MAX_CONFIG_KEY_CHARS }), configValue(MAX_CONFIG_DEPTH - 1), { maxProperties: MAX_CONFIG_ITEMS }),
    env: Type.Record(Type.String({ pattern: ENV_NAME_PATTERN }), Type.String({ maxLength: MAX_ENV_VALUE_CHARS }), { maxProperties: MAX_ENV_VARS, additionalProperties: false }),
    resources: Type.Object(
      {
        cpuMillis: Type.Integer({ minimum: MIN_CPU_MILLIS, maximum: MAX_CPU_MILLIS }),
        memoryMB: Type.Integer({ minimum: 1, maximum: MAX_MEMORY_MB }),
        ports: Type.Array(PortRequestSchema, { maxItems: MAX_PORTS }),
      },
      strict,
    ),
    constraints: Type.Array(ConstraintSchema, { maxItems: MAX_CONSTRAINTS }),
    spread: Type.Array(
      Type.Object({ attribute: Type.String({ minLength: 1, maxLength: MAX_ATTRIBUTE_CHARS }), weight: Type.Integer({ minimum: 1, maximum: 100 }) }, strict),
      { maxItems: MAX_SPREADS },
    ),
    restart: Type.Object(
      {
        attempts: Type.Integer({ minimum: 0, maximum: MAX_RESTART_ATTEMPTS }),
        intervalMs: Ms(DURATION_BOUNDS_MS.restartInterval),
        delayMs: Ms(DURATION_BOUNDS_MS.restartDelay),
        backoff: Type.Number({ minimum: 1, maximum: MAX_BACKOFF }),
        maxDelayMs: Ms(DURATION_BOUNDS_MS.restartMaxDelay),
      },
      strict,
    ),
    update: Type.Object(
      {
        maxParallel: Type.Integer({ minimum: 1, maximum: MAX_JOB_COUNT }),
        healthyDeadlineMs: Ms(DURATION_BOUNDS_MS.healthyDeadline),
        minHealthyMs: Ms(DURATION_BOUNDS_MS.minHealthy),
        autoRevert: Type.Boolean(),
      },
      strict,
    ),
    service: Type.Optional(
      Type.Object(
        {
          name: Type.String({ pattern: SERVICE_NAME_PATTERN }),
          port: PortLabel,
          tags: Type.Array(Type.String({ pattern: SERVICE_TAG_PATTERN }), { maxItems: MAX_SERVICE_TAGS }),
          checks: Type.Array(HealthCheckSchema, { maxItems: MAX_CHECKS }),
        },
        strict,
      ),
    ),
    stopTimeoutMs: Ms(DURATION_BOUNDS_MS.stopTimeout),
  },
  strict,
);

export type JobSpecWire = Static<typeof JobSpecSchema>;

// Compile-time proof that whatever the schema admits is a JobSpec (config values are typed
// more narrowly on the wire than `unknown`).
const _schemaAdmitsJobSpecs = (s: JobSpecWire): JobSpec => s;
void _schemaAdmitsJobSpecs;

const CHECK = TypeCompiler.Compile(JobSpecSchema);

// ---------------------------------------------------------------------------------------------
// Admission rules.

/** One broken rule: `field` is the path in the JobSpec (`resources.ports[1].static`, `env.FOO`). */
export interface JobSpecProblem {
  readonly field: string;
  readonly message: string;
}

/** Schema first, then validateJobSpec: for values from outside (an API body). At most 50 problems. */
export function checkJobSpec(value: unknown): Result<JobSpec, JobSpecProblem[]> {
  if (!CHECK.Check(value)) {
    const problems: JobSpecProblem[] = [];
    for (const e of CHECK.Errors(value)) {
      const field = e.path
        .split('/')
        .filter(Boolean)
        .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
        .reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : acc === '' ? p : `${acc}.${p}`), '');
      if (!problems.some((p) => p.field === field)) problems.push({ field, message: e.message.charAt(0).toLowerCase() + e.message.slice(1) });
      if (problems.length >= 50) break;
    }
    return err(problems);
  }
  const problems = validateJobSpec(value);
  return problems.length > 0 ? err(problems) : ok(value);
}

/** Every rule between fields that the schema cannot say; [] when the job may be admitted. */
export function validateJobSpec(spec: JobSpec): JobSpecProblem[] {
  const problems: JobSpecProblem[] = [];
  const add = (field: string, message: string): void => {
    problems.push({ field, message });
  };

  if (!KNOWN_DRIVERS.includes(spec.driver)) {
    const close = didYouMean(spec.driver, KNOWN_DRIVERS);
    add('driver', `unknown driver ${JSON.stringify(spec.driver)}${close ? ` (did you mean ${JSON.stringify(close)}?)` : ''}; this version runs ${KNOWN_DRIVERS.join(', ')}`);
  }

  switch (spec.type) {
    case 'service':
      break; // 0 keeps the job defined with nothing running
    case 'batch':
      if (spec.count < 1) add('count', 'a batch job runs at least one instance (count 1 or more)');
      break;
    case 'leader':
      if (spec.count !== 1) add('count', `a leader job runs exactly one instance, on the Raft leader; count must be 1 (got ${spec.count})`);
      break;
    case 'system':
      break; // one per eligible node; count is not used
  }

  const labels = new Map<string, number>();
  const statics = new Map<number, number>();
  spec.resources.ports.forEach((p, i) => {
    const seen = labels.get(p.label);
    if (seen !== undefined) add(`resources.ports[${i}].label`, `port label ${JSON.stringify(p.label)} is declared twice (also resources.ports[${seen}])`);
    else labels.set(p.label, i);
    if (p.static !== undefined) {
      const other = statics.get(p.static);
      if (other !== undefined) add(`resources.ports[${i}].static`, `static port ${p.static} is already taken by port ${JSON.stringify(spec.resources.ports[other]!.label)}`);
      else statics.set(p.static, i);
    }
  });
  const declared = (): string => (labels.size === 0 ? 'the job declares no ports (add them under resources.ports)' : `declared ports: ${[...labels.keys()].join(', ')}`);

  if (spec.service !== undefined) {
    const s = spec.service;
    if (!labels.has(s.port)) add('service.port', `service port ${JSON.stringify(s.port)} is not one of the job's ports; ${declared()}`);
    const tags = new Set<string>();
    s.tags.forEach((t, i) => {
      if (tags.has(t)) add(`service.tags[${i}]`, `tag ${JSON.stringify(t)} is listed twice`);
      tags.add(t);
    });
    const names = new Set<string>();
    s.checks.forEach((c, i) => {
      const at = `service.checks[${i}]`;
      if (names.has(c.name)) add(`${at}.name`, `check name ${JSON.stringify(c.name)} is used twice; give each check its own name`);
      names.add(c.name);
      if ((c.type === 'http' || c.type === 'tcp') && c.port !== undefined && !labels.has(c.port)) {
        add(`${at}.port`, `check port ${JSON.stringify(c.port)} is not one of the job's ports; ${declared()}`);
      }
      if (c.type !== 'ttl' && c.timeoutMs > c.intervalMs) add(`${at}.timeoutMs`, `the timeout (${formatDuration(c.timeoutMs)}) is longer than the interval (${formatDuration(c.intervalMs)})`);
    });
  }

  spec.constraints.forEach((c, i) => {
    for (const p of constraintProblems(c)) add(`constraints[${i}].${p.field}`, p.message);
  });

  const spreadSeen = new Map<string, number>();
  spec.spread.forEach((s, i) => {
    const problem = attributeProblem(s.attribute);
    if (problem !== undefined) add(`spread[${i}].attribute`, problem);
    const seen = spreadSeen.get(s.attribute);
    if (seen !== undefined) add(`spread[${i}].attribute`, `${s.attribute} is spread over twice (also spread[${seen}])`);
    else spreadSeen.set(s.attribute, i);
  });

  if (spec.restart.maxDelayMs < spec.restart.delayMs) {
    add('restart.maxDelayMs', `the longest delay (${formatDuration(spec.restart.maxDelayMs)}) is shorter than the first delay (${formatDuration(spec.restart.delayMs)})`);
  }
  if (spec.update.minHealthyMs >= spec.update.healthyDeadlineMs) {
    add('update.minHealthyMs', `an instance must stay healthy for ${formatDuration(spec.update.minHealthyMs)}, which does not fit in the healthy deadline of ${formatDuration(spec.update.healthyDeadlineMs)}; make the deadline longer`);
  }

  for (const name of Object.keys(spec.env)) {
    if (name.toUpperCase().startsWith(RESERVED_ENV_PREFIX)) add(`env.${name}`, `names starting with ${RESERVED_ENV_PREFIX} are set by Sappers for every instance (SAPPERS_ALLOC_ID, SAPPERS_ADDR, SAPPERS_TOKEN, SAPPERS_PORT_<label>)`);
  }

  const configProblem = configShapeProblem(spec.config);
  if (configProblem !== undefined) add(`config${configProblem.field}`, configProblem.message);
  return problems;
}

/** Problems of one constraint, `field` relative to it (`attribute`, `value`, `operator`). */
export function constraintProblems(c: Constraint): JobSpecProblem[] {
  const out: JobSpecProblem[] = [];
  const attr = attributeProblem(c.attribute);
  if (attr !== undefined) out.push({ field: 'attribute', message: attr });
  const { operator, value } = c;
  if (operator === 'exists' || operator === 'not-exists') {
    if (value !== undefined) out.push({ field: 'value', message: `operator ${operator} takes no value` });
    return out;
  }
  if (value === undefined || value.trim() === '') {
    out.push({ field: 'value', message: `operator ${operator} needs a value` });
    return out;
  }
  switch (operator) {
    case 'in':
    case 'not-in':
      if (listItems(value).length === 0) out.push({ field: 'value', message: `operator ${operator} needs a list of values` });
      break;
    case 'regex':
      try {
        new RegExp(value);
      } catch (e) {
        out.push({ field: 'value', message: `not a valid regular expression: ${e instanceof Error ? e.message.replace(/^Invalid regular expression: /, '') : String(e)}` });
      }
      break;
    case 'version>=':
      if (parseVersion(value) === undefined) out.push({ field: 'value', message: `${JSON.stringify(value)} is not a version like 1.4 or 1.4.2-rc.1` });
      break;
    default:
      if (c.attribute.startsWith('resources.') && asNumber(value) === undefined) {
        out.push({ field: 'value', message: `${c.attribute} is a number; compare it with a number (got ${JSON.stringify(value)})` });
      }
  }
  return out;
}

/** Why an attribute names nothing a node has, with the likely intended name; undefined when fine. */
export function attributeProblem(attribute: string): string | undefined {
  if (attribute.startsWith(TAG_PREFIX)) {
    const key = attribute.slice(TAG_PREFIX.length);
    return new RegExp(TAG_KEY_PATTERN).test(key)
      ? undefined
      : `${JSON.stringify(key)} is not a tag key (1-63 letters, digits, ".", "_", "/", "-", starting with a letter or digit)`;
  }
  if (isNodeAttribute(attribute)) return undefined;
  const known = `known attributes: ${NODE_ATTRIBUTES.join(', ')}, tag.<key>`;
  for (const prefix of ['tags.', 'meta.', 'attr.', 'node.tag.', 'node.tags.', 'node.meta.']) {
    if (attribute.startsWith(prefix) && attribute.length > prefix.length) return `unknown attribute ${JSON.stringify(attribute)} (did you mean "tag.${attribute.slice(prefix.length)}"?)`;
  }
  const close = didYouMean(attribute, NODE_ATTRIBUTES);
  if (close !== undefined) return `unknown attribute ${JSON.stringify(attribute)} (did you mean ${JSON.stringify(close)}?)`;
  if (!attribute.includes('.')) return `unknown attribute ${JSON.stringify(attribute)} (for a node tag write "tag.${attribute}"); ${known}`;
  return `unknown attribute ${JSON.stringify(attribute)}; ${known}`;
}

/** Plain data only, within depth and size bounds; `field` like `.a.b[2]`. */
function configShapeProblem(config: Readonly<Record<string, unknown>>): JobSpecProblem | undefined {
  let values = 0;
  const walk = (v: unknown, field: string, depth: number): JobSpecProblem | undefined => {
    values++;
    if (values > MAX_CONFIG_VALUES) return { field, message: `the driver config holds more than ${MAX_CONFIG_VALUES} values` };
    if (v === null || typeof v === 'string' || typeof v === 'boolean') return undefined;
    if (typeof v === 'number') return Number.isFinite(v) ? undefined : { field, message: 'numbers must be finite' };
    if (typeof v !== 'object') return { field, message: `a ${typeof v} is not data (strings, numbers, booleans, null, lists, mappings)` };
    if (depth > MAX_CONFIG_DEPTH) return { field, message: `the driver config nests more than ${MAX_CONFIG_DEPTH} levels deep` };
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const p = walk(v[i], `${field}[${i}]`, depth + 1);
        if (p) return p;
      }
      return undefined;
    }
    const proto = Object.getPrototypeOf(v) as unknown;
    if (proto !== Object.prototype && proto !== null) return { field, message: 'only plain mappings and lists are data' };
    for (const [k, x] of Object.entries(v)) {
      if (k === '__proto__') return { field: `${field}.${k}`, message: 'the key "__proto__" is not allowed' };
      if (k.length > MAX_CONFIG_KEY_CHARS) return { field, message: `a key is longer than ${MAX_CONFIG_KEY_CHARS} characters` };
      const p = walk(x, `${field}.${k}`, depth + 1);
      if (p) return p;
    }
    return undefined;
  };
  return walk(config, '', 1);
}

// ---------------------------------------------------------------------------------------------
// Codec.

/** The job group of the wire registry (src/wire/messages.ts). */
export const JobMessages = { 'job.spec': JobSpecSchema } as const;

export type JobCodec = MessageCodec<typeof JobMessages>;

export function createJobCodec(maxMessageBytes = MAX_JOB_SPEC_BYTES): JobCodec {
  return new MessageCodec(JobMessages, { maxMessageBytes });
}

/** Refuses (rather than sends) a spec the schema does not admit, naming the first field at fault. */
export function encodeJobSpec(codec: JobCodec, spec: JobSpec): Result<Uint8Array, string> {
  const body = withoutUndefined(spec);
  if (!CHECK.Check(body)) {
    const first = CHECK.Errors(body).First();
    return err(`cannot encode job.spec: ${first?.path || '/'}: ${first?.message ?? 'does not match the schema'}`);
  }
  const encoded = codec.encode({ type: 'job.spec', body });
  return encoded.ok ? encoded : err(`cannot encode job.spec: ${encoded.error.sizeBytes} bytes exceed the limit of ${encoded.error.maxBytes}`);
}

/** Schema check only (see the top of this file): admission rules are validateJobSpec's. */
export function decodeJobSpec(codec: JobCodec, bytes: Uint8Array): Result<JobSpec, string> {
  const decoded = codec.decode(bytes);
  if (!decoded.ok) return err(describeDecodeError(decoded.error));
  return ok(decoded.value.body);
}

/** Optional fields left undefined would travel as nil and fail the schema on the other side. */
function withoutUndefined<T>(value: T): T {
  if (Array.isArray(value)) return value.map(withoutUndefined) as T;
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const out: Record<string, unknown> = {};
    // defineProperty: a "__proto__" key stays a key instead of replacing the prototype.
    for (const [k, v] of Object.entries(value)) if (v !== undefined) Object.defineProperty(out, k, { value: withoutUndefined(v), enumerable: true, writable: true, configurable: true });
    return out as T;
  }
  return value;
}
