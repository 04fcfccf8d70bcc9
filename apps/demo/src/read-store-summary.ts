import { SessionRepository, type EventStorage, type SessionRecord } from '@wirthforge/storage';

/** The Kysely instance the session repository reads through. */
type StoreDb = ConstructorParameters<typeof SessionRepository>[0];

/** What a store holds, read back from the database. */
export interface StoreSummary {
  /** Sessions, newest first (at most `sessionLimit`). */
  readonly sessions: readonly SessionRecord[];
  /** Event count per type, most frequent first. */
  readonly eventsByType: Readonly<Record<string, number>>;
  readonly totalEvents: number;
  /** Global positions of the first and last event (0 and 0 when empty). */
  readonly positions: { readonly first: number; readonly last: number };
  /** The events of one stream (the session just recorded). */
  readonly stream: {
    readonly name: string;
    readonly events: number;
    readonly positions: { readonly first: number; readonly last: number };
  };
}

/**
 * Reads the summary back: sessions from the `sessions` table, counts and positions by
 * reading every event through the storage (`readAll`), so the figures are what the
 * database holds, not what the writer meant to write.
 */
export async function readStoreSummary(
  storage: EventStorage,
  db: StoreDb,
  streamName: string,
  sessionLimit = 20,
): Promise<StoreSummary> {
  const byType = new Map<string, number>();
  let total = 0;
  let first = 0;
  let last = 0;
  let streamEvents = 0;
  let streamFirst = 0;
  let streamLast = 0;
  for await (const event of storage.readAll()) {
    const position = Number(event.position);
    if (total === 0) first = position;
    last = position;
    total++;
    byType.set(event.type, (byType.get(event.type) ?? 0) + 1);
    if (event.stream === streamName) {
      if (streamEvents === 0) streamFirst = position;
      streamLast = position;
      streamEvents++;
    }
  }
  const sessions = await new SessionRepository(db).list({ limit: sessionLimit });
  const eventsByType = Object.fromEntries(
    [...byType.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])),
  );
  return {
    sessions,
    eventsByType,
    totalEvents: total,
    positions: { first, last },
    stream: {
      name: streamName,
      events: streamEvents,
      positions: { first: streamFirst, last: streamLast },
    },
  };
}
