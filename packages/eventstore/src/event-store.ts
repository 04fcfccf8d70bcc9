import {
  createSessionId,
  isEventsError,
  parseIsoMicros,
  sessionStream,
  toIsoMicros,
  tryParseStreamName,
  userStream,
  type EventData,
  type EventOfType,
  type UpcasterRegistry,
} from '@wirthforge/events';
import {
  isConcurrencyError,
  type AppendBatchResult,
  type EventStorage,
  type ExpectedVersion,
  type RowWrite,
  type RowWriteResult,
  type SessionRepository,
} from '@wirthforge/storage';
import { createMemoryStorage, readAllPages, readStreamPages } from '@wirthforge/storage';
import { StateError, closedError, invalidArgument, isStateError } from './errors.js';
import { pagedIterable, type EventIterable } from './event-iterable.js';
import { foldEvents } from './fold-events.js';
import { projectionRows, rebuiltCheckpoints } from './projection-rows.js';
import { DEFAULT_CHECKPOINT_EVERY, type CheckpointRejection } from './projection-checkpoint.js';
import {
  InlineProjections,
  UserProgressFold,
  type CommitPlan,
  ownerOf,
  sessionRow,
  userRow,
  type InlineProjectionSettings,
} from './inline-projections.js';
import {
  prepareAppend,
  sessionIdOfStream,
  type AppendableEvent,
  type PreparedAppend,
} from './prepare-append.js';
import type { Projection } from './projection.js';
import { sessionSummaryProjection, type SessionSummary } from './session-summary-projection.js';
import { StateCache } from './state-cache.js';
import { RecordDecoder, type StoreRecord } from './store-record.js';
import {
  CommitNotifier,
  StoreSubscription,
  type EventFilter,
  type SubscribeOptions,
  type Subscription,
} from './store-subscription.js';

/** Microseconds since the Unix epoch, an integer. */
export type Clock = () => number;

/** Options of {@link createEventStore}. */
export interface EventStoreOptions {
  /**
   * Where events and rows live: `openSqliteStorage(...)` of `@wirthforge/storage-sqlite`,
   * `createMemoryStorage()` of `@wirthforge/storage`, or any `EventStorage`. The store
   * must be its only writer, and closing the store closes it.
   */
  readonly storage: EventStorage;
  /**
   * The inline projections to keep in the relational tables, in the transaction of the
   * events that change them: `sessions` (one row per session, from the session summary)
   * and `users` (one row per user, from user progress). Both on by default.
   */
  readonly projections?: {
    readonly sessions?: boolean;
    readonly users?: boolean;
    /**
     * A checkpoint of a session's or user's projection state (a `metadata` row, in the
     * commit of the events) every this many events folded into it, or `false` for none.
     * A store opened later starts each state from its checkpoint and folds only the
     * events after it. Default 10 000.
     */
    readonly checkpointEvery?: number | false;
    /** Told of each stored checkpoint that fails a check (format, checksum, stream, position); the state is then folded from its first event. */
    readonly onCheckpointRejected?: (rejection: CheckpointRejection) => void;
  };
  /** Check every appended event against its schema. Default `true`. */
  readonly validate?: boolean;
  /**
   * Bounds of the cache of aggregated states ({@link EventStore.aggregateStream}), or
   * `false` for none. Default 256 entries, 32 MiB.
   */
  readonly cache?: { readonly maxEntries?: number; readonly maxBytes?: number } | false;
  /** Time of `system.start` and `system.end` events, and of session ids. Default: the system clock. */
  readonly clock?: Clock;
  /** Upcasters for reading older schema versions. Default: those of `@wirthforge/events`. */
  readonly upcasters?: UpcasterRegistry;
}

/** Options of {@link EventStore.appendToStream}. */
export interface AppendToStreamOptions {
  /**
   * The version the stream must be at: a number, `'no_stream'` (no events yet),
   * `'stream_exists'` (at least one) or `'any'` (no check, the default). A mismatch
   * rejects with `ConcurrencyError` (`expected`, `actual`) and writes nothing.
   */
  readonly expectedVersion?: ExpectedVersion;
}

/** What one stream's append committed. */
export interface AppendToStreamResult {
  /** The stream appended to. */
  readonly stream: string;
  /** The stream's version after the append: the `expectedVersion` of the next one. */
  readonly nextExpectedVersion: bigint;
  /** The store's head after the commit: every event up to it is durable. */
  readonly lastPosition: bigint;
  /** The position of each event, in order (a repeated event id gives its original position). */
  readonly positions: readonly bigint[];
}

/** Options of {@link EventStore.readStream}, in stream versions (inclusive). */
export interface ReadStreamOptions {
  /** First version (default 1n forwards, the last one backwards). */
  readonly from?: bigint;
  /** Last version. */
  readonly to?: bigint;
  /** At most this many events. */
  readonly maxCount?: number;
  /** Default `'forwards'`. */
  readonly direction?: 'forwards' | 'backwards';
}

/** Options of {@link EventStore.readAll}, in global positions (inclusive). */
export interface ReadAllOptions {
  /** First position (default 1n). */
  readonly fromPosition?: bigint;
  /** Last position (default: the head when the read starts). */
  readonly toPosition?: bigint;
  /** At most this many events. */
  readonly maxCount?: number;
  /** Only events of these types and streams. */
  readonly filter?: EventFilter;
}

/** Options of {@link EventStore.aggregateStream}. */
export interface AggregateStreamOptions {
  /** Fold the stream up to this version (inclusive) only. */
  readonly upTo?: bigint;
}

/** A stream's state as {@link EventStore.aggregateStream} folded it. */
export interface AggregateStreamResult<S> {
  /** The state: a fresh value the caller owns. */
  readonly state: S;
  /** Version of the last event folded (0n for an empty stream). */
  readonly version: bigint;
  /** Position of the last event folded (0n for an empty stream). */
  readonly position: bigint;
}

/** What an {@link EventStore.onCommit} listener receives for one acknowledged commit. */
export interface CommittedBatch {
  /** One entry per append of the commit, in order: each stream's new version and positions. */
  readonly streams: readonly AppendBatchResult['streams'][number][];
  /** The appends as committed (their records' types, timestamps and frame ids). */
  readonly appends: readonly PreparedAppend[];
  /** Highest global position after the commit. */
  readonly lastPosition: bigint;
}

