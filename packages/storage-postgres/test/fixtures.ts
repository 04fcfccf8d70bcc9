/**
 * Where the PostgreSQL suites run: `WF_PG_URL`, default the local server. With `CI` set an
 * unreachable server fails the suite; without it, the suite is skipped with a message that
 * says how to run it. The helpers are the package's own `./testing` entry.
 */
import { requirePostgres, testPostgresUrl } from '../src/testing.js';

export { dropSchema, freshSchemaName, openTestStorage } from '../src/testing.js';

/** The server the suites use. */
export const PG_URL = testPostgresUrl();

/** Whether the suites run (false only without CI and without a server). */
export const PG_AVAILABLE = await requirePostgres(
  'PostgreSQL storage suites',
  'pnpm --filter @wirthforge/storage-postgres test',
);
