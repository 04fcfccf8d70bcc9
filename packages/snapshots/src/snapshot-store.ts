import { parseIsoMicros, toIsoMicros, type EventOfType } from '@wirthforge/events';
import {
  energyProjection,
  sessionIdOfStream,
  sessionSummaryProjection,
  type EventStore,
  type Projection,
  type StoreRecord,
} from '@wirthforge/eventstore';
import type { SnapshotInfo } from '@wirthforge/storage';
import { SnapshotError, invalidArgument } from './errors.js';
import { SnapshotIndex } from './snapshot-index.js';
import {
  SNAPSHOT_SCHEMA_VERSION,
  decodeSnapshot,
  encodeSnapshot,
  snapshotChecksum,
  type SnapshotBody,
  type StreamMeta,
} from './snapshot-codec.js';
import { applyDelta, diffState } from './structural-delta.js';

/** Why a snapshot is created: the `snapshot_type` of its `state.snapshot_created` event. */
export type SnapshotReason = 'periodic' | 'session_end' | 'migration' | 'manual';

/**
 * Upcasters of snapshot states by schema version: `upcasters[v]` turns the states of a
 * version-`v` snapshot (by projection name) into those of version `v + 1`. A snapshot
 * whose chain to {@link SNAPSHOT_SCHEMA_VERSION} has a gap is skipped for a replay.
 */
export type SnapshotUpcasters = Readonly<
  Record<number, (states: Record<string, unknown>) => Record<string, unknown>>
>;

/** Options of {@link createSnapshotStore}. */
export interface SnapshotStoreOptions {
  /**
   * The projections a snapshot holds, by their unique names. Default: the energy state
   * and the session summary.
   */
  readonly projections?: readonly Projection<unknown>[];
  /** Every `fullEvery`-th snapshot of a stream is full, the others deltas. Default 4 (1: all full). */
  readonly fullEvery?: number;
  /** Full snapshots kept per stream by {@link SnapshotStore.prune}, with their deltas. Default 3. */
  readonly keepFull?: number;
  /**
   * Besides those, {@link SnapshotStore.prune} keeps the newest full snapshot of each span
   * of this many stream versions, so a point-in-time read far back folds at most about
   * that many events; `false` keeps none of them. Default 50 000 (about 20 snapshots of
   * a few KB per million events).
   */
  readonly keepOnePer?: number | false;
  /** See {@link SnapshotUpcasters}. */
  readonly upcasters?: SnapshotUpcasters;
  /**
   * Stream that receives the `state.snapshot_created` events. Default: the session's
   * own marker stream, {@link snapshotMarkerStream} (`snapshots:session-<id>`). The
   * marker commits with the snapshot row; a stream apart from the session's keeps it out
   * of the session's versions, which a recorder writing meanwhile expects exactly, and a
   * stream per session goes with the session when it is purged (the storage purges the
   * streams named `…:<stream>` with `<stream>`), so no marker keeps a purged session's
   * id. Stores before this default wrote every marker to `system`; a purge redacts the
   * session id in those.
   */
  readonly markerStream?: string;
  /** Microseconds since the epoch. Default: the system clock. */
  readonly clock?: () => number;
}

/** Prefix of the per-session marker streams: `snapshots:<session stream>`. */
const MARKER_STREAM_PREFIX = 'snapshots:';

/**
 * The stream that receives the `state.snapshot_created` events of a session stream's
 * snapshots by default: `snapshots:<stream>`. Its kind is `system`; a purge of `<stream>`
 * removes it too (the storage purges every stream named `…:<stream>` with `<stream>`).
 *
 * @example
 * ```ts
 * snapshotMarkerStream('session-20250817T194800Z_001'); // 'snapshots:session-20250817T194800Z_001'
 * ```
 */
export function snapshotMarkerStream(stream: string): string {
  if (sessionIdOfStream(stream) === undefined)
    throw invalidArgument('stream', `"${String(stream)}" is not a session stream`);
  return MARKER_STREAM_PREFIX + stream;
}

/** Which check a snapshot failed. */
export type SnapshotRejectReason =
  | 'missing_data'
  | 'checksum_mismatch'
  | 'undecodable'
  | 'wrong_stream'
  | 'header_mismatch'
  | 'beyond_log'
  | 'schema_not_upcastable'
  | 'projection_mismatch'
  | 'base_unusable';

/** A snapshot that was not loaded, and why. */
export interface SnapshotRejection {
  readonly id: number;
  readonly stream: string;
  readonly reason: SnapshotRejectReason;
  readonly message: string;
}

