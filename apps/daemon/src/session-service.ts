import {
  isIsoTimestamp,
  parseIsoMicros,
  sessionStream,
  tryParseIsoMicros,
  tryParseSessionId,
  type EnergyState,
} from '@wirthforge/events';
import {
  energyProjection,
  hashPromptText,
  hashTokenText,
  isConcurrencyError,
  isIdempotencyConflictError,
  isInvalidEventError,
  isStateError,
  sessionSummaryProjection,
  toEnergyState,
  type AppendableEvent,
  type PreparedAppend,
  type EventStore,
  type SessionSummary,
  type StartSessionOptions,
  type StoreRecord,
} from '@wirthforge/eventstore';
import {
  SessionRepository,
  UserRepository,
  type SessionRecord,
  type UserRecord,
} from '@wirthforge/storage';
import type { SqliteStorage } from '@wirthforge/storage-sqlite';
import { DaemonError, type RequestIssue } from './errors.js';
import { IngestBatcher, type BatchedAppendResult } from './ingest-batcher.js';

/** The most events one ingest request (HTTP or WebSocket message) may carry. */
export const MAX_BATCH_EVENTS = 10_000;

/** What an accepted batch answers: every event's global position, in order. */
export interface IngestResult {
  readonly session: string;
  readonly positions: readonly number[];
  readonly lastPosition: number;
  /** The session stream's version after the batch. */
  readonly version: number;
}

/** A session's state at a point: its energy state (the WF-TECH-004 shape) and its summary. */
export interface SessionState {
  readonly session: string;
  /** Global position of the last event folded (0 before any). */
  readonly position: number;
  /** Stream version of the last event folded. */
  readonly version: number;
  /** `null` before the first event that makes one. */
  readonly energy: EnergyState | null;
  readonly summary: SessionSummary;
}

/** Where a point-in-time state stops: a global position, a frame id or a time (all inclusive). */
export type StatePoint =
  | { readonly kind: 'position'; readonly position: bigint }
  | { readonly kind: 'frame'; readonly frame: number }
  | { readonly kind: 'time'; readonly timestampUs: number };

/** Parses `?at=`: `123` (a position), `frame:456` or an ISO-8601 time (also as `time:…`). */
export function parseStatePoint(raw: string): StatePoint {
  if (/^\d+$/.test(raw)) return { kind: 'position', position: BigInt(raw) };
  const frame = /^frame:(\d+)$/.exec(raw);
  if (frame?.[1] !== undefined && Number.isSafeInteger(Number(frame[1]))) {
    return { kind: 'frame', frame: Number(frame[1]) };
  }
  const time = raw.startsWith('time:') ? raw.slice(5) : raw;
  if (isIsoTimestamp(time)) return { kind: 'time', timestampUs: parseIsoMicros(time) };
  throw new DaemonError(
    'invalid_request',
    `query parameter at: ${JSON.stringify(raw)} is not a position (digits), frame:N or an ISO-8601 UTC time`,
    {
      issues: [
        { path: '/query/at', keyword: 'format', message: 'position, frame:N or ISO-8601 time' },
      ],
    },
  );
}

/** Told of every accepted batch (for metrics). */
export type IngestObserver = (batch: {
  readonly session: string;
  readonly events: number;
  readonly durationMs: number;
}) => void;

/** Options of {@link SessionService}. */
export interface SessionServiceOptions {
  readonly store: EventStore;
  /** Kysely over the storage's read connection (repositories). */
  readonly db: SqliteStorage['db'];
  /** Keep token text (privacy off). Prompt text is always hashed. */
  readonly storeContent: boolean;
  readonly onIngest?: IngestObserver;
  /**
   * Called before a session's `system.end` is written, once its ingests in flight are
   * done: events derived from them (the analytics' peaks and anomalies) are stored first.
   */
  readonly beforeEnd?: (sessionId: string) => Promise<void>;
}

/** Filters of {@link SessionService.listEvents}. */
export interface ListEventsOptions {
  /** First global position (inclusive). */
  readonly from?: bigint;
  readonly limit: number;
  readonly types?: readonly string[];
  /** Only events at or after this time (microseconds). */
  readonly sinceUs?: number;
  /** Only events at or before this time (microseconds). */
  readonly untilUs?: number;
}

type Status = 'active' | 'ending' | 'ended';

