import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { openArchive } from '../src/index.js';
import { tempDir, writeSessions } from './fixtures.js';

let dir: { dir: string; remove: () => void };
let previousUmask: number;

beforeAll(() => {
  dir = tempDir();
  previousUmask = process.umask(0o022);
});
afterAll(() => {
  process.umask(previousUmask);
  dir.remove();
});

describe('file modes', () => {
  it('creates the archive directory 0700 and its partitions and lock 0600', async () => {
    const path = join(dir.dir, 'state.db');
    await writeSessions(path, [{ seed: 3, seconds: 2, start: Date.UTC(2026, 9, 4) }]);
    const archive = openArchive({ databasePath: path });
    try {
      expect(archive.run({ minAgeMs: 0 }).moved.length).toBe(1);
    } finally {
      archive.close();
    }
    const archiveDir = join(dir.dir, 'archive');
    expect((statSync(archiveDir).mode & 0o777).toString(8)).toBe('700');
    const files = readdirSync(archiveDir);
    expect(files).toContain('2026-10.db');
    for (const name of files) {
      expect([name, (statSync(join(archiveDir, name)).mode & 0o777).toString(8)]).toEqual([
        name,
        '600',
      ]);
    }
  });
});
