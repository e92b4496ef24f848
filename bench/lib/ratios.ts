// Ours/theirs ratios of side-by-side benchmark figures (issue 8: "JSON with our/their ratios")
// and whether each meets the target. Pure, so the maths is unit-tested without a cluster;
// bench/run.ts adds these to the JSON, the tables and the result files.
import type { BenchReport, Comparison } from '../run.ts';

/** Digits the ratio is rounded to: far below run-to-run noise, and short in a table. */
export const RATIO_DIGITS = 3;

export interface ComparisonWithRatio extends Comparison {
  /** ours/theirs rounded to RATIO_DIGITS; null when a side is missing or not finite, theirs is 0, or the quotient overflows. */
  readonly ratio: number | null;
  /** null when there is no target or no ratio. */
  readonly targetMet: boolean | null;
}

/** One line of the top-level `ratios` summary of a run. */
export interface RatioSummary {
  readonly report: string;
  readonly chart: string;
  readonly label: string;
  readonly peer: string;
  readonly ratio: number | null;
  readonly better: 'higher' | 'lower';
  readonly target: Comparison['target'] | null;
  readonly targetMet: boolean | null;
}

export function comparisonRatio(ours: number | undefined, theirs: number | undefined): number | null {
  if (ours === undefined || theirs === undefined || !Number.isFinite(ours) || !Number.isFinite(theirs) || theirs === 0) return null;
  const exact = ours / theirs;
  // A subnormal denominator overflows: no ratio rather than Infinity (not JSON).
  if (!Number.isFinite(exact)) return null;
  const f = 10 ** RATIO_DIGITS;
  const rounded = Math.round(exact * f) / f;
  // -0 would print as 0 but compare oddly in JSON consumers; keep it a plain 0.
  return rounded === 0 ? 0 : rounded;
}

/**
 * Judged on the ratio as reported (rounded), so the JSON never says "0.5, target <= 0.5 not
 * met": three digits are far finer than the noise of these measurements.
 */
export function isTargetMet(ratio: number | null, target: Comparison['target']): boolean | null {
  if (target === undefined || ratio === null) return null;
  return target.op === '<=' ? ratio <= target.ratio : ratio >= target.ratio;
}

export function withRatio(c: Comparison): ComparisonWithRatio {
  const ratio = comparisonRatio(c.ours, c.theirs);
  return { ...c, ratio, targetMet: isTargetMet(ratio, c.target) };
}

/** A report as written to JSON: its comparisons carry ratio and targetMet. */
export type ReportWithRatios = Omit<BenchReport, 'comparisons'> & { readonly comparisons?: readonly ComparisonWithRatio[] };

export function reportWithRatios(report: BenchReport): ReportWithRatios {
  const { comparisons, ...rest } = report;
  return comparisons === undefined ? rest : { ...rest, comparisons: comparisons.map(withRatio) };
}

export function ratioSummary(reports: readonly BenchReport[]): RatioSummary[] {
  return reports.flatMap((report) =>
    (report.comparisons ?? []).map((c) => {
      const r = withRatio(c);
      return { report: report.name, chart: c.chart, label: c.label, peer: c.peer, ratio: r.ratio, better: c.better, target: c.target ?? null, targetMet: r.targetMet };
    }),
  );
}

/** "ours/theirs <= 0.5" */
export function formatTarget(target: NonNullable<Comparison['target']>): string {
  return `ours/theirs ${target.op} ${target.ratio}`;
}

/** Comparisons grouped by chart id, charts and their labels in first-seen order. */
export function groupByChart(comparisons: readonly Comparison[]): Map<string, Comparison[]> {
  const charts = new Map<string, Comparison[]>();
  for (const c of comparisons) {
    const list = charts.get(c.chart);
    if (list === undefined) charts.set(c.chart, [c]);
    else list.push(c);
  }
  return charts;
}

/** "ours vs peer" rows of one report: each figure, both sides, the ratio and the target. */
export function ratioTableRows(comparisons: readonly Comparison[]): Array<Record<string, string | number>> {
  const value = (v: number | undefined): string | number => (v === undefined || !Number.isFinite(v) ? 'n/a' : Math.round(v * 100) / 100);
  return comparisons.map((c) => {
    const r = withRatio(c);
    return {
      chart: c.chart,
      at: c.label,
      unit: c.unit,
      sappers: value(c.ours),
      peer: c.peer,
      theirs: value(c.theirs),
      'ours/theirs': r.ratio ?? 'n/a',
      better: c.better,
      target: c.target === undefined ? '' : formatTarget(c.target),
      met: r.targetMet === null ? (c.target === undefined ? '' : 'n/a') : r.targetMet ? 'yes' : 'NO',
    };
  });
}
