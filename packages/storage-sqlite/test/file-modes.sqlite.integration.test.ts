import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { openSqliteStorage } from '../src/index.js';
import { frame, tempDir } from './fixtures.js';

let dir: string;
let remove: () => Promise<void>;
let previousUmask: number;

beforeEach(async () => {
  ({ dir, remove } = await tempDir('modes'));
  // The most permissive usual umask: modes must not depend on it.
  previousUmask = process.umask(0o022);
});
afterEach(async () => {
  process.umask(previousUmask);
  await remove();
});

/** Mode bits of every file in `dir`, by name. */
function modes(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir)) {
    out[name] = (statSync(join(dir, name)).mode & 0o777).toString(8);
  }
  return out;
}

describe('file modes', () => {
  it('creates the database, its WAL and shm, the lock file and backups owner-only (0600)', async () => {
    const path = join(dir, 'state.db');
    const storage = await openSqliteStorage({ path });
    try {
      await storage.appendBatch([
        { stream: 'session-1', expectedVersion: 'any', events: frame(0, 5) },
      ]);
      await storage.backup(join(dir, 'copy.db'));
      const seen = modes();
      expect(Object.keys(seen).sort()).toEqual(
        expect.arrayContaining([
          'copy.db',
          'state.db',
          'state.db-shm',
          'state.db-wal',
          'state.db.lock',
        ]),
      );
      for (const [name, mode] of Object.entries(seen)) expect([name, mode]).toEqual([name, '600']);
    } finally {
      await storage.close();
    }
  });
});
