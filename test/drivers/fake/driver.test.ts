// The fake driver: deterministic on a virtual clock, records starts, stops and signals, and its
// FakeHost outlives driver instances so an agent restart can be simulated.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DriverError, type TaskSpec } from '../../../src/drivers/driver.ts';
import { FakeDriver, FakeHost } from '../../../src/drivers/fake/driver.ts';
import { VirtualClock } from '../../../src/sim/clock.ts';

function spec(allocId: string, config: Record<string, unknown> = {}): TaskSpec {
  return { allocId, job: 'j', config, env: {}, cpuMillis: 100, memoryMB: 64, ports: {}, allocDir: `/nowhere/${allocId}`, stopTimeoutMs: 5000, logs: { maxFileBytes: 1000, maxFiles: 2 } };
}

test('starts are recorded; host.exit ends a task with its code', async () => {
  const d = new FakeDriver({ clock: new VirtualClock() });
  const t = await d.start(spec('a1'));
  assert.deepEqual(d.host.running(), ['a1']);
  assert.equal(d.host.starts.length, 1);
  assert.equal(d.host.exit('a1', { exitCode: 3 }), true);
  assert.deepEqual(await t.exited, { exitCode: 3, signal: null, oomKilled: false, message: 'the task exited with code 3' });
  assert.deepEqual(d.host.running(), []);
  assert.equal(d.host.exit('a1'), false);
});

test('exitAfterMs ends the task on the virtual clock', async () => {
  const clock = new VirtualClock();
  const d = new FakeDriver({ clock });
  const t = await d.start(spec('a1', { exitAfterMs: 1000, exitCode: 2 }));
  clock.advance(999);
  assert.deepEqual(d.host.running(), ['a1']);
  clock.advance(1);
  assert.equal((await t.exited).exitCode, 2);
});

test('stop: immediate by default, SIGKILL after the timeout when the task ignores it; idempotent', async () => {
  const clock = new VirtualClock();
  const d = new FakeDriver({ clock });
  const quick = await d.start(spec('a1'));
  assert.equal((await quick.stop()).signal, 'SIGTERM');
  const stubborn = await d.start(spec('a2', { ignoreStop: true }));
  const stopping = stubborn.stop('SIGINT', 300);
  void stubborn.stop();
  clock.advance(299);
  assert.deepEqual(d.host.running(), ['a2']);
  clock.advance(1);
  const exit = await stopping;
  assert.equal(exit.signal, 'SIGKILL');
  assert.match(exit.message, /SIGINT and, 300 ms later, SIGKILL/);
  assert.deepEqual(d.host.stops, [
    { allocId: 'a1', signal: 'SIGTERM', timeoutMs: 5000 },
    { allocId: 'a2', signal: 'SIGINT', timeoutMs: 300 },
  ]);
});

test('a new driver on the same host reattaches; a new host means gone', async () => {
  const host = new FakeHost();
  const clock = new VirtualClock();
  const first = new FakeDriver({ host, clock });
  const t = await first.start(spec('a1'));
  t.detach();
  const again = await new FakeDriver({ host, clock }).reattach(spec('a1'), t.state);
  assert.equal(again.kind, 'running');
  host.exit('a1', { exitCode: 0 });
  if (again.kind === 'running') assert.equal((await again.task.exited).exitCode, 0);
  const after = await new FakeDriver({ host, clock }).reattach(spec('a1'), t.state);
  assert.deepEqual(after.kind === 'gone' ? after.exit.exitCode : 'running', 0);
  const rebooted = await new FakeDriver({ clock }).reattach(spec('a1'), t.state);
  assert.equal(rebooted.kind, 'gone');
  await assert.rejects(first.reattach(spec('a1'), { driver: 'process', version: 1, data: {} }), (e: unknown) => e instanceof DriverError && e.code === 'invalid-state');
});

test('no duplicates: starting an allocation again kills the orphaned earlier run', async () => {
  const d = new FakeDriver({ clock: new VirtualClock() });
  const first = await d.start(spec('a1'));
  await d.start(spec('a1'));
  assert.equal((await first.exited).signal, 'SIGKILL');
  assert.deepEqual(d.host.running(), ['a1']);
});

test('config is validated; failStart makes start() reject with that code', async () => {
  const d = new FakeDriver({ clock: new VirtualClock() });
  assert.deepEqual(d.validateConfig({ exitAfterMs: 5 }), []);
  assert.match(d.validateConfig({ exitAfterMS: 5 })[0] ?? '', /config\.exitAfterMS: unknown key \(did you mean "exitAfterMs"\?\)/);
  assert.match(d.validateConfig({ exitCode: 300 })[0] ?? '', /config\.exitCode: must be an integer from 0 to 255/);
  await assert.rejects(d.start(spec('a1', { failStart: 'command-not-found' })), (e: unknown) => e instanceof DriverError && e.code === 'command-not-found');
  await assert.rejects(d.start(spec('a1', { nope: 1 })), (e: unknown) => e instanceof DriverError && e.code === 'invalid-config');
  assert.deepEqual(d.host.starts, []);
});

test('signals are recorded while running', async () => {
  const d = new FakeDriver({ clock: new VirtualClock() });
  const t = await d.start(spec('a1'));
  t.signal('SIGHUP');
  d.host.exit('a1');
  t.signal('SIGHUP');
  assert.deepEqual(d.host.signals, [{ allocId: 'a1', signal: 'SIGHUP' }]);
});
