import {
  MetadataRepository,
  findArchivedEventIds,
  type RowWrite,
  type SessionRepository,
} from '@wirthforge/storage';
import type { ProjectionSource, UserProgressFold } from './inline-projections.js';
import {
  CHECKPOINT_KEY_PREFIX,
  checkpointKey,
  checkpointWrite,
  withdrawCheckpointWrite,
} from './projection-checkpoint.js';
import type { SessionSummary } from './session-summary-projection.js';

type StorageDb = ConstructorParameters<typeof SessionRepository>[0];

/** Ids asked about in one query, at most (SQLite allows 32 766 parameters). */
const IDS_PER_QUERY = 500;

/** How long the absence of the archive's id table is believed before it is looked for again. */
const ARCHIVED_IDS_RECHECK_MS = 5000;

/**
 * The ids among `some` kept for archived events (`archived_event_ids`, which exists
 * only once an archive has moved something); `missing` remembers when the table was
 * last found absent.
 */
async function archivedIds(
  db: StorageDb,
  some: readonly string[],
  missing: { at: number },
): Promise<string[]> {
  if (Date.now() - missing.at < ARCHIVED_IDS_RECHECK_MS) return [];
  try {
    return await findArchivedEventIds(db, some);
  } catch {
    // No such table: no archive has run on this database.
    missing.at = Date.now();
    return [];
  }
}

/**
 * What the inline projections read from the storage's relational reader: the stored
 * checkpoints (`metadata`) and which client event ids the storage holds (hot rows,
 * sealed ones, and archived ones once an archive has run). `drain` waits for the commits in flight, so a read sees them.
 */
export function projectionRows(
  db: StorageDb,
  drain: () => Promise<void>,
): Required<Pick<ProjectionSource, 'readCheckpoint' | 'storedEventIds'>> {
  const metadata = new MetadataRepository(db);
  const missing = { at: Number.NEGATIVE_INFINITY };
  return {
    async readCheckpoint(stream) {
      await drain();
      return metadata.get(checkpointKey(stream));
    },
    async storedEventIds(ids) {
      const found = new Set<string>();
      for (let i = 0; i < ids.length; i += IDS_PER_QUERY) {
        const some = ids.slice(i, i + IDS_PER_QUERY);
        const [hot, sealed, archived] = await Promise.all([
          db.selectFrom('events').select('event_id').where('event_id', 'in', some).execute(),
          db
            .selectFrom('sealed_event_ids')
            .select('event_id')
            .where('event_id', 'in', some)
            .execute(),
          archivedIds(db, some, missing),
        ]);
        for (const row of hot) if (row.event_id !== null) found.add(row.event_id);
        for (const row of sealed) found.add(row.event_id);
        for (const id of archived) found.add(id);
      }
      return found;
    },
  };
}

/** A session's state as a rebuild folded it. */
export interface RebuiltSession {
  readonly stream: string;
  readonly owner: string | undefined;
  readonly summary: SessionSummary;
  readonly version: bigint;
  readonly position: bigint;
}

/**
 * The checkpoints of a rebuild: one per session and user it folded, and the withdrawal
 * of every other stored checkpoint (of streams no longer there, e.g. purged).
 */
export async function rebuiltCheckpoints(
  db: StorageDb,
  sessions: Iterable<RebuiltSession>,
  users: Iterable<UserProgressFold>,
  withSummary: boolean,
): Promise<RowWrite[]> {
  const writes: RowWrite[] = [];
  const written = new Set<string>();
  for (const session of sessions) {
    if (session.version === 0n) continue;
    written.add(session.stream);
    writes.push(
      checkpointWrite({
        kind: 'session',
        stream: session.stream,
        version: Number(session.version),
        position: Number(session.position),
        owner: session.owner ?? null,
        summary: withSummary ? session.summary : null,
      }),
    );
  }
  for (const fold of users) {
    written.add(fold.stream);
    writes.push(checkpointWrite(fold.checkpoint()));
  }
  const keys = await db.selectFrom('metadata').select('key').execute();
  for (const { key } of keys) {
    if (!key.startsWith(CHECKPOINT_KEY_PREFIX)) continue;
    const stream = key.slice(CHECKPOINT_KEY_PREFIX.length);
    if (!written.has(stream)) writes.push(withdrawCheckpointWrite(stream));
  }
  return writes;
}
