import type { EventStore, PreparedAppend } from '@wirthforge/eventstore';

/** What one submitted append got: its events' positions and its stream's version after them. */
export interface BatchedAppendResult {
  readonly positions: readonly bigint[];
  readonly lastPosition: bigint;
  readonly nextExpectedVersion: bigint;
}

interface Entry {
  readonly append: PreparedAppend;
  resolve(result: BatchedAppendResult): void;
  reject(error: unknown): void;
}

/** Options of {@link IngestBatcher}. */
export interface IngestBatcherOptions {
  /** Most events in one commit (default 20 000). */
  readonly maxEventsPerCommit?: number;
}

/**
 * Group commit for independent ingest requests: appends that arrive while a commit is
 * in flight wait and go to the store together, as one `commitBatch` (one transaction,
 * one fsync with `synchronous=FULL`), appends of one stream merged into one in arrival
 * order (so each stream keeps the order of its requests). Every request still resolves only after that COMMIT, with its own
 * positions. A request fails alone: when a grouped commit is refused (an `event_id`
 * stored with other content, a version conflict), its appends are committed again one
 * by one, in order, so only the guilty one rejects. Appends must come validated and
 * encoded (`store.prepareAppend`) and without an expected version.
 */
export class IngestBatcher {
  readonly #store: EventStore;
  readonly #maxEvents: number;
  #queue: Entry[] = [];
  #busy = false;

  constructor(store: EventStore, options: IngestBatcherOptions = {}) {
    this.#store = store;
    this.#maxEvents = options.maxEventsPerCommit ?? 20_000;
  }

  /** Queues an append; resolves once it is durable. */
  submit(append: PreparedAppend): Promise<BatchedAppendResult> {
    return new Promise<BatchedAppendResult>((resolve, reject) => {
      this.#queue.push({ append, resolve, reject });
      if (!this.#busy) void this.#run();
    });
  }

  async #run(): Promise<void> {
    this.#busy = true;
    try {
      while (this.#queue.length > 0) {
        let count = 0;
        let take = 0;
        while (
          take < this.#queue.length &&
          (take === 0 || count + this.#queue[take]!.append.records.length <= this.#maxEvents)
        ) {
          count += this.#queue[take]!.append.records.length;
          take++;
        }
        const group = this.#queue.slice(0, take);
        this.#queue = this.#queue.slice(take);
        await this.#commitGroup(group);
      }
    } finally {
      this.#busy = false;
    }
  }

  async #commitGroup(group: readonly Entry[]): Promise<void> {
    if (group.length === 1) {
      await this.#commitOne(group[0]!);
      return;
    }
    // One append per stream, in first-use order; each entry's slice of it.
    const streams = new Map<
      string,
      { records: PreparedAppend['records'][number][]; entries: { entry: Entry; offset: number }[] }
    >();
    for (const entry of group) {
      let merged = streams.get(entry.append.stream);
      if (merged === undefined) {
        merged = { records: [], entries: [] };
        streams.set(entry.append.stream, merged);
      }
      merged.entries.push({ entry, offset: merged.records.length });
      for (const record of entry.append.records) merged.records.push(record);
    }
    const merged = [...streams.entries()];
    let result;
    try {
      result = await this.#store.commitBatch(
        merged.map(([stream, { records }]) => ({ stream, records })),
      );
    } catch {
      // Nothing of the group was written: commit each request alone so that only a guilty one fails.
      for (const entry of group) await this.#commitOne(entry);
      return;
    }
    merged.forEach(([, { records, entries }], i) => {
      const appended = result.appends[i]!;
      for (const { entry, offset } of entries) {
        const length = entry.append.records.length;
        const positions = appended.positions.slice(offset, offset + length);
        entry.resolve({
          positions,
          lastPosition: result.lastPosition,
          nextExpectedVersion:
            appended.nextExpectedVersion - BigInt(records.length - offset - length),
        });
      }
    });
  }

  async #commitOne(entry: Entry): Promise<void> {
    try {
      const result = await this.#store.commitBatch([entry.append]);
      const appended = result.appends[0]!;
      entry.resolve({
        positions: appended.positions,
        lastPosition: appended.positions.at(-1) ?? result.lastPosition,
        nextExpectedVersion: appended.nextExpectedVersion,
      });
    } catch (error) {
      entry.reject(error);
    }
  }
}
