/**
 * An async iterable of the store's reads, with {@link EventIterable.toArray} for the
 * common "give me all of it" case. Each iteration reads anew.
 */
export interface EventIterable<T> extends AsyncIterable<T> {
  /** Reads everything into an array. */
  toArray(): Promise<T[]>;
}

/**
 * Reads an async iterable to the end into an array.
 *
 * @example
 * ```ts
 * const events = await collect(store.readStream(stream));
 * ```
 */
export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

/** Wraps a generator function as an {@link EventIterable}. */
export function eventIterable<T>(generate: () => AsyncGenerator<T>): EventIterable<T> {
  return {
    [Symbol.asyncIterator]: () => generate(),
    toArray: () => collect({ [Symbol.asyncIterator]: () => generate() }),
  };
}
