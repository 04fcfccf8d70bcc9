/**
 * Argument checks shared by every dialect, so all of them reject the same inputs with the
 * same `invalid_argument` messages (what, and where in the batch).
 */
import { invalidArgument } from './errors.js';
import type {
  AppendBatchOptions,
  ExpectedVersion,
  ReadAllOptions,
  ReadStreamOptions,
  StreamAppend,
} from './event-storage.js';
import { validateRowWrite } from './row-write.js';

/**
 * Largest payload accepted, in bytes (1 MiB). A 60 Hz telemetry event is about a hundred
 * bytes; anything near this limit belongs in a snapshot, not in the log.
 */
export const MAX_PAYLOAD_BYTES = 1024 * 1024;
/** Longest stream name, in UTF-16 code units. */
export const MAX_STREAM_NAME_LENGTH = 256;
/** Longest event type name, in UTF-16 code units. */
export const MAX_TYPE_NAME_LENGTH = 128;
/** Longest client event id, in UTF-16 code units. */
export const MAX_EVENT_ID_LENGTH = 128;
/** Most events in one batch (all streams together). */
export const MAX_EVENTS_PER_BATCH = 100_000;
/** Most payload bytes in one batch (all events together): 64 MiB. */
export const MAX_BATCH_PAYLOAD_BYTES = 64 * 1024 * 1024;
/** Highest schema version of an event type. */
export const MAX_SCHEMA_VERSION = 0x7fffffff;

const STREAM_KINDS: readonly string[] = ['session', 'user', 'system'];

/** Throws `invalid_argument` unless `stream` is a usable stream name. */
export function validateStreamName(stream: unknown, where: string): asserts stream is string {
  if (typeof stream !== 'string' || stream.length === 0) {
    throw invalidArgument(where, 'expected a non-empty stream name');
  }
  if (stream.length > MAX_STREAM_NAME_LENGTH) {
    throw invalidArgument(where, `stream name longer than ${MAX_STREAM_NAME_LENGTH} characters`);
  }
}

/** Throws `invalid_argument` unless `expected` is an {@link ExpectedVersion}. */
export function validateExpectedVersion(
  expected: unknown,
  where: string,
): asserts expected is ExpectedVersion {
  if (typeof expected === 'bigint') {
    if (expected < 0n) throw invalidArgument(where, `negative version ${expected}`);
    return;
  }
  if (expected === 'no_stream' || expected === 'stream_exists' || expected === 'any') return;
  throw invalidArgument(
    where,
    `expected a bigint version, 'no_stream', 'stream_exists' or 'any', got ${describe(expected)}`,
  );
}

/** Whether a stream at version `actual` satisfies `expected`. */
export function expectedVersionMatches(expected: ExpectedVersion, actual: bigint): boolean {
  switch (expected) {
    case 'any':
      return true;
    case 'no_stream':
      return actual === 0n;
    case 'stream_exists':
      return actual > 0n;
    default:
      return expected === actual;
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value === null) return 'null';
  if (typeof value === 'object') return Array.isArray(value) ? 'an array' : 'an object';
  if (typeof value === 'number' || typeof value === 'boolean' || value === undefined) {
    return `${typeof value} ${String(value)}`;
  }
  return `a ${typeof value}`;
}

function isSafeNonNegativeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/**
 * Checks a whole batch before anything is sent to the database. Throws `invalid_argument`
 * at the first problem, e.g. `appends[1].events[4].payload: 2000000 bytes, more than the
 * 1048576 allowed`.
 *
 * @example
 * ```ts
 * validateAppendBatch(appends, options); // throws StorageError('invalid_argument', ...)
 * ```
 */
