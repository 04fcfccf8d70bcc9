/**
 * Relational writes that ride on an event batch and commit in its transaction:
 * projections (session totals, user progress), the audit trail, metadata, snapshots and
 * rollups. A small closed union, so every dialect can apply each kind with a query
 * compiled once.
 */
import type { Compilable, Kysely } from 'kysely';

import type {
  AuditRow,
  Database,
  RollupRow,
  SessionRow,
  SessionStatus,
  SnapshotKind,
  SnapshotRow,
  UserRow,
} from './database.js';
import { invalidArgument } from './errors.js';

/** Creates or replaces a session's row (the session projection's full state). */
export interface SessionUpsert {
  readonly kind: 'session.upsert';
  readonly sessionId: string;
  /** Name of the session's stream; created (kind `session`) if it does not exist yet. */
  readonly stream: string;
  readonly userId: string;
  readonly status: SessionStatus;
  readonly startedUs: number;
  readonly endedUs?: number | null | undefined;
  readonly cleanEnd?: boolean | null | undefined;
  readonly totalEvents: number;
  readonly totalEnergy: number;
  readonly totalTokens: number;
  readonly updatedUs: number;
}

/** Marks a session ended (or recovered) without touching its totals. */
export interface SessionEnd {
  readonly kind: 'session.end';
  readonly sessionId: string;
  readonly status: 'ended' | 'recovered';
  readonly endedUs: number;
  readonly cleanEnd: boolean;
}

/** Creates or replaces a user's progress row. */
export interface UserUpsert {
  readonly kind: 'user.upsert';
  readonly userId: string;
  readonly level: number;
  readonly xp: number;
  readonly totalEnergy: number;
  readonly sessionsCount: number;
  readonly updatedUs: number;
}

/** Appends one line to the audit trail. */
export interface AuditInsert {
  readonly kind: 'audit.insert';
  readonly timestampUs: number;
  readonly actor: string;
  readonly action: string;
  readonly target?: string | null | undefined;
  /** Stored as JSON text (a string is stored as given). */
  readonly details?: unknown;
}

/** Sets a metadata key. */
export interface MetadataSet {
  readonly kind: 'metadata.set';
  readonly key: string;
  readonly value: string;
}

/** Stores a snapshot; its id comes back in {@link RowWriteResult.insertedId}. */
export interface SnapshotInsert {
  readonly kind: 'snapshot.insert';
  /** Name of the stream the snapshot folds; created (kind by name) if it does not exist. */
  readonly stream: string;
  readonly snapshotKind: SnapshotKind;
  readonly baseSnapshotId?: number | null | undefined;
  readonly streamVersion: bigint;
  readonly position: bigint;
  readonly schemaVersion: number;
  readonly createdUs: number;
  /** The snapshot owner's checksum of `data`. */
  readonly checksum: number;
  readonly data: Uint8Array;
}

/** Deletes snapshots by id (pruning). */
export interface SnapshotDelete {
  readonly kind: 'snapshot.delete';
  readonly ids: readonly number[];
}

/** Creates or replaces one rollup bucket. */
export interface RollupUpsert {
  readonly kind: 'rollup.upsert';
  readonly sessionId: string;
  readonly modelId: string;
  readonly granularity: string;
  readonly bucketStartUs: number;
  readonly energySum: number;
  readonly energyMin: number;
  readonly energyMax: number;
  readonly eventCount: number;
  readonly tokens: number;
  readonly fpsSum: number;
  readonly budgetSum: number;
  readonly drops: number;
}

/**
 * A relational write that commits with an event batch.
 *
 * @example
 * ```ts
 * await storage.appendBatch([{ stream, expectedVersion: 'any', events }], {
 *   writes: [{ kind: 'metadata.set', key: 'last_export', value: '2025-08-17' }],
 * });
 * ```
 */
export type RowWrite =
  | SessionUpsert
  | SessionEnd
  | UserUpsert
  | AuditInsert
  | MetadataSet
  | SnapshotInsert
  | SnapshotDelete
  | RollupUpsert;

/** What one {@link RowWrite} did. */
export interface RowWriteResult {
  /** Rows inserted, updated or deleted. */
  readonly changes: number;
  /** Id of the inserted row for `snapshot.insert` and `audit.insert`, otherwise null. */
  readonly insertedId: bigint | null;
}

