// Jobs in the replicated state (src/core/fsm/jobs.ts) and their commands in the state machine
// (job.register, job.deregister): versions that move only on a real change, the bounded history,
// stop / start again / purge, events that name the spec by hash only, the bound on the number of
// jobs, snapshots through the wire codec, and determinism across replicas.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { ClusterFsm } from '../../../src/core/fsm/fsm.ts';
import { JobTable, MAX_JOBS, MAX_JOB_HISTORY, canonicalJson, jobSpecSha256, type JobRecord } from '../../../src/core/fsm/jobs.ts';
import type { ApplyResult, ClusterEvent, Command } from '../../../src/core/fsm/types.ts';
import { DEFAULT_RESOURCES, DEFAULT_RESTART, DEFAULT_STOP_TIMEOUT_MS, DEFAULT_UPDATE, type JobSpec } from '../../../src/core/scheduler/job.ts';
import { checkFsmSnapshot, createFsmCodec, createFsmSnapshotCodec, decodeCommand, decodeFsmSnapshot, encodeCommand, encodeFsmSnapshot } from '../../../src/wire/fsm.ts';
import { validateJobSpec } from '../../../src/wire/job.ts';
import { validJobSpec } from '../../wire/job-spec-arbitrary.ts';

const SECRET = 'hunter2-do-not-log';

function spec(name: string, count = 3, extra: Partial<JobSpec> = {}): JobSpec {
  return {
    job: name,
    type: 'service',
    count,
    driver: 'process',
    config: { command: '/usr/bin/web', args: ['--port', '8080'] },
    env: { DB_PASSWORD: SECRET },
    resources: DEFAULT_RESOURCES,
    constraints: [],
    spread: [],
    restart: DEFAULT_RESTART,
    update: DEFAULT_UPDATE,
    stopTimeoutMs: DEFAULT_STOP_TIMEOUT_MS,
    ...extra,
  };
}

/** Applies commands at indexes 1, 2, ... and returns the results; the fsm keeps going after. */
class Harness {
  readonly fsm = new ClusterFsm();
  #index = 0;
  #atMs = 1_000;

  register(s: JobSpec): ApplyResult {
    return this.apply({ type: 'job.register', atMs: this.#atMs++, spec: s });
  }

  deregister(job: string, purge?: boolean): ApplyResult {
    return this.apply({ type: 'job.deregister', atMs: this.#atMs++, job, ...(purge === undefined ? {} : { purge }) });
  }

  apply(c: Command): ApplyResult {
    return this.fsm.apply(++this.#index, c);
  }

  lastEvent(): ClusterEvent {
    const e = this.fsm.events(0).at(-1);
    assert.ok(e !== undefined);
    return e;
  }
}

function okEvent(h: Harness, r: ApplyResult): ClusterEvent {
  assert.equal(r.ok, true, JSON.stringify(r));
  const e = h.lastEvent();
  assert.equal(r.ok && r.event, e.seq);
  return e;
}

describe('job specs', () => {
  it('the fixture is an admissible job', () => {
    assert.deepEqual(validateJobSpec(spec('web')), []);
  });

  it('canonical JSON ignores key order and undefined properties, and keeps array order', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [2, 1], c: 'x' }, u: undefined }), '{"a":{"c":"x","d":[2,1]},"b":1}');
    const s = spec('web');
    const reordered = Object.fromEntries(Object.entries(s).reverse()) as unknown as JobSpec;
    assert.equal(jobSpecSha256(reordered), jobSpecSha256(s));
    assert.equal(jobSpecSha256({ ...s, service: undefined }), jobSpecSha256(s));
    assert.notEqual(jobSpecSha256({ ...s, config: { ...s.config, args: ['8080', '--port'] } }), jobSpecSha256(s));
    assert.equal(jobSpecSha256(s), createHash('sha256').update(canonicalJson(s)).digest('hex'));
  });
});

