import type { UnknownEvent } from './unknown-event.js';

/**
 * Every reason `@wirthforge/events` refuses something.
 *
 * - `invalid_event`: an event does not match its schema (see {@link EventValidationError}).
 * - `unknown_type`: an event's `type` is not one this code knows; the event is kept.
 * - `future_version`: a stored event was written with a schema version newer than this
 *   code knows (see {@link FutureVersionError}).
 * - `invalid_version`: a schema version that is not a positive integer.
 * - `missing_upcaster`: no upcaster turns an older version into the next one.
 * - `invalid_upcaster`: an upcaster registry was configured inconsistently.
 * - `invalid_session_id`: not a `YYYYMMDDTHHMMSSZ_NNN` session id.
 * - `invalid_stream_name`: not a `session-…`, `user-…` or `system` stream name.
 * - `invalid_timestamp`: not an accepted ISO-8601 timestamp or microsecond count.
 * - `invalid_string`: a string that is not well-formed UTF-16 (a lone surrogate).
 * - `invalid_energy_state`: an energy state does not match its schema.
 * - `encode_failed`: a value the codec cannot store losslessly.
 * - `decode_failed`: a stored record that cannot be read back.
 */
export type EventsErrorCode =
  | 'invalid_event'
  | 'unknown_type'
  | 'future_version'
  | 'invalid_version'
  | 'missing_upcaster'
  | 'invalid_upcaster'
  | 'invalid_session_id'
  | 'invalid_stream_name'
  | 'invalid_timestamp'
  | 'invalid_string'
  | 'invalid_energy_state'
  | 'encode_failed'
  | 'decode_failed';

const EVENTS_ERROR_CODES: ReadonlySet<string> = new Set<EventsErrorCode>([
  'invalid_event',
  'unknown_type',
  'future_version',
  'invalid_version',
  'missing_upcaster',
  'invalid_upcaster',
  'invalid_session_id',
  'invalid_stream_name',
  'invalid_timestamp',
  'invalid_string',
  'invalid_energy_state',
  'encode_failed',
  'decode_failed',
]);

/**
 * Brand shared by every copy of this package loaded in one process, so that
 * {@link isEventsError} recognises errors thrown by another copy.
 */
const EVENTS_ERROR_BRAND = Symbol.for('@wirthforge/events/EventsError');

/** One problem found in an event or energy state, located by a JSON Pointer. */
export interface ValidationIssue {
  /** JSON Pointer (RFC 6901) to the offending value, e.g. `/data/energy`; `''` is the whole input. */
  readonly path: string;
  /** The JSON Schema keyword that failed, or `unknown_type` for an event type this code does not know. */
  readonly keyword: ValidationKeyword;
  /** What is wrong, in words, without the offending value (it may be private text). */
  readonly message: string;
}

/** The JSON Schema keywords a {@link ValidationIssue} can name, plus `unknown_type`. */
export type ValidationKeyword =
  | 'type'
  | 'required'
  | 'additionalProperties'
  | 'const'
  | 'enum'
  | 'minimum'
  | 'maximum'
  | 'exclusiveMinimum'
  | 'exclusiveMaximum'
  | 'multipleOf'
  | 'pattern'
  | 'format'
  | 'minLength'
  | 'maxLength'
  | 'minItems'
  | 'maxItems'
  | 'uniqueItems'
  | 'minProperties'
  | 'maxProperties'
  | 'schema'
  | 'unknown_type';

/** Options shared by every {@link EventsError}. */
export interface EventsErrorOptions {
  /** The underlying error, if any. */
  readonly cause?: unknown;
  /** JSON Pointer to the offending value, when the error is about one value. */
  readonly path?: string;
}

/**
 * Base class of every error this package throws. Check errors with
 * {@link isEventsError}, not `instanceof`: two copies of the package must agree.
 *
 * @example
 * ```ts
 * try {
 *   parseSessionId(id);
 * } catch (error) {
 *   if (isEventsError(error, 'invalid_session_id')) reply(400, error.message);
 *   else throw error;
 * }
 * ```
 */
export class EventsError extends Error {
  override readonly name: string = 'EventsError';
  /** Why the operation was refused. */
  readonly code: EventsErrorCode;
  /** JSON Pointer to the offending value, when there is one. */
  readonly path: string | undefined;
  /** Every error here is about the input itself: repeating the call cannot succeed. */
  readonly retryable: boolean = false;