/** Every {@link RowWrite} kind. */
export const ROW_WRITE_KINDS: readonly RowWrite['kind'][] = [
  'session.upsert',
  'session.end',
  'user.upsert',
  'audit.insert',
  'metadata.set',
  'snapshot.insert',
  'snapshot.delete',
  'rollup.upsert',
];

/** A query a dialect can compile (to prepare it) or execute. */
export type RowWriteQuery = Compilable & { execute(): Promise<unknown> };

/** The `sessions` row a {@link SessionUpsert} writes, given its stream's id. */
export function sessionUpsertRow(write: SessionUpsert, streamId: number): SessionRow {
  return {
    session_id: write.sessionId,
    stream_id: streamId,
    user_id: write.userId,
    status: write.status,
    started_us: write.startedUs,
    ended_us: write.endedUs ?? null,
    clean_end:
      write.cleanEnd === undefined || write.cleanEnd === null ? null : write.cleanEnd ? 1 : 0,
    total_events: write.totalEvents,
    total_energy: write.totalEnergy,
    total_tokens: write.totalTokens,
    updated_us: write.updatedUs,
  };
}

/** The `users` row a {@link UserUpsert} writes. */
export function userUpsertRow(write: UserUpsert): UserRow {
  return {
    user_id: write.userId,
    level: write.level,
    xp: write.xp,
    total_energy: write.totalEnergy,
    sessions_count: write.sessionsCount,
    updated_us: write.updatedUs,
  };
}

/** The `audit` row an {@link AuditInsert} writes (its id comes from the table). */
export function auditInsertRow(write: AuditInsert): Omit<AuditRow, 'id'> {
  return {
    timestamp_us: write.timestampUs,
    actor: write.actor,
    action: write.action,
    target: write.target ?? null,
    details: auditDetailsText(write.details),
  };
}

/** The `snapshots` row a {@link SnapshotInsert} writes (its id comes from the table). */
export function snapshotInsertRow(
  write: SnapshotInsert,
  streamId: number,
): Omit<SnapshotRow, 'id'> {
  return {
    stream_id: streamId,
    kind: write.snapshotKind,
    base_snapshot_id: write.baseSnapshotId ?? null,
    stream_version: Number(write.streamVersion),
    position: Number(write.position),
    schema_version: write.schemaVersion,
    created_us: write.createdUs,
    size_bytes: write.data.byteLength,
    checksum: write.checksum,
    data: write.data,
  };
}

/** The `rollups` row a {@link RollupUpsert} writes. */
export function rollupUpsertRow(write: RollupUpsert): RollupRow {
  return {
    session_id: write.sessionId,
    model_id: write.modelId,
    granularity: write.granularity,
    bucket_start_us: write.bucketStartUs,
    energy_sum: write.energySum,
    energy_min: write.energyMin,
    energy_max: write.energyMax,
    event_count: write.eventCount,
    tokens: write.tokens,
    fps_sum: write.fpsSum,
    budget_sum: write.budgetSum,
    drops: write.drops,
  };
}

/** Audit details as stored: JSON text (bigints as decimal strings), a string as given. */
export function auditDetailsText(details: unknown): string | null {
  if (details === undefined || details === null) return null;
  if (typeof details === 'string') return details;
  return JSON.stringify(details, (_key, value: unknown) =>
    typeof value === 'bigint' ? value.toString() : value,
  );
}

export /**
 * Builds the Kysely query that applies `write`. `streamId` resolves (and, where the
 * write allows it, creates) a stream by name; the dialect's writer supplies it.
 *
 * @example
 * ```ts
 * const compiled = rowWriteQuery(compilerDb, write, (name) => writer.streamId(name)).compile();
 * connection.prepare(compiled.sql).run(...compiled.parameters);
 * ```
 */
