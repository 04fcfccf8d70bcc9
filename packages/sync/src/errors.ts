/**
 * Every failure of `@wirthforge/sync` itself is a {@link SyncError} with a `code` from
 * {@link SyncErrorCode}. Messages never hold the hub's password: URLs are redacted
 * before they are put into a message.
 */

/**
 * What went wrong.
 *
 * - `invalid_config`: no hub configured, or a setting (URL, schema, interval) that is not accepted.
 * - `hub_unreachable`: the hub cannot be reached or refused the connection (retryable).
 * - `hub_failed`: the hub answered with an error while pushing or pulling (retryable when
 *   the cause is).
 * - `local_failed`: the local store failed while syncing.
 * - `closed`: the sync was closed.
 */
export type SyncErrorCode =
  'invalid_config' | 'hub_unreachable' | 'hub_failed' | 'local_failed' | 'closed';

/** Every code, in a stable order. */
export const SYNC_ERROR_CODES: readonly SyncErrorCode[] = [
  'invalid_config',
  'hub_unreachable',
  'hub_failed',
  'local_failed',
  'closed',
];

const SYNC_ERROR_BRAND = Symbol.for('@wirthforge/sync/SyncError');

/** Options of the {@link SyncError} constructor. */
export interface SyncErrorOptions {
  readonly cause?: unknown;
  /** Overrides the default, `false`. */
  readonly retryable?: boolean;
}

/**
 * The one error class of the sync. Check errors with {@link isSyncError}.
 *
 * @example
 * ```ts
 * try {
 *   await sync.push();
 * } catch (error) {
 *   if (isSyncError(error, 'hub_unreachable')) scheduleRetry();
 *   else throw error;
 * }
 * ```
 */
export class SyncError extends Error {
  override readonly name = 'SyncError';
  readonly code: SyncErrorCode;
  readonly retryable: boolean;
  readonly [SYNC_ERROR_BRAND] = true;

  constructor(code: SyncErrorCode, message: string, options: SyncErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

/** Whether `value` is a {@link SyncError} (of `code`, when given), from any copy of this package. */
export function isSyncError(value: unknown, code?: SyncErrorCode): value is SyncError {
  if (typeof value !== 'object' || value === null) return false;
  if ((value as Record<symbol, unknown>)[SYNC_ERROR_BRAND] !== true) return false;
  return code === undefined || (value as SyncError).code === code;
}
