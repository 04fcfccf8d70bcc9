/**
 * Every failure of the storage layer is a {@link StorageError} with a `code` from
 * {@link StorageErrorCode}. Dialects translate their driver's errors into these codes, so
 * callers handle one type whatever database sits underneath.
 */

/**
 * What went wrong, in terms a caller can act on.
 *
 * - `busy`: the database is busy (lock contention inside the engine); retry.
 * - `full`: the disk or the database is full; retry once space has been freed.
 * - `io`: an input/output error from the operating system or the engine.
 * - `corrupt`: the file is damaged or is not a database; never retried.
 * - `constraint`: a uniqueness, foreign key or not-null rule was violated.
 * - `readonly`: the database or its directory cannot be written.
 * - `locked`: another process owns the database (lock file held by a live process).
 * - `version`: the engine is too old, or the file was written by a newer schema.
 * - `concurrency`: an expected stream version did not match (see {@link ConcurrencyError}).
 * - `idempotency_conflict`: an event id was reused with different content.
 * - `closed`: the storage was closed, or its writer stopped.
 * - `invalid_argument`: the caller passed something the contract does not accept.
 */
export type StorageErrorCode =
  | 'busy'
  | 'full'
  | 'io'
  | 'corrupt'
  | 'constraint'
  | 'readonly'
  | 'locked'
  | 'version'
  | 'concurrency'
  | 'idempotency_conflict'
  | 'closed'
  | 'invalid_argument';

/** Every code, in a stable order (for exhaustive checks and tests). */
export const STORAGE_ERROR_CODES: readonly StorageErrorCode[] = [
  'busy',
  'full',
  'io',
  'corrupt',
  'constraint',
  'readonly',
  'locked',
  'version',
  'concurrency',
  'idempotency_conflict',
  'closed',
  'invalid_argument',
];

const RETRYABLE_BY_DEFAULT: ReadonlySet<StorageErrorCode> = new Set<StorageErrorCode>([
  'busy',
  'full',
  'locked',
  'concurrency',
]);

/**
 * Whether an error with this code is worth retrying as it stands (after re-reading, for
 * `concurrency`; after freeing space, for `full`).
 */
export function isRetryableCode(code: StorageErrorCode): boolean {
  return RETRYABLE_BY_DEFAULT.has(code);
}

/** Brand that survives two copies of this package being loaded side by side. */
const STORAGE_ERROR_BRAND = Symbol.for('@wirthforge/storage/StorageError');

/** Options of the {@link StorageError} constructor. */
export interface StorageErrorOptions {
  /** The error this one translates, e.g. the driver's. */
  readonly cause?: unknown;
  /** Overrides the default of {@link isRetryableCode}. */
  readonly retryable?: boolean;
}

/**
 * The one error class of the storage layer.
 *
 * @example
 * ```ts
 * try {
 *   await storage.appendBatch(appends);
 * } catch (error) {
 *   if (isStorageError(error) && error.retryable) scheduleRetry();
 *   else throw error;
 * }
 * ```
 */
export class StorageError extends Error {
  override readonly name: string = 'StorageError';
  /** What went wrong. */
  readonly code: StorageErrorCode;
  /** Whether retrying the same operation may succeed. */
  readonly retryable: boolean;
  constructor(code: StorageErrorCode, message: string, options: StorageErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? isRetryableCode(code);
    Object.defineProperty(this, STORAGE_ERROR_BRAND, { value: true });
  }
}

/**
 * An expected stream version did not hold. Nothing of the batch that carried it was
 * written.
 *
 * @example
 * ```ts
 * catch (error) {
 *   if (isConcurrencyError(error)) console.log(error.stream, error.expected, error.actual);
 * }
 * ```
 */
export class ConcurrencyError extends StorageError {
  override readonly name: string = 'ConcurrencyError';
  /** The stream whose version did not match. */
  readonly stream: string;
  /** What the caller expected: a version, `'no_stream'` or `'stream_exists'`. */
  readonly expected: bigint | 'no_stream' | 'stream_exists';
  /** The stream's version when the batch ran (0n when it has no events). */
  readonly actual: bigint;

  constructor(
    stream: string,
    expected: bigint | 'no_stream' | 'stream_exists',
    actual: bigint,
    options: StorageErrorOptions = {},
  ) {
    super(
      'concurrency',
      `stream "${stream}": expected version ${describeExpected(expected)}, actual version ${actual}`,
      options,
    );
    this.stream = stream;
    this.expected = expected;
    this.actual = actual;
  }
}

/**
 * An event id was appended again with content that differs from the event already
 * stored under it (or from another event of the same batch).
 */
export class IdempotencyConflictError extends StorageError {
  override readonly name: string = 'IdempotencyConflictError';
  /** The reused event id. */
  readonly eventId: string;
  /**
   * Position of the event already stored under that id; null when the other event is an
   * earlier one of the same batch that was not written.
   */
  readonly existingPosition: bigint | null;

  constructor(
    eventId: string,
    existingPosition: bigint | null,
    detail: string,
    options: StorageErrorOptions = {},
  ) {
    super(
      'idempotency_conflict',
      existingPosition === null
        ? `event id "${eventId}" is used twice in one batch with different content (${detail})`
        : `event id "${eventId}" is already stored at position ${existingPosition} with different content (${detail})`,
      options,
    );
    this.eventId = eventId;
    this.existingPosition = existingPosition;
  }
}

