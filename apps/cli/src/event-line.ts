/** Stored events decoded for printing and export. */
import { decodeEvent, isUnknownEvent, tryParseStreamName } from '@wirthforge/events';
import type { ProjectionEvent } from '@wirthforge/eventstore';
import type { StoredEventRecord } from '@wirthforge/storage';

/** An event as `events` prints it: where it is, and the event as its producer sent it. */
export interface EventLine {
  readonly position: bigint;
  readonly stream: string;
  readonly version: bigint;
  readonly event: Record<string, unknown>;
  /** The decoded event, for folds (an unknown type stays wrapped here). */
  readonly decoded: ProjectionEvent;
}

/** Decodes a stored record into an {@link EventLine}. */
export function toEventLine(stored: StoredEventRecord): EventLine {
  const parsed = tryParseStreamName(stored.stream);
  const decoded = decodeEvent(stored, {
    ...(parsed?.kind === 'session' ? { sessionId: parsed.sessionId } : {}),
  });
  const event = (isUnknownEvent(decoded) ? decoded.event : decoded) as unknown as Record<
    string,
    unknown
  >;
  return {
    position: stored.position,
    stream: stored.stream,
    version: stored.version,
    event,
    decoded,
  };
}

/** A line as JSON shows it: where the event is, and the event (without the decoded copy). */
export function plainLine(line: EventLine): Omit<EventLine, 'decoded'> {
  return { position: line.position, stream: line.stream, version: line.version, event: line.event };
}
