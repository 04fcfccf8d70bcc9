/**
 * The one-round-trip append: a storage that saw no other writer since its last commit
 * plans the next group against what it remembers and sends it as one call of the append
 * function, which checks the head and the streams' versions under the lock. Whatever
 * another writer did meanwhile (appended, purged, stored an id), the call writes nothing,
 * the group is planned again from the state read under the lock, and the outcome is the
 * one of the four-round-trip path: gap-free positions, exact expected versions, repeats
 * recognised.
 */
import { isConcurrencyError } from '@wirthforge/storage';
import type { NewEventRecord } from '@wirthforge/storage';
import pg from 'pg';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';

import { APPEND_FUNCTION } from '../src/append-function.js';
import type { PostgresStorage } from '../src/index.js';
import { PG_AVAILABLE, dropSchema, freshSchemaName, openTestStorage } from './fixtures.js';

const schemas: string[] = [];
afterAll(async () => {
  for (const schema of schemas) await dropSchema(schema);
});

/** Counts the calls of the append function the pools' clients send, and their results. */
const calls = { sent: 0 };
// eslint-disable-next-line @typescript-eslint/unbound-method -- put back as it was, unbound
const query = pg.Client.prototype.query;
beforeEach(() => {
  calls.sent = 0;
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    const config = args[0] as { text?: unknown } | string;
    const text = typeof config === 'string' ? config : config.text;
    if (typeof text === 'string' && text.includes(APPEND_FUNCTION)) calls.sent++;
    return (query as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof query;
});
afterEach(() => {
  pg.Client.prototype.query = query;
});

function event(n: number, eventId?: string): NewEventRecord {
  return {
    type: 'energy.update',
    schemaVersion: 1,
    timestampUs: 1_000 + n,
    payload: Uint8Array.of(n & 0xff, 0, 255),
    ...(eventId === undefined ? {} : { eventId }),
  };
}

/** A storage that appended `stream` twice (so it trusts what it knows) and its version. */
async function warm(schema: string, stream: string): Promise<[PostgresStorage, bigint]> {
  const storage = await openTestStorage(schema);
  await storage.appendBatch([{ stream, expectedVersion: 'any', events: [event(1)] }]);
  const second = await storage.appendBatch([
    { stream, expectedVersion: 'any', events: [event(2)] },
  ]);
  return [storage, second.streams[0]!.nextExpectedVersion];
}

async function positions(storage: PostgresStorage): Promise<[string, bigint][]> {
  const out: [string, bigint][] = [];
  for await (const e of storage.readAll()) out.push([e.stream, e.position]);
  return out;
}

describe.runIf(PG_AVAILABLE)('postgres one-round-trip appends', () => {
  it('append a pipelined stream in one call per group, in order', async () => {
    const schema = freshSchemaName('wf_fn');
    schemas.push(schema);
    const [storage, version] = await warm(schema, 'session-a');
    try {
      calls.sent = 0;
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          storage.appendBatch([
            {
              stream: 'session-a',
              expectedVersion: version + BigInt(2 * i),
              events: [event(10 + i), event(20 + i, `fn-${i}`)],
            },
          ]),
        ),
      );
      expect(calls.sent).toBeGreaterThan(0);
      expect(results.map((r) => r.lastPosition)).toEqual(
        Array.from({ length: 8 }, (_, i) => BigInt(4 + 2 * i)),
      );
      const read = [];
      for await (const e of storage.readStream('session-a')) read.push(e);
      expect(read.map((e) => e.version)).toEqual(
        Array.from({ length: 18 }, (_, i) => BigInt(i + 1)),
      );
      expect(read[3]).toMatchObject({
        position: 4n,
        eventId: 'fn-0',
        timestampUs: 1_020,
        payload: Uint8Array.of(20, 0, 255),
      });
    } finally {
      await storage.close();
    }
  });

  it('plan again after another writer moved the head: no position is handed out twice', async () => {
    const schema = freshSchemaName('wf_fn');
    schemas.push(schema);
    const [a, version] = await warm(schema, 'session-a');
    const b = await openTestStorage(schema);
    try {
      // b's events hold positions 3 and 4, then go: nothing is left at those positions,
      // but the head stays at 4.
      await b.appendBatch([
        { stream: 'session-b', expectedVersion: 'no_stream', events: [event(3), event(4)] },
      ]);
      await b.purgeStreams(['session-b']);
      calls.sent = 0;
      const next = await a.appendBatch([
        { stream: 'session-a', expectedVersion: version, events: [event(5)] },
      ]);
      // The call was made, found the head moved, and wrote nothing.
      expect(calls.sent).toBe(1);
      expect(next.lastPosition).toBe(5n);
      expect(await positions(a)).toEqual([
        ['session-a', 1n],
        ['session-a', 2n],
        ['session-a', 5n],
      ]);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('refuse an expected version of a stream another storage purged meanwhile', async () => {
    const schema = freshSchemaName('wf_fn');
    schemas.push(schema);
    const [a, version] = await warm(schema, 'session-a');
    const b = await openTestStorage(schema);
    try {
      // Neither the purge nor a stream created by a row write moves the head, and the new
      // stream gets the purged stream's id: only the check of the version sees it.
      await b.purgeStreams(['session-a']);
      await b.appendBatch([], {
        writes: [
          {
            kind: 'session.upsert',
            sessionId: '20250817T194800Z_001',
            stream: 'session-x',
            userId: 'default',
            status: 'active',
            startedUs: 1_755_460_080_000_000,
            totalEvents: 0,
            totalEnergy: 0,
            totalTokens: 0,
            updatedUs: 1_755_460_081_000_000,
          },
        ],
      });
      calls.sent = 0;
      const error = await a
        .appendBatch([{ stream: 'session-a', expectedVersion: version, events: [event(5)] }])
        .catch((e: unknown) => e);
      expect(calls.sent).toBe(1);
      expect(isConcurrencyError(error)).toBe(true);
      expect(await a.streamVersion('session-x')).toBe(0n);
      expect(await positions(a)).toEqual([]);
      const again = await a.appendBatch([
        { stream: 'session-a', expectedVersion: 'no_stream', events: [event(6)] },
      ]);
      expect(again.streams[0]!.positions).toEqual([3n]);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('recognise a repeat of an id another storage stored meanwhile', async () => {
    const schema = freshSchemaName('wf_fn');
    schemas.push(schema);
    const [a, version] = await warm(schema, 'session-a');
    const b = await openTestStorage(schema);
    try {
      // b stores the id in a's stream; a, unaware, sends it again with the same content.
      const stored = await b.appendBatch([
        { stream: 'session-a', expectedVersion: version, events: [event(7, 'shared')] },
      ]);
      const repeat = await a.appendBatch([
        { stream: 'session-a', expectedVersion: version, events: [event(7, 'shared')] },
      ]);
      expect(repeat.streams[0]!.positions).toEqual(stored.streams[0]!.positions);
      expect(await a.headPosition()).toBe(3n);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('recognise a repeat of an id it stored itself (the call fails on the unique id)', async () => {
    const schema = freshSchemaName('wf_fn');
    schemas.push(schema);
    const [a, version] = await warm(schema, 'session-a');
    try {
      const first = await a.appendBatch([
        { stream: 'session-a', expectedVersion: version, events: [event(8, 'own')] },
      ]);
      calls.sent = 0;
      const repeat = await a.appendBatch([
        { stream: 'session-a', expectedVersion: 'any', events: [event(8, 'own'), event(9)] },
      ]);
      expect(calls.sent).toBe(1);
      expect(repeat.streams[0]!.positions).toEqual([first.lastPosition, first.lastPosition + 1n]);
      expect(await a.headPosition()).toBe(4n);
    } finally {
      await a.close();
    }
  });
});
