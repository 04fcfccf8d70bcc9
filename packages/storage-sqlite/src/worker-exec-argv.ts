/**
 * Node options for the package's worker threads: the parent's, minus those that only make
 * sense for an entry given on the command line (`-e`, `--input-type`, ...), which would
 * stop a worker loaded from a file from starting.
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
      arg === '--interactive'
    ) {
      continue;
    }
    out.push(arg);
  }
  return out;
}
