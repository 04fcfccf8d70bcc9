import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  isConcurrencyError,
  isStorageError,
  migrateToLatest,
  rowWriteQuery,
} from '@wirthforge/storage';
import type {
  Database,
  NewEventRecord,
  RowWrite,
  SessionUpsert,
  StreamAppend,
  UserUpsert,
} from '@wirthforge/storage';
import { Kysely, SqliteDialect } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { openConnection } from './sqlite-connection.js';
import type { SqliteConnection } from './sqlite-connection.js';
import { applyWriterPragmas } from './sqlite-pragmas.js';
import { sqliteSchemaDialect } from './sqlite-schema-dialect.js';
import { bindable, createSqliteCompiler } from './sqlite-compiler.js';
import { InsertEventsSql, SqliteWriter, fastParameters, insertEventsSql } from './sqlite-writer.js';
import { encodeAppendRequest } from './sqlite-writer-protocol.js';

let dir: string;
let path: string;
let connection: SqliteConnection;
let nextId = 1;

async function migrated(file: string): Promise<void> {
  const db = new Kysely<Database>({
    dialect: new SqliteDialect({ database: openConnection(file) }),
  });
  await migrateToLatest(db, sqliteSchemaDialect);
  await db.destroy();
}

function open(): SqliteConnection {
  const c = openConnection(path);
  applyWriterPragmas(c, {
    synchronous: 'normal',
    busyTimeoutMs: 1000,
    walAutocheckpointPages: 1000,
    journalSizeLimitBytes: 1 << 20,
  });
  return c;
}

const ev = (overrides: Partial<NewEventRecord> = {}): NewEventRecord => ({
  type: 'energy.update',
  schemaVersion: 1,
  timestampUs: 1_000,
  payload: Uint8Array.of(1, 2, 3),
  ...overrides,
});

function append(writer: SqliteWriter, appends: StreamAppend[], writes: RowWrite[] = []) {
  return writer.append(encodeAppendRequest(nextId++, appends, writes).message);
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wf-writer-'));
  path = join(dir, 'state.db');
  await migrated(path);
  connection = open();
});

