import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { isIdempotencyConflictError, isStorageError, migrateToLatest } from '@wirthforge/storage';
import type { Database, NewEventRecord, StreamAppend } from '@wirthforge/storage';
import fc from 'fast-check';
import { Kysely, SqliteDialect } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { openConnection } from './sqlite-connection.js';
import type { SqliteConnection } from './sqlite-connection.js';
import { sqliteSchemaDialect } from './sqlite-schema-dialect.js';
import { SqliteSealer } from './sqlite-sealer.js';
import { resolveSealOptions } from './sqlite-storage.js';
import { SqliteWriter } from './sqlite-writer.js';
import { encodeAppendRequest } from './sqlite-writer-protocol.js';

let dir: string;
let connection: SqliteConnection;
let nextId = 1;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wf-sealer-'));
  const path = join(dir, 'state.db');
  const db = new Kysely<Database>({
    dialect: new SqliteDialect({ database: openConnection(path) }),
  });
  await migrateToLatest(db, sqliteSchemaDialect);
  await db.destroy();
  connection = openConnection(path);
  connection.pragma('journal_mode = WAL');
  connection.pragma('synchronous = NORMAL');
});
afterEach(() => {
  if (connection.open) connection.close();
  rmSync(dir, { recursive: true, force: true });
});

const ev = (i: number, eventId?: string): NewEventRecord => ({
  type: i % 3 === 0 ? 'model.output' : 'energy.update',
  schemaVersion: 1,
  timestampUs: 1_000_000 + i * 16_667,
  frameId: i,
  eventId,
  payload: Uint8Array.of(0x81, 0xa1, 0x65, i & 0x7f),
});

function append(writer: SqliteWriter, sealer: SqliteSealer, appends: StreamAppend[]) {
  const result = writer.append(encodeAppendRequest(nextId++, appends, []).message);
  appends.forEach((a, s) => sealer.noteAppended(a.stream, result.nextVersions[s]!));
  return result;
}

const count = (table: string): number =>
  connection.prepare(`select count(*) from ${table}`).pluck().get() as number;

