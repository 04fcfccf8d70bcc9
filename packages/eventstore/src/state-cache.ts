import { LRUCache } from 'lru-cache';
import { encodedSize } from './canonical-encode.js';
import { invalidArgument } from './errors.js';

/** A state with the place in its stream it covers. */
export interface CachedState<S> {
  /** The state after the stream's events up to `version`. */
  readonly state: S;
  /** Stream version the state covers. */
  readonly version: bigint;
  /** Global position of the stream's event at `version`. */
  readonly position: bigint;
}

/** Options of {@link StateCache}. */
export interface StateCacheOptions<S> {
  /** Most entries kept (a positive integer). */
  readonly maxEntries: number;
  /** Most bytes kept, the sum of the entries' sizes (a positive integer). */
  readonly maxBytes: number;
  /**
   * The size of a state in bytes, a positive integer. Default: the length of its
   * canonical encoding (what a snapshot of it takes before compression), which costs
   * one encoding per `set`. A cheaper estimate may be given for large states.
   */
  readonly sizeOf?: (state: S) => number;
}

/** Counters of a {@link StateCache}, since it was created or last {@link StateCache.resetStats}. */
export interface StateCacheStats {
  /** `get` calls that found an entry. */
  readonly hits: number;
  /** `get` calls that found none. */
  readonly misses: number;
  /** Entries removed to stay within `maxEntries` or `maxBytes`. */
  readonly evictions: number;
  /** `set` calls refused because the state alone is larger than `maxBytes`. */
  readonly rejected: number;
  /** Entries held now. */
  readonly entries: number;
  /** Bytes held now (sum of the entries' sizes). */
  readonly bytes: number;
  readonly maxEntries: number;
  readonly maxBytes: number;
}

function positiveInteger(where: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw invalidArgument(where, `must be a positive integer, got ${String(value)}`);
  }
  return value;
}

/**
 * The states of the hottest streams, least recently used evicted first, bounded both in
 * entries and in bytes (an `lru-cache` underneath). Keys are stream names (or any
 * string: `energy:session-…` to keep several projections apart).
 *
 * Entries are shared, not copied: a state handed to `set` must not be changed
 * afterwards, and a state from `get` must not be evolved in place. Fold from it with
 * {@link foldEvents}, which evolves a clone.
 *
 * @example
 * ```ts
 * const cache = new StateCache<EnergyProjectionState>({ maxEntries: 64, maxBytes: 8 << 20 });
 * const hit = cache.get(stream);
 * const tail = readStream(stream, { from: (hit?.version ?? 0n) + 1n });
 * const state = await foldEvents(energyProjection, tail, hit?.state);
 * cache.set(stream, { state, version: lastVersion, position: lastPosition });
 * ```
 */
export class StateCache<S> {
  readonly #lru: LRUCache<string, CachedState<S>>;
  readonly #sizeOf: (state: S) => number;
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  #hits = 0;
  #misses = 0;
  #evictions = 0;
  #rejected = 0;

  constructor(options: StateCacheOptions<S>) {
    this.#maxEntries = positiveInteger('options.maxEntries', options.maxEntries);
    this.#maxBytes = positiveInteger('options.maxBytes', options.maxBytes);
    if (options.sizeOf !== undefined && typeof options.sizeOf !== 'function') {
      throw invalidArgument('options.sizeOf', 'must be a function when given');
    }
    this.#sizeOf = options.sizeOf ?? encodedSize;
    this.#lru = new LRUCache<string, CachedState<S>>({
      max: this.#maxEntries,
      maxSize: this.#maxBytes,
      dispose: (_entry, _key, reason) => {
        if (reason === 'evict') this.#evictions += 1;
      },
    });
  }

  /** The entry of `key`, now the most recently used; `undefined` when there is none. */
  get(key: string): CachedState<S> | undefined {
    const entry = this.#lru.get(key);
    if (entry === undefined) {
      this.#misses += 1;
      return undefined;
    }
    this.#hits += 1;
    return entry;
  }

  /** Whether `key` has an entry; counts as neither hit nor miss, and does not refresh it. */
  has(key: string): boolean {
    return this.#lru.has(key);
  }

  /**
   * Stores the entry of `key`, replacing any older one, and evicts the least recently
   * used entries until both bounds hold. Returns `false`, and drops any older entry of
   * `key`, when the state alone is larger than `maxBytes`. With the default `sizeOf`,
   * throws a {@link StateError} `unencodable_state` for a state outside the storable set.
   */
  set(key: string, entry: CachedState<S>): boolean {
    const size = this.#sizeOf(entry.state);
    if (!Number.isSafeInteger(size) || size < 0) {
      throw invalidArgument('sizeOf(state)', `must return a non-negative integer, got ${size}`);
    }
    // lru-cache wants sizes of at least 1.
    const charged = Math.max(1, size);
    if (charged > this.#maxBytes) {
      this.#lru.delete(key);
      this.#rejected += 1;
      return false;
    }
    this.#lru.set(key, entry, { size: charged });
    return true;
  }

  /** Removes the entry of `key`; whether there was one. */
  delete(key: string): boolean {
    return this.#lru.delete(key);
  }

  /** Removes every entry (counted neither as evictions nor in `rejected`). */
  clear(): void {
    this.#lru.clear();
  }

  /** Keys from the most to the least recently used. */
  keys(): string[] {
    return [...this.#lru.keys()];
  }

  /** The counters and the current fill. */
  stats(): StateCacheStats {
    return {
      hits: this.#hits,
      misses: this.#misses,
      evictions: this.#evictions,
      rejected: this.#rejected,
      entries: this.#lru.size,
      bytes: this.#lru.calculatedSize,
      maxEntries: this.#maxEntries,
      maxBytes: this.#maxBytes,
    };
  }

  /** Sets hits, misses, evictions and rejected back to 0. */
  resetStats(): void {
    this.#hits = 0;
    this.#misses = 0;
    this.#evictions = 0;
    this.#rejected = 0;
  }
}
