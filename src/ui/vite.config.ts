// Builds the dashboard (issue 7): `npm run build:ui` = vite build with this file. The app lives
// in src/ui/ and is served by every agent from dist/ui/ at /ui/ (src/api/ui.ts).
// For work on the UI, `vite --config src/ui/vite.config.ts` serves it with hot reload and sends
// /v1 to the agent at SAPPERS_ADDR (default http://127.0.0.1:7700).
import preact from '@preact/preset-vite';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/ui/',
  // No prerendering: every page needs the live API.
  plugins: [preact({ prerender: { enabled: false } })],
  build: {
    outDir: fileURLToPath(new URL('../../dist/ui', import.meta.url)),
    emptyOutDir: true,
    // Browsers of the last few years; the agent serves the files as they are.
    target: 'es2022',
    sourcemap: true,
    reportCompressedSize: false,
  },
  server: {
    proxy: { '/v1': { target: process.env['SAPPERS_ADDR'] ?? 'http://127.0.0.1:7700', changeOrigin: true } },
  },
  clearScreen: false,
});
