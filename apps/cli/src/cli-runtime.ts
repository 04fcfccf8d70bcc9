/**
 * What every command shares: the `--data-dir` and `--json` options, the resolved data
 * directory, confirmation prompts, progress bars (on a terminal only) and the outcome a
 * command hands back to the runner, which prints it as text or as one JSON document.
 */
import { resolveDataDirectory } from '@wirthforge/storage-sqlite';
import type { DataDirectory } from '@wirthforge/storage-sqlite';
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';

import type { CliIo } from './cli-io.js';
import { CliError } from './errors.js';

/** What a command produced: text for people, a JSON value for `--json`. */
export interface CommandOutcome {
  readonly text: string;
  readonly json: unknown;
  /** Non-zero for a command that ran but found problems (e.g. `verify`). */
  readonly exitCode?: number;
  /** The command wrote its output itself (a stream, an export): print nothing more. */
  readonly written?: boolean;
}

/** Options every command takes. */
export interface CommonOptions {
  readonly dataDir?: string;
  readonly json?: boolean;
}

/** A progress bar, or nothing when not on a terminal. */
export interface Progress {
  update(value: number): void;
  stop(): void;
}

/** What a command's handler gets. */
export interface CommandEnv {
  readonly io: CliIo;
  readonly dataDir: DataDirectory;
  readonly json: boolean;
  /** A progress bar on stderr when it is a terminal and output is not JSON; else a no-op. */
  progress(label: string, total: number): Progress;
  /**
   * Asks on the terminal; resolves true only if the answer is `expected`. Without a
   * terminal it resolves false (scripts pass `--yes`).
   */
  confirm(question: string, expected: string): Promise<boolean>;
}

/** A command handler: the command's options and its positional arguments. */
export type CommandHandler<O> = (
  env: CommandEnv,
  options: O,
  args: readonly string[],
) => Promise<CommandOutcome>;

/** One run of the CLI: holds the outcome of the command that ran. */
export class CliRuntime {
  outcome: CommandOutcome | undefined;
  /** Whether the command that ran asked for JSON (so errors come as JSON too). */
  json = false;

  constructor(readonly io: CliIo) {}

  /** Adds `--data-dir` and `--json` to a command. */
  common(command: Command): Command {
    return command
      .option(
        '-d, --data-dir <dir>',
        'data directory (default: $XDG_DATA_HOME/wirthforge or ~/.local/share/wirthforge)',
      )
      .option('--json', 'print exactly one JSON document');
  }

  /** Binds a handler to a command; positional arguments come in order. */
  bind<O extends CommonOptions>(command: Command, handler: CommandHandler<O>): Command {
    return command.action(async (...raw: unknown[]) => {
      const self = raw[raw.length - 1] as Command;
      const options = self.opts<O>();
      const args = raw
        .slice(0, -2)
        .flatMap((a) => (Array.isArray(a) ? (a as string[]) : typeof a === 'string' ? [a] : []));
      this.json = options.json === true;
      const env = this.env(options);
      this.outcome = await handler(env, options, args);
    });
  }

  private env(options: CommonOptions): CommandEnv {
    const io = this.io;
    const json = options.json === true;
    return {
      io,
      json,
      dataDir: resolveDataDirectory({ dataDir: options.dataDir, env: io.env, cwd: io.cwd }),
      progress(label: string, total: number): Progress {
        if (io.stderr.isTTY !== true || json || total <= 0) {
          return { update() {}, stop() {} };
        }
        const bar = new SingleBar({
          format: `${label} [{bar}] {percentage}% {value}/{total} {eta_formatted}`,
          stream: io.stderr as unknown as NodeJS.WritableStream,
          hideCursor: true,
          clearOnComplete: true,
        });
        bar.start(total, 0);
        return {
          update: (value: number) => bar.update(Math.min(value, total)),
          stop: () => bar.stop(),
        };
      },
      confirm(question: string, expected: string): Promise<boolean> {
        const stdin = io.stdin;
        if (stdin?.isTTY !== true || io.stderr.isTTY !== true) return Promise.resolve(false);
        io.stderr.write(`${question} `);
        return new Promise((resolve) => {
          let answer = '';
          const onData = (chunk: Buffer | string): void => {
            answer += chunk.toString();
            if (!answer.includes('\n')) return;
            stdin.off?.('data', onData);
            stdin.pause?.();
            resolve(answer.trim() === expected);
          };
          stdin.on('data', onData);
          stdin.resume?.();
        });
      },
    };
  }
}

/**
 * Throws `refused` unless `--yes` was given or the user typed `expected` at the prompt.
 * `action` reads after "refusing to", e.g. `purge session X`.
 */
export async function requireConfirmation(
  env: CommandEnv,
  yes: boolean | undefined,
  action: string,
  expected: string,
): Promise<void> {
  if (yes === true) return;
  const ok = await env.confirm(`About to ${action}. Type "${expected}" to go on:`, expected);
  if (!ok) {
    throw new CliError('refused', `refusing to ${action} without confirmation`, {
      hint: 'run it on a terminal and type the confirmation, or pass --yes',
    });
  }
}
