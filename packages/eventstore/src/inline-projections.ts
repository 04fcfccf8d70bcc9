/**
 * The projections the store keeps in the relational tables, in the same transaction as
 * the events that change them: each session's row (`sessions`, from the session summary)
 * and each user's row (`users`, from user progress). Their states live in memory, one per
 * session stream and one per user, evolved in place by every commit. On first use a state
 * starts from its checkpoint (a `metadata` row committed with the events every
 * `checkpointEvery` events, see `projection-checkpoint.ts`) and folds the events after
 * it; without a usable checkpoint it folds every event from the first.
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
import {
  CheckpointRejected,
  type CheckpointRejection,
  checkpointWrite,
  decodeCheckpoint,
  type SessionCheckpoint,
  type UserCheckpoint,
} from './projection-checkpoint.js';
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
  /**
   * Events folded into a state between two of its checkpoints; 0 for no checkpoints
   * (every state is then folded from the first event when first needed).
   */
  readonly checkpointEvery: number;
  /** Told of each stored checkpoint that failed a check (the state is then folded from the first event). */
  readonly onCheckpointRejected?: ((rejection: CheckpointRejection) => void) | undefined;
}

/** What the inline projections read from the store to load a state. */
export interface ProjectionSource {
  /** A stream's events from version `from` (default 1n). */
  readStream(stream: string, from?: bigint): AsyncIterable<StoreRecord>;
  readAll(options: {
    readonly fromPosition?: bigint;
    readonly toPosition: bigint;
    readonly streams?: readonly string[];
    readonly types?: readonly string[];
  }): AsyncIterable<StoreRecord>;
  /** Streams of the sessions whose owner is `userId`, as far as `head`. */
  sessionStreamsOf(userId: string, head: bigint): Promise<readonly string[]>;
  /**
   * The stored checkpoint of a stream (the `metadata` value), once the commits in flight
   * are in; absent when the storage cannot be read (checkpoints are then not written).
   */
  readCheckpoint?(stream: string): Promise<string | undefined>;
  /** Which of these event ids the storage holds (any stream). */
  storedEventIds?(ids: readonly string[]): Promise<ReadonlySet<string>>;
}

interface SessionEntry {
  readonly stream: string;
  readonly sessionId: string;
  summary: SessionSummary;
  /** `user_id` of the session's first `system.start`: the user its events count for. */
  owner: string | undefined;
  version: bigint;
  /** Position of the last event folded. */
  position: bigint;
  /**
   * Event ids stored in the stream: appending one again writes nothing. Complete only
   * for a state folded from the first event; a state started from a checkpoint knows
   * the ids of the events after it and asks the storage about the others.
   */
  readonly eventIds: Set<string>;
  idsComplete: boolean;
  /** Events folded since the last checkpoint. */
  sinceCheckpoint: number;
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
  /** Every event of the user's streams up to this position is folded. */
  position: bigint;
  /** Session streams whose events count for the user. */
  readonly owned: Set<string>;
  readonly eventIds: Set<string>;
  idsComplete: boolean;
  sinceCheckpoint: number;
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
  /** Position of the last record given. */
  position = 0n;
  readonly eventIds = new Set<string>();
  readonly #owners = new Map<string, string | undefined>();

  constructor(
    readonly userId: string,
    readonly stream: string,
  ) {}

  /** Goes on from a checkpoint: records after its position come next. */
  resume(checkpoint: UserCheckpoint): void {
    this.progress = checkpoint.progress;
    this.updatedUs = checkpoint.updatedUs;
    this.version = BigInt(checkpoint.version);
    this.events = checkpoint.events;
    this.position = BigInt(checkpoint.position);
    for (const stream of checkpoint.owned) this.#owners.set(stream, this.userId);
  }

  /** Session streams whose events count for the user. */
  owned(): string[] {
    const out: string[] = [];
    for (const [stream, owner] of this.#owners) if (owner === this.userId) out.push(stream);
    return out;
  }

  /** The checkpoint of the fold as it stands. */
  checkpoint(): UserCheckpoint {
    return {
      kind: 'user',
      stream: this.stream,
      userId: this.userId,
      version: Number(this.version),
      position: Number(this.position),
      events: this.events,
      updatedUs: this.updatedUs,
      owned: this.owned(),
      progress: this.progress,
    };
  }

  add(record: StoreRecord): void {
    this.position = record.position;
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

type Entry = SessionEntry | UserEntry;

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

  /** Whether states are checkpointed (and started from their checkpoints). */
  get #checkpoints(): boolean {
    return this.settings.checkpointEvery > 0 && this.source.readCheckpoint !== undefined;
  }

  #rejected(error: unknown): void {
    if (!(error instanceof CheckpointRejected)) throw error;
    if (error.reason === 'withdrawn') return;
    try {
      this.settings.onCheckpointRejected?.({
        stream: error.stream,
        reason: error.reason,
        message: error.message,
      });
    } catch {
      // A failing listener must not fail the commit that loads the state.
    }
  }

