import type { CommitResult, EventStore, PreparedAppend } from '@wirthforge/eventstore';

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

/** One stream's part of a group: its records and each entry's slice of them. */
interface MergedAppend {
  readonly stream: string;
  readonly records: PreparedAppend['records'][number][];
  readonly entries: { entry: Entry; offset: number }[];
  /** The stream's version this part was sent on top of (`undefined`: sent with `'any'`). */
  expectedVersion: bigint | undefined;
}

/** A group sent to the store and not yet settled. */
interface Group {
  readonly entries: readonly Entry[];
  readonly merged: readonly MergedAppend[];
  /** Settles once the group's entries are answered or queued for a retry. */
  done: Promise<void>;
}

/** Options of {@link IngestBatcher}. */
export interface IngestBatcherOptions {
  /** Most events in one commit (default 20 000). */
  readonly maxEventsPerCommit?: number;
  /**
   * Groups sent to the store before the first of them is durable (default 3, below the
   * event store's own bound of commits in flight). 1: each group waits for the previous one.
   */
  readonly maxGroupsInFlight?: number;
  /**
   * Whether the requests submitted in one task go out together (default `true`): the
   * group is formed once the task that submitted them is done (a microtask later), so
   * the messages of one socket read make one commit instead of one each. `false`: each
   * submit sends at once while there is room in flight.
   */
  readonly gatherTask?: boolean;
}

/**
 * Group commit for independent ingest requests, pipelined: appends submitted in one task
 * (the messages of one socket read), and appends that arrive while commits are in flight,
 * wait and go to the store together, as one `commitBatch` (one
 * transaction, one fsync with `synchronous=FULL`), appends of one stream merged into one
 * in arrival order (so each stream keeps the order of its requests). Up to
 * `maxGroupsInFlight` groups are sent before the first is durable, so that the next
 * group is validated, planned and handed to the writer while the previous one syncs.
 * Every request still resolves only after the COMMIT that made it durable, with its own
 * positions.
 *
 * A request fails alone: when a grouped commit is refused (an `event_id` stored with
 * other content), its appends are committed again one by one, in order, so only the
 * guilty one rejects. A group sent while another one with the same stream is in flight
 * carries the stream version that one leads to as its expected version: if the earlier
 * group is refused, the later one is refused too (nothing of it is written) and both are
 * retried in the order they came, so a refused group never lets a later request of the
 * same stream overtake an earlier one. A stream whose version is not known yet (its first
 * group since start or since a refusal) is not sent on top of another group of it.
 * Appends must come validated and encoded (`store.prepareAppend`) and without an
 * expected version.
 */
export class IngestBatcher {
  readonly #store: EventStore;
  readonly #maxEvents: number;
  readonly #maxGroups: number;
  readonly #gatherTask: boolean;
  /** Set while a pump is scheduled for the end of the current task. */
  #pumpScheduled = false;
  #queue: Entry[] = [];
  readonly #inFlight: Group[] = [];
  /** Each stream's version once every group sent so far is committed (learned from commits). */
  readonly #versions = new Map<string, bigint>();
  /** Streams of groups in flight whose version before them was not known: known once they commit. */
  readonly #unknown = new Set<string>();
  /** Set while refused groups are retried one by one: nothing else is sent meanwhile. */
  #retrying = false;
  /** Requests of refused groups, in the order they came, to commit one by one. */
  #pendingRetry: Entry[] = [];

  constructor(store: EventStore, options: IngestBatcherOptions = {}) {
    this.#store = store;
    this.#maxEvents = options.maxEventsPerCommit ?? 20_000;
    this.#maxGroups = Math.max(1, options.maxGroupsInFlight ?? 3);
    this.#gatherTask = options.gatherTask ?? true;
  }

  /** Queues an append; resolves once it is durable. */
  submit(append: PreparedAppend): Promise<BatchedAppendResult> {
    return new Promise<BatchedAppendResult>((resolve, reject) => {
      this.#queue.push({ append, resolve, reject });
      if (!this.#gatherTask) this.#pump();
      else if (!this.#pumpScheduled) {
        this.#pumpScheduled = true;
        queueMicrotask(this.#scheduledPump);
      }
    });
  }

  readonly #scheduledPump = (): void => {
    this.#pumpScheduled = false;
    this.#pump();
  };

  /** Sends queued groups while there is room in flight. */
  #pump(): void {
    while (!this.#retrying && this.#queue.length > 0 && this.#inFlight.length < this.#maxGroups) {
      const take = this.#sendable();
      if (take === 0) return;
      const entries = this.#queue.slice(0, take);
      this.#queue = this.#queue.slice(take);
      this.#send(entries);
    }
  }

