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

const NO_ITEMS: readonly never[] = [];

/**
 * The items of a source of pages, one at a time: an item of the current page is handed
 * out at once (a resolved promise), and only the end of a page waits for the next one,
 * so a read costs one `await` of the source per page instead of a chain of async
 * generators per item. The source is opened on the first `next()`, closed by `return()`
 * (a `break` out of `for await`), and never asked for a page twice at once.
 *
 * @example
 * ```ts
 * const events = new PageItemIterator(() => readAllPages(storage)[Symbol.asyncIterator]());
 * for await (const event of events) console.log(event.position);
 * ```
 */
export class PageItemIterator<T> implements AsyncIterableIterator<T> {
  #pages: AsyncIterator<readonly T[]> | undefined;
  #page: readonly T[] = NO_ITEMS;
  #index = 0;
  #done = false;
  #pending: Promise<IteratorResult<T>> | undefined;

  constructor(private readonly open: () => AsyncIterator<readonly T[]>) {}

  next(): Promise<IteratorResult<T>> {
    if (this.#pending !== undefined) return this.#pending.then(() => this.next());
    if (this.#index < this.#page.length) {
      return Promise.resolve({ value: this.#page[this.#index++] as T, done: false });
    }
    const pending = this.#nextPage();
    this.#pending = pending;
    const clear = (): void => {
      if (this.#pending === pending) this.#pending = undefined;
    };
    pending.then(clear, clear);
    return pending;
  }

  async #nextPage(): Promise<IteratorResult<T>> {
    try {
      while (!this.#done) {
        this.#pages ??= this.open();
        const result = await this.#pages.next();
        if (result.done === true) break;
        const page = result.value;
        if (page.length === 0) continue;
        this.#page = page;
        this.#index = 1;
        return { value: page[0] as T, done: false };
      }
    } catch (error) {
      this.#finish();
      throw error;
    }
    this.#finish();
    return { value: undefined, done: true };
  }

  #finish(): void {
    this.#done = true;
    this.#page = NO_ITEMS;
    this.#index = 0;
  }

  async return(value?: unknown): Promise<IteratorResult<T>> {
    const pages = this.#pages;
    const wasDone = this.#done;
    this.#finish();
    if (!wasDone && pages?.return !== undefined) await pages.return();
    return { value: value as T, done: true };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
