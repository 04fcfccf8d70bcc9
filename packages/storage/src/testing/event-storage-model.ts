/**
 * An in-memory model of the {@link EventStorage} contract's append semantics, and the
 * fast-check commands that compare a real storage against it step by step.
 */
import fc from 'fast-check';
import { expect } from 'vitest';

import { isStorageError } from '../errors.js';
import type {
  EventStorage,
  ExpectedVersion,
  NewEventRecord,
  StoredEventRecord,
  StreamAppend,
} from '../event-storage.js';
import { expectedVersionMatches } from '../validate-append-batch.js';

/** The outcome the model predicts for one stream append. */
export type ModelOutcome =
  | {
      readonly ok: true;
      readonly positions: readonly bigint[];
      readonly nextExpectedVersion: bigint;
      readonly written: readonly StoredEventRecord[];
    }
  | { readonly ok: false; readonly code: 'concurrency' | 'idempotency_conflict' };

function sameContent(stored: StoredEventRecord, stream: string, event: NewEventRecord): boolean {
  return (
    stored.stream === stream &&
    stored.type === event.type &&
    stored.schemaVersion === event.schemaVersion &&
    stored.timestampUs === event.timestampUs &&
    stored.frameId === (event.frameId ?? null) &&
    bytesEqual(stored.payload, event.payload)
  );
}

/** Byte equality of two byte arrays. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The contract's semantics in a few lines: positions and versions from 1 without gaps,
 * expected versions, and event-id idempotency (checked event by event, before the
 * version check, as the writer does).
 */
export class EventStorageModel {
  readonly events: StoredEventRecord[] = [];
  private readonly versions = new Map<string, bigint>();
  private readonly byEventId = new Map<string, StoredEventRecord>();
  /** The last append sent, for commands that retry it. */
  lastAppend: StreamAppend | undefined;

  /** The stream's version (0n when it has no events). */
  version(stream: string): bigint {
    return this.versions.get(stream) ?? 0n;
  }

  /** The highest position (0n when empty). */
  head(): bigint {
    return BigInt(this.events.length);
  }

  /** The stored event with this id, if any. */
  eventById(eventId: string): StoredEventRecord | undefined {
    return this.byEventId.get(eventId);
  }

  /** Predicts one append without applying it. */
  predict(append: StreamAppend): ModelOutcome {
    const version = this.version(append.stream);
    const head = this.head();
    const batchIds = new Map<string, StoredEventRecord>();
    const written: StoredEventRecord[] = [];
    const positions: bigint[] = [];
    let allRepeats = append.events.length > 0;
    for (const event of append.events) {
      if (event.eventId !== undefined) {
        const prior = this.byEventId.get(event.eventId) ?? batchIds.get(event.eventId);
        if (prior !== undefined) {
          if (!sameContent(prior, append.stream, event)) {
            return { ok: false, code: 'idempotency_conflict' };
          }
          positions.push(prior.position);
          continue;
        }
      }
      allRepeats = false;
      const record: StoredEventRecord = {
        position: head + BigInt(written.length) + 1n,
        stream: append.stream,
        version: version + BigInt(written.length) + 1n,
        type: event.type,
        schemaVersion: event.schemaVersion,
        timestampUs: event.timestampUs,
        frameId: event.frameId ?? null,
        eventId: event.eventId ?? null,
        payload: event.payload,
      };
      if (event.eventId !== undefined) batchIds.set(event.eventId, record);
      written.push(record);
      positions.push(record.position);
    }
    if (!allRepeats && !expectedVersionMatches(append.expectedVersion, version)) {
      return { ok: false, code: 'concurrency' };
    }
    return {
      ok: true,
      positions,
      nextExpectedVersion: version + BigInt(written.length),
      written,
    };
  }

  /** Applies a successful prediction. */
  apply(outcome: ModelOutcome): void {
    if (!outcome.ok) return;
    for (const record of outcome.written) {
      this.events.push(record);
      this.versions.set(record.stream, record.version);
      if (record.eventId !== null) this.byEventId.set(record.eventId, record);
    }
  }
}

/** The real side of a model run: the storage can be replaced by a reopen. */
export interface RealStorage {
  storage: EventStorage;
  readonly reopen?: (() => Promise<EventStorage>) | undefined;
}

type ModelCommand = fc.AsyncCommand<EventStorageModel, RealStorage>;

const STREAMS = ['model-a', 'session-model-b', 'user-model-c'] as const;
const TYPES = ['energy.update', 'user.prompt', 'model.output'] as const;
const EVENT_IDS = [
  'id-1',
  'id-2',
  'id-3',
  'id-4',
  'id-5',
  'id-6',
  'id-7',
  'id-8',
  'id-9',
  'id-10',
] as const;

type ExpectedMode = 'exact' | 'stale' | 'no_stream' | 'stream_exists' | 'any';

interface EventSpec {
  readonly type: number;
  readonly byte: number;
  readonly frameId: number | null;
  /** Index into EVENT_IDS, or null for no id. */
  readonly id: number | null;
  /** When the id is already stored, resend the stored content (a retry) instead of this one. */
  readonly replay: boolean;
}