  /** How many queued entries the next group takes (0: wait for a group in flight). */
  #sendable(): number {
    let count = 0;
    let take = 0;
    while (take < this.#queue.length) {
      const append = this.#queue[take]!.append;
      if (take > 0 && count + append.records.length > this.#maxEvents) break;
      // A stream already in flight with an unknown version cannot be chained: wait for it.
      if (this.#unknown.has(append.stream)) break;
      count += append.records.length;
      take++;
    }
    return take;
  }

  #send(entries: readonly Entry[]): void {
    // One append per stream, in first-use order; each entry's slice of it.
    const byStream = new Map<string, MergedAppend>();
    for (const entry of entries) {
      let merged = byStream.get(entry.append.stream);
      if (merged === undefined) {
        merged = {
          stream: entry.append.stream,
          records: [],
          entries: [],
          expectedVersion: undefined,
        };
        byStream.set(entry.append.stream, merged);
      }
      merged.entries.push({ entry, offset: merged.records.length });
      for (const record of entry.append.records) merged.records.push(record);
    }
    const merged = [...byStream.values()];
    const chained = this.#inFlight.length > 0;
    for (const part of merged) {
      const version = this.#versions.get(part.stream);
      // Only a group sent on top of others needs an expectation; alone, 'any' is enough.
      if (chained && version !== undefined) part.expectedVersion = version;
      if (version === undefined) this.#unknown.add(part.stream);
      else this.#versions.set(part.stream, version + BigInt(part.records.length));
    }
    const commit = this.#store.commitBatch(
      merged.map((part) =>
        part.expectedVersion === undefined
          ? { stream: part.stream, records: part.records }
          : { stream: part.stream, expectedVersion: part.expectedVersion, records: part.records },
      ),
    );
    const group: Group = { entries, merged, done: Promise.resolve() };
    group.done = commit.then(
      (result) => this.#committed(group, result),
      () => this.#refused(group),
    );
    this.#inFlight.push(group);
  }

  #committed(group: Group, result: CommitResult): void {
    group.merged.forEach((part, i) => {
      const appended = result.appends[i]!;
      // The stream's real version, unless a later group is already chained on a prediction
      // (which, if this commit went otherwise, is refused and retried).
      this.#unknown.delete(part.stream);
      if (!this.#sentLater(group, part.stream))
        this.#versions.set(part.stream, appended.nextExpectedVersion);
      for (const { entry, offset } of part.entries) {
        const length = entry.append.records.length;
        entry.resolve({
          positions: appended.positions.slice(offset, offset + length),
          lastPosition: result.lastPosition,
          nextExpectedVersion:
            appended.nextExpectedVersion - BigInt(part.records.length - offset - length),
        });
      }
    });
    this.#leave(group);
    this.#pump();
  }

  /** Whether a group sent after `group` (still in flight) also writes `stream`. */
  #sentLater(group: Group, stream: string): boolean {
    const index = this.#inFlight.indexOf(group);
    return this.#inFlight
      .slice(index + 1)
      .some((later) => later.merged.some((part) => part.stream === stream));
  }

  #leave(group: Group): void {
    const index = this.#inFlight.indexOf(group);
    if (index >= 0) this.#inFlight.splice(index, 1);
  }

  /**
   * A group was refused: nothing of it was written. Once the groups sent after it have
   * settled (those on top of it are refused as well), the refused groups' requests are
   * committed again one by one, in the order they came, before anything new is sent.
   */
  #refused(group: Group): void {
    const wasRetrying = this.#retrying;
    this.#retrying = true;
    this.#versions.clear();
    this.#unknown.clear();
    const later = this.#inFlight.slice(this.#inFlight.indexOf(group) + 1);
    this.#leave(group);
    if (wasRetrying) {
      // A later group of the same retry round: the first refused one retries it.
      this.#pendingRetry.push(...group.entries);
      return;
    }
    this.#pendingRetry = [...group.entries];
    void (async () => {
      await Promise.all(later.map((g) => g.done));
      const retry = this.#pendingRetry;
      this.#pendingRetry = [];
      for (const entry of retry) await this.#commitOne(entry);
      this.#versions.clear();
      this.#unknown.clear();
      this.#retrying = false;
      this.#pump();
    })();
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