  async #checkpoint<K extends 'session' | 'user'>(
    stream: string,
    kind: K,
    head: bigint,
  ): Promise<Extract<SessionCheckpoint | UserCheckpoint, { kind: K }> | undefined> {
    const value = await this.source.readCheckpoint?.(stream);
    if (value === undefined) return undefined;
    try {
      const checkpoint = decodeCheckpoint(stream, kind, value);
      if (BigInt(checkpoint.position) > head) {
        throw new CheckpointRejected(
          stream,
          'beyond_log',
          `checkpoint of "${stream}" covers position ${checkpoint.position}, the log ends at ${head}`,
        );
      }
      return checkpoint;
    } catch (error) {
      this.#rejected(error);
      return undefined;
    }
  }

  async #session(
    stream: string,
    sessionId: string,
    head: bigint,
    seed = true,
  ): Promise<SessionEntry> {
    const known = this.#sessions.get(stream);
    if (known !== undefined) {
      // Most recently used last, for the eviction of ended sessions.
      this.#sessions.delete(stream);
      this.#sessions.set(stream, known);
      return known;
    }
    const fresh = (): SessionEntry => ({
      stream,
      sessionId,
      summary: sessionSummaryProjection.initialState(),
      owner: undefined,
      version: 0n,
      position: 0n,
      eventIds: new Set(),
      idsComplete: true,
      sinceCheckpoint: 0,
    });
    let entry: SessionEntry | undefined;
    const checkpoint =
      seed && this.#checkpoints ? await this.#checkpoint(stream, 'session', head) : undefined;
    // A checkpoint written while the summary was off holds none.
    if (checkpoint !== undefined && (checkpoint.summary !== null || !this.settings.sessions)) {
      entry = {
        ...fresh(),
        summary: checkpoint.summary ?? sessionSummaryProjection.initialState(),
        owner: checkpoint.owner ?? undefined,
        version: BigInt(checkpoint.version),
        position: BigInt(checkpoint.position),
        idsComplete: false,
      };
      // The checkpoint's own event first: it must be where the checkpoint says.
      let first = true;
      for await (const record of this.source.readStream(stream, entry.version)) {
        if (first) {
          first = false;
          if (record.version === entry.version && record.position === entry.position) continue;
          this.#rejected(
            new CheckpointRejected(
              stream,
              'beyond_log',
              `checkpoint of "${stream}" says version ${entry.version} is at position ${entry.position}, the log says ${record.position}`,
            ),
          );
          entry = undefined;
          break;
        }
        if (record.position > head) break;
        this.#foldSession(entry, record.event, record);
      }
      if (first && entry !== undefined) {
        this.#rejected(
          new CheckpointRejected(
            stream,
            'beyond_log',
            `checkpoint of "${stream}" covers version ${entry.version}, the stream does not have it`,
          ),
        );
        entry = undefined;
      }
    }
    if (entry === undefined) {
      entry = fresh();
      for await (const record of this.source.readStream(stream)) {
        if (record.position > head) break;
        this.#foldSession(entry, record.event, record);
      }
    }
    this.#sessions.set(stream, entry);
    return entry;
  }

  async #user(userId: string, head: bigint, seed = true): Promise<UserEntry> {
    const known = this.#users.get(userId);
    if (known !== undefined) return known;
    const stream = userStream(userId);
    const sessions = await this.source.sessionStreamsOf(userId, head);
    const fold = new UserProgressFold(userId, stream);
    let checkpoint =
      seed && this.#checkpoints ? await this.#checkpoint(stream, 'user', head) : undefined;
    if (checkpoint !== undefined) {
      // A session it counts that is gone (purged) makes it stale.
      const known = new Set(sessions);
      const gone = checkpoint.owned.find((owned) => !known.has(owned));
      if (gone !== undefined) {
        this.#rejected(
          new CheckpointRejected(
            stream,
            'stale',
            `checkpoint of "${stream}" counts session "${gone}", which the store no longer has`,
          ),
        );
        checkpoint = undefined;
      }
    }
    if (checkpoint !== undefined) fold.resume(checkpoint);
    const from = fold.position + 1n;
    for await (const record of this.source.readAll({
      fromPosition: from,
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
      position: head,
      owned: new Set(fold.owned()),
      eventIds: fold.eventIds,
      idsComplete: checkpoint === undefined,
      sinceCheckpoint: 0,
    };
    this.#users.set(userId, entry);
    return entry;
  }

  #sessionCheckpoint(entry: SessionEntry): RowWrite {
    entry.sinceCheckpoint = 0;
    return checkpointWrite({
      kind: 'session',
      stream: entry.stream,
      version: Number(entry.version),
      position: Number(entry.position),
      owner: entry.owner ?? null,
      summary: this.settings.sessions ? entry.summary : null,
    });
  }

  #userCheckpoint(entry: UserEntry, position: bigint): RowWrite {
    entry.sinceCheckpoint = 0;
    return checkpointWrite({
      kind: 'user',
      stream: entry.stream,
      userId: entry.userId,
      version: Number(entry.version),
      position: Number(position),
      events: entry.events,
      updatedUs: entry.updatedUs,
      owned: [...entry.owned],
      progress: entry.progress,
    });
  }

  /**
   * Asks the storage about the event ids of appends to states started from a checkpoint
   * (which know only the ids stored after it): those stored are added to the state's ids.
   */
  async #lookUpIds(
    appends: readonly PreparedAppend[],
    entries: readonly (Entry | undefined)[],
  ): Promise<void> {
    if (this.source.storedEventIds === undefined) return;
    const asked = new Map<string, Entry>();
    appends.forEach((append, a) => {
      const entry = entries[a];
      if (entry === undefined || entry.idsComplete) return;
      for (const record of append.records) {
        const id = record.eventId;
        if (id !== undefined && !entry.eventIds.has(id)) asked.set(id, entry);
      }
    });
    if (asked.size === 0) return;
    const stored = await this.source.storedEventIds([...asked.keys()]);
    for (const id of stored) asked.get(id)?.eventIds.add(id);
  }

  #foldSession(entry: SessionEntry, event: ProjectionEvent, meta: EventMeta): void {
    if (this.settings.sessions) {
      entry.summary = sessionSummaryProjection.evolveInPlace(entry.summary, event, meta);
    }
    entry.owner ??= ownerOf(event);
    entry.version = meta.version;
    entry.position = meta.position;
    entry.sinceCheckpoint += 1;
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
    const entries: (Entry | undefined)[] = [];
    for (const append of appends) {
      const parsed = tryParseStreamName(append.stream);
      let entry: Entry | undefined;
      if (parsed?.kind === 'session') {
        entry = await this.#session(append.stream, parsed.sessionId, head);
      } else if (parsed?.kind === 'user' && this.settings.users) {
        entry = await this.#user(parsed.userId, head);
      }
      entries.push(entry);
    }
    await this.#lookUpIds(appends, entries);
    const targets: (Target | undefined)[] = appends.map((append, a) => {
      const entry = entries[a];
      if (entry === undefined) return undefined;
      const events = this.#fresh(append, entry.eventIds);
      return 'sessionId' in entry ? { session: entry, events } : { user: entry, events };
    });
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
            ownerEntry.owned.add(session.stream);
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
      user.position = position;
      writes.push(userRow(user.userId, user.progress, user.updatedUs));
    }
    if (this.#checkpoints) {
      const every = this.settings.checkpointEvery;
      for (const session of touched.sessions) {
        if (session.sinceCheckpoint >= every) writes.push(this.#sessionCheckpoint(session));
      }
      for (const user of touched.users) {
        if (user.sinceCheckpoint >= every) writes.push(this.#userCheckpoint(user, position));
      }
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
    user.sinceCheckpoint += 1;
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
   * that then failed. The states are folded from the first event (a checkpoint written
   * with such rows may be wrong too) and their checkpoints written again.
   */
  async rows(
    sessions: Iterable<string>,
    users: Iterable<string>,
    head: bigint,
  ): Promise<RowWrite[]> {
    const writes: RowWrite[] = [];
    const checkpoints = this.#checkpoints;
    for (const stream of sessions) {
      const parsed = tryParseStreamName(stream);
      if (parsed?.kind !== 'session') continue;
      if (!this.settings.sessions && !checkpoints) continue;
      const entry = await this.#session(stream, parsed.sessionId, head, false);
      if (this.settings.sessions) {
        const row = sessionRow(entry.sessionId, entry.stream, entry.owner, entry.summary);
        if (row !== undefined) writes.push(row);
      }
      if (checkpoints && entry.version > 0n) writes.push(this.#sessionCheckpoint(entry));
    }
    if (this.settings.users) {
      for (const userId of users) {
        const entry = await this.#user(userId, head, false);
        if (checkpoints) writes.push(this.#userCheckpoint(entry, head));
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
