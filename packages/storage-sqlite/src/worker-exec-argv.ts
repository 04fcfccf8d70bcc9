/**
 * V8 options Node refuses in a worker's `execArgv` (`ERR_WORKER_INVALID_EXEC_ARGV`): heap
 * sizes and GC switches. They are process-wide, so a worker's isolate gets them anyway.
 */
const V8_PROCESS_OPTIONS =
  /^--(?:(?:max|min|initial)-[a-z-]*(?:space|heap|generation)-size|semi-space-growth-factor|heap-growing-percent|expose-gc|stack-size)(?:=|$)/;

/**
 * Node options for the package's worker threads: the parent's, minus those that only make
 * sense for an entry given on the command line (`-e`, `--input-type`, ...), which would
 * stop a worker loaded from a file from starting, and minus the process-wide V8 options
 * (`--max-old-space-size`, `--max-semi-space-size`, ...), which Node refuses in a worker's
 * `execArgv` and which apply to the worker's heap already.
 */
export function workerExecArgv(parent: readonly string[] = process.execArgv): string[] {
  const out: string[] = [];
  for (let i = 0; i < parent.length; i++) {
    const arg = parent[i]!;
    if (arg === '-e' || arg === '--eval' || arg === '-p' || arg === '--print') {
      i++;
      continue;
    }
    if (
      arg.startsWith('--input-type') ||
      arg.startsWith('--eval=') ||
      arg.startsWith('--print=') ||
      arg === '-i' ||
      arg === '--interactive' ||
      V8_PROCESS_OPTIONS.test(arg.replaceAll('_', '-'))
    ) {
      continue;
    }
    out.push(arg);
  }
  return out;
}