/** A snapshot the store wrote. */
export interface CreatedSnapshot {
  readonly id: number;
  readonly stream: string;
  readonly kind: 'full' | 'incremental';
  readonly baseId: number | null;
  readonly reason: SnapshotReason;
  readonly streamVersion: bigint;
  readonly position: bigint;
  /** Bytes stored (compressed) and before compression. */
  readonly sizeBytes: number;
  readonly rawBytes: number;
  readonly checksum: number;
  /** Events folded since the stream's previous snapshot of this store (or since the start). */
  readonly eventsSinceLast: number;
  /** Stream and position of its `state.snapshot_created` event. */
  readonly markerStream: string;
  readonly markerPosition: bigint;
  /** Milliseconds from the start of the fold to the commit of the snapshot. */
  readonly durationMs: number;
}

/** A stream's state, rebuilt from a snapshot (or from nothing) and the events after it. */
export interface LoadedState {
  readonly stream: string;
  /** Each projection's state, by projection name. */
  readonly states: Record<string, unknown>;
  /** Version and position of the last event folded (0n when none). */
  readonly version: bigint;
  readonly position: bigint;
  readonly meta: StreamMeta;
  /** The snapshot it started from, null for a replay from the start. */
  readonly snapshotId: number | null;
  readonly snapshotVersion: bigint;
  readonly snapshotPosition: bigint;
  /** Events folded on top of the snapshot. */
  readonly eventsReplayed: number;
  /** Snapshots tried first and refused, newest first. */
  readonly rejected: readonly SnapshotRejection[];
}

/** A point in a stream's history (one field). */
export type PointInTime =
  | { readonly position: bigint }
  | { readonly version: bigint }
  | { readonly frameId: number }
  | { readonly timestamp: Date | string | number };

/** What {@link SnapshotStore.verify} found. */
export interface VerifyReport {
  readonly checked: number;
  readonly valid: number;
  readonly bad: readonly SnapshotRejection[];
}

/** What {@link SnapshotStore.prune} deleted and kept. */
export interface PruneReport {
  readonly deleted: readonly number[];
  readonly kept: number;
}

/**
 * Snapshots of streams' states over an event store: written atomically with a
 * `state.snapshot_created` event, validated on every load, pruned, and used for
 * point-in-time reads. Create it with {@link createSnapshotStore}.
 */
export interface SnapshotStore {
  /** The projections a snapshot holds. */
  readonly projections: readonly Projection<unknown>[];
  /**
   * Writes a snapshot of the stream's current state, full or a delta from its last full
   * snapshot (`kind`, default by `fullEvery`), and its `state.snapshot_created` event,
   * in one commit. The state comes from the newest valid snapshot and the events after
   * it, read through the store.
   */
  create(
    stream: string,
    options?: { readonly reason?: SnapshotReason; readonly kind?: 'full' | 'incremental' },
  ): Promise<CreatedSnapshot>;
  /**
   * The stream's current state: the newest valid snapshot plus the events after it;
   * every snapshot refused on the way is in `rejected` with its reason, and with none
   * valid the stream is replayed from its start.
   */
  load(stream: string): Promise<LoadedState>;
  /** The stream's state at a point of its history, from the nearest snapshot at or before it. */
  stateAt(stream: string, at: PointInTime): Promise<LoadedState>;
  /** Checks every snapshot of every stream; reports each bad one. */
  verify(): Promise<VerifyReport>;
  /**
   * Retention: keeps the last `keepFull` full snapshots of each stream (or of `stream`)
   * and the deltas based on them, the newest full snapshot of each span of `keepOnePer`
   * versions, never the snapshot a load would use now, nor the
   * newest of all; deletes the rest in one commit.
   */
  prune(stream?: string): Promise<PruneReport>;
  /** Snapshots of every active session, before a migration (`snapshot_type` `migration`). */
  beforeMigration(): Promise<CreatedSnapshot[]>;
  /** The event store underneath. */
  readonly store: EventStore;
  /** The snapshot index (rows without their validation). */
  readonly repository: SnapshotIndex;
}

type StorageDb = ConstructorParameters<typeof SnapshotIndex>[0];

function dbOf(store: EventStore): StorageDb {
  const db = (store.storage as { db?: unknown }).db;
  if (
    typeof db !== 'object' ||
    db === null ||
    typeof (db as { selectFrom?: unknown }).selectFrom !== 'function'
  ) {
    throw new SnapshotError(
      'unsupported_storage',
      'the store has no relational reader (storage.db): snapshots cannot be read',
    );
  }
  return db as StorageDb;
}

