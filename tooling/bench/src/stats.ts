/** Median, minimum and maximum of a set of samples. */
export interface Summary {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

function sortedCopy(values: readonly number[], what: string): number[] {
  if (values.length === 0) throw new RangeError(`${what} of no values`);
  for (const value of values) {
    if (Number.isNaN(value)) throw new RangeError(`${what} of a set containing NaN`);
  }
  return [...values].sort((a, b) => a - b);
}

/**
 * The `p`-th percentile (0 to 100) of `values`, interpolating linearly between the two
 * nearest ranks (the method of spreadsheets and NumPy's default): `percentile(x, 50)` is
 * the median, `percentile(x, 0)` the minimum, `percentile(x, 100)` the maximum.
 *
 * @example
 * ```ts
 * percentile([1, 2, 3, 4], 50); // 2.5
 * percentile(frameCostsMs, 99);
 * ```
 */
export function percentile(values: readonly number[], p: number): number {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be in 0..100, got ${p}`);
  const sorted = sortedCopy(values, 'percentile');
  const rank = (p / 100) * (sorted.length - 1);
  const lower = Math.floor(rank);
  const upper = Math.ceil(rank);
  const low = sorted[lower] as number;
  const high = sorted[upper] as number;
  return low + (high - low) * (rank - lower);
}

/** Middle value of `values` (mean of the two middle values for an even count). */
export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** Smallest of `values`. */
export function min(values: readonly number[]): number {
  return sortedCopy(values, 'min')[0] as number;
}

/** Largest of `values`. */
export function max(values: readonly number[]): number {
  const sorted = sortedCopy(values, 'max');
  return sorted[sorted.length - 1] as number;
}

/** {@link median}, {@link min} and {@link max} in one pass over a sorted copy. */
export function summarize(values: readonly number[]): Summary {
  return { median: median(values), min: min(values), max: max(values) };
}
