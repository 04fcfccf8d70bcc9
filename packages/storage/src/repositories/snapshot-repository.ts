import type { Kysely } from 'kysely';

import type { Database, SnapshotKind } from '../database.js';

/** A snapshot's index entry (without its bytes). */
export interface SnapshotInfo {
  readonly id: number;
  readonly stream: string;
  readonly kind: SnapshotKind;
  readonly baseSnapshotId: number | null;
  readonly streamVersion: bigint;
  readonly position: bigint;
  readonly schemaVersion: number;
  readonly createdUs: number;
  readonly sizeBytes: number;
  readonly checksum: number;
}

/** Filters of {@link SnapshotRepository.latest}. */
export interface LatestSnapshotOptions {
  readonly kind?: SnapshotKind;
  /** Only snapshots whose state includes no event after this position. */
  readonly atOrBeforePosition?: bigint;
}

/**
 * Reads the snapshot index and snapshot bytes. Snapshots are stored and pruned with
 * `snapshot.insert` / `snapshot.delete` row writes.
 *
 * @example
 * ```ts
 * const snapshots = new SnapshotRepository(storage.db);
 * const latest = await snapshots.latest('session-42', { kind: 'full' });
 * const bytes = latest && (await snapshots.data(latest.id));
 * ```
 */
export class SnapshotRepository {
  constructor(private readonly db: Kysely<Database>) {}

  private base() {
    return this.db
      .selectFrom('snapshots')
      .innerJoin('streams', 'streams.id', 'snapshots.stream_id')
      .select([
        'snapshots.id',
        'streams.name as stream',
        'snapshots.kind',
        'snapshots.base_snapshot_id',
        'snapshots.stream_version',
        'snapshots.position',
        'snapshots.schema_version',
        'snapshots.created_us',
        'snapshots.size_bytes',
        'snapshots.checksum',
      ]);
  }

  /** One snapshot's index entry. */
  async get(id: number): Promise<SnapshotInfo | undefined> {
    const row = await this.base().where('snapshots.id', '=', id).executeTakeFirst();
    return row === undefined ? undefined : toInfo(row);
  }

  /** A stream's snapshots, newest (highest position) first. */
  async list(stream: string): Promise<SnapshotInfo[]> {
    const rows = await this.base()
      .where('streams.name', '=', stream)
      .orderBy('snapshots.position', 'desc')
      .orderBy('snapshots.id', 'desc')
      .execute();
    return rows.map(toInfo);
  }

  /** The newest snapshot of a stream that matches the filters. */
  async latest(
    stream: string,
    options: LatestSnapshotOptions = {},
  ): Promise<SnapshotInfo | undefined> {
    let query = this.base().where('streams.name', '=', stream);
    if (options.kind !== undefined) query = query.where('snapshots.kind', '=', options.kind);
    if (options.atOrBeforePosition !== undefined) {
      query = query.where('snapshots.position', '<=', Number(options.atOrBeforePosition));
    }
    const row = await query
      .orderBy('snapshots.position', 'desc')
      .orderBy('snapshots.id', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row === undefined ? undefined : toInfo(row);
  }

  /** A snapshot's bytes. */
  async data(id: number): Promise<Uint8Array | undefined> {
    const row = await this.db
      .selectFrom('snapshots')
      .select('data')
      .where('id', '=', id)
      .executeTakeFirst();
    if (row === undefined) return undefined;
    const data = row.data;
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
}

function toInfo(row: {
  id: number;
  stream: string;
  kind: SnapshotKind;
  base_snapshot_id: number | null;
  stream_version: number;
  position: number;
  schema_version: number;
  created_us: number;
  size_bytes: number;
  checksum: number;
}): SnapshotInfo {
  return {
    id: row.id,
    stream: row.stream,
    kind: row.kind,
    baseSnapshotId: row.base_snapshot_id,
    streamVersion: BigInt(row.stream_version),
    position: BigInt(row.position),
    schemaVersion: row.schema_version,
    createdUs: row.created_us,
    sizeBytes: row.size_bytes,
    checksum: row.checksum,
  };
}