/** A listener of {@link EventStore.onCommit}. */
export type CommitListener = (commit: CommittedBatch) => void;

/** Options of {@link EventStore.commitBatch}. */
export interface CommitBatchOptions {
  /** Relational writes committed with the events (after the inline projections' own). */
  readonly writes?: readonly RowWrite[];
}

/** What {@link EventStore.commitBatch} (and a transaction) committed. */
export interface CommitResult {
  /** One entry per append, in order. */
  readonly appends: readonly AppendToStreamResult[];
  /** The store's head after the commit. */
  readonly lastPosition: bigint;
  /** One entry per row write given, in order. */
  readonly writes: readonly RowWriteResult[];
}

/** The handle given to a {@link EventStore.transaction} function. */
export interface Transaction {
  /**
   * Adds an append to the transaction. The events are validated and encoded at once
   * (an invalid event throws here, which aborts the transaction if not caught) and
   * written at the end, with everything else, or not at all. Appending to a stream a
   * second time adds to the first append; its `expectedVersion` must then be `'any'`,
   * left out, or the version the earlier events lead to.
   */
  appendToStream(
    stream: string,
    events: readonly AppendableEvent[],
    options?: AppendToStreamOptions,
  ): void;
  /** Adds relational writes (audit lines, snapshots, metadata, …) to the transaction. */
  write(...writes: readonly RowWrite[]): void;
}

/** What {@link EventStore.transaction} resolves to. */
export interface TransactionResult<T> extends CommitResult {
  /** What the transaction function returned. */
  readonly value: T;
}

/** Options of {@link EventStore.startSession}: the `system.start` it writes. */
export interface StartSessionOptions {
  readonly userId: string;
  readonly modelId?: string;
  readonly mode: EventData<'system.start'>['mode'];
  readonly hardwareTier?: EventData<'system.start'>['hardware_tier'];
  /** WIRTHFORGE version. */
  readonly version: string;
  readonly featuresEnabled?: readonly string[];
  readonly config?: Record<string, unknown>;
  /**
   * Keep the whole session in memory: its events, its rows, its projections. Nothing of
   * it is written to disk, and it is gone when the store closes.
   */
  readonly private?: boolean;
}

/** A session the store started. */
export interface SessionHandle {
  /** The session id, e.g. `20250817T194800Z_001`. */
  readonly id: string;
  /** Its stream, `session-<id>`: where its events go. */
  readonly stream: string;
  readonly userId: string;
  /** Whether the session lives in memory only. */
  readonly private: boolean;
  /** Timestamp of its `system.start`. */
  readonly startedAt: string;
  /** Position of its `system.start` (in the private session's own log when private). */
  readonly position: bigint;
}

/** Options of {@link EventStore.endSession}: the `system.end` it writes. */
export interface EndSessionOptions {
  readonly reason: EventData<'system.end'>['reason'];
  /** Default: `true` for `user_exit` and `system_shutdown`, `false` for `error` and `crash`. */
  readonly cleanShutdown?: boolean;
}

/** A session that started and never ended. */
export interface OpenSession {
  readonly sessionId: string;
  readonly stream: string;
  readonly userId: string;
  /** Start, in microseconds since the epoch. */
  readonly startedUs: number;
  readonly totalEvents: number;
  readonly totalEnergy: number;
  /** Whether it is a private (memory-only) session of this store. */
  readonly private: boolean;
}

/** What {@link EventStore.rebuildProjections} did. */
export interface RebuildReport {
  /** Events read. */
  readonly events: number;
  /** Session rows written. */
  readonly sessions: number;
  /** User rows written. */
  readonly users: number;
  /** The head the rebuild read up to. */
  readonly position: bigint;
}

/**
 * The event store: appends with optimistic concurrency and idempotency, reads,
 * aggregation, live subscriptions, transactions, sessions and the inline projections of
 * the relational tables. Names follow Emmett and KurrentDB (`appendToStream`,
 * `readStream`, `readAll`, `aggregateStream`, `expectedVersion`,
 * `nextExpectedVersion`). Create it with {@link createEventStore}.
 */
export interface EventStore {
  /**
   * Validates, encodes and appends events to one stream, in one commit with the inline
   * projections' rows; resolves once durable.
   *
   * Rejects with an `InvalidEventError` (code `invalid_event`) listing every problem with
   * the index of its event, with storage's `ConcurrencyError` (`expected`, `actual`)
   * when `expectedVersion` does not hold, or with `IdempotencyConflictError` when an
   * `event_id` is stored with other content. An event whose `event_id` is stored with
   * the same content is not written again: its original position comes back.
   *
   * @example
   * ```ts
   * const { nextExpectedVersion } = await store.appendToStream(session.stream, [prompt], {
   *   expectedVersion: 41n,
   * });
   * ```
   */
  appendToStream(
    stream: string,
    events: readonly AppendableEvent[],
    options?: AppendToStreamOptions,
  ): Promise<AppendToStreamResult>;

  /**
   * One stream's events, decoded and upcast, in version order (or backwards).
   *
   * @example
   * ```ts
   * for await (const { event, version } of store.readStream(stream, { from: 10n })) { … }
   * const last5 = await store.readStream(stream, { direction: 'backwards', maxCount: 5 }).toArray();
   * ```
   */
  readStream(stream: string, options?: ReadStreamOptions): EventIterable<StoreRecord>;

  /**
   * Every stream's events in position order, optionally filtered by type and stream.
   * Private sessions are not part of it.
   */
  readAll(options?: ReadAllOptions): EventIterable<StoreRecord>;

  /**
   * Folds a stream with a projection: from the cached state of the stream when there is
   * one (then only the events after it are read), else from the start.
   *
   * @example
   * ```ts
   * const { state, version } = await store.aggregateStream(stream, energyProjection);
   * toEnergyState(state);
   * ```
   */
  aggregateStream<S>(
    stream: string,
    projection: Projection<S>,
    options?: AggregateStreamOptions,
  ): Promise<AggregateStreamResult<S>>;

  /** A live feed of the store's events; see {@link Subscription}. */
  subscribe(options?: SubscribeOptions): Subscription;

