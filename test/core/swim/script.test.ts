// Scripted interaction tests of the SWIM core with golden transcripts (DESIGN.md, How we
// test, 2). Each test/core/swim/script/testdata/NAME.swim is run by script/runner.ts (the
// language is documented at its top) and its transcript compared with NAME.golden.
//
//   node --test test/core/swim/script.test.ts                          compare
//   SWIM_SCRIPT_REWRITE=1 node --test test/core/swim/script.test.ts    rewrite the goldens
//   node test/core/swim/script.test.ts --rewrite                       the same
//   SWIM_SCRIPT=probe-ack node --test test/core/swim/script.test.ts    one script only
//
// A rewritten golden is evidence only once someone has read it: check the behaviour it shows.
// Scripts listed in KNOWN_BUGS record behaviour we believe is wrong; they run as `todo`.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runScript } from './script/runner.ts';
import { lineDiff } from './script/golden.ts';

const dir = join(import.meta.dirname, 'script', 'testdata');
const rewrite = process.env.SWIM_SCRIPT_REWRITE === '1' || process.argv.includes('--rewrite');
const only = process.env.SWIM_SCRIPT;
const rewriteCommand = 'SWIM_SCRIPT_REWRITE=1 node --test test/core/swim/script.test.ts';

/** Script name -> why its golden shows a core bug (see the script's comments). */
const KNOWN_BUGS: ReadonlyMap<string, string> = new Map([]);

const scripts = readdirSync(dir)
  .filter((f) => f.endsWith('.swim'))
  .map((f) => f.slice(0, -'.swim'.length))
  .filter((name) => only === undefined || name === only)
  .sort();

describe('swim interaction scripts', () => {
  it('finds the scripts', () => {
    assert.ok(only !== undefined || scripts.length >= 13, `only ${scripts.length} scripts in ${dir}`);
  });

  for (const name of scripts) {
    const todo = KNOWN_BUGS.get(name);
    it(name, todo === undefined ? {} : { todo }, () => {
      const actual = runScript(name, readFileSync(join(dir, `${name}.swim`), 'utf8'));
      const goldenPath = join(dir, `${name}.golden`);
      if (rewrite) {
        writeFileSync(goldenPath, actual);
        return;
      }
      assert.ok(existsSync(goldenPath), `no golden for ${name}; create it with: ${rewriteCommand}`);
      const expected = readFileSync(goldenPath, 'utf8');
      const diff = lineDiff(expected, actual);
      if (diff !== '') {
        assert.fail(`transcript of ${name}.swim differs from ${name}.golden (- golden, + now):\n${diff}\n\nIf the new behaviour is right, read it, then rewrite with:\n  SWIM_SCRIPT=${name} ${rewriteCommand}`);
      }
    });
  }
});
