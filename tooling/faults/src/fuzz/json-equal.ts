/**
 * Whether two JSON-like values are the same document: same keys (in any order), same
 * array items in order, numbers by value (`-0` is `0`). Iterative, so deep values do not
 * overflow the stack. Returns the JSON Pointer of the first difference, or `undefined`.
 */
export function jsonDifference(a: unknown, b: unknown): string | undefined {
  const stack: [unknown, unknown, string][] = [[a, b, '']];
  while (stack.length > 0) {
    const [x, y, path] = stack.pop()!;
    if (x === y) continue;
    if (typeof x === 'number' && typeof y === 'number') {
      if (Number.isNaN(x) && Number.isNaN(y)) continue;
      return path || '/';
    }
    if (typeof x !== 'object' || typeof y !== 'object' || x === null || y === null)
      return path || '/';
    if (Array.isArray(x) !== Array.isArray(y)) return path || '/';
    if (Array.isArray(x) && Array.isArray(y)) {
      if (x.length !== y.length) return path || '/';
      for (let i = 0; i < x.length; i++) stack.push([x[i], y[i], `${path}/${i}`]);
      continue;
    }
    const xo = x as Record<string, unknown>;
    const yo = y as Record<string, unknown>;
    const xk = Object.keys(xo).filter((k) => xo[k] !== undefined);
    const yk = Object.keys(yo).filter((k) => yo[k] !== undefined);
    if (xk.length !== yk.length) return path || '/';
    for (const k of xk) {
      if (!Object.prototype.hasOwnProperty.call(yo, k)) return `${path}/${k}`;
      stack.push([xo[k], yo[k], `${path}/${k}`]);
    }
  }
  return undefined;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Whether `s` has no lone surrogate. */
export function wellFormed(s: string): boolean {
  return !LONE_SURROGATE.test(s);
}

/** Whether every string in `value` (keys too) is well-formed UTF-16 (no lone surrogate). */
export function allStringsWellFormed(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') {
      if (!wellFormed(v)) return false;
    } else if (Array.isArray(v)) stack.push(...(v as unknown[]));
    else if (typeof v === 'object' && v !== null) {
      for (const [k, x] of Object.entries(v)) {
        if (!wellFormed(k)) return false;
        stack.push(x);
      }
    }
  }
  return true;
}