function describeExpected(expected: bigint | 'no_stream' | 'stream_exists'): string {
  if (expected === 'no_stream') return "'no_stream' (0)";
  if (expected === 'stream_exists') return "'stream_exists' (> 0)";
  return expected.toString();
}

function hasBrand(error: unknown): error is Record<PropertyKey, unknown> {
  return typeof error === 'object' && error !== null && STORAGE_ERROR_BRAND in error;
}

const CODE_SET: ReadonlySet<string> = new Set(STORAGE_ERROR_CODES);

/**
 * Whether `error` is a {@link StorageError}, optionally with the given code. Checks the
 * brand and the code rather than `instanceof`, so errors from another copy of this
 * package (or rebuilt across a worker boundary) are recognised too.
 */
export function isStorageError(error: unknown, code?: StorageErrorCode): error is StorageError {
  if (!(error instanceof StorageError) && !hasBrand(error)) return false;
  const actual = (error as { code?: unknown }).code;
  if (typeof actual !== 'string' || !CODE_SET.has(actual)) return false;
  return code === undefined || actual === code;
}

/** Whether `error` is a {@link ConcurrencyError} (by brand and code). */
export function isConcurrencyError(error: unknown): error is ConcurrencyError {
  return isStorageError(error, 'concurrency');
}

/** Whether `error` is an {@link IdempotencyConflictError} (by brand and code). */
export function isIdempotencyConflictError(error: unknown): error is IdempotencyConflictError {
  return isStorageError(error, 'idempotency_conflict');
}

/** Shortcut for an `invalid_argument` error; `where` names the argument, e.g. `appends[2].stream`. */
export function invalidArgument(where: string, problem: string): StorageError {
  return new StorageError('invalid_argument', `${where}: ${problem}`);
}

/**
 * Turns anything thrown by a driver into a {@link StorageError}. `classify` is the
 * dialect's mapping from its driver's errors to codes; errors it does not recognise
 * become `io`. A {@link StorageError} passes through unchanged.
 *
 * @example
 * ```ts
 * catch (error) {
 *   throw toStorageError(error, classifySqliteCode, 'append');
 * }
 * ```
 */
export function toStorageError(
  error: unknown,
  classify: (error: unknown) => StorageErrorCode | undefined,
  context?: string,
): StorageError {
  if (isStorageError(error)) return error;
  const code = classify(error) ?? 'io';
  const message = error instanceof Error ? error.message : String(error);
  return new StorageError(code, context === undefined ? message : `${context}: ${message}`, {
    cause: error,
  });
}

/**
 * A plain-object form of a {@link StorageError}, for crossing a worker or process
 * boundary (structured clone drops prototypes). {@link storageErrorFromJSON} rebuilds it.
 */
export interface StorageErrorJSON {
  readonly name: string;
  readonly code: StorageErrorCode;
  readonly message: string;
  readonly retryable: boolean;
  readonly stream?: string;
  readonly expected?: bigint | 'no_stream' | 'stream_exists';
  readonly actual?: bigint;
  readonly eventId?: string;
  readonly existingPosition?: bigint | null;
  /** The driver's own code, e.g. `SQLITE_BUSY`, when there was one. */
  readonly driverCode?: string;
  readonly stack?: string;
}

/** Converts a {@link StorageError} to {@link StorageErrorJSON}. */
export function storageErrorToJSON(error: StorageError): StorageErrorJSON {
  const base = {
    name: error.name,
    code: error.code,
    message: error.message,
    retryable: error.retryable,
    ...(error.stack === undefined ? {} : { stack: error.stack }),
    ...driverCodeOf(error.cause),
  };
  if (isConcurrencyError(error)) {
    return { ...base, stream: error.stream, expected: error.expected, actual: error.actual };
  }
  if (isIdempotencyConflictError(error)) {
    return { ...base, eventId: error.eventId, existingPosition: error.existingPosition };
  }
  return base;
}

function driverCodeOf(cause: unknown): { driverCode?: string } {
  if (typeof cause === 'object' && cause !== null && 'code' in cause) {
    const code = cause.code;
    if (typeof code === 'string') return { driverCode: code };
  }
  return {};
}

/** Rebuilds a {@link StorageError} (or its subclass) from {@link StorageErrorJSON}. */
export function storageErrorFromJSON(json: StorageErrorJSON): StorageError {
  const options: StorageErrorOptions = {
    retryable: json.retryable,
    ...(json.driverCode === undefined ? {} : { cause: { code: json.driverCode } }),
  };
  let error: StorageError;
  if (
    json.code === 'concurrency' &&
    json.stream !== undefined &&
    json.expected !== undefined &&
    json.actual !== undefined
  ) {
    error = new ConcurrencyError(json.stream, json.expected, json.actual, options);
  } else if (
    json.code === 'idempotency_conflict' &&
    json.eventId !== undefined &&
    json.existingPosition !== undefined
  ) {
    error = new IdempotencyConflictError(json.eventId, json.existingPosition, '', options);
  } else {
    error = new StorageError(json.code, json.message, options);
  }
  // The message was already composed where the error happened; keep it verbatim.
  error.message = json.message;
  if (json.stack !== undefined) error.stack = json.stack;
  return error;
}
