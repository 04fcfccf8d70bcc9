/**
 * Small, allocation-aware statistics on windows of numbers: robust baselines (median,
 * MAD) for peak and anomaly detection, moving averages and least-squares slopes for
 * trends.
 */

/** The scale that makes the MAD of normal data estimate its standard deviation. */
export const MAD_SCALE = 1.4826;

/**
 * Puts the `k`-th smallest of `a` at index `k` (Hoare's selection, in place, O(n) on
 * average): everything before it is <= it, everything after >= it.
 */
function select(a: Float64Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >> 1]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else break;
  }
  return a[k]!;
}

/**
 * The median of `values`; `NaN` when empty. `scratch`, when long enough, is used as the
 * working copy (no allocation).
 */
export function median(values: ArrayLike<number>, scratch?: Float64Array): number {
  const n = values.length;
  if (n === 0) return Number.NaN;
  const work =
    scratch !== undefined && scratch.length >= n ? scratch.subarray(0, n) : new Float64Array(n);
  if (work !== values) for (let i = 0; i < n; i++) work[i] = values[i]!;
  const mid = n >> 1;
  const upper = select(work, mid);
  if (n % 2 === 1) return upper;
  // The largest of the lower half is the other middle value.
  let lower = work[0]!;
  for (let i = 1; i < mid; i++) if (work[i]! > lower) lower = work[i]!;
  return (lower + upper) / 2;
}

/** Median and median absolute deviation of `values`. */
export function medianAndMad(
  values: ArrayLike<number>,
  scratch?: Float64Array,
): { readonly median: number; readonly mad: number } {
  const m = median(values, scratch);
  const n = values.length;
  const deviations =
    scratch !== undefined && scratch.length >= n ? scratch.subarray(0, n) : new Float64Array(n);
  for (let i = 0; i < n; i++) deviations[i] = Math.abs(values[i]! - m);
  return { median: m, mad: median(deviations, deviations) };
}

/** Arithmetic mean of the last `window` values (all when fewer); `NaN` when empty. */
export function movingAverage(values: readonly number[], window: number): number {
  const from = Math.max(0, values.length - window);
  const n = values.length - from;
  if (n <= 0) return Number.NaN;
  let sum = 0;
  for (let i = from; i < values.length; i++) sum += values[i]!;
  return sum / n;
}

/**
 * Exponential moving average over the last `window` values with `alpha = 2 / (window + 1)`,
 * seeded with the first of them; `NaN` when empty.
 */
export function exponentialMovingAverage(values: readonly number[], window: number): number {
  const from = Math.max(0, values.length - window);
  if (values.length - from <= 0) return Number.NaN;
  const alpha = 2 / (window + 1);
  let ema = values[from]!;
  for (let i = from + 1; i < values.length; i++) ema += alpha * (values[i]! - ema);
  return ema;
}

/**
 * Least-squares slope of the last `window` values against their index (per step; per
 * second for a series of seconds); `NaN` with fewer than two values.
 */
export function slope(values: readonly number[], window: number): number {
  const from = Math.max(0, values.length - window);
  const n = values.length - from;
  if (n < 2) return Number.NaN;
  const meanX = (n - 1) / 2;
  let meanY = 0;
  for (let i = from; i < values.length; i++) meanY += values[i]!;
  meanY /= n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    const dx = i - meanX;
    num += dx * (values[from + i]! - meanY);
    den += dx * dx;
  }
  return num / den;
}
