/**
 * Where the PostgreSQL suites run: `WF_PG_URL`, default the local server. With `CI` set an
 * unreachable server fails the suite; without it, the suite is skipped with a message that
 * says how to run it.
 */
import { randomBytes } from 'node:crypto';

import pg from 'pg';

import { openPostgresStorage } from '../src/index.js';
import type { PostgresStorage, PostgresStorageOptions } from '../src/index.js';

/** The server the suites use. */
export const PG_URL = process.env['WF_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

async function probe(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('select 1');
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    await client.end().catch(() => undefined);
  }
}

const unreachable = await probe();
if (unreachable !== undefined) {
  const message =
    `PostgreSQL is not reachable at ${PG_URL} (${unreachable}). ` +
    'The PostgreSQL storage suites were NOT run. Start PostgreSQL and run them with ' +
    'WF_PG_URL=postgres://postgres@127.0.0.1:5432/test pnpm --filter @wirthforge/storage-postgres test';
  if (
    process.env['CI'] !== undefined &&
    process.env['CI'] !== '' &&
    process.env['CI'] !== 'false'
  ) {
    throw new Error(message);
  }
  console.warn(`\n!!! ${message}\n`);
}

/** Whether the suites run (false only without CI and without a server). */
export const PG_AVAILABLE = unreachable === undefined;

/** A schema name of its own for one test. */
export function freshSchemaName(prefix = 'wf_test'): string {
  return `${prefix}_${process.pid}_${randomBytes(5).toString('hex')}`;
}

/** Drops a test schema with everything in it. */
export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(`drop schema if exists "${schema}" cascade`);
  } finally {
    await client.end();
  }
}

/** Opens a store in `schema` of the test server. */
export function openTestStorage(
  schema: string,
  options: Omit<PostgresStorageOptions, 'connectionString' | 'schema'> = {},
): Promise<PostgresStorage> {
  return openPostgresStorage({ connectionString: PG_URL, schema, maxConnections: 4, ...options });
}
