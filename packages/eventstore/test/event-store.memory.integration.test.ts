import {
  createUnknownEvent,
  createUpcasters,
  encodeEvent,
  isUnknownEvent,
  userStream,
  type EventOfType,
  type WirthforgeEvent,
} from '@wirthforge/events';
import {
  MetadataRepository,
  SessionRepository,
  UserRepository,
  createMemoryStorage,
  type MemoryStorage,
} from '@wirthforge/storage';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  collect,
  createEventStore,
  energyProjection,
  foldEvents,
  foldEventsInPlace,
  isConcurrencyError,
  isIdempotencyConflictError,
  isInvalidEventError,
  isStateError,
  prepareAppend,
  sessionSummaryProjection,
  stateHash,
  userProgressProjection,
  type EventStore,
  type StoreRecord,
  type Transaction,
} from '../src/index.js';
import { sessionEventsArbitrary } from '../src/testing/index.js';
import { SESSION_ID, SessionEvents } from './event-builders.js';
import { fixedClock, observed } from './store-fixtures.js';

const STREAM = `session-${SESSION_ID}`;
/** 2025-08-17T19:48:00Z */
const T0 = 1_755_460_080_000_000;

function memoryStore(options: Omit<Parameters<typeof createEventStore>[0], 'storage'> = {}): {
  store: EventStore;
  storage: MemoryStorage;
} {
  const storage = createMemoryStorage();
  return { store: createEventStore({ storage, clock: fixedClock(T0, 1000), ...options }), storage };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

function withoutIds(events: readonly WirthforgeEvent[]): WirthforgeEvent[] {
  return events.map((event) => {
    const { event_id: _dropped, ...rest } = event;
    return rest;
  });
}

describe('appendToStream', () => {
  it('appends, numbers positions and versions, and returns the next expected version', async () => {
    const { store } = memoryStore();
    const b = new SessionEvents();
    const first = await store.appendToStream(STREAM, [b.start(), b.update(1, 2)], {
      expectedVersion: 'no_stream',
    });
    expect(first).toEqual({
      stream: STREAM,
      nextExpectedVersion: 2n,
      lastPosition: 2n,
      positions: [1n, 2n],
    });
    await store.appendToStream('system', [b.prompt('p1')]);
    const second = await store.appendToStream(STREAM, [b.update(2, 3)], { expectedVersion: 2n });
    expect(second.positions).toEqual([4n]);
    expect(second.nextExpectedVersion).toBe(3n);
    expect(await store.streamVersion(STREAM)).toBe(3n);
    expect(await store.headPosition()).toBe(4n);
    await store.close();
  });

  it('refuses invalid events with every issue and the index of its event, writing nothing', async () => {
    const { store } = memoryStore();
    const b = new SessionEvents();
    const bad = {
      ...b.update(1, 2),
      data: { energy: -1, model_id: 'x' },
    } as unknown as WirthforgeEvent;
    const error = await rejection(store.appendToStream(STREAM, [b.start(), b.prompt('p'), bad]));
    expect(isInvalidEventError(error)).toBe(true);
    if (!isInvalidEventError(error)) return;
    expect(error.code).toBe('invalid_event');
    expect(error.stream).toBe(STREAM);
    expect(error.issues.every((issue) => issue.index === 2)).toBe(true);
    expect(error.issues.map((issue) => issue.path)).toEqual(
      expect.arrayContaining(['/data/energy', '/data/accumulator']),
    );
    expect(error.message).toContain('events[2]');
    expect(await store.headPosition()).toBe(0n);
    await store.close();
  });

  it('refuses an event of another session in a session stream, even without validation', async () => {
    const { store } = memoryStore({ validate: false });
    const other = new SessionEvents('20250817T194800Z_009');
    const error = await rejection(store.appendToStream(STREAM, [other.prompt('p')]));
    expect(isInvalidEventError(error)).toBe(true);
    expect(isInvalidEventError(error) && error.issues).toEqual([
      expect.objectContaining({ index: 0, path: '/session_id', keyword: 'stream' }),
    ]);
    // Without validation a schema problem goes through; the codec still guards the bytes.
    const b = new SessionEvents();
    const loose = { ...b.prompt('p'), data: { prompt_id: 7 } } as unknown as WirthforgeEvent;
    await store.appendToStream(STREAM, [loose]);
    expect(await store.headPosition()).toBe(1n);
    await store.close();
  });

  it('refuses a plain event of an unknown type, and stores one wrapped on purpose', async () => {
    const { store } = memoryStore();
    const b = new SessionEvents();
    const plain = { session_id: SESSION_ID, timestamp: b.tick(), type: 'future.thing', data: {} };
    const error = await rejection(
      store.appendToStream(STREAM, [plain as unknown as WirthforgeEvent]),
    );
    expect(isInvalidEventError(error) && error.issues[0]?.keyword).toBe('unknown_type');
    const wrapped = b.unknown('future.thing');
    await store.appendToStream(STREAM, [wrapped]);
    const [read] = await store.readStream(STREAM).toArray();
    expect(isUnknownEvent(read?.event)).toBe(true);
    expect(isUnknownEvent(read?.event) && read.event.event).toEqual(wrapped.event);
    await store.close();
  });

  it('rejects a stale expected version with storage ConcurrencyError carrying expected and actual', async () => {
    const { store } = memoryStore();
    const b = new SessionEvents();
    await store.appendToStream(STREAM, [b.start(), b.prompt('p')]);
    const error = await rejection(
      store.appendToStream(STREAM, [b.prompt('q')], { expectedVersion: 1n }),
    );
    expect(isConcurrencyError(error)).toBe(true);
    expect(isConcurrencyError(error) && [error.stream, error.expected, error.actual]).toEqual([
      STREAM,
      1n,
      2n,
    ]);
    expect(
      isConcurrencyError(
        await rejection(
          store.appendToStream(STREAM, [b.prompt('q')], { expectedVersion: 'no_stream' }),
        ),
      ),
    ).toBe(true);
    await store.appendToStream(STREAM, [b.prompt('q')], { expectedVersion: 'stream_exists' });
    expect(await store.streamVersion(STREAM)).toBe(3n);
    await store.close();
  });

  it('is idempotent by event_id: the same event returns its positions, other content conflicts', async () => {
    const { store, storage } = memoryStore();
    const b = new SessionEvents();
    const events = [
      { ...b.start(), event_id: 'evt-1' },
      { ...b.update(1, 40), event_id: 'evt-2' },
    ];
    const first = await store.appendToStream(STREAM, events, { expectedVersion: 'no_stream' });
    // A retry after a lost acknowledgement, with the expected version it was sent with.
    const retry = await store.appendToStream(STREAM, events, { expectedVersion: 'no_stream' });
    expect(retry.positions).toEqual(first.positions);
    expect(retry.nextExpectedVersion).toBe(2n);
    const changed = { ...b.update(1, 41), event_id: 'evt-2' };
    const error = await rejection(store.appendToStream(STREAM, [changed]));
    expect(isIdempotencyConflictError(error)).toBe(true);
    expect(isIdempotencyConflictError(error) && error.eventId).toBe('evt-2');
    expect(await store.headPosition()).toBe(2n);
    // The repeat was not counted by the inline projections either.
    const row = await new SessionRepository(storage.db).get(SESSION_ID);
    expect(row).toMatchObject({ totalEvents: 2, totalEnergy: 40 });
    await store.close();
  });
});

describe('reads', () => {
  async function seeded(): Promise<{ store: EventStore; events: WirthforgeEvent[] }> {
    const { store } = memoryStore();
    const b = new SessionEvents();
    const other = new SessionEvents('20250817T194800Z_002');
    const events = [b.start(), b.update(1, 1), b.prompt('p'), b.token('p', 0), b.update(2, 2)];
    await store.appendToStream(STREAM, events.slice(0, 3));
    await store.appendToStream(`session-${other.sessionId}`, [other.start()]);
    await store.appendToStream(STREAM, events.slice(3));
    return { store, events };
  }

  it('reads a stream forwards, backwards, within bounds, decoded', async () => {
    const { store, events } = await seeded();
    const all = await store.readStream(STREAM).toArray();
    expect(all.map((r) => [r.version, r.position, r.stream])).toEqual([
      [1n, 1n, STREAM],
      [2n, 2n, STREAM],
      [3n, 3n, STREAM],
      [4n, 5n, STREAM],
      [5n, 6n, STREAM],
    ]);
    expect(all.map((r) => r.event)).toEqual(events);
    const back = await store.readStream(STREAM, { direction: 'backwards', maxCount: 2 }).toArray();
    expect(back.map((r) => r.version)).toEqual([5n, 4n]);
    const middle = await collect(store.readStream(STREAM, { from: 2n, to: 3n }));
    expect(middle.map((r) => r.event.type)).toEqual(['energy.update', 'user.prompt']);
    expect(await store.readStream('session-20250817T194800Z_077').toArray()).toEqual([]);
    await store.close();
  });

  it('reads all streams in position order, with type and stream filters', async () => {
    const { store } = await seeded();
    const positions = async (options: Parameters<EventStore['readAll']>[0]) =>
      (await store.readAll(options).toArray()).map((r) => Number(r.position));
    expect(await positions({})).toEqual([1, 2, 3, 4, 5, 6]);
    expect(await positions({ fromPosition: 3n, toPosition: 5n })).toEqual([3, 4, 5]);
    expect(await positions({ filter: { types: ['system.start'] } })).toEqual([1, 4]);
    expect(await positions({ filter: { streams: [STREAM], types: ['energy.update'] } })).toEqual([
      2, 6,
    ]);
    expect(await positions({ maxCount: 2, fromPosition: 4n })).toEqual([4, 5]);
    await store.close();
  });

  it('upcasts older schema versions on the way out', async () => {
    const storage = createMemoryStorage();
    const b = new SessionEvents();
    await createEventStore({ storage }).appendToStream(STREAM, [b.prompt('p')]);
    const upcasters = createUpcasters({
      versions: { 'user.prompt': 2 },
      upcasters: [
        {
          type: 'user.prompt',
          fromVersion: 1,
          upcast: (event) => ({
            ...event,
            data: { ...(event.data as object), interface: 'voice' },
          }),
        },
      ],
    });
    const store = createEventStore({ storage, upcasters });
    const [read] = await store.readStream(STREAM).toArray();
    const upcast = read?.event;
    expect(
      upcast !== undefined &&
        !isUnknownEvent(upcast) &&
        upcast.type === 'user.prompt' &&
        upcast.data.interface,
    ).toBe('voice');
    await store.close();
  });
});

describe('aggregateStream', () => {
  it('folds a stream, then only its tail from the cached state', async () => {
    const storage = createMemoryStorage();
    const { storage: watched, calls } = observed(storage);
    const store = createEventStore({ storage: watched });
    const b = new SessionEvents();
    const events = [b.start(), b.update(1, 5), b.update(1, 6), b.prompt('p'), b.update(2, 7)];
    await store.appendToStream(STREAM, events.slice(0, 3));
    const first = await store.aggregateStream(STREAM, energyProjection);
    expect([first.version, first.position]).toEqual([3n, 3n]);
    await store.appendToStream(STREAM, events.slice(3));
    calls.readStream.length = 0;
    const second = await store.aggregateStream(STREAM, energyProjection);
    expect(calls.readStream.map((call) => call.options?.from)).toEqual([4n]);
    expect([second.version, second.position]).toEqual([5n, 5n]);
    const fresh = await createEventStore({ storage, cache: false }).aggregateStream(
      STREAM,
      energyProjection,
    );
    expect(stateHash(second.state)).toBe(stateHash(fresh.state));
    // The caller owns what it gets: changing it does not change the next result.
    second.state.total_energy.sum = -1;
    const third = await store.aggregateStream(STREAM, energyProjection);
    expect(stateHash(third.state)).toBe(stateHash(fresh.state));
    const upTo = await store.aggregateStream(STREAM, sessionSummaryProjection, { upTo: 2n });
    expect([upTo.version, upTo.state.total_events]).toEqual([2n, 2]);
    const empty = await store.aggregateStream('session-20250817T194800Z_050', energyProjection);
    expect([empty.version, empty.position]).toEqual([0n, 0n]);
    await store.close();
  });
});

describe('deterministic replay', () => {
  it('the live state of a recorded session and its aggregate hash the same', async () => {
    await fc.assert(
      fc.asyncProperty(
        sessionEventsArbitrary({ maxEvents: 150, userId: 'ada' }),
        fc.integer({ min: 1, max: 20 }),
        async (generated, frameSize) => {
          const events = withoutIds(generated);
          const { store, storage } = memoryStore();
          const stream = `session-${events[0]!.session_id}`;
          const subscription = store.subscribe({ from: 'start' });
          let live = energyProjection.initialState();
          // The recorder's path: one commit per frame of encoded events.
          for (let i = 0; i < events.length; i += frameSize) {
            await store.commitBatch([prepareAppend(stream, events.slice(i, i + frameSize))]);
            if (i === frameSize) await store.aggregateStream(stream, energyProjection);
          }
          for (let seen = 0; seen < events.length; seen++) {
            const next = await subscription.next();
            live = foldEventsInPlace(energyProjection, live, [next.value as StoreRecord]);
          }
          const cached = await store.aggregateStream(stream, energyProjection);
          const replayed = await createEventStore({ storage, cache: false }).aggregateStream(
            stream,
            energyProjection,
          );
          expect(stateHash(cached.state)).toBe(stateHash(live));
          expect(stateHash(replayed.state)).toBe(stateHash(live));
          const summary = (await store.aggregateStream(stream, sessionSummaryProjection)).state;
          const row = await new SessionRepository(storage.db).get(events[0]!.session_id);
          expect(row).toMatchObject({
            totalEvents: summary.total_events,
            totalEnergy: summary.total_energy,
            totalTokens: summary.tokens,
            // A session closed by a recovery is marked so in its row.
            status:
              summary.status === 'active'
                ? 'active'
                : summary.end_reason === 'recovered'
                  ? 'recovered'
                  : 'ended',
          });
          await store.close();
        },
      ),
      { numRuns: 30 },
    );
  });
});

describe('transaction', () => {
  it('commits appends to several streams and row writes in one batch', async () => {
    const storage = createMemoryStorage();
    const { storage: watched, calls } = observed(storage);
    const store = createEventStore({ storage: watched });
    const b = new SessionEvents();
    await store.appendToStream(STREAM, [b.start()]);
    calls.appendBatch.length = 0;
    const unlock: EventOfType<'experience.level_unlock'> = b.event('experience.level_unlock', {
      level: 2,
      level_name: 'Stream',
      trigger_condition: 'first 100 EU',
    });
    const result = await store.transaction((tx) => {
      tx.appendToStream(STREAM, [b.update(1, 150)], { expectedVersion: 1n });
      tx.appendToStream(STREAM, [b.prompt('p')], { expectedVersion: 2n });
      tx.appendToStream(userStream('ada'), [unlock]);
      tx.write({ kind: 'metadata.set', key: 'last.unlock', value: '2' });
      return 'unlocked';
    });
    expect(calls.appendBatch).toHaveLength(1);
    expect(result.value).toBe('unlocked');
    expect(result.appends.map((a) => [a.stream, a.positions])).toEqual([
      [STREAM, [2n, 3n]],
      ['user-ada', [4n]],
    ]);
    expect(result.writes).toEqual([{ changes: 1, insertedId: null }]);
    expect(await new MetadataRepository(storage.db).get('last.unlock')).toBe('2');
    const user = await new UserRepository(storage.db).get('ada');
    // 1 point per 100 EU, 1 per prompt, 50 × 2 for the level.
    expect(user).toMatchObject({ level: 2, xp: 1 + 1 + 100, totalEnergy: 150 });
    await store.close();
  });

  it('writes nothing when the function throws', async () => {
    const { store, storage } = memoryStore();
    const b = new SessionEvents();
    await store.appendToStream(STREAM, [b.start()]);
    const error = new Error('abandoned');
    await expect(
      store.transaction(async (tx) => {
        tx.appendToStream(STREAM, [b.update(1, 9)]);
        tx.appendToStream('system', [b.prompt('p')]);
        tx.write({ kind: 'metadata.set', key: 'never', value: 'x' });
        await Promise.resolve();
        throw error;
      }),
    ).rejects.toBe(error);
    expect(await store.headPosition()).toBe(1n);
    expect(await new MetadataRepository(storage.db).get('never')).toBeUndefined();
    expect(await new SessionRepository(storage.db).get(SESSION_ID)).toMatchObject({
      totalEvents: 1,
      totalEnergy: 0,
    });
    // An invalid event thrown inside the function aborts it the same way.
    const invalid = await rejection(
      store.transaction((tx) => {
        tx.appendToStream('system', [b.prompt('p')]);
        tx.appendToStream(STREAM, [{ ...b.update(1, -5) }]);
      }),
    );
    expect(isInvalidEventError(invalid)).toBe(true);
    expect(await store.headPosition()).toBe(1n);
    // The energy state was not touched by either: the next commit counts from 1 event.
    await store.appendToStream(STREAM, [b.update(1, 2)]);
    expect(await new SessionRepository(storage.db).get(SESSION_ID)).toMatchObject({
      totalEvents: 2,
      totalEnergy: 2,
    });
    await store.close();
  });

  it('rejects the whole transaction when one append conflicts', async () => {
    const { store, storage } = memoryStore();
    const b = new SessionEvents();
    await store.appendToStream(STREAM, [b.start(), b.update(1, 3)]);
    const error = await rejection(
      store.transaction((tx) => {
        tx.appendToStream(userStream('ada'), [b.prompt('p')], { expectedVersion: 'no_stream' });
        tx.appendToStream(STREAM, [b.update(2, 4)], { expectedVersion: 1n });
        tx.write({ kind: 'metadata.set', key: 'never', value: 'x' });
      }),
    );
    expect(isConcurrencyError(error) && [error.expected, error.actual]).toEqual([1n, 2n]);
    expect(await store.headPosition()).toBe(2n);
    expect(await store.streamVersion('user-ada')).toBe(0n);
    expect(await new MetadataRepository(storage.db).get('never')).toBeUndefined();
    expect(await new UserRepository(storage.db).get('ada')).toMatchObject({ totalEnergy: 3 });
    // The states folded for the failed commit were dropped: the next one is exact.
    await store.appendToStream(STREAM, [b.update(2, 4)], { expectedVersion: 2n });
    expect(await new UserRepository(storage.db).get('ada')).toMatchObject({ totalEnergy: 7 });
    expect(await new SessionRepository(storage.db).get(SESSION_ID)).toMatchObject({
      totalEvents: 3,
      totalEnergy: 7,
    });
    await store.close();
  });

  it('refuses misuse: a transaction used after its function, a second append with another version', async () => {
    const { store } = memoryStore();
    const b = new SessionEvents();
    const kept: Transaction[] = [];
    const empty = await store.transaction((tx) => {
      kept.push(tx);
    });
    expect(empty.appends).toEqual([]);
    expect(() => kept[0]!.appendToStream(STREAM, [b.start()])).toThrow(/is over/);
    const error = await rejection(
      store.transaction((tx) => {
        tx.appendToStream(STREAM, [b.start()], { expectedVersion: 'no_stream' });
        tx.appendToStream(STREAM, [b.prompt('p')], { expectedVersion: 5n });
      }),
    );
    expect(isStateError(error, 'invalid_argument')).toBe(true);
    expect(await store.headPosition()).toBe(0n);
    await store.close();
  });
});

describe('commitBatch', () => {
  it('commits records encoded by the caller across streams, with row writes', async () => {
    const { store, storage } = memoryStore();
    const b = new SessionEvents();
    const frame = [b.start(), b.update(1, 2.5), b.update(1, 1.5)].map((event) =>
      encodeEvent(event),
    );
    const heartbeat = encodeEvent(
      b.event('health.heartbeat', { fps: 60, system_health: 'healthy' }),
      { includeSessionId: true },
    );
    const result = await store.commitBatch(
      [
        { stream: STREAM, expectedVersion: 'no_stream', records: frame },
        { stream: 'system', records: [heartbeat] },
      ],
      { writes: [{ kind: 'audit.insert', timestampUs: T0, actor: 'recorder', action: 'frame' }] },
    );
    expect(result.appends.map((a) => a.positions)).toEqual([[1n, 2n, 3n], [4n]]);
    expect(result.lastPosition).toBe(4n);
    expect(result.writes).toEqual([{ changes: 1, insertedId: 1n }]);
    expect(await new SessionRepository(storage.db).get(SESSION_ID)).toMatchObject({
      totalEvents: 3,
      totalEnergy: 4,
    });
    const [system] = await store.readStream('system').toArray();
    expect(system?.event.type).toBe('health.heartbeat');
    await store.close();
  });

  it('refuses a record it cannot read back, before writing anything', async () => {
    const { store } = memoryStore();
    const b = new SessionEvents();
    const future = { ...encodeEvent(b.prompt('p')), schemaVersion: 9 };
    const error = await rejection(store.commitBatch([{ stream: STREAM, records: [future] }]));
    expect(isInvalidEventError(error) && error.issues[0]).toMatchObject({
      index: 0,
      keyword: 'future_version',
    });
    expect(await store.headPosition()).toBe(0n);
    await store.close();
  });
});

describe('commit pipeline', () => {
  /** A memory storage whose appendBatch calls wait, in order, while held. */
  function heldStore(): {
    store: EventStore;
    storage: MemoryStorage;
    hold: () => void;
    release: () => void;
    sent: () => number;
  } {
    const storage = createMemoryStorage();
    let gate: Promise<void> = Promise.resolve();
    let open: () => void = () => undefined;
    let sent = 0;
    const { storage: base } = observed(storage);
    const wrapped = {
      ...base,
      appendBatch: (...args: Parameters<MemoryStorage['appendBatch']>) => {
        sent += 1;
        return gate.then(() => storage.appendBatch(...args));
      },
    };
    const store = createEventStore({ storage: wrapped, clock: fixedClock(T0, 1000) });
    return {
      store,
      storage,
      hold: () => {
        gate = new Promise((resolve) => (open = resolve));
      },
      release: () => open(),
      sent: () => sent,
    };
  }

  async function until(condition: () => boolean): Promise<void> {
    for (let i = 0; i < 1000 && !condition(); i++) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(condition()).toBe(true);
  }

  async function rows(storage: MemoryStorage): Promise<unknown[]> {
    return [
      await new SessionRepository(storage.db).list(),
      await new UserRepository(storage.db).list(),
    ];
  }

  it('sends at most 8 commits ahead, and acknowledges them in call order', async () => {
    const { store, storage, hold, release, sent } = heldStore();
    const session = await store.startSession({ userId: 'ada', mode: 'offline', version: '1.0.0' });
    const b = new SessionEvents(session.id, T0 + 1_000_000);
    hold();
    const before = sent();
    const order: number[] = [];
    const commits = Array.from({ length: 10 }, (_, n) =>
      store
        .appendToStream(session.stream, [b.update(n, n + 1)], { expectedVersion: BigInt(n + 1) })
        .then((result) => {
          order.push(n);
          return result;
        }),
    );
    await until(() => sent() - before === 8);
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(sent() - before).toBe(8);
    expect(order).toEqual([]);
    release();
    const results = await Promise.all(commits);
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(results.map((r) => r.positions)).toEqual(
      Array.from({ length: 10 }, (_, n) => [BigInt(n + 2)]),
    );
    expect(await new SessionRepository(storage.db).get(session.id)).toMatchObject({
      totalEvents: 11,
      totalEnergy: 55,
    });
    const live = await rows(storage);
    await store.rebuildProjections();
    expect(await rows(storage)).toEqual(live);
    await store.close();
  });

  it('recomputes the rows written on top of a commit that failed in flight', async () => {
    const { store, storage, hold, release, sent } = heldStore();
    const a = await store.startSession({ userId: 'ada', mode: 'offline', version: '1.0.0' });
    const b = await store.startSession({ userId: 'ada', mode: 'offline', version: '1.0.0' });
    const other = await store.startSession({ userId: 'bob', mode: 'offline', version: '1.0.0' });
    const ab = new SessionEvents(a.id, T0 + 1_000_000);
    const bb = new SessionEvents(b.id, T0 + 2_000_000);
    const ob = new SessionEvents(other.id, T0 + 3_000_000);
    await store.appendToStream(a.stream, [ab.update(1, 1)]);
    hold();
    const before = sent();
    const settled: string[] = [];
    const track = <T>(name: string, promise: Promise<T>): Promise<T> =>
      promise.then(
        (value) => {
          settled.push(name);
          return value;
        },
        (error: unknown) => {
          settled.push(name);
          throw error;
        },
      );
    // Fails: session a is at version 2.
    const failing = track(
      'failing',
      store.appendToStream(a.stream, [ab.update(2, 1000)], { expectedVersion: 7n }),
    );
    const sameSession = track('same session', store.appendToStream(a.stream, [ab.update(3, 20)]));
    const sameUser = track('same user', store.appendToStream(b.stream, [bb.update(1, 300)]));
    // All three prepared on top of each other before any is acknowledged.
    await until(() => sent() - before === 3);
    release();
    expect(isConcurrencyError(await rejection(failing))).toBe(true);
    expect((await sameSession).positions).toEqual([5n]);
    expect((await sameUser).positions).toEqual([6n]);
    expect(settled).toEqual(['failing', 'same session', 'same user']);
    // A later commit of another user: the rows are right again by then.
    await store.appendToStream(other.stream, [ob.update(1, 5)]);

    expect(await new SessionRepository(storage.db).get(a.id)).toMatchObject({
      totalEvents: 3,
      totalEnergy: 21,
    });
    expect(await new UserRepository(storage.db).get('ada')).toMatchObject({ totalEnergy: 321 });
    const live = await rows(storage);
    await store.rebuildProjections();
    expect(await rows(storage)).toEqual(live);
    // And the states the next commits fold on are the stored ones.
    await store.appendToStream(a.stream, [ab.update(4, 4)]);
    expect(await new UserRepository(storage.db).get('ada')).toMatchObject({ totalEnergy: 325 });
    await store.close();
  });
});

describe('subscribe', () => {
  it('delivers every event once, in order, while producers append concurrently', async () => {
    const { store } = memoryStore();
    const subscription = store.subscribe({ from: 'start', pageSize: 7 });
    const producers = ['20250817T194800Z_011', '20250817T194800Z_012', '20250817T194800Z_013'].map(
      (id) => new SessionEvents(id),
    );
    const total = 3 * 40 * 2;
    const consumed: bigint[] = [];
    const consumer = (async () => {
      for await (const record of subscription) {
        consumed.push(record.position);
        if (consumed.length === total) break;
      }
    })();
    await Promise.all(
      producers.map(async (b) => {
        for (let i = 0; i < 40; i++) {
          await store.appendToStream(`session-${b.sessionId}`, [b.update(i, 1), b.prompt(`p${i}`)]);
        }
      }),
    );
    await consumer;
    expect(consumed).toEqual(Array.from({ length: total }, (_, i) => BigInt(i + 1)));
    expect(subscription.closed).toBe(true);
    await store.close();
  });

  it('starts at the end, after a checkpoint, or filtered', async () => {
    const { store } = memoryStore();
    const b = new SessionEvents();
    await store.appendToStream(STREAM, [b.start(), b.prompt('a'), b.prompt('b')]);
    const fromEnd = store.subscribe();
    const fromCheckpoint = store.subscribe({ from: 2n });
    const prompts = store.subscribe({ from: 'start', filter: { types: ['user.prompt'] } });
    // The end is where the log stood when the subscription was made.
    await store.appendToStream(STREAM, [b.prompt('c')]);
    expect(((await fromEnd.next()).value as StoreRecord).position).toBe(4n);
    const pending = fromEnd.next();
    await store.appendToStream(STREAM, [b.prompt('d')]);
    expect(((await pending).value as StoreRecord).position).toBe(5n);
    expect((await fromCheckpoint.next()).value?.position).toBe(3n);
    expect((await fromCheckpoint.next()).value?.position).toBe(4n);
    const seen: bigint[] = [];
    for (let i = 0; i < 4; i++) seen.push(((await prompts.next()).value as StoreRecord).position);
    expect(seen).toEqual([2n, 3n, 4n, 5n]);
    expect(prompts.checkpoint).toBe(5n);
    await store.close();
  });

  it('ends cleanly: close() while waiting, return(), and the store closing', async () => {
    const { store } = memoryStore();
    const waiting = store.subscribe({ from: 'start' });
    const pending = waiting.next();
    await waiting.close();
    expect(await pending).toEqual({ done: true, value: undefined });
    expect(await waiting.next()).toEqual({ done: true, value: undefined });

    const returned = store.subscribe({ from: 'start' });
    expect(await returned.return()).toEqual({ done: true, value: undefined });
    expect(returned.closed).toBe(true);

    const open = store.subscribe({ from: 'start' });
    const stillPending = open.next();
    await store.close();
    expect((await stillPending).done).toBe(true);
    expect(open.closed).toBe(true);
    expect(() => store.subscribe()).toThrow(/closed/);
  });

  it('sees commits of another writer of the same storage by polling', async () => {
    const storage = createMemoryStorage();
    const reader = createEventStore({ storage });
    const writer = createEventStore({ storage, projections: { sessions: false, users: false } });
    const subscription = reader.subscribe({ from: 'start', pollIntervalMs: 5 });
    const pending = subscription.next();
    const b = new SessionEvents();
    await writer.appendToStream(STREAM, [b.start()]);
    expect((await pending).value?.event.type).toBe('system.start');
    await subscription.close();
    await reader.close();
  });
});

describe('sessions', () => {
  it('starts sessions with ids unique within the second, ends them with their totals', async () => {
    const storage = createMemoryStorage();
    const clock = fixedClock(T0 + 250_000, 1000);
    const store = createEventStore({ storage, clock });
    const first = await store.startSession({
      userId: 'ada',
      mode: 'offline',
      version: '1.0.0',
      modelId: 'ollama/llama2:7b',
      hardwareTier: 'high',
    });
    const second = await store.startSession({ userId: 'bob', mode: 'online', version: '1.0.0' });
    expect([first.id, second.id]).toEqual(['20250817T194800Z_001', '20250817T194800Z_002']);
    expect(first).toMatchObject({
      stream: 'session-20250817T194800Z_001',
      userId: 'ada',
      private: false,
      position: 1n,
    });
    const [start] = await store.readStream(first.stream).toArray();
    expect(start?.event).toMatchObject({
      type: 'system.start',
      data: {
        user_id: 'ada',
        mode: 'offline',
        model_id: 'ollama/llama2:7b',
        hardware_tier: 'high',
      },
    });
    const b = new SessionEvents(first.id, T0 + 300_000);
    await store.appendToStream(first.stream, [b.update(1, 10), b.update(2, 15.5), b.prompt('p')]);
    expect((await store.openSessions()).map((s) => s.sessionId)).toEqual([first.id, second.id]);

    const ended = await store.endSession(first.id, { reason: 'user_exit' });
    expect(ended.positions).toEqual([6n]);
    const [end] = await store
      .readStream(first.stream, { direction: 'backwards', maxCount: 1 })
      .toArray();
    expect(end?.event).toMatchObject({
      type: 'system.end',
      data: { total_energy: 25.5, total_events: 4, clean_shutdown: true, reason: 'user_exit' },
    });
    const endEvent = end?.event;
    const endData =
      endEvent !== undefined && !isUnknownEvent(endEvent) && endEvent.type === 'system.end'
        ? endEvent.data
        : undefined;
    expect(endData?.duration_ms).toBeGreaterThan(0);
    expect((await store.openSessions()).map((s) => s.sessionId)).toEqual([second.id]);
    expect(await new SessionRepository(storage.db).get(first.id)).toMatchObject({
      status: 'ended',
      cleanEnd: true,
      totalEnergy: 25.5,
    });
    await store.endSession(second.id, { reason: 'crash' });
    expect(await new SessionRepository(storage.db).get(second.id)).toMatchObject({
      cleanEnd: false,
    });
    expect(
      isStateError(
        await rejection(store.endSession(first.id, { reason: 'user_exit' })),
        'session_ended',
      ),
    ).toBe(true);
    expect(
      isStateError(
        await rejection(store.endSession('20250817T194800Z_777', { reason: 'user_exit' })),
        'session_not_found',
      ),
    ).toBe(true);
    expect(
      isStateError(
        await rejection(store.endSession('nope', { reason: 'user_exit' })),
        'invalid_argument',
      ),
    ).toBe(true);
    await store.close();

    // A new store in the same second skips the ids already stored.
    const again = createEventStore({ storage: storage.reopen(), clock: fixedClock(T0 + 900_000) });
    expect(
      (await again.startSession({ userId: 'ada', mode: 'offline', version: '1.0.0' })).id,
    ).toBe('20250817T194800Z_003');
    await again.close();
  });

  it('runs out of ids after 999 sessions in one second, with a retryable error', async () => {
    const { store } = memoryStore({
      clock: fixedClock(T0),
      projections: { sessions: false, users: false },
    });
    for (let i = 0; i < 999; i++) {
      await store.startSession({ userId: 'ada', mode: 'offline', version: '1.0.0' });
    }
    const error = await rejection(
      store.startSession({ userId: 'ada', mode: 'offline', version: '1.0.0' }),
    );
    expect(isStateError(error, 'session_ids_exhausted')).toBe(true);
    expect(isStateError(error) && error.retryable).toBe(true);
    await store.close();
  });

  it('keeps user totals across sessions and each session apart', async () => {
    const { store, storage } = memoryStore();
    const energies = [
      [10, 20],
      [5, 0.25],
      [100, 200, 300],
    ];
    for (const [n, amounts] of energies.entries()) {
      const session = await store.startSession({
        userId: 'ada',
        mode: 'offline',
        version: '1.0.0',
      });
      const b = new SessionEvents(session.id, T0 + 10_000_000 * (n + 1));
      await store.appendToStream(
        session.stream,
        amounts.map((energy, frame) => b.update(frame, energy)),
      );
      await store.appendToStream(session.stream, [b.prompt(`p${n}`)]);
      if (n < 2) await store.endSession(session.id, { reason: 'user_exit' });
    }
    const other = await store.startSession({ userId: 'bob', mode: 'offline', version: '1.0.0' });
    const ob = new SessionEvents(other.id, T0 + 50_000_000);
    await store.appendToStream(other.stream, [ob.update(1, 1000)]);

    const sessions = await new SessionRepository(storage.db).list({ userId: 'ada' });
    expect(sessions.map((s) => [s.totalEnergy, s.totalEvents, s.status]).sort()).toEqual(
      [
        [30, 5, 'ended'],
        [5.25, 5, 'ended'],
        [600, 5, 'active'],
      ].sort(),
    );
    const ada = await new UserRepository(storage.db).get('ada');
    // 635.25 EU: 6 points; 3 prompts; 2 clean ends: 20.
    expect(ada).toMatchObject({ totalEnergy: 635.25, sessionsCount: 3, xp: 6 + 3 + 20, level: 1 });
    expect(await new UserRepository(storage.db).get('bob')).toMatchObject({
      totalEnergy: 1000,
      sessionsCount: 1,
    });
    // The same from the events: a fold of the user's sessions, and a rebuild.
    const adaEvents = (await store.readAll().toArray()).filter((r) => r.stream !== other.stream);
    expect(foldEvents(userProgressProjection, adaEvents)).toMatchObject({
      total_energy: 635.25,
      total_sessions: 3,
      experience_points: ada?.xp,
    });
    const before = [
      await new SessionRepository(storage.db).list(),
      await new UserRepository(storage.db).list(),
    ];
    const report = await store.rebuildProjections();
    expect(report).toMatchObject({ sessions: 4, users: 2 });
    expect([
      await new SessionRepository(storage.db).list(),
      await new UserRepository(storage.db).list(),
    ]).toEqual(before);
    await store.close();
  });

  it('loads states from the events on first use, on a storage without relational reads', async () => {
    const storage = createMemoryStorage();
    const first = createEventStore({ storage, clock: fixedClock(T0, 1000) });
    const a = await first.startSession({ userId: 'ada', mode: 'offline', version: '1.0.0' });
    const b = new SessionEvents(a.id, T0 + 1_000_000);
    await first.appendToStream(a.stream, [b.update(1, 40), b.prompt('p')]);
    const open = await first.startSession({ userId: 'ada', mode: 'offline', version: '1.0.0' });
    await first.close();

    const { storage: bare } = observed(storage.reopen(), false);
    const second = createEventStore({ storage: bare, clock: fixedClock(T0 + 5_000_000, 1000) });
    const c = await second.startSession({ userId: 'ada', mode: 'offline', version: '1.0.0' });
    const cb = new SessionEvents(c.id, T0 + 6_000_000);
    await second.appendToStream(c.stream, [cb.update(1, 60)]);
    await second.endSession(a.id, { reason: 'user_exit' });
    expect((await second.openSessions()).map((s) => s.sessionId)).toEqual([open.id, c.id]);
    await second.close();

    const rows = storage.reopen();
    expect(await new UserRepository(rows.db).get('ada')).toMatchObject({
      totalEnergy: 100,
      sessionsCount: 3,
    });
    expect(await new SessionRepository(rows.db).get(a.id)).toMatchObject({
      status: 'ended',
      totalEvents: 4,
      totalEnergy: 40,
    });
    await rows.close();
  });

  it('keeps a private session apart from the log', async () => {
    const { store, storage } = memoryStore();
    const shared = await store.startSession({ userId: 'ada', mode: 'offline', version: '1.0.0' });
    const secret = await store.startSession({
      userId: 'ada',
      mode: 'private',
      version: '1.0.0',
      private: true,
    });
    expect(secret).toMatchObject({ private: true, position: 1n });
    const b = new SessionEvents(secret.id, T0 + 1_000_000);
    await store.appendToStream(secret.stream, [b.update(1, 70), b.prompt('p')]);
    expect((await store.readStream(secret.stream).toArray()).map((r) => r.event.type)).toEqual([
      'system.start',
      'energy.update',
      'user.prompt',
    ]);
    expect(
      (await store.aggregateStream(secret.stream, sessionSummaryProjection)).state.total_energy,
    ).toBe(70);
    expect(await store.streamVersion(secret.stream)).toBe(3n);
    expect((await store.readAll().toArray()).map((r) => r.stream)).toEqual([shared.stream]);
    expect((await store.openSessions()).map((s) => [s.sessionId, s.private])).toEqual([
      [shared.id, false],
      [secret.id, true],
    ]);
    const mixed = await rejection(
      store.transaction((tx) => {
        tx.appendToStream(secret.stream, [b.prompt('q')]);
        tx.appendToStream(shared.stream, [new SessionEvents(shared.id).prompt('q')]);
      }),
    );
    expect(isStateError(mixed, 'invalid_argument')).toBe(true);
    await store.endSession(secret.id, { reason: 'user_exit' });
    expect(await new SessionRepository(storage.db).get(secret.id)).toBeUndefined();
    expect(await new UserRepository(storage.db).get('ada')).toMatchObject({ totalEnergy: 0 });
    await store.close();
  });
});

describe('close', () => {
  it('lets commits already made finish, then refuses everything with closed', async () => {
    const { store, storage } = memoryStore();
    const b = new SessionEvents();
    const inFlight = store.appendToStream(STREAM, [b.start()]);
    await store.close();
    expect((await inFlight).positions).toEqual([1n]);
    expect(storage.isClosed).toBe(true);
    for (const call of [
      () => store.appendToStream(STREAM, [b.prompt('p')]),
      () => store.readStream(STREAM).toArray(),
      () => store.readAll().toArray(),
      () => store.aggregateStream(STREAM, energyProjection),
      () => store.transaction(() => undefined),
      () => store.startSession({ userId: 'ada', mode: 'offline', version: '1.0.0' }),
      () => store.rebuildProjections(),
      () => store.headPosition(),
    ]) {
      expect(isStateError(await rejection(call()), 'closed')).toBe(true);
    }
    await store.close();
  });
});

describe('createEventStore', () => {
  it('refuses bad options', () => {
    expect(() => createEventStore({} as Parameters<typeof createEventStore>[0])).toThrow(/storage/);
    const storage = createMemoryStorage();
    expect(() => createEventStore({ storage, cache: { maxEntries: 0 } })).toThrow(/maxEntries/);
    expect(() => createEventStore({ storage, clock: 5 as unknown as () => number })).toThrow(
      /clock/,
    );
  });

  it('stores events of unknown types through createUnknownEvent in non-session streams', async () => {
    const { store } = memoryStore();
    const event = createUnknownEvent({
      session_id: SESSION_ID,
      timestamp: '2025-08-17T19:48:00.000001Z',
      type: 'plugin.custom',
      data: { x: 1 },
    });
    await store.appendToStream('system', [event]);
    const [read] = await store.readAll().toArray();
    expect(isUnknownEvent(read?.event) && read.event.event.session_id).toBe(SESSION_ID);
    await store.close();
  });
});
