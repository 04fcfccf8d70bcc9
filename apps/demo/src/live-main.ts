#!/usr/bin/env node
import { runLive } from './run-live.js';

const controller = new AbortController();
process.once('SIGINT', () => controller.abort());

runLive(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  // `pnpm start` runs this in apps/demo; pnpm keeps the directory it was called from here.
  cwd: process.env.INIT_CWD ?? process.cwd(),
  signal: controller.signal,
}).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