/**
 * The daemon's use of the event store for the session routes, shared by HTTP and the
 * WebSocket: checks that a batch goes to a running session of the right id, hashes
 * prompt (and by default token) text as the recorder does, appends, and maps the store's
 * errors to {@link DaemonError}s that say what and where. Validation itself is the
 * store's (every problem of every event, with its index and JSON Pointer).
 */
export class SessionService {
  readonly store: EventStore;
  readonly #sessions: SessionRepository;
  readonly #users: UserRepository;
  readonly #storeContent: boolean;
  readonly #onIngest: IngestObserver | undefined;
  readonly #beforeEnd: ((sessionId: string) => Promise<void>) | undefined;
  /** Status of sessions seen by this process (the daemon is the store's only writer). */
  readonly #status = new Map<string, Status>();
  /** Ingests in flight per session, so that ending a session waits for them. */
  readonly #inFlight = new Map<string, Set<Promise<unknown>>>();
  readonly #lookups = new Map<string, Promise<Status | 'missing'>>();
  readonly #private = new Set<string>();
  readonly #batcher: IngestBatcher;
  #accepting = true;

  constructor(options: SessionServiceOptions) {
    this.store = options.store;
    this.#sessions = new SessionRepository(options.db);
    this.#users = new UserRepository(options.db);
    this.#storeContent = options.storeContent;
    this.#onIngest = options.onIngest;
    this.#beforeEnd = options.beforeEnd;
    this.#batcher = new IngestBatcher(options.store);
  }

  /** Refuses ingest and new sessions from now on (`stopping`). */
  stopAccepting(): void {
    this.#accepting = false;
  }

  /** Waits for every ingest in flight. */
  async drain(): Promise<void> {
    const all = [...this.#inFlight.values()].flatMap((set) => [...set]);
    await Promise.allSettled(all);
  }

  #assertAccepting(): void {
    if (!this.#accepting) {
      throw new DaemonError(
        'stopping',
        'the daemon is stopping and accepts no more events; retry once it is back',
      );
    }
  }

  /** Starts a session (`system.start` by the store). */
  async start(options: StartSessionOptions): Promise<{
    session: string;
    stream: string;
    position: number;
    startedAt: string;
    private: boolean;
  }> {
    this.#assertAccepting();
    const handle = await this.store.startSession(options);
    this.#status.set(handle.id, 'active');
    if (handle.private) this.#private.add(handle.id);
    return {
      session: handle.id,
      stream: handle.stream,
      position: Number(handle.position),
      startedAt: handle.startedAt,
      private: handle.private,
    };
  }

  /** The status of a session, from this process's memory or the sessions table. */
  async status(sessionId: string): Promise<Status | 'missing'> {
    const known = this.#status.get(sessionId);
    if (known !== undefined) return known;
    const row = await this.#sessions.get(sessionId);
    if (row === undefined) return 'missing';
    const status: Status = row.status === 'active' ? 'active' : 'ended';
    this.#status.set(sessionId, status);
    return status;
  }