function systemClock(): number {
  return Math.floor((performance.timeOrigin + performance.now()) * 1000);
}

function positiveInteger(where: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw invalidArgument(
      where,
      `must be a positive integer, got ${typeof value === 'number' ? value : typeof value}`,
    );
  }
  return value;
}

/** A state being folded: mutable, owned by whoever holds it. */
interface Working {
  states: unknown[];
  version: bigint;
  position: bigint;
  meta: StreamMeta;
}

/** A validated snapshot, decoded, with its states upcast to the current version. */
interface ValidSnapshot {
  readonly info: SnapshotInfo;
  readonly body: SnapshotBody;
  readonly states: Record<string, unknown>;
}

class Rejected extends Error {
  constructor(
    readonly reason: SnapshotRejectReason,
    message: string,
  ) {
    super(message);
  }
}

/** Where a fold stops (exclusive): the first record for which it returns true. */
type StopAt = (record: StoreRecord) => boolean;

const noStop: StopAt = () => false;

/**
 * Creates a {@link SnapshotStore} over an event store whose storage has a relational
 * reader (SQLite, memory).
 *
 * @example
 * ```ts
 * const snapshots = createSnapshotStore(store);
 * const created = await snapshots.create(session.stream, { reason: 'manual' });
 * const { states, rejected } = await snapshots.load(session.stream);
 * toEnergyState(states.energy as EnergyProjectionState);
 * ```
 */
export function createSnapshotStore(
  store: EventStore,
  options: SnapshotStoreOptions = {},
): SnapshotStore {
  return new SnapshotStoreImpl(store, options);
}

