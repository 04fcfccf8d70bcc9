import type { EventEnvelope } from './event-schemas.js';

const UNKNOWN_EVENT_BRAND = Symbol.for('@wirthforge/events/UnknownEvent');

/**
 * An event whose `type` this code does not know, kept intact rather than dropped:
 * a newer producer may send types an older store has not heard of yet. Returned by
 * {@link validateEvent}, {@link parseEvent}, {@link decodeEvent} and
 * {@link UpcasterRegistry.upcast}; accepted by {@link encodeEvent}.
 *
 * Tell it from a known event with {@link isUnknownEvent}.
 */
export interface UnknownEvent {
  /** The unknown type name, the same as `event.type`. */
  readonly type: string;
  /** The event exactly as received or stored: the same object, not a copy. */
  readonly event: EventEnvelope;
  /** The schema version it was stored with, when it was read from storage. */
  readonly schemaVersion: number | undefined;
}

/** Wraps an event of an unknown type. */
export function createUnknownEvent(event: EventEnvelope, schemaVersion?: number): UnknownEvent {
  return {
    [UNKNOWN_EVENT_BRAND]: true,
    type: event.type,
    event,
    schemaVersion,
  } as UnknownEvent;
}

/**
 * Whether `value` is an {@link UnknownEvent} wrapper (made by any copy of this
 * package). Events parsed from JSON can never pass: the brand is a symbol.
 *
 * @example
 * ```ts
 * const event = decodeEvent(record, { sessionId });
 * if (isUnknownEvent(event)) log.info(`kept event of unknown type ${event.type}`);
 * else state = evolve(state, event);
 * ```
 */
export function isUnknownEvent(value: unknown): value is UnknownEvent {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as Record<symbol, unknown>)[UNKNOWN_EVENT_BRAND] === true
  );
}
