/**
 * What every command shares: the `--data-dir` and `--json` options, the resolved data
 * directory, confirmation prompts, progress bars (on a terminal only) and the outcome a
 * command hands back to the runner, which prints it as text or as one JSON document.
 */
import { statSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';

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
    if (options.dataDir !== undefined) checkPathText(options.dataDir, '--data-dir');
    const dataDir = resolveDataDirectory({ dataDir: options.dataDir, env: io.env, cwd: io.cwd });
    checkPathLength(dataDir.dir, '--data-dir');
    const kind = kindOf(dataDir.dir);
    if (kind !== undefined && kind !== 'directory') {
      throw new CliError(
        'invalid_input',
        `data directory ${dataDir.dir} is a ${kind}, not a directory`,
        {
          hint: 'pass --data-dir DIR naming a directory (it is created if missing)',
        },
      );
    }
    return {
      io,
      json,
      dataDir,
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

/** Longest file name and path Linux takes (`NAME_MAX`, `PATH_MAX`), in bytes. */
const NAME_MAX = 255;
const PATH_MAX = 4095;

/** What is at `path`: undefined when nothing is. */
function kindOf(path: string): 'directory' | 'file' | 'special file' | undefined {
  try {
    const stat = statSync(path);
    return stat.isDirectory() ? 'directory' : stat.isFile() ? 'file' : 'special file';
  } catch {
    return undefined;
  }
}

/** Throws `invalid_input` naming `what` unless `text` can name a file at all. */
function checkPathText(text: string, what: string): void {
  if (text.length === 0) {
    throw new CliError('invalid_input', `${what}: the file name is empty`, {
      hint: 'name a file, e.g. ./out.db.gz',
    });
  }
  if (text.includes('\0')) {
    throw new CliError('invalid_input', `${what}: the file name contains a NUL character`, {
      hint: 'file names cannot contain NUL',
    });
  }
}

/** Throws `invalid_input` naming `what` when `path` (or a name in it) is longer than the system takes. */
function checkPathLength(path: string, what: string): void {
  const tooLong = path.split(sep).find((part) => Buffer.byteLength(part) > NAME_MAX);
  if (tooLong !== undefined) {
    throw new CliError(
      'invalid_input',
      `${what}: a name in ${path.slice(0, 120)}… is ${Buffer.byteLength(tooLong)} bytes long; the file system takes at most ${NAME_MAX}`,
      { hint: 'choose a shorter name' },
    );
  }
  if (Buffer.byteLength(path) > PATH_MAX) {
    throw new CliError(
      'invalid_input',
      `${what}: the path is ${Buffer.byteLength(path)} bytes long; the system takes at most ${PATH_MAX}`,
      { hint: 'choose a shorter path' },
    );
  }
}

/**
 * The file a command writes, from `text` given as `what` (e.g. `--svg`): resolved
 * against the working directory and checked before anything is written. Throws
 * `invalid_input` for an empty name, a NUL, a name or path longer than the system takes,
 * or a path that is a directory (or another special file) rather than a file.
 */
export function outputFilePath(env: CommandEnv, text: string, what: string): string {
  checkPathText(text, what);
  const path = resolve(env.io.cwd, text);
  checkPathLength(path, what);
  const kind = kindOf(path);
  if (kind !== undefined && kind !== 'file') {
    throw new CliError('invalid_input', `${what}: ${path} is a ${kind}, not a file`, {
      hint: `name a file, e.g. ${join(path, 'out')}`,
    });
  }
  return path;
}
