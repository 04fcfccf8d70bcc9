import fc from 'fast-check';
import type { Kysely } from 'kysely';
import { describe, expect, it } from 'vitest';

import type { Database } from '../database.js';
import { isConcurrencyError, isStorageError } from '../errors.js';
import type { ConcurrencyError, StorageErrorCode } from '../errors.js';
import type {
  AppendBatchOptions,
  EventStorage,
  NewEventRecord,
  ReadAllOptions,
  ReadStreamOptions,
  StoredEventRecord,
  StreamAppend,
} from '../event-storage.js';
import { AuditRepository } from '../repositories/audit-repository.js';
import { MetadataRepository } from '../repositories/metadata-repository.js';
import { SessionRepository } from '../repositories/session-repository.js';
import { SnapshotRepository } from '../repositories/snapshot-repository.js';
import { UserRepository } from '../repositories/user-repository.js';
import type { RowWrite } from '../row-write.js';
import { readAllPages, readStreamPages } from '../read-pages.js';
import { MAX_PAYLOAD_BYTES } from '../validate-append-batch.js';
import { SCHEMA_VERSION } from '../schema-version.js';
import { EventStorageModel, eventStorageCommands, plainRecord } from './event-storage-model.js';
import type { RealStorage } from './event-storage-model.js';

/** What a dialect's factory hands the contract suite for one test. */
export interface StorageContractContext {
  /** A fresh, empty storage. */
  readonly storage: EventStorage;
  /**
   * Opens the same database again. The suite closes the current storage before calling
   * it. Needed by the restart tests (idempotency after restart, the model run).
   */
  readonly reopen?: () => Promise<EventStorage>;
  /**
   * A Kysely instance reading the same database, for the row-write and repository tests
   * (the suite never writes through it).
   */
  readonly db?: Kysely<Database>;
  /** Removes what the factory created. The suite has closed every storage by then. */
  readonly cleanup: () => Promise<void>;
}

/** Creates a {@link StorageContractContext} per test. */
export type StorageContractFactory = () => Promise<StorageContractContext>;

/** Options of {@link storageContractSuite}. */
export interface StorageContractOptions {
  /** Runs of the model-based test (default 25). */
  readonly modelRuns?: number;
  /** Timeout of each slow test in ms (default 120000). */
  readonly slowTimeoutMs?: number;
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

let clock = 1_700_000_000_000_000;

/** An event for the suite: every field set unless overridden. */
function event(overrides: Partial<NewEventRecord> = {}): NewEventRecord {
  clock += 16_667;
  return {
    type: 'energy.update',
    schemaVersion: 1,
    timestampUs: clock,
    payload: Uint8Array.of(0x81, 0xa1, 0x65, clock % 251),
    ...overrides,
  };
}

function events(count: number, overrides: Partial<NewEventRecord> = {}): NewEventRecord[] {
  return Array.from({ length: count }, () => event(overrides));
}

async function expectCode(promise: Promise<unknown>, code: StorageErrorCode): Promise<Error> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  expect(caught, `expected a StorageError with code ${code}`).toBeDefined();
  expect(isStorageError(caught), `not a StorageError: ${String(caught)}`).toBe(true);
  expect((caught as { code: string }).code).toBe(code);
  return caught as Error;
}

function positionsOf(records: readonly StoredEventRecord[]): bigint[] {
  return records.map((r) => r.position);
}

function range(from: number, to: number): bigint[] {
  const out: bigint[] = [];
  for (let i = from; i <= to; i++) out.push(BigInt(i));
  return out;
}

/**
 * The behaviour every {@link EventStorage} dialect must show, as a vitest suite. Call it
 * from a dialect's integration test with a factory that opens a fresh, empty storage.
 *
 * @example
 * ```ts
 * storageContractSuite('sqlite', async () => {
 *   const dir = await mkdtemp(join(tmpdir(), 'wf-'));
 *   const path = join(dir, 'state.db');
 *   const storage = await openSqliteStorage({ path });
 *   return {
 *     storage,
 *     db: storage.db,
 *     reopen: () => openSqliteStorage({ path }),
 *     cleanup: () => rm(dir, { recursive: true, force: true }),
 *   };
 * });
 * ```
 */
