import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { DEFAULT_RESOURCES, DEFAULT_RESTART, DEFAULT_STOP_TIMEOUT_MS, DEFAULT_UPDATE, type JobSpec } from '../../src/core/scheduler/job.ts';
import { MAX_JOB_FILE_BYTES, formatJobFileErrors, parseJobFile } from '../../src/wire/job-file.ts';
import { MAX_CONFIG_DEPTH, MAX_ENV_VARS, MAX_PORTS, checkJobSpec, createJobCodec, decodeJobSpec, encodeJobSpec } from '../../src/wire/job.ts';
import { toJobFile, validJobSpec, writerChoices } from './job-spec-arbitrary.ts';

function parse(text: string): JobSpec {
  const r = parseJobFile('job.yaml', text);
  assert.ok(r.ok, r.ok ? '' : formatJobFileErrors(r.error));
  return r.value;
}

/** The formatted errors of a file that must not parse. */
function errors(...lines: string[]): string {
  const r = parseJobFile('job.yaml', `${lines.join('\n')}\n`);
  assert.ok(!r.ok, 'expected errors');
  return formatJobFileErrors(r.error);
}

const MINIMAL = ['job: web', 'driver: process'];

describe('job files', () => {
  it('reads a full file into the expected JobSpec', () => {
    const spec = parse(
      [
        'job: web',
        'type: service',
        'count: 3',
        'driver: process',
        'config:',
        '  command: /usr/bin/web',
        '  args: ["--port", 8080, true]',
        '  nested: {a: [1, {b: null}]}',
        'env:',
        '  MODE: prod',
        '  WORKERS: 4',
        '  RATIO: 1.10',
        '  DEBUG: false',
        'resources:',
        '  cpu: "1.5"',
        '  memoryMB: 512',
        '  ports:',
        '    http:',
        '    admin: { static: 9100 }',
        'constraints:',
        '  - "tag.zone in a,b"',
        '  - attribute: node.version',
        '    operator: "version>="',
        '    value: 0.10',
        '  - attribute: tag.gpu',
        '    operator: exists',
        '  - attribute: tag.rack',
        '    operator: not-in',
        '    value: [r1, r2]',
        '  - attribute: tag.role',
        '    value: web',
        'spread:',
        '  - attribute: tag.zone',
        '    weight: 80',
        '  - tag.rack',
        'restart:',
        '  attempts: 5',
        '  interval: 10m',
        '  delay: 250ms',
        '  backoff: 1.5',
        '  maxDelay: 1h30m',
        'update:',
        '  maxParallel: 2',
        '  healthyDeadline: 2m',
        '  minHealthy: 15s',
        '  autoRevert: false',
        'service:',
        '  name: web-frontend',
        '  port: http',
        '  tags: [a, b]',
        '  checks:',
        '    - type: http',
        '      path: /health',
        '      interval: 5s',
        '      timeout: 1s',
        '    - type: tcp',
        '      name: admin-up',
        '      port: admin',
        '    - type: ttl',
        '      ttl: 30s',
        '    - type: exec',
        '      command: [/bin/check, --quick]',
        'stopTimeout: 45s',
      ].join('\n'),
    );
    const expected: JobSpec = {
      job: 'web',
      type: 'service',
      count: 3,
      driver: 'process',
      config: { command: '/usr/bin/web', args: ['--port', 8080, true], nested: { a: [1, { b: null }] } },
      env: { MODE: 'prod', WORKERS: '4', RATIO: '1.10', DEBUG: 'false' },
      resources: { cpuMillis: 1500, memoryMB: 512, ports: [{ label: 'http' }, { label: 'admin', static: 9100 }] },
      constraints: [
        { attribute: 'tag.zone', operator: 'in', value: 'a,b' },
        { attribute: 'node.version', operator: 'version>=', value: '0.10' },
        { attribute: 'tag.gpu', operator: 'exists' },
        { attribute: 'tag.rack', operator: 'not-in', value: 'r1,r2' },
        { attribute: 'tag.role', operator: '==', value: 'web' },
      ],
      spread: [
        { attribute: 'tag.zone', weight: 80 },
        { attribute: 'tag.rack', weight: 50 },
      ],
      restart: { attempts: 5, intervalMs: 600_000, delayMs: 250, backoff: 1.5, maxDelayMs: 5_400_000 },
      update: { maxParallel: 2, healthyDeadlineMs: 120_000, minHealthyMs: 15_000, autoRevert: false },
      service: {
        name: 'web-frontend',
        port: 'http',
        tags: ['a', 'b'],
        checks: [
          { type: 'http', name: 'http', path: '/health', intervalMs: 5000, timeoutMs: 1000 },
          { type: 'tcp', name: 'admin-up', intervalMs: 10_000, timeoutMs: 2000, port: 'admin' },
          { type: 'ttl', name: 'ttl', ttlMs: 30_000 },
          { type: 'exec', name: 'exec', command: ['/bin/check', '--quick'], intervalMs: 10_000, timeoutMs: 2000 },
        ],
      },
      stopTimeoutMs: 45_000,
    };
    assert.deepEqual(spec, expected);
    assert.ok(checkJobSpec(spec).ok);
  });

  it('fills in the defaults of job.ts', () => {
    assert.deepEqual(parse(MINIMAL.join('\n')), {
      job: 'web',
      type: 'service',
      count: 1,
      driver: 'process',
      config: {},
      env: {},
      resources: DEFAULT_RESOURCES,
      constraints: [],
      spread: [],
      restart: DEFAULT_RESTART,
      update: DEFAULT_UPDATE,
      stopTimeoutMs: DEFAULT_STOP_TIMEOUT_MS,
    });
    // Partial sections keep the defaults of the fields they leave out.
    const partial = parse([...MINIMAL, 'restart:', '  attempts: 9', 'update:', '  maxParallel: 4', 'resources:', '  memoryMB: 64', 'env:', 'constraints:'].join('\n'));
    assert.deepEqual(partial.restart, { ...DEFAULT_RESTART, attempts: 9 });
    assert.deepEqual(partial.update, { ...DEFAULT_UPDATE, maxParallel: 4 });
    assert.deepEqual(partial.resources, { ...DEFAULT_RESOURCES, memoryMB: 64 });
    assert.deepEqual(partial.env, {});
    assert.deepEqual(partial.constraints, []);
    // A system job has no count; a leader job's is 1; a lone port is the service's port;
    // the service is named after the job.
    assert.equal(parse([...MINIMAL, 'type: system'].join('\n')).count, 0);
    assert.equal(parse([...MINIMAL, 'type: leader'].join('\n')).count, 1);
    const svc = parse([...MINIMAL, 'resources:', '  ports: [http]', 'service:', '  tags: [x]'].join('\n')).service;
    assert.deepEqual(svc, { name: 'web', port: 'http', tags: ['x'], checks: [] });
  });

  it('reads cpu as millicores, cores or "m" millicores', () => {
    const cpu = (v: string): number => parse([...MINIMAL, 'resources:', `  cpu: ${v}`].join('\n')).resources.cpuMillis;
    assert.equal(cpu('500'), 500);
    assert.equal(cpu('"500m"'), 500);
    assert.equal(cpu('250m'), 250);
    assert.equal(cpu('"0.5"'), 500);
    assert.equal(cpu('"2"'), 2000);
    assert.equal(cpu('"1.25"'), 1250);
    assert.equal(cpu('"0.01"'), 10);
    assert.equal(cpu('1024000'), 1_024_000);
    const bad = (v: string) => errors(...MINIMAL, 'resources:', `  cpu: ${v}`);
    assert.equal(bad('0.5'), 'job.yaml:4:8: resources.cpu: a bare number is millicores (1000 = one core); for 0.5 cores write "0.5" (quoted) or 500');
    assert.equal(bad('2'), 'job.yaml:4:8: resources.cpu: 2 is 2 millicores (0.002 cores); for 2 cores write "2" (quoted) or 2000; the least is 10 millicores, the most 1024 cores');
    assert.equal(bad('"0.0005"'), 'job.yaml:4:8: resources.cpu: "0.0005" cores is finer than a millicore');
    assert.equal(bad('"5m"'), 'job.yaml:4:8: resources.cpu: 5 millicores is out of range; the least is 10 millicores, the most 1024 cores');
    assert.equal(bad('"2000"'), 'job.yaml:4:8: resources.cpu: 2000000 millicores is out of range; the least is 10 millicores, the most 1024 cores');
    assert.equal(bad('half'), 'job.yaml:4:8: resources.cpu: "half" is not a cpu amount; write millicores (500), cores as text ("0.5") or millicores as text ("500m")');
    assert.equal(bad('[1]'), 'job.yaml:4:8: resources.cpu: expected a cpu amount such as 500, "0.5" or "500m", got a list');
  });

  it('reads durations into milliseconds and names bad ones', () => {
    const spec = parse([...MINIMAL, 'stopTimeout: 1m30s', 'restart:', '  delay: 0', '  interval: 1.5h', 'update:', '  minHealthy: 250ms'].join('\n'));
    assert.equal(spec.stopTimeoutMs, 90_000);
    assert.equal(spec.restart.delayMs, 0);
    assert.equal(spec.restart.intervalMs, 5_400_000);
    assert.equal(spec.update.minHealthyMs, 250);
    assert.equal(errors(...MINIMAL, 'stopTimeout: 30'), 'job.yaml:3:14: stopTimeout: "30" has a number without a unit; write "30s" for seconds (units: ms, s, m, h)');
    assert.equal(errors(...MINIMAL, 'stopTimeout: 2h'), 'job.yaml:3:14: stopTimeout: must be between 0s and 1h (got 2h)');
    assert.equal(errors(...MINIMAL, 'stopTimeout: [1s]'), 'job.yaml:3:14: stopTimeout: expected a duration such as "30s", got a list');
    assert.equal(errors(...MINIMAL, 'stopTimeout:'), 'job.yaml:3:1: stopTimeout: has no value');
    assert.equal(errors(...MINIMAL, 'restart:', '  interval: 500ms'), 'job.yaml:4:13: restart.interval: must be between 1s and 24h (got 500ms)');
  });

  it('names unknown fields with a suggestion or the section they belong to', () => {
    assert.equal(errors(...MINIMAL, 'cuont: 3'), 'job.yaml:3:1: cuont: unknown field "cuont" (did you mean "count"?)');
    assert.equal(errors(...MINIMAL, 'stop_timeout: 3s'), 'job.yaml:3:1: stop_timeout: unknown field "stop_timeout" (did you mean "stopTimeout"?)');
    assert.equal(errors(...MINIMAL, 'memoryMB: 64'), 'job.yaml:3:1: memoryMB: unknown field "memoryMB" (it belongs under resources:)');
    assert.equal(errors(...MINIMAL, 'name: web'), 'job.yaml:3:1: name: unknown field "name" (the job\'s name is given as "job: <name>")');
    assert.equal(errors(...MINIMAL, 'colour: red'), 'job.yaml:3:1: colour: unknown field "colour"; a job takes job, type, count, driver, config, env, resources, constraints, spread, restart, update, service, stopTimeout');
    assert.equal(errors(...MINIMAL, 'resources:', '  memory: 64'), 'job.yaml:4:3: resources.memory: unknown field "memory" (did you mean "memoryMB"?)');
    assert.equal(errors(...MINIMAL, 'update:', '  max_parallel: 2'), 'job.yaml:4:3: update.max_parallel: unknown field "max_parallel" (did you mean "maxParallel"?)');
    assert.equal(errors(...MINIMAL, 'spread:', '  - attribute: tag.zone', '    wieght: 3'), 'job.yaml:5:5: spread[0].wieght: unknown field "wieght" (did you mean "weight"?)');
    assert.equal(
      errors(...MINIMAL, 'resources:', '  ports: [http]', 'service:', '  check:', '    type: ttl', '    ttl: 5s', '    interval: 5s'),
      'job.yaml:9:5: service.check.interval: ttl checks take no interval (only http, tcp and exec checks do)',
    );
  });

  it('checks names, types and counts', () => {
    assert.equal(errors('job: "bad name"', 'driver: process'), 'job.yaml:1:6: job: "bad name" is not allowed: a job name is 1-64 letters, digits, ".", "_" and "-", starting with a letter or digit');
    assert.equal(errors('driver: process'), 'job.yaml:1:1: job: missing: every job file names its job ("job: <name>")');
    assert.equal(errors('job: web'), 'job.yaml:1:1: driver: missing: say which driver runs the job ("driver: process")');
    assert.equal(errors('job: web', 'driver: proces'), 'job.yaml:2:9: driver: unknown driver "proces" (did you mean "process"?); this version runs process, container, microvm, fake');
    assert.equal(errors(...MINIMAL, 'type: servce'), 'job.yaml:3:7: type: "servce" is not one of the job types: service, system, batch, leader (did you mean "service"?)');
    assert.equal(errors(...MINIMAL, 'count: "3"'), 'job.yaml:3:8: count: expected a number, got text "3" (remove the quotes)');
    assert.equal(errors(...MINIMAL, 'count: 2.5'), 'job.yaml:3:8: count: expected a whole number, got 2.5');
    assert.equal(errors(...MINIMAL, 'count: 10001'), 'job.yaml:3:8: count: must be between 0 and 10000 (got 10001)');
    assert.equal(
      errors(...MINIMAL, 'type: system', 'count: 3'),
      'job.yaml:4:1: count: a system job runs one instance on every eligible node, so it takes no count; remove it (use constraints to choose the nodes)',
    );
    assert.equal(errors(...MINIMAL, 'type: leader', 'count: 2'), 'job.yaml:4:8: count: a leader job runs exactly one instance, on the Raft leader; count must be 1 (got 2)');
    assert.equal(errors(...MINIMAL, 'type: batch', 'count: 0'), 'job.yaml:4:8: count: a batch job runs at least one instance (count 1 or more)');
    assert.equal(parse([...MINIMAL, 'count: 0'].join('\n')).count, 0);
  });

  it('checks ports: ranges, labels, duplicates, forms', () => {
    const ports = (...lines: string[]) => errors(...MINIMAL, 'resources:', '  ports:', ...lines);
    assert.equal(ports('    http: { static: 70000 }'), 'job.yaml:5:21: resources.ports.http.static: must be between 1 and 65535 (got 70000)');
    assert.equal(ports('    http: { static: 0 }'), 'job.yaml:5:21: resources.ports.http.static: must be between 1 and 65535 (got 0)');
    assert.equal(ports('    http: 8080'), 'job.yaml:5:11: resources.ports.http: write "static: 8080" for a fixed host port, or leave the port empty for one picked by the cluster');
    assert.equal(ports('    - http', '    - label: http', '      static: 80'), 'job.yaml:6:14: resources.ports[1].label: port label "http" is declared twice (also resources.ports[0])');
    assert.equal(
      ports('    a: { static: 8080 }', '    b: { static: 8080 }'),
      'job.yaml:6:18: resources.ports.b.static: static port 8080 is already taken by port "a"',
    );
    assert.equal(ports('    - "my port"'), 'job.yaml:5:7: resources.ports[0]: "my port" is not allowed: a port label is 1-32 letters, digits, "_" and "-", starting with a letter');
    assert.equal(ports('    - static: 80'), 'job.yaml:5:7: resources.ports[0].label: missing: name the port ("label: http")');
    assert.equal(ports('    http: { dynamic: true }'), 'job.yaml:5:13: resources.ports.http.dynamic: unknown field "dynamic"; resources.ports.http takes static');
    const many = Array.from({ length: MAX_PORTS + 1 }, (_, i) => `    - p${i}`);
    assert.equal(ports(...many), `job.yaml:${5 + MAX_PORTS}:7: resources.ports[${MAX_PORTS}]: at most ${MAX_PORTS} ports (this is number ${MAX_PORTS + 1})`);
    // Duplicate keys are a YAML error, reported at the second key.
    assert.equal(ports('    http: {}', '    http: {}'), 'job.yaml:6:5: invalid YAML: Map keys must be unique');
  });

  it('checks the service: its port, name and checks', () => {
    const svc = (...lines: string[]) => errors(...MINIMAL, 'resources:', '  ports: [http, admin]', 'service:', ...lines);
    assert.equal(svc('  port: grpc'), 'job.yaml:6:9: service.port: service port "grpc" is not one of the job\'s ports; declared ports: http, admin');
    assert.equal(svc('  name: web'), 'job.yaml:5:1: service.port: missing: name the port the service listens on (one of: http, admin)');
    assert.equal(
      errors(...MINIMAL, 'service:', '  port: http'),
      'job.yaml:4:9: service.port: service port "http" is not one of the job\'s ports; the job declares no ports (add them under resources.ports)',
    );
    assert.equal(svc('  port: http', '  name: Web_1'), 'job.yaml:7:9: service.name: "Web_1" is not allowed: a service name is a DNS label: 1-63 lower-case letters, digits and "-", not starting or ending with "-"');
    assert.equal(
      errors('job: My_Job', 'driver: process', 'resources:', '  ports: [http]', 'service:', '  port: http'),
      'job.yaml:5:1: service.name: the service would be named after the job, but "My_Job" is not a DNS label (lower-case letters, digits and "-"); give the service a name',
    );
    assert.equal(svc('  port: http', '  checks:', '    - type: tcp', '      port: metrics'), 'job.yaml:9:13: service.checks[0].port: check port "metrics" is not one of the job\'s ports; declared ports: http, admin');
    assert.equal(
      svc('  port: http', '  checks:', '    - type: http', '    - type: http'),
      'job.yaml:9:7: service.checks[1].name: check name "http" is used twice; give each check its own name (name is not set, so its default applies)',
    );
    assert.equal(
      svc('  port: http', '  checks:', '    - type: http', '      interval: 1s', '      timeout: 2s'),
      'job.yaml:10:16: service.checks[0].timeout: the timeout (2s) is longer than the interval (1s)',
    );
    assert.equal(svc('  port: http', '  checks:', '    - name: x'), 'job.yaml:8:7: service.checks[0].type: missing: say what kind of check this is (ttl, http, tcp, exec)');
    assert.equal(svc('  port: http', '  checks:', '    - type: grpc'), 'job.yaml:8:13: service.checks[0].type: "grpc" is not one of the check types: ttl, http, tcp, exec');
    assert.equal(svc('  port: http', '  check:', '    type: ttl'), 'job.yaml:8:5: service.check.ttl: missing: how long a pushed status stays valid, e.g. "ttl: 30s"');
    assert.equal(
      svc('  port: http', '  check:', '    type: exec', '    command: /bin/check --quick'),
      'job.yaml:9:14: service.check.command: give the command as a list of program and arguments, e.g. ["/bin/sh", "-c", "..."] (no shell is involved otherwise)',
    );
    assert.equal(svc('  port: http', '  check: {type: ttl, ttl: 5s}', '  checks: []'), 'job.yaml:7:3: service.check: give either check (one) or checks (a list), not both');
    assert.equal(svc('  port: http', '  tags: [a, a]'), 'job.yaml:7:13: service.tags[1]: tag "a" is listed twice');
    assert.equal(svc('  port: http', '  tags: ["has space"]'), 'job.yaml:7:10: service.tags[0]: "has space" is not allowed: a tag is 1-128 printable characters without spaces');
    assert.equal(
      svc('  port: http', '  check:', '    type: http', '    path: health'),
      'job.yaml:9:11: service.check.path: "health" is not allowed: a path starts with "/" and has no spaces (at most 1024 characters)',
    );
  });

  it('checks constraints in both forms and spreads', () => {
    const c = (...lines: string[]) => errors(...MINIMAL, 'constraints:', ...lines);
    assert.equal(c('  - "tag.zone = a"'), 'job.yaml:4:5: constraints[0]: unknown operator "=" (did you mean "=="?); operators: == != < <= > >= in not-in exists not-exists regex version>=');
    assert.equal(c('  - "zone == a"'), 'job.yaml:4:5: constraints[0]: unknown attribute "zone" (for a node tag write "tag.zone"); known attributes: node.id, node.version, resources.cpuCores, resources.memoryMB, resources.diskFreeMB, tag.<key>');
    assert.equal(c('  - "node.versoin version>= 1.0"'), 'job.yaml:4:5: constraints[0]: unknown attribute "node.versoin" (did you mean "node.version"?)');
    assert.equal(c('  - attribute: tags.zone', '    value: a'), 'job.yaml:4:16: constraints[0].attribute: unknown attribute "tags.zone" (did you mean "tag.zone"?)');
    assert.equal(c('  - "tag.zone"'), 'job.yaml:4:5: constraints[0]: write a constraint as "<attribute> <operator> <value>", e.g. "tag.zone == a" or "tag.gpu exists"');
    assert.equal(c('  - attribute: tag.x', '    operator: regex', '    value: "(a"'), 'job.yaml:6:12: constraints[0].value: not a valid regular expression: /(a/: Unterminated group');
    assert.equal(c('  - "node.version version>= banana"'), 'job.yaml:4:5: constraints[0]: "banana" is not a version like 1.4 or 1.4.2-rc.1');
    assert.equal(c('  - "resources.memoryMB > lots"'), 'job.yaml:4:5: constraints[0]: resources.memoryMB is a number; compare it with a number (got "lots")');
    assert.equal(c('  - "tag.gpu exists yes"'), 'job.yaml:4:5: constraints[0]: operator exists takes no value');
    assert.equal(c('  - attribute: tag.x', '    operator: in'), 'job.yaml:4:5: constraints[0].value: operator in needs a value (value is not set, so its default applies)');
    assert.equal(c('  - attribute: tag.x', '    operator: "=~"', '    value: a'), 'job.yaml:5:15: constraints[0].operator: unknown operator "=~" (did you mean "regex"?); operators: == != < <= > >= in not-in exists not-exists regex version>=');
    assert.equal(c('  - attribute: tag.x', '    operator: in', '    value: ["a,b"]'), 'job.yaml:6:13: constraints[0].value[0]: list values cannot contain commas');
    assert.equal(c('  - operator: exists'), 'job.yaml:4:5: constraints[0].attribute: missing: say what to compare, e.g. "attribute: tag.zone"');
    assert.equal(c('  - attribute: "tag.bad key"', '    operator: exists'), 'job.yaml:4:16: constraints[0].attribute: "bad key" is not a tag key (1-63 letters, digits, ".", "_", "/", "-", starting with a letter or digit)');
    // The compact short form, without spaces around a symbolic operator.
    assert.deepEqual(parse([...MINIMAL, 'constraints: ["resources.memoryMB>=2048"]'].join('\n')).constraints, [{ attribute: 'resources.memoryMB', operator: '>=', value: '2048' }]);
    // An operator that starts with > must be quoted in YAML: the error says so.
    assert.match(c('  - attribute: tag.x', '    operator: >=', '    value: 1'), /^job\.yaml:5:\d+: invalid YAML: .* \(an operator such as >= starts a YAML block here; quote it: operator: ">="\)/);
    const s = (...lines: string[]) => errors(...MINIMAL, 'spread:', ...lines);
    assert.equal(s('  - tag.zone', '  - attribute: tag.zone'), 'job.yaml:5:16: spread[1].attribute: tag.zone is spread over twice (also spread[0])');
    assert.equal(s('  - attribute: zone'), 'job.yaml:4:16: spread[0].attribute: unknown attribute "zone" (for a node tag write "tag.zone"); known attributes: node.id, node.version, resources.cpuCores, resources.memoryMB, resources.diskFreeMB, tag.<key>');
    assert.equal(s('  - attribute: tag.zone', '    weight: 0'), 'job.yaml:5:13: spread[0].weight: must be between 1 and 100 (got 0)');
  });

  it('checks restart and update timing', () => {
    assert.equal(
      errors(...MINIMAL, 'restart:', '  delay: 2m'),
      'job.yaml:4:3: restart.maxDelay: the longest delay (1m) is shorter than the first delay (2m) (maxDelay is not set, so its default applies)',
    );
    assert.equal(
      errors(...MINIMAL, 'update:', '  minHealthy: 10m', '  healthyDeadline: 5m'),
      'job.yaml:4:15: update.minHealthy: an instance must stay healthy for 10m, which does not fit in the healthy deadline of 5m; make the deadline longer',
    );
    assert.equal(errors(...MINIMAL, 'update:', '  autoRevert: yes'), 'job.yaml:4:15: update.autoRevert: expected true or false, got text "yes" (write true)');
    assert.equal(errors(...MINIMAL, 'restart:', '  backoff: 20'), 'job.yaml:4:12: restart.backoff: must be between 1 and 10 (got 20)');
    assert.equal(errors(...MINIMAL, 'restart:', '  attempts: -1'), 'job.yaml:4:13: restart.attempts: must be between 0 and 100 (got -1)');
    assert.equal(errors(...MINIMAL, 'restart: 3'), 'job.yaml:3:10: restart: restart is a mapping (key: value lines), not the number 3');
  });

  it('checks env and config', () => {
    const spec = parse([...MINIMAL, 'env:', '  A: 1.10', '  B: true', '  C: 0x1F', '  D: ""', '  null: x'].join('\n'));
    assert.deepEqual(spec.env, { A: '1.10', B: 'true', C: '0x1F', D: '', null: 'x' });
    assert.equal(errors(...MINIMAL, 'env:', '  SAPPERS_TOKEN: x'), 'job.yaml:4:3: env.SAPPERS_TOKEN: names starting with SAPPERS_ are set by Sappers for every instance (SAPPERS_ALLOC_ID, SAPPERS_ADDR, SAPPERS_TOKEN, SAPPERS_PORT_<label>)');
    assert.equal(errors(...MINIMAL, 'env:', '  OBJ: {a: 1}'), 'job.yaml:4:8: env.OBJ: environment values are text, not a mapping');
    assert.equal(errors(...MINIMAL, 'env:', '  EMPTY:'), 'job.yaml:4:3: env.EMPTY: has no value');
    assert.equal(errors(...MINIMAL, 'env:', '  9LIVES: x'), 'job.yaml:4:3: env.9LIVES: "9LIVES" is not a variable name (letters, digits and "_", not starting with a digit, at most 128)');
    assert.equal(errors(...MINIMAL, 'env: [A]'), 'job.yaml:3:6: env: env is a mapping of NAME: value, not a list');
    const tooMany = Array.from({ length: MAX_ENV_VARS + 1 }, (_, i) => `  V${i}: x`);
    assert.equal(errors(...MINIMAL, 'env:', ...tooMany), `job.yaml:${4 + MAX_ENV_VARS}:3: env.V${MAX_ENV_VARS}: at most ${MAX_ENV_VARS} environment variables`);
    assert.equal(errors(...MINIMAL, 'config: [a]'), 'job.yaml:3:9: config: the driver config is a mapping (key: value lines), not a list');
    assert.equal(errors(...MINIMAL, 'config: {n: 123456789012345678901}'), 'job.yaml:3:13: config.n: 123456789012345678901 is too large to keep exactly; quote it to keep it as text');
    assert.equal(errors(...MINIMAL, 'config: {n: .inf}'), 'job.yaml:3:13: config.n: numbers must be finite (quote ".inf" or ".nan" to mean text)');
    assert.equal(errors(...MINIMAL, 'config: {"__proto__": 1}'), 'job.yaml:3:10: config.__proto__: the key "__proto__" is not allowed');
    const deep = `config: ${'{a: '.repeat(MAX_CONFIG_DEPTH + 1)}1${'}'.repeat(MAX_CONFIG_DEPTH + 1)}`;
    assert.match(errors(...MINIMAL, deep), new RegExp(`^job\\.yaml:3:\\d+: config(\\.a){${MAX_CONFIG_DEPTH}}: the driver config nests more than ${MAX_CONFIG_DEPTH} levels deep$`));
    assert.deepEqual(parse([...MINIMAL, `config: ${'{a: '.repeat(MAX_CONFIG_DEPTH)}1${'}'.repeat(MAX_CONFIG_DEPTH)}`].join('\n')).config.a !== undefined, true);
  });

  it('refuses what is not a job file', () => {
    assert.equal(errors(''), 'job.yaml:1:1: the job file is empty; it needs at least "job: <name>" and "driver: <driver>"');
    assert.equal(errors('- a', '- b'), 'job.yaml:1:1: a job file is a YAML mapping (key: value lines) starting with "job: <name>"');
    assert.equal(errors('job: web', 'driver: process', 'env: &e {A: x}', 'config: *e'), 'job.yaml:4:9: aliases (*e) are not supported in job files; write the value out');
    assert.match(errors('job: web', '---', 'job: other'), /^job\.yaml:\d+:\d+: invalid YAML: Source contains multiple documents/);
    assert.match(errors('job: web', 'driver: [process'), /^job\.yaml:\d+:\d+: invalid YAML: /);
    const r = parseJobFile('big.yaml', `job: web\n#${'x'.repeat(MAX_JOB_FILE_BYTES)}\n`);
    assert.ok(!r.ok);
    assert.equal(formatJobFileErrors(r.error), 'big.yaml:1:1: the file is larger than 1024 KiB; a job file is far smaller');
  });

  it('reports several errors at once, in file order, with line and column as numbers', () => {
    const r = parseJobFile('multi.yaml', 'job: web\ndriver: process\nstopTimeout: soon\ncount: x\nresources:\n  cpu: nope\n');
    assert.ok(!r.ok);
    assert.deepEqual(
      r.error.map((e) => [e.line, e.col, e.field]),
      [
        [3, 14, 'stopTimeout'],
        [4, 8, 'count'],
        [6, 8, 'resources.cpu'],
      ],
    );
  });

  it('parses the example job files in docs/examples', () => {
    for (const name of ['web.yaml', 'healer.yaml']) {
      const path = new URL(`../../docs/examples/${name}`, import.meta.url);
      const r = parseJobFile(name, readFileSync(path, 'utf8'));
      assert.ok(r.ok, r.ok ? '' : formatJobFileErrors(r.error));
      assert.ok(checkJobSpec(r.value).ok, name);
    }
    const web = parse(readFileSync(new URL('../../docs/examples/web.yaml', import.meta.url), 'utf8'));
    assert.equal(web.count, 3);
    assert.deepEqual(web.spread, [{ attribute: 'tag.zone', weight: 50 }]);
    assert.equal(web.service?.checks[0]?.type, 'http');
    const healer = parse(readFileSync(new URL('../../docs/examples/healer.yaml', import.meta.url), 'utf8'));
    assert.equal(healer.type, 'leader');
    assert.equal(healer.count, 1);
  });

  it('reads back any valid spec written as a job file, which the wire then carries unchanged', () => {
    const codec = createJobCodec();
    fc.assert(
      fc.property(validJobSpec, writerChoices, (spec, choices) => {
        const text = toJobFile(spec, choices);
        const r = parseJobFile('random.yaml', text);
        assert.ok(r.ok, r.ok ? '' : `${formatJobFileErrors(r.error)}\n---\n${text}`);
        assert.deepEqual(r.value, spec, text);
        const admitted = checkJobSpec(r.value);
        assert.ok(admitted.ok, admitted.ok ? '' : JSON.stringify(admitted.error));
        const bytes = encodeJobSpec(codec, r.value);
        assert.ok(bytes.ok, bytes.ok ? '' : bytes.error);
        assert.deepEqual(decodeJobSpec(codec, bytes.value), { ok: true, value: spec });
      }),
      { numRuns: 200, seed: 6_2026 },
    );
  });

  it('never throws on random YAML-ish text', () => {
    const fragments = ['job: web\n', 'driver: process\n', 'count: 3\n', 'resources:\n', '  ports:\n', '    - http\n', '  cpu: "0.5"\n', 'service:\n', '  port: http\n', 'constraints:\n', '  - "tag.zone == a"\n', '- x\n', ': :\n', '{', '[', '"', "'", '&a ', '*a ', '!!binary x\n', '  ', '\t', '\n'];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...fragments), { maxLength: 20 }), (parts) => {
        const r = parseJobFile('fuzz.yaml', parts.join(''));
        if (!r.ok) for (const e of r.error) assert.match(e.source, /^fuzz\.yaml:\d+:\d+$/);
      }),
      { numRuns: 500 },
    );
  });
});
