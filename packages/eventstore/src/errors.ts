/**
 * Every failure of `@wirthforge/eventstore` is a {@link StateError} with a `code` from
 * {@link StateErrorCode}.
 */

/**
 * What went wrong, in terms a caller can act on.
 *
 * - `invalid_argument`: the caller passed something the API does not accept (a cache
 *   bound that is not a positive integer, a projection without a name, …).
 * - `unencodable_state`: a state holds a value the canonical encoding cannot represent
 *   (a bigint, a function, a class instance, a lone surrogate, …), so it can neither be
 *   hashed nor stored.
 * - `projection_failed`: a projection threw while evolving its state; the error names
 *   the projection, the event's position and type, and carries the original as `cause`.
 */
export type StateErrorCode = 'invalid_argument' | 'unencodable_state' | 'projection_failed';

/** Every code, in a stable order (for exhaustive checks and tests). */
export const STATE_ERROR_CODES: readonly StateErrorCode[] = [
  'invalid_argument',
  'unencodable_state',
  'projection_failed',
];

const CODE_SET: ReadonlySet<string> = new Set(STATE_ERROR_CODES);

/** Brand shared by every copy of this package loaded in one process. */
const STATE_ERROR_BRAND = Symbol.for('@wirthforge/eventstore/StateError');

/** Options of the {@link StateError} constructor. */
export interface StateErrorOptions {
  /** The error this one reports or wraps. */
  readonly cause?: unknown;
  /** Overrides the default, `false`. */
  readonly retryable?: boolean;
}

/**
 * The one error class of the event store. Check errors with {@link isStateError}, not
 * `instanceof` alone: two copies of the package must agree.
 *
 * @example
 * ```ts
 * try {
 *   state = foldEvents(energyProjection, events);
 * } catch (error) {
 *   if (isStateError(error, 'projection_failed')) log.error(error.message, error.cause);
 *   else throw error;
 * }
 * ```
 */
export class StateError extends Error {
  override readonly name: string = 'StateError';
  /** What went wrong. */
  readonly code: StateErrorCode;
  /**
   * Whether repeating the same call may succeed. `false` for every code of this module:
   * each is about the input or the projection's code, which a retry does not change.
   */
  readonly retryable: boolean;

  constructor(code: StateErrorCode, message: string, options: StateErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? false;
    Object.defineProperty(this, STATE_ERROR_BRAND, { value: true });
  }
}

/**
 * Whether `error` is a {@link StateError}, optionally with the given code. Checks a
 * `Symbol.for` brand and the code, so errors thrown by another copy of this package are
 * recognised.
 *
 * @example
 * ```ts
 * if (isStateError(error, 'unencodable_state')) console.error(error.message);
 * ```
 */
export function isStateError(error: unknown, code?: StateErrorCode): error is StateError {
  if (typeof error !== 'object' || error === null) return false;
  if (!(error instanceof StateError) && !(STATE_ERROR_BRAND in error)) return false;
  const actual = (error as { code?: unknown }).code;
  if (typeof actual !== 'string' || !CODE_SET.has(actual)) return false;
  return code === undefined || actual === code;
}

/** Shortcut for an `invalid_argument` error; `where` names the argument, e.g. `options.maxEntries`. */
export function invalidArgument(where: string, problem: string): StateError {
  return new StateError('invalid_argument', `${where}: ${problem}`);
}