export function storageContractSuite(
  name: string,
  factory: StorageContractFactory,
  options: StorageContractOptions = {},
): void {
  const slow = options.slowTimeoutMs ?? 120_000;

  /** Runs `fn` on a fresh storage; closes whatever is open afterwards, then cleans up. */
  async function withStorage(
    fn: (
      s: EventStorage,
      ctx: StorageContractContext & { reopen: () => Promise<EventStorage> },
    ) => Promise<void>,
  ): Promise<void> {
    const ctx = await factory();
    const opened: EventStorage[] = [ctx.storage];
    const reopen = async (): Promise<EventStorage> => {
      if (ctx.reopen === undefined) throw new Error(`${name}: the factory gave no reopen()`);
      const storage = await ctx.reopen();
      opened.push(storage);
      return storage;
    };
    try {
      await fn(ctx.storage, { ...ctx, reopen });
    } finally {
      for (const storage of opened) await storage.close();
      await ctx.cleanup();
    }
  }

  function dbOf(ctx: StorageContractContext): Kysely<Database> {
    if (ctx.db === undefined) throw new Error(`${name}: the factory gave no db`);
    return ctx.db;
  }

  describe(`EventStorage contract: ${name}`, () => {
    describe('append and read', () => {
      it('starts empty', () =>
        withStorage(async (s) => {
          expect(await s.headPosition()).toBe(0n);
          expect(await s.streamVersion('session-none')).toBe(0n);
          expect(await collect(s.readAll())).toEqual([]);
          expect(await collect(s.readStream('session-none'))).toEqual([]);
        }));

      it('round-trips every field of an event', () =>
        withStorage(async (s) => {
          const full = event({
            type: 'user.prompt',
            schemaVersion: 3,
            timestampUs: 1_755_460_085_130_000,
            frameId: 42,
            eventId: 'evt-round-trip',
            payload: Uint8Array.of(0, 1, 2, 253, 254, 255),
          });
          const bare: NewEventRecord = {
            type: 'energy.update',
            schemaVersion: 1,
            timestampUs: 0,
            payload: new Uint8Array(0),
          };
          const result = await s.appendBatch([
            { stream: 'session-rt', expectedVersion: 'no_stream', events: [full, bare] },
          ]);
          expect(result.streams).toEqual([
            { stream: 'session-rt', nextExpectedVersion: 2n, positions: [1n, 2n] },
          ]);
          expect(result.lastPosition).toBe(2n);
          expect(result.writes).toEqual([]);

          const read = await collect(s.readStream('session-rt'));
          expect(read.map(plainRecord)).toEqual([
            {
              position: 1n,
              stream: 'session-rt',
              version: 1n,
              type: 'user.prompt',
              schemaVersion: 3,
              timestampUs: 1_755_460_085_130_000,
              frameId: 42,
              eventId: 'evt-round-trip',
              payload: [0, 1, 2, 253, 254, 255],
            },
            {
              position: 2n,
              stream: 'session-rt',
              version: 2n,
              type: 'energy.update',
              schemaVersion: 1,
              timestampUs: 0,
              frameId: null,
              eventId: null,
              payload: [],
            },
          ]);
          expect((await collect(s.readAll())).map(plainRecord)).toEqual(read.map(plainRecord));
          expect(await s.streamVersion('session-rt')).toBe(2n);
          expect(await s.headPosition()).toBe(2n);
        }));

      it('keeps positions gap-free across streams and versions per stream', () =>
        withStorage(async (s) => {
          const plan: [string, number][] = [
            ['session-a', 3],
            ['user-b', 1],
            ['session-a', 2],
            ['system', 4],
            ['user-b', 2],
          ];
          for (const [stream, count] of plan) {
            await s.appendBatch([{ stream, expectedVersion: 'any', events: events(count) }]);
          }
          const all = await collect(s.readAll());
          expect(positionsOf(all)).toEqual(range(1, 12));
          for (const stream of ['session-a', 'user-b', 'system']) {
            const versions = all.filter((e) => e.stream === stream).map((e) => e.version);
            expect(versions).toEqual(range(1, versions.length));
            expect(await s.streamVersion(stream)).toBe(BigInt(versions.length));
          }
        }));

      it('appends several streams in one batch, in request order', () =>
        withStorage(async (s) => {
          await s.appendBatch([{ stream: 'user-x', expectedVersion: 'any', events: events(1) }]);
          const result = await s.appendBatch([
            { stream: 'session-y', expectedVersion: 'no_stream', events: events(2) },
            { stream: 'user-x', expectedVersion: 1n, events: events(3) },
            { stream: 'system', expectedVersion: 'any', events: [] },
          ]);
          expect(result.streams).toEqual([
            { stream: 'session-y', nextExpectedVersion: 2n, positions: [2n, 3n] },
            { stream: 'user-x', nextExpectedVersion: 4n, positions: [4n, 5n, 6n] },
            { stream: 'system', nextExpectedVersion: 0n, positions: [] },
          ]);
          expect(result.lastPosition).toBe(6n);
          const x = await collect(s.readStream('user-x'));
          expect(x.map((e) => [e.version, e.position])).toEqual([
            [1n, 1n],
            [2n, 4n],
            [3n, 5n],
            [4n, 6n],
          ]);
        }));

      it('reads a stream forwards, backwards, within bounds and up to maxCount', () =>
        withStorage(async (s) => {
          await s.appendBatch([{ stream: 'session-r', expectedVersion: 'any', events: events(5) }]);
          await s.appendBatch([{ stream: 'other', expectedVersion: 'any', events: events(2) }]);
          await s.appendBatch([{ stream: 'session-r', expectedVersion: 5n, events: events(5) }]);
          const versions = async (options: Parameters<EventStorage['readStream']>[1]) =>
            (await collect(s.readStream('session-r', options))).map((e) => Number(e.version));
          expect(await versions(undefined)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
          expect(await versions({ from: 4n })).toEqual([4, 5, 6, 7, 8, 9, 10]);
          expect(await versions({ from: 4n, to: 6n })).toEqual([4, 5, 6]);
          expect(await versions({ to: 2n })).toEqual([1, 2]);
          expect(await versions({ maxCount: 3 })).toEqual([1, 2, 3]);
          expect(await versions({ from: 9n, maxCount: 5 })).toEqual([9, 10]);
          expect(await versions({ maxCount: 0 })).toEqual([]);
          expect(await versions({ direction: 'backwards' })).toEqual([
            10, 9, 8, 7, 6, 5, 4, 3, 2, 1,
          ]);
          expect(await versions({ direction: 'backwards', from: 7n })).toEqual([
            7, 6, 5, 4, 3, 2, 1,
          ]);
          expect(await versions({ direction: 'backwards', from: 7n, to: 5n })).toEqual([7, 6, 5]);
          expect(await versions({ direction: 'backwards', maxCount: 2 })).toEqual([10, 9]);
          expect(await versions({ from: 11n })).toEqual([]);
          expect(await versions({ from: 6n, to: 5n })).toEqual([]);
          const positions = (await collect(s.readStream('session-r'))).map((e) => e.position);
          expect(positions).toEqual([1n, 2n, 3n, 4n, 5n, 8n, 9n, 10n, 11n, 12n]);
        }));

      it('reads all streams with position bounds, type and stream filters, maxCount', () =>
        withStorage(async (s) => {
          await s.appendBatch([
            {
              stream: 'session-1',
              expectedVersion: 'any',
              events: [event({ type: 'a' }), event({ type: 'b' }), event({ type: 'a' })],
            },
            { stream: 'session-2', expectedVersion: 'any', events: [event({ type: 'b' })] },
            { stream: 'system', expectedVersion: 'any', events: [event({ type: 'c' })] },
          ]);
          await s.appendBatch([
            { stream: 'session-1', expectedVersion: 'any', events: [event({ type: 'c' })] },
          ]);
          const all = async (options: Parameters<EventStorage['readAll']>[0]) =>
            (await collect(s.readAll(options))).map((e) => Number(e.position));
          expect(await all({})).toEqual([1, 2, 3, 4, 5, 6]);
          expect(await all({ fromPosition: 3n })).toEqual([3, 4, 5, 6]);
          expect(await all({ toPosition: 2n })).toEqual([1, 2]);
          expect(await all({ fromPosition: 2n, toPosition: 4n })).toEqual([2, 3, 4]);
          expect(await all({ types: ['a'] })).toEqual([1, 3]);
          expect(await all({ types: ['b', 'c'] })).toEqual([2, 4, 5, 6]);
          expect(await all({ types: ['unknown'] })).toEqual([]);
          expect(await all({ streams: ['session-1'] })).toEqual([1, 2, 3, 6]);
          expect(await all({ streams: ['session-2', 'system'] })).toEqual([4, 5]);
          expect(await all({ streams: ['nope'] })).toEqual([]);
          expect(await all({ streams: ['session-1'], types: ['c'] })).toEqual([6]);
          expect(await all({ maxCount: 2, fromPosition: 4n })).toEqual([4, 5]);
          expect(await all({ fromPosition: 7n })).toEqual([]);
          expect(await all({ types: [], streams: [] })).toEqual([]);
        }));

      it(
        'reads far beyond one page, in order, in both directions',
        () =>
          withStorage(async (s) => {
            const batches = 25;
            const perBatch = 60;
            for (let b = 0; b < batches; b++) {
              await s.appendBatch([
                { stream: 'session-big', expectedVersion: 'any', events: events(perBatch / 2) },
                { stream: 'user-big', expectedVersion: 'any', events: events(perBatch / 2) },
              ]);
            }
            const total = batches * perBatch;
            const all = await collect(s.readAll());
            expect(positionsOf(all)).toEqual(range(1, total));
            const backwards = await collect(
              s.readStream('session-big', { direction: 'backwards' }),
            );
            expect(backwards.map((e) => Number(e.version))).toEqual(
              Array.from({ length: total / 2 }, (_, i) => total / 2 - i),
            );
            const window = await collect(s.readAll({ fromPosition: 700n, maxCount: 600 }));
            expect(positionsOf(window)).toEqual(range(700, 1299));
            const filtered = await collect(s.readAll({ streams: ['user-big'] }));
            expect(filtered).toHaveLength(total / 2);
            expect(filtered.every((e) => e.stream === 'user-big')).toBe(true);
          }),
        slow,
      );

      it(
        'reads pages: the same events in the same order as event by event, no page empty',
        () =>
          withStorage(async (s) => {
            for (let b = 0; b < 40; b++) {
              await s.appendBatch([
                { stream: 'session-pg', expectedVersion: 'any', events: events(40) },
                { stream: 'user-pg', expectedVersion: 'any', events: events(20) },
              ]);
            }
            const flat = async (pages: AsyncIterable<readonly StoredEventRecord[]>) => {
              const out: StoredEventRecord[] = [];
              for await (const page of pages) {
                expect(page.length).toBeGreaterThan(0);
                out.push(...page);
              }
              return out;
            };
            const cases: [ReadAllOptions | undefined, ReadStreamOptions | undefined][] = [
              [undefined, undefined],
              [
                { fromPosition: 700n, maxCount: 1300 },
                { from: 300n, maxCount: 1000 },
              ],
              [
                { streams: ['user-pg'], toPosition: 2000n },
                { direction: 'backwards', to: 5n },
              ],
              [{ types: ['nope'] }, { from: 5000n }],
            ];
            for (const [all, stream] of cases) {
              expect(await flat(readAllPages(s, all))).toEqual(await collect(s.readAll(all)));
              expect(await flat(readStreamPages(s, 'session-pg', stream))).toEqual(
                await collect(s.readStream('session-pg', stream)),
              );
            }
            expect(await flat(readStreamPages(s, 'unknown-stream'))).toEqual([]);
          }),
        slow,
      );
    });

    describe('expected versions', () => {
      async function seed(s: EventStorage, count: number): Promise<void> {
        await s.appendBatch([
          { stream: 'session-ev', expectedVersion: 'no_stream', events: events(count) },
        ]);
      }

      async function conflict(s: EventStorage, append: StreamAppend): Promise<ConcurrencyError> {
        const error = await expectCode(s.appendBatch([append]), 'concurrency');
        expect(isConcurrencyError(error)).toBe(true);
        expect((error as ConcurrencyError).retryable).toBe(true);
        return error as ConcurrencyError;
      }

      it('accepts an exact version and rejects a wrong one with expected and actual', () =>
        withStorage(async (s) => {
          await seed(s, 3);
          const ok = await s.appendBatch([
            { stream: 'session-ev', expectedVersion: 3n, events: events(1) },
          ]);
          expect(ok.streams[0]!.nextExpectedVersion).toBe(4n);
          const error = await conflict(s, {
            stream: 'session-ev',
            expectedVersion: 3n,
            events: events(1),
          });
          expect(error.stream).toBe('session-ev');
          expect(error.expected).toBe(3n);
          expect(error.actual).toBe(4n);
          expect(error.message).toContain('session-ev');
          await conflict(s, { stream: 'session-ev', expectedVersion: 5n, events: events(1) });
          expect(await s.streamVersion('session-ev')).toBe(4n);
        }));

      it("'no_stream' and 0n accept only a stream without events", () =>
        withStorage(async (s) => {
          await s.appendBatch([{ stream: 'a', expectedVersion: 0n, events: events(1) }]);
          await seed(s, 2);
          const error = await conflict(s, {
            stream: 'session-ev',
            expectedVersion: 'no_stream',
            events: events(1),
          });
          expect(error.expected).toBe('no_stream');
          expect(error.actual).toBe(2n);
          const zero = await conflict(s, { stream: 'a', expectedVersion: 0n, events: events(1) });
          expect(zero.expected).toBe(0n);
          expect(zero.actual).toBe(1n);
        }));

      it("'stream_exists' accepts only a stream with events", () =>
        withStorage(async (s) => {
          const error = await conflict(s, {
            stream: 'session-ev',
            expectedVersion: 'stream_exists',
            events: events(1),
          });
          expect(error.expected).toBe('stream_exists');
          expect(error.actual).toBe(0n);
          await seed(s, 1);
          const ok = await s.appendBatch([
            { stream: 'session-ev', expectedVersion: 'stream_exists', events: events(2) },
          ]);
          expect(ok.streams[0]!.positions).toEqual([2n, 3n]);
        }));

      it("'any' never conflicts", () =>
        withStorage(async (s) => {
          await s.appendBatch([{ stream: 'x', expectedVersion: 'any', events: events(1) }]);
          await s.appendBatch([{ stream: 'x', expectedVersion: 'any', events: events(1) }]);
          expect(await s.streamVersion('x')).toBe(2n);
        }));

      it('writes nothing of a multi-stream batch when one stream conflicts', () =>
        withStorage(async (s) => {
          await seed(s, 2);
          const error = await conflict(s, {
            stream: 'session-ev',
            expectedVersion: 1n,
            events: events(1),
          });
          expect(error.actual).toBe(2n);
          await expectCode(
            s.appendBatch([
              { stream: 'session-new', expectedVersion: 'no_stream', events: events(3) },
              { stream: 'session-ev', expectedVersion: 1n, events: events(1) },
              { stream: 'user-new', expectedVersion: 'any', events: events(1) },
            ]),
            'concurrency',
          );
          expect(await s.headPosition()).toBe(2n);
          expect(await s.streamVersion('session-new')).toBe(0n);
          expect(await s.streamVersion('session-ev')).toBe(2n);
          expect(await collect(s.readStream('session-new'))).toEqual([]);
          const next = await s.appendBatch([
            { stream: 'session-new', expectedVersion: 'no_stream', events: events(1) },
          ]);
          expect(next.streams[0]!.positions).toEqual([3n]);
          expect(positionsOf(await collect(s.readAll()))).toEqual([1n, 2n, 3n]);
        }));
    });

    describe('idempotency', () => {
      it('returns the original positions for a repeat and writes nothing', () =>
        withStorage(async (s) => {
          const batch: StreamAppend[] = [
            {
              stream: 'session-i',
              expectedVersion: 'no_stream',
              events: [event({ eventId: 'i-1', frameId: 7 }), event({ eventId: 'i-2' })],
            },
          ];
          const first = await s.appendBatch(batch);
          await s.appendBatch([{ stream: 'other', expectedVersion: 'any', events: events(2) }]);
          const again = await s.appendBatch(batch);
          expect(again.streams).toEqual([
            { stream: 'session-i', nextExpectedVersion: 2n, positions: [1n, 2n] },
          ]);
          expect(first.streams[0]!.positions).toEqual([1n, 2n]);
          expect(again.lastPosition).toBe(4n);
          expect(await s.headPosition()).toBe(4n);
          expect(await collect(s.readStream('session-i'))).toHaveLength(2);
        }));

      it('still holds after a restart', () =>
        withStorage(async (s, ctx) => {
          const batch: StreamAppend[] = [
            {
              stream: 'session-restart',
              expectedVersion: 'no_stream',
              events: [event({ eventId: 'r-1' }), event({ eventId: 'r-2', frameId: 3 })],
            },
          ];
          await s.appendBatch(batch);
          await s.close();
          const reopened = await ctx.reopen();
          const again = await reopened.appendBatch(batch);
          expect(again.streams[0]!.positions).toEqual([1n, 2n]);
          expect(await reopened.headPosition()).toBe(2n);
          await expectCode(
            reopened.appendBatch([
              {
                stream: 'session-restart',
                expectedVersion: 'any',
                events: [event({ eventId: 'r-1' })],
              },
            ]),
            'idempotency_conflict',
          );
          const next = await reopened.appendBatch([
            { stream: 'session-restart', expectedVersion: 2n, events: events(1) },
          ]);
          expect(next.streams[0]!.positions).toEqual([3n]);
        }));

      it('rejects the same id with different content, naming the id', () =>
        withStorage(async (s) => {
          const original = event({ eventId: 'c-1', frameId: 5, schemaVersion: 2 });
          await s.appendBatch([
            { stream: 'session-c', expectedVersion: 'any', events: [original] },
          ]);
          const variants: [string, Partial<NewEventRecord>][] = [
            ['payload', { payload: Uint8Array.of(9, 9, 9) }],
            ['type', { type: 'other.type' }],
            ['schemaVersion', { schemaVersion: 3 }],
            ['timestampUs', { timestampUs: original.timestampUs + 1 }],
            ['frameId', { frameId: 6 }],
            ['no frameId', { frameId: undefined }],
          ];
          for (const [, change] of variants) {
            const error = await expectCode(
              s.appendBatch([
                {
                  stream: 'session-c',
                  expectedVersion: 'any',
                  events: [{ ...original, ...change }],
                },
              ]),
              'idempotency_conflict',
            );
            expect(error.message).toContain('c-1');
            expect((error as Error & { eventId?: string }).eventId).toBe('c-1');
          }
          await expectCode(
            s.appendBatch([
              { stream: 'session-other', expectedVersion: 'any', events: [original] },
            ]),
            'idempotency_conflict',
          );
          expect(await s.headPosition()).toBe(1n);
          expect(await s.streamVersion('session-other')).toBe(0n);
        }));

      it('handles a batch mixing repeats and new events', () =>
        withStorage(async (s) => {
          const e1 = event({ eventId: 'm-1' });
          const e2 = event({ eventId: 'm-2' });
          await s.appendBatch([
            { stream: 'session-m', expectedVersion: 'no_stream', events: [e1] },
          ]);
          await expectCode(
            s.appendBatch([
              { stream: 'session-m', expectedVersion: 'no_stream', events: [e1, e2] },
            ]),
            'concurrency',
          );
          const mixed = await s.appendBatch([
            { stream: 'session-m', expectedVersion: 1n, events: [e1, e2, event()] },
          ]);
          expect(mixed.streams[0]).toEqual({
            stream: 'session-m',
            nextExpectedVersion: 3n,
            positions: [1n, 2n, 3n],
          });
          const retried = await s.appendBatch([
            { stream: 'session-m', expectedVersion: 1n, events: [e1, e2] },
          ]);
          expect(retried.streams[0]!.positions).toEqual([1n, 2n]);
          expect(retried.streams[0]!.nextExpectedVersion).toBe(3n);
          expect(await s.headPosition()).toBe(3n);
        }));

      it('treats a repeated id inside one batch as one event', () =>
        withStorage(async (s) => {
          const e = event({ eventId: 'dup-1' });
          const result = await s.appendBatch([
            { stream: 'session-d', expectedVersion: 'no_stream', events: [e, event(), e] },
          ]);
          expect(result.streams[0]!.positions).toEqual([1n, 2n, 1n]);
          expect(result.streams[0]!.nextExpectedVersion).toBe(2n);
          await expectCode(
            s.appendBatch([
              {
                stream: 'session-d2',
                expectedVersion: 'any',
                events: [event({ eventId: 'dup-2' }), event({ eventId: 'dup-2' })],
              },
            ]),
            'idempotency_conflict',
          );
          expect(await s.headPosition()).toBe(2n);
        }));
    });

    describe('arguments', () => {
      const good = (): StreamAppend => ({
        stream: 'session-arg',
        expectedVersion: 'any',
        events: [event()],
      });
      const cases: [string, () => unknown, string][] = [
        ['appends not an array', () => ({}), 'appends'],
        ['empty stream name', () => [{ ...good(), stream: '' }], 'appends[0].stream'],
        [
          'negative expected version',
          () => [good(), { ...good(), stream: 's2', expectedVersion: -1n }],
          'appends[1].expectedVersion',
        ],
        [
          'unknown expected version',
          () => [{ ...good(), expectedVersion: 'latest' }],
          'appends[0].expectedVersion',
        ],
        [
          'number as expected version',
          () => [{ ...good(), expectedVersion: 3 }],
          'appends[0].expectedVersion',
        ],
        [
          'non-integer timestamp',
          () => [{ ...good(), events: [event(), event(), event({ timestampUs: 1.5 })] }],
          'appends[0].events[2].timestampUs',
        ],
        [
          'negative timestamp',
          () => [{ ...good(), events: [event({ timestampUs: -1 })] }],
          'appends[0].events[0].timestampUs',
        ],
        [
          'fractional schema version',
          () => [{ ...good(), events: [event({ schemaVersion: 1.5 })] }],
          'appends[0].events[0].schemaVersion',
        ],
        [
          'payload not a Uint8Array',
          () => [{ ...good(), events: [{ ...event(), payload: 'text' }] }],
          'appends[0].events[0].payload',
        ],
        [
          'payload as a number array',
          () => [{ ...good(), events: [{ ...event(), payload: [1, 2] }] }],
          'appends[0].events[0].payload',
        ],
        [
          'oversized payload',
          () => [
            good(),
            {
              ...good(),
              stream: 's2',
              events: [event({ payload: new Uint8Array(MAX_PAYLOAD_BYTES + 1) })],
            },
          ],
          'appends[1].events[0].payload',
        ],
        [
          'empty type',
          () => [{ ...good(), events: [event({ type: '' })] }],
          'appends[0].events[0].type',
        ],
        [
          'negative frame id',
          () => [{ ...good(), events: [event({ frameId: -1 })] }],
          'appends[0].events[0].frameId',
        ],
        [
          'empty event id',
          () => [{ ...good(), events: [event({ eventId: '' })] }],
          'appends[0].events[0].eventId',
        ],
        ['stream named twice', () => [good(), good()], 'appends[1].stream'],
        ['events not an array', () => [{ ...good(), events: null }], 'appends[0].events'],
      ];
      for (const [title, appends, where] of cases) {
        it(`rejects ${title} with invalid_argument naming ${where}`, () =>
          withStorage(async (s) => {
            const error = await expectCode(
              s.appendBatch(appends() as StreamAppend[]),
              'invalid_argument',
            );
            expect(error.message).toContain(where);
            expect(await s.headPosition()).toBe(0n);
          }));
      }

      it('accepts a payload of exactly the limit', () =>
        withStorage(async (s) => {
          const payload = new Uint8Array(MAX_PAYLOAD_BYTES).fill(7);
          await s.appendBatch([{ ...good(), events: [event({ payload })] }]);
          const [read] = await collect(s.readAll());
          expect(read!.payload.byteLength).toBe(MAX_PAYLOAD_BYTES);
        }));

      it('rejects a malformed row write, naming it', () =>
        withStorage(async (s) => {
          const error = await expectCode(
            s.appendBatch([good()], {
              writes: [
                { kind: 'metadata.set', key: 'k', value: 'v' },
                {
                  kind: 'user.upsert',
                  userId: 'u',
                  level: 1,
                  xp: Number.NaN,
                } as unknown as RowWrite,
              ],
            }),
            'invalid_argument',
          );
          expect(error.message).toContain('writes[1].');
          expect(await s.headPosition()).toBe(0n);
        }));

      it('rejects bad read options with invalid_argument', () =>
        withStorage(async (s) => {
          await expectCode(collect(s.readStream('')), 'invalid_argument');
          await expectCode(collect(s.readStream('x', { from: -1n })), 'invalid_argument');
          await expectCode(collect(s.readStream('x', { maxCount: -1 })), 'invalid_argument');
          await expectCode(
            collect(s.readStream('x', { direction: 'sideways' as 'forwards' })),
            'invalid_argument',
          );
          await expectCode(collect(s.readAll({ fromPosition: -5n })), 'invalid_argument');
          await expectCode(collect(s.readAll({ types: [''] })), 'invalid_argument');
          await expectCode(collect(s.readAll({ maxCount: 1.5 })), 'invalid_argument');
          await expectCode(s.streamVersion(''), 'invalid_argument');
        }));
    });

    describe('row writes', () => {
      const writesFor = (stream: string): RowWrite[] => [
        {
          kind: 'session.upsert',
          sessionId: '20250817T194800Z_001',
          stream,
          userId: 'default',
          status: 'active',
          startedUs: 1_755_460_080_000_000,
          totalEvents: 2,
          totalEnergy: 12.5,
          totalTokens: 40,
          updatedUs: 1_755_460_081_000_000,
        },
        {
          kind: 'user.upsert',
          userId: 'default',
          level: 2,
          xp: 150.5,
          totalEnergy: 1247.8,
          sessionsCount: 3,
          updatedUs: 1_755_460_081_000_000,
        },
        {
          kind: 'audit.insert',
          timestampUs: 1_755_460_081_000_000,
          actor: 'daemon',
          action: 'session.start',
          target: '20250817T194800Z_001',
          details: { mode: 'offline', frames: 60n },
        },
        { kind: 'metadata.set', key: 'test.key', value: 'value-1' },
        {
          kind: 'snapshot.insert',
          stream,
          snapshotKind: 'full',
          streamVersion: 2n,
          position: 2n,
          schemaVersion: 1,
          createdUs: 1_755_460_081_000_000,
          checksum: 0xdeadbeef,
          data: Uint8Array.of(1, 2, 3, 4),
        },
        {
          kind: 'rollup.upsert',
          sessionId: '20250817T194800Z_001',
          modelId: 'ollama/llama2:7b',
          granularity: '1s',
          bucketStartUs: 1_755_460_080_000_000,
          energySum: 12.5,
          energyMin: 0.5,
          energyMax: 3,
          eventCount: 60,
          tokens: 40,
          fpsSum: 3600,
          budgetSum: 16.7,
          drops: 0,
        },
      ];

      it('commits row writes with the batch and reads them through the repositories', () =>
        withStorage(async (s, ctx) => {
          const db = dbOf(ctx);
          const result = await s.appendBatch(
            [{ stream: 'session-rw', expectedVersion: 'no_stream', events: events(2) }],
            { writes: writesFor('session-rw') },
          );
          expect(result.writes).toHaveLength(6);
          expect(result.writes[0]!.changes).toBe(1);
          expect(result.writes[2]!.insertedId).not.toBeNull();
          const snapshotId = result.writes[4]!.insertedId;
          expect(snapshotId).not.toBeNull();

          const session = await new SessionRepository(db).get('20250817T194800Z_001');
          expect(session).toEqual({
            sessionId: '20250817T194800Z_001',
            stream: 'session-rw',
            userId: 'default',
            status: 'active',
            startedUs: 1_755_460_080_000_000,
            endedUs: null,
            cleanEnd: null,
            totalEvents: 2,
            totalEnergy: 12.5,
            totalTokens: 40,
            updatedUs: 1_755_460_081_000_000,
          });
          expect(await new SessionRepository(db).listActive()).toHaveLength(1);
          expect(await new UserRepository(db).get('default')).toEqual({
            userId: 'default',
            level: 2,
            xp: 150.5,
            totalEnergy: 1247.8,
            sessionsCount: 3,
            updatedUs: 1_755_460_081_000_000,
          });
          const audit = await new AuditRepository(db).list({ action: 'session.start' });
          expect(audit).toHaveLength(1);
          expect(audit[0]!.details).toEqual({ mode: 'offline', frames: '60' });
          expect(BigInt(audit[0]!.id)).toBe(result.writes[2]!.insertedId);
          expect(await new MetadataRepository(db).get('test.key')).toBe('value-1');
          const snapshots = new SnapshotRepository(db);
          const latest = await snapshots.latest('session-rw');
          expect(latest).toMatchObject({
            stream: 'session-rw',
            kind: 'full',
            streamVersion: 2n,
            position: 2n,
            sizeBytes: 4,
            checksum: 0xdeadbeef,
          });
          expect(BigInt(latest!.id)).toBe(snapshotId);
          expect(Array.from((await snapshots.data(latest!.id))!)).toEqual([1, 2, 3, 4]);
          const rollups = await db.selectFrom('rollups').selectAll().execute();
          expect(rollups).toHaveLength(1);
          expect(rollups[0]!.event_count).toBe(60);
        }));

      it('applies updates, ends and deletes', () =>
        withStorage(async (s, ctx) => {
          const db = dbOf(ctx);
          const first = await s.appendBatch(
            [{ stream: 'session-up', expectedVersion: 'no_stream', events: events(2) }],
            { writes: writesFor('session-up') },
          );
          await s.appendBatch([{ stream: 'session-up', expectedVersion: 2n, events: events(1) }], {
            writes: [
              {
                kind: 'session.end',
                sessionId: '20250817T194800Z_001',
                status: 'ended',
                endedUs: 1_755_460_335_456_789,
                cleanEnd: true,
              },
              { kind: 'metadata.set', key: 'test.key', value: 'value-2' },
              { kind: 'snapshot.delete', ids: [Number(first.writes[4]!.insertedId)] },
            ],
          });
          const session = await new SessionRepository(db).get('20250817T194800Z_001');
          expect(session).toMatchObject({
            status: 'ended',
            endedUs: 1_755_460_335_456_789,
            cleanEnd: true,
            totalEvents: 2,
          });
          expect(await new SessionRepository(db).listActive()).toEqual([]);
          expect(await new MetadataRepository(db).get('test.key')).toBe('value-2');
          expect(await new SnapshotRepository(db).list('session-up')).toEqual([]);
          const summary = await db
            .selectFrom('session_energy_summary')
            .selectAll()
            .executeTakeFirstOrThrow();
          expect(summary.clean_end).toBe(1);
          expect(summary.duration_s).toBeCloseTo(255.456789, 5);
        }));

      it('filters and pages through the repositories', () =>
        withStorage(async (s, ctx) => {
          const db = dbOf(ctx);
          const session = (id: string, userId: string, startedUs: number): RowWrite => ({
            kind: 'session.upsert',
            sessionId: id,
            stream: `session-${id}`,
            userId,
            status: 'active',
            startedUs,
            totalEvents: 0,
            totalEnergy: 0,
            totalTokens: 0,
            updatedUs: startedUs,
          });
          const snapshot = (position: bigint, kind: 'full' | 'incremental'): RowWrite => ({
            kind: 'snapshot.insert',
            stream: 'session-s1',
            snapshotKind: kind,
            streamVersion: position,
            position,
            schemaVersion: 1,
            createdUs: Number(position),
            checksum: 1,
            data: Uint8Array.of(Number(position)),
          });
          await s.appendBatch([], {
            writes: [
              session('s1', 'ada', 100),
              session('s2', 'ada', 300),
              session('s3', 'bob', 200),
              {
                kind: 'session.end',
                sessionId: 's3',
                status: 'recovered',
                endedUs: 250,
                cleanEnd: false,
              },
              snapshot(10n, 'full'),
              snapshot(20n, 'incremental'),
              snapshot(30n, 'full'),
              ...[1, 2, 3, 4, 5].map((i): RowWrite => ({
                kind: 'audit.insert',
                timestampUs: i * 10,
                actor: i % 2 === 0 ? 'cli' : 'daemon',
                action: 'tick',
                details: `plain text ${i}`,
              })),
            ],
          });
          const sessions = new SessionRepository(db);
          expect((await sessions.list()).map((r) => r.sessionId)).toEqual(['s2', 's3', 's1']);
          expect((await sessions.list({ userId: 'ada' })).map((r) => r.sessionId)).toEqual([
            's2',
            's1',
          ]);
          expect((await sessions.list({ status: 'recovered' })).map((r) => r.cleanEnd)).toEqual([
            false,
          ]);
          expect((await sessions.list({ limit: 1, offset: 1 })).map((r) => r.sessionId)).toEqual([
            's3',
          ]);
          expect((await sessions.listActive()).map((r) => r.sessionId)).toEqual(['s1', 's2']);
          expect(await sessions.get('nope')).toBeUndefined();

          const snapshots = new SnapshotRepository(db);
          expect((await snapshots.list('session-s1')).map((r) => r.position)).toEqual([
            30n,
            20n,
            10n,
          ]);
          expect(
            (await snapshots.latest('session-s1', { atOrBeforePosition: 25n }))?.position,
          ).toBe(20n);
          expect(
            (await snapshots.latest('session-s1', { atOrBeforePosition: 25n, kind: 'full' }))
              ?.position,
          ).toBe(10n);
          expect(await snapshots.latest('session-s1', { atOrBeforePosition: 5n })).toBeUndefined();
          const latest = await snapshots.latest('session-s1');
          expect(await snapshots.get(latest!.id)).toEqual(latest);
          expect(await snapshots.data(987_654)).toBeUndefined();

          const audit = new AuditRepository(db);
          expect((await audit.list({ actor: 'cli' })).map((r) => r.timestampUs)).toEqual([20, 40]);
          expect((await audit.list({ fromUs: 20, toUs: 40 })).map((r) => r.timestampUs)).toEqual([
            20, 30, 40,
          ]);
          const page1 = await audit.list({ limit: 2 });
          const page2 = await audit.list({ limit: 2, afterId: page1[1]!.id });
          expect([...page1, ...page2].map((r) => r.details)).toEqual([
            'plain text 1',
            'plain text 2',
            'plain text 3',
            'plain text 4',
          ]);
          const metadata = await new MetadataRepository(db).all();
          expect(metadata['schema_version']).toBe(String(SCHEMA_VERSION));
        }));

      it('commits row writes without events', () =>
        withStorage(async (s, ctx) => {
          const result = await s.appendBatch([], {
            writes: [{ kind: 'metadata.set', key: 'only.writes', value: 'yes' }],
          });
          expect(result.streams).toEqual([]);
          expect(result.lastPosition).toBe(0n);
          expect(await new MetadataRepository(dbOf(ctx)).get('only.writes')).toBe('yes');
        }));

      it('rolls row writes back with a conflicting batch', () =>
        withStorage(async (s, ctx) => {
          const db = dbOf(ctx);
          await s.appendBatch([
            { stream: 'session-rb', expectedVersion: 'any', events: events(1) },
          ]);
          await expectCode(
            s.appendBatch([{ stream: 'session-rb', expectedVersion: 5n, events: events(1) }], {
              writes: writesFor('session-rb'),
            }),
            'concurrency',
          );
          expect(await new SessionRepository(db).list()).toEqual([]);
          expect(await new UserRepository(db).list()).toEqual([]);
          expect(await new AuditRepository(db).list()).toEqual([]);
          expect(await new MetadataRepository(db).get('test.key')).toBeUndefined();
          expect(await new SnapshotRepository(db).list('session-rb')).toEqual([]);
        }));

      it('rolls the events back when a row write fails', () =>
        withStorage(async (s, ctx) => {
          const db = dbOf(ctx);
          const failing: AppendBatchOptions = {
            writes: [
              { kind: 'metadata.set', key: 'test.key', value: 'never' },
              {
                kind: 'snapshot.insert',
                stream: 'session-fail',
                snapshotKind: 'incremental',
                baseSnapshotId: 999_999,
                streamVersion: 1n,
                position: 1n,
                schemaVersion: 1,
                createdUs: 1,
                checksum: 1,
                data: Uint8Array.of(1),
              },
            ],
          };
          await expectCode(
            s.appendBatch(
              [{ stream: 'session-fail', expectedVersion: 'no_stream', events: events(2) }],
              failing,
            ),
            'constraint',
          );
          expect(await s.headPosition()).toBe(0n);
          expect(await s.streamVersion('session-fail')).toBe(0n);
          expect(await new MetadataRepository(db).get('test.key')).toBeUndefined();
          const next = await s.appendBatch([
            { stream: 'session-fail', expectedVersion: 'no_stream', events: events(1) },
          ]);
          expect(next.streams[0]!.positions).toEqual([1n]);
        }));
    });

    describe('concurrency', () => {
      it('serialises concurrent appends: one of many no_stream appends wins', () =>
        withStorage(async (s) => {
          const attempts = Array.from({ length: 12 }, () =>
            s.appendBatch([
              { stream: 'session-race', expectedVersion: 'no_stream', events: events(3) },
            ]),
          );
          const settled = await Promise.allSettled(attempts);
          const won = settled.filter((r) => r.status === 'fulfilled');
          const lost = settled.filter((r) => r.status === 'rejected');
          expect(won).toHaveLength(1);
          expect(lost).toHaveLength(11);
          for (const r of lost) expect(isConcurrencyError(r.reason)).toBe(true);
          expect(await s.streamVersion('session-race')).toBe(3n);
          expect(await s.headPosition()).toBe(3n);
        }));

      it('serialises concurrent appends without gaps or duplicates', () =>
        withStorage(async (s) => {
          const streams = ['session-c1', 'session-c2', 'user-c3', 'system'];
          const results = await Promise.all(
            Array.from({ length: 40 }, (_, i) =>
              s.appendBatch([
                {
                  stream: streams[i % streams.length]!,
                  expectedVersion: 'any',
                  events: events(1 + (i % 4)),
                },
              ]),
            ),
          );
          const positions = results.flatMap((r) => r.streams[0]!.positions);
          const sorted = [...positions].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
          expect(sorted).toEqual(range(1, positions.length));
          const all = await collect(s.readAll());
          expect(positionsOf(all)).toEqual(range(1, positions.length));
          for (const stream of streams) {
            const versions = all.filter((e) => e.stream === stream).map((e) => e.version);
            expect(versions).toEqual(range(1, versions.length));
          }
        }));
    });

    describe('lifecycle', () => {
      it('rejects calls after close with closed, and close is idempotent', () =>
        withStorage(async (s) => {
          await s.appendBatch([{ stream: 'x', expectedVersion: 'any', events: events(1) }]);
          await s.close();
          await s.close();
          await expectCode(
            s.appendBatch([{ stream: 'x', expectedVersion: 'any', events: events(1) }]),
            'closed',
          );
          await expectCode(s.headPosition(), 'closed');
          await expectCode(collect(s.readAll()), 'closed');
        }));

      it('keeps everything acknowledged across a restart', () =>
        withStorage(async (s, ctx) => {
          for (let i = 0; i < 5; i++) {
            await s.appendBatch([
              { stream: `session-${i % 2}`, expectedVersion: 'any', events: events(10) },
            ]);
          }
          const before = (await collect(s.readAll())).map(plainRecord);
          await s.close();
          const reopened = await ctx.reopen();
          expect((await collect(reopened.readAll())).map(plainRecord)).toEqual(before);
          const next = await reopened.appendBatch([
            { stream: 'session-0', expectedVersion: 30n, events: events(1) },
          ]);
          expect(next.streams[0]!.positions).toEqual([51n]);
        }));
    });

    describe('model', () => {
      it(
        'behaves like the in-memory model under random appends, reads and restarts',
        async () => {
          await fc.assert(
            fc.asyncProperty(
              fc.commands(eventStorageCommands(true), { maxCommands: 40, size: 'medium' }),
              async (commands) => {
                const ctx = await factory();
                const real: RealStorage = {
                  storage: ctx.storage,
                  reopen: ctx.reopen,
                };
                try {
                  await fc.asyncModelRun(
                    () => ({ model: new EventStorageModel(), real }),
                    commands,
                  );
                } finally {
                  await ctx.storage.close();
                  await real.storage.close();
                  await ctx.cleanup();
                }
              },
            ),
            { numRuns: options.modelRuns ?? 25 },
          );
        },
        slow,
      );
    });
  });
}
