/**
 * A model of the event store's append semantics (positions, versions, expected
 * versions, event-id idempotency, atomic multi-stream commits) and the fast-check
 * commands that drive a real store against it: appends, invalid appends, transactions
 * (committed or thrown), reads, aggregation, subscriptions, the inline projections' rows
 * and restarts.
 */
import {
  isUnknownEvent,
  toIsoMicros,
  type EventOfType,
  type WirthforgeEvent,
} from '@wirthforge/events';
import {
  SessionRepository,
  UserRepository,
  isStorageError,
  type EventStorage,
  type ExpectedVersion,
  type NewEventRecord,
} from '@wirthforge/storage';
import fc from 'fast-check';
import { expect } from 'vitest';
import {
  foldEvents,
  isInvalidEventError,
  prepareAppend,
  sessionSummaryProjection,
  stateHash,
  userProgressProjection,
  type AppendableEvent,
  type EventStore,
  type RecordedEvent,
  type StoreRecord,
  type Subscription,
} from '../src/index.js';

export const SESSION_A = '20250817T194800Z_001';
export const SESSION_B = '20250817T194800Z_002';
export const STREAMS = [
  `session-${SESSION_A}`,
  `session-${SESSION_B}`,
  'user-ada',
  'system',
] as const;
const USERS = ['ada', 'bob'] as const;
const EVENT_IDS = ['e1', 'e2', 'e3', 'e4', 'e5', 'e6'] as const;
/** The filtered subscription's types. */
export const FILTER_TYPES = ['system.start', 'user.prompt'];

type Kind = 'start-ada' | 'start-bob' | 'update' | 'prompt' | 'token' | 'end';
const KINDS: readonly Kind[] = ['start-ada', 'start-bob', 'update', 'prompt', 'token', 'end'];

interface EventSpec {
  readonly kind: number;
  readonly energy: number;
  /** Index into EVENT_IDS, or null. */
  readonly id: number | null;
  /** When the id is stored, send the stored event again (a retry) instead of a new one. */
  readonly replay: boolean;
}

type ExpectedMode = 'exact' | 'stale' | 'no_stream' | 'stream_exists' | 'any' | 'omit';

interface ModelRecord extends RecordedEvent<AppendableEvent> {
  readonly stream: string;
  readonly encoded: NewEventRecord;
}

interface PlannedAppend {
  readonly stream: string;
  readonly expectedVersion: ExpectedVersion | undefined;
  readonly events: readonly AppendableEvent[];
  readonly records: readonly NewEventRecord[];
}

type Outcome =
  | {
      readonly ok: true;
      readonly results: readonly { positions: bigint[]; next: bigint }[];
      readonly written: readonly ModelRecord[];
    }
  | { readonly ok: false; readonly code: 'concurrency' | 'idempotency_conflict' };

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((byte, i) => byte === b[i]);
}

function sameContent(stored: ModelRecord, stream: string, record: NewEventRecord): boolean {
  return stored.stream === stream && sameRecord(stored.encoded, record);
}

function sameRecord(a: NewEventRecord, record: NewEventRecord): boolean {
  return (
    a.type === record.type &&
    a.schemaVersion === record.schemaVersion &&
    a.timestampUs === record.timestampUs &&
    (a.frameId ?? null) === (record.frameId ?? null) &&
    sameBytes(a.payload, record.payload)
  );
}

/** What the store holds, in a few lines. */
export class StoreModel {
  readonly records: ModelRecord[] = [];
  readonly #versions = new Map<string, bigint>();
  readonly #byId = new Map<string, ModelRecord>();
  /** The original event behind each stored id, for retries. */
  readonly originals = new Map<string, { stream: string; event: AppendableEvent }>();
  #time = 1_755_460_080_000_000;
  #frame = 0;
  /** Events the unfiltered subscription delivered. */
  delivered = 0;
  /** Events the filtered subscription delivered. */
  deliveredFiltered = 0;

  version(stream: string): bigint {
    return this.#versions.get(stream) ?? 0n;
  }

  head(): bigint {
    return BigInt(this.records.length);
  }

