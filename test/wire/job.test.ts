import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { DEFAULT_RESOURCES, DEFAULT_RESTART, DEFAULT_UPDATE, type JobSpec } from '../../src/core/scheduler/job.ts';
import { PROTOCOL_VERSION } from '../../src/wire/codec.ts';
import { JobSpecSchema, attributeProblem, checkJobSpec, createJobCodec, decodeJobSpec, encodeJobSpec, validateJobSpec } from '../../src/wire/job.ts';
import { WIRE_MESSAGES } from '../../src/wire/messages.ts';
import { validJobSpec } from './job-spec-arbitrary.ts';

const BASE: JobSpec = {
  job: 'web',
  type: 'service',
  count: 2,
  driver: 'process',
  config: { command: '/bin/web' },
  env: {},
  resources: { ...DEFAULT_RESOURCES, ports: [{ label: 'http' }] },
  constraints: [],
  spread: [],
  restart: DEFAULT_RESTART,
  update: DEFAULT_UPDATE,
  stopTimeoutMs: 5000,
};

describe('job specs on the wire', () => {
  it('is registered in the wire registry', () => {
    assert.equal(WIRE_MESSAGES['job.spec'], JobSpecSchema);
  });

  it('admits every valid spec and round-trips it through msgpack', () => {
    const codec = createJobCodec();
    fc.assert(
      fc.property(validJobSpec, (spec) => {
        assert.deepEqual(validateJobSpec(spec), []);
        const bytes = encodeJobSpec(codec, spec);
        assert.ok(bytes.ok, bytes.ok ? '' : bytes.error);
        assert.deepEqual(decodeJobSpec(codec, bytes.value), { ok: true, value: spec });
      }),
      { numRuns: 200, seed: 6_2027 },
    );
  });

  it('drops undefined optional fields on encode, refuses specs the schema does not admit', () => {
    const codec = createJobCodec();
    const withUndefined = { ...BASE, service: undefined, resources: { ...BASE.resources, ports: [{ label: 'http', static: undefined }] } } as unknown as JobSpec;
    const bytes = encodeJobSpec(codec, withUndefined);
    assert.ok(bytes.ok, bytes.ok ? '' : bytes.error);
    const back = decodeJobSpec(codec, bytes.value);
    assert.ok(back.ok);
    assert.equal('service' in back.value, false);
    assert.deepEqual(back.value.resources.ports, [{ label: 'http' }]);
    assert.deepEqual(encodeJobSpec(codec, { ...BASE, count: -1 }), { ok: false, error: 'cannot encode job.spec: /count: Expected integer to be greater or equal to 0' });
    assert.equal(encodeJobSpec(createJobCodec(64), BASE).ok, false);
  });

  it('decodes hostile bytes to an error, never a throw', () => {
    const codec = createJobCodec();
    const raw = new Packr({ useRecords: false, mapsAsObjects: true });
    const wrong = decodeJobSpec(codec, raw.pack([PROTOCOL_VERSION, 'job.spec', { ...BASE, extra: 1 }]));
    assert.ok(!wrong.ok && /invalid job\.spec message/.test(wrong.error));
    const bytes = encodeJobSpec(codec, BASE);
    assert.ok(bytes.ok);
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 0, max: 7 }), (at, bit) => {
        const flipped = Uint8Array.from(bytes.value);
        flipped[at % flipped.length]! ^= 1 << bit;
        decodeJobSpec(codec, flipped);
      }),
      { numRuns: 500 },
    );
  });

  it('names schema problems by field path in checkJobSpec', () => {
    const r = checkJobSpec({ ...BASE, resources: { ...BASE.resources, ports: [{ label: 'http', static: 70000 }] }, env: { 'bad name': 'x' } });
    assert.ok(!r.ok);
    const fields = r.error.map((p) => p.field);
    assert.ok(fields.includes('resources.ports[0].static'), fields.join());
    assert.ok(fields.some((f) => f.startsWith('env')), fields.join());
    assert.ok(!checkJobSpec('not a job').ok);
  });

  it('applies the admission rules between fields', () => {
    const problems = (patch: Partial<JobSpec>) => validateJobSpec({ ...BASE, ...patch });
    assert.deepEqual(problems({}), []);
    assert.deepEqual(problems({ type: 'system', count: 7 }), [], 'a system job ignores count');
    assert.deepEqual(problems({ type: 'leader', count: 3 }).map((p) => p.field), ['count']);
    assert.deepEqual(problems({ driver: 'docker' }).map((p) => p.field), ['driver']);
    assert.deepEqual(
      problems({ service: { name: 'web', port: 'grpc', tags: [], checks: [{ type: 'tcp', name: 'up', intervalMs: 1000, timeoutMs: 2000, port: 'x' }] } }).map((p) => p.field),
      ['service.port', 'service.checks[0].port', 'service.checks[0].timeoutMs'],
    );
    assert.deepEqual(problems({ constraints: [{ attribute: 'tag.a', operator: 'exists', value: 'x' }, { attribute: 'node.id', operator: '==' }] }).map((p) => p.field), ['constraints[0].value', 'constraints[1].value']);
    assert.deepEqual(problems({ restart: { ...DEFAULT_RESTART, delayMs: 10_000, maxDelayMs: 5000 } }).map((p) => p.field), ['restart.maxDelayMs']);
    assert.deepEqual(problems({ update: { ...DEFAULT_UPDATE, minHealthyMs: DEFAULT_UPDATE.healthyDeadlineMs } }).map((p) => p.field), ['update.minHealthyMs']);
    assert.deepEqual(problems({ env: { sappers_x: '1' } }).map((p) => p.field), ['env.sappers_x']);
    // Only plain data in a driver config (a Buffer or a class instance is not data).
    assert.deepEqual(problems({ config: { a: [Buffer.from('x')] } }).map((p) => p.field), ['config.a[0]']);
    assert.deepEqual(problems({ config: { f: (() => 1) as unknown } }).map((p) => p.field), ['config.f']);
    let deep: unknown = 1;
    for (let i = 0; i < 10; i++) deep = { a: deep };
    assert.deepEqual(problems({ config: deep as Record<string, unknown> }).map((p) => p.message), ['the driver config nests more than 6 levels deep']);
  });

  it('explains unknown attributes', () => {
    assert.equal(attributeProblem('tag.zone'), undefined);
    assert.equal(attributeProblem('resources.memoryMB'), undefined);
    assert.equal(attributeProblem('meta.zone'), 'unknown attribute "meta.zone" (did you mean "tag.zone"?)');
    assert.equal(attributeProblem('node.ID'), 'unknown attribute "node.ID" (did you mean "node.id"?)');
    assert.match(attributeProblem('cpu.arch') ?? '', /^unknown attribute "cpu\.arch"; known attributes: node\.id, /);
    assert.match(attributeProblem('tag.') ?? '', /is not a tag key/);
  });
});
