import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildBundle } from '../../scripts/build.ts';
import { VERSION } from '../../src/version.ts';

const run = promisify(execFile);
const dir = await mkdtemp(join(tmpdir(), 'sappers-bundle-'));
after(() => rm(dir, { recursive: true, force: true }));

it('esbuild bundles a self-contained CLI that runs without node_modules', async () => {
  const outfile = join(dir, 'sappers.mjs');
  await buildBundle(outfile);
  // Run from the temp dir so nothing resolves from the repository's node_modules.
  const { stdout } = await run(process.execPath, [outfile, '--version'], { cwd: dir });
  assert.equal(stdout.trim(), VERSION);
  const help = await run(process.execPath, [outfile, 'agent', '--help'], { cwd: dir });
  assert.match(help.stdout, /--bootstrap-expect <n>/);
});
