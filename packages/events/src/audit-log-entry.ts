/**
 * Converts one entry of an audit log written in the spec's audit-trail format into
 * an event. That format numbers events (`event_id: 1`) where the event schema says
 * `event_id` is a string, so an integer `event_id` becomes its decimal string
 * (`"1"`). Nothing else changes: validate the result with {@link validateEvent}.
 * Returns the entry itself when there is nothing to convert, a shallow copy otherwise.
 *
 * @example
 * ```ts
 * import { parse } from 'yaml';
 * const { events } = parse(auditLog) as { events: unknown[] };
 * const results = events.map((entry) => validateEvent(fromAuditLogEntry(entry)));
 * ```
 */
export function fromAuditLogEntry(entry: unknown): unknown {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return entry;
  const eventId = (entry as { event_id?: unknown }).event_id;
  if (typeof eventId !== 'number' || !Number.isSafeInteger(eventId)) return entry;
  return { ...entry, event_id: String(eventId) };
}
