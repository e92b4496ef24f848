// Agent configuration from three layers, later ones winning: a YAML file, SAPPERS_* environment
// variables, then command-line flags (DESIGN.md, Interfaces). Each layer is checked on its own
// so that an error names where the bad value came from: file:line:column and field, the
// environment variable, or the flag.
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { isMap } from 'yaml';
import { err, ok, type Result } from '../core/result.ts';
import { parseLocatedYaml } from '../wire/yaml-locate.ts';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export const GOSSIP_PRESETS = ['lan', 'wan', 'local'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const Port = Type.Integer({ minimum: 0, maximum: 65535, description: 'TCP/UDP port; 0 picks a free one' });
const HostPort = Type.String({ minLength: 3, maxLength: 300, pattern: '^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9._-]+):[0-9]{1,5}$' });
const TAG_KEY = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$/;

export const AgentConfigSchema = Type.Object(
  {
    nodeId: Type.Optional(Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' })),
    dataDir: Type.Optional(Type.String({ minLength: 1 })),
    bind: Type.String({ minLength: 1, maxLength: 255 }),
    /** Address other nodes use to reach this one; defaults to bind, or a local IP when bind is 0.0.0.0. */
    advertise: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    ports: Type.Object({ http: Port, rpc: Port, gossip: Port, dns: Port }, { additionalProperties: false }),
    join: Type.Array(HostPort, { maxItems: 64 }),
    bootstrapExpect: Type.Optional(Type.Integer({ minimum: 1, maximum: 7 })),
    tags: Type.Record(Type.String(), Type.String({ maxLength: 256 })),
    log: Type.Object({ level: Type.Union(LOG_LEVELS.map((l) => Type.Literal(l))) }, { additionalProperties: false }),
    gossip: Type.Object(
      {
        preset: Type.Union(GOSSIP_PRESETS.map((p) => Type.Literal(p))),
        /** On SIGINT/SIGTERM, leave gracefully (status 'left') instead of just stopping. */
        leaveOnTerminate: Type.Boolean(),
      },
      { additionalProperties: false },
    ),
    cluster: Type.Object(
      {
        /**
         * Workloads are placed only while at least this many nodes are alive (origin seed);
         * below it, GET /v1/status reports waiting-for-nodes.
         */
        minNodes: Type.Integer({ minimum: 1, maximum: 10_000 }),
        /** Below minNodes: 'pause' places nothing new (running work stays); 'stop' stops every workload. */
        belowMinNodes: Type.Union([Type.Literal('pause'), Type.Literal('stop')]),
      },
      { additionalProperties: false },
    ),
    /** The voter-set policy the leader runs (DESIGN.md, Autopilot). */
    autopilot: Type.Object(
      {
        /** Voters to aim for when enough healthy nodes exist (odd: 1, 3, 5 or 7). */
        targetVoters: Type.Union([Type.Literal(1), Type.Literal(3), Type.Literal(5), Type.Literal(7)]),
        /** How long a voter must be dead (by gossip) before it is replaced. */
        deadVoterGraceMs: Type.Integer({ minimum: 1000, maximum: 86_400_000 }),
        /** How long a new node must stay caught up before it may vote. */
        learnerStableMs: Type.Integer({ minimum: 0, maximum: 3_600_000 }),
        /**
         * Opt-in: after this long without a quorum, with a majority of voters dead by gossip, the
         * freshest surviving voter recovers by itself (like `operator recover`). Absent: never.
         */
        autoRecoverMs: Type.Optional(Type.Integer({ minimum: 1000, maximum: 86_400_000 })),
      },
      { additionalProperties: false },
    ),
    /** Security is on by default (see src/agent/security.ts and docs/operator-guide.md). */
    security: Type.Object(
      {
        /** The cluster key (`sappers keygen`): encrypts gossip and admits a node to the cluster. */
        clusterKeyFile: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
        /** Where the originating node writes (or reads) the management token; default <dataDir>/management-token. */
        managementTokenFile: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
        /** Run without a cluster key: no gossip encryption, plain RPC, no API token. */
        insecure: Type.Boolean(),
        /** Operator-supplied TLS files instead of certificates from the cluster CA: all three or none. */
        tls: Type.Object(
          {
            certFile: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
            keyFile: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
            caFile: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
          },
          { additionalProperties: false },
        ),
      },
      { additionalProperties: false },
    ),
    /** Running the cluster's workloads (src/agent/workloads.ts, src/agent/scheduler-runner.ts). */
    workloads: Type.Object(
      {
        /** How long a dead node's allocations wait before they are replaced elsewhere (no mass rescheduling on a flap). */
        lostGraceMs: Type.Integer({ minimum: 0, maximum: 86_400_000 }),
        /** Each workload's stdout and stderr: a file is rotated at this size... */
        logMaxFileBytes: Type.Integer({ minimum: 4096, maximum: 1024 * 1024 * 1024 }),
        /** ...and this many files are kept per stream, the live one included. */
        logMaxFiles: Type.Integer({ minimum: 1, maximum: 100 }),
        /** CPU offered to workloads, in millicores (default: every core; more overcommits, less reserves). */
        offerCpuMillis: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000_000 })),
        /** Memory offered to workloads in MB (default: total less a tenth, at least 256 MB kept back). */
        offerMemoryMB: Type.Optional(Type.Integer({ minimum: 0, maximum: 100_000_000 })),
      },
      { additionalProperties: false },
    ),
    /** Remote exec (`sappers exec`, src/agent/exec.ts): whether this node runs commands for the cluster. Off by default. */
    exec: Type.Object({ enabled: Type.Boolean() }, { additionalProperties: false }),
    dev: Type.Boolean(),
  },
  { additionalProperties: false },
);

