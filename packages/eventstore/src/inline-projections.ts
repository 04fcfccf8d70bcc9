/**
 * The projections the store keeps in the relational tables, in the same transaction as
 * the events that change them: each session's row (`sessions`, from the session summary)
 * and each user's row (`users`, from user progress). Their states live in memory, one per
 * session stream and one per user, loaded by replaying events on first use and evolved
 * in place by every commit.
 */
import {
  isEventsError,
  isUnknownEvent,
  parseIsoMicros,
  tryParseStreamName,
  userStream,
} from '@wirthforge/events';
import type {
  AppendBatchResult,
  NewEventRecord,
  RowWrite,
  SessionUpsert,
  UserUpsert,
} from '@wirthforge/storage';
import { DEFAULT_USER_ID } from './energy-projection.js';
import { InvalidEventError } from './errors.js';
import type { PreparedAppend } from './prepare-append.js';
import type { EventMeta, ProjectionEvent } from './projection.js';
import { sessionSummaryProjection, type SessionSummary } from './session-summary-projection.js';
import type { RecordDecoder, StoreRecord } from './store-record.js';
import { userProgressProjection, type UserProgress } from './user-progress-projection.js';

/** Which inline projections a store maintains. */
export interface InlineProjectionSettings {
  /** Keep `sessions` rows (session summary). */
  readonly sessions: boolean;
  /** Keep `users` rows (user progress). */
  readonly users: boolean;
}

/** What the inline projections read from the store to load a state. */
export interface ProjectionSource {
  readStream(stream: string): AsyncIterable<StoreRecord>;
  readAll(options: {
    readonly toPosition: bigint;
    readonly streams?: readonly string[];
    readonly types?: readonly string[];
  }): AsyncIterable<StoreRecord>;
  /** Streams of the sessions whose owner is `userId`, as far as `head`. */
  sessionStreamsOf(userId: string, head: bigint): Promise<readonly string[]>;
}

interface SessionEntry {
  readonly stream: string;
  readonly sessionId: string;
  summary: SessionSummary;
  /** `user_id` of the session's first `system.start`: the user its events count for. */
  owner: string | undefined;
  version: bigint;
  /** Event ids stored in the stream: appending one again writes nothing. */
  readonly eventIds: Set<string>;
}

interface UserEntry {
  readonly userId: string;
  readonly stream: string;
  progress: UserProgress;
  /** Timestamp of the latest event folded, in microseconds. */
  updatedUs: number;
  /** Version of the user's own stream. */
  version: bigint;
  /** Events folded. */
  events: number;
  readonly eventIds: Set<string>;
}

/** What {@link InlineProjections.plan} prepared for one commit. */
export interface CommitPlan {
  /** The projections' rows, to commit with the events. */
  readonly writes: readonly RowWrite[];
  /** Per append, per event: the position it should get, `undefined` for a repeat. */
  readonly predicted: readonly (readonly (bigint | undefined)[])[];
  /** Head of the store the plan started from. */
  readonly head: bigint;
  /** The store's head once the commit is in, as predicted. */
  readonly nextHead: bigint;
  /** Session streams whose states the commit evolved. */
  readonly sessions: readonly string[];
  /** Users whose states the commit evolved. */
  readonly users: readonly string[];
}

const NOTHING: readonly string[] = [];

const EMPTY_PLAN_WRITES: readonly RowWrite[] = [];

/** Ended sessions whose states are kept for late events; older ones are reloaded on demand. */
const MAX_ENDED_SESSIONS = 256;

/** The owner a `system.start` names, if it names a usable one. */
export function ownerOf(event: ProjectionEvent): string | undefined {
  if (isUnknownEvent(event) || event.type !== 'system.start') return undefined;
  const userId = event.data.user_id;
  return typeof userId === 'string' && tryParseStreamName(`user-${userId}`)?.kind === 'user'
    ? userId
    : undefined;
}

function timestampUsOf(event: ProjectionEvent): number {
  return parseIsoMicros(isUnknownEvent(event) ? event.event.timestamp : event.timestamp);
}

