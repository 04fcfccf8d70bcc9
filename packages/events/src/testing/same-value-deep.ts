/**
 * Deep equality as the codec guarantees it: numbers compared with `Object.is` (so -0
 * differs from 0 and NaN equals NaN), plain objects by their own enumerable string
 * keys in any order, arrays item by item. Unlike general-purpose matchers it gives
 * no meaning to property names such as `constructor`, which events may carry as
 * extra fields.
 *
 * @example
 * ```ts
 * sameValueDeep(decodeEvent(encodeEvent(event), { sessionId }), event); // true
 * ```
 */
export function sameValueDeep(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameValueDeep(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const aKeys = Object.keys(a);
  const bKeys = Object.keys(b);
  if (aKeys.length !== bKeys.length) return false;
  const bRecord = b as Record<string, unknown>;
  const aRecord = a as Record<string, unknown>;
  for (const key of aKeys) {
    if (!Object.prototype.hasOwnProperty.call(b, key)) return false;
    if (!sameValueDeep(aRecord[key], bRecord[key])) return false;
  }
  return true;
}
