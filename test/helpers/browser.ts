// Drives the dashboard in a real headless browser for test/ui/*: Debian's chromium through
// playwright-core (DESIGN.md, "How we test" 7). No browser is downloaded: /usr/bin/chromium comes
// from the `chromium` Debian package (.ci/run installs it); without it the tests are skipped
// with a printed reason, as the netns tests are without root.
//
// The dashboard is served from dist/ui (built by `npm run build:ui`, which `npm install` runs
// through `prepare`). uiSkipReason() builds it (scripts/build-ui.ts) when it is missing or older
// than its sources, so a test never looks at a stale dashboard; a failed build fails loudly.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { uiIsStale } from '../../scripts/build-ui.ts';

export const CHROMIUM = '/usr/bin/chromium';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const UI_SOURCE = join(ROOT, 'src', 'ui');
const UI_INDEX = join(ROOT, 'dist', 'ui', 'index.html');
/** Where screenshots go: test-artifacts/ui (gitignored), or UI_ARTIFACTS_DIR to keep one run's apart. */
export const ARTIFACTS = process.env['UI_ARTIFACTS_DIR'] ?? join(ROOT, 'test-artifacts', 'ui');
const BUILD_LOCK = join(ROOT, 'dist', '.ui-build.lock');
const BUILD_TIMEOUT_MS = 180_000;

/** A laptop screen and a phone (iPhone X-class CSS pixels), the two sizes the issue asks for. */
export const LAPTOP = { width: 1280, height: 800 } as const;
export const PHONE = { width: 375, height: 812 } as const;

/**
 * Why the browser tests cannot run here, or undefined when they can. Builds the dashboard first
 * when dist/ui is missing or older than src/ui; throws (a test failure, not a skip) when that
 * build fails, since a dashboard that does not build is a bug, not a missing tool.
 */
export async function uiSkipReason(): Promise<string | undefined> {
  if (!existsSync(CHROMIUM)) return `${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium; .ci/run does) to run the dashboard's browser tests`;
  if (!existsSync(join(UI_SOURCE, 'index.html'))) return 'the dashboard source (src/ui/index.html) is not in this tree yet';
  await ensureUiBuilt();
  return undefined;
}

async function ensureUiBuilt(): Promise<void> {
  if (!(await uiIsStale())) return;
  // Test files run two at a time: one build at a time (mkdir is atomic), the others wait for it.
  mkdirSync(join(ROOT, 'dist'), { recursive: true });
  const deadline = Date.now() + BUILD_TIMEOUT_MS;
  for (;;) {
    try {
      mkdirSync(BUILD_LOCK);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      if (Date.now() > deadline) throw new Error(`another build of the dashboard holds ${BUILD_LOCK} for too long (remove it if no build runs)`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  try {
    if (!(await uiIsStale())) return;
    // The same build as `npm run build:ui` and `prepare`, on this Node.
    const build = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build-ui.ts')], { cwd: ROOT, encoding: 'utf8', timeout: BUILD_TIMEOUT_MS });
    if (build.status !== 0 || !existsSync(UI_INDEX)) {
      throw new Error(`building the dashboard failed (${build.error?.message ?? `exit ${build.status ?? build.signal}`}); the browser tests need dist/ui (npm run build:ui):\n${build.stdout}\n${build.stderr}`);
    }
  } finally {
    rmdirSync(BUILD_LOCK);
  }
}

export interface BrowserSession {
  readonly browser: Browser;
  readonly context: BrowserContext;
  readonly page: Page;
  /** Uncaught exceptions thrown by the page's scripts so far (a dashboard bug each). */
  readonly pageErrors: string[];
  /** Saves the page as test-artifacts/ui/<name>.png (full page) and returns the path. */
  screenshot(name: string): Promise<string>;
  /** A new page in a new context (own storage: a fresh login) with this viewport and theme. */
  newPage(options: { viewport?: { width: number; height: number }; colorScheme?: 'light' | 'dark' }): Promise<Page>;
  close(): Promise<void>;
}

/**
 * Launches headless chromium with one page at the laptop size. Close it in an `after` hook so
 * that it goes whether the tests pass or fail (close() may be called twice; if the test process
 * dies instead, chromium exits when its pipe to playwright closes).
 */
export async function openBrowser(options: { viewport?: { width: number; height: number }; colorScheme?: 'light' | 'dark' } = {}): Promise<BrowserSession> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // --no-sandbox: CI runs as root, where chromium refuses its sandbox. No background
    // networking: the tests only talk to agents on loopback. /dev/shm is small in containers.
    args: ['--no-sandbox', '--disable-background-networking', '--disable-dev-shm-usage'],
    timeout: 60_000,
  });
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await browser.close().catch(() => undefined);
  };
  const pageErrors: string[] = [];
  const newPage = async (o: { viewport?: { width: number; height: number }; colorScheme?: 'light' | 'dark' }): Promise<Page> => {
    const context = await browser.newContext({ viewport: o.viewport ?? LAPTOP, colorScheme: o.colorScheme ?? 'light' });
    // Generous: a loaded 2-core machine runs three agents and a browser. Only guards hangs.
    context.setDefaultTimeout(30_000);
    const page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(`${page.url()}: ${e.message}`));
    return page;
  };
  const page = await newPage(options);
  return {
    browser,
    context: page.context(),
    page,
    pageErrors,
    newPage,
    screenshot: (name) => screenshot(page, name),
    close,
  };
}

/** Saves any page (not only the session's first) as test-artifacts/ui/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