describe('job.register', () => {
  it('creates version 1, running, and records an event with the hash but not the spec', () => {
    const h = new Harness();
    const e = okEvent(h, h.register(spec('web')));
    assert.equal(e.type, 'job.register');
    assert.equal(e.subject, 'web');
    assert.deepEqual(e.detail, { version: 1, changed: 'true', sha256: jobSpecSha256(spec('web')), type: 'service', count: 3, driver: 'process' });
    const text = JSON.stringify(e);
    assert.ok(!text.includes(SECRET) && !text.includes('/usr/bin/web'), text);
    const job = h.fsm.job('web');
    assert.ok(job !== undefined);
    assert.equal(job.version, 1);
    assert.equal(job.status, 'running');
    assert.equal(job.submittedAtMs, 1_000);
    assert.deepEqual(job.spec, spec('web'));
    assert.deepEqual(job.history, []);
  });

  it('an identical spec succeeds without a new version and says it changed nothing', () => {
    const h = new Harness();
    h.register(spec('web'));
    const reordered = Object.fromEntries(Object.entries(spec('web')).reverse()) as unknown as JobSpec;
    const e = okEvent(h, h.register(reordered));
    assert.equal(e.type, 'job.register');
    assert.equal(e.detail['changed'], 'false');
    assert.equal(e.detail['version'], 1);
    const job = h.fsm.job('web')!;
    assert.equal(job.version, 1);
    assert.equal(job.submittedAtMs, 1_000, 'a no-op keeps the submit time');
    assert.deepEqual(h.fsm.jobHistory('web')!.map((v) => v.version), [1]);
  });

  it('a changed spec takes the next version and keeps the earlier one in the history', () => {
    const h = new Harness();
    h.register(spec('web', 3));
    const e = okEvent(h, h.register(spec('web', 5)));
    assert.equal(e.detail['version'], 2);
    assert.equal(e.detail['changed'], 'true');
    assert.equal(e.detail['count'], 5);
    const job = h.fsm.job('web')!;
    assert.equal(job.version, 2);
    assert.equal(job.spec.count, 5);
    assert.equal(job.submittedAtMs, 1_001);
    assert.deepEqual(job.history, [{ version: 1, spec: spec('web', 3), submittedAtMs: 1_000 }]);
    assert.deepEqual(h.fsm.jobHistory('web')!.map((v) => [v.version, v.spec.count]), [[1, 3], [2, 5]]);
    assert.equal(h.fsm.jobHistory('nope'), undefined);
  });

  it(`keeps only the last ${MAX_JOB_HISTORY} earlier versions`, () => {
    const h = new Harness();
    for (let count = 1; count <= 25; count++) h.register(spec('web', count));
    const job = h.fsm.job('web')!;
    assert.equal(job.version, 25);
    assert.equal(job.history.length, MAX_JOB_HISTORY);
    assert.deepEqual(job.history.map((v) => v.version), [15, 16, 17, 18, 19, 20, 21, 22, 23, 24]);
    assert.deepEqual(job.history.map((v) => v.spec.count), [15, 16, 17, 18, 19, 20, 21, 22, 23, 24]);
    const all = h.fsm.jobHistory('web')!;
    assert.equal(all.length, MAX_JOB_HISTORY + 1);
    assert.equal(all.at(-1)!.version, 25);
  });

  it(`refuses a new job beyond ${MAX_JOBS} as invalid, but still updates existing ones`, () => {
    const h = new Harness();
    for (let i = 0; i < MAX_JOBS; i++) assert.equal(h.register(spec(`j${i}`, 1)).ok, true);
    const refused = h.register(spec('one-too-many'));
    assert.equal(refused.ok, false);
    assert.equal(!refused.ok && refused.code, 'invalid');
    assert.equal(h.fsm.job('one-too-many'), undefined);
    assert.equal(h.register(spec('j7', 2)).ok, true, 'an existing job may change');
    // A stopped job still counts (it keeps its history); purging one makes room.
    h.deregister('j8');
    assert.equal(h.register(spec('one-too-many')).ok, false);
    h.deregister('j8', true);
    assert.equal(h.register(spec('one-too-many')).ok, true);
    assert.equal(h.fsm.jobs().length, MAX_JOBS);
  });
});

