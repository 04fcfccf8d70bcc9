/**
 * Every failure of `@wirthforge/segments` is a {@link SegmentError} with a `code` from
 * {@link SegmentErrorCode}; its message names what failed and where.
 */

/**
 * What went wrong, in terms a caller can act on.
 *
 * - `invalid_argument`: the events (or options) given to the encoder are not one closed,
 *   contiguous range of one stream, or hold a value a segment cannot carry.
 * - `corrupt`: the bytes are not a whole segment (truncated, zeroed, foreign, or a body
 *   that does not decode to what its header says).
 * - `checksum`: the bytes look like a segment but their checksum does not match.
 * - `unsupported_codec`: a segment written with a codec version this code cannot read.
 * - `mismatch`: an intact segment, but not the one expected (another segment's bytes in
 *   a row, a header that disagrees with the row's columns).
 */
export type SegmentErrorCode =
  'invalid_argument' | 'corrupt' | 'checksum' | 'unsupported_codec' | 'mismatch';

/** Every code, in a stable order. */
export const SEGMENT_ERROR_CODES: readonly SegmentErrorCode[] = [
  'invalid_argument',
  'corrupt',
  'checksum',
  'unsupported_codec',
  'mismatch',
];

const CODE_SET: ReadonlySet<string> = new Set(SEGMENT_ERROR_CODES);

/** Brand shared by every copy of this package loaded in one process. */
const SEGMENT_ERROR_BRAND = Symbol.for('@wirthforge/segments/SegmentError');

/** Options of the {@link SegmentError} constructor. */
export interface SegmentErrorOptions {
  /** The error this one reports or wraps. */
  readonly cause?: unknown;
}

/**
 * The one error class of the segments package. Check errors with
 * {@link isSegmentError}, not `instanceof` alone: two copies of the package must agree.
 *
 * @example
 * ```ts
 * try {
 *   decodeSegment(row.data);
 * } catch (error) {
 *   if (isSegmentError(error, 'checksum')) quarantine(row.id, error.message);
 *   else throw error;
 * }
 * ```
 */
export class SegmentError extends Error {
  override readonly name: string = 'SegmentError';
  /** What went wrong. */
  readonly code: SegmentErrorCode;
  /** Never: the input or the stored bytes do not change on a retry. */
  readonly retryable = false;

  constructor(code: SegmentErrorCode, message: string, options: SegmentErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    Object.defineProperty(this, SEGMENT_ERROR_BRAND, { value: true });
  }
}

/**
 * Whether `error` is a {@link SegmentError}, optionally with the given code. Checks a
 * `Symbol.for` brand and the code, so errors of another copy of this package count.
 *
 * @example
 * ```ts
 * if (isSegmentError(error, 'corrupt')) report(error.message);
 * ```
 */
export function isSegmentError(error: unknown, code?: SegmentErrorCode): error is SegmentError {
  if (typeof error !== 'object' || error === null) return false;
  const record = error as Record<PropertyKey, unknown>;
  if (record[SEGMENT_ERROR_BRAND] !== true) return false;
  if (typeof record.code !== 'string' || !CODE_SET.has(record.code)) return false;
  return code === undefined || record.code === code;
}