  /**
   * Runs `fn`, then commits everything it added (appends to several streams, row
   * writes) with the inline projections' rows, in one storage batch: all of it or
   * nothing. If `fn` throws, nothing is written and the error comes back; a conflict of
   * any append rejects the whole transaction.
   *
   * @example
   * ```ts
   * const { appends } = await store.transaction((tx) => {
   *   tx.appendToStream(session.stream, [levelUnlock], { expectedVersion: 120n });
   *   tx.appendToStream(userStream('ada'), [celebration]);
   *   tx.write({ kind: 'audit.insert', timestampUs, actor: 'app', action: 'level.unlock' });
   * });
   * ```
   */
  transaction<T>(fn: (tx: Transaction) => T | Promise<T>): Promise<TransactionResult<T>>;

  /**
   * Commits encoded appends across streams, plus row writes, in one storage batch,
   * with the inline projections' rows: the entry point of the recorder, one call per
   * frame. The records are trusted (no schema validation; {@link prepareAppend} or
   * the producer validated them); each is decoded once for the projections, so live
   * states equal replayed ones exactly.
   *
   * @example
   * ```ts
   * await store.commitBatch([
   *   { stream: session.stream, expectedVersion: frameVersion, records: frameRecords },
   * ]);
   * ```
   */
  commitBatch(
    appends: readonly PreparedAppend[],
    options?: CommitBatchOptions,
  ): Promise<CommitResult>;

  /** {@link prepareAppend} with the store's `validate` setting. */
  prepareAppend(
    stream: string,
    events: readonly AppendableEvent[],
    options?: AppendToStreamOptions,
  ): PreparedAppend;

  /**
   * Starts a session: writes its `system.start` into a new session stream, with a
   * session id of the current second (`YYYYMMDDTHHMMSSZ_NNN`, the sequence unique
   * within the second and against the stored sessions).
   *
   * @example
   * ```ts
   * const session = await store.startSession({ userId: 'ada', mode: 'offline', version: '1.0.0' });
   * await store.appendToStream(session.stream, events);
   * await store.endSession(session.id, { reason: 'user_exit' });
   * ```
   */
  startSession(options: StartSessionOptions): Promise<SessionHandle>;

  /**
   * Ends a session: writes `system.end` with its `duration_ms`, `total_energy`,
   * `total_events` (the events before it) and `clean_shutdown`. Rejects with
   * `session_not_found` or `session_ended`.
   */
  endSession(sessionId: string, options: EndSessionOptions): Promise<AppendToStreamResult>;

  /** Sessions that started and never ended (active in the sessions table), oldest first. */
  openSessions(): Promise<OpenSession[]>;

  /** Recomputes every session and user row from the events, in one batch. */
  rebuildProjections(): Promise<RebuildReport>;

  /** A stream's version (0n when it has no events). */
  streamVersion(stream: string): Promise<bigint>;

  /** The highest position stored (0n when empty). */
  headPosition(): Promise<bigint>;

  /** The storage underneath. */
  readonly storage: EventStorage;

  /** Whether {@link close} was called. */
  readonly closed: boolean;

  /**
   * Calls `listener` after each commit of the persistent log is acknowledged, in commit
   * order, with the streams' new versions and the records stored: for schedulers that
   * count events (snapshots, metrics) without being on the path of the commit or the
   * frame. A listener must be quick and must not throw (a throw is swallowed); commits
   * of private sessions are not reported. Returns a function that removes the listener.
   *
   * @example
   * ```ts
   * const off = store.onCommit(({ streams }) => {
   *   for (const { stream, nextExpectedVersion } of streams) counts.set(stream, nextExpectedVersion);
   * });
   * ```
   */
  onCommit(listener: CommitListener): () => void;

  /**
   * Ends every subscription, waits for commits in flight, drops private sessions and
   * closes the storage. Idempotent; every later call rejects with code `closed`.
   */
  close(): Promise<void>;
}

const DEFAULT_CACHE = { maxEntries: 256, maxBytes: 32 * 1024 * 1024 };

type StorageDb = ConstructorParameters<typeof SessionRepository>[0];

/** The storage's Kysely reader, when it has one (SQLite and memory storages do). */
function dbOf(storage: EventStorage): StorageDb | undefined {
  const db = (storage as { db?: unknown }).db;
  return typeof db === 'object' &&
    db !== null &&
    typeof (db as { selectFrom?: unknown }).selectFrom === 'function'
    ? (db as StorageDb)
    : undefined;
}

/** Commits sent to storage and not yet acknowledged, at most. */
const MAX_COMMITS_IN_FLIGHT = 8;

/** A commit sent to storage. */
interface InFlight {
  /** Session streams and users whose rows it writes. */
  readonly sessions: readonly string[];
  readonly users: readonly string[];
  /** Settles (never rejects) once its outcome is handled. */
  settled: Promise<void>;
}

function systemClock(): number {
  return Math.floor((performance.timeOrigin + performance.now()) * 1000);
}

function positiveInteger(where: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw invalidArgument(where, `must be a positive integer, got ${String(value)}`);
  }
  return value;
}

interface PrivateSession {
  readonly sessionId: string;
  readonly store: StoreImpl;
}

/**
 * Creates an {@link EventStore} over a storage.
 *
 * @example
 * ```ts
 * import { openSqliteStorage } from '@wirthforge/storage-sqlite';
 * import { createEventStore } from '@wirthforge/eventstore';
 *
 * const store = createEventStore({ storage: await openSqliteStorage({ path: 'state.db' }) });
 * const session = await store.startSession({ userId: 'ada', mode: 'offline', version: '1.0.0' });
 * await store.appendToStream(session.stream, [prompt, ...tokens]);
 * const summary = await store.aggregateStream(session.stream, sessionSummaryProjection);
 * await store.close();
 * ```
 */
