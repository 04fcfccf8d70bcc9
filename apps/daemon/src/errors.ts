/**
 * Every failure the daemon reports itself is a {@link DaemonError} with a `code` from
 * {@link DaemonErrorCode}. Over HTTP it becomes the body `{ error: { code, message,
 * issues? } }` with the status of {@link DAEMON_ERROR_STATUS}; over the WebSocket an
 * `{ op: 'error', error }` message.
 */

/**
 * What went wrong.
 *
 * - `invalid_config`: a flag, environment variable or config file value is not accepted.
 * - `locked`: another daemon (or process) writes the data directory's database.
 * - `corrupt`: the quick integrity check at start found a problem.
 * - `unauthorized`: no access token, or a wrong one.
 * - `malformed_body`: the body is not valid JSON or MessagePack.
 * - `body_too_large`: the body is larger than the documented limit.
 * - `unsupported_media_type`: a body of a type the API does not read.
 * - `invalid_request`: a parameter, query or body field is not accepted.
 * - `invalid_event`: an event of a batch failed validation (see `issues`).
 * - `unknown_type`: an event of a batch has a type this version does not know.
 * - `wrong_session`: an event names another session than the one it is sent to.
 * - `lifecycle_event`: `system.start`/`system.end` are written by the session routes.
 * - `session_not_found`, `session_ended`: the session does not exist, or has ended.
 * - `event_id_conflict`: an `event_id` already stored with other content.
 * - `conflict`: an expected version did not hold.
 * - `not_found`: no such route.
 * - `not_ready`, `stopping`: the daemon is starting or stopping.
 * - `internal`: a failure of the daemon or the storage; the log has the details.
 */
export type DaemonErrorCode =
  | 'invalid_config'
  | 'locked'
  | 'corrupt'
  | 'unauthorized'
  | 'malformed_body'
  | 'body_too_large'
  | 'unsupported_media_type'
  | 'invalid_request'
  | 'invalid_event'
  | 'unknown_type'
  | 'wrong_session'
  | 'lifecycle_event'
  | 'session_not_found'
  | 'session_ended'
  | 'event_id_conflict'
  | 'conflict'
  | 'not_found'
  | 'not_ready'
  | 'stopping'
  | 'internal';

/** The HTTP status of each code. */
export const DAEMON_ERROR_STATUS: Readonly<Record<DaemonErrorCode, number>> = {
  invalid_config: 500,
  locked: 503,
  corrupt: 503,
  unauthorized: 401,
  malformed_body: 400,
  body_too_large: 413,
  unsupported_media_type: 415,
  invalid_request: 400,
  invalid_event: 400,
  unknown_type: 400,
  wrong_session: 400,
  lifecycle_event: 400,
  session_not_found: 404,
  session_ended: 409,
  event_id_conflict: 409,
  conflict: 409,
  not_found: 404,
  not_ready: 503,
  stopping: 503,
  internal: 500,
};

/** One problem of a request, located by a JSON Pointer. */
export interface RequestIssue {
  /** Index of the event in the batch, for event problems. */
  readonly index?: number;
  /** JSON Pointer into the event (for event problems) or the request part (`/body/…`, `/query/…`). */
  readonly path: string;
  /** A JSON Schema keyword, `unknown_type`, `wrong_session`, … */
  readonly keyword: string;
  readonly message: string;
}

/** Options of the {@link DaemonError} constructor. */
export interface DaemonErrorOptions {
  readonly cause?: unknown;
  readonly issues?: readonly RequestIssue[];
  /** Overrides the default, `true` for `locked`, `not_ready` and `stopping`. */
  readonly retryable?: boolean;
}

const DAEMON_ERROR_BRAND = Symbol.for('@wirthforge/daemon/DaemonError');

/**
 * The one error class of the daemon.
 *
 * @example
 * ```ts
 * throw new DaemonError('session_ended', `session ${id} has ended; start a new one`);
 * ```
 */
export class DaemonError extends Error {
  override readonly name: string = 'DaemonError';
  readonly code: DaemonErrorCode;
  /** Problems located in the request, when there are several. */
  readonly issues: readonly RequestIssue[];
  /** Whether the same request may succeed later. */
  readonly retryable: boolean;

  constructor(code: DaemonErrorCode, message: string, options: DaemonErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.issues = options.issues ?? [];
    this.retryable =
      options.retryable ?? (code === 'locked' || code === 'not_ready' || code === 'stopping');
    Object.defineProperty(this, DAEMON_ERROR_BRAND, { value: true });
  }

  /** The HTTP status of this error. */
  get status(): number {
    return DAEMON_ERROR_STATUS[this.code];
  }
}

/**
 * Whether `error` is a {@link DaemonError} (of `code`, if given). Checks a `Symbol.for`
 * brand, so two copies of the package agree.
 */
export function isDaemonError(error: unknown, code?: DaemonErrorCode): error is DaemonError {
  if (typeof error !== 'object' || error === null) return false;
  if (!(error instanceof DaemonError) && !(DAEMON_ERROR_BRAND in error)) return false;
  const actual = (error as { code?: unknown }).code;
  if (typeof actual !== 'string' || !(actual in DAEMON_ERROR_STATUS)) return false;
  return code === undefined || actual === code;
}
