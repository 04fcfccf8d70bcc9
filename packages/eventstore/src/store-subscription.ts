import { closedError } from './errors.js';
import type { StoreRecord } from './store-record.js';

/** Which events a read or a subscription delivers. */
export interface EventFilter {
  /** Only events of these types. */
  readonly types?: readonly string[] | undefined;
  /** Only events of these streams. */
  readonly streams?: readonly string[] | undefined;
}

/** Options of {@link EventStore.subscribe}. */
export interface SubscribeOptions {
  /**
   * Where to start: `'start'` (every event), `'end'` (only events committed after the
   * subscription was made), or a checkpoint, the position of the last event already
   * handled: delivery starts right after it. Default `'end'`.
   */
  readonly from?: bigint | 'start' | 'end';
  /** Only events of these types and streams. */
  readonly filter?: EventFilter;
  /**
   * How often to look for events committed by another process, in ms (default 250).
   * Commits of this store wake the subscription at once.
   */
  readonly pollIntervalMs?: number;
  /** Events read per page while catching up (default 1000). */
  readonly pageSize?: number;
}

/**
 * A live feed of the store's events, in position order: first every stored event after
 * the starting point, then each event as it is committed. Nothing is skipped or
 * delivered twice. Consume it with `for await`; `break`, `return()` or {@link close}
 * ends it, also while it waits for events.
 *
 * @example
 * ```ts
 * const subscription = store.subscribe({ from: savedCheckpoint, filter: { types: ['energy.peak'] } });
 * for await (const { event, position } of subscription) {
 *   await handle(event);
 *   await saveCheckpoint(position);
 * }
 * ```
 */
export interface Subscription extends AsyncIterableIterator<StoreRecord> {
  /**
   * The position up to which every matching event has been delivered: pass it as `from`
   * to resume after a restart.
   */
  readonly checkpoint: bigint;
  /** Whether the subscription has ended. */
  readonly closed: boolean;
  /** Ends the subscription; a pending `next()` resolves as done. Idempotent. */
  close(): Promise<void>;
  /** Ends the subscription, as {@link close} (what `break` in `for await` calls). */
  return(): Promise<IteratorResult<StoreRecord>>;
}

/** What a subscription reads through. */
export interface SubscriptionSource {
  headPosition(): Promise<bigint>;
  readPage(
    fromPosition: bigint,
    toPosition: bigint,
    filter: EventFilter | undefined,
  ): Promise<StoreRecord[]>;
}

/** Wakes the subscriptions of one store when it commits. */
export class CommitNotifier {
  readonly #waiters = new Set<() => void>();

  /** Resolves at the next commit (or when `cancel` is called). */
  wait(): { readonly promise: Promise<void>; readonly cancel: () => void } {
    let wake!: () => void;
    const promise = new Promise<void>((resolve) => {
      wake = resolve;
    });
    this.#waiters.add(wake);
    return {
      promise,
      cancel: () => {
        this.#waiters.delete(wake);
        wake();
      },
    };
  }

  /** Wakes every waiter. */
  notify(): void {
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const wake of waiters) wake();
  }
}

/** The {@link Subscription} of an event store. */
export class StoreSubscription implements Subscription {
  #scanned: bigint;
  /** For `from: 'end'`: the head when the subscription was made. */
  #start: Promise<bigint> | undefined;
  #buffer: StoreRecord[] = [];
  #index = 0;
  #closed = false;
  #cancelWait: (() => void) | undefined;
  #chain: Promise<unknown> = Promise.resolve();
  readonly #from: bigint | 'start' | 'end';
  readonly #filter: EventFilter | undefined;
  readonly #pollIntervalMs: number;
  readonly #pageSize: bigint;

  constructor(
    private readonly source: SubscriptionSource,
    private readonly notifier: CommitNotifier,
    options: SubscribeOptions,
    private readonly onClose: (subscription: StoreSubscription) => void,
  ) {
    this.#from = options.from ?? 'end';
    this.#scanned = typeof this.#from === 'bigint' ? this.#from : 0n;
    if (this.#from === 'end') {
      this.#start = source.headPosition();
      // Read by the first next(); a failure shows there, not as an unhandled rejection.
      this.#start.catch(() => undefined);
    }
    this.#filter = options.filter;
    this.#pollIntervalMs = options.pollIntervalMs ?? 250;
    this.#pageSize = BigInt(options.pageSize ?? 1000);
  }

  get checkpoint(): bigint {
    const next = this.#buffer[this.#index];
    // Events read but not delivered yet are not covered.
    return next === undefined ? this.#scanned : next.position - 1n;
  }

  get closed(): boolean {
    return this.#closed;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<StoreRecord>> {
    // One read at a time, in order, even if a caller does not wait for the last one.
    const result = this.#chain.then(() => this.#next());
    this.#chain = result.catch(() => undefined);
    return result;
  }

  async return(): Promise<IteratorResult<StoreRecord>> {
    await this.close();
    return { done: true, value: undefined };
  }

  async throw(error?: unknown): Promise<IteratorResult<StoreRecord>> {
    await this.close();
    throw error instanceof Error ? error : closedError('subscription');
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#buffer = [];
      this.#index = 0;
      this.#cancelWait?.();
      this.onClose(this);
    }
    return Promise.resolve();
  }

  async #next(): Promise<IteratorResult<StoreRecord>> {
    for (;;) {
      if (this.#closed) return { done: true, value: undefined };
      const buffered = this.#buffer[this.#index];
      if (buffered !== undefined) {
        this.#index += 1;
        return { done: false, value: buffered };
      }
      // Listen before reading the head, so a commit between the two is not missed.
      if (this.#start !== undefined) {
        this.#scanned = await this.#start;
        this.#start = undefined;
        continue;
      }
      const wait = this.notifier.wait();
      try {
        const head = await this.source.headPosition();
        if (this.#closed) return { done: true, value: undefined };
        if (head > this.#scanned) {
          // Positions are gap-free and the writer commits in order: everything up to
          // the head is there, so reading (scanned, upTo] neither skips nor repeats.
          const upTo =
            head < this.#scanned + this.#pageSize ? head : this.#scanned + this.#pageSize;
          const page = await this.source.readPage(this.#scanned + 1n, upTo, this.#filter);
          if (this.#closed) return { done: true, value: undefined };
          this.#buffer = page;
          this.#index = 0;
          this.#scanned = upTo;
          continue;
        }
        await this.#sleep(wait.promise);
      } finally {
        wait.cancel();
      }
    }
  }

  #sleep(commit: Promise<void>): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, this.#pollIntervalMs);
      // A waiting subscription alone does not keep the process alive.
      timer.unref();
      const cancel = (): void => done();
      this.#cancelWait = cancel;
      void commit.then(done);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
    }).finally(() => {
      this.#cancelWait = undefined;
    });
  }
}
