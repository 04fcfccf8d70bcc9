import { join } from 'node:path';

import { isStorageError } from '@wirthforge/storage';
import type { StreamAppend } from '@wirthforge/storage';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { openSqliteStorage } from '../src/index.js';
import type { SqliteStorage } from '../src/index.js';
import { frame, tempDir } from './fixtures.js';

let dir: string;
let remove: () => Promise<void>;
let path: string;
let storage: SqliteStorage;

beforeEach(async () => {
  ({ dir, remove } = await tempDir('crash'));
  path = join(dir, 'state.db');
  storage = await openSqliteStorage({ path, synchronous: 'normal' });
});
afterEach(async () => {
  await storage.close();
  await remove();
});

/** More batches than the writer can commit before the crash takes effect. */
const IN_FLIGHT = 40;

// Built once: a retry must resend exactly the same events.
const batches = new Map<number, StreamAppend[]>();
const batch = (i: number): StreamAppend[] => {
  let b = batches.get(i);
  if (b === undefined) {
    b = [
      {
        stream: 'session-crash',
        expectedVersion: 'any',
        events: frame(i, 3).map((e, j) => ({ ...e, eventId: `crash-${i}-${j}` })),
      },
    ];
    batches.set(i, b);
  }
  return b;
};

describe('writer thread failure', () => {
  it('rejects appends in flight, never resolves them, and fails later calls as closed', async () => {
    await storage.appendBatch(batch(0));
    const inFlight = Array.from({ length: IN_FLIGHT }, (_, i) => storage.appendBatch(batch(i + 1)));
    const outcomes = Promise.allSettled(inFlight);
    await storage.crashWriterForTesting();
    const settled = await outcomes;
    const rejected = settled.filter((s) => s.status === 'rejected');
    // Whatever committed before the crash may have been acknowledged; the rest must reject.
    expect(rejected.length).toBeGreaterThan(0);
    for (const r of rejected) {
      expect(isStorageError(r.reason)).toBe(true);
      expect(['closed', 'io']).toContain((r.reason as { code: string }).code);
    }
    const acknowledged = settled.filter((s) => s.status === 'fulfilled').length;

    let later: unknown;
    try {
      await storage.appendBatch(batch(99));
    } catch (error) {
      later = error;
    }
    expect(isStorageError(later, 'closed')).toBe(true);
    expect((later as Error).message).toContain('stopped unexpectedly');
    // Reads still work on their own connection.
    expect(await storage.headPosition()).toBeGreaterThanOrEqual(BigInt(3 + acknowledged * 3));
    await storage.close();

    // After a restart, a client retrying every batch gets each event exactly once.
    storage = await openSqliteStorage({ path, synchronous: 'normal' });
    for (let i = 1; i <= IN_FLIGHT; i++) await storage.appendBatch(batch(i));
    expect(await storage.streamVersion('session-crash')).toBe(BigInt(3 + IN_FLIGHT * 3));
    expect(await storage.headPosition()).toBe(BigInt(3 + IN_FLIGHT * 3));
    expect((await storage.checkIntegrity()).ok).toBe(true);
  });
});
