import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { areaOf, processCpuMs, summarizeProfile, type CpuProfile } from '../../bench/lib/cpu-profile.ts';

describe('areaOf', () => {
  it('groups by package, source folder, Node internals and V8 pseudo-frames', () => {
    assert.equal(areaOf('file:///work/main/node_modules/msgpackr/pack.js', 'pack'), 'msgpackr');
    assert.equal(areaOf('file:///x/node_modules/@sinclair/typebox/build/index.js', 'f'), '@sinclair/typebox');
    assert.equal(areaOf('file:///work/main/src/runtime/raft/node.ts', 'f'), 'src/runtime');
    assert.equal(areaOf('file:///work/main/src/version.ts', 'f'), 'src/version.ts');
    assert.equal(areaOf('node:internal/streams/writable', 'f'), 'node:internal/streams');
    assert.equal(areaOf('node:_http_server', 'f'), 'node:_http_server');
    assert.equal(areaOf('', '(garbage collector)'), '(garbage collector)');
    assert.equal(areaOf('', 'writev'), '(native)');
  });
});

describe('summarizeProfile', () => {
  const frame = (id: number, functionName: string, url: string, lineNumber = 0): CpuProfile['nodes'][number] => ({ id, callFrame: { functionName, url, lineNumber } });
  const profile: CpuProfile = {
    nodes: [frame(1, '(root)', ''), frame(2, '(idle)', ''), frame(3, 'pack', 'file:///r/node_modules/msgpackr/pack.js', 9), frame(4, 'step', 'file:///r/src/core/raft/raft.ts', 99), frame(5, 'pack', 'file:///r/node_modules/msgpackr/pack.js', 9)],
    startTime: 0,
    endTime: 10_000,
    samples: [2, 3, 4, 5, 3, 2],
    timeDeltas: [1000, 2000, 3000, 1000, 1000, 2000],
  };

  it('sums self time per function (merging equal frames) and per area, largest first', () => {
    const s = summarizeProfile(profile, 10);
    assert.equal(s.wallMs, 10);
    assert.deepEqual(
      s.topFunctions.map((f) => [f.name, f.selfMs, f.percent]),
      [
        ['pack msgpackr/pack.js:10', 4, 40],
        ['(idle)', 3, 30],
        ['step src/core/raft/raft.ts:100', 3, 30],
      ],
    );
    assert.deepEqual(s.byArea.map((a) => a.name), ['msgpackr', '(idle)', 'src/core']);
    assert.equal(s.busyPercent, 70);
  });

  it('keeps only the top N and copes with an empty profile', () => {
    assert.equal(summarizeProfile(profile, 1).topFunctions.length, 1);
    const empty = summarizeProfile({ nodes: [], startTime: 5, endTime: 5 }, 5);
    assert.deepEqual(empty.topFunctions, []);
    assert.equal(empty.busyPercent, 0);
  });
});

describe('processCpuMs', () => {
  it('reads this process, and nothing for a pid that does not exist', () => {
    const ms = processCpuMs(process.pid);
    assert.ok(ms !== undefined && ms >= 0);
    assert.equal(processCpuMs(2 ** 22 + 12345), undefined);
  });
});
