import type {
  EventStorage,
  ReadAllOptions,
  ReadStreamOptions,
  StoredEventRecord,
} from './event-storage.js';

/** Events per page when a storage has no page reads of its own. */
const FALLBACK_PAGE_SIZE = 1000;

async function* group(
  events: AsyncIterable<StoredEventRecord>,
): AsyncGenerator<readonly StoredEventRecord[]> {
  let page: StoredEventRecord[] = [];
  for await (const event of events) {
    page.push(event);
    if (page.length === FALLBACK_PAGE_SIZE) {
      yield page;
      page = [];
    }
  }
  if (page.length > 0) yield page;
}

/**
 * A stream's events a page at a time, with the semantics and options of
 * `storage.readStream`: the storage's own page reads when it has them, otherwise its
 * events grouped in pages of 1000. Pages are never empty.
 *
 * @example
 * ```ts
 * for await (const page of readStreamPages(storage, 'session-42')) {
 *   for (const event of page) state = evolve(state, event);
 * }
 * ```
 */
export function readStreamPages(
  storage: EventStorage,
  stream: string,
  options?: ReadStreamOptions,
): AsyncIterable<readonly StoredEventRecord[]> {
  return storage.readStreamPages !== undefined
    ? storage.readStreamPages(stream, options)
    : group(storage.readStream(stream, options));
}

/**
 * All events a page at a time, with the semantics and options of `storage.readAll`: the
 * storage's own page reads when it has them, otherwise its events grouped in pages of
 * 1000. Pages are never empty.
 */
export function readAllPages(
  storage: EventStorage,
  options?: ReadAllOptions,
): AsyncIterable<readonly StoredEventRecord[]> {
  return storage.readAllPages !== undefined
    ? storage.readAllPages(options)
    : group(storage.readAll(options));
}
