/** JSON output: bigints as decimal strings, one document. */

/** `JSON.stringify` that writes bigints as strings (positions and versions are bigints). */
export function toJson(value: unknown, indent = 2): string {
  return JSON.stringify(
    value,
    (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v),
    indent,
  );
}