export function validateAppendBatch(
  appends: unknown,
  options?: AppendBatchOptions,
): asserts appends is readonly StreamAppend[] {
  if (!Array.isArray(appends)) throw invalidArgument('appends', 'expected an array');
  const seen = new Set<string>();
  let total = 0;
  let bytes = 0;
  appends.forEach((append: unknown, a) => {
    const at = `appends[${a}]`;
    if (typeof append !== 'object' || append === null) {
      throw invalidArgument(at, 'expected a stream append object');
    }
    const { stream, expectedVersion, events, kind } = append as Partial<StreamAppend>;
    validateStreamName(stream, `${at}.stream`);
    if (seen.has(stream)) {
      throw invalidArgument(
        `${at}.stream`,
        `stream "${stream}" appears more than once in the batch`,
      );
    }
    seen.add(stream);
    validateExpectedVersion(expectedVersion, `${at}.expectedVersion`);
    if (kind !== undefined && !STREAM_KINDS.includes(kind)) {
      throw invalidArgument(
        `${at}.kind`,
        `expected session, user or system, got ${describe(kind)}`,
      );
    }
    if (!Array.isArray(events)) throw invalidArgument(`${at}.events`, 'expected an array');
    total += events.length;
    if (total > MAX_EVENTS_PER_BATCH) {
      throw invalidArgument(at, `batch holds more than ${MAX_EVENTS_PER_BATCH} events`);
    }
    events.forEach((event: unknown, e) => {
      bytes += validateNewEvent(event, `${at}.events[${e}]`);
      if (bytes > MAX_BATCH_PAYLOAD_BYTES) {
        throw invalidArgument(
          `${at}.events[${e}]`,
          `batch payloads exceed ${MAX_BATCH_PAYLOAD_BYTES} bytes; split the batch`,
        );
      }
    });
  });
  const writes = options?.writes;
  if (writes !== undefined) {
    if (!Array.isArray(writes)) throw invalidArgument('options.writes', 'expected an array');
    writes.forEach((write: unknown, w) => validateRowWrite(write, `writes[${w}]`));
  }
}

/** Checks one event; returns its payload size. */
function validateNewEvent(event: unknown, at: string): number {
  if (typeof event !== 'object' || event === null) throw invalidArgument(at, 'expected an event');
  const e = event as Record<string, unknown>;
  const type = e['type'];
  if (typeof type !== 'string' || type.length === 0) {
    throw invalidArgument(`${at}.type`, 'expected a non-empty event type');
  }
  if (type.length > MAX_TYPE_NAME_LENGTH) {
    throw invalidArgument(`${at}.type`, `type longer than ${MAX_TYPE_NAME_LENGTH} characters`);
  }
  const schemaVersion = e['schemaVersion'];
  if (
    !isSafeNonNegativeInteger(schemaVersion) ||
    schemaVersion < 1 ||
    schemaVersion > MAX_SCHEMA_VERSION
  ) {
    throw invalidArgument(
      `${at}.schemaVersion`,
      `expected an integer from 1 to ${MAX_SCHEMA_VERSION}, got ${describe(schemaVersion)}`,
    );
  }
  const timestampUs = e['timestampUs'];
  if (!isSafeNonNegativeInteger(timestampUs)) {
    throw invalidArgument(
      `${at}.timestampUs`,
      `expected non-negative integer microseconds, got ${describe(timestampUs)}`,
    );
  }
  const frameId = e['frameId'];
  if (frameId !== undefined && !isSafeNonNegativeInteger(frameId)) {
    throw invalidArgument(
      `${at}.frameId`,
      `expected a non-negative integer or undefined, got ${describe(frameId)}`,
    );
  }
  const eventId = e['eventId'];
  if (eventId !== undefined) {
    if (typeof eventId !== 'string' || eventId.length === 0) {
      throw invalidArgument(`${at}.eventId`, 'expected a non-empty string or undefined');
    }
    if (eventId.length > MAX_EVENT_ID_LENGTH) {
      throw invalidArgument(`${at}.eventId`, `longer than ${MAX_EVENT_ID_LENGTH} characters`);
    }
  }
  const payload = e['payload'];
  if (!(payload instanceof Uint8Array)) {
    throw invalidArgument(`${at}.payload`, `expected a Uint8Array, got ${describe(payload)}`);
  }
  if (payload.byteLength > MAX_PAYLOAD_BYTES) {
    throw invalidArgument(
      `${at}.payload`,
      `${payload.byteLength} bytes, more than the ${MAX_PAYLOAD_BYTES} allowed`,
    );
  }
  return payload.byteLength;
}

