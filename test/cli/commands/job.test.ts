// `sappers job validate FILE`: checks a job file without an agent.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JobSpec } from '../../../src/core/scheduler/job.ts';
import { runCli } from '../../helpers/agent-process.ts';

const example = fileURLToPath(new URL('../../../docs/examples/web.yaml', import.meta.url));
const dir = await mkdtemp(join(tmpdir(), 'sappers-job-cli-'));
after(() => rm(dir, { recursive: true, force: true }));

describe('sappers job validate', () => {
  it('prints a valid file as the cluster will see it, and --json gives the whole spec', async () => {
    const table = await runCli(['job', 'validate', example]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^Job\s+web$/m);
    assert.match(table.stdout, /is valid$/m);
    const json = await runCli(['job', 'validate', example, '--json']);
    assert.equal(json.code, 0, json.stderr);
    const spec = JSON.parse(json.stdout) as JobSpec;
    assert.equal(spec.job, 'web');
    assert.equal(spec.type, 'service');
  });

  it('names the file, line, column and field of each problem and exits 2', async () => {
    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, 'job: web\ntype: service\ncount: 3\ndriver: process\nresources:\n  cpu: 2\n  memroyMB: 64\n');
    const r = await runCli(['job', 'validate', bad]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, new RegExp(`${bad}:6:8: resources\\.cpu: 2 is 2 millicores`));
    assert.match(r.stderr, new RegExp(`${bad}:7:3: .*memroyMB`));
    const missing = await runCli(['job', 'validate', join(dir, 'nope.yaml')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read .*nope\.yaml: ENOENT/);
  });
});
