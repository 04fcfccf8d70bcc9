import { SnapshotRepository, type SnapshotInfo } from '@wirthforge/storage';

type StorageDb = ConstructorParameters<typeof SnapshotRepository>[0];

/**
 * The snapshot index of a storage: storage's {@link SnapshotRepository} plus the reads
 * across streams that verification, retention and id assignment need.
 */
export class SnapshotIndex extends SnapshotRepository {
  readonly #db: StorageDb;

  constructor(db: StorageDb) {
    super(db);
    this.#db = db;
  }

  /** Every snapshot's index entry, by stream, newest (highest position) first. */
  async all(): Promise<Map<string, SnapshotInfo[]>> {
    const rows = await this.#db
      .selectFrom('snapshots')
      .innerJoin('streams', 'streams.id', 'snapshots.stream_id')
      .select(['snapshots.id', 'streams.name as stream'])
      .execute();
    const streams = [...new Set(rows.map((row) => row.stream))].sort();
    const out = new Map<string, SnapshotInfo[]>();
    for (const stream of streams) out.set(stream, await this.list(stream));
    return out;
  }

  /** The highest snapshot id stored, 0 when there is none. */
  async newestId(): Promise<number> {
    const rows = await this.#db.selectFrom('snapshots').select('id').execute();
    let newest = 0;
    for (const row of rows) newest = Math.max(newest, row.id);
    return newest;
  }
}
