/** Where a command reads and writes: the process's streams, or captured ones in tests. */

/** A stream the CLI writes to. */
export interface CliOutput {
  write(text: string): unknown;
  /** True when attached to a terminal (progress bars and prompts only then). */
  readonly isTTY?: boolean;
  readonly columns?: number;
}

/** A stream the CLI reads confirmations from. */
export interface CliInput {
  readonly isTTY?: boolean;
  on(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  off?(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  pause?(): unknown;
  resume?(): unknown;
}

/** Everything a run of the CLI touches outside itself. */
export interface CliIo {
  readonly stdout: CliOutput;
  readonly stderr: CliOutput;
  readonly stdin?: CliInput;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  /** Ends long-running commands (`events tail --follow`) cleanly. */
  readonly signal?: AbortSignal;
}

/** The process's own streams, environment and working directory. */
export function processIo(signal?: AbortSignal): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    cwd: process.cwd(),
    ...(signal === undefined ? {} : { signal }),
  };
}
