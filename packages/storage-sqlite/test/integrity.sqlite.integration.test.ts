import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { checkSqliteFileIntegrity, openConnection, openSqliteStorage } from '../src/index.js';
import type { SqliteConnection, SqliteStorage } from '../src/index.js';
import { frame, tempDir } from './fixtures.js';

let dir: string;
let remove: () => Promise<void>;
let path: string;
let storage: SqliteStorage;

beforeEach(async () => {
  ({ dir, remove } = await tempDir('integrity'));
  path = join(dir, 'state.db');
  storage = await openSqliteStorage({ path, synchronous: 'normal' });
  for (let f = 0; f < 5; f++) {
    await storage.appendBatch([
      { stream: 'session-a', expectedVersion: 'any', events: frame(f, 4) },
      { stream: 'session-b', expectedVersion: 'any', events: frame(f, 2) },
    ]);
  }
});
afterEach(async () => {
  await storage.close();
  await remove();
});

/** Changes the file behind the storage's back, as a bad disk or a careless tool would. */
function tamper(fn: (c: SqliteConnection) => void): void {
  const connection = openConnection(path);
  connection.pragma('foreign_keys = OFF');
  try {
    fn(connection);
  } finally {
    connection.close();
  }
}

describe('integrity checks', () => {
  it('passes on a healthy store, in full and quick mode', async () => {
    const full = await storage.checkIntegrity();
    expect(full).toMatchObject({
      ok: true,
      quick: false,
      problems: [],
      eventsChecked: 30,
      streamsChecked: 2,
    });
    expect(full.headPosition).toBe(30n);
    expect((await storage.checkIntegrity({ quick: true })).ok).toBe(true);
  });

  it('names the position of a payload altered in place, which SQLite itself does not notice', async () => {
    tamper((c) => c.prepare("update events set payload = x'00ff00' where position = 17").run());
    const sqliteOwn = openConnection(path, { readonly: true });
    expect(sqliteOwn.pragma('integrity_check', { simple: true })).toBe('ok');
    sqliteOwn.close();

    const report = await storage.checkIntegrity();
    expect(report.ok).toBe(false);
    expect(report.problems).toHaveLength(1);
    expect(report.problems[0]).toMatchObject({
      kind: 'checksum',
      position: 17n,
      stream: 'session-b',
      version: 5n,
    });
    expect(report.problems[0]!.message).toContain('position 17');
  });

  it('finds position gaps, stream version gaps and stale stream versions', async () => {
    tamper((c) => {
      c.prepare('delete from events where position in (8, 9)').run();
      c.prepare("update streams set version = 99 where name = 'session-b'").run();
    });
    const report = await checkSqliteFileIntegrity(path);
    const kinds = report.problems.map((p) => p.kind).sort();
    expect(kinds).toEqual(['position_gap', 'stream_version', 'version_gap']);
    expect(report.problems).toContainEqual(
      expect.objectContaining({ kind: 'position_gap', from: 8n, to: 9n }),
    );
    expect(report.problems).toContainEqual(
      expect.objectContaining({
        kind: 'stream_version',
        stream: 'session-b',
        recorded: 99n,
        actual: 10n,
      }),
    );
    const gap = report.problems.find((p) => p.kind === 'version_gap');
    expect(gap).toMatchObject({ stream: 'session-a' });
  });

  it('limits the number of problems it collects', async () => {
    tamper((c) => c.prepare("update events set payload = x'01'").run());
    const report = await storage.checkIntegrity({ maxProblems: 5 });
    expect(report.problems).toHaveLength(5);
    expect(report.truncated).toBe(true);
  });
});
