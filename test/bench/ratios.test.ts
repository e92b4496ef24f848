// Ratios ours/theirs of the side-by-side benchmark figures and their targets (bench/lib/ratios.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { BenchReport, Comparison } from '../../bench/run.ts';
import { comparisonRatio, groupByChart, isTargetMet, ratioSummary, ratioTableRows, reportWithRatios, withRatio } from '../../bench/lib/ratios.ts';

function figure(chart: string, label: string, ours: number | undefined, theirs: number | undefined, target?: Comparison['target']): Comparison {
  const c: Comparison = { chart, chartTitle: chart, label, unit: 'ms', peer: 'serf 0.8.2-dev', ours, theirs, better: 'lower' };
  return target === undefined ? c : { ...c, target };
}

describe('comparisonRatio', () => {
  it('is ours/theirs rounded to three digits', () => {
    assert.equal(comparisonRatio(1, 2), 0.5);
    assert.equal(comparisonRatio(2, 3), 0.667);
    assert.equal(comparisonRatio(1234.5, 3120), 0.396);
    assert.equal(comparisonRatio(64_000, 16_000), 4);
    assert.equal(comparisonRatio(0, 5), 0);
  });

  it('is null when a side is missing or not finite, or theirs is 0', () => {
    assert.equal(comparisonRatio(undefined, 2), null);
    assert.equal(comparisonRatio(2, undefined), null);
    assert.equal(comparisonRatio(2, 0), null);
    assert.equal(comparisonRatio(0, 0), null);
    assert.equal(comparisonRatio(Number.NaN, 2), null);
    assert.equal(comparisonRatio(2, Number.POSITIVE_INFINITY), null);
    assert.equal(comparisonRatio(1, 5e-324), null, 'overflows to Infinity');
  });

  it('stays within half a unit of the third digit of the exact ratio', () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1e9, noNaN: true }), fc.double({ min: 1e-3, max: 1e9, noNaN: true }), (ours, theirs) => {
        const ratio = comparisonRatio(ours, theirs);
        assert.ok(ratio !== null);
        assert.ok(Math.abs(ratio - ours / theirs) <= 0.0005 + 1e-9 * (ours / theirs), `${ratio} vs ${ours / theirs}`);
      }),
    );
  });
});

describe('isTargetMet', () => {
  const atMostHalf = { op: '<=', ratio: 0.5 } as const;
  const atLeastOne = { op: '>=', ratio: 1 } as const;

  it('compares the ratio with the target, boundary included', () => {
    assert.equal(isTargetMet(0.5, atMostHalf), true);
    assert.equal(isTargetMet(0.501, atMostHalf), false);
    assert.equal(isTargetMet(0.2, atMostHalf), true);
    assert.equal(isTargetMet(1, atLeastOne), true);
    assert.equal(isTargetMet(0.999, atLeastOne), false);
    assert.equal(isTargetMet(3, atLeastOne), true);
  });

  it('is null without a target or without a ratio', () => {
    assert.equal(isTargetMet(0.3, undefined), null);
    assert.equal(isTargetMet(null, atMostHalf), null);
  });

  it('judges the ratio as reported, so the JSON never contradicts itself', () => {
    // 1000.4 / 2000 = 0.5002, reported as 0.5: met, as the reader of "0.5 <= 0.5" expects.
    const c = withRatio(figure('d', 'N=5', 1000.4, 2000, atMostHalf));
    assert.equal(c.ratio, 0.5);
    assert.equal(c.targetMet, true);
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1e6, noNaN: true }), fc.double({ min: 1, max: 1e6, noNaN: true }), fc.constantFrom(atMostHalf, atLeastOne), (ours, theirs, target) => {
        const r = withRatio(figure('d', 'x', ours, theirs, target));
        assert.ok(r.ratio !== null);
        assert.equal(r.targetMet, target.op === '<=' ? r.ratio <= target.ratio : r.ratio >= target.ratio);
      }),
    );
  });
});

describe('reports with ratios', () => {
  const report: BenchReport = {
    name: 'membership',
    title: 't',
    rows: [{ a: 1 }],
    notes: ['n'],
    comparisons: [figure('detect', 'N=5', 600, 2000, { op: '<=', ratio: 0.5 }), figure('rss', 'N=5', 60, 20), figure('detect', 'N=25', 900, undefined, { op: '<=', ratio: 0.5 })],
  };

  it('adds ratio and targetMet to every comparison and keeps the rest', () => {
    const out = reportWithRatios(report);
    assert.deepEqual(out.rows, report.rows);
    assert.deepEqual(
      out.comparisons?.map((c) => [c.chart, c.label, c.ours, c.theirs, c.ratio, c.targetMet]),
      [
        ['detect', 'N=5', 600, 2000, 0.3, true],
        ['rss', 'N=5', 60, 20, 3, null],
        ['detect', 'N=25', 900, undefined, null, null],
      ],
    );
    const bare = reportWithRatios({ name: 'wal', title: 't', rows: [], notes: [] });
    assert.equal('comparisons' in bare, false);
  });

  it('summarizes every comparison of every report', () => {
    const other: BenchReport = { name: 'kv', title: 't', rows: [], notes: [], comparisons: [figure('kv-write', '64 clients', 10_000, 8_000, { op: '>=', ratio: 1 })] };
    assert.deepEqual(ratioSummary([report, { name: 'wal', title: 't', rows: [], notes: [] }, other]), [
      { report: 'membership', chart: 'detect', label: 'N=5', peer: 'serf 0.8.2-dev', ratio: 0.3, better: 'lower', target: { op: '<=', ratio: 0.5 }, targetMet: true },
      { report: 'membership', chart: 'rss', label: 'N=5', peer: 'serf 0.8.2-dev', ratio: 3, better: 'lower', target: null, targetMet: null },
      { report: 'membership', chart: 'detect', label: 'N=25', peer: 'serf 0.8.2-dev', ratio: null, better: 'lower', target: { op: '<=', ratio: 0.5 }, targetMet: null },
      { report: 'kv', chart: 'kv-write', label: '64 clients', peer: 'serf 0.8.2-dev', ratio: 1.25, better: 'lower', target: { op: '>=', ratio: 1 }, targetMet: true },
    ]);
  });

  it('groups by chart in first-seen order', () => {
    const groups = groupByChart(report.comparisons ?? []);
    assert.deepEqual([...groups.keys()], ['detect', 'rss']);
    assert.deepEqual(
      groups.get('detect')?.map((c) => c.label),
      ['N=5', 'N=25'],
    );
  });

  it('tabulates ours vs peer with n/a for a missing side', () => {
    const rows = ratioTableRows(report.comparisons ?? []);
    assert.deepEqual(rows[0], { chart: 'detect', at: 'N=5', unit: 'ms', sappers: 600, peer: 'serf 0.8.2-dev', theirs: 2000, 'ours/theirs': 0.3, better: 'lower', target: 'ours/theirs <= 0.5', met: 'yes' });
    assert.equal(rows[1]?.['target'], '');
    assert.equal(rows[1]?.['met'], '');
    assert.equal(rows[2]?.['theirs'], 'n/a');
    assert.equal(rows[2]?.['ours/theirs'], 'n/a');
    assert.equal(rows[2]?.['met'], 'n/a');
  });
});
