import { it } from 'node:test';
import assert from 'node:assert/strict';
import { lintSource, lintTree } from '../../scripts/lint-core.ts';

it('flags every impurity the rule names', () => {
  const bad = [
    "import { readFile } from 'node:fs';",
    "import dgram from 'dgram';",
    "const m = await import('node:crypto');",
    'setTimeout(() => {}, 10);',
    'const id = setInterval(tick, 5);',
    'const t = Date.now();',
    'const p = performance.now();',
    'const r = Math.random();',
    'const e = process.env.HOME;',
  ];
  for (const line of bad) assert.equal(lintSource('x.ts', line).length > 0, true, line);
  assert.deepEqual(lintSource('x.ts', bad.join('\n')).map((v) => v.line), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

it('accepts pure code and injected clocks', () => {
  const good = ["import type { Random } from '../random.ts';", 'const t = clock.nowMs();', 'const r = random.float();', 'const x = Math.max(1, 2);'];
  assert.deepEqual(lintSource('x.ts', good.join('\n')), []);
});

it('src/core is pure today', () => {
  assert.deepEqual(lintTree('src/core'), []);
});
