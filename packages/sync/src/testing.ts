/**
 * Helpers for tests that run against a PostgreSQL hub (`@wirthforge/sync/testing`):
 * whether a server answers, a schema name of one's own, and dropping it afterwards.
 */
import type { Database } from '@wirthforge/storage';
import { freshSchemaName, testPostgresUrl } from '@wirthforge/storage-postgres/testing';
import { sql } from 'kysely';
import type { Kysely } from 'kysely';

import { openSyncHub } from './sync-hub.js';
import { resolveSyncConfig } from './sync-config.js';

/** The server tests use: `WF_PG_URL`, default the local one. */
export function testHubUrl(
  env: Readonly<Record<string, string | undefined>> = process.env,
): string {
  return testPostgresUrl(env);
}

/** A fresh schema name for one test (so parallel runs never share a hub). */
export function freshHubSchema(prefix = 'wf_sync'): string {
  return freshSchemaName(prefix);
}

/** `undefined` when a hub can be opened at `url`, else why not (no password in it). */
export async function probeHub(url: string): Promise<string | undefined> {
  const schema = freshHubSchema('wf_probe');
  try {
    const hub = await openSyncHub(resolveSyncConfig({ url, schema, env: {} })!);
    await dropSchema(hub.storage.db, schema);
    await hub.close();
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

async function dropSchema(db: Kysely<Database>, schema: string): Promise<void> {
  await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(db);
}

/** Drops a hub's schema with everything in it. */
export async function dropHubSchema(url: string, schema: string): Promise<void> {
  const hub = await openSyncHub(resolveSyncConfig({ url, schema, env: {} })!);
  try {
    await dropSchema(hub.storage.db, schema);
  } finally {
    await hub.close();
  }
}
