import { copyFileSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

import type { NewEventRecord, StoredEventRecord } from '@wirthforge/storage';
import { pack, unpack } from 'msgpackr';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import {
  checkSqliteFileIntegrity,
  openConnection,
  openSqliteStorage,
  purgeSqliteFile,
} from '../src/index.js';
import { REDACTED_SESSION_ID } from '../src/sqlite-purge.js';
import { frame, tempDir } from './fixtures.js';

const PURGED = '20250817T194800Z_001';
const KEPT = '20250817T194900Z_002';

let dir: string;
let remove: () => Promise<void>;
let path: string;
let clock = 1_755_460_100_000_000;

/**
 * A `state.snapshot_created` event as the `system` stream holds one: MessagePack, the
 * session id among the extras (as `encodeEvent` of `@wirthforge/events` keeps it for a
 * stream that is not the session's).
 */
function marker(sessionId: string, snapshotId: number): NewEventRecord {
  clock += 1000;
  return {
    type: 'state.snapshot_created',
    schemaVersion: 1,
    timestampUs: clock,
    payload: pack([1, 31, snapshotId, 'periodic', 900, 60, 0.5, { session_id: sessionId }]),
  };
}

function sessionIdOf(record: StoredEventRecord): string {
  const decoded = unpack(Buffer.from(record.payload)) as unknown[];
  return (decoded.at(-1) as { session_id: string }).session_id;
}

async function readStream(name: string): Promise<StoredEventRecord[]> {
  const storage = await openSqliteStorage({ path, seal: false, synchronous: 'normal' });
  try {
    const out: StoredEventRecord[] = [];
    for await (const record of storage.readStream(name)) out.push(record);
    return out;
  } finally {
    await storage.close();
  }
}

function count(sql: string, ...params: unknown[]): number {
  const c = openConnection(path, { readonly: true });
  try {
    return c
      .prepare(sql)
      .pluck()
      .get(...params) as number;
  } finally {
    c.close();
  }
}

beforeEach(async () => {
  ({ dir, remove } = await tempDir('purge-markers'));
  path = join(dir, 'state.db');
  // The legacy layout: every session's markers in `system`; 8 of them, 6 sealed.
  const storage = await openSqliteStorage({
    path,
    synchronous: 'normal',
    seal: { minEvents: 3, maxAgeMs: 600_000 },
  });
  try {
    for (let i = 0; i < 4; i++) {
      await storage.appendBatch([
        { stream: `session-${PURGED}`, expectedVersion: 'any', events: frame(i, 2) },
        { stream: `session-${KEPT}`, expectedVersion: 'any', events: frame(i, 2) },
        {
          stream: 'system',
          expectedVersion: 'any',
          events: [marker(PURGED, 2 * i + 1), marker(KEPT, 2 * i + 2)],
        },
      ]);
    }
    // The current layout: a session's own marker stream, named after its stream.
    await storage.appendBatch([
      {
        stream: `snapshots:session-${PURGED}`,
        expectedVersion: 'any',
        events: [marker(PURGED, 9)],
      },
      { stream: `snapshots:session-${KEPT}`, expectedVersion: 'any', events: [marker(KEPT, 10)] },
    ]);
    const deadline = Date.now() + 20_000;
    const sealedSystem = (): number =>
      count(
        "select count(*) from segments s join streams t on t.id = s.stream_id where t.name = 'system'",
      );
    while (sealedSystem() < 2 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  } finally {
    await storage.close();
  }
});
afterEach(async () => {
  await remove();
});

describe('purgeSqliteFile and snapshot markers', () => {
  it("removes the session's own marker stream with it, and only that one", async () => {
    const report = purgeSqliteFile(path, { streams: [`session-${PURGED}`] });
    expect(report.streams).toEqual([`session-${PURGED}`, `snapshots:session-${PURGED}`]);
    expect(await readStream(`snapshots:session-${PURGED}`)).toEqual([]);
    const kept = await readStream(`snapshots:session-${KEPT}`);
    expect(kept.map(sessionIdOf)).toEqual([KEPT]);
    expect((await checkSqliteFileIntegrity(path)).problems).toEqual([]);
  });

  it('redacts the purged session in the markers of the system stream, hot and sealed, keeping positions and versions', async () => {
    const before = await readStream('system');
    expect(before).toHaveLength(8);
    expect(
      count(
        "select count(*) from events e join streams t on t.id = e.stream_id where t.name = 'system'",
      ),
    ).toBeLessThan(8);
    const report = purgeSqliteFile(path, { streams: [`session-${PURGED}`] });
    expect(report.rows.redactedMarkers).toBe(4);

    const after = await readStream('system');
    expect(after.map((r) => [r.position, r.version, r.type, r.timestampUs])).toEqual(
      before.map((r) => [r.position, r.version, r.type, r.timestampUs]),
    );
    expect(after.map(sessionIdOf)).toEqual(
      before.map((r) => (sessionIdOf(r) === PURGED ? REDACTED_SESSION_ID : KEPT)),
    );
    // Everything but the session id is as it was.
    after.forEach((r, i) => {
      const was = unpack(Buffer.from(before[i]!.payload)) as unknown[];
      expect((unpack(Buffer.from(r.payload)) as unknown[]).slice(0, -1)).toEqual(was.slice(0, -1));
    });
    expect((await checkSqliteFileIntegrity(path)).problems).toEqual([]);

    // Without the purge's own audit line, no byte of the file holds the purged id.
    const copy = join(dir, 'copy.db');
    copyFileSync(path, copy);
    const c = openConnection(copy);
    try {
      c.prepare("delete from audit where action = 'purge'").run();
      c.exec('VACUUM');
      c.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      c.close();
    }
    const holding = readdirSync(dir).filter(
      (name) => name.startsWith('copy.db') && readFileSync(join(dir, name)).includes(PURGED),
    );
    expect(holding).toEqual([]);
    // The kept session's id is still there, in clear in the hot rows or its stream names.
    expect(readFileSync(copy).includes(KEPT)).toBe(true);
  });

  it('purges the markers of a session whose stream is no longer in the live file (archived)', async () => {
    const archived = '20250817T195000Z_003';
    const storage = await openSqliteStorage({ path, seal: false, synchronous: 'normal' });
    try {
      await storage.appendBatch([
        { stream: 'system', expectedVersion: 'any', events: [marker(archived, 11)] },
        {
          stream: `snapshots:session-${archived}`,
          expectedVersion: 'any',
          events: [marker(archived, 12)],
        },
      ]);
    } finally {
      await storage.close();
    }
    const report = purgeSqliteFile(path, { streams: [`session-${archived}`] });
    expect(report.streams).toEqual([`snapshots:session-${archived}`]);
    expect(report.rows.redactedMarkers).toBe(1);
    const system = await readStream('system');
    expect(system.map(sessionIdOf).filter((id) => id === archived)).toEqual([]);
    expect(system.map(sessionIdOf).filter((id) => id === PURGED)).toHaveLength(4);
    expect(system.map(sessionIdOf).filter((id) => id === KEPT)).toHaveLength(4);
    // A second purge of the same session finds nothing left to remove.
    expect(() => purgeSqliteFile(path, { streams: [`session-${archived}`] })).toThrow(
      expect.objectContaining({ code: 'invalid_argument' }) as Error,
    );
    expect((await checkSqliteFileIntegrity(path)).problems).toEqual([]);
  });
});
