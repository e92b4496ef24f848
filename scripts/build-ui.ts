// Builds the dashboard (src/ui -> dist/ui) with vite, like `npm run build:ui`.
//   node scripts/build-ui.ts             build
//   node scripts/build-ui.ts --if-stale  build only when dist/ui/index.html is missing or older
//                                        than a file under src/ui (npm's `prestart`), so a
//                                        fresh clone's `npm start` serves the dashboard and a
//                                        second start does not wait for a build
// Without vite (a production install without devDependencies) it says so and exits 0: the agent
// then answers /ui/ with 503 and the same hint, and everything else works.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const sourceDir = join(root, 'src', 'ui');
const builtIndex = join(root, 'dist', 'ui', 'index.html');
const config = join(sourceDir, 'vite.config.ts');

/** The newest modification time of any file under `dir`, in ms. */
export async function newestMtimeMs(dir: string): Promise<number> {
  let newest = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const info = await stat(join(entry.parentPath, entry.name));
    newest = Math.max(newest, info.mtimeMs);
  }
  return newest;
}

/** True when the built dashboard is missing or older than its sources. */
export async function uiIsStale(): Promise<boolean> {
  const built = await stat(builtIndex).catch(() => undefined);
  if (built === undefined) return true;
  return (await newestMtimeMs(sourceDir)) > built.mtimeMs;
}

async function main(): Promise<void> {
  if (process.argv.includes('--if-stale') && !(await uiIsStale())) return;
  let vite: typeof import('vite');
  try {
    vite = await import('vite');
  } catch {
    console.warn('sappers: vite is not installed (devDependencies), so the dashboard is not built; `npm install` then `npm run build:ui` builds it');
    return;
  }
  await vite.build({ configFile: config, logLevel: 'warn' });
  console.log('sappers: built the dashboard into dist/ui/');
}

if (import.meta.main) await main();
