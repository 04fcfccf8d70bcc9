import { MAX_NESTING_DEPTH, encodeValue, isEventsError } from '@wirthforge/events';
import { StateError } from './errors.js';

/**
 * A copy of `value` whose objects have their properties inserted in sorted order
 * (UTF-16 code units), without the properties whose value is `undefined`. Anything
 * else is kept as it is, for the encoder to accept or refuse with its path.
 *
 * JavaScript lists array-index keys ("0", "17") first, ascending, whatever the
 * insertion order; the order is still fixed by the set of keys alone.
 */
function sortedCopy(value: unknown, depth: number): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (depth > MAX_NESTING_DEPTH) {
    throw new StateError(
      'unencodable_state',
      `State nests deeper than ${MAX_NESTING_DEPTH} levels (a cycle?)`,
    );
  }
  if (Array.isArray(value)) {
    const items = value as readonly unknown[];
    const out: unknown[] = new Array<unknown>(items.length);
    for (let i = 0; i < items.length; i++) out[i] = sortedCopy(items[i], depth + 1);
    return out;
  }
  const prototype: unknown = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return value;
  const source = value as Record<string, unknown>;
  // Null prototype: a property named `__proto__` stays a property (which the encoder
  // then refuses) instead of replacing the prototype.
  const out = Object.create(null) as Record<string, unknown>;
  for (const key of Object.keys(source).sort()) {
    const item = source[key];
    if (item !== undefined) out[key] = sortedCopy(item, depth + 1);
  }
  return out;
}

function encode(value: unknown): Uint8Array {
  try {
    return encodeValue(value);
  } catch (error) {
    if (isEventsError(error)) {
      throw new StateError('unencodable_state', `State cannot be encoded: ${error.message}`, {
        cause: error,
      });
    }
    throw error;
  }
}

/**
 * The canonical bytes of a state: MessagePack as `encodeValue` of `@wirthforge/events`
 * writes it (numbers exact, -0 kept, the smallest standard form of each value), with
 * every object's properties in one fixed order (array-index keys ascending, then the
 * others by UTF-16 code units), so equal states give equal bytes however their objects
 * were built. Properties whose value is `undefined` are left out.
 *
 * Throws a {@link StateError} `unencodable_state` for a value outside the storable set
 * (bigint, function, class instance, `undefined` in an array, a lone surrogate, a
 * property named `__proto__`, nesting deeper than 100 levels).
 *
 * @example
 * ```ts
 * canonicalEncode({ b: 1, a: [2] }); // the same bytes as canonicalEncode({ a: [2], b: 1 })
 * ```
 */
export function canonicalEncode(state: unknown): Uint8Array {
  // The encoder returns a view of a chunk it shares with later calls: copy it out.
  return encode(sortedCopy(state, 0)).slice();
}

/**
 * Hashes the canonical bytes of `state` without keeping them. The view the encoder
 * returns is used before any other encoding can happen.
 */
export function withCanonicalBytes<T>(state: unknown, use: (bytes: Uint8Array) => T): T {
  return use(encode(sortedCopy(state, 0)));
}

/**
 * The length in bytes of a state's canonical encoding (key order does not change the
 * length, so the state is encoded as it stands, without a sorted copy).
 */
export function encodedSize(state: unknown): number {
  return encode(state).length;
}