/** The `sessions` row of a session summary, once the session has an event. */
export function sessionRow(
  sessionId: string,
  stream: string,
  owner: string | undefined,
  summary: SessionSummary,
): SessionUpsert | undefined {
  if (summary.status === 'not_started' || summary.started_at === null) return undefined;
  return {
    kind: 'session.upsert',
    sessionId,
    stream,
    userId: owner ?? DEFAULT_USER_ID,
    status:
      summary.status === 'active'
        ? 'active'
        : summary.end_reason === 'recovered'
          ? 'recovered'
          : 'ended',
    startedUs: rowMicros(summary.started_at),
    endedUs: summary.ended_at === null ? null : rowMicros(summary.ended_at),
    cleanEnd: summary.clean_shutdown,
    totalEvents: summary.total_events,
    totalEnergy: summary.total_energy,
    totalTokens: summary.tokens,
    updatedUs: rowMicros(summary.last_event_at ?? summary.started_at),
  };
}

/** A timestamp for a row: rows hold microseconds since the epoch, never before it. */
function rowMicros(timestamp: string): number {
  return Math.max(0, parseIsoMicros(timestamp));
}

/** The `users` row of a user's progress. */
export function userRow(userId: string, progress: UserProgress, updatedUs: number): UserUpsert {
  return {
    kind: 'user.upsert',
    userId,
    level: progress.level,
    xp: progress.experience_points,
    totalEnergy: progress.total_energy,
    sessionsCount: progress.total_sessions,
    updatedUs: Math.max(0, updatedUs),
  };
}

/**
 * Folds a user's progress from records in position order: events of the user's own
 * stream, and events of sessions from their first `system.start` naming the user on
 * (events of a session before its first start count for nobody). The same rule decides
 * live and in replay.
 */
export class UserProgressFold {
  progress: UserProgress = userProgressProjection.initialState();
  updatedUs = 0;
  version = 0n;
  /** Events folded. */
  events = 0;
  readonly eventIds = new Set<string>();
  readonly #owners = new Map<string, string | undefined>();

  constructor(
    readonly userId: string,
    readonly stream: string,
  ) {}

  add(record: StoreRecord): void {
    if (record.stream === this.stream) {
      this.version = record.version;
      const id = eventIdOf(record.event);
      if (id !== undefined) this.eventIds.add(id);
    } else {
      let owner = this.#owners.get(record.stream);
      if (owner === undefined) {
        owner = ownerOf(record.event);
        if (owner === undefined) return;
        this.#owners.set(record.stream, owner);
      }
      if (owner !== this.userId) return;
    }
    this.progress = userProgressProjection.evolveInPlace(this.progress, record.event, record);
    this.events += 1;
    this.updatedUs = Math.max(this.updatedUs, timestampUsOf(record.event));
  }
}

function eventIdOf(event: ProjectionEvent): string | undefined {
  const id = isUnknownEvent(event) ? event.event.event_id : event.event_id;
  return typeof id === 'string' ? id : undefined;
}

/** The states a plan evolved. */
interface Touched {
  readonly sessions: Set<SessionEntry>;
  readonly users: Set<UserEntry>;
}

/**
 * The inline projections of one store. Every method runs inside the store's commit
 * queue; while earlier commits are in flight, a plan folds on top of their predicted
 * states (the source's reads wait for them to settle before loading a state).
 */
export class InlineProjections {
  readonly #sessions = new Map<string, SessionEntry>();
  readonly #users = new Map<string, UserEntry>();

  constructor(
    readonly settings: InlineProjectionSettings,
    private readonly source: ProjectionSource,
    private readonly decoder: RecordDecoder,
  ) {}

  /** Whether any inline projection is on. */
  get enabled(): boolean {
    return this.settings.sessions || this.settings.users;
  }

  /** Forgets every state; each is reloaded from the events when next needed. */
  reset(): void {
    this.#sessions.clear();
    this.#users.clear();
  }