describe('job.deregister', () => {
  it('stops the job, keeps its spec and history, and a repeat changes nothing', () => {
    const h = new Harness();
    h.register(spec('web', 3));
    h.register(spec('web', 4));
    const e = okEvent(h, h.deregister('web'));
    assert.equal(e.type, 'job.deregister');
    assert.equal(e.subject, 'web');
    assert.deepEqual(e.detail, { version: 2, changed: 'true' });
    const job = h.fsm.job('web')!;
    assert.equal(job.status, 'stopped');
    assert.equal(job.version, 2);
    assert.equal(job.updatedAtMs, 1_002);
    assert.equal(job.submittedAtMs, 1_001);
    assert.equal(job.history.length, 1);
    const again = okEvent(h, h.deregister('web'));
    assert.deepEqual(again.detail, { version: 2, changed: 'false' });
    assert.equal(h.fsm.job('web')!.updatedAtMs, 1_002);
  });

  it('registering a stopped job starts it again with a new version, even with the same spec', () => {
    const h = new Harness();
    h.register(spec('web'));
    h.deregister('web');
    const e = okEvent(h, h.register(spec('web')));
    assert.equal(e.detail['version'], 2);
    assert.equal(e.detail['changed'], 'true');
    assert.equal(e.detail['restarted'], 'true');
    const job = h.fsm.job('web')!;
    assert.equal(job.status, 'running');
    assert.equal(job.version, 2);
    assert.deepEqual(job.history.map((v) => v.version), [1]);
  });

  it('purge forgets the job and its history; unknown jobs are not-found', () => {
    const h = new Harness();
    h.register(spec('web', 1));
    h.register(spec('web', 2));
    const e = okEvent(h, h.deregister('web', true));
    assert.equal(e.type, 'job.purge');
    assert.deepEqual(e.detail, { version: 2, status: 'running', versionsKept: 2 });
    assert.equal(h.fsm.job('web'), undefined);
    assert.equal(h.fsm.jobHistory('web'), undefined);
    assert.deepEqual(h.fsm.jobs(), []);
    const seq = h.lastEvent().seq;
    assert.deepEqual(h.deregister('web'), { ok: false, code: 'not-found', subject: 'web' });
    assert.deepEqual(h.deregister('web', true), { ok: false, code: 'not-found', subject: 'web' });
    assert.equal(h.lastEvent().seq, seq, 'a refused command records no event');
    // A purged name starts over at version 1.
    h.register(spec('web', 9));
    assert.equal(h.fsm.job('web')!.version, 1);
    assert.deepEqual(h.fsm.job('web')!.history, []);
  });

  it('lists jobs sorted by name, running and stopped', () => {
    const h = new Harness();
    for (const n of ['c', 'a', 'b']) h.register(spec(n));
    h.deregister('b');
    assert.deepEqual(h.fsm.jobs().map((j) => [j.spec.job, j.status]), [['a', 'running'], ['b', 'stopped'], ['c', 'running']]);
  });
});

describe('JobTable', () => {
  it('honours its bound', () => {
    const t = new JobTable(2);
    assert.equal(t.register(spec('a'), 1).kind, 'registered');
    assert.equal(t.register(spec('b'), 1).kind, 'registered');
    assert.equal(t.register(spec('c'), 1).kind, 'full');
    assert.equal(t.size, 2);
    assert.throws(() => new JobTable(0));
  });
});

