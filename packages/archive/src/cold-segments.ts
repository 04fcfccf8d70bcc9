/**
 * The archive as a `ColdSegmentSource`: reads ask for an archived segment by partition
 * and first position; the partition file is opened read-only on first use and kept open,
 * decoded segments are kept in a small LRU cache, and every segment is checked against
 * the live catalog's row (checksum, stream, ranges, count) before it is served. Segments
 * are kept as columns (`decodeSegmentColumns`): no object per event in the cache, and a
 * read builds only the records it hands out.
 */
import { join } from 'node:path';

import { decodeSegmentColumns } from '@wirthforge/segments';
import type { SegmentColumns } from '@wirthforge/segments';
import { StorageError } from '@wirthforge/storage';
import type { ColdSegmentEvents, ColdSegmentRef, ColdSegmentSource } from '@wirthforge/storage';
import type { SqliteConnection } from '@wirthforge/storage-sqlite';

import { isPartitionName, openPartition, part } from './partition-file.js';
import { first } from './sync-sql.js';

/** Where a segment is, for messages. */
export function describeColdSegment(ref: ColdSegmentRef): string {
  return `partition ${ref.partition} segment at positions ${ref.firstPosition}..${ref.lastPosition} (stream ${ref.stream}, versions ${ref.firstVersion}..${ref.lastVersion})`;
}

/** Reads archived segments from the partition files of one archive directory. */
export class ArchiveColdSegments implements ColdSegmentSource {
  private readonly connections = new Map<string, SqliteConnection>();
  private readonly cache = new Map<number, SegmentColumns>();

  constructor(
    private readonly dir: string,
    private readonly cacheSize = 16,
  ) {}

  /** See `ColdSegmentSource.segmentEvents`. */
  segmentEvents(ref: ColdSegmentRef): ColdSegmentEvents {
    const cached = this.cache.get(ref.firstPosition);
    if (cached !== undefined) {
      this.cache.delete(ref.firstPosition);
      this.cache.set(ref.firstPosition, cached);
      return cached;
    }
    let decoded: SegmentColumns;
    try {
      const row = first(
        this.connection(ref.partition),
        part
          .selectFrom('segments')
          .select(['data', 'checksum', 'stream'])
          .where('first_position', '=', ref.firstPosition),
      );
      if (row === undefined) throw new Error('the partition has no such segment');
      if (row.checksum !== ref.checksum || row.stream !== ref.stream) {
        throw new Error(
          `the partition's row (stream ${row.stream}, checksum ${row.checksum}) is not the catalog's (checksum ${ref.checksum})`,
        );
      }
      decoded = decodeSegmentColumns(row.data, {
        expect: {
          stream: ref.stream,
          firstPosition: BigInt(ref.firstPosition),
          lastPosition: BigInt(ref.lastPosition),
          firstVersion: BigInt(ref.firstVersion),
          lastVersion: BigInt(ref.lastVersion),
          count: ref.eventCount,
          checksum: ref.checksum,
        },
      });
    } catch (error) {
      throw new StorageError(
        'corrupt',
        `${describeColdSegment(ref)} cannot be read: ${(error as Error).message}`,
        { cause: error },
      );
    }
    if (this.cacheSize > 0) {
      if (this.cache.size >= this.cacheSize) {
        this.cache.delete(this.cache.keys().next().value!);
      }
      this.cache.set(ref.firstPosition, decoded);
    }
    return decoded;
  }

  private connection(partition: string): SqliteConnection {
    let connection = this.connections.get(partition);
    if (connection === undefined) {
      if (!isPartitionName(partition)) throw new Error(`${partition} is not a partition name`);
      connection = openPartition(join(this.dir, `${partition}.db`), partition);
      this.connections.set(partition, connection);
    }
    return connection;
  }

  /** Closes the partition's file (before it is deleted or rewritten) and forgets its segments. */
  release(partition?: string): void {
    for (const [name, connection] of this.connections) {
      if (partition === undefined || name === partition) {
        connection.close();
        this.connections.delete(name);
      }
    }
    this.cache.clear();
  }
}