  async #session(stream: string, sessionId: string, head: bigint): Promise<SessionEntry> {
    const known = this.#sessions.get(stream);
    if (known !== undefined) {
      // Most recently used last, for the eviction of ended sessions.
      this.#sessions.delete(stream);
      this.#sessions.set(stream, known);
      return known;
    }
    const entry: SessionEntry = {
      stream,
      sessionId,
      summary: sessionSummaryProjection.initialState(),
      owner: undefined,
      version: 0n,
      eventIds: new Set(),
    };
    for await (const record of this.source.readStream(stream)) {
      if (record.position > head) break;
      this.#foldSession(entry, record.event, record);
    }
    this.#sessions.set(stream, entry);
    return entry;
  }

  async #user(userId: string, head: bigint): Promise<UserEntry> {
    const known = this.#users.get(userId);
    if (known !== undefined) return known;
    const stream = userStream(userId);
    const sessions = await this.source.sessionStreamsOf(userId, head);
    const fold = new UserProgressFold(userId, stream);
    for await (const record of this.source.readAll({
      toPosition: head,
      streams: [stream, ...sessions],
    })) {
      fold.add(record);
    }
    const entry: UserEntry = {
      userId,
      stream,
      progress: fold.progress,
      updatedUs: fold.updatedUs,
      version: fold.version,
      events: fold.events,
      eventIds: fold.eventIds,
    };
    this.#users.set(userId, entry);
    return entry;
  }

  #foldSession(entry: SessionEntry, event: ProjectionEvent, meta: EventMeta): void {
    if (this.settings.sessions) {
      entry.summary = sessionSummaryProjection.evolveInPlace(entry.summary, event, meta);
    }
    entry.owner ??= ownerOf(event);
    entry.version = meta.version;
    const id = eventIdOf(event);
    if (id !== undefined) entry.eventIds.add(id);
  }

  #decode(append: PreparedAppend, record: NewEventRecord, index: number): ProjectionEvent {
    try {
      return this.decoder.event(append.stream, record);
    } catch (error) {
      if (!isEventsError(error)) throw error;
      throw new InvalidEventError(
        append.stream,
        [{ index, path: error.path ?? '', keyword: error.code, message: error.message }],
        { cause: error },
      );
    }
  }

  /**
   * Folds a commit's new events into the states (in place) and returns the rows to
   * commit with them. Events whose id the stream already holds (or that repeat an event
   * of the same batch) are repeats the storage will not write: they are not folded.
   * Positions are predicted from `head`, the store's head before the commit (counting
   * the commits still in flight); if a commit then fails, the store drops the states.
   */
  async plan(appends: readonly PreparedAppend[], head: bigint): Promise<CommitPlan> {
    const predicted: (bigint | undefined)[][] = [];
    if (!this.enabled) {
      let position = head;
      for (const append of appends) {
        predicted.push(append.records.map(() => (position += 1n)));
      }
      return {
        writes: EMPTY_PLAN_WRITES,
        predicted,
        head,
        nextHead: position,
        sessions: NOTHING,
        users: NOTHING,
      };
    }
    const touched: Touched = { sessions: new Set(), users: new Set() };
    try {
      return await this.#plan(appends, head, predicted, touched);
    } catch (error) {
      // The states it evolved in place are reloaded from the events when next needed.
      for (const session of touched.sessions) this.#sessions.delete(session.stream);
      for (const user of touched.users) this.#users.delete(user.userId);
      throw error;
    }
  }

  async #plan(
    appends: readonly PreparedAppend[],
    head: bigint,
    predicted: (bigint | undefined)[][],
    touched: Touched,
  ): Promise<CommitPlan> {
    // First the states the commit needs, and the events it adds to them (decoded as
    // they will read back, so live and replayed states are the same).
    interface Target {
      readonly session?: SessionEntry;
      readonly user?: UserEntry;
      /** The decoded event of each new record; `undefined` for a repeat. */
      readonly events: (ProjectionEvent | undefined)[];
    }
    const targets: (Target | undefined)[] = [];
    for (const append of appends) {
      const parsed = tryParseStreamName(append.stream);
      let target: Target | undefined;
      if (parsed?.kind === 'session') {
        const session = await this.#session(append.stream, parsed.sessionId, head);
        target = { session, events: this.#fresh(append, session.eventIds) };
      } else if (parsed?.kind === 'user' && this.settings.users) {
        const user = await this.#user(parsed.userId, head);
        target = { user, events: this.#fresh(append, user.eventIds) };
      }
      targets.push(target);
    }
    if (this.settings.users) {
      for (const target of targets) {
        const session = target?.session;
        if (session === undefined) continue;
        let owner = session.owner;
        for (const event of target?.events ?? []) {
          if (owner !== undefined) break;
          if (event !== undefined) owner = ownerOf(event);
        }
        if (owner !== undefined) await this.#user(owner, head);
      }
    }

    // Then the fold, in position order, on the states themselves.
    let position = head;
    appends.forEach((append, a) => {
      const target = targets[a];
      const positions: (bigint | undefined)[] = [];
      predicted.push(positions);
      append.records.forEach((_record, i) => {
        if (target === undefined) {
          positions.push((position += 1n));
          return;
        }
        const event = target.events[i];
        if (event === undefined) {
          positions.push(undefined);
          return;
        }
        position += 1n;
        positions.push(position);
        const { session, user } = target;
        if (session !== undefined) {
          const meta = { position, version: session.version + 1n, stream: session.stream };
          this.#foldSession(session, event, meta);
          touched.sessions.add(session);
          const owner = this.settings.users ? session.owner : undefined;
          if (owner !== undefined) {
            const ownerEntry = this.#users.get(owner)!;
            this.#foldUser(ownerEntry, event, meta);
            touched.users.add(ownerEntry);
          }
        } else if (user !== undefined) {
          const meta = { position, version: user.version + 1n, stream: user.stream };
          user.version = meta.version;
          const id = eventIdOf(event);
          if (id !== undefined) user.eventIds.add(id);
          this.#foldUser(user, event, meta);
          touched.users.add(user);
        }
      });
    });

    const writes: RowWrite[] = [];
    if (this.settings.sessions) {
      for (const session of touched.sessions) {
        const row = sessionRow(session.sessionId, session.stream, session.owner, session.summary);
        if (row !== undefined) writes.push(row);
      }
    }
    for (const user of touched.users) {
      writes.push(userRow(user.userId, user.progress, user.updatedUs));
    }
    return {
      writes,
      predicted,
      head,
      nextHead: position,
      sessions: [...touched.sessions].map((session) => session.stream),
      users: [...touched.users].map((user) => user.userId),
    };
  }

  #foldUser(user: UserEntry, event: ProjectionEvent, meta: EventMeta): void {
    user.progress = userProgressProjection.evolveInPlace(user.progress, event, meta);
    user.updatedUs = Math.max(user.updatedUs, timestampUsOf(event));
    user.events += 1;
  }

  /** The decoded new events of an append; repeats (by event id) are `undefined`. */
  #fresh(append: PreparedAppend, stored: ReadonlySet<string>): (ProjectionEvent | undefined)[] {
    const seen = new Set<string>();
    return append.records.map((record, index) => {
      const id = record.eventId;
      if (id !== undefined) {
        if (stored.has(id) || seen.has(id)) return undefined;
        seen.add(id);
      }
      return this.#decode(append, record, index);
    });
  }

  /**
   * After the commit: keeps the states when every event got the position the plan
   * predicted (always, while this store is the storage's only writer) and returns
   * `true`; otherwise forgets them all, to be rebuilt from the events, and returns
   * `false` (the rows the commit wrote may then be wrong: {@link rows} recomputes them).
   */
  confirm(plan: CommitPlan, result: AppendBatchResult): boolean {
    if (!this.enabled) return true;
    let exact = true;
    plan.predicted.forEach((positions, a) => {
      const actual = result.streams[a]?.positions ?? [];
      positions.forEach((position, i) => {
        const got = actual[i];
        if (position === undefined ? got === undefined || got > plan.head : got !== position) {
          exact = false;
        }
      });
    });
    if (!exact) {
      this.reset();
      return false;
    }
    this.#evictEnded();
    return true;
  }

  /**
   * The rows of these sessions and users as the events up to `head` give them (every
   * commit up to `head` must be settled): what repairs rows written on top of a commit
   * that then failed.
   */
  async rows(
    sessions: Iterable<string>,
    users: Iterable<string>,
    head: bigint,
  ): Promise<RowWrite[]> {
    const writes: RowWrite[] = [];
    if (this.settings.sessions) {
      for (const stream of sessions) {
        const parsed = tryParseStreamName(stream);
        if (parsed?.kind !== 'session') continue;
        const entry = await this.#session(stream, parsed.sessionId, head);
        const row = sessionRow(entry.sessionId, entry.stream, entry.owner, entry.summary);
        if (row !== undefined) writes.push(row);
      }
    }
    if (this.settings.users) {
      for (const userId of users) {
        const entry = await this.#user(userId, head);
        // No row for a user without events, as in a rebuild.
        if (entry.events === 0) continue;
        writes.push(userRow(entry.userId, entry.progress, entry.updatedUs));
      }
    }
    return writes;
  }

  #evictEnded(): void {
    let ended = 0;
    for (const entry of this.#sessions.values()) if (entry.summary.status === 'ended') ended++;
    if (ended <= MAX_ENDED_SESSIONS) return;
    for (const [stream, entry] of this.#sessions) {
      if (ended <= MAX_ENDED_SESSIONS) break;
      if (entry.summary.status !== 'ended') continue;
      this.#sessions.delete(stream);
      ended--;
    }
  }
}