afterEach(() => {
  if (connection.open) connection.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('SqliteWriter', () => {
  it('assigns positions and versions and stores the row checksum', () => {
    const writer = new SqliteWriter(connection);
    const result = append(writer, [
      { stream: 'session-1', expectedVersion: 'no_stream', events: [ev(), ev({ frameId: 3 })] },
      { stream: 'user-1', expectedVersion: 'any', events: [ev({ type: 'user.prompt' })] },
    ]);
    expect(Array.from(result.positions)).toEqual([1, 2, 3]);
    expect(Array.from(result.nextVersions)).toEqual([2, 1]);
    expect(result.lastPosition).toBe(3);
    expect(writer.headPosition).toBe(3);
    const rows = connection
      .prepare(
        'select position, stream_id, version, type_id, checksum from events order by position',
      )
      .all() as {
      position: number;
      stream_id: number;
      version: number;
      type_id: number;
      checksum: number;
    }[];
    expect(rows.map((r) => [r.position, r.stream_id, r.version, r.type_id])).toEqual([
      [1, 1, 1, 1],
      [2, 1, 2, 1],
      [3, 2, 1, 2],
    ]);
    expect(rows.every((r) => r.checksum > 0)).toBe(true);
    const streams = connection.prepare('select name, kind, version from streams order by id').all();
    expect(streams).toEqual([
      { name: 'session-1', kind: 'session', version: 2 },
      { name: 'user-1', kind: 'user', version: 1 },
    ]);
  });

  it('continues from the stored head, stream versions and dictionary ids after a restart', () => {
    const first = new SqliteWriter(connection);
    append(first, [{ stream: 's', expectedVersion: 'any', events: [ev(), ev({ type: 'b' })] }]);
    connection.close();
    connection = open();
    const second = new SqliteWriter(connection);
    expect(second.headPosition).toBe(2);
    const result = append(second, [
      { stream: 's', expectedVersion: 2n, events: [ev({ type: 'b' }), ev({ type: 'c' })] },
      { stream: 't', expectedVersion: 'no_stream', events: [ev()] },
    ]);
    expect(Array.from(result.positions)).toEqual([3, 4, 5]);
    const types = connection.prepare('select id, name from event_types order by id').all();
    expect(types).toEqual([
      { id: 1, name: 'energy.update' },
      { id: 2, name: 'b' },
      { id: 3, name: 'c' },
    ]);
  });

  it('rolls back a failed batch completely and consumes no position, stream id or type id', () => {
    const writer = new SqliteWriter(connection);
    append(writer, [{ stream: 'a', expectedVersion: 'any', events: [ev()] }]);
    const error = thrown(() =>
      append(
        writer,
        [
          {
            stream: 'new-stream',
            expectedVersion: 'no_stream',
            events: [ev({ type: 'new.type' })],
          },
          { stream: 'a', expectedVersion: 'any', events: [ev()] },
        ],
        [
          {
            kind: 'snapshot.insert',
            stream: 'a',
            snapshotKind: 'incremental',
            baseSnapshotId: 404,
            streamVersion: 1n,
            position: 1n,
            schemaVersion: 1,
            createdUs: 1,
            checksum: 1,
            data: Uint8Array.of(1),
          },
        ],
      ),
    );
    expect(isStorageError(error, 'constraint')).toBe(true);
    expect(connection.inTransaction).toBe(false);
    expect(writer.headPosition).toBe(1);
    const result = append(writer, [
      { stream: 'other', expectedVersion: 'no_stream', events: [ev({ type: 'other.type' })] },
      { stream: 'a', expectedVersion: 1n, events: [ev()] },
    ]);
    expect(Array.from(result.positions)).toEqual([2, 3]);
    expect(connection.prepare('select id, name from streams order by id').all()).toEqual([
      { id: 1, name: 'a' },
      { id: 2, name: 'other' },
    ]);
    expect(connection.prepare('select id, name from event_types order by id').all()).toEqual([
      { id: 1, name: 'energy.update' },
      { id: 2, name: 'other.type' },
    ]);
  });

  it('reports a conflict with expected and actual and writes nothing', () => {
    const writer = new SqliteWriter(connection);
    append(writer, [{ stream: 'a', expectedVersion: 'any', events: [ev(), ev()] }]);
    const error = thrown(() =>
      append(writer, [
        { stream: 'b', expectedVersion: 'any', events: [ev()] },
        { stream: 'a', expectedVersion: 'stream_exists', events: [] },
        { stream: 'a2', expectedVersion: 'stream_exists', events: [ev()] },
      ]),
    );
    expect(isConcurrencyError(error)).toBe(true);
    expect(error).toMatchObject({ stream: 'a2', expected: 'stream_exists', actual: 0n });
    expect(connection.prepare('select count(*) from events').pluck().get()).toBe(2);
    expect(connection.prepare("select count(*) from streams where name = 'b'").pluck().get()).toBe(
      0,
    );
  });

  it('says which fields differ on an idempotency conflict', () => {
    const writer = new SqliteWriter(connection);
    append(writer, [
      { stream: 'a', expectedVersion: 'any', events: [ev({ eventId: 'e1', frameId: 1 })] },
    ]);
    const error = thrown(() =>
      append(writer, [
        {
          stream: 'a',
          expectedVersion: 'any',
          events: [ev({ eventId: 'e1', frameId: 2, payload: Uint8Array.of(9) })],
        },
      ]),
    );
    expect(isStorageError(error, 'idempotency_conflict')).toBe(true);
    expect((error as Error).message).toBe(
      'event id "e1" is already stored at position 1 with different content (frameId, payload differ)',
    );
    const inBatch = thrown(() =>
      append(writer, [
        {
          stream: 'b',
          expectedVersion: 'any',
          events: [ev({ eventId: 'e2' }), ev({ eventId: 'e2', type: 'other' })],
        },
      ]),
    );
    expect((inBatch as Error).message).toContain('type differs, earlier in this batch');
  });

  it('maps a full database to a retryable full error and recovers when space returns', () => {
    const writer = new SqliteWriter(connection);
    append(writer, [{ stream: 'a', expectedVersion: 'any', events: [ev()] }]);
    const pages = connection.pragma('page_count', { simple: true }) as number;
    connection.pragma(`max_page_count = ${pages}`);
    const big = Array.from({ length: 50 }, () => ev({ payload: new Uint8Array(4000) }));
    const error = thrown(() => append(writer, [{ stream: 'a', expectedVersion: 1n, events: big }]));
    expect(isStorageError(error, 'full')).toBe(true);
    expect((error as { retryable: boolean }).retryable).toBe(true);
    expect(writer.headPosition).toBe(1);
    connection.pragma('max_page_count = 1073741823');
    const result = append(writer, [{ stream: 'a', expectedVersion: 1n, events: big }]);
    expect(result.positions[0]).toBe(2);
    expect(result.lastPosition).toBe(51);
  });

  it('returns row write results: changes and inserted ids', () => {
    const writer = new SqliteWriter(connection);
    const result = append(
      writer,
      [],
      [
        { kind: 'audit.insert', timestampUs: 1, actor: 'cli', action: 'backup' },
        { kind: 'audit.insert', timestampUs: 2, actor: 'cli', action: 'verify' },
        { kind: 'session.end', sessionId: 'missing', status: 'ended', endedUs: 3, cleanEnd: true },
      ],
    );
    expect(result.writes).toEqual([
      { changes: 1, insertedId: 1 },
      { changes: 1, insertedId: 2 },
      { changes: 0, insertedId: null },
    ]);
  });

  it('binds session and user upserts exactly as their Kysely queries do', () => {
    const compiler = createSqliteCompiler();
    const ids = (name: string) => (name === 'session-s' ? 7 : 8);
    const writes: (SessionUpsert | UserUpsert)[] = [
      {
        kind: 'user.upsert',
        userId: 'u',
        level: 2,
        xp: 30,
        totalEnergy: 1.5,
        sessionsCount: 3,
        updatedUs: 9,
      },
      ...[undefined, null, true, false].map((cleanEnd) => ({
        kind: 'session.upsert' as const,
        sessionId: 's',
        stream: 'session-s',
        userId: 'u',
        status: 'ended' as const,
        startedUs: 1,
        endedUs: cleanEnd === undefined ? undefined : cleanEnd === null ? null : 5,
        cleanEnd,
        totalEvents: 4,
        totalEnergy: -0,
        totalTokens: 2,
        updatedUs: 6,
      })),
    ];
    for (const write of writes) {
      const compiled = rowWriteQuery(compiler, write, ids).compile();
      expect(fastParameters(write, ids), write.kind).toEqual(bindable(compiled.parameters));
    }
  });

  it('writes session and user rows that read back as written, repeatedly', async () => {
    const writer = new SqliteWriter(connection);
    for (let n = 1; n <= 3; n++) {
      const result = append(
        writer,
        [{ stream: 'session-s', expectedVersion: 'any', events: [ev()] }],
        [
          {
            kind: 'session.upsert',
            sessionId: 's',
            stream: 'session-s',
            userId: 'u',
            status: n === 3 ? 'ended' : 'active',
            startedUs: 1,
            endedUs: n === 3 ? 30 : null,
            cleanEnd: n === 3 ? true : null,
            totalEvents: n,
            totalEnergy: n / 2,
            totalTokens: n * 10,
            updatedUs: n,
          },
          {
            kind: 'user.upsert',
            userId: 'u',
            level: n,
            xp: n * 5,
            totalEnergy: n / 2,
            sessionsCount: 1,
            updatedUs: n,
          },
        ],
      );
      expect(result.writes).toEqual([
        { changes: 1, insertedId: null },
        { changes: 1, insertedId: null },
      ]);
    }
    const db = new Kysely<Database>({
      dialect: new SqliteDialect({ database: openConnection(path) }),
    });
    try {
      expect(await db.selectFrom('sessions').selectAll().execute()).toEqual([
        {
          session_id: 's',
          stream_id: 1,
          user_id: 'u',
          status: 'ended',
          started_us: 1,
          ended_us: 30,
          clean_end: 1,
          total_events: 3,
          total_energy: 1.5,
          total_tokens: 30,
          updated_us: 3,
        },
      ]);
      expect(await db.selectFrom('users').selectAll().execute()).toEqual([
        { user_id: 'u', level: 3, xp: 15, total_energy: 1.5, sessions_count: 1, updated_us: 3 },
      ]);
    } finally {
      await db.destroy();
    }
  });

  it('checkpoints on demand', () => {
    const writer = new SqliteWriter(connection);
    append(writer, [{ stream: 'a', expectedVersion: 'any', events: [ev(), ev()] }]);
    const result = writer.checkpoint('truncate', 0);
    expect(result.busy).toBe(false);
    expect(result.logFrames).toBe(0);
  });
});

describe('SqliteWriter group commit', () => {
  const request = (appends: StreamAppend[]) => encodeAppendRequest(nextId++, appends, []).message;
  const stored = () =>
    connection
      .prepare(
        'select e.position, s.name, e.version from events e join streams s on s.id = e.stream_id order by e.position',
      )
      .raw()
      .all();

  it('commits several batches under one COMMIT, a failing one rolled back alone', () => {
    const writer = new SqliteWriter(connection);
    writer.beginGroup();
    const a = writer.appendInGroup(
      request([{ stream: 'a', expectedVersion: 'no_stream', events: [ev(), ev()] }]),
    );
    const failure = thrown(() =>
      writer.appendInGroup(
        request([
          { stream: 'new', expectedVersion: 'no_stream', events: [ev({ type: 'new.type' })] },
          { stream: 'a', expectedVersion: 0n, events: [ev()] },
        ]),
      ),
    );
    const c = writer.appendInGroup(
      request([{ stream: 'a', expectedVersion: 2n, events: [ev({ type: 'c.type' })] }]),
    );
    // Nothing is visible to another connection before the COMMIT.
    const reader = openConnection(path, { readonly: true });
    expect(reader.prepare('select count(*) from events').pluck().get()).toBe(0);
    writer.commitGroup();
    expect(reader.prepare('select count(*) from events').pluck().get()).toBe(3);
    reader.close();

    expect(isConcurrencyError(failure)).toBe(true);
    expect(Array.from(a.positions)).toEqual([1, 2]);
    // The failed batch consumed no position, stream id or type id.
    expect(Array.from(c.positions)).toEqual([3]);
    expect(writer.headPosition).toBe(3);
    expect(stored()).toEqual([
      [1, 'a', 1],
      [2, 'a', 2],
      [3, 'a', 3],
    ]);
    expect(connection.prepare('select name from streams').pluck().all()).toEqual(['a']);
    expect(connection.prepare('select id, name from event_types order by id').raw().all()).toEqual([
      [1, 'energy.update'],
      [2, 'c.type'],
    ]);
  });

  it('rolls a whole group back on abort and restores positions, versions and dictionaries', () => {
    const writer = new SqliteWriter(connection);
    append(writer, [{ stream: 'a', expectedVersion: 'any', events: [ev()] }]);
    writer.beginGroup();
    writer.appendInGroup(
      request([
        { stream: 'a', expectedVersion: 1n, events: [ev()] },
        { stream: 'b', expectedVersion: 'no_stream', events: [ev({ type: 'b.type' })] },
      ]),
    );
    writer.abortGroup();
    expect(writer.headPosition).toBe(1);
    // The caches forgot the rolled-back versions: the same appends succeed again.
    const again = append(writer, [
      { stream: 'a', expectedVersion: 1n, events: [ev()] },
      { stream: 'b', expectedVersion: 'no_stream', events: [ev({ type: 'b.type' })] },
    ]);
    expect(Array.from(again.positions)).toEqual([2, 3]);
    expect(stored()).toEqual([
      [1, 'a', 1],
      [2, 'a', 2],
      [3, 'b', 1],
    ]);
  });

  it('finds an idempotent repeat of an event written earlier in the same group', () => {
    const writer = new SqliteWriter(connection);
    writer.beginGroup();
    const first = writer.appendInGroup(
      request([{ stream: 'a', expectedVersion: 'any', events: [ev({ eventId: 'x-1' })] }]),
    );
    const repeat = writer.appendInGroup(
      request([{ stream: 'a', expectedVersion: 'no_stream', events: [ev({ eventId: 'x-1' })] }]),
    );
    writer.commitGroup();
    expect(Array.from(repeat.positions)).toEqual(Array.from(first.positions));
    expect(stored()).toEqual([[1, 'a', 1]]);
  });

  it('refuses to apply a batch when no group is open', () => {
    const writer = new SqliteWriter(connection);
    expect(() =>
      writer.appendInGroup(request([{ stream: 'a', expectedVersion: 'any', events: [ev()] }])),
    ).toThrow('no write group is open');
  });
});

describe('InsertEventsSql', () => {
  const db = createSqliteCompiler();

  it('writes the SQL Kysely compiles for every row count up to a full insert, without Kysely', () => {
    const one = insertEventsSql(db, 1);
    const full = insertEventsSql(db, 64);
    const noKysely = new Proxy({} as Kysely<Database>, {
      get: () => {
        throw new Error('compiled with Kysely');
      },
    });
    const made = new InsertEventsSql(noKysely, one, full);
    for (let rows = 1; rows <= 64; rows++) {
      expect(made.sql(rows), `${rows} rows`).toBe(insertEventsSql(db, rows));
    }
  });

  it('compiles with Kysely when the repeated row does not give the full insert', () => {
    const made = new InsertEventsSql(db, insertEventsSql(db, 1), insertEventsSql(db, 63));
    expect(made.sql(5)).toBe(insertEventsSql(db, 5));
    const unlike = new InsertEventsSql(db, 'select 1', 'select 1');
    expect(unlike.sql(7)).toBe(insertEventsSql(db, 7));
  });
});
