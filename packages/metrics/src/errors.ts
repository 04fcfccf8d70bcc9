/**
 * Every failure of `@wirthforge/metrics` is a {@link MetricsError} with a `code` from
 * {@link MetricsErrorCode}.
 */

/**
 * What went wrong:
 *
 * - `invalid_argument`: a name, label, value or option the API does not accept (the
 *   message says which and where);
 * - `duplicate_metric`: a metric of that name is registered already with another type,
 *   help or label set;
 * - `label_mismatch`: the labels given do not match the metric's label names.
 */
export type MetricsErrorCode = 'invalid_argument' | 'duplicate_metric' | 'label_mismatch';

/** Every code, in a stable order. */
export const METRICS_ERROR_CODES: readonly MetricsErrorCode[] = [
  'invalid_argument',
  'duplicate_metric',
  'label_mismatch',
];

const BRAND = Symbol.for('@wirthforge/metrics/MetricsError');

/** Options of the {@link MetricsError} constructor. */
export interface MetricsErrorOptions {
  readonly cause?: unknown;
}

/**
 * The one error class of the metrics package. Check with {@link isMetricsError}, not
 * `instanceof` alone: two copies of the package must agree.
 *
 * @example
 * ```ts
 * try {
 *   registry.counter({ name: 'bad name!', help: '…' });
 * } catch (error) {
 *   if (isMetricsError(error, 'invalid_argument')) console.warn(error.message);
 * }
 * ```
 */
export class MetricsError extends Error {
  override readonly name = 'MetricsError';
  readonly code: MetricsErrorCode;
  readonly [BRAND] = true;

  constructor(code: MetricsErrorCode, message: string, options: MetricsErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }
}

/** Whether `error` is a {@link MetricsError} (of `code`, when given), from any copy of this package. */
export function isMetricsError(error: unknown, code?: MetricsErrorCode): error is MetricsError {
  if (typeof error !== 'object' || error === null) return false;
  if ((error as Record<symbol, unknown>)[BRAND] !== true) return false;
  const found = (error as { code?: unknown }).code;
  return (
    typeof found === 'string' &&
    (METRICS_ERROR_CODES as readonly string[]).includes(found) &&
    (code === undefined || found === code)
  );
}

/** `invalid_argument` naming where. */
export function invalidArgument(where: string, message: string): MetricsError {
  return new MetricsError('invalid_argument', `${where}: ${message}`);
}
