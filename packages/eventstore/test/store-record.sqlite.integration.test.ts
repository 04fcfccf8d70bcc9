import { join } from 'node:path';
import { parseIsoMicros, payloadDataSource, sessionStream, toIsoMicros } from '@wirthforge/events';
import { anyEventArbitrary } from '@wirthforge/events/testing';
import { collectEvents } from '@wirthforge/simulator';
import { openSqliteStorage } from '@wirthforge/storage-sqlite';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { RecordDecoder } from '../src/store-record.js';
import { createEventStore, type AppendableEvent, type EventStore } from '../src/index.js';
import { tempDir } from './store-fixtures.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Equal, with the same keys in the same order at every level. */
function expectSameOrdered(actual: unknown, expected: unknown): void {
  expect(JSON.stringify(actual)).toBe(JSON.stringify(expected));
  expect(actual).toStrictEqual(expected);
}

describe('events read from sealed segments', () => {
  it('are built from the columns exactly as decoding their payloads builds them', async () => {
    const { dir, remove } = await tempDir();
    const storage = await openSqliteStorage({
      path: join(dir, 'state.db'),
      seal: { minEvents: 200, maxAgeMs: 0 },
    });
    const store: EventStore = createEventStore({ storage, cache: false });
    cleanups.push(async () => {
      await store.close();
      await remove();
    });
    const simulated = collectEvents({ seed: 11, durationSeconds: 8 });
    const sessionId = simulated[0]!.session_id;
    const last = simulated[simulated.length - 2]!;
    const ids = new Set(simulated.map((event) => (event as { event_id?: string }).event_id));
    const stream = sessionStream(sessionId);
    // Every type, every optional field present or not, -0, long and non-ASCII strings.
    const sampled = fc
      .sample(anyEventArbitrary(), { numRuns: 300, seed: 5 })
      .filter((event) => event.type !== 'system.start' && event.type !== 'system.end')
      // Event ids that never collide (a repeated id is the same event to the store).
      .filter((event) => {
        const id = (event as { event_id?: string }).event_id;
        if (id === undefined) return true;
        if (id === '') return false;
        if (ids.has(id)) return false;
        ids.add(id);
        return true;
      })
      // Times the store keeps: from the epoch on.
      .map((event, i) => {
        const timestamp = toIsoMicros(parseIsoMicros(last.timestamp) + i);
        const appendable: AppendableEvent = { ...event, session_id: sessionId, timestamp };
        return appendable;
      });
    const events = [...simulated.slice(0, -1), ...sampled];
    for (let i = 0; i < events.length; i += 100) {
      await store.appendToStream(stream, events.slice(i, i + 100));
    }
    // Sealing runs in the background: wait until most events are in segments.
    const hot = async (): Promise<number> =>
      Number(
        (
          await storage.db
            .selectFrom('events')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
    for (let i = 0; i < 200 && (await hot()) >= 200; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(await hot()).toBeLessThan(200);

    const decoder = new RecordDecoder(undefined);
    const reference = new RecordDecoder(undefined);
    const expected: unknown[] = [];
    let fromColumns = 0;
    let both = 0;
    for await (const record of storage.readStream(stream)) {
      if (payloadDataSource(record.payload.buffer) !== undefined) fromColumns++;
      if (record.frameId !== null && record.eventId !== null) both++;
      const event = reference.decodedEvent(stream, record);
      expected.push(event);
      expectSameOrdered(decoder.event(stream, record), event);
    }
    expect(expected).toHaveLength(events.length);
    expect(fromColumns).toBeGreaterThan(events.length / 2);
    // Both envelope ids at once, so their order is checked too.
    expect(both).toBeGreaterThan(0);
    // The store's own reads give the same events.
    const records = await store.readStream(stream).toArray();
    expectSameOrdered(
      records.map((record) => record.event),
      expected,
    );
    const all = await store.readAll().toArray();
    expectSameOrdered(
      all.map((record) => record.event),
      expected,
    );
  });
});