class SnapshotStoreImpl implements SnapshotStore {
  readonly projections: readonly Projection<unknown>[];
  readonly repository: SnapshotIndex;
  readonly #names: string[];
  readonly #fullEvery: number;
  readonly #keepFull: number;
  readonly #keepOnePer: bigint;
  readonly #upcasters: SnapshotUpcasters;
  /** A fixed marker stream (option), or undefined for each session's own. */
  readonly #markerStream: string | undefined;
  readonly #clock: () => number;
  /** Per stream: the last full snapshot written or loaded here (base of deltas). */
  readonly #bases = new Map<
    string,
    { id: number; checksum: number; states: Record<string, unknown>; since: number }
  >();
  /** Per stream: the state as of the last snapshot written here, to fold on from. */
  readonly #last = new Map<string, Working>();
  #maxId = 0;
  /** Snapshot writes of this store, one at a time. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly store: EventStore,
    options: SnapshotStoreOptions,
  ) {
    this.repository = new SnapshotIndex(dbOf(store));
    this.projections = options.projections ?? [energyProjection, sessionSummaryProjection];
    this.#names = this.projections.map((p) => p.name);
    if (this.#names.length === 0 || new Set(this.#names).size !== this.#names.length) {
      throw invalidArgument('options.projections', 'needs at least one projection, names unique');
    }
    this.#fullEvery = positiveInteger('options.fullEvery', options.fullEvery, 4);
    this.#keepFull = positiveInteger('options.keepFull', options.keepFull, 3);
    this.#keepOnePer =
      options.keepOnePer === false
        ? 0n
        : BigInt(positiveInteger('options.keepOnePer', options.keepOnePer, 50_000));
    this.#upcasters = options.upcasters ?? {};
    if (
      options.markerStream !== undefined &&
      (typeof options.markerStream !== 'string' || options.markerStream.length === 0)
    ) {
      throw invalidArgument('options.markerStream', 'expected a non-empty stream name');
    }
    this.#markerStream = options.markerStream;
    this.#clock = options.clock ?? systemClock;
  }

  // ---- folding -----------------------------------------------------------------------

  #initial(): Working {
    return {
      states: this.projections.map((p) => p.initialState()),
      version: 0n,
      position: 0n,
      meta: { events: 0, maxFrameId: null, maxTimestamp: null },
    };
  }

  #fromSnapshot(snapshot: ValidSnapshot): Working {
    return {
      states: this.projections.map((p) => p.clone(snapshot.states[p.name])),
      version: BigInt(snapshot.body.streamVersion),
      position: BigInt(snapshot.body.position),
      meta: { ...snapshot.body.meta },
    };
  }

  /** Folds the stream's events after `work.version`, up to `to` and before `stop`. */
  async #foldTail(stream: string, work: Working, stop: StopAt, to?: bigint): Promise<number> {
    const projections = this.projections;
    const count = projections.length;
    const states = work.states;
    const meta = work.meta;
    let replayed = 0;
    if (to !== undefined && to <= work.version) return 0;
    const reader = this.store.readStream(stream, {
      from: work.version + 1n,
      ...(to === undefined ? {} : { to }),
    });
    for await (const record of reader) {
      if (stop(record)) break;
      const event = record.event;
      for (let i = 0; i < count; i++)
        states[i] = projections[i]!.evolveInPlace(states[i], event, record);
      const frame = (event as { frame_id?: unknown }).frame_id;
      if (typeof frame === 'number' && (meta.maxFrameId === null || frame > meta.maxFrameId)) {
        meta.maxFrameId = frame;
      }
      const timestamp = (event as { timestamp?: unknown }).timestamp;
      if (
        typeof timestamp === 'string' &&
        (meta.maxTimestamp === null || timestamp > meta.maxTimestamp)
      ) {
        meta.maxTimestamp = timestamp;
      }
      meta.events += 1;
      work.version = record.version;
      work.position = record.position;
      replayed++;
    }
    return replayed;
  }

  #statesOf(work: Working): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    this.projections.forEach((p, i) => {
      out[p.name] = work.states[i];
    });
    return out;
  }

  // ---- validation --------------------------------------------------------------------

  async #bytes(info: SnapshotInfo): Promise<Uint8Array> {
    const data = await this.repository.data(info.id);
    if (data === undefined || data.byteLength === 0) {
      throw new Rejected('missing_data', `snapshot ${info.id} has no bytes`);
    }
    return data;
  }

  #upcast(states: Record<string, unknown>, from: number, id: number): Record<string, unknown> {
    if (from > SNAPSHOT_SCHEMA_VERSION) {
      throw new Rejected(
        'schema_not_upcastable',
        `snapshot ${id} has schema version ${from}, newer than ${SNAPSHOT_SCHEMA_VERSION}`,
      );
    }
    let current = states;
    for (let v = from; v < SNAPSHOT_SCHEMA_VERSION; v++) {
      const upcaster = this.#upcasters[v];
      if (upcaster === undefined) {
        throw new Rejected(
          'schema_not_upcastable',
          `snapshot ${id} has schema version ${from} and no upcaster from version ${v}`,
        );
      }
      try {
        current = upcaster(current);
      } catch (error) {
        throw new Rejected(
          'schema_not_upcastable',
          `snapshot ${id}: the upcaster from version ${v} failed: ${(error as Error).message}`,
        );
      }
    }
    return current;
  }

  /**
   * Checks one snapshot and decodes it: its bytes against their checksum, the body
   * against the row and the stream, the log (its position must be the position of its
   * stream version's event), its schema version, its projections and, for a delta, its
   * base. Throws {@link Rejected}.
   */
  async #validate(info: SnapshotInfo, stream: string, log: LogBounds): Promise<ValidSnapshot> {
    const bytes = await this.#bytes(info);
    const actual = snapshotChecksum(bytes);
    if (actual !== info.checksum) {
      throw new Rejected(
        'checksum_mismatch',
        `snapshot ${info.id}: checksum of its ${bytes.byteLength} bytes is ${actual}, the row says ${info.checksum}`,
      );
    }
    let body: SnapshotBody;
    try {
      body = decodeSnapshot(bytes);
    } catch (error) {
      throw new Rejected('undecodable', `snapshot ${info.id}: ${(error as Error).message}`);
    }
    if (body.stream !== stream || info.stream !== stream) {
      throw new Rejected(
        'wrong_stream',
        `snapshot ${info.id} is filed under "${info.stream}" but holds the state of "${body.stream}"`,
      );
    }
    if (
      BigInt(body.streamVersion) !== info.streamVersion ||
      BigInt(body.position) !== info.position ||
      body.kind !== info.kind ||
      body.schemaVersion !== info.schemaVersion ||
      (body.kind === 'incremental' && body.baseId !== info.baseSnapshotId)
    ) {
      throw new Rejected(
        'header_mismatch',
        `snapshot ${info.id}: its body (${body.kind}, version ${body.streamVersion}, position ${body.position}, schema ${body.schemaVersion}) disagrees with its row (${info.kind}, version ${info.streamVersion}, position ${info.position}, schema ${info.schemaVersion})`,
      );
    }
    const version = BigInt(body.streamVersion);
    if (version > log.streamVersion || BigInt(body.position) > log.head) {
      throw new Rejected(
        'beyond_log',
        `snapshot ${info.id} covers version ${body.streamVersion} (position ${body.position}), the log ends at version ${log.streamVersion} (head ${log.head})`,
      );
    }
    const at = await log.positionOf(version);
    if (at !== BigInt(body.position)) {
      throw new Rejected(
        'beyond_log',
        `snapshot ${info.id} says version ${body.streamVersion} is at position ${body.position}, the log has it at ${at ?? 'no position'}`,
      );
    }
    let states: Record<string, unknown>;
    if (body.kind === 'full') {
      states = body.state!;
    } else {
      const baseInfo = body.baseId === null ? undefined : await this.repository.get(body.baseId);
      if (baseInfo === undefined || baseInfo.kind !== 'full') {
        throw new Rejected(
          'base_unusable',
          `snapshot ${info.id}: its base snapshot ${body.baseId} is gone or not full`,
        );
      }
      let base: { info: SnapshotInfo; body: SnapshotBody };
      try {
        base = await this.#validateBase(baseInfo, stream, log);
      } catch (error) {
        const why = error instanceof Rejected ? `${error.reason}: ${error.message}` : String(error);
        throw new Rejected('base_unusable', `snapshot ${info.id}: its base is not valid (${why})`);
      }
      if (
        base.info.checksum !== body.baseChecksum ||
        base.body.schemaVersion !== body.schemaVersion
      ) {
        throw new Rejected(
          'base_unusable',
          `snapshot ${info.id}: its base snapshot ${body.baseId} is not the one it was made from`,
        );
      }
      try {
        states = applyDelta(base.body.state, body.delta) as Record<string, unknown>;
      } catch (error) {
        throw new Rejected(
          'base_unusable',
          `snapshot ${info.id}: its delta does not apply: ${(error as Error).message}`,
        );
      }
    }
    const upcast = this.#upcast(states, body.schemaVersion, info.id);
    for (const name of this.#names) {
      if (!Object.hasOwn(upcast, name)) {
        throw new Rejected(
          'projection_mismatch',
          `snapshot ${info.id} holds no state of projection "${name}"`,
        );
      }
    }
    return { info, body, states: upcast };
  }

  /** The checks of {@link #validate} for a delta's base, whose states stay as the delta was made. */
  async #validateBase(
    info: SnapshotInfo,
    stream: string,
    log: LogBounds,
  ): Promise<{ info: SnapshotInfo; body: SnapshotBody }> {
    const bytes = await this.#bytes(info);
    if (snapshotChecksum(bytes) !== info.checksum)
      throw new Rejected('checksum_mismatch', `snapshot ${info.id}: checksum mismatch`);
    let body: SnapshotBody;
    try {
      body = decodeSnapshot(bytes);
    } catch (error) {
      throw new Rejected('undecodable', `snapshot ${info.id}: ${(error as Error).message}`);
    }
    if (body.stream !== stream || info.stream !== stream)
      throw new Rejected('wrong_stream', `snapshot ${info.id} holds "${body.stream}"`);
    if (
      body.kind !== 'full' ||
      BigInt(body.streamVersion) !== info.streamVersion ||
      BigInt(body.position) !== info.position
    ) {
      throw new Rejected('header_mismatch', `snapshot ${info.id}: body and row disagree`);
    }
    if ((await log.positionOf(BigInt(body.streamVersion))) !== BigInt(body.position)) {
      throw new Rejected('beyond_log', `snapshot ${info.id} does not match the log`);
    }
    return { info, body };
  }

  async #log(stream: string): Promise<LogBounds> {
    const [streamVersion, head] = await Promise.all([
      this.store.streamVersion(stream),
      this.store.headPosition(),
    ]);
    const cache = new Map<bigint, bigint | undefined>();
    return {
      streamVersion,
      head,
      positionOf: async (version) => {
        if (cache.has(version)) return cache.get(version);
        if (version === 0n) return 0n;
        const [record] = await this.store
          .readStream(stream, { from: version, to: version, maxCount: 1 })
          .toArray();
        const position = record?.position;
        cache.set(version, position);
        return position;
      },
    };
  }

  /**
   * The newest valid snapshot among `candidates` (newest first) that `accept` takes;
   * every refusal is pushed to `rejected`.
   */
  async #newestValid(
    stream: string,
    candidates: readonly SnapshotInfo[],
    log: LogBounds,
    rejected: SnapshotRejection[],
    accept: (snapshot: ValidSnapshot) => boolean = () => true,
  ): Promise<ValidSnapshot | undefined> {
    for (const info of candidates) {
      try {
        const snapshot = await this.#validate(info, stream, log);
        if (accept(snapshot)) return snapshot;
      } catch (error) {
        if (!(error instanceof Rejected)) throw error;
        rejected.push({ id: info.id, stream, reason: error.reason, message: error.message });
      }
    }
    return undefined;
  }

  // ---- reads -------------------------------------------------------------------------

  async #loadWorking(
    stream: string,
    filter: (info: SnapshotInfo) => boolean,
    accept: ((snapshot: ValidSnapshot) => boolean) | undefined,
    stop: StopAt,
    to: bigint | undefined,
  ): Promise<{
    work: Working;
    snapshot: ValidSnapshot | undefined;
    replayed: number;
    rejected: SnapshotRejection[];
  }> {
    if (typeof stream !== 'string' || stream.length === 0)
      throw invalidArgument('stream', 'expected a non-empty stream name');
    const [log, list] = await Promise.all([this.#log(stream), this.repository.list(stream)]);
    const rejected: SnapshotRejection[] = [];
    const snapshot = await this.#newestValid(stream, list.filter(filter), log, rejected, accept);
    const work = snapshot === undefined ? this.#initial() : this.#fromSnapshot(snapshot);
    const replayed = await this.#foldTail(stream, work, stop, to);
    return { work, snapshot, replayed, rejected };
  }

  #result(
    stream: string,
    loaded: {
      work: Working;
      snapshot: ValidSnapshot | undefined;
      replayed: number;
      rejected: SnapshotRejection[];
    },
  ): LoadedState {
    const { work, snapshot } = loaded;
    return {
      stream,
      states: this.#statesOf(work),
      version: work.version,
      position: work.position,
      meta: work.meta,
      snapshotId: snapshot?.info.id ?? null,
      snapshotVersion: snapshot === undefined ? 0n : BigInt(snapshot.body.streamVersion),
      snapshotPosition: snapshot === undefined ? 0n : BigInt(snapshot.body.position),
      eventsReplayed: loaded.replayed,
      rejected: loaded.rejected,
    };
  }

  async load(stream: string): Promise<LoadedState> {
    return this.#result(
      stream,
      await this.#loadWorking(stream, () => true, undefined, noStop, undefined),
    );
  }

  async stateAt(stream: string, at: PointInTime): Promise<LoadedState> {
    if (typeof at !== 'object' || at === null)
      throw invalidArgument(
        'at',
        'expected { position }, { version }, { frameId } or { timestamp }',
      );
    let filter: (info: SnapshotInfo) => boolean = () => true;
    let accept: ((snapshot: ValidSnapshot) => boolean) | undefined;
    let stop: StopAt = noStop;
    let to: bigint | undefined;
    if ('position' in at) {
      const position = at.position;
      if (typeof position !== 'bigint' || position < 0n)
        throw invalidArgument('at.position', 'expected a bigint >= 0n');
      filter = (info) => info.position <= position;
      stop = (record) => record.position > position;
    } else if ('version' in at) {
      const version = at.version;
      if (typeof version !== 'bigint' || version < 0n)
        throw invalidArgument('at.version', 'expected a bigint >= 0n');
      filter = (info) => info.streamVersion <= version;
      to = version;
    } else if ('frameId' in at) {
      const frame = at.frameId;
      if (typeof frame !== 'number' || !Number.isSafeInteger(frame) || frame < 0)
        throw invalidArgument('at.frameId', 'expected an integer >= 0');
      accept = (snapshot) =>
        snapshot.body.meta.maxFrameId === null || snapshot.body.meta.maxFrameId <= frame;
      stop = (record) => {
        const id = (record.event as { frame_id?: unknown }).frame_id;
        return typeof id === 'number' && id > frame;
      };
    } else if ('timestamp' in at) {
      const limit = timestampLimit(at.timestamp);
      accept = (snapshot) =>
        snapshot.body.meta.maxTimestamp === null || snapshot.body.meta.maxTimestamp <= limit;
      stop = (record) => (record.event as { timestamp: string }).timestamp > limit;
    } else {
      throw invalidArgument(
        'at',
        'expected { position }, { version }, { frameId } or { timestamp }',
      );
    }
    const loaded = await this.#loadWorking(stream, filter, accept, stop, to);
    if ('version' in at && loaded.work.version < at.version) {
      throw new SnapshotError(
        'not_found',
        `stream "${stream}" has no version ${at.version} (it ends at ${loaded.work.version})`,
      );
    }
    return this.#result(stream, loaded);
  }

  // ---- writes ------------------------------------------------------------------------

  create(
    stream: string,
    options: { readonly reason?: SnapshotReason; readonly kind?: 'full' | 'incremental' } = {},
  ): Promise<CreatedSnapshot> {
    const run = this.#queue.then(() => this.#create(stream, options));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #create(
    stream: string,
    options: { readonly reason?: SnapshotReason; readonly kind?: 'full' | 'incremental' },
  ): Promise<CreatedSnapshot> {
    const started = performance.now();
    const reason = options.reason ?? 'manual';
    if (!['periodic', 'session_end', 'migration', 'manual'].includes(reason)) {
      throw invalidArgument('options.reason', `unknown reason "${String(reason)}"`);
    }
    if (stream === this.#markerStream)
      throw invalidArgument('stream', `"${stream}" receives the snapshot markers`);
    const sessionId = sessionIdOfStream(stream);
    if (sessionId === undefined)
      throw invalidArgument('stream', `"${stream}" is not a session stream`);
    const markerStream = this.#markerStream ?? snapshotMarkerStream(stream);
    // Go on from the state of the last snapshot written here, else load.
    let work = this.#last.get(stream);
    let base = this.#bases.get(stream);
    let fromVersion = work?.version ?? 0n;
    if (work === undefined) {
      const loaded = await this.#loadWorking(stream, () => true, undefined, noStop, undefined);
      work = loaded.work;
      const snap = loaded.snapshot;
      fromVersion = snap === undefined ? 0n : BigInt(snap.body.streamVersion);
      if (snap !== undefined && snap.info.kind === 'full') {
        base = { id: snap.info.id, checksum: snap.info.checksum, states: snap.states, since: 0 };
      }
    } else {
      await this.#foldTail(stream, work, noStop);
    }
    if (work.version === 0n)
      throw new SnapshotError('empty_stream', `stream "${stream}" has no events`);
    const states = this.#statesOf(work);
    const kind =
      options.kind ??
      (base === undefined || base.since + 1 >= this.#fullEvery ? 'full' : 'incremental');
    if (kind === 'incremental' && base === undefined) {
      throw invalidArgument(
        'options.kind',
        `stream "${stream}" has no full snapshot to make a delta of`,
      );
    }
    const body: SnapshotBody = {
      stream,
      kind,
      schemaVersion: SNAPSHOT_SCHEMA_VERSION,
      streamVersion: Number(work.version),
      position: Number(work.position),
      baseId: kind === 'full' ? null : base!.id,
      baseChecksum: kind === 'full' ? null : base!.checksum,
      projections: [...this.#names],
      state: kind === 'full' ? states : null,
      delta: kind === 'full' ? null : (diffState(base!.states, states) ?? [1, {}, []]),
      meta: { ...work.meta },
    };
    const encoded = encodeSnapshot(body);
    const id = await this.#nextId();
    const nowUs = this.#clock();
    const eventsSinceLast = Number(work.version - fromVersion);
    const marker: EventOfType<'state.snapshot_created'> = {
      session_id: sessionId,
      timestamp: toIsoMicros(nowUs),
      type: 'state.snapshot_created',
      data: {
        snapshot_id: id,
        snapshot_type: reason,
        state_size_bytes: encoded.bytes.byteLength,
        events_since_last: eventsSinceLast,
        compression_ratio: Math.min(1, encoded.bytes.byteLength / Math.max(1, encoded.rawBytes)),
      },
    };
    const result = await this.store.commitBatch(
      [this.store.prepareAppend(markerStream, [marker])],
      {
        writes: [
          {
            kind: 'snapshot.insert',
            stream,
            snapshotKind: kind,
            baseSnapshotId: body.baseId,
            streamVersion: work.version,
            position: work.position,
            schemaVersion: SNAPSHOT_SCHEMA_VERSION,
            createdUs: nowUs,
            checksum: encoded.checksum,
            data: encoded.bytes,
          },
        ],
      },
    );
    const inserted = Number(result.writes[0]?.insertedId ?? -1);
    this.#maxId = Math.max(this.#maxId, inserted);
    // The state folded on from next time; the base kept as encoded (never changed).
    this.#last.set(stream, work);
    if (kind === 'full') {
      this.#bases.set(stream, {
        id: inserted,
        checksum: encoded.checksum,
        states: decodeSnapshot(encoded.bytes).state!,
        since: 0,
      });
    } else {
      base!.since += 1;
    }
    return {
      id: inserted,
      stream,
      kind,
      baseId: body.baseId,
      reason,
      streamVersion: work.version,
      position: work.position,
      sizeBytes: encoded.bytes.byteLength,
      rawBytes: encoded.rawBytes,
      checksum: encoded.checksum,
      eventsSinceLast,
      markerStream,
      markerPosition: result.appends[0]!.positions[0]!,
      durationMs: performance.now() - started,
    };
  }

  /** The id the next snapshot row gets: ids are never reused and the newest is never pruned. */
  async #nextId(): Promise<number> {
    const newest = await this.repository.newestId();
    this.#maxId = Math.max(this.#maxId, newest);
    return this.#maxId + 1;
  }

  async beforeMigration(): Promise<CreatedSnapshot[]> {
    const created: CreatedSnapshot[] = [];
    for (const session of await this.store.openSessions()) {
      if (session.private) continue;
      if ((await this.store.streamVersion(session.stream)) === 0n) continue;
      created.push(await this.create(session.stream, { reason: 'migration', kind: 'full' }));
    }
    return created;
  }

  // ---- verify and prune --------------------------------------------------------------

  async verify(): Promise<VerifyReport> {
    const bad: SnapshotRejection[] = [];
    let checked = 0;
    const byStream = await this.repository.all();
    for (const [stream, infos] of byStream) {
      const log = await this.#log(stream);
      for (const info of infos) {
        checked++;
        try {
          await this.#validate(info, stream, log);
        } catch (error) {
          if (!(error instanceof Rejected)) throw error;
          bad.push({ id: info.id, stream, reason: error.reason, message: error.message });
        }
      }
    }
    return { checked, valid: checked - bad.length, bad };
  }

  prune(stream?: string): Promise<PruneReport> {
    const run = this.#queue.then(() => this.#prune(stream));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #prune(only: string | undefined): Promise<PruneReport> {
    const byStream = await this.repository.all();
    let newestId = 0;
    for (const infos of byStream.values())
      for (const info of infos) newestId = Math.max(newestId, info.id);
    const deleted: number[] = [];
    let kept = 0;
    for (const [stream, infos] of byStream) {
      if (only !== undefined && stream !== only) {
        kept += infos.length;
        continue;
      }
      const keep = new Set<number>();
      for (const info of infos.filter((i) => i.kind === 'full').slice(0, this.#keepFull))
        keep.add(info.id);
      if (this.#keepOnePer > 0n) {
        // Newest first: the first full snapshot seen in a span is its newest.
        const spans = new Set<bigint>();
        for (const info of infos) {
          if (info.kind !== 'full') continue;
          const span = info.streamVersion / this.#keepOnePer;
          if (spans.has(span)) continue;
          spans.add(span);
          keep.add(info.id);
        }
      }
      for (const info of infos) {
        if (
          info.kind === 'incremental' &&
          info.baseSnapshotId !== null &&
          keep.has(info.baseSnapshotId)
        )
          keep.add(info.id);
      }
      // What a load would use now, and the base it needs.
      const needed = await this.#newestValid(stream, infos, await this.#log(stream), []);
      if (needed !== undefined) {
        keep.add(needed.info.id);
        if (needed.info.baseSnapshotId !== null) keep.add(needed.info.baseSnapshotId);
      }
      if (infos.some((i) => i.id === newestId)) {
        keep.add(newestId);
        const newest = infos.find((i) => i.id === newestId)!;
        if (newest.baseSnapshotId !== null) keep.add(newest.baseSnapshotId);
      }
      for (const info of infos) {
        if (keep.has(info.id)) kept += 1;
        else deleted.push(info.id);
      }
      const base = this.#bases.get(stream);
      if (base !== undefined && !keep.has(base.id)) this.#bases.delete(stream);
    }
    if (deleted.length > 0) {
      await this.store.commitBatch([], { writes: [{ kind: 'snapshot.delete', ids: deleted }] });
    }
    return { deleted, kept };
  }
}

/** The log of one stream as a load sees it. */
interface LogBounds {
  readonly streamVersion: bigint;
  readonly head: bigint;
  positionOf(version: bigint): Promise<bigint | undefined>;
}

function timestampLimit(value: Date | string | number): string {
  let us: number;
  if (value instanceof Date) us = value.getTime() * 1000;
  else if (typeof value === 'number') us = value;
  else if (typeof value === 'string') us = parseIsoMicros(value);
  else throw invalidArgument('at.timestamp', 'expected a Date, microseconds or an ISO-8601 string');
  if (!Number.isSafeInteger(us)) throw invalidArgument('at.timestamp', 'out of range');
  return toIsoMicros(us);
}