  async #requireRunning(sessionId: string): Promise<void> {
    const status = await this.status(sessionId);
    if (status === 'missing') throw notFound(sessionId);
    if (status !== 'active') throw endedError(sessionId);
  }

  /**
   * Appends a batch to a session, all or nothing; resolves once it is durable (after
   * COMMIT), with each event's position. An event whose `event_id` is stored with the
   * same content gets its original position.
   */
  ingest(sessionId: string, events: unknown): Promise<IngestResult> {
    let run: Promise<IngestResult>;
    try {
      this.#assertAccepting();
      checkSessionId(sessionId);
      checkBatch(events);
      // Batches of one session are appended in the order they arrive: a known session
      // goes to the store synchronously, unknown ones all wait for the same lookup.
      const known = this.#status.get(sessionId);
      run =
        known === undefined
          ? this.#appendAfterLookup(sessionId, events)
          : this.#append(sessionId, events, known);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    let set = this.#inFlight.get(sessionId);
    if (set === undefined) {
      set = new Set();
      this.#inFlight.set(sessionId, set);
    }
    const tracked = run.catch(() => undefined);
    const inFlight = set;
    inFlight.add(tracked);
    void tracked.then(() => {
      inFlight.delete(tracked);
      if (inFlight.size === 0 && this.#inFlight.get(sessionId) === inFlight)
        this.#inFlight.delete(sessionId);
    });
    return run;
  }

  /**
   * {@link #append} once the session's status is known. A method of its own so that the
   * closure waiting for the lookup is the only one that holds the batch: a closure in
   * {@link ingest} would keep every batch alive until its commit.
   */
  #appendAfterLookup(sessionId: string, events: readonly unknown[]): Promise<IngestResult> {
    return this.#lookup(sessionId).then((status) => this.#append(sessionId, events, status));
  }

  #lookup(sessionId: string): Promise<Status | 'missing'> {
    let pending = this.#lookups.get(sessionId);
    if (pending === undefined) {
      pending = this.status(sessionId).finally(() => this.#lookups.delete(sessionId));
      this.#lookups.set(sessionId, pending);
    }
    return pending;
  }

  #append(
    sessionId: string,
    events: readonly unknown[],
    status: Status | 'missing',
  ): Promise<IngestResult> {
    if (status === 'missing') throw notFound(sessionId);
    if (status !== 'active') throw endedError(sessionId);
    // A loop rather than closures: nothing here may hold the parsed events once they are
    // encoded, or every batch in flight would outlive the young generation until its commit.
    const count = events.length;
    const issues: RequestIssue[] = [];
    const prepared: AppendableEvent[] = [];
    for (let index = 0; index < count; index++) {
      const raw = events[index];
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
        prepared.push(raw as AppendableEvent);
        continue;
      }
      const event = raw as Record<string, unknown>;
      if (event.session_id !== sessionId && typeof event.session_id === 'string') {
        issues.push({
          index,
          path: '/session_id',
          keyword: 'wrong_session',
          message: `names session ${event.session_id}, but the batch is sent to session ${sessionId}`,
        });
      }
      const type = event.type;
      if (type === 'system.start' || type === 'system.end') {
        issues.push({
          index,
          path: '/type',
          keyword: 'lifecycle_event',
          message: `${type} is written by POST /v1/sessions${type === 'system.end' ? '/:id/end' : ''}, not ingested`,
        });
      }
      // Only an event whose `data` is an object is enriched (and only prompts and AI
      // output have text to hash); any other goes to the store as it came, whose
      // validation names every problem of it (`/data`, …) by index.
      if ((type !== 'user.prompt' && type !== 'ai.output') || !isPlainObject(event.data)) {
        prepared.push(raw as AppendableEvent);
        continue;
      }
      let enriched = hashPromptText(raw as AppendableEvent);
      if (!this.#storeContent) enriched = hashTokenText(enriched);
      prepared.push(enriched);
    }
    if (issues.length > 0) throw batchError(issues);
    const start = this.#onIngest === undefined ? 0 : performance.now();
    let append: PreparedAppend;
    try {
      append = this.store.prepareAppend(sessionStream(sessionId), prepared);
    } catch (error) {
      throw mapStoreError(error, sessionId);
    }
    // A private session lives in a memory store of its own: it cannot share a commit.
    const committed = this.#private.has(sessionId)
      ? this.store.commitBatch([append]).then((r) => r.appends[0]!)
      : this.#batcher.submit(append);
    return this.#answer(sessionId, count, start, committed);
  }

  /** The answer of an ingest once its commit settles (a method: it holds no event). */
  #answer(
    sessionId: string,
    count: number,
    start: number,
    committed: Promise<BatchedAppendResult>,
  ): Promise<IngestResult> {
    return committed.then(
      (result) => {
        this.#onIngest?.({
          session: sessionId,
          events: count,
          durationMs: performance.now() - start,
        });
        return {
          session: sessionId,
          positions: result.positions.map(Number),
          lastPosition: Number(result.positions.at(-1) ?? result.lastPosition),
          version: Number(result.nextExpectedVersion),
        };
      },
      (error: unknown) => {
        throw mapStoreError(error, sessionId);
      },
    );
  }

  /**
   * Appends events the daemon derived from a session's stored events (the analytics'
   * `energy.peak` and `energy.anomaly`) to that session, through the same group commit
   * as ingest; also while the session is ending (before its `system.end`) and while the
   * daemon is stopping. Refused once the session has ended.
   */
  async appendDerived(
    sessionId: string,
    events: readonly AppendableEvent[],
  ): Promise<IngestResult> {
    const status = await this.status(sessionId);
    if (status === 'missing') throw notFound(sessionId);
    if (status === 'ended') throw endedError(sessionId);
    let append: PreparedAppend;
    try {
      append = this.store.prepareAppend(sessionStream(sessionId), events);
    } catch (error) {
      throw mapStoreError(error, sessionId);
    }
    const result = await this.#batcher.submit(append).catch((error: unknown) => {
      throw mapStoreError(error, sessionId);
    });
    return {
      session: sessionId,
      positions: result.positions.map(Number),
      lastPosition: Number(result.positions.at(-1) ?? result.lastPosition),
      version: Number(result.nextExpectedVersion),
    };
  }

  /** Ends a session cleanly (`system.end` with its totals), after its ingests in flight. */
  async end(
    sessionId: string,
    reason: 'user_exit' | 'system_shutdown' | 'error' | 'crash',
  ): Promise<{ session: string; position: number }> {
    checkSessionId(sessionId);
    await this.#requireRunning(sessionId);
    this.#status.set(sessionId, 'ending');
    try {
      await Promise.allSettled([...(this.#inFlight.get(sessionId) ?? [])]);
      await this.#beforeEnd?.(sessionId);
      const result = await this.store.endSession(sessionId, { reason });
      this.#status.set(sessionId, 'ended');
      return { session: sessionId, position: Number(result.lastPosition) };
    } catch (error) {
      this.#status.delete(sessionId);
      throw mapStoreError(error, sessionId);
    }
  }

  /** Marks a session ended (after recovery closed it). */
  markEnded(sessionId: string): void {
    this.#status.set(sessionId, 'ended');
  }

  /** Sessions, newest first. */
  list(options: {
    status?: 'active' | 'ended' | 'recovered';
    userId?: string;
    limit: number;
    offset: number;
  }): Promise<SessionRecord[]> {
    return this.#sessions.list(options);
  }

  /** One session's row. */
  async get(sessionId: string): Promise<SessionRecord> {
    checkSessionId(sessionId);
    const row = await this.#sessions.get(sessionId);
    if (row === undefined) throw notFound(sessionId);
    return row;
  }

  /** A user's progress. */
  async user(userId: string): Promise<UserRecord> {
    const row = await this.#users.get(userId);
    if (row === undefined) {
      throw new DaemonError(
        'not_found',
        `user ${userId} has no progress yet (no session of theirs was recorded)`,
      );
    }
    return row;
  }

  async #requireExists(sessionId: string): Promise<void> {
    checkSessionId(sessionId);
    if ((await this.status(sessionId)) === 'missing') throw notFound(sessionId);
  }

  /** A page of a session's events, in position order. */
  async listEvents(
    sessionId: string,
    options: ListEventsOptions,
  ): Promise<{ events: StoreRecord[]; next: number | null }> {
    await this.#requireExists(sessionId);
    const events: StoreRecord[] = [];
    let next: number | null = null;
    const iterable = this.store.readAll({
      ...(options.from === undefined ? {} : { fromPosition: options.from }),
      filter: {
        streams: [sessionStream(sessionId)],
        ...(options.types === undefined ? {} : { types: options.types }),
      },
    });
    for await (const record of iterable) {
      const us =
        options.sinceUs !== undefined || options.untilUs !== undefined
          ? timestampUsOf(record)
          : undefined;
      if (us !== undefined) {
        if (options.sinceUs !== undefined && us < options.sinceUs) continue;
        // Positions order a session, not clocks: stop at the first event after `until`.
        if (options.untilUs !== undefined && us > options.untilUs) break;
      }
      if (events.length === options.limit) {
        next = Number(record.position);
        break;
      }
      events.push(record);
    }
    return { events, next };
  }

  /** The current state of a session (from the store's cache of hot streams, then its tail). */
  async state(sessionId: string): Promise<SessionState> {
    await this.#requireExists(sessionId);
    const stream = sessionStream(sessionId);
    const energy = await this.store.aggregateStream(stream, energyProjection);
    const summary = await this.store.aggregateStream(stream, sessionSummaryProjection, {
      upTo: energy.version,
    });
    return {
      session: sessionId,
      position: Number(energy.position),
      version: Number(energy.version),
      energy: toEnergyState(energy.state) ?? null,
      summary: summary.state,
    };
  }

  /** The state of a session at a position, frame or time, by replay from its first event up to that point. */
  async stateAt(sessionId: string, point: StatePoint): Promise<SessionState> {
    await this.#requireExists(sessionId);
    let energy = energyProjection.initialState();
    let summary = sessionSummaryProjection.initialState();
    let position = 0n;
    let version = 0n;
    for await (const record of this.store.readStream(sessionStream(sessionId))) {
      if (!reaches(record, point)) break;
      energy = energyProjection.evolveInPlace(energy, record.event, record);
      summary = sessionSummaryProjection.evolveInPlace(summary, record.event, record);
      position = record.position;
      version = record.version;
    }
    return {
      session: sessionId,
      position: Number(position),
      version: Number(version),
      energy: toEnergyState(energy) ?? null,
      summary,
    };
  }
}

/** The event's time in microseconds (undefined when it has none a parser accepts). */
function timestampUsOf(record: StoreRecord): number | undefined {
  const timestamp = (record.event as { timestamp?: unknown }).timestamp;
  return typeof timestamp === 'string' ? tryParseIsoMicros(timestamp) : undefined;
}

function reaches(record: StoreRecord, point: StatePoint): boolean {
  switch (point.kind) {
    case 'position':
      return record.position <= point.position;
    case 'frame': {
      const frame = (record.event as { frame_id?: unknown }).frame_id;
      return typeof frame !== 'number' || frame <= point.frame;
    }
    case 'time':
      return (timestampUsOf(record) ?? Number.POSITIVE_INFINITY) <= point.timestampUs;
  }
}

function checkSessionId(sessionId: string): void {
  if (tryParseSessionId(sessionId) === undefined) {
    throw new DaemonError(
      'invalid_request',
      `session id ${JSON.stringify(sessionId)} is not of the form YYYYMMDDTHHMMSSZ_NNN`,
      {
        issues: [{ path: '/params/id', keyword: 'pattern', message: 'YYYYMMDDTHHMMSSZ_NNN' }],
      },
    );
  }
}

function checkBatch(events: unknown): asserts events is readonly unknown[] {
  if (!Array.isArray(events)) {
    throw new DaemonError('invalid_request', 'events: must be an array of events', {
      issues: [{ path: '/events', keyword: 'type', message: 'must be an array' }],
    });
  }
  if (events.length === 0 || events.length > MAX_BATCH_EVENTS) {
    throw new DaemonError(
      'invalid_request',
      `events: a batch holds 1 to ${MAX_BATCH_EVENTS} events, got ${events.length}`,
      {
        issues: [
          {
            path: '/events',
            keyword: events.length === 0 ? 'minItems' : 'maxItems',
            message: `1 to ${MAX_BATCH_EVENTS} events`,
          },
        ],
      },
    );
  }
}

function endedError(sessionId: string): DaemonError {
  return new DaemonError(
    'session_ended',
    `session ${sessionId} has ended; its events can no longer change; start a new session`,
  );
}

function notFound(sessionId: string): DaemonError {
  return new DaemonError(
    'session_not_found',
    `session ${sessionId} does not exist; start one with POST /v1/sessions`,
  );
}

function describe(issues: readonly RequestIssue[]): string {
  const shown = issues
    .slice(0, 3)
    .map((i) => `event ${i.index ?? '?'} at ${i.path || '/'}: ${i.message}`);
  return `${issues.length} problem${issues.length === 1 ? '' : 's'} in the batch, nothing was stored: ${shown.join('; ')}${issues.length > 3 ? '; …' : ''}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function batchError(issues: readonly RequestIssue[]): DaemonError {
  const first = issues[0]?.keyword;
  const code =
    first === 'unknown_type'
      ? 'unknown_type'
      : first === 'wrong_session' || first === 'stream'
        ? 'wrong_session'
        : first === 'lifecycle_event'
          ? 'lifecycle_event'
          : 'invalid_event';
  return new DaemonError(code, describe(issues), { issues });
}

/** The store's errors as the API reports them. */
export function mapStoreError(error: unknown, sessionId: string): unknown {
  if (isInvalidEventError(error)) {
    return batchError(
      error.issues.map((i) => ({
        index: i.index,
        path: i.path,
        keyword: i.keyword === 'stream' ? 'wrong_session' : i.keyword,
        message: i.message,
      })),
    );
  }
  if (isIdempotencyConflictError(error)) {
    return new DaemonError(
      'event_id_conflict',
      `${error.message}; nothing of the batch was stored`,
      { cause: error },
    );
  }
  if (isConcurrencyError(error))
    return new DaemonError('conflict', error.message, { cause: error });
  if (isStateError(error, 'session_not_found')) return notFound(sessionId);
  if (isStateError(error, 'session_ended')) {
    return new DaemonError('session_ended', `session ${sessionId} has ended; start a new session`, {
      cause: error,
    });
  }
  if (isStateError(error, 'closed'))
    return new DaemonError('stopping', 'the daemon is stopping', { cause: error });
  return error;
}
