// The benchmark charts (bench/lib/svg-chart.ts): well-formed XML whose bars, labels and ratios
// read back to the figures given, escaped text, "n/a" for a missing side, the same bytes for the
// same input. A small strict XML reader below checks the shape (no parser dependency).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Comparison } from '../../bench/run.ts';
import { escapeXml, formatNumber, niceScale, renderComparisonChart } from '../../bench/lib/svg-chart.ts';

interface XmlElement {
  readonly name: string;
  readonly attrs: ReadonlyMap<string, string>;
  readonly children: XmlElement[];
  /** Decoded character data directly inside this element. */
  text: string;
}

const ENTITIES: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decode(raw: string): string {
  // A bare & or < in text or attribute values is not well-formed XML.
  assert.ok(!raw.includes('<'), `raw < in ${JSON.stringify(raw)}`);
  return raw.replace(/&([^;]*);?/g, (whole, ref: string) => {
    assert.ok(whole.endsWith(';'), `unterminated entity in ${JSON.stringify(raw)}`);
    if (ref.startsWith('#x')) return String.fromCodePoint(Number.parseInt(ref.slice(2), 16));
    if (ref.startsWith('#')) return String.fromCodePoint(Number.parseInt(ref.slice(1), 10));
    const ch = ENTITIES[ref];
    assert.ok(ch !== undefined, `unknown entity &${ref};`);
    return ch;
  });
}

/** Parses the subset of XML an SVG file uses (prolog, elements, attributes, text); throws when not well-formed. */
function parseXml(source: string): XmlElement {
  let i = 0;
  const prolog = /^<\?xml[^?]*\?>\s*/.exec(source);
  if (prolog !== null) i = prolog[0].length;
  const root: XmlElement = { name: '#document', attrs: new Map(), children: [], text: '' };
  const stack: XmlElement[] = [root];
  const nameRe = /[A-Za-z_][\w.:-]*/y;
  while (i < source.length) {
    const top = stack[stack.length - 1]!;
    if (source[i] !== '<') {
      const next = source.indexOf('<', i);
      const raw = source.slice(i, next === -1 ? source.length : next);
      top.text += decode(raw);
      i = next === -1 ? source.length : next;
      continue;
    }
    if (source.startsWith('</', i)) {
      nameRe.lastIndex = i + 2;
      const m = nameRe.exec(source);
      assert.ok(m !== null, `bad end tag at ${i}`);
      assert.equal(m[0], top.name, `end tag </${m[0]}> closes <${top.name}>`);
      i = nameRe.lastIndex;
      assert.equal(source[i], '>', `bad end tag </${m[0]}`);
      i++;
      stack.pop();
      continue;
    }
    nameRe.lastIndex = i + 1;
    const m = nameRe.exec(source);
    assert.ok(m !== null, `bad start tag at ${i}: ${source.slice(i, i + 20)}`);
    i = nameRe.lastIndex;
    const attrs = new Map<string, string>();
    const attrRe = /\s+([A-Za-z_][\w.:-]*)="([^"]*)"/y;
    for (;;) {
      attrRe.lastIndex = i;
      const a = attrRe.exec(source);
      if (a === null) break;
      assert.ok(!attrs.has(a[1]!), `attribute ${a[1]} twice on <${m[0]}>`);
      attrs.set(a[1]!, decode(a[2]!));
      i = attrRe.lastIndex;
    }
    const element: XmlElement = { name: m[0], attrs, children: [], text: '' };
    assert.ok(stack.length > 1 || root.children.length === 0, 'more than one root element');
    top.children.push(element);
    if (source.startsWith('/>', i)) {
      i += 2;
    } else {
      assert.equal(source[i], '>', `bad start tag <${m[0]} near ${JSON.stringify(source.slice(i, i + 20))}`);
      i++;
      stack.push(element);
    }
  }
  assert.equal(stack.length, 1, `unclosed <${stack[stack.length - 1]?.name}>`);
  assert.equal(root.text.trim(), '', 'text outside the root element');
  const svg = root.children[0];
  assert.ok(svg !== undefined, 'no root element');
  return svg;
}

