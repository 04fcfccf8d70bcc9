#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --max-semi-space-size=1 --max-old-space-size=1024
import { setFlagsFromString } from 'node:v8';
import { WORKER_NODE_FLAGS, missingNodeFlags } from './node-flags.js';

// Started as `node main.js` (not through the shebang): the flags still size the heaps of
// the storage's worker threads, which start later. Then the workers' own limit, which the
// main thread's heap (sized when node started) does not take. Before anything else is loaded.
for (const flag of [
  ...missingNodeFlags(process.execArgv, process.env.NODE_OPTIONS),
  ...WORKER_NODE_FLAGS,
]) {
  setFlagsFromString(flag);
}
const { runDaemonCli } = await import('./run-daemon-cli.js');

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
