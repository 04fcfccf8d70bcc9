import { afterAll, beforeAll, expect, it } from 'vitest';
import { READ_CACHE_KIB, readConnectionPragma } from '../src/start-daemon.js';
import { startTestDaemon } from './daemon-harness.js';

let daemon: Awaited<ReturnType<typeof startTestDaemon>>;

beforeAll(async () => {
  daemon = await startTestDaemon();
});
afterAll(async () => {
  await daemon.cleanup();
});

it("caps the read connection's page cache at READ_CACHE_KIB (not better-sqlite3's 16 000 KiB)", async () => {
  expect(READ_CACHE_KIB).toBeLessThan(16_000);
  const rows = await readConnectionPragma(daemon.storage.db, 'cache_size');
  expect(rows).toEqual([{ cache_size: -READ_CACHE_KIB }]);
});
