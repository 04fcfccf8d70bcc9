/**
 * Real PostgreSQL failures arrive as the contract's codes: an unreachable server, a
 * read-only session, a unique violation, a serialization failure, and a schema written by
 * a newer release.
 */
import { SCHEMA_VERSION, isStorageError } from '@wirthforge/storage';
import type { StorageError } from '@wirthforge/storage';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';

import { openPostgresStorage, toPostgresStorageError } from '../src/index.js';
import { PG_AVAILABLE, PG_URL, dropSchema, freshSchemaName, openTestStorage } from './fixtures.js';

const schemas: string[] = [];
afterAll(async () => {
  for (const schema of schemas) await dropSchema(schema);
});

async function caught(promise: Promise<unknown>): Promise<StorageError> {
  try {
    await promise;
  } catch (error) {
    expect(isStorageError(error), String(error)).toBe(true);
    return error as StorageError;
  }
  throw new Error('expected a rejection');
}

const oneEvent = (ts: number) => ({
  type: 't',
  schemaVersion: 1,
  timestampUs: ts,
  payload: Uint8Array.of(1),
});

describe.runIf(PG_AVAILABLE)('postgres error mapping', () => {
  it('rejects an unreachable server with io, retryable', async () => {
    const error = await caught(
      openPostgresStorage({
        connectionString: 'postgres://postgres@127.0.0.1:1/test',
        pool: { connectionTimeoutMillis: 2000 },
      }),
    );
    expect(error.code).toBe('io');
    expect(error.retryable).toBe(true);
    expect(error.message).toContain('ECONNREFUSED');
  });

  it('rejects a bad schema name with invalid_argument before connecting', async () => {
    const error = await caught(openPostgresStorage({ connectionString: PG_URL, schema: 'a;drop' }));
    expect(error.code).toBe('invalid_argument');
    expect(error.message).toContain('options.schema');
  });

  it('maps a read-only session to readonly and writes nothing', async () => {
    const schema = freshSchemaName('wf_ro');
    schemas.push(schema);
    const owner = await openTestStorage(schema);
    await owner.appendBatch([{ stream: 's', expectedVersion: 'any', events: [oneEvent(1)] }]);
    const role = `${schema}_reader`;
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    try {
      await admin.query(`create role "${role}" login`);
      await admin.query(`alter role "${role}" set default_transaction_read_only = on`);
      await admin.query(`grant usage on schema "${schema}" to "${role}"`);
      await admin.query(`grant select on all tables in schema "${schema}" to "${role}"`);
      const url = new URL(PG_URL);
      url.username = role;
      const reader = await openPostgresStorage({ connectionString: url.toString(), schema });
      const error = await caught(
        reader.appendBatch([{ stream: 's', expectedVersion: 'any', events: [oneEvent(2)] }]),
      );
      expect(error.code).toBe('readonly');
      expect(error.retryable).toBe(false);
      expect(await reader.headPosition()).toBe(1n);
      await reader.close();
    } finally {
      await admin.query(`drop owned by "${role}"`);
      await admin.query(`drop role "${role}"`);
      await admin.end();
      await owner.close();
    }
  });

  it('maps a unique violation to constraint and a serialization failure to busy, retryable', async () => {
    const schema = freshSchemaName('wf_err');
    schemas.push(schema);
    const storage = await openTestStorage(schema);
    const client = (): pg.Client =>
      new pg.Client({ connectionString: PG_URL, options: `-c search_path=${schema}` });
    const a = client();
    const b = client();
    await a.connect();
    await b.connect();
    try {
      const unique = await a.query(`insert into metadata values ('dialect', 'x')`).then(
        () => undefined,
        (error: unknown) => toPostgresStorageError(error, 'insert'),
      );
      expect(unique?.code).toBe('constraint');

      await a.query(`insert into metadata values ('k1', '0'), ('k2', '0')`);
      await a.query('begin isolation level serializable');
      await b.query('begin isolation level serializable');
      await a.query(`select value from metadata where key = 'k2'`);
      await b.query(`select value from metadata where key = 'k1'`);
      await a.query(`update metadata set value = '1' where key = 'k1'`);
      await b.query(`update metadata set value = '1' where key = 'k2'`);
      await a.query('commit');
      const serialization = await b.query('commit').then(
        () => undefined,
        (error: unknown) => toPostgresStorageError(error, 'commit'),
      );
      expect(serialization?.code).toBe('busy');
      expect(serialization?.retryable).toBe(true);
    } finally {
      await a.end();
      await b.end();
      await storage.close();
    }
  });

  it('refuses a schema written by a newer schema version', async () => {
    const schema = freshSchemaName('wf_newer');
    schemas.push(schema);
    const storage = await openTestStorage(schema);
    expect(storage.migration.schemaVersion).toBe(SCHEMA_VERSION);
    await storage.db
      .updateTable('metadata')
      .set({ value: String(SCHEMA_VERSION + 1) })
      .where('key', '=', 'schema_version')
      .execute();
    await storage.close();
    const error = await caught(openTestStorage(schema));
    expect(error.code).toBe('version');
  });

  it('keeps two stores in two schemas of one database apart', async () => {
    const one = freshSchemaName('wf_one');
    const two = freshSchemaName('wf_two');
    schemas.push(one, two);
    const a = await openTestStorage(one);
    const b = await openTestStorage(two);
    await a.appendBatch([
      { stream: 's', expectedVersion: 'any', events: [oneEvent(1), oneEvent(2)] },
    ]);
    expect(await a.headPosition()).toBe(2n);
    expect(await b.headPosition()).toBe(0n);
    expect(b.migration.applied.length).toBeGreaterThan(0);
    await a.close();
    await b.close();
  });
});