export function createEventStore(options: EventStoreOptions): EventStore {
  if (typeof options !== 'object' || options === null) {
    throw invalidArgument('options', 'expected an object');
  }
  const { storage } = options;
  if (
    typeof storage !== 'object' ||
    storage === null ||
    typeof storage.appendBatch !== 'function' ||
    typeof storage.readAll !== 'function'
  ) {
    throw invalidArgument('options.storage', 'expected an EventStorage');
  }
  if (options.clock !== undefined && typeof options.clock !== 'function') {
    throw invalidArgument('options.clock', 'must be a function returning microseconds');
  }
  let cache: StateCache<unknown> | undefined;
  if (options.cache !== false) {
    const bounds = options.cache ?? {};
    cache = new StateCache<unknown>({
      maxEntries: positiveInteger(
        'options.cache.maxEntries',
        bounds.maxEntries ?? DEFAULT_CACHE.maxEntries,
      ),
      maxBytes: positiveInteger(
        'options.cache.maxBytes',
        bounds.maxBytes ?? DEFAULT_CACHE.maxBytes,
      ),
    });
  }
  return new StoreImpl(options, cache);
}

class StoreImpl implements EventStore {
  readonly storage: EventStorage;
  readonly #options: EventStoreOptions;
  readonly #validate: boolean;
  readonly #clock: Clock;
  readonly #cache: StateCache<unknown> | undefined;
  readonly #upcasters: UpcasterRegistry | undefined;
  readonly #settings: InlineProjectionSettings;
  readonly #inline: InlineProjections;
  readonly #notifier = new CommitNotifier();
  readonly #commitListeners = new Set<CommitListener>();
  readonly #subscriptions = new Set<StoreSubscription>();
  readonly #private = new Map<string, PrivateSession>();
  #queue: Promise<unknown> = Promise.resolve();
  /** Commits sent to storage and not settled yet, oldest first. */
  readonly #inFlight: InFlight[] = [];
  /** Settles once the latest commit sent has settled (and its result was handled). */
  #lastSettled: Promise<unknown> = Promise.resolve();
  /** Sessions and users whose rows may be wrong after a failed commit, to recompute. */
  #repair: { readonly sessions: Set<string>; readonly users: Set<string> } | undefined;
  /** Counts failed commits: a plan made across one is made again. */
  #failures = 0;
  /** The store's head once every commit in flight is in (as predicted). */
  #head: bigint | undefined;
  #closing: Promise<void> | undefined;
  #idSecond = -1;
  #idSequence = 0;

