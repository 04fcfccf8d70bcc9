import type { RowWrite, RowWriteResult } from './row-write.js';

/**
 * The storage contract every dialect implements. Payloads arrive already encoded
 * (`@wirthforge/events` owns the codec); the storage layer stores bytes, assigns
 * positions and versions, and enforces concurrency and idempotency atomically.
 *
 * Numbering: positions and stream versions start at 1 and have no gaps. A stream
 * with no events has version 0n, so `'no_stream'` and `0n` mean the same thing.
 */

/** What the caller believes the stream's version is before the append. */
export type ExpectedVersion = bigint | 'no_stream' | 'stream_exists' | 'any';

/** One event to append, with its payload encoded by the caller. */
export interface NewEventRecord {
  /** Event type name, e.g. `energy.update`. Stored through a type dictionary. */
  readonly type: string;
  /** Version of that type's schema the payload was written with. */
  readonly schemaVersion: number;
  /** Integer microseconds since the Unix epoch (safe as a number until year 2255). */
  readonly timestampUs: number;
  /** Frame the event belongs to, when it has one. */
  readonly frameId?: number | undefined;
  /** Client event id for idempotent appends (global scope). */
  readonly eventId?: string | undefined;
  /** Encoded payload (msgpack). */
  readonly payload: Uint8Array;
}

/**
 * What a stream records: one per session, one per user, and system streams. Set when
 * the stream is created and never changed afterwards.
 */
export type StreamKind = 'session' | 'user' | 'system';

/**
 * The kind a new stream gets when its append does not say: `session-…` and `session:…`
 * are session streams, `user-…` and `user:…` user streams, everything else system.
 */
export function streamKindOf(stream: string): StreamKind {
  if (stream.startsWith('session-') || stream.startsWith('session:')) return 'session';
  if (stream.startsWith('user-') || stream.startsWith('user:')) return 'user';
  return 'system';
}

/** Appends to one stream inside a batch. */
export interface StreamAppend {
  readonly stream: string;
  readonly expectedVersion: ExpectedVersion;
  readonly events: readonly NewEventRecord[];
  /**
   * Kind of the stream if this append creates it. Default: {@link streamKindOf} of the
   * name (`session-…` → session, `user-…` → user, anything else → system). Ignored for a
   * stream that already exists.
   */
  readonly kind?: StreamKind | undefined;
}

/** What one stream's part of a batch became. */
export interface StreamAppendResult {
  readonly stream: string;
  /** The stream's version after the append: pass it as `expectedVersion` next time. */
  readonly nextExpectedVersion: bigint;
  /** Global position of each event of the request, in request order (original positions for idempotent repeats). */
  readonly positions: readonly bigint[];
}

/** What an {@link EventStorage.appendBatch} call committed. */
export interface AppendBatchResult {
  /** One entry per {@link StreamAppend} of the request, in request order. */
  readonly streams: readonly StreamAppendResult[];
  /** Highest global position in the store after the batch committed. */
  readonly lastPosition: bigint;
  /** One entry per {@link RowWrite} of the request, in request order. */
  readonly writes: readonly RowWriteResult[];
}

/** Options of {@link EventStorage.appendBatch}. */
export interface AppendBatchOptions {
  /**
   * Relational writes committed in the same transaction as the events, after them (so
   * a stream created by the batch can be referenced). If the batch fails, none of them
   * is applied.
   */
  readonly writes?: readonly RowWrite[] | undefined;
}

/** An event as stored. */
export interface StoredEventRecord {
  readonly position: bigint;
  readonly stream: string;
  readonly version: bigint;
  readonly type: string;
  readonly schemaVersion: number;
  readonly timestampUs: number;
  readonly frameId: number | null;
  readonly eventId: string | null;
  readonly payload: Uint8Array;
}

/** Options of {@link EventStorage.readStream}. */
export interface ReadStreamOptions {
  /** First version to read (inclusive). Default: 1n forwards, the last version backwards. */
  readonly from?: bigint;
  /** Last version to read (inclusive). */
  readonly to?: bigint;
  /** Stop after this many events. */
  readonly maxCount?: number;
  /** Default `'forwards'` (ascending versions). */
  readonly direction?: 'forwards' | 'backwards';
}

