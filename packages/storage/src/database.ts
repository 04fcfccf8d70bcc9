/**
 * Kysely table types: the one typed source of every table. Integers are JavaScript
 * numbers (safe integers: positions, versions and microsecond timestamps stay far below
 * 2^53 for any realistic store); the storage API turns positions and versions into
 * bigint at its edge.
 */
import type { Generated, Insertable, Selectable } from 'kysely';

import type { StreamKind } from './event-storage.js';

/** A session's lifecycle state. `recovered`: closed by crash recovery, not by its owner. */
export type SessionStatus = 'active' | 'ended' | 'recovered';

/** A full snapshot, or a delta from a full one. */
export type SnapshotKind = 'full' | 'incremental';

/** `streams`: one row per stream; `version` is the stream's current version. */
export interface StreamsTable {
  /** Assigned by the writer (dense, never reused). */
  id: number;
  name: string;
  kind: StreamKind;
  /** Version of the stream's last event, 0 before the first one. */
  version: number;
  created_us: number;
}

/** `event_types`: the type dictionary, so each event row carries a small integer. */
export interface EventTypesTable {
  /** Assigned by the writer. */
  id: number;
  name: string;
}

/**
 * `events`: the hot tail of the log. Kept small on purpose: integer keys, and only the
 * indexes that concurrency and idempotency need.
 */
export interface EventsTable {
  /** Global position, assigned explicitly by the writer (never an engine row id). */
  position: number;
  stream_id: number;
  version: number;
  type_id: number;
  schema_version: number;
  timestamp_us: number;
  frame_id: number | null;
  event_id: string | null;
  payload: Uint8Array;
  /** {@link eventChecksum} of the row's contents (unsigned 32 bits). */
  checksum: number;
}

/** `sessions`: one row per session, kept current by projections in the writer's transaction. */
export interface SessionsTable {
  /** The spec's session id, e.g. `20250817T194800Z_001`. */
  session_id: string;
  stream_id: number;
  user_id: string;
  status: SessionStatus;
  started_us: number;
  ended_us: number | null;
  /** 1 when the session ended cleanly, 0 when not, null while it runs. */
  clean_end: number | null;
  total_events: number;
  total_energy: number;
  total_tokens: number;
  updated_us: number;
}

/** `users`: progress of each user. */
export interface UsersTable {
  user_id: string;
  level: number;
  xp: number;
  total_energy: number;
  sessions_count: number;
  updated_us: number;
}

/** `snapshots`: the snapshot index and the snapshot bytes. */
export interface SnapshotsTable {
  id: Generated<number>;
  stream_id: number;
  kind: SnapshotKind;
  /** For an incremental snapshot, the full snapshot it is a delta of. */
  base_snapshot_id: number | null;
  /** Stream version the snapshot's state includes. */
  stream_version: number;
  /** Global position the snapshot's state includes. */
  position: number;
  schema_version: number;
  created_us: number;
  size_bytes: number;
  checksum: number;
  data: Uint8Array;
}

/** `segments`: sealed, compressed ranges of one stream's events. */
export interface SegmentsTable {
  id: Generated<number>;
  stream_id: number;
  first_position: number;
  last_position: number;
  first_version: number;
  last_version: number;
  first_us: number;
  last_us: number;
  event_count: number;
  codec_version: number;
  checksum: number;
  data: Uint8Array;
}

/**
 * `sealed_event_ids`: client event ids of sealed events (their hot rows are gone), for
 * idempotent appends. Filled in the transaction that seals the segment.
 */
export interface SealedEventIdsTable {
  event_id: string;
  position: number;
  /** `segments.id` of the segment holding the event. */
  segment_id: number;
}

/** `audit`: who did what to which data, for people and for export. */
export interface AuditTable {
  id: Generated<number>;
  timestamp_us: number;
  actor: string;
  action: string;
  target: string | null;
  /** JSON text. */
  details: string | null;
}

/** `rollups`: energy analytics per session, model and time bucket. */
export interface RollupsTable {
  session_id: string;
  model_id: string;
  /** Bucket width, e.g. `1s`, `1m`, `1h`. */
  granularity: string;
  bucket_start_us: number;
  energy_sum: number;
  energy_min: number;
  energy_max: number;
  event_count: number;
  tokens: number;
  fps_sum: number;
  budget_sum: number;
  drops: number;
}

/** `metadata`: key/value settings of the store, e.g. `schema_version`. */
export interface MetadataTable {
  key: string;
  value: string;
}

/** Readable view of running sessions (for people using the `sqlite3` shell). */
export interface ActiveSessionsView {
  session_id: string;
  user_id: string;
  stream: string;
  started_at: string | null;
  total_events: number;
  total_energy: number;
  total_tokens: number;
}

/** Readable view of every session's energy totals. */
export interface SessionEnergySummaryView {
  session_id: string;
  user_id: string;
  status: SessionStatus;
  started_at: string | null;
  ended_at: string | null;
  duration_s: number | null;
  total_events: number;
  total_energy: number;
  total_tokens: number;
  energy_per_second: number | null;
  clean_end: number | null;
}

/** Readable view of the snapshot index, without the bytes. */
export interface SnapshotIndexView {
  id: number;
  stream: string;
  kind: SnapshotKind;
  base_snapshot_id: number | null;
  stream_version: number;
  position: number;
  created_at: string | null;
  size_bytes: number;
}

/** Readable view of the audit trail. */
export interface AuditLogView {
  id: number;
  at: string | null;
  actor: string;
  action: string;
  target: string | null;
  details: string | null;
}

/**
 * Every table and view of the store, for `Kysely<Database>`.
 *
 * @example
 * ```ts
 * const active = await db.selectFrom('active_sessions').selectAll().execute();
 * ```
 */
export interface Database {
  streams: StreamsTable;
  event_types: EventTypesTable;
  events: EventsTable;
  sessions: SessionsTable;
  users: UsersTable;
  snapshots: SnapshotsTable;
  segments: SegmentsTable;
  sealed_event_ids: SealedEventIdsTable;
  audit: AuditTable;
  rollups: RollupsTable;
  metadata: MetadataTable;
  active_sessions: ActiveSessionsView;
  session_energy_summary: SessionEnergySummaryView;
  snapshot_index: SnapshotIndexView;
  audit_log: AuditLogView;
}

/** A row of `streams`. */
export type StreamRow = Selectable<StreamsTable>;
/** A row of `events`. */
export type EventRow = Selectable<EventsTable>;
/** A new row of `events`. */
export type NewEventRow = Insertable<EventsTable>;
/** A row of `sessions`. */
export type SessionRow = Selectable<SessionsTable>;
/** A row of `users`. */
export type UserRow = Selectable<UsersTable>;
/** A row of `snapshots`. */
export type SnapshotRow = Selectable<SnapshotsTable>;
/** A row of `segments`. */
export type SegmentRow = Selectable<SegmentsTable>;
/** A row of `audit`. */
export type AuditRow = Selectable<AuditTable>;
/** A row of `rollups`. */
export type RollupRow = Selectable<RollupsTable>;
