import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { SCHEMA_VERSION } from '@wirthforge/storage';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { openConnection, openSqliteStorage } from '../src/index.js';
import type { SqliteConnection } from '../src/index.js';
import { frame, rejection, tempDir } from './fixtures.js';

let dir: string;
let remove: () => Promise<void>;
let path: string;

beforeEach(async () => {
  ({ dir, remove } = await tempDir('schema'));
  path = join(dir, 'state.db');
});
afterEach(() => remove());

function raw<T>(fn: (c: SqliteConnection) => T): T {
  const connection = openConnection(path);
  try {
    return fn(connection);
  } finally {
    connection.close();
  }
}

describe('schema on SQLite', () => {
  it('applies a migration all or nothing: a failure midway leaves no half-made schema', async () => {
    // A view named like a table the first migration makes near its end: that statement
    // fails after `metadata`, `streams`, `events`, ... were created in the same migration.
    raw((c) => c.exec('create view rollups as select 1 as x'));
    await expect(openSqliteStorage({ path })).rejects.toMatchObject({
      name: 'StorageError',
      message: expect.stringMatching(/migration 0001_initial failed/) as string,
    });
    const tables = raw((c) =>
      c
        .prepare("select name from sqlite_master where type = 'table' and name not like 'kysely%'")
        .all(),
    );
    expect(tables).toEqual([]);
    // Once the obstacle is gone, the same file migrates.
    raw((c) => c.exec('drop view rollups'));
    const storage = await openSqliteStorage({ path });
    expect(storage.migration.applied).toEqual(['0001_initial', '0002_sealed_event_ids']);
    await storage.close();
  });

  it('migrates a new file once; opening again is a no-op', async () => {
    const first = await openSqliteStorage({ path });
    expect(first.migration).toEqual({
      schemaVersion: SCHEMA_VERSION,
      previousVersion: 0,
      applied: ['0001_initial', '0002_sealed_event_ids'],
    });
    await first.close();
    const objects = raw((c) =>
      c.prepare('select type, name, sql from sqlite_master order by name').all(),
    );
    const second = await openSqliteStorage({ path });
    expect(second.migration).toEqual({
      schemaVersion: SCHEMA_VERSION,
      previousVersion: SCHEMA_VERSION,
      applied: [],
    });
    await second.close();
    expect(
      raw((c) => c.prepare('select type, name, sql from sqlite_master order by name').all()),
    ).toEqual(objects);
    expect(
      raw((c) =>
        c.prepare("select value from metadata where key = 'schema_version'").pluck().get(),
      ),
    ).toBe(String(SCHEMA_VERSION));
  });

  it('refuses a file written by a newer schema, saying both versions, and releases the lock', async () => {
    await (await openSqliteStorage({ path })).close();
    raw((c) => c.prepare("update metadata set value = '9' where key = 'schema_version'").run());
    const error = await rejection(openSqliteStorage({ path }));
    expect(error.code).toBe('version');
    expect(error.message).toContain(`${path} has schema version 9`);
    expect(error.message).toContain(`knows schema versions up to ${SCHEMA_VERSION}`);
    raw((c) =>
      c
        .prepare(`update metadata set value = '${SCHEMA_VERSION}' where key = 'schema_version'`)
        .run(),
    );
    await (await openSqliteStorage({ path })).close();
  });

  it('refuses a file with migrations this code does not know', async () => {
    await (await openSqliteStorage({ path })).close();
    raw((c) =>
      c
        .prepare(
          "insert into kysely_migration (name, timestamp) values ('0002_future', '2030-01-01')",
        )
        .run(),
    );
    const error = await rejection(openSqliteStorage({ path }));
    expect(error.message).toContain('0002_future');
    expect(error.code).toBe('version');
  });

  it('refuses a file that is not a database as corrupt', async () => {
    writeFileSync(
      path,
      'this is not an SQLite database, just text that is long enough '.repeat(100),
    );
    const error = await rejection(openSqliteStorage({ path }));
    expect(error.code).toBe('corrupt');
  });

  it('keeps the hot table lean: position is the row key, two indexes, the event id index empty without ids', async () => {
    const storage = await openSqliteStorage({ path, synchronous: 'normal' });
    for (let f = 0; f < 100; f++) {
      await storage.appendBatch([
        { stream: 'session-1', expectedVersion: 'any', events: frame(f) },
      ]);
    }
    await storage.close();
    raw((c) => {
      const indexes = c
        .prepare(
          "select name from sqlite_master where type = 'index' and tbl_name = 'events' order by name",
        )
        .pluck()
        .all();
      expect(indexes).toEqual(['events_event_id', 'events_stream_version']);
      const pk = c.prepare("select name, type from pragma_table_info('events') where pk = 1").all();
      expect(pk).toEqual([{ name: 'position', type: 'INTEGER' }]);
      // An INTEGER PRIMARY KEY is the rowid itself: the query plan searches the table, not an index.
      const plan = c
        .prepare('explain query plan select * from events where position = 5')
        .all() as {
        detail: string;
      }[];
      expect(plan[0]!.detail).toContain('USING INTEGER PRIMARY KEY');
      const pages = c
        .prepare("select count(*) from dbstat where name = 'events_event_id'")
        .pluck()
        .get();
      expect(pages).toBe(1);
    });
  });

  it('gives people readable views', async () => {
    const storage = await openSqliteStorage({ path });
    await storage.appendBatch(
      [
        {
          stream: 'session-20250817T194800Z_001',
          expectedVersion: 'no_stream',
          events: frame(1, 3),
        },
      ],
      {
        writes: [
          {
            kind: 'session.upsert',
            sessionId: '20250817T194800Z_001',
            stream: 'session-20250817T194800Z_001',
            userId: 'default',
            status: 'active',
            startedUs: 1_755_460_080_000_000,
            totalEvents: 3,
            totalEnergy: 12.5,
            totalTokens: 7,
            updatedUs: 1_755_460_080_500_000,
          },
          {
            kind: 'audit.insert',
            timestampUs: 1_755_460_080_000_000,
            actor: 'daemon',
            action: 'session.start',
            details: { mode: 'offline' },
          },
        ],
      },
    );
    await storage.close();
    raw((c) => {
      expect(c.prepare('select * from active_sessions').all()).toEqual([
        {
          session_id: '20250817T194800Z_001',
          user_id: 'default',
          stream: 'session-20250817T194800Z_001',
          started_at: '2025-08-17T19:48:00.000Z',
          total_events: 3,
          total_energy: 12.5,
          total_tokens: 7,
        },
      ]);
      expect(
        c.prepare('select status, ended_at, duration_s from session_energy_summary').get(),
      ).toEqual({
        status: 'active',
        ended_at: null,
        duration_s: null,
      });
      expect(c.prepare('select at, actor, action, details from audit_log').get()).toEqual({
        at: '2025-08-17T19:48:00.000Z',
        actor: 'daemon',
        action: 'session.start',
        details: '{"mode":"offline"}',
      });
    });
  });
});
