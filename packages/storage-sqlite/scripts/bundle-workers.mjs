/**
 * Bundles each worker thread's entry (after `tsc`) into one file beside it,
 * `dist/<worker>.bundle.js`, which is what the storage starts. A worker that imports a
 * graph of a few hundred ES modules (kysely alone is about two hundred) spends most of
 * its start-up resolving and linking them; one bundled module starts several times
 * faster, and the writer's start-up is most of the time a store takes to open.
 * better-sqlite3 (a native addon) and msgpackr (an optional native extension) stay
 * imports.
 */
import { fileURLToPath, URL } from 'node:url';

import { build } from 'rolldown';

const WORKERS = ['sqlite-writer-worker', 'sqlite-seal-worker', 'sqlite-maintenance-worker'];

for (const worker of WORKERS) {
  const input = fileURLToPath(new URL(`../dist/${worker}.js`, import.meta.url));
  const file = fileURLToPath(new URL(`../dist/${worker}.bundle.js`, import.meta.url));
  await build({
    input,
    platform: 'node',
    external: [/^better-sqlite3(\/|$)/, /^msgpackr(\/|$)/, /^msgpackr-extract(\/|$)/],
    logLevel: 'warn',
    output: { file, format: 'esm', codeSplitting: false },
  });
}