function toArray<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  return (async () => {
    const out: T[] = [];
    for await (const item of iterable) out.push(item);
    return out;
  })();
}

/** A record with its payload as plain numbers, for structural comparison. */
export function plainRecord(record: StoredEventRecord): Record<string, unknown> {
  expect(record.payload).toBeInstanceOf(Uint8Array);
  return { ...record, payload: Array.from(record.payload) };
}

class AppendCommand implements ModelCommand {
  constructor(
    private readonly stream: number,
    private readonly mode: ExpectedMode,
    private readonly specs: readonly EventSpec[],
    private readonly timestamp: number,
  ) {}

  check(): true {
    return true;
  }

  private build(model: EventStorageModel): StreamAppend {
    const stream = STREAMS[this.stream]!;
    const version = model.version(stream);
    const expectedVersion: ExpectedVersion =
      this.mode === 'exact' ? version : this.mode === 'stale' ? version + 1n : this.mode;
    const events = this.specs.map((spec, i): NewEventRecord => {
      const eventId = spec.id === null ? undefined : EVENT_IDS[spec.id]!;
      const stored = eventId === undefined ? undefined : model.eventById(eventId);
      if (spec.replay && stored !== undefined) {
        return {
          type: stored.type,
          schemaVersion: stored.schemaVersion,
          timestampUs: stored.timestampUs,
          frameId: stored.frameId ?? undefined,
          eventId: stored.eventId ?? undefined,
          payload: stored.payload,
        };
      }
      return {
        type: TYPES[spec.type]!,
        schemaVersion: 1 + spec.type,
        timestampUs: this.timestamp + i,
        frameId: spec.frameId ?? undefined,
        eventId,
        payload: Uint8Array.of(spec.byte, i, this.stream),
      };
    });
    return { stream, expectedVersion, events };
  }

  async run(model: EventStorageModel, real: RealStorage): Promise<void> {
    await runAppend(model, real, this.build(model));
  }

  toString(): string {
    const events = this.specs
      .map(
        (s) =>
          `${TYPES[s.type]}${s.id === null ? '' : `#${EVENT_IDS[s.id]}${s.replay ? '*' : ''}`}`,
      )
      .join(',');
    return `append(${STREAMS[this.stream]}, ${this.mode}, [${events}])`;
  }
}

/** Sends the last append again, unchanged: a client retrying after a lost acknowledgement. */
class RetryLastCommand implements ModelCommand {
  check(model: Readonly<EventStorageModel>): boolean {
    return model.lastAppend !== undefined;
  }

  async run(model: EventStorageModel, real: RealStorage): Promise<void> {
    await runAppend(model, real, model.lastAppend!);
  }

  toString(): string {
    return 'retryLast()';
  }
}

async function runAppend(
  model: EventStorageModel,
  real: RealStorage,
  append: StreamAppend,
): Promise<void> {
  model.lastAppend = append;
  const predicted = model.predict(append);
  let outcome: unknown;
  try {
    const result = await real.storage.appendBatch([append]);
    outcome = result;
    expect(predicted.ok, `append succeeded but the model predicted a failure`).toBe(true);
    if (predicted.ok) {
      expect(result.streams).toHaveLength(1);
      expect(result.streams[0]!.stream).toBe(append.stream);
      expect(result.streams[0]!.positions).toEqual(predicted.positions);
      expect(result.streams[0]!.nextExpectedVersion).toBe(predicted.nextExpectedVersion);
      model.apply(predicted);
      expect(result.lastPosition).toBe(model.head());
    }
  } catch (error) {
    if (outcome !== undefined) throw error;
    if (!isStorageError(error)) throw error;
    expect(predicted.ok, `append failed (${error.message}) but the model predicted success`).toBe(
      false,
    );
    if (!predicted.ok) expect(error.code).toBe(predicted.code);
  }
}

class ReadStreamCommand implements ModelCommand {
  constructor(
    private readonly stream: number,
    private readonly backwards: boolean,
    private readonly from: number | null,
    private readonly to: number | null,
    private readonly maxCount: number | null,
  ) {}

  check(): true {
    return true;
  }

  async run(model: EventStorageModel, real: RealStorage): Promise<void> {
    const stream = STREAMS[this.stream]!;
    let expected = model.events.filter((e) => e.stream === stream);
    if (this.backwards) {
      expected = expected.reverse();
      if (this.from !== null) expected = expected.filter((e) => e.version <= BigInt(this.from!));
      if (this.to !== null) expected = expected.filter((e) => e.version >= BigInt(this.to!));
    } else {
      if (this.from !== null) expected = expected.filter((e) => e.version >= BigInt(this.from!));
      if (this.to !== null) expected = expected.filter((e) => e.version <= BigInt(this.to!));
    }
    if (this.maxCount !== null) expected = expected.slice(0, this.maxCount);
    const actual = await toArray(
      real.storage.readStream(stream, {
        direction: this.backwards ? 'backwards' : 'forwards',
        ...(this.from === null ? {} : { from: BigInt(this.from) }),
        ...(this.to === null ? {} : { to: BigInt(this.to) }),
        ...(this.maxCount === null ? {} : { maxCount: this.maxCount }),
      }),
    );
    expect(actual.map(plainRecord)).toEqual(expected.map(plainRecord));
  }

