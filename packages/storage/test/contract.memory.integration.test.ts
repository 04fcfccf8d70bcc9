import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';

import { isStorageError } from '../src/errors.js';
import { eventChecksum } from '../src/event-checksum.js';
import { createMemoryStorage } from '../src/memory-storage.js';
import type { MemoryStorage } from '../src/memory-storage.js';
import { storageContractSuite } from '../src/testing/index.js';

storageContractSuite('memory', () => {
  let current: MemoryStorage = createMemoryStorage();
  return Promise.resolve({
    storage: current,
    db: current.db,
    // The suite closes the open handle before it reopens.
    reopen: () => {
      current = current.reopen();
      return Promise.resolve(current);
    },
    cleanup: () => Promise.resolve(),
  });
});

async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

const event = (byte: number) => ({
  type: 'energy.update',
  schemaVersion: 1,
  timestampUs: 1_755_460_080_000_000 + byte,
  payload: Uint8Array.of(0x81, 0xa1, 0x65, byte),
});

describe('memory storage', () => {
  it('has one open handle at a time, and reopening sees the data', async () => {
    const storage = createMemoryStorage();
    await storage.appendBatch([
      { stream: 'session-a', expectedVersion: 'any', events: [event(1)] },
    ]);
    expect(() => storage.reopen()).toThrow(/close it before reopening/);
    await storage.close();
    expect(storage.isClosed).toBe(true);
    const again = storage.reopen();
    expect(await again.headPosition()).toBe(1n);
    expect(isStorageError(await failure(storage.headPosition()), 'closed')).toBe(true);
    expect(
      isStorageError(
        await failure(storage.db.selectFrom('streams').selectAll().execute()),
        'closed',
      ),
    ).toBe(true);
    await again.close();
  });

  it('copies payloads in and out', async () => {
    const storage = createMemoryStorage();
    const mine = event(7);
    await storage.appendBatch([{ stream: 'x', expectedVersion: 'any', events: [mine] }]);
    mine.payload[3] = 99;
    const [first] = await readAll(storage);
    expect(first?.payload[3]).toBe(7);
    first!.payload[3] = 42;
    const [second] = await readAll(storage);
    expect(second?.payload[3]).toBe(7);
    await storage.close();
  });

  it('answers the readable views and the event table like the SQLite schema', async () => {
    const storage = createMemoryStorage();
    const started = 1_755_460_080_000_000;
    await storage.appendBatch(
      [{ stream: 'session-s1', expectedVersion: 'no_stream', events: [event(1), event(2)] }],
      {
        writes: [
          {
            kind: 'session.upsert',
            sessionId: 's1',
            stream: 'session-s1',
            userId: 'ada',
            status: 'active',
            startedUs: started,
            totalEvents: 2,
            totalEnergy: 9,
            totalTokens: 0,
            updatedUs: started,
          },
          { kind: 'audit.insert', timestampUs: started, actor: 'cli', action: 'export' },
        ],
      },
    );
    expect(await storage.db.selectFrom('active_sessions').selectAll().execute()).toEqual([
      {
        session_id: 's1',
        user_id: 'ada',
        stream: 'session-s1',
        started_at: '2025-08-17T19:48:00.000Z',
        total_events: 2,
        total_energy: 9,
        total_tokens: 0,
      },
    ]);
    expect(await storage.db.selectFrom('audit_log').select(['actor', 'at']).execute()).toEqual([
      { actor: 'cli', at: '2025-08-17T19:48:00.000Z' },
    ]);
    const rows = await storage.db
      .selectFrom('events')
      .innerJoin('streams', 'streams.id', 'events.stream_id')
      .select(['events.position', 'events.checksum', 'streams.name as stream'])
      .where('events.version', '>=', 2)
      .execute();
    const [stored] = (await readAll(storage)).slice(1);
    expect(rows).toEqual([{ position: 2, checksum: eventChecksum(stored!), stream: 'session-s1' }]);
    const filtered = await storage.db
      .selectFrom('sessions')
      .select('session_id')
      .where((eb) => eb.or([eb('user_id', '=', 'bob'), eb('status', 'in', ['active', 'ended'])]))
      .where('ended_us', 'is', null)
      .execute();
    expect(filtered).toEqual([{ session_id: 's1' }]);
    await storage.close();
  });

  it('refuses writes and queries it does not evaluate through db', async () => {
    const storage = createMemoryStorage();
    const write = await failure(
      storage.db.insertInto('metadata').values({ key: 'k', value: 'v' }).execute(),
    );
    expect(isStorageError(write, 'readonly')).toBe(true);
    const grouped = await failure(
      storage.db.selectFrom('events').select('stream_id').groupBy('stream_id').execute(),
    );
    expect(isStorageError(grouped, 'invalid_argument')).toBe(true);
    const raw = await failure(sql`select 1`.execute(storage.db));
    expect(isStorageError(raw, 'invalid_argument')).toBe(true);
    await storage.close();
  });
});

async function readAll(storage: MemoryStorage) {
  const out = [];
  for await (const record of storage.readAll()) out.push(record);
  return out;
}
