// One SVG chart per side-by-side figure (issue 8: "an SVG chart per scenario in bench/results/"):
// a grouped bar chart with one group per label (e.g. "N=5", "64 clients") and two bars in each,
// Sappers and the peer, every value printed on its bar and the ratio ours/theirs under the group.
//
// Pure and deterministic (same comparisons in, same bytes out: no dates, no randomness, fixed
// number formatting), so result files diff cleanly between runs. Self-contained: presentation
// attributes only (no CSS, no external fonts; a generic font list every renderer can resolve),
// all text XML-escaped. Each bar and group also carries data-* attributes with the exact
// figures, so a test or a script can read the numbers back without parsing the drawing.
import { assert } from '../../src/core/result.ts';
import type { Comparison } from '../run.ts';
import { formatTarget, withRatio } from './ratios.ts';

const OURS_NAME = 'Sappers';
const OURS_COLOR = '#1f6feb';
/** Orange against blue: apart for the common colour-vision deficiencies too. */
const THEIRS_COLOR = '#e8710a';
const MISSING_COLOR = '#8c8c8c';
const TARGET_COLOR = '#b3261e';
const MET_COLOR = '#1a7f37';
const TEXT_COLOR = '#1f2328';
const MUTED_COLOR = '#57606a';
const GRID_COLOR = '#d8dee4';
const FONT_FAMILY = "Helvetica, Arial, 'Liberation Sans', 'DejaVu Sans', sans-serif";

const MARGIN_LEFT = 76;
const MARGIN_RIGHT = 24;
const PLOT_TOP = 104;
const PLOT_HEIGHT = 260;
const BELOW_PLOT = 76;
const BAR_WIDTH = 52;
const BAR_GAP = 10;
const MIN_GROUP_WIDTH = 170;
const MIN_WIDTH = 520;
/** Rough advance of one character at the sizes used, to size the canvas for long texts. */
const CHAR_WIDTH_13PX = 7.4;
const CHAR_WIDTH_18PX = 9.6;
/** Height of the dashed placeholder drawn where a side could not be measured. */
const MISSING_BAR_HEIGHT = 24;

/**
 * The chart for COMPARISONS, which must all share one chart id, unit and direction (`better`),
 * with distinct labels; groups appear in the order given.
 */
