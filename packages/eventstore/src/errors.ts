/**
 * Every failure of `@wirthforge/eventstore` itself is a {@link StateError} with a `code`
 * from {@link StateErrorCode}. Failures of the storage underneath (concurrency,
 * idempotency conflicts, I/O) reach the caller as the storage's own `StorageError`s,
 * re-exported by this package.
 */
import type { EventsErrorCode, ValidationKeyword } from '@wirthforge/events';

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
 * - `invalid_event`: events handed to the store failed validation or cannot be stored;
 *   an {@link InvalidEventError} lists every problem with the index of its event.
 * - `closed`: the store, or the subscription, was closed.
 * - `session_not_found`: no session has that id.
 * - `session_ended`: the session already ended.
 * - `session_ids_exhausted`: every session id of the current second is taken (1000 per
 *   second); retryable, the next second has fresh ones.
 * - `commit_failed`: the recorder could not make everything it was asked to flush
 *   durable (a commit the store refused, an event the codec refused); its `onError`
 *   callback and stats hold the details.
 */
export type StateErrorCode =
  | 'invalid_argument'
  | 'unencodable_state'
  | 'projection_failed'
  | 'invalid_event'
  | 'closed'
  | 'session_not_found'
  | 'session_ended'
  | 'session_ids_exhausted'
  | 'commit_failed';

/** Every code, in a stable order (for exhaustive checks and tests). */
export const STATE_ERROR_CODES: readonly StateErrorCode[] = [
  'invalid_argument',
  'unencodable_state',
  'projection_failed',
  'invalid_event',
  'closed',
  'session_not_found',
  'session_ended',
  'session_ids_exhausted',
  'commit_failed',
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
   * Whether repeating the same call may succeed: `true` for `session_ids_exhausted`
   * only; every other code is about the input, the projection's code or the store's
   * state, which a retry does not change.
   */
  readonly retryable: boolean;

  constructor(code: StateErrorCode, message: string, options: StateErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? code === 'session_ids_exhausted';
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

/** One problem of one event of a batch, as {@link InvalidEventError} lists it. */
export interface EventIssue {
  /** Index of the event in the batch handed to the store (0 for the first). */
  readonly index: number;
  /** JSON Pointer (RFC 6901) to the offending value in the event; `''` is the event. */
  readonly path: string;
  /**
   * What failed: a JSON Schema keyword or `unknown_type` (validation), `stream` (the
   * event's `session_id` is not the session its stream belongs to), or the codec's
   * error code (`invalid_string`, `invalid_timestamp`, `encode_failed`, …).
   */
  readonly keyword: ValidationKeyword | 'stream' | EventsErrorCode;
  /** What is wrong, in words, without the offending value (it may be private text). */
  readonly message: string;
}

/**
 * Events handed to the store were refused before anything was written: every problem
 * of every bad event, each with the index of its event in the batch and the JSON
 * Pointer of the value. Code `invalid_event`.
 *
 * @example
 * ```ts
 * try {
 *   await store.appendToStream(stream, events);
 * } catch (error) {
 *   if (isInvalidEventError(error)) {
 *     for (const issue of error.issues) console.warn(issue.index, issue.path, issue.message);
 *   }
 * }
 * ```
 */
export class InvalidEventError extends StateError {
  override readonly name: string = 'InvalidEventError';
  /** The stream the events were for. */
  readonly stream: string;
  /** Every problem found, by event index, then in the order the validator found them. */
  readonly issues: readonly EventIssue[];

  constructor(stream: string, issues: readonly EventIssue[], options: StateErrorOptions = {}) {
    const shown = issues
      .slice(0, 3)
      .map((issue) => `events[${issue.index}]${issue.path} ${issue.message}`)
      .join('; ');
    const more = issues.length > 3 ? ` (and ${issues.length - 3} more)` : '';
    super('invalid_event', `stream "${stream}": ${shown}${more}`, options);
    this.stream = stream;
    this.issues = issues;
  }
}

/** Whether `error` is an {@link InvalidEventError} (by brand and code). */
export function isInvalidEventError(error: unknown): error is InvalidEventError {
  return (
    isStateError(error, 'invalid_event') && Array.isArray((error as { issues?: unknown }).issues)
  );
}

/** The error every call on a closed store or subscription rejects with. */
export function closedError(what: string): StateError {
  return new StateError('closed', `${what} is closed`);
}