  toString(): string {
    return `readStream(${STREAMS[this.stream]}, ${this.backwards ? 'backwards' : 'forwards'}, from=${this.from}, to=${this.to}, max=${this.maxCount})`;
  }
}

class ReadAllCommand implements ModelCommand {
  constructor(
    private readonly fromPosition: number | null,
    private readonly types: readonly number[] | null,
    private readonly maxCount: number | null,
  ) {}

  check(): true {
    return true;
  }

  async run(model: EventStorageModel, real: RealStorage): Promise<void> {
    const types: string[] | null = this.types === null ? null : this.types.map((t) => TYPES[t]!);
    let expected = model.events;
    if (this.fromPosition !== null) {
      expected = expected.filter((e) => e.position >= BigInt(this.fromPosition!));
    }
    if (types !== null) expected = expected.filter((e) => types.includes(e.type));
    if (this.maxCount !== null) expected = expected.slice(0, this.maxCount);
    const actual = await toArray(
      real.storage.readAll({
        ...(this.fromPosition === null ? {} : { fromPosition: BigInt(this.fromPosition) }),
        ...(types === null ? {} : { types }),
        ...(this.maxCount === null ? {} : { maxCount: this.maxCount }),
      }),
    );
    expect(actual.map(plainRecord)).toEqual(expected.map(plainRecord));
  }

  toString(): string {
    return `readAll(from=${this.fromPosition}, types=${this.types?.join('|') ?? '*'}, max=${this.maxCount})`;
  }
}

class VersionsCommand implements ModelCommand {
  check(): true {
    return true;
  }

  async run(model: EventStorageModel, real: RealStorage): Promise<void> {
    expect(await real.storage.headPosition()).toBe(model.head());
    for (const stream of STREAMS) {
      expect(await real.storage.streamVersion(stream)).toBe(model.version(stream));
    }
  }

  toString(): string {
    return 'versions()';
  }
}

class ReopenCommand implements ModelCommand {
  check(): true {
    return true;
  }

  async run(_model: EventStorageModel, real: RealStorage): Promise<void> {
    if (real.reopen === undefined) throw new Error('the factory gave no reopen()');
    await real.storage.close();
    real.storage = await real.reopen();
  }

  toString(): string {
    return 'reopen()';
  }
}

const eventSpec: fc.Arbitrary<EventSpec> = fc.record({
  type: fc.integer({ min: 0, max: TYPES.length - 1 }),
  byte: fc.integer({ min: 0, max: 255 }),
  frameId: fc.option(fc.integer({ min: 0, max: 1_000_000 }), { nil: null }),
  id: fc.option(fc.integer({ min: 0, max: EVENT_IDS.length - 1 }), { nil: null, freq: 4 }),
  replay: fc.boolean(),
});

/**
 * The fast-check command arbitraries of the model run: appends (every expected-version
 * mode, fresh and reused event ids), reads of every shape, version checks and, when
 * `withReopen`, close-and-reopen.
 */
export function eventStorageCommands(withReopen: boolean): fc.Arbitrary<ModelCommand>[] {
  const stream = fc.integer({ min: 0, max: STREAMS.length - 1 });
  const small = fc.option(fc.integer({ min: 0, max: 12 }), { nil: null });
  const commands: fc.Arbitrary<ModelCommand>[] = [
    fc
      .tuple(
        stream,
        fc.constantFrom<ExpectedMode>('exact', 'stale', 'no_stream', 'stream_exists', 'any'),
        fc.array(eventSpec, { minLength: 0, maxLength: 5 }),
        fc.integer({ min: 0, max: 2_000_000_000 }),
      )
      .map(([s, mode, specs, timestamp]) => new AppendCommand(s, mode, specs, timestamp)),
    fc
      .tuple(stream, fc.boolean(), small, small, small)
      .map(([s, backwards, from, to, max]) => new ReadStreamCommand(s, backwards, from, to, max)),
    fc
      .tuple(
        fc.option(fc.integer({ min: 0, max: 30 }), { nil: null }),
        fc.option(fc.uniqueArray(fc.integer({ min: 0, max: TYPES.length - 1 }), { maxLength: 2 }), {
          nil: null,
        }),
        small,
      )
      .map(([from, types, max]) => new ReadAllCommand(from, types, max)),
    fc.constant(new VersionsCommand()),
    // Twice: a retried, already-acknowledged append is the case idempotency exists for.
    fc.constant(new RetryLastCommand()),
    fc.constant(new RetryLastCommand()),
  ];
  if (withReopen) commands.push(fc.constant(new ReopenCommand()));
  return commands;
}
