/**
 * Helpers for test suites that need a PostgreSQL server (`@wirthforge/storage-postgres/testing`):
 * where the server is, whether it answers (failing under CI, skipping with a message
 * otherwise), a schema of one's own per test, and dropping it afterwards.
 *
 * @example
 * ```ts
 * const PG_AVAILABLE = await requirePostgres('my suites', 'pnpm --filter my-package test');
 * describe.runIf(PG_AVAILABLE)('on PostgreSQL', () => {
 *   const schema = freshSchemaName('wf_mine');
 *   afterAll(() => dropSchema(schema));
 * });
 * ```
 */
import { randomBytes } from 'node:crypto';

import pg from 'pg';

import { openPostgresStorage } from './postgres-storage.js';
import type { PostgresStorage, PostgresStorageOptions } from './postgres-storage.js';

/** The server of the test suites: `WF_PG_URL`, default the local `test` database. */
export function testPostgresUrl(
  env: Readonly<Record<string, string | undefined>> = process.env,
): string {
  return env['WF_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
}

/** `undefined` when the server at `url` answers `select 1`, else the reason. */
export async function probePostgres(url = testPostgresUrl()): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
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

/**
 * Whether the suites named `suites` can run. When the server cannot be reached and `CI`
 * is set (and not `false`), throws, so a suite that was not run never counts as passing;
 * otherwise warns that the suites were NOT run and how to run them (`command`).
 */
export async function requirePostgres(
  suites: string,
  command: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<boolean> {
  const url = testPostgresUrl(env);
  const unreachable = await probePostgres(url);
  if (unreachable === undefined) return true;
  const message =
    `PostgreSQL is not reachable at ${url} (${unreachable}). The ${suites} were NOT run. ` +
    `Start PostgreSQL and run them with WF_PG_URL=postgres://postgres@127.0.0.1:5432/test ${command}`;
  const ci = env['CI'];
  if (ci !== undefined && ci !== '' && ci !== 'false') throw new Error(message);
  console.warn(`\n!!! ${message}\n`);
  return false;
}

/** A schema name of its own for one test: `<prefix>_<pid>_<random>`. */
export function freshSchemaName(prefix = 'wf_test'): string {
  return `${prefix}_${process.pid}_${randomBytes(5).toString('hex')}`;
}

/** Drops a test schema with everything in it. */
export async function dropSchema(schema: string, url = testPostgresUrl()): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`drop schema if exists "${schema.replaceAll('"', '""')}" cascade`);
  } finally {
    await client.end();
  }
}

/** Opens a store in `schema` of the test server (4 connections unless told otherwise). */
export function openTestStorage(
  schema: string,
  options: Omit<PostgresStorageOptions, 'schema'> = {},
): Promise<PostgresStorage> {
  return openPostgresStorage({
    connectionString: testPostgresUrl(),
    maxConnections: 4,
    ...options,
    schema,
  });
}
