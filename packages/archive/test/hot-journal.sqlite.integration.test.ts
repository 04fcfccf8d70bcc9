import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { openPartition, part } from '../src/partition-file.js';
import { all, run } from '../src/sync-sql.js';
import { tempDir } from './fixtures.js';

const BETTER_SQLITE3 = createRequire(import.meta.url).resolve('better-sqlite3');

/**
 * The child: opens the partition read-write, starts a transaction that deletes every
 * segment with a one-page cache (so changed pages spill into the file and the original
 * pages sit in the rollback journal), says `ready` and waits to be killed.
 */
const CHILD = `
const Database = require(process.env.BETTER_SQLITE3);
const db = new Database(process.argv[1]);
db.pragma('cache_size = 1');
db.exec('begin immediate');
db.exec('delete from segments');
db.exec("update partition_meta set value = 'x' where key = 'name'");
process.stdout.write('ready\\n');
setInterval(() => {}, 1000);
`;

let dir: { dir: string; remove: () => void };
beforeAll(() => {
  dir = tempDir();
});
afterAll(() => dir.remove());

function killMidTransaction(path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', CHILD, '--', path], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, BETTER_SQLITE3 },
    });
    let stderr = '';
    child.stdout.on('data', () => child.kill('SIGKILL'));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (_code, signal) =>
      signal === 'SIGKILL' ? resolve() : reject(new Error(`child ended on its own: ${stderr}`)),
    );
  });
}

describe('a partition left with a hot rollback journal', () => {
  it('opens for reading with the last committed contents', async () => {
    const path = join(dir.dir, '2026-10.db');
    const writer = openPartition(path, '2026-10', { create: true });
    const data = new Uint8Array(20_000).fill(7);
    writer.exec('begin');
    for (let i = 0; i < 40; i++) {
      run(
        writer,
        part.insertInto('segments').values({
          first_position: i + 1,
          last_position: i + 1,
          stream: `s-${i}`,
          first_version: 1,
          last_version: 1,
          first_us: 0,
          last_us: 0,
          event_count: 1,
          codec_version: 1,
          checksum: 0,
          data,
          archived_us: 0,
        }),
      );
    }
    writer.exec('commit');
    writer.close();

    await killMidTransaction(path);
    expect(existsSync(`${path}-journal`)).toBe(true);

    const reader = openPartition(path, '2026-10');
    try {
      const rows = all(reader, part.selectFrom('segments').select('first_position'));
      expect(rows.length).toBe(40);
      const name = all(
        reader,
        part.selectFrom('partition_meta').select('value').where('key', '=', 'name'),
      );
      expect(name).toEqual([{ value: '2026-10' }]);
    } finally {
      reader.close();
    }
    expect(existsSync(`${path}-journal`)).toBe(false);
  });
});