export type AgentConfig = Static<typeof AgentConfigSchema>;

export const DEFAULT_CONFIG: AgentConfig = {
  bind: '0.0.0.0',
  ports: { http: 7700, rpc: 7701, gossip: 7702, dns: 7753 },
  join: [],
  tags: {},
  log: { level: 'info' },
  gossip: { preset: 'lan', leaveOnTerminate: true },
  cluster: { minNodes: 1, belowMinNodes: 'pause' },
  autopilot: { targetVoters: 3, deadVoterGraceMs: 30_000, learnerStableMs: 10_000 },
  security: { insecure: false, tls: {} },
  exec: { enabled: false },
  workloads: { lostGraceMs: 30_000, logMaxFileBytes: 10 * 1024 * 1024, logMaxFiles: 5 },
  dev: false,
};

/** Where a configuration error came from, in the words an operator would search for. */
export interface ConfigError {
  /** e.g. "/etc/sappers.yaml:12:5", "environment SAPPERS_HTTP_PORT", "flag --http-port" */
  readonly source: string;
  /** Dotted field path, e.g. "ports.http". */
  readonly field: string;
  readonly message: string;
}

export function formatConfigErrors(errors: readonly ConfigError[]): string {
  return errors.map((e) => `${e.source}: ${e.field ? `${e.field}: ` : ''}${e.message}`).join('\n');
}

type Kind = 'string' | 'port' | 'int' | 'list' | 'tags' | 'bool';

