import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MAX_DURATION_MS, formatDuration, parseDuration } from '../../src/wire/duration.ts';

describe('durations', () => {
  it('reads the units and combinations operators write', () => {
    const cases: Array<[string, number]> = [
      ['250ms', 250],
      ['30s', 30_000],
      ['5m', 300_000],
      ['1h', 3_600_000],
      ['1h30m', 5_400_000],
      ['1h30m15s250ms', 5_415_250],
      ['1.5h', 5_400_000],
      ['0.5s', 500],
      ['.5s', 500],
      ['0', 0],
      ['0s', 0],
      ['+10s', 10_000],
      ['90m', 5_400_000],
    ];
    for (const [text, ms] of cases) assert.deepEqual(parseDuration(text), { ok: true, value: ms }, text);
  });

  it('explains what is wrong', () => {
    const cases: Array<[string, string]> = [
      ['', 'a duration cannot be empty; write one like "30s", "5m", "1h30m" or "250ms"'],
      ['30', '"30" has a number without a unit; write "30s" for seconds (units: ms, s, m, h)'],
      ['1h30', '"1h30" has a number without a unit (units: ms, s, m, h)'],
      ['5min', '"5min" has an unknown unit "min"; use ms, s, m or h ("m" for minutes)'],
      ['1d', '"1d" has an unknown unit "d"; use ms, s, m or h (for days, write hours: "24h")'],
      ['5M', '"5M" has an unknown unit "M"; use ms, s, m or h (units are lower case)'],
      ['10us', '"10us" has an unknown unit "us"; use ms, s, m or h (the smallest unit is ms)'],
      ['-5s', '"-5s" is negative; a duration is zero or more'],
      ['1.5ms', '"1.5ms" is not a whole number of milliseconds'],
      ['5 s', '"5 s" has spaces; write a duration without them, e.g. "30s", "5m", "1h30m" or "250ms"'],
      ['soon', '"soon" is not a duration; write a number followed by a unit, e.g. "30s", "5m", "1h30m" or "250ms"'],
      ['9000h', '"9000h" is longer than a year'],
    ];
    for (const [text, message] of cases) assert.deepEqual(parseDuration(text), { ok: false, error: message }, text);
  });

  it('formats the shortest text that reads back the same', () => {
    assert.equal(formatDuration(0), '0s');
    assert.equal(formatDuration(250), '250ms');
    assert.equal(formatDuration(5_400_000), '1h30m');
    assert.equal(formatDuration(3_600_001), '1h1ms');
    assert.throws(() => formatDuration(-1));
    assert.throws(() => formatDuration(1.5));
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_DURATION_MS }), (ms) => {
        assert.deepEqual(parseDuration(formatDuration(ms)), { ok: true, value: ms });
      }),
      { numRuns: 1000 },
    );
  });

  it('never throws on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 24 }), (text) => {
        const r = parseDuration(text);
        if (r.ok) assert.ok(Number.isSafeInteger(r.value) && r.value >= 0 && r.value <= MAX_DURATION_MS);
        else assert.ok(r.error.length > 0);
      }),
      { numRuns: 2000 },
    );
  });
});
