// Random job specifications that every rule admits, and a small YAML writer for them in the
// job-file form (with the file's alternative spellings chosen at random), for the property
// tests of the job-file reader and the job wire codec.
import fc from 'fast-check';
import {
  DEFAULT_RESTART,
  DEFAULT_STOP_TIMEOUT_MS,
  DEFAULT_UPDATE,
  type Constraint,
  type HealthCheck,
  type JobSpec,
  type PortRequest,
  type ServiceSpec,
  type Spread,
} from '../../src/core/scheduler/job.ts';
import { formatDuration } from '../../src/wire/duration.ts';
import { DEFAULT_SPREAD_WEIGHT, KNOWN_DRIVERS } from '../../src/wire/job.ts';

const token = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,11}$/);
const label = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_-]{0,9}$/);
const dnsLabel = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,14}[a-z0-9])?$/);
const ms = (min: number, max: number) => fc.integer({ min, max });
const text = fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('zöne', '日本', 'rocket 🚀', 'a "quoted" \\ value', 'line\nbreak', '1.10', '007', 'true', '4', ''));

/** Config values as plain data (numbers that survive a trip through text exactly). */
const configValue: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    text,
    fc.integer({ min: -1e12, max: 1e12 }),
    fc.double({ min: -1e15, max: 1e15, noNaN: true, noDefaultInfinity: true }).map((x) => (Object.is(x, -0) ? 0 : x)),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('v'), { maxLength: 3 }),
    fc.dictionary(fc.string({ maxLength: 8 }).filter((k) => k !== '__proto__'), tie('v'), { maxKeys: 3, noNullPrototype: true }),
  ),
})).v;

const ports: fc.Arbitrary<PortRequest[]> = fc
  .uniqueArray(fc.record({ label, static: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }) }, { noNullPrototype: true }), { selector: (p) => p.label.toLowerCase(), maxLength: 4 })
  .map((ps) => {
    const used = new Set<number>();
    return ps.map((p) => {
      if (p.static === undefined || used.has(p.static)) return { label: p.label };
      used.add(p.static);
      return { label: p.label, static: p.static };
    });
  });

const attribute = fc.oneof(fc.constantFrom('node.id', 'node.version', 'resources.cpuCores', 'resources.memoryMB', 'resources.diskFreeMB'), token.map((k) => `tag.${k}`));

const constraint: fc.Arbitrary<Constraint> = fc
  .tuple(attribute, fc.constantFrom('==', '!=', '<', '<=', '>', '>=', 'in', 'not-in', 'exists', 'not-exists', 'regex', 'version>=' as const), token, fc.array(token, { minLength: 1, maxLength: 3 }), fc.nat({ max: 1000 }))
  .map(([attr, operator, word, words, n]): Constraint => {
    switch (operator) {
      case 'exists':
      case 'not-exists':
        return { attribute: attr, operator };
      case 'in':
      case 'not-in':
        return { attribute: attr, operator, value: words.join(',') };
      case 'regex':
        return { attribute: attr, operator, value: `^${word.replace(/[.]/g, '\\.')}` };
      case 'version>=':
        return { attribute: attr, operator, value: `${n % 7}.${n % 13}.${n}` };
      default:
        return { attribute: attr, operator, value: attr.startsWith('resources.') ? String(n) : word };
    }
  });

const spreads: fc.Arbitrary<Spread[]> = fc.uniqueArray(fc.record({ attribute, weight: fc.oneof(fc.constant(DEFAULT_SPREAD_WEIGHT), fc.integer({ min: 1, max: 100 })) }, { noNullPrototype: true }), {
  selector: (s) => s.attribute,
  maxLength: 3,
});

