/**
 * A structural delta between two storable values (null, booleans, numbers, strings,
 * arrays and plain objects): what an incremental snapshot stores instead of the whole
 * state. The delta is itself a storable value, so it is encoded like a state.
 *
 * Forms (arrays, so that the encoding stays small):
 * - `[0, value]`: the value is replaced by `value`;
 * - `[1, changes, removed]`: an object; `changes` maps each changed or added key to its
 *   delta, `removed` lists the keys that are gone;
 * - `[2, length, changes]`: an array of `length` items; `changes` is a flat list
 *   `[index, delta, index, delta, …]` of the items that differ.
 */
export type StructuralDelta =
  | readonly [0, unknown]
  | readonly [1, Readonly<Record<string, unknown>>, readonly string[]]
  | readonly [2, number, readonly unknown[]];

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/**
 * The delta that turns `from` into `to`, or `null` when they are equal. Leaves compare
 * with `Object.is`, so `-0` and `0` differ (a state keeps its sign bits).
 *
 * @example
 * ```ts
 * const delta = diffState({ a: 1, b: [1, 2] }, { a: 1, b: [1, 3], c: true });
 * applyDelta({ a: 1, b: [1, 2] }, delta); // { a: 1, b: [1, 3], c: true }
 * ```
 */
export function diffState(from: unknown, to: unknown): StructuralDelta | null {
  if (Array.isArray(from) && Array.isArray(to)) {
    const changes: unknown[] = [];
    for (let i = 0; i < to.length; i++) {
      if (i >= from.length) {
        changes.push(i, [0, to[i]]);
        continue;
      }
      const item = diffState(from[i], to[i]);
      if (item !== null) changes.push(i, item);
    }
    if (changes.length === 0 && from.length === to.length) return null;
    return [2, to.length, changes];
  }
  if (isPlainObject(from) && isPlainObject(to)) {
    const changes: Record<string, unknown> = {};
    let changed = false;
    for (const key of Object.keys(to)) {
      const after = to[key];
      if (after === undefined) continue;
      const before = from[key];
      const item: StructuralDelta | null =
        before === undefined && !Object.hasOwn(from, key) ? [0, after] : diffState(before, after);
      if (item !== null) {
        changes[key] = item;
        changed = true;
      }
    }
    const removed: string[] = [];
    for (const key of Object.keys(from)) {
      if (from[key] !== undefined && (!Object.hasOwn(to, key) || to[key] === undefined)) {
        removed.push(key);
      }
    }
    if (!changed && removed.length === 0) return null;
    return [1, changes, removed];
  }
  if (Object.is(from, to)) return null;
  return [0, to];
}

/** Applies a delta to a value it may change, returning the result. */
function patch(value: unknown, delta: unknown, path: string): unknown {
  if (!Array.isArray(delta)) throw new TypeError(`delta at ${path || '/'} is not an array`);
  const form: unknown = delta[0];
  if (form === 0 && delta.length === 2) return delta[1];
  if (form === 1 && delta.length === 3) {
    const changes: unknown = delta[1];
    const removed: unknown = delta[2];
    if (!isPlainObject(value) || !isPlainObject(changes) || !Array.isArray(removed)) {
      throw new TypeError(`object delta at ${path || '/'} does not fit the value`);
    }
    for (const key of removed) {
      if (typeof key !== 'string') throw new TypeError(`removed key at ${path || '/'}`);
      delete value[key];
    }
    for (const key of Object.keys(changes)) {
      const next = patch(
        Object.hasOwn(value, key) ? value[key] : undefined,
        changes[key],
        `${path}/${key}`,
      );
      Object.defineProperty(value, key, {
        value: next,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return value;
  }
  if (form === 2 && delta.length === 3) {
    const length: unknown = delta[1];
    const changes: unknown = delta[2];
    if (
      !Array.isArray(value) ||
      typeof length !== 'number' ||
      !Number.isSafeInteger(length) ||
      length < 0 ||
      !Array.isArray(changes) ||
      changes.length % 2 !== 0
    ) {
      throw new TypeError(`array delta at ${path || '/'} does not fit the value`);
    }
    const items = value as unknown[];
    items.length = Math.min(items.length, length);
    for (let i = 0; i < changes.length; i += 2) {
      const index: unknown = changes[i];
      if (
        typeof index !== 'number' ||
        !Number.isSafeInteger(index) ||
        index < 0 ||
        index >= length
      ) {
        throw new TypeError(`array delta at ${path || '/'} has a bad index`);
      }
      items[index] = patch(items[index], changes[i + 1], `${path}/${index}`);
    }
    if (items.length !== length) {
      throw new TypeError(`array delta at ${path || '/'} leaves holes`);
    }
    return items;
  }
  throw new TypeError(`delta at ${path || '/'} has an unknown form`);
}

/**
 * The value `diffState(base, x)` was made from: `base` with `delta` applied. `base` is
 * not changed (a deep copy is patched). Throws a `TypeError` naming the path when the
 * delta does not fit the base (a delta of another base).
 */
export function applyDelta(base: unknown, delta: StructuralDelta | null): unknown {
  const copy: unknown = structuredClone(base);
  return delta === null ? copy : patch(copy, delta, '');
}
