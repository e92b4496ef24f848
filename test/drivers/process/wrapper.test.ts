// The pure parts of the process driver: the wrapper's exit record, shell statuses, the exit
// message an operator reads, and /proc/<pid>/stat parsing (a comm with spaces and parens).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeExit } from '../../../src/drivers/process/driver.ts';
import { parseProcStat } from '../../../src/drivers/process/proc.ts';
import { decodeShellStatus, parseWrapperRecord } from '../../../src/drivers/process/wrapper.ts';

test('wrapper records: statuses, markers, and torn writes read as none', () => {
  assert.deepEqual(parseWrapperRecord('0\n'), { kind: 'status', status: 0 });
  assert.deepEqual(parseWrapperRecord('255\n'), { kind: 'status', status: 255 });
  assert.deepEqual(parseWrapperRecord('cgroup-failed\n'), { kind: 'cgroup-failed' });
  assert.deepEqual(parseWrapperRecord('signalled-before-start\n'), { kind: 'signalled-before-start' });
  for (const torn of [undefined, '', '25', '1', '256', 'abc', '-1']) {
    if (torn === '25' || torn === '1') continue; // valid statuses
    assert.deepEqual(parseWrapperRecord(torn), { kind: 'none' }, String(torn));
  }
});

test('shell statuses above 128 read as the signal they name', () => {
  assert.deepEqual(decodeShellStatus(0), { exitCode: 0, signal: null });
  assert.deepEqual(decodeShellStatus(128), { exitCode: 128, signal: null });
  assert.deepEqual(decodeShellStatus(137), { exitCode: null, signal: 'SIGKILL' });
  assert.deepEqual(decodeShellStatus(143), { exitCode: null, signal: 'SIGTERM' });
  assert.deepEqual(decodeShellStatus(255), { exitCode: 255, signal: null });
});

test('exit messages: record first, then the wrapper\'s wait status, then what the driver did', () => {
  const stop = { signal: 'SIGTERM', timeoutMs: 5000, killed: false };
  const killed = { ...stop, killed: true };
  assert.deepEqual(describeExit({ kind: 'status', status: 3 }, undefined, false, undefined, 64), { exitCode: 3, signal: null, oomKilled: false, message: 'the task exited with code 3' });
  assert.equal(describeExit({ kind: 'status', status: 143 }, undefined, false, stop, 64).message, 'the task ended by SIGTERM (shell status 143); stopped by the agent with SIGTERM');
  assert.deepEqual(describeExit({ kind: 'none' }, { code: 4, signal: null }, false, undefined, 64).exitCode, 4);
  const k = describeExit({ kind: 'none' }, undefined, false, killed, 64);
  assert.deepEqual([k.exitCode, k.signal], [null, 'SIGKILL']);
  assert.equal(k.message, 'the task was killed by SIGKILL; the agent sent SIGTERM and, 5000 ms later, SIGKILL');
  const oom = describeExit({ kind: 'none' }, undefined, true, undefined, 16);
  assert.deepEqual([oom.signal, oom.oomKilled], ['SIGKILL', true]);
  assert.match(oom.message, /memory limit of 16 MB/);
  const unknown = describeExit({ kind: 'none' }, undefined, false, undefined, 64);
  assert.deepEqual([unknown.exitCode, unknown.signal], [null, null]);
  assert.match(unknown.message, /without leaving an exit status/);
  assert.match(describeExit({ kind: 'cgroup-failed' }, { code: 125, signal: null }, false, undefined, 64).message, /never started/);
  assert.equal(describeExit({ kind: 'signalled-before-start' }, undefined, false, stop, 64).signal, 'SIGTERM');
});

test('/proc/<pid>/stat: fields after the last parenthesis', () => {
  const fields = Array.from({ length: 50 }, (_, i) => String(i + 3));
  fields[0] = 'S';
  fields[1] = '1';
  fields[2] = '4242';
  fields[19] = '987654';
  const s = parseProcStat(`4242 (my (odd) name) ${fields.join(' ')}\n`);
  assert.deepEqual(s, { pid: 4242, state: 'S', ppid: 1, pgid: 4242, startTicks: '987654' });
  assert.equal(parseProcStat('garbage'), undefined);
  assert.equal(parseProcStat('12 (x) S 1 2'), undefined);
  assert.equal(parseProcStat(`${process.pid} (self) ${fields.join(' ')}`)?.pid, process.pid);
});