function all(element: XmlElement, predicate: (e: XmlElement) => boolean): XmlElement[] {
  const out: XmlElement[] = [];
  const walk = (e: XmlElement): void => {
    if (predicate(e)) out.push(e);
    e.children.forEach(walk);
  };
  walk(element);
  return out;
}

function one(element: XmlElement, predicate: (e: XmlElement) => boolean, what: string): XmlElement {
  const found = all(element, predicate);
  assert.equal(found.length, 1, `expected one ${what}, found ${found.length}`);
  return found[0]!;
}

const byRole = (role: string) => (e: XmlElement) => e.attrs.get('data-role') === role;

function detection(label: string, ours: number | undefined, theirs: number | undefined): Comparison {
  return {
    chart: 'membership-detection',
    chartTitle: 'Membership: failure detection',
    label,
    unit: 'ms',
    peer: 'serf 0.8.2-dev',
    ours,
    theirs,
    better: 'lower',
    target: { op: '<=', ratio: 0.5 },
  };
}

describe('renderComparisonChart', () => {
  it('draws one group per label with both bars, values, ratios and the target, as well-formed SVG', () => {
    const source = renderComparisonChart([detection('N=5', 1234.5, 3120), detection('N=25', 2000, 3000)]);
    const svg = parseXml(source);
    assert.equal(svg.name, 'svg');
    assert.equal(svg.attrs.get('xmlns'), 'http://www.w3.org/2000/svg');
    const width = Number(svg.attrs.get('width'));
    const height = Number(svg.attrs.get('height'));
    assert.ok(width > 0 && height > 0);
    assert.equal(svg.attrs.get('viewBox'), `0 0 ${width} ${height}`);
    assert.equal(one(svg, (e) => e.name === 'title' && e.attrs.get('id') === 'chart-membership-detection-title', 'title').text, 'Membership: failure detection');
    assert.equal(svg.attrs.get('aria-labelledby'), 'chart-membership-detection-title chart-membership-detection-desc');
    assert.equal(one(svg, byRole('unit'), 'unit label').text, 'ms');
    const subtitle = one(svg, byRole('subtitle'), 'subtitle').text;
    assert.match(subtitle, /lower is better/);
    assert.match(subtitle, /target: ours\/theirs <= 0\.5/);

    const groups = all(svg, byRole('group'));
    assert.deepEqual(
      groups.map((g) => g.attrs.get('data-label')),
      ['N=5', 'N=25'],
    );
    const [n5, n25] = groups as [XmlElement, XmlElement];
    const bar = (g: XmlElement, side: string): XmlElement => one(g, (e) => e.name === 'rect' && e.attrs.get('data-side') === side, `${side} bar`);
    assert.equal(Number(bar(n5, 'ours').attrs.get('data-value')), 1234.5);
    assert.equal(Number(bar(n5, 'theirs').attrs.get('data-value')), 3120);
    assert.deepEqual(
      all(n5, byRole('value')).map((e) => e.text),
      ['1,235', '3,120'],
    );
    // The taller bar is taller on screen, both standing on the same baseline.
    const top = (e: XmlElement): number => Number(e.attrs.get('y'));
    const bottom = (e: XmlElement): number => Number(e.attrs.get('y')) + Number(e.attrs.get('height'));
    assert.ok(top(bar(n5, 'theirs')) < top(bar(n5, 'ours')));
    assert.ok(Math.abs(bottom(bar(n5, 'ours')) - bottom(bar(n5, 'theirs'))) < 0.2);

    assert.equal(n5.attrs.get('data-ratio'), '0.396');
    assert.equal(n5.attrs.get('data-target-met'), 'true');
    assert.equal(one(n5, byRole('ratio'), 'ratio').text, 'ours/theirs 0.396');
    assert.equal(one(n5, byRole('target-status'), 'status').text, 'target met');
    assert.equal(Number(one(n5, byRole('target'), 'target line').attrs.get('data-value')), 1560);
    assert.equal(n25.attrs.get('data-ratio'), '0.667');
    assert.equal(one(n25, byRole('target-status'), 'status').text, 'target missed');

    // The legend names both systems; the description lists every figure.
    const legend = all(one(svg, byRole('legend'), 'legend'), (e) => e.name === 'text').map((e) => e.text);
    assert.deepEqual(legend.slice(0, 2), ['Sappers', 'serf 0.8.2-dev']);
    assert.match(one(svg, (e) => e.name === 'desc', 'desc').text, /N=5: Sappers 1,235 ms, serf 0\.8\.2-dev 3,120 ms, ours\/theirs 0\.396/);
  });

  it('escapes labels, titles, units and peer names', () => {
    const nasty = `<b>"x" & 'y'</b>`;
    const c: Comparison = { chart: 'c', chartTitle: `A & B <${nasty}>`, label: nasty, unit: 'µs & <ms>', peer: 'etcd "3.4" <&>', ours: 1, theirs: 2, better: 'higher' };
    const source = renderComparisonChart([c]);
    assert.ok(!source.includes('<b>'));
    const svg = parseXml(source);
    assert.equal(one(svg, byRole('group'), 'group').attrs.get('data-label'), nasty);
    assert.ok(all(svg, (e) => e.name === 'text').some((e) => e.text === nasty));
    assert.equal(one(svg, (e) => e.name === 'title' && e.attrs.get('id') === 'chart-c-title', 'title').text, c.chartTitle);
    assert.equal(one(svg, byRole('unit'), 'unit').text, c.unit);
    assert.match(one(svg, byRole('subtitle'), 'subtitle').text, /^µs & <ms>, higher is better$/);
    assert.ok(all(one(svg, byRole('legend'), 'legend'), (e) => e.name === 'text').some((e) => e.text === c.peer));
  });

  it('replaces characters XML cannot hold', () => {
    const svg = parseXml(renderComparisonChart([{ ...detection('a\u0001b', 1, 2) }]));
    assert.equal(one(svg, byRole('group'), 'group').attrs.get('data-label'), 'a\ufffdb');
    assert.equal(escapeXml('a\u0000\u001f\tb'), 'a\ufffd\ufffd\tb');
  });

  it('draws a missing side as n/a, with no ratio and no verdict', () => {
    const svg = parseXml(renderComparisonChart([detection('N=5', 800, undefined), detection('N=25', undefined, Number.NaN)]));
    const [n5, n25] = all(svg, byRole('group')) as [XmlElement, XmlElement];
    const theirs = one(n5, (e) => e.name === 'rect' && e.attrs.get('data-side') === 'theirs', 'bar');
    assert.equal(theirs.attrs.get('data-value'), 'n/a');
    assert.equal(theirs.attrs.get('fill'), 'none');
    assert.deepEqual(
      all(n5, byRole('value')).map((e) => e.text),
      ['800', 'n/a'],
    );
    assert.equal(n5.attrs.get('data-ratio'), 'n/a');
    assert.equal(n5.attrs.get('data-target-met'), 'n/a');
    assert.equal(one(n5, byRole('ratio'), 'ratio').text, 'ours/theirs n/a');
    assert.equal(one(n5, byRole('target-status'), 'status').text, 'target: n/a');
    assert.equal(all(n5, byRole('target')).length, 0, 'no target line without the peer figure');
    assert.deepEqual(
      all(n25, byRole('value')).map((e) => e.text),
      ['n/a', 'n/a'],
    );
  });

  it('gives the same bytes for the same input', () => {
    const input = [detection('N=5', 1234.5, 3120), detection('N=25', 2000, undefined)];
    assert.equal(renderComparisonChart(input), renderComparisonChart(input.map((c) => ({ ...c }))));
  });

  it('reads back every figure for any labels and values', () => {
    const value = fc.option(fc.oneof(fc.double({ min: 0, max: 1e9, noNaN: true }), fc.integer({ min: 0, max: 100_000 })), { nil: undefined });
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ maxLength: 30 }), { minLength: 1, maxLength: 6 }), fc.array(fc.tuple(value, value), { minLength: 6, maxLength: 6 }), fc.boolean(), (labels, values, withTarget) => {
        const comparisons = labels.map((label, i): Comparison => {
          const [ours, theirs] = values[i]!;
          const c: Comparison = { chart: 'p', chartTitle: 'property', label, unit: 'u', peer: 'peer', ours, theirs, better: 'lower' };
          return withTarget ? { ...c, target: { op: '>=', ratio: 1 } } : c;
        });
        const source = renderComparisonChart(comparisons);
        assert.ok(!/NaN|Infinity|undefined/.test(source.replace(/data-label="[^"]*"|>[^<]*</g, '')), 'a coordinate is not a number');
        const svg = parseXml(source);
        const groups = all(svg, byRole('group'));
        assert.deepEqual(
          groups.map((g) => g.attrs.get('data-label')),
          labels.map((l) => l.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '\ufffd')),
        );
        groups.forEach((g, i) => {
          const c = comparisons[i]!;
          for (const side of ['ours', 'theirs'] as const) {
            const rect = one(g, (e) => e.name === 'rect' && e.attrs.get('data-side') === side, 'bar');
            const expected = c[side];
            assert.equal(rect.attrs.get('data-value'), expected === undefined ? 'n/a' : String(expected));
            for (const attr of ['x', 'y', 'width', 'height']) assert.ok(Number.isFinite(Number(rect.attrs.get(attr))), `${attr} of a bar`);
            assert.ok(Number(rect.attrs.get('height')) >= 0);
          }
        });
      }),
      { numRuns: 150 },
    );
  });

  it('refuses comparisons that do not make one chart', () => {
    assert.throws(() => renderComparisonChart([]), /at least one/);
    assert.throws(() => renderComparisonChart([detection('N=5', 1, 2), { ...detection('N=25', 1, 2), chart: 'other' }]), /one chart per id/);
    assert.throws(() => renderComparisonChart([detection('N=5', 1, 2), detection('N=5', 3, 4)]), /label twice/);
    assert.throws(() => renderComparisonChart([detection('N=5', 1, 2), { ...detection('N=25', 1, 2), unit: 's' }]), /mixes units/);
    assert.throws(() => renderComparisonChart([detection('N=5', -1, 2)]), /negative/);
  });
});