  constructor(options: EventStoreOptions, cache: StateCache<unknown> | undefined) {
    this.#options = options;
    this.storage = options.storage;
    this.#validate = options.validate ?? true;
    this.#clock = options.clock ?? systemClock;
    this.#cache = cache;
    this.#upcasters = options.upcasters;
    const checkpointEvery = options.projections?.checkpointEvery;
    this.#settings = {
      sessions: options.projections?.sessions ?? true,
      users: options.projections?.users ?? true,
      checkpointEvery:
        checkpointEvery === false
          ? 0
          : checkpointEvery === undefined
            ? DEFAULT_CHECKPOINT_EVERY
            : positiveInteger('options.projections.checkpointEvery', checkpointEvery),
      onCheckpointRejected: options.projections?.onCheckpointRejected,
    };
    const db = dbOf(this.storage);
    this.#inline = new InlineProjections(
      this.#settings,
      {
        // A state is loaded from what storage holds: once the commits in flight are in.
        readStream: (stream, from) =>
          this.#afterInFlight(() => this.#read(stream, from === undefined ? undefined : { from })),
        readAll: ({ fromPosition, toPosition, streams, types }) =>
          this.#afterInFlight(() =>
            this.#readAllRecords({
              ...(fromPosition === undefined ? {} : { fromPosition }),
              toPosition,
              filter: {
                ...(streams === undefined ? {} : { streams }),
                ...(types === undefined ? {} : { types }),
              },
            }),
          ),
        sessionStreamsOf: async (userId, head) => {
          await this.#drain();
          return this.#sessionStreamsOf(userId, head);
        },
        ...(db === undefined ? {} : projectionRows(db, () => this.#drain())),
      },
      new RecordDecoder(this.#upcasters),
    );
  }

  get closed(): boolean {
    return this.#closing !== undefined;
  }

  #ensureOpen(): void {
    if (this.#closing !== undefined) throw closedError('event store');
  }

  /**
   * Runs commits' preparations one at a time, in call order. A commit leaves the queue
   * once sent to storage: the next one is prepared while it is in flight.
   */
  #serialize<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(fn);
    this.#queue = result.catch(() => undefined);
    return result;
  }

  /** Waits until no commit is in flight. */
  async #drain(): Promise<void> {
    while (this.#inFlight.length > 0) await this.#inFlight[this.#inFlight.length - 1]!.settled;
  }

  async *#afterInFlight<T>(read: () => AsyncGenerator<T>): AsyncGenerator<T> {
    await this.#drain();
    yield* read();
  }

  #privateOf(stream: string): PrivateSession | undefined {
    return this.#private.size === 0 ? undefined : this.#private.get(stream);
  }

  // ---- appends -------------------------------------------------------------------------

  prepareAppend(
    stream: string,
    events: readonly AppendableEvent[],
    options: AppendToStreamOptions = {},
  ): PreparedAppend {
    return prepareAppend(stream, events, {
      expectedVersion: options.expectedVersion,
      validate: this.#validate,
    });
  }

  async appendToStream(
    stream: string,
    events: readonly AppendableEvent[],
    options: AppendToStreamOptions = {},
  ): Promise<AppendToStreamResult> {
    this.#ensureOpen();
    const prepared = this.prepareAppend(stream, events, options);
    const result = await this.commitBatch([prepared]);
    return result.appends[0]!;
  }

  commitBatch(
    appends: readonly PreparedAppend[],
    options: CommitBatchOptions = {},
  ): Promise<CommitResult> {
    try {
      this.#ensureOpen();
      const given: unknown = appends;
      if (!Array.isArray(given)) throw invalidArgument('appends', 'expected an array');
      const target = this.#targetOf(appends.map((append) => append.stream));
      if (target !== this) return target.commitBatch(appends, options);
      return this.#commit(appends, options.writes ?? []);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /** The store whose storage holds these streams: this one, or one private session's. */
  #targetOf(streams: readonly string[]): StoreImpl {
    let target: StoreImpl | undefined;
    for (const stream of streams) {
      const here = this.#privateOf(stream)?.store ?? this;
      if (target !== undefined && target !== here) {
        throw invalidArgument(
          'streams',
          'a private session cannot be written in one commit with other streams (it lives in memory only)',
        );
      }
      target = here;
    }
    return target ?? this;
  }

  async #commit(
    appends: readonly PreparedAppend[],
    writes: readonly RowWrite[],
  ): Promise<CommitResult> {
    // Commits accepted before close() still run: close() waits for them.
    const { outcome } = await this.#serialize(() => this.#send(appends, writes));
    const result = await outcome;
    return {
      appends: result.streams.map((stream) => ({
        stream: stream.stream,
        nextExpectedVersion: stream.nextExpectedVersion,
        lastPosition: result.lastPosition,
        positions: stream.positions,
      })),
      lastPosition: result.lastPosition,
      writes: result.writes.slice(0, writes.length),
    };
  }

  /**
   * Prepares a commit on top of the commits in flight and sends it to storage, which
   * checks and commits requests in the order sent. Resolves once sent, with the
   * commit's outcome (which settles after the outcomes of the commits sent before it).
   */
  async #send(
    appends: readonly PreparedAppend[],
    writes: readonly RowWrite[],
  ): Promise<{ outcome: Promise<AppendBatchResult> }> {
    for (;;) {
      if (this.#repair !== undefined) await this.#repairRows();
      if (this.#head === undefined) {
        await this.#drain();
        if (this.#repair !== undefined) continue;
        this.#head = await this.storage.headPosition();
      }
      const failures = this.#failures;
      let plan: CommitPlan;
      try {
        plan = await this.#inline.plan(appends, this.#head);
      } catch (error) {
        if (this.#failures !== failures) continue;
        throw error;
      }
      while (this.#inFlight.length >= MAX_COMMITS_IN_FLIGHT && this.#failures === failures) {
        await this.#inFlight[0]!.settled;
      }
      if (this.#failures !== failures) {
        // A commit this plan was made on top of failed meanwhile: plan again.
        this.#inline.reset();
        continue;
      }
      const sent = this.storage.appendBatch(
        appends.map((append) => ({
          stream: append.stream,
          expectedVersion: append.expectedVersion ?? 'any',
          events: append.records,
        })),
        { writes: plan.writes.length === 0 ? writes : [...writes, ...plan.writes] },
      );
      this.#head = plan.nextHead;
      const flight: InFlight = {
        sessions: plan.sessions,
        users: plan.users,
        settled: Promise.resolve(),
      };
      const settledSend = sent.then(
        (result) => ({ ok: true as const, result }),
        (error: unknown) => ({ ok: false as const, error }),
      );
      const outcome = this.#lastSettled
        .then(() => settledSend)
        .then((settled) => {
          this.#inFlight.splice(this.#inFlight.indexOf(flight), 1);
          if (!settled.ok) {
            this.#failed(flight);
            throw settled.error;
          }
          if (!this.#inline.confirm(plan, settled.result)) this.#failed(flight);
          this.#notifier.notify();
          if (this.#commitListeners.size > 0) this.#tellListeners(appends, settled.result);
          return settled.result;
        });
      flight.settled = outcome.then(
        () => undefined,
        () => undefined,
      );
      this.#lastSettled = flight.settled;
      this.#inFlight.push(flight);
      return { outcome };
    }
  }

  /**
   * A commit failed (or its events did not get the positions predicted): the states of
   * the inline projections are dropped, and the rows of every session and user that
   * it or a commit sent after it touched are recomputed from the events, before the
   * next commit is prepared.
   */
  #failed(flight: InFlight): void {
    this.#failures += 1;
    this.#inline.reset();
    // The outcome of a failed call is not always known (a writer that died after its
    // commit): read the head again.
    this.#head = undefined;
    const repair = (this.#repair ??= { sessions: new Set(), users: new Set() });
    for (const affected of [flight, ...this.#inFlight]) {
      for (const stream of affected.sessions) repair.sessions.add(stream);
      for (const userId of affected.users) repair.users.add(userId);
    }
    this.#serialize(async () => {
      if (this.#repair !== undefined) await this.#repairRows();
    }).catch(() => undefined);
  }

  /** Rewrites the rows {@link #failed} marked, from the events. Runs in the queue. */
  async #repairRows(): Promise<void> {
    await this.#drain();
    const repair = this.#repair;
    if (repair === undefined) return;
    this.#inline.reset();
    const head = await this.storage.headPosition();
    const writes = await this.#inline.rows(repair.sessions, repair.users, head);
    if (writes.length > 0) await this.storage.appendBatch([], { writes });
    this.#repair = undefined;
    this.#head = head;
  }

  async transaction<T>(fn: (tx: Transaction) => T | Promise<T>): Promise<TransactionResult<T>> {
    this.#ensureOpen();
    if (typeof fn !== 'function') throw invalidArgument('fn', 'expected a function');
    const tx = new StoreTransaction(this);
    let value: T;
    try {
      value = await fn(tx);
    } finally {
      tx.finish();
    }
    const appends = tx.appends();
    if (appends.length === 0 && tx.writes.length === 0) {
      return { value, appends: [], writes: [], lastPosition: await this.headPosition() };
    }
    const result = await this.commitBatch(appends, { writes: tx.writes });
    return { ...result, value };
  }

  // ---- reads ---------------------------------------------------------------------------

  streamVersion(stream: string): Promise<bigint> {
    try {
      this.#ensureOpen();
      const owner = this.#privateOf(stream);
      if (owner !== undefined) return owner.store.streamVersion(stream);
      return this.storage.streamVersion(stream);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  headPosition(): Promise<bigint> {
    if (this.#closing !== undefined) return Promise.reject(closedError('event store'));
    return this.storage.headPosition();
  }

  readStream(stream: string, options: ReadStreamOptions = {}): EventIterable<StoreRecord> {
    return pagedIterable(() => this.#whileOpen(this.#readAnyPages(stream, options)));
  }

  /** A public read: refused once the store is closed (the store's own reads still run). */
  async *#whileOpen<T>(read: AsyncGenerator<T>): AsyncGenerator<T> {
    this.#ensureOpen();
    yield* read;
  }

  async *#read(
    stream: string,
    options: ReadStreamOptions | undefined,
  ): AsyncGenerator<StoreRecord> {
    const owner = this.#privateOf(stream);
    if (owner !== undefined) {
      yield* owner.store.readStream(stream, options);
      return;
    }
    for await (const page of this.#readPages(stream, options)) yield* page;
  }

  /** A stream's records (private or stored) a page at a time. */
  async *#readAnyPages(
    stream: string,
    options: ReadStreamOptions | undefined,
  ): AsyncGenerator<readonly StoreRecord[]> {
    const owner = this.#privateOf(stream);
    if (owner === undefined) {
      yield* this.#readPages(stream, options);
      return;
    }
    for await (const record of owner.store.readStream(stream, options)) yield [record];
  }

  /** A stored (not private) stream's records a page at a time: one await per page. */
  async *#readPages(
    stream: string,
    options: ReadStreamOptions | undefined,
  ): AsyncGenerator<readonly StoreRecord[]> {
    const decoder = new RecordDecoder(this.#upcasters);
    for await (const page of readStreamPages(this.storage, stream, options)) {
      yield decoder.records(page);
    }
  }

  readAll(options: ReadAllOptions = {}): EventIterable<StoreRecord> {
    return pagedIterable(() => this.#whileOpen(this.#readAllPages(options)));
  }

  async *#readAllRecords(options: ReadAllOptions): AsyncGenerator<StoreRecord> {
    for await (const page of this.#readAllPages(options)) yield* page;
  }

  /** Every stored record (filtered) a page at a time: one await per page. */
  async *#readAllPages(options: ReadAllOptions): AsyncGenerator<readonly StoreRecord[]> {
    const decoder = new RecordDecoder(this.#upcasters);
    const { filter, ...range } = options;
    for await (const page of readAllPages(this.storage, {
      ...range,
      ...(filter?.types === undefined ? {} : { types: filter.types }),
      ...(filter?.streams === undefined ? {} : { streams: filter.streams }),
    })) {
      yield decoder.records(page);
    }
  }

  async aggregateStream<S>(
    stream: string,
    projection: Projection<S>,
    options: AggregateStreamOptions = {},
  ): Promise<AggregateStreamResult<S>> {
    this.#ensureOpen();
    const owner = this.#privateOf(stream);
    if (owner !== undefined) return owner.store.aggregateStream(stream, projection, options);
    const { upTo } = options;
    if (upTo !== undefined && (typeof upTo !== 'bigint' || upTo < 0n)) {
      throw invalidArgument('options.upTo', 'must be a non-negative bigint');
    }
    const key = `${projection.name}\u0000${stream}`;
    let hit = this.#cache?.get(key) as { state: S; version: bigint; position: bigint } | undefined;
    if (hit !== undefined && upTo !== undefined && hit.version > upTo) hit = undefined;
    let version = hit?.version ?? 0n;
    let position = hit?.position ?? 0n;
    const tail = this.#readPages(stream, {
      from: version + 1n,
      ...(upTo === undefined ? {} : { to: upTo }),
    });
    async function* tracked(): AsyncGenerator<readonly StoreRecord[]> {
      for await (const page of tail) {
        const last = page[page.length - 1]!;
        version = last.version;
        position = last.position;
        yield page;
      }
    }
    // foldEvents evolves a copy of the cached state; the cache keeps its own copy.
    const state = await foldEvents(projection, tracked(), hit?.state);
    if (this.#cache !== undefined && version > 0n && (hit === undefined || version > hit.version)) {
      try {
        this.#cache.set(key, { state: projection.clone(state), version, position });
      } catch (error) {
        // A state the canonical encoding cannot size is simply not cached.
        if (!isStateError(error, 'unencodable_state')) throw error;
      }
    }
    return { state, version, position };
  }

  subscribe(options: SubscribeOptions = {}): Subscription {
    this.#ensureOpen();
    const { from, pollIntervalMs, pageSize } = options;
    if (from !== undefined && from !== 'start' && from !== 'end') {
      if (typeof from !== 'bigint' || from < 0n) {
        throw invalidArgument('options.from', "must be 'start', 'end' or a position (bigint >= 0)");
      }
    }
    if (pollIntervalMs !== undefined) positiveInteger('options.pollIntervalMs', pollIntervalMs);
    if (pageSize !== undefined) positiveInteger('options.pageSize', pageSize);
    const subscription = new StoreSubscription(
      {
        headPosition: () => this.storage.headPosition(),
        readPage: async (fromPosition, toPosition, filter) =>
          this.readAll({
            fromPosition,
            toPosition,
            ...(filter === undefined ? {} : { filter }),
          }).toArray(),
      },
      this.#notifier,
      options,
      (closed) => this.#subscriptions.delete(closed),
    );
    this.#subscriptions.add(subscription);
    return subscription;
  }

  // ---- sessions ------------------------------------------------------------------------

  async startSession(options: StartSessionOptions): Promise<SessionHandle> {
    this.#ensureOpen();
    if (typeof options !== 'object' || options === null) {
      throw invalidArgument('options', 'expected an object');
    }
    const { userId } = options;
    if (typeof userId !== 'string' || tryParseStreamName(`user-${userId}`)?.kind !== 'user') {
      throw invalidArgument('options.userId', 'must be a non-empty, well-formed string');
    }
    const isPrivate = options.private === true;
    for (;;) {
      const nowUs = this.#clock();
      const second = Math.floor(nowUs / 1_000_000);
      if (second !== this.#idSecond) {
        this.#idSecond = second;
        this.#idSequence = 0;
      }
      this.#idSequence += 1;
      if (this.#idSequence > 999) {
        throw new StateError(
          'session_ids_exhausted',
          `every session id of ${new Date(second * 1000).toISOString()} is taken; try again in the next second`,
        );
      }
      const sessionId = createSessionId(new Date(second * 1000), this.#idSequence);
      const stream = sessionStream(sessionId);
      if (this.#private.has(stream)) continue;
      const event: EventOfType<'system.start'> = {
        session_id: sessionId,
        timestamp: toIsoMicros(nowUs),
        type: 'system.start',
        data: {
          version: options.version,
          user_id: userId,
          mode: options.mode,
          ...(options.modelId === undefined ? {} : { model_id: options.modelId }),
          ...(options.hardwareTier === undefined ? {} : { hardware_tier: options.hardwareTier }),
          ...(options.featuresEnabled === undefined
            ? {}
            : { features_enabled: [...options.featuresEnabled] }),
          ...(options.config === undefined ? {} : { config: options.config }),
        },
      };
      // The id of a private session must not name a stored session either.
      if (isPrivate && (await this.storage.streamVersion(stream)) > 0n) continue;
      const target = isPrivate
        ? new StoreImpl({ ...this.#options, storage: createMemoryStorage() }, this.#cacheFor())
        : this;
      let result: AppendToStreamResult;
      try {
        result = await target.appendToStream(stream, [event], { expectedVersion: 'no_stream' });
      } catch (error) {
        if (target !== this) await target.close();
        // Taken already (a session of this second written before a restart): next one.
        if (isConcurrencyError(error)) continue;
        throw error;
      }
      if (isPrivate) this.#private.set(stream, { sessionId, store: target });
      return {
        id: sessionId,
        stream,
        userId,
        private: isPrivate,
        startedAt: event.timestamp,
        position: result.positions[0]!,
      };
    }
  }

  #cacheFor(): StateCache<unknown> | undefined {
    if (this.#cache === undefined) return undefined;
    const stats = this.#cache.stats();
    return new StateCache<unknown>({
      maxEntries: Math.min(stats.maxEntries, 16),
      maxBytes: stats.maxBytes,
    });
  }

  async endSession(sessionId: string, options: EndSessionOptions): Promise<AppendToStreamResult> {
    this.#ensureOpen();
    let stream: string;
    try {
      stream = sessionStream(sessionId);
    } catch (error) {
      if (isEventsError(error)) throw invalidArgument('sessionId', error.message);
      throw error;
    }
    const owner = this.#privateOf(stream);
    if (owner !== undefined) return owner.store.endSession(sessionId, options);
    if (typeof options !== 'object' || options === null) {
      throw invalidArgument('options', 'expected an object with a reason');
    }
    const clean =
      options.cleanShutdown ??
      (options.reason === 'user_exit' || options.reason === 'system_shutdown');
    // Events may arrive between the summary and the end: then sum up again.
    for (let attempt = 0; ; attempt++) {
      const { state, version } = await this.aggregateStream(stream, sessionSummaryProjection);
      if (version === 0n) {
        throw new StateError('session_not_found', `no session ${sessionId}`);
      }
      if (state.status === 'ended') {
        throw new StateError('session_ended', `session ${sessionId} already ended`);
      }
      const nowUs = this.#clock();
      const event: EventOfType<'system.end'> = {
        session_id: sessionId,
        timestamp: toIsoMicros(nowUs),
        type: 'system.end',
        data: {
          duration_ms: durationMs(state, nowUs),
          total_energy: Math.max(0, state.total_energy),
          total_events: state.total_events,
          clean_shutdown: clean,
          reason: options.reason,
        },
      };
      try {
        return await this.appendToStream(stream, [event], { expectedVersion: version });
      } catch (error) {
        if (!isConcurrencyError(error) || attempt >= 9) throw error;
      }
    }
  }

  async openSessions(): Promise<OpenSession[]> {
    this.#ensureOpen();
    const open: OpenSession[] = [];
    const db = this.#settings.sessions ? dbOf(this.storage) : undefined;
    if (db !== undefined) {
      const rows = await db
        .selectFrom('sessions')
        .innerJoin('streams', 'streams.id', 'sessions.stream_id')
        .select([
          'sessions.session_id',
          'streams.name as stream',
          'sessions.user_id',
          'sessions.started_us',
          'sessions.total_events',
          'sessions.total_energy',
        ])
        .where('sessions.status', '=', 'active')
        .orderBy('sessions.started_us')
        .orderBy('sessions.session_id')
        .execute();
      for (const row of rows) {
        open.push({
          sessionId: row.session_id,
          stream: row.stream,
          userId: row.user_id,
          startedUs: row.started_us,
          totalEvents: row.total_events,
          totalEnergy: row.total_energy,
          private: false,
        });
      }
    } else {
      open.push(...(await this.#scanOpenSessions()));
    }
    for (const session of this.#private.values()) {
      for (const row of await session.store.openSessions()) open.push({ ...row, private: true });
    }
    return open;
  }

  /** Open sessions from the events themselves, for storages without the sessions table. */
  async #scanOpenSessions(): Promise<OpenSession[]> {
    const head = await this.storage.headPosition();
    const candidates = new Set<string>();
    for await (const record of this.#readAllRecords({
      toPosition: head,
      filter: { types: ['system.start', 'system.end', 'session.recovered'] },
    })) {
      if (tryParseStreamName(record.stream)?.kind === 'session') candidates.add(record.stream);
    }
    const open: OpenSession[] = [];
    for (const stream of candidates) {
      const { state } = await this.aggregateStream(stream, sessionSummaryProjection);
      if (state.status !== 'active' || state.started_at === null) continue;
      const row = sessionRow(sessionIdOfStream(stream)!, stream, state.user_id ?? undefined, state);
      if (row === undefined) continue;
      open.push({
        sessionId: row.sessionId,
        stream,
        userId: row.userId,
        startedUs: row.startedUs,
        totalEvents: row.totalEvents,
        totalEnergy: row.totalEnergy,
        private: false,
      });
    }
    return open.sort((a, b) => a.startedUs - b.startedUs || (a.sessionId < b.sessionId ? -1 : 1));
  }

  async #sessionStreamsOf(userId: string, head: bigint): Promise<readonly string[]> {
    const db = this.#settings.sessions ? dbOf(this.storage) : undefined;
    if (db !== undefined) {
      const rows = await db
        .selectFrom('sessions')
        .innerJoin('streams', 'streams.id', 'sessions.stream_id')
        .select('streams.name as stream')
        .where('sessions.user_id', '=', userId)
        .execute();
      return rows.map((row) => row.stream);
    }
    const owners = new Map<string, string | undefined>();
    for await (const record of this.#readAllRecords({
      toPosition: head,
      filter: { types: ['system.start'] },
    })) {
      if (!owners.has(record.stream) && tryParseStreamName(record.stream)?.kind === 'session') {
        owners.set(record.stream, ownerOf(record.event));
      }
    }
    return [...owners].filter(([, owner]) => owner === userId).map(([stream]) => stream);
  }

  rebuildProjections(): Promise<RebuildReport> {
    if (this.#closing !== undefined) return Promise.reject(closedError('event store'));
    return this.#serialize(async () => {
      await this.#drain();
      const head = await this.storage.headPosition();
      const sessions = new Map<
        string,
        {
          sessionId: string;
          stream: string;
          summary: SessionSummary;
          owner: string | undefined;
          version: bigint;
          position: bigint;
        }
      >();
      const users = new Map<string, UserProgressFold>();
      const userFold = (userId: string): UserProgressFold => {
        let fold = users.get(userId);
        if (fold === undefined) {
          fold = new UserProgressFold(userId, userStream(userId));
          users.set(userId, fold);
        }
        return fold;
      };
      let events = 0;
      for await (const record of this.#readAllRecords({ toPosition: head })) {
        events += 1;
        const parsed = tryParseStreamName(record.stream);
        if (parsed?.kind === 'session') {
          let entry = sessions.get(record.stream);
          if (entry === undefined) {
            entry = {
              sessionId: parsed.sessionId,
              stream: record.stream,
              summary: sessionSummaryProjection.initialState(),
              owner: undefined,
              version: 0n,
              position: 0n,
            };
            sessions.set(record.stream, entry);
          }
          entry.summary = sessionSummaryProjection.evolveInPlace(
            entry.summary,
            record.event,
            record,
          );
          entry.owner ??= ownerOf(record.event);
          entry.version = record.version;
          entry.position = record.position;
          if (entry.owner !== undefined) userFold(entry.owner).add(record);
        } else if (parsed?.kind === 'user') {
          userFold(parsed.userId).add(record);
        }
      }
      const writes: RowWrite[] = [];
      if (this.#settings.sessions) {
        for (const [stream, entry] of sessions) {
          const row = sessionRow(entry.sessionId, stream, entry.owner, entry.summary);
          if (row !== undefined) writes.push(row);
        }
      }
      const sessionRows = writes.length;
      if (this.#settings.users) {
        for (const fold of users.values()) {
          writes.push(userRow(fold.userId, fold.progress, fold.updatedUs));
        }
      }
      const userRows = writes.length - sessionRows;
      const db = dbOf(this.storage);
      if (this.#settings.checkpointEvery > 0 && db !== undefined) {
        writes.push(
          ...(await rebuiltCheckpoints(
            db,
            sessions.values(),
            this.#settings.users ? users.values() : [],
            this.#settings.sessions,
          )),
        );
      }
      if (writes.length > 0) await this.storage.appendBatch([], { writes });
      // The states in memory are rebuilt from the events when next needed.
      this.#inline.reset();
      this.#head = undefined;
      this.#repair = undefined;
      return {
        events,
        sessions: sessionRows,
        users: userRows,
        position: head,
      };
    });
  }

  onCommit(listener: CommitListener): () => void {
    if (typeof listener !== 'function') throw invalidArgument('listener', 'expected a function');
    this.#commitListeners.add(listener);
    return () => {
      this.#commitListeners.delete(listener);
    };
  }

  #tellListeners(appends: readonly PreparedAppend[], result: AppendBatchResult): void {
    const commit: CommittedBatch = {
      streams: result.streams,
      appends,
      lastPosition: result.lastPosition,
    };
    for (const listener of this.#commitListeners) {
      try {
        listener(commit);
      } catch {
        // A listener's failure must not fail the commit it is told about.
      }
    }
  }

  // ---- lifecycle -----------------------------------------------------------------------

  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const subscription of [...this.#subscriptions]) await subscription.close();
      // Until nothing is queued or in flight (a failure queues the repair of rows).
      for (;;) {
        const queue = this.#queue;
        await queue;
        await this.#drain();
        if (queue === this.#queue && this.#inFlight.length === 0) break;
      }
      for (const session of this.#private.values()) await session.store.close();
      this.#private.clear();
      this.#cache?.clear();
      await this.storage.close();
    })();
    return this.#closing;
  }
}

function durationMs(summary: SessionSummary, nowUs: number): number {
  if (summary.started_at === null) return 0;
  return Math.max(0, nowUs - parseIsoMicros(summary.started_at)) / 1000;
}

/** Collects a transaction's appends and writes until its function returns. */
class StoreTransaction implements Transaction {
  readonly writes: RowWrite[] = [];
  readonly #appends = new Map<
    string,
    { expectedVersion: ExpectedVersion | undefined; records: PreparedAppend['records'][number][] }
  >();
  #open = true;

  constructor(private readonly store: StoreImpl) {}

  #ensureOpen(): void {
    if (!this.#open) {
      throw invalidArgument('transaction', 'is over: use it inside its function only');
    }
  }

  appendToStream(
    stream: string,
    events: readonly AppendableEvent[],
    options: AppendToStreamOptions = {},
  ): void {
    this.#ensureOpen();
    const prepared = this.store.prepareAppend(stream, events, options);
    const earlier = this.#appends.get(stream);
    if (earlier === undefined) {
      this.#appends.set(stream, {
        expectedVersion: prepared.expectedVersion,
        records: [...prepared.records],
      });
      return;
    }
    const expected = prepared.expectedVersion;
    const leadsTo =
      typeof earlier.expectedVersion === 'bigint'
        ? earlier.expectedVersion + BigInt(earlier.records.length)
        : undefined;
    if (expected !== undefined && expected !== 'any' && expected !== leadsTo) {
      throw invalidArgument(
        'options.expectedVersion',
        `stream "${stream}" is already appended to in this transaction: pass 'any' or the version its earlier events lead to`,
      );
    }
    earlier.records.push(...prepared.records);
  }

  write(...writes: readonly RowWrite[]): void {
    this.#ensureOpen();
    this.writes.push(...writes);
  }

  finish(): void {
    this.#open = false;
  }

  appends(): PreparedAppend[] {
    return [...this.#appends].map(([stream, append]) =>
      append.expectedVersion === undefined
        ? { stream, records: append.records }
        : { stream, expectedVersion: append.expectedVersion, records: append.records },
    );
  }
}