/** Settings reachable from the environment and flags; everything is reachable from the file. */
const FIELDS: ReadonlyArray<{ readonly path: readonly string[]; readonly env: string; readonly flag: string; readonly kind: Kind }> = [
  { path: ['nodeId'], env: 'SAPPERS_NODE_ID', flag: 'nodeId', kind: 'string' },
  { path: ['dataDir'], env: 'SAPPERS_DATA_DIR', flag: 'dataDir', kind: 'string' },
  { path: ['bind'], env: 'SAPPERS_BIND', flag: 'bind', kind: 'string' },
  { path: ['advertise'], env: 'SAPPERS_ADVERTISE', flag: 'advertise', kind: 'string' },
  { path: ['ports', 'http'], env: 'SAPPERS_HTTP_PORT', flag: 'httpPort', kind: 'port' },
  { path: ['ports', 'rpc'], env: 'SAPPERS_RPC_PORT', flag: 'rpcPort', kind: 'port' },
  { path: ['ports', 'gossip'], env: 'SAPPERS_GOSSIP_PORT', flag: 'gossipPort', kind: 'port' },
  { path: ['ports', 'dns'], env: 'SAPPERS_DNS_PORT', flag: 'dnsPort', kind: 'port' },
  { path: ['join'], env: 'SAPPERS_JOIN', flag: 'join', kind: 'list' },
  { path: ['bootstrapExpect'], env: 'SAPPERS_BOOTSTRAP_EXPECT', flag: 'bootstrapExpect', kind: 'int' },
  { path: ['tags'], env: 'SAPPERS_TAGS', flag: 'tag', kind: 'tags' },
  { path: ['log', 'level'], env: 'SAPPERS_LOG_LEVEL', flag: 'logLevel', kind: 'string' },
  { path: ['dev'], env: 'SAPPERS_DEV', flag: 'dev', kind: 'bool' },
  { path: ['gossip', 'preset'], env: 'SAPPERS_GOSSIP_PRESET', flag: 'gossipPreset', kind: 'string' },
  { path: ['security', 'clusterKeyFile'], env: 'SAPPERS_CLUSTER_KEY_FILE', flag: 'clusterKeyFile', kind: 'string' },
  { path: ['security', 'managementTokenFile'], env: 'SAPPERS_MANAGEMENT_TOKEN_FILE', flag: 'managementTokenFile', kind: 'string' },
  { path: ['security', 'insecure'], env: 'SAPPERS_INSECURE', flag: 'insecure', kind: 'bool' },
  { path: ['security', 'tls', 'certFile'], env: 'SAPPERS_TLS_CERT_FILE', flag: 'tlsCertFile', kind: 'string' },
  { path: ['security', 'tls', 'keyFile'], env: 'SAPPERS_TLS_KEY_FILE', flag: 'tlsKeyFile', kind: 'string' },
  { path: ['security', 'tls', 'caFile'], env: 'SAPPERS_TLS_CA_FILE', flag: 'tlsCaFile', kind: 'string' },
  { path: ['cluster', 'minNodes'], env: 'SAPPERS_MIN_NODES', flag: 'minNodes', kind: 'int' },
  { path: ['autopilot', 'targetVoters'], env: 'SAPPERS_TARGET_VOTERS', flag: 'targetVoters', kind: 'int' },
  { path: ['autopilot', 'deadVoterGraceMs'], env: 'SAPPERS_DEAD_VOTER_GRACE_MS', flag: 'deadVoterGraceMs', kind: 'int' },
  { path: ['autopilot', 'learnerStableMs'], env: 'SAPPERS_LEARNER_STABLE_MS', flag: 'learnerStableMs', kind: 'int' },
  { path: ['autopilot', 'autoRecoverMs'], env: 'SAPPERS_AUTO_RECOVER_MS', flag: 'autoRecoverMs', kind: 'int' },
  { path: ['exec', 'enabled'], env: 'SAPPERS_EXEC_ENABLED', flag: 'execEnabled', kind: 'bool' },
  { path: ['cluster', 'belowMinNodes'], env: 'SAPPERS_BELOW_MIN_NODES', flag: 'belowMinNodes', kind: 'string' },
  { path: ['workloads', 'lostGraceMs'], env: 'SAPPERS_LOST_GRACE_MS', flag: 'lostGraceMs', kind: 'int' },
  { path: ['workloads', 'offerCpuMillis'], env: 'SAPPERS_OFFER_CPU_MILLIS', flag: 'offerCpuMillis', kind: 'int' },
  { path: ['workloads', 'offerMemoryMB'], env: 'SAPPERS_OFFER_MEMORY_MB', flag: 'offerMemoryMb', kind: 'int' },
];

/** Flag values as commander hands them over: strings, repeated strings, or booleans. */
export type FlagValues = Readonly<Record<string, string | readonly string[] | boolean | undefined>>;

export interface ConfigSources {
  /** Path of the YAML file, when one was given (--config or SAPPERS_CONFIG). */
  readonly file?: { readonly path: string; readonly text: string };
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly flags: FlagValues;
}

const check = TypeCompiler.Compile(AgentConfigSchema);

export function loadConfig(sources: ConfigSources): Result<AgentConfig, ConfigError[]> {
  const errors: ConfigError[] = [];
  let merged: Record<string, unknown> = structuredClone(DEFAULT_CONFIG);

  if (sources.file) {
    const fromFile = readFileLayer(sources.file.path, sources.file.text);
    if (!fromFile.ok) return fromFile;
    merged = deepMerge(merged, fromFile.value.data);
    errors.push(...validateLayer(merged, fromFile.value.locate));
    if (errors.length > 0) return err(errors);
  }

  for (const field of FIELDS) {
    const raw = sources.env[field.env];
    if (raw === undefined || raw === '') continue;
    const parsed = parseValue(field.kind, raw);
    if (!parsed.ok) errors.push({ source: `environment ${field.env}`, field: field.path.join('.'), message: parsed.error });
    else merged = setIn(merged, field.path, parsed.value);
  }
  errors.push(...validateLayer(merged, (path) => envFor(path)));
  if (errors.length > 0) return err(errors);

  for (const field of FIELDS) {
    const raw = sources.flags[field.flag];
    if (raw === undefined || (Array.isArray(raw) && raw.length === 0)) continue;
    const parsed = typeof raw === 'boolean' ? ok(raw) : parseValue(field.kind, raw);
    if (!parsed.ok) errors.push({ source: `flag ${flagName(field.flag)}`, field: field.path.join('.'), message: parsed.error });
    else merged = setIn(merged, field.path, parsed.value);
  }
  errors.push(...validateLayer(merged, (path) => flagFor(path)));
  if (errors.length > 0) return err(errors);
  return ok(merged as AgentConfig);
}