  tick(): string {
    this.#time += 1000;
    return toIsoMicros(this.#time);
  }

  nextFrame(): number {
    return (this.#frame += 1);
  }

  /** The outcome of a commit of several appends, without applying it. */
  predict(appends: readonly PlannedAppend[]): Outcome {
    const written: ModelRecord[] = [];
    const versions = new Map<string, bigint>();
    const byId = new Map(this.#byId);
    const results: { positions: bigint[]; next: bigint }[] = [];
    for (const append of appends) {
      const current = versions.get(append.stream) ?? this.version(append.stream);
      let version = current;
      const positions: bigint[] = [];
      const expected = append.expectedVersion ?? 'any';
      const matches =
        expected === 'any' ||
        (expected === 'no_stream' && current === 0n) ||
        (expected === 'stream_exists' && current > 0n) ||
        expected === current;
      if (!matches) {
        let all = append.records.length > 0;
        const batch = new Map<string, NewEventRecord>();
        for (const record of append.records) {
          const id = record.eventId;
          if (id === undefined) {
            all = false;
            continue;
          }
          const earlier = batch.get(id);
          if (earlier !== undefined) {
            if (!sameRecord(earlier, record)) return { ok: false, code: 'idempotency_conflict' };
            continue;
          }
          const stored = byId.get(id);
          if (stored === undefined) {
            all = false;
            batch.set(id, record);
            continue;
          }
          if (!sameContent(stored, append.stream, record)) {
            return { ok: false, code: 'idempotency_conflict' };
          }
          positions.push(stored.position);
        }
        if (!all) return { ok: false, code: 'concurrency' };
        results.push({ positions, next: current });
        continue;
      }
      append.records.forEach((record, i) => {
        const id = record.eventId;
        const stored = id === undefined ? undefined : byId.get(id);
        if (stored !== undefined) {
          if (!sameContent(stored, append.stream, record)) throw new Conflict();
          positions.push(stored.position);
          return;
        }
        version += 1n;
        const written1: ModelRecord = {
          position: this.head() + BigInt(written.length) + 1n,
          version,
          stream: append.stream,
          event: append.events[i]!,
          encoded: record,
        };
        written.push(written1);
        if (id !== undefined) byId.set(id, written1);
        positions.push(written1.position);
      });
      versions.set(append.stream, version);
      results.push({ positions, next: version });
    }
    return { ok: true, results, written };
  }

  apply(outcome: Outcome): void {
    if (!outcome.ok) return;
    for (const record of outcome.written) {
      this.records.push(record);
      this.#versions.set(record.stream, record.version);
      const id = record.encoded.eventId;
      if (id !== undefined) {
        this.#byId.set(id, record);
        this.originals.set(id, { stream: record.stream, event: record.event });
      }
    }
  }

  stored(id: string): boolean {
    return this.#byId.has(id);
  }
}

class Conflict extends Error {}

function safePredict(model: StoreModel, appends: readonly PlannedAppend[]): Outcome {
  try {
    return model.predict(appends);
  } catch (error) {
    if (error instanceof Conflict) return { ok: false, code: 'idempotency_conflict' };
    throw error;
  }
}

/** A storage with a Kysely reader of its tables. */
export type StorageWithDb = EventStorage & {
  readonly db: ConstructorParameters<typeof SessionRepository>[0];
};

/** The real side: the store, its storage, two subscriptions, and how to reopen. */
export interface RealStore {
  store: EventStore;
  storage: StorageWithDb;
  all: Subscription;
  filtered: Subscription;
  readonly reopenStorage: () => Promise<StorageWithDb>;
  readonly createStore: (storage: EventStorage) => EventStore;
}

/** Opens the two subscriptions of a model run on a fresh store. */
export function subscriptions(store: EventStore): Pick<RealStore, 'all' | 'filtered'> {
  return {
    all: store.subscribe({ from: 'start' }),
    filtered: store.subscribe({ from: 0n, filter: { types: FILTER_TYPES } }),
  };
}

type Command = fc.AsyncCommand<StoreModel, RealStore>;

function sessionOf(stream: string): string {
  return stream.startsWith('session-') ? stream.slice('session-'.length) : SESSION_A;
}

function buildEvent(model: StoreModel, stream: string, spec: EventSpec): AppendableEvent {
  const id = spec.id === null ? undefined : EVENT_IDS[spec.id]!;
  if (id !== undefined && spec.replay) {
    // A retry resends the stored event; to another stream it would be a new one.
    const original = model.originals.get(id);
    if (original?.stream === stream) return original.event;
  }
  let kind = KINDS[spec.kind]!;
  const session = stream.startsWith('session-');
  if (!session && (kind === 'start-ada' || kind === 'start-bob' || kind === 'end')) kind = 'prompt';
  const base = {
    session_id: sessionOf(stream),
    timestamp: model.tick(),
    ...(id === undefined ? {} : { event_id: id }),
  };
  let event: WirthforgeEvent;
  switch (kind) {
    case 'start-ada':
    case 'start-bob':
      event = {
        ...base,
        type: 'system.start',
        data: { version: '1.0.0', user_id: kind === 'start-ada' ? 'ada' : 'bob', mode: 'offline' },
      } satisfies EventOfType<'system.start'>;
      break;
    case 'update':
      event = {
        ...base,
        type: 'energy.update',
        frame_id: model.nextFrame(),
        data: { energy: spec.energy / 4, accumulator: 0, model_id: 'ollama/llama2:7b' },
      } satisfies EventOfType<'energy.update'>;
      break;
    case 'prompt':
      event = {
        ...base,
        type: 'user.prompt',
        data: { prompt_id: `p${spec.energy}`, interface: 'text', truncated: false },
      } satisfies EventOfType<'user.prompt'>;
      break;
    case 'token':
      event = {
        ...base,
        type: 'ai.output',
        data: {
          prompt_id: 'p',
          token_index: spec.energy,
          is_last: false,
          model_id: 'ollama/llama2:7b',
        },
      } satisfies EventOfType<'ai.output'>;
      break;
    case 'end':
      event = {
        ...base,
        type: 'system.end',
        data: {
          duration_ms: spec.energy,
          clean_shutdown: spec.energy % 2 === 0,
          reason: 'user_exit',
        },
      } satisfies EventOfType<'system.end'>;
      break;
  }
  return event;
}

function plan(
  model: StoreModel,
  stream: string,
  mode: ExpectedMode,
  specs: readonly EventSpec[],
): PlannedAppend {
  const version = model.version(stream);
  const expectedVersion: ExpectedVersion | undefined =
    mode === 'exact'
      ? version
      : mode === 'stale'
        ? version + 1n
        : mode === 'omit'
          ? undefined
          : mode;
  const events = specs.map((spec) => buildEvent(model, stream, spec));
  const records = prepareAppend(stream, events).records;
  return { stream, expectedVersion, events, records };
}

async function expectOutcome(
  model: StoreModel,
  outcome: Outcome,
  run: () => Promise<readonly { positions: readonly bigint[]; nextExpectedVersion: bigint }[]>,
): Promise<void> {
  let results: readonly { positions: readonly bigint[]; nextExpectedVersion: bigint }[];
  try {
    results = await run();
  } catch (error) {
    if (!isStorageError(error)) throw error;
    expect(outcome.ok, `the store failed (${error.message}); the model expected success`).toBe(
      false,
    );
    if (!outcome.ok) expect(error.code).toBe(outcome.code);
    return;
  }
  expect(outcome.ok, 'the store succeeded; the model expected a failure').toBe(true);
  if (!outcome.ok) return;
  expect(results.map((r) => [r.positions, r.nextExpectedVersion])).toEqual(
    outcome.results.map((r) => [r.positions, r.next]),
  );
  model.apply(outcome);
}

class AppendCommand implements Command {
  constructor(
    readonly stream: number,
    readonly mode: ExpectedMode,
    readonly specs: readonly EventSpec[],
  ) {}
  check = (): boolean => true;
  async run(model: StoreModel, real: RealStore): Promise<void> {
    const append = plan(model, STREAMS[this.stream]!, this.mode, this.specs);
    const outcome = safePredict(model, [append]);
    await expectOutcome(model, outcome, async () => [
      await real.store.appendToStream(
        append.stream,
        append.events,
        append.expectedVersion === undefined ? {} : { expectedVersion: append.expectedVersion },
      ),
    ]);
  }
  toString = (): string =>
    `append(${STREAMS[this.stream]}, ${this.mode}, [${this.specs
      .map(
        (s) =>
          `${KINDS[s.kind]}${s.id === null ? '' : `#${EVENT_IDS[s.id]}${s.replay ? '*' : ''}`}`,
      )
      .join(',')}])`;
}

class InvalidAppendCommand implements Command {
  constructor(
    readonly stream: number,
    readonly count: number,
    readonly bad: number,
  ) {}
  check = (): boolean => true;
  async run(model: StoreModel, real: RealStore): Promise<void> {
    const stream = STREAMS[this.stream]!;
    const events = Array.from({ length: this.count }, (_, i) => {
      const event = buildEvent(model, stream, { kind: 3, energy: i, id: null, replay: false });
      if (i !== this.bad % this.count) return event;
      return { ...event, data: { prompt_id: 7 } } as unknown as AppendableEvent;
    });
    let caught: unknown;
    try {
      await real.store.appendToStream(stream, events);
    } catch (error) {
      caught = error;
    }
    expect(isInvalidEventError(caught)).toBe(true);
    if (isInvalidEventError(caught)) {
      expect(new Set(caught.issues.map((issue) => issue.index))).toEqual(
        new Set([this.bad % this.count]),
      );
    }
    expect(await real.store.headPosition()).toBe(model.head());
  }
  toString = (): string => `invalidAppend(${STREAMS[this.stream]}, ${this.count}, bad=${this.bad})`;
}

class TransactionCommand implements Command {
  constructor(
    readonly first: number,
    readonly second: number,
    readonly mode: ExpectedMode,
    readonly specs: readonly EventSpec[],
    readonly more: readonly EventSpec[],
    readonly abort: boolean,
  ) {}
  check = (): boolean => true;
  async run(model: StoreModel, real: RealStore): Promise<void> {
    const a = plan(model, STREAMS[this.first]!, this.mode, this.specs);
    const b = plan(model, STREAMS[this.second]!, 'any', this.more);
    // Two appends to one stream become one.
    const appends =
      a.stream === b.stream
        ? [{ ...a, events: [...a.events, ...b.events], records: [...a.records, ...b.records] }]
        : [a, b];
    const headBefore = model.head();
    if (this.abort) {
      await expect(
        real.store.transaction((tx) => {
          tx.appendToStream(
            a.stream,
            a.events,
            a.expectedVersion === undefined ? {} : { expectedVersion: a.expectedVersion },
          );
          tx.appendToStream(b.stream, b.events);
          throw new Error('changed my mind');
        }),
      ).rejects.toThrow('changed my mind');
      expect(await real.store.headPosition()).toBe(headBefore);
      return;
    }
    const outcome = safePredict(model, appends);
    await expectOutcome(model, outcome, async () => {
      const result = await real.store.transaction((tx) => {
        tx.appendToStream(
          a.stream,
          a.events,
          a.expectedVersion === undefined ? {} : { expectedVersion: a.expectedVersion },
        );
        tx.appendToStream(b.stream, b.events);
        return 'done';
      });
      expect(result.value).toBe('done');
      return result.appends;
    });
    if (!outcome.ok) expect(await real.store.headPosition()).toBe(headBefore);
  }
  toString = (): string =>
    `transaction(${STREAMS[this.first]} ${this.mode} ${this.specs.length}, ${STREAMS[this.second]} ${this.more.length}${this.abort ? ', throws' : ''})`;
}

function plain(record: RecordedEvent & { stream?: string }): unknown {
  return {
    position: record.position,
    version: record.version,
    stream: record.stream,
    hash: stateHash(isUnknownEvent(record.event) ? record.event.event : record.event),
  };
}

class ReadStreamCommand implements Command {
  constructor(
    readonly stream: number,
    readonly backwards: boolean,
    readonly from: number | null,
    readonly maxCount: number | null,
  ) {}
  check = (): boolean => true;
  async run(model: StoreModel, real: RealStore): Promise<void> {
    const stream = STREAMS[this.stream]!;
    let expected = model.records.filter((r) => r.stream === stream);
    if (this.backwards) {
      expected = expected.reverse();
      if (this.from !== null) expected = expected.filter((r) => r.version <= BigInt(this.from!));
    } else if (this.from !== null) {
      expected = expected.filter((r) => r.version >= BigInt(this.from!));
    }
    if (this.maxCount !== null) expected = expected.slice(0, this.maxCount);
    const actual = await real.store
      .readStream(stream, {
        direction: this.backwards ? 'backwards' : 'forwards',
        ...(this.from === null ? {} : { from: BigInt(this.from) }),
        ...(this.maxCount === null ? {} : { maxCount: this.maxCount }),
      })
      .toArray();
    expect(actual.map(plain)).toEqual(expected.map(plain));
  }
  toString = (): string =>
    `readStream(${STREAMS[this.stream]}, ${this.backwards ? 'backwards' : 'forwards'}, from=${this.from}, max=${this.maxCount})`;
}

class ReadAllCommand implements Command {
  constructor(
    readonly fromPosition: number,
    readonly filtered: boolean,
  ) {}
  check = (): boolean => true;
  async run(model: StoreModel, real: RealStore): Promise<void> {
    const expected = model.records.filter(
      (r) =>
        r.position >= BigInt(this.fromPosition) &&
        (!this.filtered || FILTER_TYPES.includes(r.encoded.type)),
    );
    const actual = await real.store
      .readAll({
        fromPosition: BigInt(this.fromPosition),
        ...(this.filtered ? { filter: { types: FILTER_TYPES } } : {}),
      })
      .toArray();
    expect(actual.map(plain)).toEqual(expected.map(plain));
  }
  toString = (): string => `readAll(from=${this.fromPosition}${this.filtered ? ', filtered' : ''})`;
}

class AggregateCommand implements Command {
  constructor(
    readonly stream: number,
    readonly upTo: number | null,
  ) {}
  check = (): boolean => true;
  async run(model: StoreModel, real: RealStore): Promise<void> {
    const stream = STREAMS[this.stream]!;
    let records = model.records.filter((r) => r.stream === stream);
    if (this.upTo !== null) records = records.filter((r) => r.version <= BigInt(this.upTo!));
    const result = await real.store.aggregateStream(
      stream,
      sessionSummaryProjection,
      this.upTo === null ? {} : { upTo: BigInt(this.upTo) },
    );
    expect(result.version).toBe(records.at(-1)?.version ?? 0n);
    expect(result.position).toBe(records.at(-1)?.position ?? 0n);
    expect(stateHash(result.state)).toBe(stateHash(foldEvents(sessionSummaryProjection, records)));
  }
  toString = (): string => `aggregate(${STREAMS[this.stream]}, upTo=${this.upTo})`;
}

class DrainCommand implements Command {
  check = (): boolean => true;
  run(model: StoreModel, real: RealStore): Promise<void> {
    return drain(model, real);
  }
  toString = (): string => 'drainSubscriptions()';
}

async function drain(model: StoreModel, real: RealStore): Promise<void> {
  {
    const expected = model.records.slice(model.delivered);
    for (const record of expected) {
      const next = await real.all.next();
      expect(next.done).toBe(false);
      expect(plain(next.value as StoreRecord)).toEqual(plain(record));
      model.delivered += 1;
    }
    expect(real.all.checkpoint).toBe(model.head());
    const filtered = model.records.filter((r) => FILTER_TYPES.includes(r.encoded.type));
    for (const record of filtered.slice(model.deliveredFiltered)) {
      const next = await real.filtered.next();
      expect(next.done).toBe(false);
      expect(plain(next.value as StoreRecord)).toEqual(plain(record));
      model.deliveredFiltered += 1;
    }
    expect(real.filtered.checkpoint).toBeGreaterThanOrEqual(filtered.at(-1)?.position ?? 0n);
    expect(real.filtered.checkpoint).toBeLessThanOrEqual(model.head());
  }
}

/** The rows the inline projections must have written, computed from the model's events. */
class RowsCommand implements Command {
  check = (): boolean => true;
  async run(model: StoreModel, real: RealStore): Promise<void> {
    const owners = new Map<string, string>();
    const byUser = new Map<string, ModelRecord[]>();
    for (const record of model.records) {
      let user: string | undefined;
      if (record.stream.startsWith('user-')) user = record.stream.slice('user-'.length);
      else if (record.stream.startsWith('session-')) {
        const event = record.event;
        if (!owners.has(record.stream) && !isUnknownEvent(event) && event.type === 'system.start') {
          owners.set(record.stream, event.data.user_id);
        }
        user = owners.get(record.stream);
      }
      if (user !== undefined) byUser.set(user, [...(byUser.get(user) ?? []), record]);
    }
    const sessions = new SessionRepository(real.storage.db);
    for (const stream of STREAMS.slice(0, 2)) {
      const records = model.records.filter((r) => r.stream === stream);
      const row = await sessions.get(stream.slice('session-'.length));
      if (records.length === 0) {
        expect(row).toBeUndefined();
        continue;
      }
      const summary = foldEvents(sessionSummaryProjection, records);
      expect(row).toMatchObject({
        stream,
        userId: owners.get(stream) ?? 'default',
        status: summary.status === 'ended' ? 'ended' : 'active',
        totalEvents: records.length,
        totalEnergy: summary.total_energy,
        totalTokens: summary.tokens,
      });
    }
    const users = new UserRepository(real.storage.db);
    for (const userId of USERS) {
      const records = byUser.get(userId) ?? [];
      const row = await users.get(userId);
      if (records.length === 0) {
        expect(row).toBeUndefined();
        continue;
      }
      const progress = foldEvents(userProgressProjection, records);
      expect(row).toMatchObject({
        level: progress.level,
        xp: progress.experience_points,
        totalEnergy: progress.total_energy,
        sessionsCount: progress.total_sessions,
      });
    }
  }
  toString = (): string => 'rows()';
}

class ReopenCommand implements Command {
  check = (): boolean => true;
  async run(model: StoreModel, real: RealStore): Promise<void> {
    // Everything delivered first: the next read then waits for a commit.
    await drain(model, real);
    const pending = real.all.next();
    await real.store.close();
    // Closing the store ends its subscriptions, also one waiting for events.
    expect((await pending).done).toBe(true);
    expect(real.filtered.closed).toBe(true);
    real.storage = await real.reopenStorage();
    real.store = real.createStore(real.storage);
    real.all = real.store.subscribe({ from: model.records[model.delivered - 1]?.position ?? 0n });
    real.filtered = real.store.subscribe({
      from: real.filtered.checkpoint,
      filter: { types: FILTER_TYPES },
    });
  }
  toString = (): string => 'reopen()';
}

const eventSpec: fc.Arbitrary<EventSpec> = fc.record({
  kind: fc.integer({ min: 0, max: KINDS.length - 1 }),
  energy: fc.integer({ min: 0, max: 400 }),
  id: fc.option(fc.integer({ min: 0, max: EVENT_IDS.length - 1 }), { nil: null, freq: 3 }),
  replay: fc.boolean(),
});

/** The commands of the model run. */
export function eventStoreCommands(): fc.Arbitrary<Command>[] {
  const stream = fc.integer({ min: 0, max: STREAMS.length - 1 });
  const mode = fc.constantFrom<ExpectedMode>(
    'exact',
    'stale',
    'no_stream',
    'stream_exists',
    'any',
    'omit',
  );
  const specs = fc.array(eventSpec, { minLength: 0, maxLength: 4 });
  const small = fc.option(fc.integer({ min: 0, max: 8 }), { nil: null });
  return [
    fc.tuple(stream, mode, specs).map(([s, m, e]) => new AppendCommand(s, m, e)),
    fc.tuple(stream, mode, specs).map(([s, m, e]) => new AppendCommand(s, m, e)),
    fc
      .tuple(stream, fc.integer({ min: 1, max: 4 }), fc.nat(3))
      .map(([s, count, bad]) => new InvalidAppendCommand(s, count, bad)),
    fc
      .tuple(stream, stream, mode, specs, specs, fc.boolean())
      .map(([a, b, m, e1, e2, abort]) => new TransactionCommand(a, b, m, e1, e2, abort)),
    fc
      .tuple(stream, fc.boolean(), small, small)
      .map(([s, backwards, from, max]) => new ReadStreamCommand(s, backwards, from, max)),
    fc
      .tuple(fc.integer({ min: 1, max: 20 }), fc.boolean())
      .map(([from, filtered]) => new ReadAllCommand(from, filtered)),
    fc.tuple(stream, small).map(([s, upTo]) => new AggregateCommand(s, upTo)),
    fc.constant(new DrainCommand()),
    fc.constant(new RowsCommand()),
    fc.constant(new ReopenCommand()),
  ];
}

/** Runs the model test: `open` gives a fresh real side, `dispose` cleans up after it. */
export async function runModel(
  open: () => Promise<RealStore>,
  dispose: (real: RealStore) => Promise<void>,
  numRuns: number,
): Promise<void> {
  await fc.assert(
    fc.asyncProperty(
      fc.commands(eventStoreCommands(), { maxCommands: 60, size: 'large' }),
      async (commands) => {
        const real = await open();
        try {
          await fc.asyncModelRun(() => ({ model: new StoreModel(), real }), commands);
        } finally {
          await dispose(real);
        }
      },
    ),
    { numRuns },
  );
}
