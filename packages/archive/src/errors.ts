/** What went wrong in the archive, for callers that branch on it. */
export type ArchiveErrorCode =
  'invalid_argument' | 'not_found' | 'corrupt' | 'busy' | 'locked' | 'io';

/** Options of {@link ArchiveError}. */
export interface ArchiveErrorOptions {
  readonly cause?: unknown;
  /** The partition concerned, when there is one. */
  readonly partition?: string | undefined;
}

const BRAND = Symbol.for('@wirthforge/archive/ArchiveError');

/**
 * The one error class of `@wirthforge/archive`: a code, a message that says what and
 * where (partition, segment, positions), the partition when there is one, and a cause.
 */
export class ArchiveError extends Error {
  override readonly name = 'ArchiveError';
  readonly code: ArchiveErrorCode;
  readonly partition: string | undefined;
  readonly [BRAND] = true;

  constructor(code: ArchiveErrorCode, message: string, options: ArchiveErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.partition = options.partition;
  }
}

/** Whether `value` is an {@link ArchiveError} (of `code`, when given), from any copy of this package. */
export function isArchiveError(value: unknown, code?: ArchiveErrorCode): value is ArchiveError {
  if (typeof value !== 'object' || value === null) return false;
  if ((value as Record<symbol, unknown>)[BRAND] !== true) return false;
  return code === undefined || (value as ArchiveError).code === code;
}
