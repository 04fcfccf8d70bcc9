/**
 * Every failure of `@wirthforge/snapshots` itself is a {@link SnapshotError} with a
 * `code` from {@link SnapshotErrorCode}. Failures of the store or storage underneath
 * reach the caller as their own errors (`StateError`, `StorageError`).
 */

/**
 * What went wrong, in terms a caller can act on.
 *
 * - `invalid_argument`: the caller passed something the API does not accept.
 * - `unsupported_storage`: the store's storage has no relational reader (`db`), so
 *   snapshots cannot be listed or read.
 * - `empty_stream`: a snapshot of a stream with no events was asked for.
 * - `not_found`: the target of a point-in-time read lies beyond the stream.
 *
 * A snapshot that fails validation is not an error: loads report it in `rejected` and
 * go on with the previous one.
 */
export type SnapshotErrorCode =
  'invalid_argument' | 'unsupported_storage' | 'empty_stream' | 'not_found';

/** Every code, in a stable order. */
export const SNAPSHOT_ERROR_CODES: readonly SnapshotErrorCode[] = [
  'invalid_argument',
  'unsupported_storage',
  'empty_stream',
  'not_found',
];

const CODE_SET: ReadonlySet<string> = new Set(SNAPSHOT_ERROR_CODES);

/** Brand shared by every copy of this package loaded in one process. */
const SNAPSHOT_ERROR_BRAND = Symbol.for('@wirthforge/snapshots/SnapshotError');

/** Options of the {@link SnapshotError} constructor. */
export interface SnapshotErrorOptions {
  /** The error this one reports or wraps. */
  readonly cause?: unknown;
}

/**
 * The one error class of the snapshots package. Check errors with
 * {@link isSnapshotError}, not `instanceof` alone: two copies of the package must agree.
 *
 * @example
 * ```ts
 * try {
 *   await snapshots.stateAt(stream, { frameId: 1200 });
 * } catch (error) {
 *   if (isSnapshotError(error, 'not_found')) console.warn(error.message);
 *   else throw error;
 * }
 * ```
 */
export class SnapshotError extends Error {
  override readonly name: string = 'SnapshotError';
  /** What went wrong. */
  readonly code: SnapshotErrorCode;
  /** Never: each code is about the input or the stored data, which a retry does not change. */
  readonly retryable = false;

  constructor(code: SnapshotErrorCode, message: string, options: SnapshotErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    Object.defineProperty(this, SNAPSHOT_ERROR_BRAND, { value: true });
  }
}

/**
 * Whether `error` is a {@link SnapshotError}, optionally with the given code. Checks a
 * `Symbol.for` brand and the code, so errors of another copy of this package count.
 */
export function isSnapshotError(error: unknown, code?: SnapshotErrorCode): error is SnapshotError {
  if (typeof error !== 'object' || error === null) return false;
  if (!(error instanceof SnapshotError) && !(SNAPSHOT_ERROR_BRAND in error)) return false;
  const actual = (error as { code?: unknown }).code;
  if (typeof actual !== 'string' || !CODE_SET.has(actual)) return false;
  return code === undefined || actual === code;
}

/** Shortcut for an `invalid_argument` error; `where` names the argument. */
export function invalidArgument(where: string, problem: string): SnapshotError {
  return new SnapshotError('invalid_argument', `${where}: ${problem}`);
}