describe('chart helpers', () => {
  it('formats numbers short and without the locale', () => {
    assert.equal(formatNumber(0), '0');
    assert.equal(formatNumber(0.012345), '0.0123');
    assert.equal(formatNumber(1.5), '1.5');
    assert.equal(formatNumber(12.34), '12.3');
    assert.equal(formatNumber(99.96), '100');
    assert.equal(formatNumber(123.6), '124');
    assert.equal(formatNumber(1234.5), '1,235');
    assert.equal(formatNumber(12_345_678), '12,345,678');
  });

  it('scales the axis to round steps above the largest value', () => {
    assert.deepEqual(niceScale(0).ticks, [0, 0.25, 0.5, 0.75, 1]);
    assert.deepEqual(niceScale(3120).ticks, [0, 1000, 2000, 3000, 4000]);
    fc.assert(
      fc.property(fc.double({ min: 1e-6, max: 1e12, noNaN: true }), (max) => {
        const { top, ticks } = niceScale(max);
        assert.ok(top >= max, `${top} < ${max}`);
        assert.ok(ticks.length >= 3 && ticks.length <= 12, `${ticks.length} ticks`);
        assert.equal(ticks[0], 0);
        for (let k = 1; k < ticks.length; k++) assert.ok(ticks[k]! > ticks[k - 1]!);
      }),
    );
  });
});