function rowWriteQuery(
  db: Kysely<Database>,
  write: RowWrite,
  streamId: (stream: string) => number,
): RowWriteQuery {
  switch (write.kind) {
    case 'session.upsert': {
      const row = sessionUpsertRow(write, streamId(write.stream));
      return db
        .insertInto('sessions')
        .values(row)
        .onConflict((oc) =>
          oc.column('session_id').doUpdateSet((eb) => ({
            stream_id: eb.ref('excluded.stream_id'),
            user_id: eb.ref('excluded.user_id'),
            status: eb.ref('excluded.status'),
            started_us: eb.ref('excluded.started_us'),
            ended_us: eb.ref('excluded.ended_us'),
            clean_end: eb.ref('excluded.clean_end'),
            total_events: eb.ref('excluded.total_events'),
            total_energy: eb.ref('excluded.total_energy'),
            total_tokens: eb.ref('excluded.total_tokens'),
            updated_us: eb.ref('excluded.updated_us'),
          })),
        );
    }
    case 'session.end':
      return db
        .updateTable('sessions')
        .set({
          status: write.status,
          ended_us: write.endedUs,
          clean_end: write.cleanEnd ? 1 : 0,
          updated_us: write.endedUs,
        })
        .where('session_id', '=', write.sessionId);
    case 'user.upsert':
      return db
        .insertInto('users')
        .values(userUpsertRow(write))
        .onConflict((oc) =>
          oc.column('user_id').doUpdateSet((eb) => ({
            level: eb.ref('excluded.level'),
            xp: eb.ref('excluded.xp'),
            total_energy: eb.ref('excluded.total_energy'),
            sessions_count: eb.ref('excluded.sessions_count'),
            updated_us: eb.ref('excluded.updated_us'),
          })),
        );
    case 'audit.insert':
      return db.insertInto('audit').values(auditInsertRow(write));
    case 'metadata.set':
      return db
        .insertInto('metadata')
        .values({ key: write.key, value: write.value })
        .onConflict((oc) =>
          oc.column('key').doUpdateSet((eb) => ({ value: eb.ref('excluded.value') })),
        );
    case 'snapshot.insert':
      return db.insertInto('snapshots').values(snapshotInsertRow(write, streamId(write.stream)));
    case 'snapshot.delete':
      return db.deleteFrom('snapshots').where('id', 'in', [...write.ids]);
    case 'rollup.upsert':
      return db
        .insertInto('rollups')
        .values(rollupUpsertRow(write))
        .onConflict((oc) =>
          oc
            .columns(['session_id', 'model_id', 'granularity', 'bucket_start_us'])
            .doUpdateSet((eb) => ({
              energy_sum: eb.ref('excluded.energy_sum'),
              energy_min: eb.ref('excluded.energy_min'),
              energy_max: eb.ref('excluded.energy_max'),
              event_count: eb.ref('excluded.event_count'),
              tokens: eb.ref('excluded.tokens'),
              fps_sum: eb.ref('excluded.fps_sum'),
              budget_sum: eb.ref('excluded.budget_sum'),
              drops: eb.ref('excluded.drops'),
            })),
        );
  }
}

/** Names of the streams a write refers to (the writer resolves them before the query). */
export function rowWriteStreams(write: RowWrite): readonly string[] {
  if (write.kind === 'session.upsert' || write.kind === 'snapshot.insert') return [write.stream];
  return [];
}

type Check = (value: unknown, where: string) => void;

const nonEmptyString: Check = (value, where) => {
  if (typeof value !== 'string' || value.length === 0) {
    throw invalidArgument(where, 'expected a non-empty string');
  }
};
const optionalString: Check = (value, where) => {
  if (value !== undefined && value !== null && typeof value !== 'string') {
    throw invalidArgument(where, 'expected a string or null');
  }
};
const safeInteger: Check = (value, where) => {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalidArgument(where, `expected a non-negative safe integer, got ${String(value)}`);
  }
};
const optionalSafeInteger: Check = (value, where) => {
  if (value !== undefined && value !== null) safeInteger(value, where);
};
const finiteNumber: Check = (value, where) => {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw invalidArgument(where, `expected a finite number, got ${String(value)}`);
  }
};
const nonNegativeBigint: Check = (value, where) => {
  if (typeof value !== 'bigint' || value < 0n) {
    throw invalidArgument(where, `expected a non-negative bigint, got ${String(value)}`);
  }
};
const oneOf =
  (...allowed: readonly string[]): Check =>
  (value, where) => {
    if (typeof value !== 'string' || !allowed.includes(value)) {
      throw invalidArgument(where, `expected one of ${allowed.join(', ')}, got ${String(value)}`);
    }
  };