describe('job commands on the wire', () => {
  const codec = createFsmCodec();

  it('round-trip register and deregister; a missing purge stays missing', () => {
    const commands: Command[] = [
      { type: 'job.register', atMs: 5, spec: spec('web') },
      { type: 'job.deregister', atMs: 6, job: 'web' },
      { type: 'job.deregister', atMs: 7, job: 'web', purge: true },
    ];
    for (const c of commands) {
      const bytes = encodeCommand(codec, c);
      assert.ok(bytes.ok, bytes.ok ? '' : bytes.error);
      const back = decodeCommand(codec, bytes.value);
      assert.ok(back.ok, back.ok ? '' : back.error);
      assert.deepEqual(back.value, c);
    }
  });

  it('refuse a spec the job schema refuses, and a bad job name, naming the field', () => {
    const bad = encodeCommand(codec, { type: 'job.register', atMs: 5, spec: { ...spec('web'), count: -1 } });
    assert.equal(bad.ok, false);
    assert.match(!bad.ok ? bad.error : '', /spec\.count/);
    const badName = encodeCommand(codec, { type: 'job.deregister', atMs: 5, job: 'no spaces' });
    assert.equal(badName.ok, false);
    assert.match(!badName.ok ? badName.error : '', /job/);
  });
});

describe('jobs in snapshots', () => {
  const codec = createFsmSnapshotCodec();

  function populated(): Harness {
    const h = new Harness();
    for (let count = 1; count <= 13; count++) h.register(spec('web', count));
    h.register(spec('db', 1));
    h.deregister('db');
    h.register(spec('cron', 1, { type: 'batch' }));
    h.register(spec('gone'));
    h.deregister('gone', true);
    return h;
  }

  it('round-trip through the wire codec, and the restored replica goes on identically', () => {
    const h = populated();
    const snap = h.fsm.snapshot();
    assert.deepEqual(snap.jobs!.map((j) => j.spec.job), ['cron', 'db', 'web']);
    const bytes = encodeFsmSnapshot(codec, snap);
    assert.ok(bytes.ok, bytes.ok ? '' : bytes.error);
    const back = decodeFsmSnapshot(codec, bytes.value);
    assert.ok(back.ok, back.ok ? '' : back.error);
    assert.deepEqual(back.value, snap);
    const other = new ClusterFsm();
    other.restore(back.value);
    assert.deepEqual(other.jobs(), h.fsm.jobs());
    assert.deepEqual(other.jobHistory('web'), h.fsm.jobHistory('web'));
    const next: Command[] = [
      { type: 'job.register', atMs: 9_000, spec: spec('db', 2) },
      { type: 'job.register', atMs: 9_001, spec: spec('web', 99) },
      { type: 'job.deregister', atMs: 9_002, job: 'cron', purge: true },
    ];
    let index = snap.appliedIndex;
    for (const c of next) {
      index++;
      assert.deepEqual(other.apply(index, c), h.fsm.apply(index, c));
    }
    assert.deepEqual(other.eventHead, h.fsm.eventHead);
    assert.deepEqual(other.snapshot(), h.fsm.snapshot());
  });

  it('a state without jobs has no jobs field, and older snapshots without one restore to none', () => {
    const h = new Harness();
    assert.equal('jobs' in h.fsm.snapshot(), false);
    const full = populated();
    full.fsm.restore(h.fsm.snapshot());
    assert.deepEqual(full.fsm.jobs(), []);
  });

  it('checkFsmSnapshot refuses repeated names, foreign history, versions that do not rise, and times ahead', () => {
    const snap = populated().fsm.snapshot();
    const jobs = snap.jobs!;
    const web = jobs.find((j) => j.spec.job === 'web')!;
    const withWeb = (w: JobRecord) => ({ ...snap, jobs: jobs.map((j) => (j.spec.job === 'web' ? w : j)) });
    assert.equal(checkFsmSnapshot(snap, { verifyHashes: true }), undefined);
    assert.match(checkFsmSnapshot({ ...snap, jobs: [...jobs, web] }, { verifyHashes: false }) ?? '', /jobs\[3\]\.spec\.job repeats "web"/);
    const h = [...web.history];
    h[2] = { ...h[2]!, spec: spec('other') };
    assert.match(checkFsmSnapshot(withWeb({ ...web, history: h }), { verifyHashes: false }) ?? '', /history\[2\]\.spec\.job "other" is not the job's name "web"/);
    const swapped = [...web.history];
    [swapped[3], swapped[4]] = [swapped[4]!, swapped[3]!];
    assert.match(checkFsmSnapshot(withWeb({ ...web, history: swapped }), { verifyHashes: false }) ?? '', /history\[4\]\.version \d+ does not rise/);
    assert.match(checkFsmSnapshot(withWeb({ ...web, version: web.history.at(-1)!.version }), { verifyHashes: false }) ?? '', /version \d+ does not rise above its history/);
    assert.match(checkFsmSnapshot(withWeb({ ...web, updatedAtMs: snap.nowMs + 1 }), { verifyHashes: false }) ?? '', /updatedAtMs .* is after nowMs/);
    // The codec refuses them too, and never writes one.
    const bad = withWeb({ ...web, history: swapped });
    assert.equal(encodeFsmSnapshot(codec, bad).ok, false);
  });
});

describe('determinism', () => {
  const names = ['a', 'b', 'c'];
  const step = fc.oneof(
    fc.record({ op: fc.constant('register' as const), name: fc.constantFrom(...names), spec: validJobSpec }),
    fc.record({ op: fc.constant('deregister' as const), name: fc.constantFrom(...names), purge: fc.boolean() }),
  );

  it('replicas given the same commands agree, and versions follow a naive model', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
        const a = new ClusterFsm();
        const b = new ClusterFsm();
        // The model: name -> [version, sha of spec, running]; history length = versions seen - 1, capped.
        const model = new Map<string, { version: number; sha: string; running: boolean; versions: number }>();
        steps.forEach((s, i) => {
          const c: Command = s.op === 'register' ? { type: 'job.register', atMs: i, spec: { ...s.spec, job: s.name } } : { type: 'job.deregister', atMs: i, job: s.name, purge: s.purge };
          const ra = a.apply(i + 1, c);
          assert.deepEqual(b.apply(i + 1, c), ra);
          const m = model.get(s.name);
          if (c.type === 'job.register') {
            const sha = jobSpecSha256(c.spec);
            if (m === undefined) model.set(s.name, { version: 1, sha, running: true, versions: 1 });
            else if (m.running && m.sha === sha) assert.equal(a.events(0).at(-1)!.detail['changed'], 'false');
            else model.set(s.name, { version: m.version + 1, sha, running: true, versions: m.versions + 1 });
          } else if (m === undefined) {
            assert.equal(ra.ok, false);
          } else if (c.purge === true) {
            model.delete(s.name);
          } else {
            m.running = false;
          }
        });
        assert.deepEqual(a.snapshot(), b.snapshot());
        assert.deepEqual(a.eventHead, b.eventHead);
        assert.deepEqual(a.jobs().map((j) => j.spec.job), [...model.keys()].sort());
        for (const [name, m] of model) {
          const j = a.job(name)!;
          assert.equal(j.version, m.version);
          assert.equal(jobSpecSha256(j.spec), m.sha);
          assert.equal(j.status, m.running ? 'running' : 'stopped');
          assert.equal(j.history.length, Math.min(MAX_JOB_HISTORY, m.versions - 1));
        }
        for (const e of a.events(0)) assert.ok(!('config' in e.detail) && !('env' in e.detail));
        const encoded = encodeFsmSnapshot(createFsmSnapshotCodec(), a.snapshot());
        assert.ok(encoded.ok, encoded.ok ? '' : encoded.error);
      }),
      { numRuns: 100 },
    );
  });
});