export function renderComparisonChart(comparisons: readonly Comparison[]): string {
  const first = comparisons[0];
  assert(first !== undefined, 'a chart needs at least one comparison');
  for (const c of comparisons) {
    assert(c.chart === first.chart, `one chart per id: ${c.chart} mixed with ${first.chart}`);
    assert(c.unit === first.unit, `chart ${first.chart} mixes units ${first.unit} and ${c.unit}`);
    assert(c.better === first.better, `chart ${first.chart} mixes higher- and lower-is-better figures`);
    for (const v of [c.ours, c.theirs]) assert(v === undefined || !Number.isFinite(v) || v >= 0, `chart ${first.chart}: negative value ${v} at ${c.label}`);
  }
  const labels = comparisons.map((c) => c.label);
  assert(new Set(labels).size === labels.length, `chart ${first.chart} has a label twice: ${labels.join(', ')}`);

  const groups = comparisons.map((c) => {
    const r = withRatio(c);
    const ours = finite(c.ours);
    const theirs = finite(c.theirs);
    const targetValue = c.target !== undefined && theirs !== undefined ? theirs * c.target.ratio : undefined;
    return { c, ours, theirs, ratio: r.ratio, targetMet: r.targetMet, targetValue };
  });
  const peers = [...new Set(comparisons.map((c) => c.peer))];
  const peerName = peers.join(' / ');
  const targets = [...new Set(comparisons.flatMap((c) => (c.target === undefined ? [] : [formatTarget(c.target)])))];
  const subtitle = [`${first.unit}, ${first.better} is better`, ...targets.map((t) => `target: ${t}`)].join(' · ');

  const ratioText = (ratio: number | null): string => `ours/theirs ${ratio === null ? 'n/a' : formatNumber(ratio)}`;
  const widest = Math.max(...groups.map((g) => Math.max(g.c.label.length, ratioText(g.ratio).length, 13)));
  const groupWidth = Math.max(MIN_GROUP_WIDTH, Math.ceil(widest * CHAR_WIDTH_13PX + 24));
  const targetRatios = [...new Set(comparisons.flatMap((c) => (c.target === undefined ? [] : [c.target.ratio])))];
  const legendItems = legendLayout(peerName, targetRatios.length === 0 ? undefined : targetRatios.length === 1 ? `target: ${formatNumber(targetRatios[0]!)} × ${peerName}` : 'target (ratio × the peer)');
  const width = Math.ceil(
    Math.max(
      MIN_WIDTH,
      MARGIN_LEFT + groups.length * groupWidth + MARGIN_RIGHT,
      24 + first.chartTitle.length * CHAR_WIDTH_18PX + 24,
      24 + subtitle.length * CHAR_WIDTH_13PX + 24,
      MARGIN_LEFT + legendItems.width + MARGIN_RIGHT,
    ),
  );
  const height = PLOT_TOP + PLOT_HEIGHT + BELOW_PLOT;
  const base = PLOT_TOP + PLOT_HEIGHT;
  const plotRight = width - MARGIN_RIGHT;
  // Groups spread over the plot when the canvas is wider than they need (a long title).
  const slot = (plotRight - MARGIN_LEFT) / groups.length;

  const values = groups.flatMap((g) => [g.ours, g.theirs, g.targetValue]).filter((v): v is number => v !== undefined);
  const scale = niceScale(Math.max(0, ...values));
  const yOf = (v: number): number => base - (v / scale.top) * PLOT_HEIGHT;

  // Ids unique per chart, so several charts can be inlined in one page.
  const idPrefix = `chart-${first.chart}`;
  const out: string[] = [];
  out.push('<?xml version="1.0" encoding="UTF-8"?>');
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-labelledby="${esc(idPrefix)}-title ${esc(idPrefix)}-desc" font-family="${esc(FONT_FAMILY)}" data-chart="${esc(first.chart)}" data-unit="${esc(first.unit)}" data-better="${first.better}">`,
  );
  out.push(`<title id="${esc(idPrefix)}-title">${esc(first.chartTitle)}</title>`);
  out.push(`<desc id="${esc(idPrefix)}-desc">${esc(describe(groups.map((g) => ({ ...g, label: g.c.label, peer: g.c.peer })), first.unit))}</desc>`);
  out.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="24" y="32" font-size="18" font-weight="bold" fill="${TEXT_COLOR}">${esc(first.chartTitle)}</text>`);
  out.push(`<text x="24" y="56" font-size="13" fill="${MUTED_COLOR}" data-role="subtitle">${esc(subtitle)}</text>`);

  // Legend.
  out.push(`<g data-role="legend" font-size="13" fill="${TEXT_COLOR}">`);
  for (const item of legendItems.items) {
    const x = MARGIN_LEFT + item.x;
    if (item.kind === 'target') {
      out.push(`<line x1="${n(x)}" y1="78" x2="${n(x + 18)}" y2="78" stroke="${TARGET_COLOR}" stroke-width="2" stroke-dasharray="5 3"/>`);
    } else {
      out.push(`<rect x="${n(x)}" y="71" width="14" height="14" fill="${item.kind === 'ours' ? OURS_COLOR : THEIRS_COLOR}"/>`);
    }
    out.push(`<text x="${n(x + 22)}" y="83">${esc(item.text)}</text>`);
  }
  out.push('</g>');

  // Axis: gridlines with their values, and the unit.
  out.push(`<g data-role="axis" font-size="12" fill="${MUTED_COLOR}">`);
  for (const tick of scale.ticks) {
    const y = yOf(tick);
    out.push(`<line x1="${MARGIN_LEFT}" y1="${n(y)}" x2="${n(plotRight)}" y2="${n(y)}" stroke="${GRID_COLOR}" stroke-width="1"/>`);
    out.push(`<text x="${MARGIN_LEFT - 8}" y="${n(y + 4)}" text-anchor="end">${esc(formatNumber(tick))}</text>`);
  }
  const axisMid = PLOT_TOP + PLOT_HEIGHT / 2;
  out.push(`<text x="20" y="${n(axisMid)}" text-anchor="middle" transform="rotate(-90 20 ${n(axisMid)})" font-size="13" fill="${TEXT_COLOR}" data-role="unit">${esc(first.unit)}</text>`);
  out.push(`<line x1="${MARGIN_LEFT}" y1="${PLOT_TOP}" x2="${MARGIN_LEFT}" y2="${base}" stroke="${MUTED_COLOR}" stroke-width="1"/>`);
  out.push(`<line x1="${MARGIN_LEFT}" y1="${base}" x2="${n(plotRight)}" y2="${base}" stroke="${MUTED_COLOR}" stroke-width="1"/>`);
  out.push('</g>');

  groups.forEach((g, i) => {
    const center = MARGIN_LEFT + slot * i + slot / 2;
    const oursX = center - BAR_GAP / 2 - BAR_WIDTH;
    const theirsX = center + BAR_GAP / 2;
    out.push(`<g data-role="group" data-label="${esc(g.c.label)}" data-ratio="${g.ratio ?? 'n/a'}" data-target-met="${g.targetMet ?? 'n/a'}">`);
    const targetY = g.targetValue === undefined ? undefined : yOf(g.targetValue);
    out.push(...bar('ours', OURS_NAME, g.c.label, g.ours, oursX, OURS_COLOR, base, yOf, first.unit, targetY));
    out.push(...bar('theirs', g.c.peer, g.c.label, g.theirs, theirsX, THEIRS_COLOR, base, yOf, first.unit));
    if (g.targetValue !== undefined && targetY !== undefined && g.c.target !== undefined) {
      // The target as a value: the peer's figure times the target ratio, across our bar.
      const y = targetY;
      out.push(
        `<line x1="${n(oursX - 6)}" y1="${n(y)}" x2="${n(oursX + BAR_WIDTH + 6)}" y2="${n(y)}" stroke="${TARGET_COLOR}" stroke-width="2" stroke-dasharray="5 3" data-role="target" data-value="${g.targetValue}"><title>${esc(`target: ${formatTarget(g.c.target)} = ${formatNumber(g.targetValue)} ${first.unit}`)}</title></line>`,
      );
    }
    out.push(`<text x="${n(center)}" y="${base + 20}" text-anchor="middle" font-size="13" font-weight="bold" fill="${TEXT_COLOR}">${esc(g.c.label)}</text>`);
    out.push(`<text x="${n(center)}" y="${base + 38}" text-anchor="middle" font-size="13" fill="${TEXT_COLOR}" data-role="ratio">${esc(ratioText(g.ratio))}</text>`);
    if (g.c.target !== undefined) {
      const [text, color] = g.targetMet === null ? ['target: n/a', MUTED_COLOR] : g.targetMet ? ['target met', MET_COLOR] : ['target missed', TARGET_COLOR];
      out.push(`<text x="${n(center)}" y="${base + 56}" text-anchor="middle" font-size="13" font-weight="bold" fill="${color}" data-role="target-status">${text}</text>`);
    }
    out.push('</g>');
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** AVOIDY: a line drawn across this bar (the target); the value label goes above it when it is just above the bar. */
function bar(side: 'ours' | 'theirs', name: string, label: string, value: number | undefined, x: number, color: string, base: number, yOf: (v: number) => number, unit: string, avoidY?: number): string[] {
  const tooltip = `${name} at ${label}: ${value === undefined ? 'n/a' : `${formatNumber(value)} ${unit}`}`;
  if (value === undefined) {
    const top = base - MISSING_BAR_HEIGHT;
    return [
      `<rect x="${n(x)}" y="${top}" width="${BAR_WIDTH}" height="${MISSING_BAR_HEIGHT}" fill="none" stroke="${MISSING_COLOR}" stroke-width="1.5" stroke-dasharray="4 3" data-side="${side}" data-label="${esc(label)}" data-value="n/a"><title>${esc(tooltip)}</title></rect>`,
      `<text x="${n(x + BAR_WIDTH / 2)}" y="${top - 6}" text-anchor="middle" font-size="13" fill="${MISSING_COLOR}" data-role="value">n/a</text>`,
    ];
  }
  const y = yOf(value);
  const labelBottom = avoidY !== undefined && avoidY <= y + 2 && avoidY > y - 20 ? avoidY - 2 : y;
  return [
    `<rect x="${n(x)}" y="${n(y)}" width="${BAR_WIDTH}" height="${n(base - y)}" fill="${color}" data-side="${side}" data-label="${esc(label)}" data-value="${value}"><title>${esc(tooltip)}</title></rect>`,
    `<text x="${n(x + BAR_WIDTH / 2)}" y="${n(labelBottom - 6)}" text-anchor="middle" font-size="13" fill="${TEXT_COLOR}" data-role="value">${esc(formatNumber(value))}</text>`,
  ];
}

interface LegendItem {
  readonly kind: 'ours' | 'theirs' | 'target';
  readonly text: string;
  /** Offset from the plot's left edge. */
  readonly x: number;
}

function legendLayout(peerName: string, targetText: string | undefined): { readonly items: LegendItem[]; readonly width: number } {
  const entries: Array<{ kind: LegendItem['kind']; text: string }> = [
    { kind: 'ours', text: OURS_NAME },
    { kind: 'theirs', text: peerName },
  ];
  if (targetText !== undefined) entries.push({ kind: 'target', text: targetText });
  const items: LegendItem[] = [];
  let x = 0;
  for (const e of entries) {
    items.push({ ...e, x });
    x += 22 + e.text.length * CHAR_WIDTH_13PX + 24;
  }
  return { items, width: x };
}

function describe(groups: ReadonlyArray<{ label: string; peer: string; ours: number | undefined; theirs: number | undefined; ratio: number | null }>, unit: string): string {
  const v = (x: number | undefined): string => (x === undefined ? 'n/a' : `${formatNumber(x)} ${unit}`);
  return groups.map((g) => `${g.label}: ${OURS_NAME} ${v(g.ours)}, ${g.peer} ${v(g.theirs)}, ours/theirs ${g.ratio === null ? 'n/a' : formatNumber(g.ratio)}`).join('; ');
}

/** Axis top and gridlines: steps of 1, 2, 2.5 or 5 times a power of ten, about five of them. */
export function niceScale(max: number): { readonly top: number; readonly ticks: readonly number[] } {
  if (!(max > 0)) return { top: 1, ticks: [0, 0.25, 0.5, 0.75, 1] };
  // Headroom above the tallest bar for its value label.
  const target = max * 1.08;
  const raw = target / 5;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const normalized = raw / magnitude;
  const step = (normalized <= 1 ? 1 : normalized <= 2 ? 2 : normalized <= 2.5 ? 2.5 : normalized <= 5 ? 5 : 10) * magnitude;
  const count = Math.ceil(target / step - 1e-9);
  // Subnormal or near-overflow maxima (no benchmark's, but the function is total): one gridline.
  if (!(step > 0) || !Number.isFinite(target) || !(count >= 1 && count <= 20)) return { top: max, ticks: [0, max] };
  const ticks: number[] = [];
  for (let k = 0; k <= count; k++) ticks.push(Number((k * step).toPrecision(12)));
  return { top: ticks[ticks.length - 1]!, ticks };
}

/**
 * Short and locale-independent: thousands grouped with commas from 1,000, whole numbers from
 * 100, then three significant digits (12.3, 1.23, 0.0123).
 */
export function formatNumber(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  if (abs >= 100) return Math.round(value).toString();
  if (abs === 0) return '0';
  return Number(value.toPrecision(3)).toString();
}

/** XML text and attribute escaping; characters XML 1.0 forbids become U+FFFD. */
export function escapeXml(text: string): string {
  return text
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '\ufffd')
    .replace(/[&<>"']/g, (ch) => (ch === '&' ? '&amp;' : ch === '<' ? '&lt;' : ch === '>' ? '&gt;' : ch === '"' ? '&quot;' : '&apos;'));
}

const esc = escapeXml;

function finite(v: number | undefined): number | undefined {
  return v !== undefined && Number.isFinite(v) ? v : undefined;
}

/** Coordinates to one decimal: enough for a screen, and stable text. */
function n(v: number): string {
  return Number(v.toFixed(1)).toString();
}