function validateLayer(value: Record<string, unknown>, locate: (path: string[], atKey?: boolean) => string): ConfigError[] {
  const errors: ConfigError[] = [];
  for (const e of check.Errors(value)) {
    const path = e.path.split('/').filter(Boolean);
    const unknown = e.message === 'Unexpected property';
    const message = unknown ? `unknown field ${JSON.stringify(path.at(-1))}` : describe(e.message, e.value);
    errors.push({ source: locate(path, unknown), field: path.join('.'), message });
  }
  const tags = value.tags;
  if (tags !== null && typeof tags === 'object') {
    for (const key of Object.keys(tags)) {
      if (!TAG_KEY.test(key)) {
        errors.push({ source: locate(['tags', key], true), field: `tags.${key}`, message: 'tag keys are 1-63 characters of letters, digits, ".", "_", "/" and "-", starting with a letter or digit' });
      }
    }
  }
  const tls = (value.security as { tls?: Record<string, unknown> } | undefined)?.tls;
  if (tls !== undefined && tls !== null && typeof tls === 'object') {
    const given = ['certFile', 'keyFile', 'caFile'].filter((k) => tls[k] !== undefined);
    if (given.length > 0 && given.length < 3) {
      errors.push({ source: locate(['security', 'tls', given[0]!]), field: 'security.tls', message: 'give certFile, keyFile and caFile together (or none: certificates then come from the cluster CA)' });
    }
  }
  // Union errors repeat once per member; report each field once.
  return errors.filter((e, i) => errors.findIndex((o) => o.field === e.field && o.source === e.source) === i);
}

function describe(message: string, value: unknown): string {
  return `${message.charAt(0).toLowerCase()}${message.slice(1)} (got ${JSON.stringify(value) ?? String(value)})`;
}

interface FileLayer {
  readonly data: Record<string, unknown>;
  readonly locate: (path: string[], atKey?: boolean) => string;
}

function readFileLayer(path: string, text: string): Result<FileLayer, ConfigError[]> {
  const parsed = parseLocatedYaml(path, text);
  if (!parsed.ok) return err(parsed.error.map((e) => ({ source: e.source, field: '', message: e.message })));
  const { doc } = parsed.value;
  const contents = doc.contents;
  if (contents !== null && !isMap(contents)) {
    return err([{ source: `${path}:1:1`, field: '', message: 'the configuration file must be a YAML mapping (key: value lines)' }]);
  }
  const data = (doc.toJS() ?? {}) as Record<string, unknown>;
  return ok({ data, locate: (fieldPath, atKey) => parsed.value.locate(fieldPath, atKey).source });
}

function envFor(path: string[]): string {
  const field = FIELDS.find((f) => f.path.join('.') === path.slice(0, f.path.length).join('.'));
  return field ? `environment ${field.env}` : 'environment';
}

function flagFor(path: string[]): string {
  const field = FIELDS.find((f) => f.path.join('.') === path.slice(0, f.path.length).join('.'));
  return field ? `flag ${flagName(field.flag)}` : 'flags';
}

function flagName(key: string): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

function parseValue(kind: Kind, raw: string | readonly string[]): Result<unknown, string> {
  const items = typeof raw === 'string' ? [raw] : raw;
  const single = items.at(-1) ?? '';
  switch (kind) {
    case 'string':
      return ok(single);
    case 'port':
    case 'int': {
      if (!/^[0-9]+$/.test(single.trim())) return err(`expected ${kind === 'port' ? 'a port number 0-65535' : 'a whole number'}, got ${JSON.stringify(single)}`);
      return ok(Number(single.trim()));
    }
    case 'bool': {
      const v = single.trim().toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(v)) return ok(true);
      if (['0', 'false', 'no', 'off'].includes(v)) return ok(false);
      return err(`expected true or false, got ${JSON.stringify(single)}`);
    }
    case 'list':
      return ok(items.flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean));
    case 'tags': {
      const tags: Record<string, string> = {};
      for (const pair of items.flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean)) {
        const eq = pair.indexOf('=');
        if (eq <= 0) return err(`expected key=value, got ${JSON.stringify(pair)}`);
        tags[pair.slice(0, eq)] = pair.slice(eq + 1);
      }
      return ok(tags);
    }
  }
}

function setIn(target: Record<string, unknown>, path: readonly string[], value: unknown): Record<string, unknown> {
  const [head, ...rest] = path;
  if (head === undefined) return target;
  if (rest.length === 0) return { ...target, [head]: value };
  const child = target[head];
  return { ...target, [head]: setIn(child !== null && typeof child === 'object' ? (child as Record<string, unknown>) : {}, rest, value) };
}

/** Objects merge key by key; arrays and scalars from the later layer replace earlier ones. */
function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const prev = out[key];
    const bothObjects = isPlainObject(prev) && isPlainObject(value) && key !== 'tags';
    out[key] = bothObjects ? deepMerge(prev, value) : value;
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
