import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '../../src/sim/cli.ts';

const repo = fileURLToPath(new URL('../../', import.meta.url));

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

function spawnNode(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: repo, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

const digestOf = (text: string): string => /trace sha256 ([0-9a-f]{64})/.exec(text)?.[1] ?? 'none';

describe('sim CLI: one seed', () => {
  it('prints the same digest for the same seed and another for another seed', async () => {
    const a = await cli('--seed', '3');
    const b = await cli('--seed', '3');
    const c = await cli('--seed', '4');
    assert.equal(a.code, 0, a.err);
    assert.match(a.out, /^scenario raft seed 3: ok; \d+ steps, t=14001\.000 ms, \d+ trace lines, trace sha256 [0-9a-f]{64}\n$/);
    assert.equal(digestOf(b.out), digestOf(a.out));
    assert.notEqual(digestOf(c.out), digestOf(a.out));
  });

  it('--trace prints the trace whose SHA-256 is the printed digest', async () => {
    const r = await cli('--seed', '5', '--trace');
    assert.equal(r.code, 0, r.err);
    const lines = r.out.split('\n');
    const summary = lines.at(-2)!;
    const trace = lines.slice(0, -2).map((l) => l + '\n').join('');
    assert.match(trace, /^0\.000 sim seed 5\n/);
    assert.equal(createHash('sha256').update(trace).digest('hex'), digestOf(summary));
  });

  it('--steps stops the run early', async () => {
    const r = await cli('--seed', '5', '--steps', '50');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /: ok; 50 steps/);
  });

  it('a failing seed exits 1 with the report and the replay command', async () => {
    const r = await cli('--seed', '1', '--scenario', 'echo-nosync');
    assert.equal(r.code, 1);
    assert.match(r.out, /seed 1: FAILED at step \d+/);
    assert.match(r.err, /SIMULATION FAILED \(seed 1\)/);
    assert.match(r.err, /invariant: a persisted or acked counter never goes backwards/);
    assert.match(r.err, /replay: +npm run sim -- --seed 1 --scenario echo-nosync\n/);
  });
});

describe('sim CLI: sweeps', () => {
  it('sweeps seeds and summarizes', async () => {
    const r = await cli('--seeds', '3', '--from', '10');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^scenario raft: 3 seeds \(10\.\.12\), 3 passed, 0 failed, \d+ steps\n$/);
  });

  it('lists the failing seeds with replay commands and exits 1', async () => {
    const r = await cli('--seeds', '2', '--scenario', 'echo-nosync', '--steps', '100000');
    assert.equal(r.code, 1);
    assert.match(r.out, /2 seeds \(1\.\.2\), 0 passed, 2 failed/);
    assert.match(r.err, /failing seeds: 1 2\n/);
    assert.match(r.err, /npm run sim -- --seed 2 --scenario echo-nosync --steps 100000\n/);
  });
});

describe('sim CLI: usage', () => {
  it('--help prints usage and exits 0', async () => {
    const r = await cli('--help');
    assert.equal(r.code, 0);
    assert.match(r.out, /npm run sim -- --seed S/);
    assert.match(r.out, /echo-nosync/);
  });

  for (const args of [[], ['--seed', 'x'], ['--seed', '-1'], ['--seed', '4294967296'], ['--seed', '1', '--seeds', '2'], ['--seeds', '0'], ['--seed', '1', '--scenario', 'nope'], ['--bogus'], ['--seeds', '2', '--trace'], ['--seed', '1', '--from', '2']]) {
    it(`exits 2 on ${JSON.stringify(args)}`, async () => {
      const r = await cli(...args);
      assert.equal(r.code, 2);
      assert.match(r.err, /^sim: .+\n\nUsage:/s);
    });
  }
});

describe('sim CLI: as a process', () => {
  it('node src/sim/cli.ts replays a seed with the same digest as in-process', async () => {
    const inProcess = await cli('--seed', '9');
    const child = await spawnNode(['src/sim/cli.ts', '--seed', '9']);
    assert.equal(child.code, 0, child.stderr);
    assert.equal(digestOf(child.stdout), digestOf(inProcess.out));
    const failing = await spawnNode(['src/sim/cli.ts', '--seed', '1', '--scenario', 'echo-nosync']);
    assert.equal(failing.code, 1);
    assert.match(failing.stderr, /replay: +npm run sim -- --seed 1 --scenario echo-nosync/);
  });

  it('turns an unhandled rejection in node code into a failure report with the seed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sappers-sim-'));
    try {
      const script = join(dir, 'reject.ts');
      const simulation = new URL('../../src/sim/simulation.ts', import.meta.url).href;
      await writeFile(
        script,
        `import { Simulation, formatFailureReport } from ${JSON.stringify(simulation)};
const sim = new Simulation({ seed: 31 });
sim.addNode('a', (ctx) => { ctx.clock.setTimer(5, () => { void Promise.reject(new Error('forgot to catch')); }); });
const result = await sim.run();
process.stdout.write(result.ok ? 'ok' : formatFailureReport(result.failure));
`,
      );
      const r = await spawnNode([script]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /exception: unhandled rejection/);
      assert.match(r.stdout, /forgot to catch/);
      assert.match(r.stdout, /npm run sim -- --seed 31/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