/** Options of {@link EventStorage.readAll}. */
export interface ReadAllOptions {
  /** First position to read (inclusive). Default 1n. */
  readonly fromPosition?: bigint;
  /** Last position to read (inclusive). */
  readonly toPosition?: bigint;
  /** Stop after this many events. */
  readonly maxCount?: number;
  /** Only these event types. */
  readonly types?: readonly string[];
  /** Only these streams. */
  readonly streams?: readonly string[];
}

/**
 * The storage contract: an append-only log of events in streams, with global positions,
 * per-stream versions, optimistic concurrency and idempotent appends, plus relational
 * writes that commit with the events. Every dialect implements it and runs
 * `storageContractSuite` from `@wirthforge/storage/testing`.
 *
 * All methods reject with a `StorageError` (see `errors.ts`); bad arguments with code
 * `invalid_argument`, saying what and where.
 *
 * @example
 * ```ts
 * const result = await storage.appendBatch([
 *   { stream: 'session-42', expectedVersion: 'no_stream', events: [startEvent] },
 * ]);
 * for await (const event of storage.readStream('session-42')) console.log(event.position);
 * ```
 */
export interface EventStorage {
  /**
   * Appends events to one or more streams and applies relational writes, atomically:
   * everything commits or nothing does. The promise resolves only after the commit is
   * durable as the dialect promises it (e.g. SQLite `synchronous=FULL`).
   *
   * Each stream's `expectedVersion` is checked inside the transaction: a bigint must
   * equal the stream's version, `'no_stream'` means version 0, `'stream_exists'` means
   * version > 0, `'any'` skips the check. A mismatch rejects with `ConcurrencyError`.
   *
   * Idempotency: an event whose `eventId` is already stored with the same content
   * (stream, type, schema version, timestamp, frame id, payload bytes) is not written
   * again; its original position is returned. If every event of a stream's append is
   * such a repeat, that stream's version check is skipped, so a retried write that was
   * already acknowledged succeeds. The same id with different content rejects with
   * `IdempotencyConflictError` (code `idempotency_conflict`).
   *
   * A batch may name a stream only once. An append with no events only checks the
   * expected version.
   */
  appendBatch(
    appends: readonly StreamAppend[],
    options?: AppendBatchOptions,
  ): Promise<AppendBatchResult>;

  /**
   * Reads one stream's events in version order. Unknown streams read as empty. Reads in
   * bounded pages, so a long read never holds one read transaction open; events appended
   * while reading may or may not be seen, but the read never skips or repeats one.
   */
  readStream(stream: string, options?: ReadStreamOptions): AsyncIterable<StoredEventRecord>;

  /**
   * Reads events of all streams in position order, optionally filtered by types and
   * streams. Without `toPosition`, reads up to the head as it was when the read started.
   */
  readAll(options?: ReadAllOptions): AsyncIterable<StoredEventRecord>;

  /**
   * The events of {@link EventStorage.readStream}, a page (an array, in order) at a time:
   * one await per page instead of one per event, for replays and exports. Optional for a
   * dialect; callers use the `readStreamPages` function, which falls back to grouping
   * `readStream`.
   */
  readStreamPages?(
    stream: string,
    options?: ReadStreamOptions,
  ): AsyncIterable<readonly StoredEventRecord[]>;

  /**
   * The events of {@link EventStorage.readAll}, a page (an array, in order) at a time.
   * Optional for a dialect; callers use the `readAllPages` function, which falls back to
   * grouping `readAll`.
   */
  readAllPages?(options?: ReadAllOptions): AsyncIterable<readonly StoredEventRecord[]>;

  /** The stream's current version; 0n for a stream with no events. */
  streamVersion(stream: string): Promise<bigint>;

  /** The highest position stored; 0n for an empty store. */
  headPosition(): Promise<bigint>;

  /**
   * Waits for appends in flight, then releases every resource. Idempotent. Every call
   * after it rejects with code `closed`.
   */
  close(): Promise<void>;
}