  constructor(code: EventsErrorCode, message: string, options: EventsErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.path = options.path;
    Object.defineProperty(this, EVENTS_ERROR_BRAND, { value: true });
  }
}

/**
 * Thrown by {@link assertEvent} and {@link parseEvent} when an event does not match its
 * schema. `issues` lists every problem, not only the first.
 */
export class EventValidationError extends EventsError {
  override readonly name: string = 'EventValidationError';
  override readonly code = 'invalid_event' as const;
  /** Every problem found, each with its JSON Pointer. */
  readonly issues: readonly ValidationIssue[];

  constructor(issues: readonly ValidationIssue[], options: EventsErrorOptions = {}) {
    super('invalid_event', `Invalid event: ${summarizeIssues(issues)}`, options);
    this.issues = issues;
  }
}

/** Thrown by {@link assertEnergyState} when an energy state does not match its schema. */
export class EnergyStateValidationError extends EventsError {
  override readonly name: string = 'EnergyStateValidationError';
  override readonly code = 'invalid_energy_state' as const;
  /** Every problem found, each with its JSON Pointer. */
  readonly issues: readonly ValidationIssue[];

  constructor(issues: readonly ValidationIssue[]) {
    super('invalid_energy_state', `Invalid energy state: ${summarizeIssues(issues)}`);
    this.issues = issues;
  }
}

/** Thrown by {@link assertEvent} for an event whose type this code does not know; the event rides along. */
export class UnknownEventTypeError extends EventsError {
  override readonly name: string = 'UnknownEventTypeError';
  override readonly code = 'unknown_type' as const;
  /** The event, intact. */
  readonly event: UnknownEvent;

  constructor(event: UnknownEvent) {
    super('unknown_type', `Unknown event type "${event.type}"`, { path: '/type' });
    this.event = event;
  }
}

/**
 * Thrown when a stored event's schema version is newer than the newest this code
 * knows: reading it would silently misread fields, so it is refused.
 */
export class FutureVersionError extends EventsError {
  override readonly name: string = 'FutureVersionError';
  override readonly code = 'future_version' as const;
  /** The event type. */
  readonly type: string;
  /** The version the event was written with. */
  readonly version: number;
  /** The newest version of that type this code knows. */
  readonly knownVersion: number;

  constructor(type: string, version: number, knownVersion: number) {
    super(
      'future_version',
      `Event type "${type}" has schema version ${version}, newer than the newest this code knows (${knownVersion}); upgrade @wirthforge/events to read it`,
    );
    this.type = type;
    this.version = version;
    this.knownVersion = knownVersion;
  }
}

/** The error class each code is thrown with, for narrowing in {@link isEventsError}. */
export interface EventsErrorByCode {
  invalid_event: EventValidationError;
  unknown_type: UnknownEventTypeError;
  future_version: FutureVersionError;
  invalid_energy_state: EnergyStateValidationError;
}

/** The error type {@link isEventsError} narrows to for a given code. */
export type EventsErrorOf<C extends EventsErrorCode> = C extends keyof EventsErrorByCode
  ? EventsErrorByCode[C]
  : EventsError & { readonly code: C };

/**
 * Whether `value` is an error thrown by this package (any copy of it), optionally
 * with the given code. Checks a brand and the code, not `instanceof`.
 *
 * @example
 * ```ts
 * if (isEventsError(error, 'future_version')) console.log(error.type, error.version, error.knownVersion);
 * ```
 */
export function isEventsError(value: unknown): value is EventsError;
export function isEventsError<C extends EventsErrorCode>(
  value: unknown,
  code: C,
): value is EventsErrorOf<C>;
export function isEventsError(value: unknown, code?: EventsErrorCode): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if ((value as Record<symbol, unknown>)[EVENTS_ERROR_BRAND] !== true) return false;
  const candidate = value as { code?: unknown };
  if (typeof candidate.code !== 'string' || !EVENTS_ERROR_CODES.has(candidate.code)) return false;
  return code === undefined || candidate.code === code;
}

const MAX_SUMMARIZED_ISSUES = 5;

function summarizeIssues(issues: readonly ValidationIssue[]): string {
  const shown = issues
    .slice(0, MAX_SUMMARIZED_ISSUES)
    .map((issue) => `${issue.path === '' ? '(root)' : issue.path} ${issue.message}`);
  const more = issues.length - shown.length;
  return more > 0 ? `${shown.join('; ')}; and ${more} more` : shown.join('; ');
}
