// Bundles the CLI (agent included) into one ESM file for distribution: dist/sappers.mjs runs
// on any Node >= 22 without node_modules. Development runs the .ts sources directly.
import { build } from 'esbuild';
import { chmod } from 'node:fs/promises';

export async function buildBundle(outfile = 'dist/sappers.mjs'): Promise<void> {
  await build({
    entryPoints: ['src/cli/bin.ts'],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    sourcemap: 'linked',
    // msgpackr loads an optional native accelerator when present; the bundle uses pure JS.
    external: ['msgpackr-extract'],
    // Some dependencies are CommonJS and call require() for node builtins.
    banner: { js: "#!/usr/bin/env node\nimport { createRequire as __sappersRequire } from 'node:module';\nconst require = __sappersRequire(import.meta.url);" },
    logLevel: 'warning',
  });
  await chmod(outfile, 0o755);
}

if (import.meta.main) {
  const outfile = process.argv[2] ?? 'dist/sappers.mjs';
  await buildBundle(outfile);
  console.log(`built ${outfile}`);
}