function checkArb(labels: readonly string[]): fc.Arbitrary<HealthCheck> {
  const port = labels.length === 0 ? fc.constant(undefined) : fc.option(fc.constantFrom(...labels), { nil: undefined });
  const timing = ms(1000, 86_400_000).chain((intervalMs) => fc.record({ intervalMs: fc.constant(intervalMs), timeoutMs: ms(100, Math.min(intervalMs, 3_600_000)) }, { noNullPrototype: true }));
  return fc.oneof(
    fc.record({ type: fc.constant('ttl' as const), name: token, ttlMs: ms(1000, 86_400_000) }, { noNullPrototype: true }),
    fc.tuple(token, fc.stringMatching(/^\/[a-z0-9/_.-]{0,20}$/), timing, port).map(([name, path, t, p]): HealthCheck => ({ type: 'http', name, path, ...t, ...(p === undefined ? {} : { port: p }) })),
    fc.tuple(token, timing, port).map(([name, t, p]): HealthCheck => ({ type: 'tcp', name, ...t, ...(p === undefined ? {} : { port: p }) })),
    fc.tuple(token, fc.array(fc.string({ minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 3 }), timing).map(([name, command, t]): HealthCheck => ({ type: 'exec', name, command, ...t })),
  );
}

function serviceArb(job: string, ps: readonly PortRequest[]): fc.Arbitrary<ServiceSpec | undefined> {
  if (ps.length === 0) return fc.constant(undefined);
  const labels = ps.map((p) => p.label);
  return fc.option(
    fc.record({
      name: /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(job) ? fc.oneof(fc.constant(job), dnsLabel) : dnsLabel,
      port: fc.constantFrom(...labels),
      tags: fc.uniqueArray(fc.stringMatching(/^[\x21-\x7e]{1,12}$/), { maxLength: 3 }),
      checks: fc.uniqueArray(checkArb(labels), { selector: (c) => c.name, maxLength: 3 }),
    }, { noNullPrototype: true }),
    { nil: undefined },
  );
}

/** A JobSpec every rule of src/wire/job.ts admits. */
export const validJobSpec: fc.Arbitrary<JobSpec> = fc
  .record({
    job: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,20}$/),
    type: fc.constantFrom('service', 'system', 'batch', 'leader' as const),
    count: fc.integer({ min: 1, max: 50 }),
    driver: fc.constantFrom(...KNOWN_DRIVERS),
    config: fc.dictionary(fc.string({ maxLength: 10 }).filter((k) => k !== '__proto__'), configValue, { maxKeys: 4, noNullPrototype: true }),
    env: fc.dictionary(fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,15}$/).filter((k) => !k.toUpperCase().startsWith('SAPPERS_')), text, { maxKeys: 4, noNullPrototype: true }),
    cpuMillis: fc.integer({ min: 10, max: 64_000 }),
    memoryMB: fc.integer({ min: 1, max: 65_536 }),
    ports,
    constraints: fc.array(constraint, { maxLength: 4 }),
    spread: spreads,
    restart: fc.oneof(
      fc.constant(DEFAULT_RESTART),
      ms(0, 3_600_000).chain((delayMs) =>
        fc.record({
          attempts: fc.integer({ min: 0, max: 100 }),
          intervalMs: ms(1000, 86_400_000),
          delayMs: fc.constant(delayMs),
          backoff: fc.oneof(fc.integer({ min: 1, max: 10 }), fc.double({ min: 1, max: 10, noNaN: true })),
          maxDelayMs: ms(delayMs, 86_400_000),
        }, { noNullPrototype: true }),
      ),
    ),
    update: fc.oneof(
      fc.constant(DEFAULT_UPDATE),
      ms(1000, 86_400_000).chain((healthyDeadlineMs) =>
        fc.record({ maxParallel: fc.integer({ min: 1, max: 100 }), healthyDeadlineMs: fc.constant(healthyDeadlineMs), minHealthyMs: ms(0, Math.min(3_600_000, healthyDeadlineMs - 1)), autoRevert: fc.boolean() }, { noNullPrototype: true }),
      ),
    ),
    stopTimeoutMs: fc.oneof(fc.constant(DEFAULT_STOP_TIMEOUT_MS), ms(0, 3_600_000)),
  })
  .chain((r) =>
    serviceArb(r.job, r.ports).map((service): JobSpec => {
      const count = r.type === 'system' ? 0 : r.type === 'leader' ? 1 : r.count;
      const { cpuMillis, memoryMB, ports: ps, ...rest } = r;
      return { ...rest, count, resources: { cpuMillis, memoryMB, ports: ps }, ...(service === undefined ? {} : { service }) };
    }),
  );

/** Choices for the writer: which of the file's spellings to use, consumed in turn. */
export const writerChoices = fc.array(fc.boolean(), { minLength: 64, maxLength: 64 });