function validateOptionalVersion(value: unknown, where: string): void {
  if (value === undefined) return;
  if (typeof value !== 'bigint' || value < 0n) {
    throw invalidArgument(where, `expected a non-negative bigint, got ${describe(value)}`);
  }
}

function validateMaxCount(value: unknown, where: string): void {
  if (value === undefined) return;
  if (!isSafeNonNegativeInteger(value)) {
    throw invalidArgument(where, `expected a non-negative integer, got ${describe(value)}`);
  }
}

/** Checks {@link ReadStreamOptions}; throws `invalid_argument` naming the option. */
export function validateReadStreamOptions(stream: unknown, options: unknown): void {
  validateStreamName(stream, 'stream');
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null) {
    throw invalidArgument('options', 'expected an object');
  }
  const o = options as Record<string, unknown>;
  validateOptionalVersion(o['from'], 'options.from');
  validateOptionalVersion(o['to'], 'options.to');
  validateMaxCount(o['maxCount'], 'options.maxCount');
  const direction = o['direction'];
  if (direction !== undefined && direction !== 'forwards' && direction !== 'backwards') {
    throw invalidArgument(
      'options.direction',
      `expected 'forwards' or 'backwards', got ${describe(direction)}`,
    );
  }
}

/** Checks {@link ReadAllOptions}; throws `invalid_argument` naming the option. */
export function validateReadAllOptions(options: unknown): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null) {
    throw invalidArgument('options', 'expected an object');
  }
  const o = options as Record<string, unknown>;
  validateOptionalVersion(o['fromPosition'], 'options.fromPosition');
  validateOptionalVersion(o['toPosition'], 'options.toPosition');
  validateMaxCount(o['maxCount'], 'options.maxCount');
  for (const key of ['types', 'streams'] as const) {
    const list = o[key];
    if (list === undefined) continue;
    if (!Array.isArray(list)) throw invalidArgument(`options.${key}`, 'expected an array');
    list.forEach((item: unknown, i) => {
      if (typeof item !== 'string' || item.length === 0) {
        throw invalidArgument(`options.${key}[${i}]`, 'expected a non-empty string');
      }
    });
  }
}

/** A {@link ReadStreamOptions} with defaults applied, versions as numbers. */
export interface ResolvedReadStreamOptions {
  readonly backwards: boolean;
  /** Inclusive lower version bound. */
  readonly low: number;
  /** Inclusive upper version bound (`Infinity` when open). */
  readonly high: number;
  readonly maxCount: number;
}

/**
 * Applies the defaults of {@link ReadStreamOptions}: forwards reads `from`..`to`,
 * backwards reads `from` down to `to`.
 */
export function resolveReadStreamOptions(options?: ReadStreamOptions): ResolvedReadStreamOptions {
  const backwards = options?.direction === 'backwards';
  const maxCount = options?.maxCount ?? Number.POSITIVE_INFINITY;
  const from = options?.from;
  const to = options?.to;
  if (backwards) {
    return {
      backwards,
      high: from === undefined ? Number.POSITIVE_INFINITY : Number(from),
      low: to === undefined ? 1 : Math.max(1, Number(to)),
      maxCount,
    };
  }
  return {
    backwards,
    low: from === undefined ? 1 : Math.max(1, Number(from)),
    high: to === undefined ? Number.POSITIVE_INFINITY : Number(to),
    maxCount,
  };
}

/** A {@link ReadAllOptions} with defaults applied, positions as numbers. */
export interface ResolvedReadAllOptions {
  readonly low: number;
  /** Inclusive upper bound, `Infinity` when open. */
  readonly high: number;
  readonly maxCount: number;
  readonly types: readonly string[] | undefined;
  readonly streams: readonly string[] | undefined;
}

/** Applies the defaults of {@link ReadAllOptions}. */
export function resolveReadAllOptions(options?: ReadAllOptions): ResolvedReadAllOptions {
  return {
    low: options?.fromPosition === undefined ? 1 : Math.max(1, Number(options.fromPosition)),
    high: options?.toPosition === undefined ? Number.POSITIVE_INFINITY : Number(options.toPosition),
    maxCount: options?.maxCount ?? Number.POSITIVE_INFINITY,
    types: options?.types,
    streams: options?.streams,
  };
}
