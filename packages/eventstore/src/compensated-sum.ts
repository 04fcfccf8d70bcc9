/**
 * A running sum of floating-point numbers with Neumaier's compensation: the value is
 * `sum + compensation`, where `compensation` holds the low-order bits each addition
 * rounded away. Its error stays within a few units in the last place of the result
 * whatever the number of terms, where a plain running sum drifts with every term, so
 * totals kept apart (per model, per session) add up to the grand total they belong
 * to. Deterministic: the same terms in the same order give the same two numbers.
 */
export interface CompensatedSum {
  /** The rounded running sum. */
  sum: number;
  /** What the rounding of `sum` lost so far. */
  compensation: number;
}

/** A sum of nothing. */
export function emptySum(): CompensatedSum {
  return { sum: 0, compensation: 0 };
}

/** Adds `term` to `target` in place. */
export function addToSum(target: CompensatedSum, term: number): void {
  const sum = target.sum;
  const next = sum + term;
  if (Math.abs(sum) >= Math.abs(term)) target.compensation += sum - next + term;
  else target.compensation += term - next + sum;
  target.sum = next;
}

/** The value of a compensated sum. */
export function sumValue(total: CompensatedSum): number {
  return total.sum + total.compensation;
}
