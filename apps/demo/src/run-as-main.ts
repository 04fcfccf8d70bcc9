/** What `runDemo` and `runLive` have in common: they take the arguments and the process context. */
export type MainProgram = (
  argv: readonly string[],
  io: {
    stdout: NodeJS.WriteStream;
    stderr: NodeJS.WriteStream;
    cwd: string;
    signal: AbortSignal;
  },
) => Promise<number>;

/**
 * Runs a program as the process's main: Ctrl-C aborts its signal, its result becomes the
 * exit code, and an unexpected error is printed with exit code 1.
 */
export function runAsMain(program: MainProgram): void {
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  program(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    // `pnpm demo` / `pnpm start` run this in apps/demo; pnpm keeps the caller's directory here.
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
}
