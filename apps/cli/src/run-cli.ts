/**
 * The `wfstate` program: commander parses, one command runs, and its outcome is printed
 * as text or as exactly one JSON document. Failures print what went wrong and what to
 * do, and map to an exit status scripts can rely on ({@link EXIT_CODES}).
 */
import { isEventsError } from '@wirthforge/events';
import { Command, CommanderError } from 'commander';

import type { CliIo } from './cli-io.js';
import { CliRuntime } from './cli-runtime.js';
import { COMMANDS } from './command-table.js';
import { CliError, EXIT_CODES, isCliError, type CliErrorCode } from './errors.js';
import { toJson } from './json-value.js';
import { CLI_VERSION } from './version.js';

const PROGRAM_EXAMPLES = `
Examples:
  $ wfstate init                                  create the data directory and database
  $ wfstate status                                sizes, sessions, events, health, daemon
  $ wfstate sessions list --limit 5
  $ wfstate events query --session 20250817T194800Z_001 --type energy.peak
  $ wfstate replay 20250817T194800Z_001 --verify  rebuild a session and compare
  $ wfstate verify --deep                         every check, every problem named
  $ wfstate backup ~/wf-backup.db.gz              a verified, compressed copy
  $ wfstate export 20250817T194800Z_001 --format yaml > session.yaml
  $ wfstate plot 20250817T194800Z_001 --svg energy.svg
  $ wfstate status --json | jq .events

Every command takes --data-dir DIR (default $XDG_DATA_HOME/wirthforge, else
~/.local/share/wirthforge; the database is state.db in it) and --json.
Exit status: 0 ok, 1 failure, 2 usage, 3 not found, 4 locked or busy,
5 a check found problems, 6 refused (confirm or pass --yes), 7 invalid input.`;

/** Builds the commander program whose actions report to `runtime`. */
export function buildProgram(runtime: CliRuntime): Command {
  const { io } = runtime;
  const program = new Command('wfstate')
    .description(
      'Look at WIRTHFORGE State data, prove it intact, back it up and restore it, move it, and delete it.',
    )
    .version(CLI_VERSION, '-V, --version')
    .showHelpAfterError('(run with --help for usage and examples)')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    .addHelpText('after', PROGRAM_EXAMPLES);
  for (const definition of COMMANDS) definition.register(program, runtime);
  return program;
}

/** What a file-system error code means for the user, and which CLI error it is. */
const FS_ERRORS: Readonly<Record<string, readonly [CliErrorCode, string, string]>> = {
  ENOENT: ['not_found', 'no such file or directory', 'check the path'],
  ENOTDIR: ['invalid_input', 'a part of the path is not a directory', 'check the path'],
  EISDIR: ['invalid_input', 'it is a directory', 'name a file, not a directory'],
  EEXIST: ['invalid_input', 'something else is in the way', 'choose another path'],
  ENAMETOOLONG: ['invalid_input', 'the name is too long', 'choose a shorter path'],
  ELOOP: ['invalid_input', 'too many symbolic links', 'check the path'],
  EACCES: ['failed', 'permission denied', 'check the permissions of the path, or choose another'],
  EPERM: [
    'failed',
    'operation not permitted',
    'check the permissions of the path, or choose another',
  ],
  EROFS: ['failed', 'the file system is read-only', 'choose a path on a writable file system'],
  ENOSPC: ['failed', 'the disk is full', 'free some space and run the command again'],
  EDQUOT: ['failed', 'the disk quota is exhausted', 'free some space and run the command again'],
};

/**
 * A file-system error of Node (with its `code`, `syscall` and `path`) as a typed CLI
 * error that says what failed, where and what to do; undefined for any other error.
 */
function fileSystemError(error: unknown): CliError | undefined {
  if (!(error instanceof Error)) return undefined;
  const { code, syscall, path, dest } = error as NodeJS.ErrnoException & { dest?: string };
  const known = typeof code === 'string' ? FS_ERRORS[code] : undefined;
  if (known === undefined || typeof path !== 'string') return undefined;
  const [cliCode, what, hint] = known;
  const target = `${path.length > 200 ? `${path.slice(0, 200)}…` : path}${typeof dest === 'string' ? ` -> ${dest.length > 200 ? `${dest.slice(0, 200)}…` : dest}` : ''}`;
  return new CliError(cliCode, `cannot ${syscall ?? 'use'} ${target}: ${what} (${code})`, {
    hint,
    cause: error,
  });
}

function report(error: unknown, runtime: CliRuntime): number {
  const { io } = runtime;
  const fs = isCliError(error) ? undefined : fileSystemError(error);
  const cli = isCliError(error)
    ? error
    : fs !== undefined
      ? fs
      : isEventsError(error, 'decode_failed')
        ? new CliError('check_failed', `a stored event cannot be decoded: ${error.message}`, {
            hint: 'run `wfstate verify` to find every damaged event; `wfstate restore BACKUP` brings them back',
            cause: error,
          })
        : new CliError('failed', error instanceof Error ? error.message : String(error), {
            hint: 'this is unexpected: run `wfstate doctor`, and report the message above if it persists',
            cause: error,
          });
  if (runtime.json) {
    io.stdout.write(
      `${toJson({
        ok: false,
        error: {
          code: cli.code,
          message: cli.message,
          ...(cli.hint === undefined ? {} : { hint: cli.hint }),
          ...(cli.details === undefined ? {} : { details: cli.details }),
        },
      })}\n`,
    );
  }
  io.stderr.write(`wfstate: ${cli.message}\n${cli.hint === undefined ? '' : `  -> ${cli.hint}\n`}`);
  return cli.exitCode;
}

/**
 * Runs `wfstate` with `argv` (without `node` and the script) and returns the exit status.
 *
 * @example
 * ```ts
 * const code = await runCli(['status', '--json'], processIo());
 * process.exitCode = code;
 * ```
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const runtime = new CliRuntime(io);
  const program = buildProgram(runtime);
  try {
    if (argv.length === 0) {
      program.outputHelp();
      return EXIT_CODES.usage;
    }
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      if (
        error.code === 'commander.helpDisplayed' ||
        error.code === 'commander.version' ||
        error.code === 'commander.help'
      ) {
        return error.code === 'commander.help' ? EXIT_CODES.usage : EXIT_CODES.ok;
      }
      return EXIT_CODES.usage;
    }
    return report(error, runtime);
  }
  const outcome = runtime.outcome;
  if (outcome === undefined) return EXIT_CODES.ok;
  if (outcome.written === true) return outcome.exitCode ?? EXIT_CODES.ok;
  if (runtime.json) io.stdout.write(`${toJson(outcome.json)}\n`);
  else if (outcome.text !== '') io.stdout.write(`${outcome.text.replace(/\n$/, '')}\n`);
  return outcome.exitCode ?? EXIT_CODES.ok;
}
