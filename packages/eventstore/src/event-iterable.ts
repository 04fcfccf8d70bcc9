import { PageItemIterator } from '@wirthforge/storage';

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

/**
 * An {@link EventIterable} over a source of pages (`pages()` is called anew for each
 * iteration, on its first `next()`): items one at a time for `for await`, and
 * {@link EventIterable.toArray} that concatenates whole pages.
 *
 * @example
 * ```ts
 * const records = pagedIterable(() => readAllPages(storage));
 * for await (const record of records) console.log(record.position);
 * ```
 */
export function pagedIterable<T>(pages: () => AsyncIterable<readonly T[]>): EventIterable<T> {
  const open = (): AsyncIterator<readonly T[]> => pages()[Symbol.asyncIterator]();
  return {
    [Symbol.asyncIterator]: () => new PageItemIterator(open),
    toArray: async () => {
      const out: T[] = [];
      for await (const page of pages()) for (const item of page) out.push(item);
      return out;
    },
  };
}
