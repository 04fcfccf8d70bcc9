/**
 * The references of `events` to `streams` and `event_types` hold on PostgreSQL, checked
 * per statement instead of per row: a row referring to nothing is refused with the
 * foreign-key SQLSTATE, and so is removing a stream or type that events refer to.
 */
import type { NewEventRecord } from '@wirthforge/storage';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';

import { toPostgresStorageError } from '../src/index.js';
import { PG_AVAILABLE, dropSchema, freshSchemaName, openTestStorage } from './fixtures.js';

const schemas: string[] = [];
afterAll(async () => {
  for (const schema of schemas) await dropSchema(schema);
});

const event: NewEventRecord = {
  type: 'energy.update',
  schemaVersion: 1,
  timestampUs: 1,
  payload: Uint8Array.of(1),
};

async function sqlState(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    expect(toPostgresStorageError(error).code).toBe('constraint');
    return (error as { code?: string }).code;
  }
}

describe.runIf(PG_AVAILABLE)('postgres event references', () => {
  it('refuses rows that refer to nothing and removals of referenced rows, once converted', async () => {
    const schema = freshSchemaName('wf_refs');
    schemas.push(schema);
    const storage = await openTestStorage(schema);
    try {
      await storage.appendBatch([
        { stream: 'session-r', expectedVersion: 'no_stream', events: [event] },
      ]);
      await storage.appendBatch(
        [{ stream: 'session-empty', expectedVersion: 'no_stream', events: [] }],
        {
          writes: [{ kind: 'metadata.set', key: 'k', value: 'v' }],
        },
      );
      const db = storage.db;
      const constraints = await sql<{ conname: string }>`
        select conname from pg_constraint
        where conrelid = ${`${schema}.events`}::regclass and contype = 'f'`.execute(db);
      expect(constraints.rows).toEqual([]);

      const insert = (streamId: number, typeId: number) =>
        sql`insert into events (position, stream_id, version, type_id, schema_version,
              timestamp_us, payload, checksum)
            values (100, ${streamId}, 2, ${typeId}, 1, 1, '\\x01'::bytea, 0)`.execute(db);
      const stream = await db
        .selectFrom('streams')
        .select('id')
        .where('name', '=', 'session-r')
        .executeTakeFirstOrThrow();
      const type = await db
        .selectFrom('event_types')
        .select('id')
        .where('name', '=', 'energy.update')
        .executeTakeFirstOrThrow();
      expect(await sqlState(insert(9_999, type.id))).toBe('23503');
      expect(await sqlState(insert(stream.id, 9_999))).toBe('23503');
      // One row of several referring to nothing is enough.
      const insertTwo = (streamId: number, typeId: number) =>
        sql`insert into events (position, stream_id, version, type_id, schema_version,
              timestamp_us, payload, checksum)
            values (100, ${stream.id}, 2, ${type.id}, 1, 1, '\\x01'::bytea, 0),
              (101, ${streamId}, 3, ${typeId}, 1, 1, '\\x01'::bytea, 0)`.execute(db);
      expect(await sqlState(insertTwo(9_999, type.id))).toBe('23503');
      expect(await sqlState(insertTwo(stream.id, 9_999))).toBe('23503');
      expect(await storage.headPosition()).toBe(1n);
      expect(await sqlState(db.deleteFrom('streams').where('id', '=', stream.id).execute())).toBe(
        '23503',
      );
      expect(await sqlState(db.deleteFrom('event_types').where('id', '=', type.id).execute())).toBe(
        '23503',
      );
      expect(
        await sqlState(
          db.updateTable('events').set({ stream_id: 9_999 }).where('position', '=', 1).execute(),
        ),
      ).toBe('23503');
      // A stream no event refers to may go.
      await db.deleteFrom('streams').where('name', '=', 'session-empty').execute();
      expect(await storage.headPosition()).toBe(1n);

      // Reopening finds the schema converted and leaves it as it is.
      await storage.close();
      const again = await openTestStorage(schema);
      const triggers = await sql<{ n: number }>`
        select count(*)::int as n from pg_trigger
        where tgrelid = ${`${schema}.events`}::regclass and tgname like 'wf_%'`.execute(again.db);
      expect(triggers.rows[0]!.n).toBe(2);
      // A schema converted by an earlier version of the checks gets the current ones.
      const body = sql<{ src: string; note: string | null }>`
        select prosrc as src, obj_description(oid, 'pg_proc') as note from pg_proc
        where oid = ${`${schema}.wf_events_references()`}::regprocedure`;
      const current = (await body.execute(again.db)).rows[0]!;
      await sql`comment on function ${sql.id(schema, 'wf_events_references')}() is null`.execute(
        again.db,
      );
      await sql
        .raw(
          `create or replace function "${schema}".wf_events_references() returns trigger
           language plpgsql as $$ begin return null; end $$`,
        )
        .execute(again.db);
      await again.close();
      const upgraded = await openTestStorage(schema);
      expect((await body.execute(upgraded.db)).rows[0]).toEqual(current);
      expect(current.note).toMatch(/^wf_events_references v\d+$/);
      await upgraded.close();
    } finally {
      await storage.close();
    }
  });
});