/** The spec as a job file, using the choices to pick among equivalent spellings. */
export function toJobFile(spec: JobSpec, choices: readonly boolean[]): string {
  let next = 0;
  const pick = (): boolean => choices[next++ % choices.length]!;
  const q = (s: string): string => JSON.stringify(s);
  const dur = (msValue: number): string => (msValue === 0 && pick() ? '0' : q(formatDuration(msValue)));
  const lines: string[] = [`job: ${q(spec.job)}`];
  if (spec.type !== 'service' || pick()) lines.push(`type: ${spec.type}`);
  if (spec.type !== 'system' && (spec.count !== 1 || pick())) lines.push(`count: ${spec.count}`);
  lines.push(`driver: ${spec.driver}`);
  if (Object.keys(spec.config).length > 0 || pick()) lines.push(`config: ${JSON.stringify(spec.config)}`);
  if (Object.keys(spec.env).length > 0) {
    lines.push('env:');
    // Numbers and booleans may be written bare: the reader keeps them as written.
    for (const [k, v] of Object.entries(spec.env)) lines.push(`  ${k}: ${/^(\d{1,5}(\.\d{1,3})?|true|false)$/.test(v) && pick() ? v : q(v)}`);
  }
  lines.push('resources:');
  const cpu = spec.resources.cpuMillis;
  lines.push(`  cpu: ${pick() ? cpu : pick() ? q(`${cpu}m`) : q(String(cpu / 1000))}`);
  lines.push(`  memoryMB: ${spec.resources.memoryMB}`);
  if (spec.resources.ports.length > 0) {
    lines.push('  ports:');
    const asMap = pick();
    for (const p of spec.resources.ports) {
      if (asMap) lines.push(p.static === undefined ? `    ${p.label}:${pick() ? '' : ' {}'}` : `    ${p.label}: { static: ${p.static} }`);
      else if (p.static === undefined && pick()) lines.push(`    - ${q(p.label)}`);
      else lines.push(`    - label: ${q(p.label)}`, ...(p.static === undefined ? [] : [`      static: ${p.static}`]));
    }
  }
  if (spec.constraints.length > 0) {
    lines.push('constraints:');
    for (const c of spec.constraints) {
      const isList = c.operator === 'in' || c.operator === 'not-in';
      if (pick()) lines.push(`  - ${q(c.value === undefined ? `${c.attribute} ${c.operator}` : `${c.attribute} ${c.operator} ${c.value}`)}`);
      else {
        lines.push(`  - attribute: ${q(c.attribute)}`);
        if (c.operator !== '==' || pick()) lines.push(`    operator: ${q(c.operator)}`);
        if (c.value !== undefined) lines.push(`    value: ${isList && pick() ? JSON.stringify(c.value.split(',')) : q(c.value)}`);
      }
    }
  }
  if (spec.spread.length > 0) {
    lines.push('spread:');
    for (const s of spec.spread) {
      if (s.weight === DEFAULT_SPREAD_WEIGHT && pick()) lines.push(`  - ${s.attribute}`);
      else lines.push(`  - attribute: ${s.attribute}`, `    weight: ${s.weight}`);
    }
  }
  const r = spec.restart;
  if (r !== DEFAULT_RESTART || pick()) {
    lines.push('restart:', `  attempts: ${r.attempts}`, `  interval: ${dur(r.intervalMs)}`, `  delay: ${dur(r.delayMs)}`, `  backoff: ${JSON.stringify(r.backoff)}`, `  maxDelay: ${dur(r.maxDelayMs)}`);
  }
  const u = spec.update;
  if (u !== DEFAULT_UPDATE || pick()) {
    lines.push('update:', `  maxParallel: ${u.maxParallel}`, `  healthyDeadline: ${dur(u.healthyDeadlineMs)}`, `  minHealthy: ${dur(u.minHealthyMs)}`, `  autoRevert: ${u.autoRevert}`);
  }
  const s = spec.service;
  if (s !== undefined) {
    lines.push('service:');
    if (s.name !== spec.job || pick()) lines.push(`  name: ${s.name}`);
    if (spec.resources.ports.length !== 1 || pick()) lines.push(`  port: ${q(s.port)}`);
    if (s.tags.length > 0 || pick()) lines.push(`  tags: ${JSON.stringify(s.tags)}`);
    const one = s.checks.length === 1 && pick();
    if (s.checks.length > 0) lines.push(one ? '  check:' : '  checks:');
    for (const c of s.checks) {
      const fields: string[] = [`type: ${c.type}`];
      if (c.name !== c.type || pick()) fields.push(`name: ${q(c.name)}`);
      switch (c.type) {
        case 'ttl':
          fields.push(`ttl: ${dur(c.ttlMs)}`);
          break;
        case 'exec':
          fields.push(`command: ${JSON.stringify(c.command)}`);
          break;
        case 'http':
          fields.push(`path: ${q(c.path)}`);
          break;
        case 'tcp':
          break;
      }
      if (c.type !== 'ttl') {
        fields.push(`interval: ${dur(c.intervalMs)}`, `timeout: ${dur(c.timeoutMs)}`);
        if ((c.type === 'http' || c.type === 'tcp') && c.port !== undefined) fields.push(`port: ${q(c.port)}`);
      }
      if (one) lines.push(...fields.map((f) => `    ${f}`));
      else lines.push(`    - ${fields[0]}`, ...fields.slice(1).map((f) => `      ${f}`));
    }
  }
  if (spec.stopTimeoutMs !== DEFAULT_STOP_TIMEOUT_MS || pick()) lines.push(`stopTimeout: ${dur(spec.stopTimeoutMs)}`);
  return `${lines.join('\n')}\n`;
}
