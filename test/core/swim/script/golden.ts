// Golden-file comparison for scripted tests: a readable line diff, so a failing script shows
// what changed in the transcript, not two walls of text.

/** A unified-style diff of two texts (expected -> actual); empty when they are equal. */
export function lineDiff(expected: string, actual: string, context = 3): string {
  if (expected === actual) return '';
  const a = expected.split('\n');
  const b = actual.split('\n');
  // Longest common subsequence table; transcripts are a few hundred lines, so O(n*m) is fine.
  const lcs: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const ops: Array<{ readonly op: ' ' | '-' | '+'; readonly line: string; readonly at: number }> = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      ops.push({ op: ' ', line: a[i]!, at: i + 1 });
      i++;
      j++;
    } else if (i < a.length && (j >= b.length || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
      ops.push({ op: '-', line: a[i]!, at: i + 1 });
      i++;
    } else {
      ops.push({ op: '+', line: b[j]!, at: i + 1 });
      j++;
    }
  }
  // Keep changed lines and `context` lines around them; mark skipped stretches.
  const keep = ops.map(() => false);
  ops.forEach((o, k) => {
    if (o.op === ' ') return;
    for (let c = Math.max(0, k - context); c <= Math.min(ops.length - 1, k + context); c++) keep[c] = true;
  });
  const out: string[] = [];
  let skipping = false;
  ops.forEach((o, k) => {
    if (!keep[k]) {
      skipping = true;
      return;
    }
    if (skipping || out.length === 0) out.push(`@@ golden line ${o.at} @@`);
    skipping = false;
    out.push(`${o.op} ${o.line}`);
  });
  return out.join('\n');
}
