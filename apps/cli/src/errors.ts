/**
 * The CLI's errors: each has a code that decides the exit status and a hint that tells
 * the user what to do next.
 */

/** What went wrong, from the user's side. */
export type CliErrorCode =
  'usage' | 'not_found' | 'locked' | 'refused' | 'check_failed' | 'invalid_input' | 'failed';

/** Exit status of each {@link CliErrorCode}; scripts can rely on them. */
export const EXIT_CODES: Readonly<Record<CliErrorCode | 'ok', number>> = {
  ok: 0,
  failed: 1,
  usage: 2,
  not_found: 3,
  locked: 4,
  check_failed: 5,
  refused: 6,
  invalid_input: 7,
};

const BRAND = Symbol.for('wirthforge.cli.error');

/** Options of {@link CliError}. */
export interface CliErrorOptions {
  /** What the user can do about it. */
  readonly hint?: string;
  readonly cause?: unknown;
  /** A JSON value to print with the error under `--json` (e.g. the problems found). */
  readonly details?: unknown;
}

/** A failure of a command, with the exit code it maps to and a hint. */
export class CliError extends Error {
  override readonly name = 'CliError';
  readonly [BRAND] = true;
  readonly hint: string | undefined;
  readonly details: unknown;

  constructor(
    readonly code: CliErrorCode,
    message: string,
    options: CliErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.hint = options.hint;
    this.details = options.details;
  }

  /** The process exit status of this error. */
  get exitCode(): number {
    return EXIT_CODES[this.code];
  }
}

/** Whether `value` is a {@link CliError} (by brand, so two copies of the module agree). */
export function isCliError(value: unknown, code?: CliErrorCode): value is CliError {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as Record<symbol, unknown>)[BRAND] === true &&
    (code === undefined || (value as CliError).code === code)
  );
}
