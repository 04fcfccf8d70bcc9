import type { ProjectionEvent, RecordedEvent } from './projection.js';

/** Where {@link recordEvents} starts numbering. */
export interface RecordEventsOptions {
  /** Position of the first event. Default 1n. */
  readonly position?: bigint;
  /** Stream version of the first event. Default 1n. */
  readonly version?: bigint;
  /** Stream name given to every record. */
  readonly stream?: string;
}

/**
 * Gives bare events consecutive positions and versions, as one stream of an otherwise
 * empty store would: records to fold where positions matter (chunked folds, resumed
 * folds), to build test fixtures, or to replay a simulated session.
 *
 * @example
 * ```ts
 * const records = recordEvents(events, { stream: sessionStream(sessionId) });
 * const half = foldEvents(energyProjection, records.slice(0, 100));
 * const all = foldEvents(energyProjection, records.slice(100), half);
 * ```
 */
export function recordEvents<E extends ProjectionEvent>(
  events: Iterable<E>,
  options: RecordEventsOptions = {},
): RecordedEvent<E>[] {
  let position = options.position ?? 1n;
  let version = options.version ?? 1n;
  const records: RecordedEvent<E>[] = [];
  for (const event of events) {
    records.push(
      options.stream === undefined
        ? { event, position, version }
        : { event, position, version, stream: options.stream },
    );
    position += 1n;
    version += 1n;
  }
  return records;
}