const optionalBoolean: Check = (value, where) => {
  if (value !== undefined && value !== null && typeof value !== 'boolean') {
    throw invalidArgument(where, 'expected a boolean or null');
  }
};
const bytes: Check = (value, where) => {
  if (!(value instanceof Uint8Array)) throw invalidArgument(where, 'expected a Uint8Array');
};
const checksum32: Check = (value, where) => {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw invalidArgument(where, 'expected an unsigned 32-bit integer');
  }
};

const FIELD_CHECKS: { readonly [K in RowWrite['kind']]: Readonly<Record<string, Check>> } = {
  'session.upsert': {
    sessionId: nonEmptyString,
    stream: nonEmptyString,
    userId: nonEmptyString,
    status: oneOf('active', 'ended', 'recovered'),
    startedUs: safeInteger,
    endedUs: optionalSafeInteger,
    cleanEnd: optionalBoolean,
    totalEvents: safeInteger,
    totalEnergy: finiteNumber,
    totalTokens: safeInteger,
    updatedUs: safeInteger,
  },
  'session.end': {
    sessionId: nonEmptyString,
    status: oneOf('ended', 'recovered'),
    endedUs: safeInteger,
    cleanEnd: (value, where) => {
      if (typeof value !== 'boolean') throw invalidArgument(where, 'expected a boolean');
    },
  },
  'user.upsert': {
    userId: nonEmptyString,
    level: safeInteger,
    xp: finiteNumber,
    totalEnergy: finiteNumber,
    sessionsCount: safeInteger,
    updatedUs: safeInteger,
  },
  'audit.insert': {
    timestampUs: safeInteger,
    actor: nonEmptyString,
    action: nonEmptyString,
    target: optionalString,
  },
  'metadata.set': {
    key: nonEmptyString,
    value: (value, where) => {
      if (typeof value !== 'string') throw invalidArgument(where, 'expected a string');
    },
  },
  'snapshot.insert': {
    stream: nonEmptyString,
    snapshotKind: oneOf('full', 'incremental'),
    baseSnapshotId: optionalSafeInteger,
    streamVersion: nonNegativeBigint,
    position: nonNegativeBigint,
    schemaVersion: safeInteger,
    createdUs: safeInteger,
    checksum: checksum32,
    data: bytes,
  },
  'snapshot.delete': {
    ids: (value, where) => {
      if (!Array.isArray(value) || value.length === 0) {
        throw invalidArgument(where, 'expected a non-empty array of ids');
      }
      value.forEach((id, i) => safeInteger(id, `${where}[${i}]`));
    },
  },
  'rollup.upsert': {
    sessionId: nonEmptyString,
    modelId: nonEmptyString,
    granularity: nonEmptyString,
    bucketStartUs: safeInteger,
    energySum: finiteNumber,
    energyMin: finiteNumber,
    energyMax: finiteNumber,
    eventCount: safeInteger,
    tokens: safeInteger,
    fpsSum: finiteNumber,
    budgetSum: finiteNumber,
    drops: safeInteger,
  },
};

/**
 * Checks a write's shape; throws `invalid_argument` naming the field, e.g.
 * `writes[2].totalEnergy: expected a finite number, got NaN`.
 */
export function validateRowWrite(write: unknown, where: string): asserts write is RowWrite {
  if (typeof write !== 'object' || write === null) {
    throw invalidArgument(where, 'expected a row write object');
  }
  const kind = (write as { kind?: unknown }).kind;
  if (typeof kind !== 'string' || !(ROW_WRITE_KINDS as readonly string[]).includes(kind)) {
    throw invalidArgument(
      `${where}.kind`,
      `expected one of ${ROW_WRITE_KINDS.join(', ')}, got ${String(kind)}`,
    );
  }
  const checks = FIELD_CHECKS[kind as RowWrite['kind']];
  for (const [field, check] of Object.entries(checks)) {
    check((write as Record<string, unknown>)[field], `${where}.${field}`);
  }
  if (kind === 'audit.insert') {
    const details = (write as AuditInsert).details;
    if (details !== undefined && details !== null && typeof details !== 'string') {
      try {
        JSON.stringify(details, (_key, value: unknown) =>
          typeof value === 'bigint' ? value.toString() : value,
        );
      } catch (cause) {
        throw invalidArgument(
          `${where}.details`,
          `cannot be stored as JSON (${cause instanceof Error ? cause.message : String(cause)})`,
        );
      }
    }
  }
}
