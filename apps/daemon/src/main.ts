#!/usr/bin/env node
import { runDaemonCli } from './run-daemon-cli.js';

runDaemonCli({
  argv: process.argv.slice(2),
  env: process.env,
  cwd: process.env.INIT_CWD ?? process.cwd(),
  stderr: process.stderr,
  onSignal: (signal, handler) => process.on(signal, handler),
  exit: (code) => process.exit(code),
}).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `wfstated: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
