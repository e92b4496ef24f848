// Scripted interaction tests of the Raft core with golden transcripts (DESIGN.md, How we test,
// 2). Each test/core/raft/script/testdata/NAME.txt is run by script/runner.ts (the language is
// documented at its top) and its transcript compared with NAME.golden.
//
//   node --test test/core/raft/script.test.ts                          compare
//   RAFT_SCRIPT_REWRITE=1 node --test test/core/raft/script.test.ts    rewrite the goldens
//   node test/core/raft/script.test.ts --rewrite                       the same
//   RAFT_SCRIPT=elections node --test test/core/raft/script.test.ts    one script only
//
// A rewritten golden is evidence only once someone has read it: check the behaviour it shows.
// A transcript with a safety violation (the runner checks Figure 3 as it goes) never passes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runScript } from './script/runner.ts';
import { lineDiff } from '../swim/script/golden.ts';

const dir = join(import.meta.dirname, 'script', 'testdata');
const rewrite = process.env.RAFT_SCRIPT_REWRITE === '1' || process.argv.includes('--rewrite');
const only = process.env.RAFT_SCRIPT;
const rewriteCommand = 'RAFT_SCRIPT_REWRITE=1 node --test test/core/raft/script.test.ts';

const scripts = readdirSync(dir)
  .filter((f) => f.endsWith('.txt'))
  .map((f) => f.slice(0, -'.txt'.length))
  .filter((name) => only === undefined || name === only)
  .sort();

describe('raft interaction scripts', () => {
  it('finds the scripts', () => {
    assert.ok(only !== undefined || scripts.length >= 7, `only ${scripts.length} scripts in ${dir}`);
  });

  for (const name of scripts) {
    it(name, () => {
      const actual = runScript(name, readFileSync(join(dir, `${name}.txt`), 'utf8'));
      const violation = actual.split('\n').find((line) => line.includes('!! VIOLATION'));
      const goldenPath = join(dir, `${name}.golden`);
      if (rewrite) writeFileSync(goldenPath, actual);
      assert.equal(violation, undefined, `${name}.txt breaks a Raft safety property:\n${violation}`);
      if (rewrite) return;
      assert.ok(existsSync(goldenPath), `no golden for ${name}; create it with: ${rewriteCommand}`);
      const expected = readFileSync(goldenPath, 'utf8');
      const diff = lineDiff(expected, actual);
      if (diff !== '') {
        assert.fail(`transcript of ${name}.txt differs from ${name}.golden (- golden, + now):\n${diff}\n\nIf the new behaviour is right, read it, then rewrite with:\n  RAFT_SCRIPT=${name} ${rewriteCommand}`);
      }
    });
  }
});