describe('SqliteSealer', () => {
  it('seals the oldest minEvents of a stream in one step, and leaves fewer hot', () => {
    let now = 0;
    const writer = new SqliteWriter(connection);
    const sealer = new SqliteSealer(connection, { minEvents: 10, maxAgeMs: 1000 }, () => now);
    append(writer, sealer, [
      {
        stream: 'session-1',
        expectedVersion: 'any',
        events: Array.from({ length: 25 }, (_, i) => ev(i)),
      },
    ]);
    expect(sealer.hasBacklog(2)).toBe(true);
    expect(sealer.sealNext(now)).toMatchObject({ stream: 'session-1', events: 10 });
    expect(sealer.sealNext(now)).toMatchObject({ events: 10 });
    // Five left: not due until they are maxAgeMs old.
    expect(sealer.hasWork(now)).toBe(false);
    expect(sealer.sealNext(now)).toBeUndefined();
    expect(count('events')).toBe(5);
    now += 1000;
    expect(sealer.sealNext(now)).toMatchObject({ events: 5 });
    expect(count('events')).toBe(0);
    expect(
      connection
        .prepare('select first_version, last_version from segments order by id')
        .raw()
        .all(),
    ).toEqual([
      [1, 10],
      [11, 20],
      [21, 25],
    ]);
  });

  it('counts the hot backlog over every stream and, asked for the largest, seals a small stream', () => {
    const now = 0;
    const writer = new SqliteWriter(connection);
    const sealer = new SqliteSealer(connection, { minEvents: 10, maxAgeMs: 1000 }, () => now);
    append(writer, sealer, [
      { stream: 'session-1', expectedVersion: 'any', events: [ev(0), ev(1), ev(2)] },
      { stream: 'session-2', expectedVersion: 'any', events: [ev(3), ev(4), ev(5), ev(6)] },
    ]);
    expect(sealer.hotEvents()).toBe(7);
    // Neither stream has a full segment nor aged events: nothing is due...
    expect(sealer.hasWork(now)).toBe(false);
    expect(sealer.sealNext(now)).toBeUndefined();
    // ...unless the backlog must shrink: then the stream with most unsealed events goes.
    expect(sealer.hasWork(now, true)).toBe(true);
    expect(sealer.sealNext(now, true)).toMatchObject({ stream: 'session-2', events: 4 });
    expect(sealer.hotEvents()).toBe(3);
    expect(sealer.sealNext(now, true)).toMatchObject({ stream: 'session-1', events: 3 });
    expect(sealer.hotEvents()).toBe(0);
    expect(sealer.sealNext(now, true)).toBeUndefined();
    expect(count('events')).toBe(0);
    expect(count('segments')).toBe(2);
  });

  it('keeps each event exactly once whatever interleaving of appends and seals', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 1, max: 9 }), fc.boolean()),
          {
            minLength: 1,
            maxLength: 30,
          },
        ),
        (steps) => {
          connection.exec(
            "delete from sealed_event_ids; delete from segments; delete from events; delete from streams; delete from metadata where key = 'segment_max_span'",
          );
          const writer = new SqliteWriter(connection);
          const sealer = new SqliteSealer(connection, { minEvents: 4, maxAgeMs: 0 });
          let total = 0;
          const original: { stream: string; position: number }[] = [];
          for (const [stream, n, seal] of steps) {
            const events = Array.from({ length: n }, (_, i) => ev(total + i, `id-${total + i}`));
            total += n;
            const result = append(writer, sealer, [
              { stream: `s-${stream}`, expectedVersion: 'any', events },
            ]);
            for (const p of result.positions) original.push({ stream: `s-${stream}`, position: p });
            if (seal) while (sealer.sealNext() !== undefined);
          }
          const sealed = connection
            .prepare('select coalesce(sum(event_count), 0) from segments')
            .pluck()
            .get() as number;
          expect(sealed + count('events')).toBe(total);
          expect(count('sealed_event_ids')).toBe(sealed);
          // Every id, hot or sealed, is still a repeat of its original event.
          for (let i = 0; i < total; i++) {
            const again = writer.append(
              encodeAppendRequest(
                nextId++,
                [
                  {
                    stream: original[i]!.stream,
                    expectedVersion: 'any',
                    events: [ev(i, `id-${i}`)],
                  },
                ],
                [],
              ).message,
            );
            expect(again.positions[0]).toBe(original[i]!.position);
          }
          expect(writer.headPosition).toBe(total);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('answers a sealed id with its original position, and a changed one with a conflict', () => {
    const writer = new SqliteWriter(connection);
    const sealer = new SqliteSealer(connection, { minEvents: 3, maxAgeMs: 0 });
    const events = [ev(0, 'a'), ev(1, 'b'), ev(2, 'c')];
    append(writer, sealer, [{ stream: 'session-1', expectedVersion: 'no_stream', events }]);
    expect(sealer.sealNext()).toMatchObject({ events: 3 });
    expect(count('events')).toBe(0);
    const again = append(writer, sealer, [
      { stream: 'session-1', expectedVersion: 'no_stream', events: [events[1]!] },
    ]);
    expect(Array.from(again.positions)).toEqual([2]);
    let error: unknown;
    try {
      append(writer, sealer, [
        { stream: 'session-1', expectedVersion: 'any', events: [{ ...events[2]!, frameId: 99 }] },
      ]);
    } catch (e) {
      error = e;
    }
    expect(isIdempotencyConflictError(error)).toBe(true);
    expect((error as Error).message).toMatch(/frameId differs \(sealed\)/);
  });

  it('refuses to seal a hot row that fails its checksum, and leaves it hot', () => {
    const writer = new SqliteWriter(connection);
    const sealer = new SqliteSealer(connection, { minEvents: 2, maxAgeMs: 0 });
    append(writer, sealer, [
      { stream: 'session-1', expectedVersion: 'any', events: [ev(0), ev(1)] },
    ]);
    connection.prepare("update events set payload = x'00' where position = 2").run();
    let error: unknown;
    try {
      sealer.sealNext();
    } catch (e) {
      error = e;
    }
    expect(isStorageError(error, 'corrupt')).toBe(true);
    expect((error as Error).message).toContain('position 2');
    expect(count('events')).toBe(2);
    expect(count('segments')).toBe(0);
    expect(sealer.hasWork()).toBe(false);
  });
});

describe('resolveSealOptions', () => {
  it('fills defaults and refuses bad values, naming the option', () => {
    expect(resolveSealOptions(undefined)).toEqual({ minEvents: 3600, maxAgeMs: 60_000 });
    expect(resolveSealOptions({ minEvents: 5 })).toEqual({ minEvents: 5, maxAgeMs: 60_000 });
    expect(resolveSealOptions(false)).toBe(false);
    for (const bad of [
      { minEvents: 0 },
      { minEvents: 1.5 },
      { maxAgeMs: -1 },
      { minEvents: 2_000_000 },
    ]) {
      let error: unknown;
      try {
        resolveSealOptions(bad);
      } catch (e) {
        error = e;
      }
      expect(isStorageError(error, 'invalid_argument')).toBe(true);
      expect((error as Error).message).toMatch(/options\.seal\./);
    }
  });
});
