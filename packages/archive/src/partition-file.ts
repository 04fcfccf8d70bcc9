/**
 * One archive partition: a SQLite file holding the sealed segments of the sessions that
 * started in one calendar month (UTC), e.g. `archive/2026-11.db`. Rollback journal and
 * `synchronous=FULL`: a committed move is on disk before the live database lets go of
 * the segments.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { crc32 } from 'node:zlib';

import { openConnection } from '@wirthforge/storage-sqlite';
import type { SqliteConnection } from '@wirthforge/storage-sqlite';

import { ArchiveError } from './errors.js';
import { all, compiler, first, run } from './sync-sql.js';

/** `segments` of a partition: the segment bytes, with the row the live database had. */
export interface PartitionSegmentsTable {
  first_position: number;
  last_position: number;
  stream: string;
  first_version: number;
  last_version: number;
  first_us: number;
  last_us: number;
  event_count: number;
  codec_version: number;
  checksum: number;
  data: Uint8Array;
  archived_us: number;
}

/** `partition_meta`: the partition's name, format and checksum. */
export interface PartitionMetaTable {
  key: string;
  value: string;
}

/** A partition file's tables. */
export interface PartitionDatabase {
  segments: PartitionSegmentsTable;
  partition_meta: PartitionMetaTable;
}

/** Format version of partition files this code writes and reads. */
export const PARTITION_FORMAT = 1;

/** `partition_meta` key of the partition checksum (see {@link partitionDigest}). */
export const DIGEST_KEY = 'digest';

/** Compiles queries against {@link PartitionDatabase}. */
export const part = compiler<PartitionDatabase>();

const NAME = /^\d{4}-(0[1-9]|1[0-2])$/;

/** The partition of a time: its UTC month, `YYYY-MM`. */
export function partitionNameOf(timestampUs: number): string {
  const date = new Date(Math.floor(timestampUs / 1000));
  return `${date.getUTCFullYear().toString().padStart(4, '0')}-${(date.getUTCMonth() + 1).toString().padStart(2, '0')}`;
}

/** Whether `name` is a partition name (`YYYY-MM`). */
export function isPartitionName(name: string): boolean {
  return NAME.test(name);
}

/** First microsecond after the partition's month. */
export function partitionEndUs(name: string): number {
  const [year, month] = name.split('-').map(Number) as [number, number];
  return Date.UTC(year, month, 1) * 1000;
}

/** Syncs a directory, so a created, renamed or deleted file's entry is durable. */
export function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Opens a partition file. `create` makes the file and its tables when missing; without
 * it, a missing file is `not_found` and the file is opened read-only.
 */
export function openPartition(
  path: string,
  name: string,
  options: { readonly create?: boolean; readonly busyTimeoutMs?: number } = {},
): SqliteConnection {
  const exists = existsSync(path);
  if (!exists && options.create !== true) {
    throw new ArchiveError('not_found', `partition ${name}: no file at ${path}`, {
      partition: name,
    });
  }
  if (!exists) {
    // Owner-only, like the live database: the directory 0700, the file (and its journal) 0600.
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    closeSync(openSync(path, 'a', 0o600));
  }
  if (options.create !== true) rollBackHotJournal(path, options.busyTimeoutMs ?? 5000);
  const connection = openConnection(path, {
    readonly: options.create !== true,
    fileMustExist: options.create !== true,
    timeout: options.busyTimeoutMs ?? 5000,
  });
  try {
    if (options.create === true) {
      connection.pragma('journal_mode = DELETE');
      connection.pragma('synchronous = FULL');
      connection.exec(
        part.schema
          .createTable('segments')
          .ifNotExists()
          .addColumn('first_position', 'integer', (c) => c.primaryKey())
          .addColumn('last_position', 'integer', (c) => c.notNull())
          .addColumn('stream', 'text', (c) => c.notNull())
          .addColumn('first_version', 'integer', (c) => c.notNull())
          .addColumn('last_version', 'integer', (c) => c.notNull())
          .addColumn('first_us', 'integer', (c) => c.notNull())
          .addColumn('last_us', 'integer', (c) => c.notNull())
          .addColumn('event_count', 'integer', (c) => c.notNull())
          .addColumn('codec_version', 'integer', (c) => c.notNull())
          .addColumn('checksum', 'integer', (c) => c.notNull())
          .addColumn('data', 'blob', (c) => c.notNull())
          .addColumn('archived_us', 'integer', (c) => c.notNull())
          .compile().sql,
      );
      connection.exec(
        part.schema
          .createTable('partition_meta')
          .ifNotExists()
          .addColumn('key', 'text', (c) => c.primaryKey())
          .addColumn('value', 'text', (c) => c.notNull())
          .compile().sql,
      );
      const format = first(
        connection,
        part.selectFrom('partition_meta').select('value').where('key', '=', 'format'),
      );
      if (format === undefined) {
        for (const [key, value] of [
          ['format', String(PARTITION_FORMAT)],
          ['name', name],
          [DIGEST_KEY, String(partitionDigest(connection))],
        ] as const) {
          run(connection, part.insertInto('partition_meta').values({ key, value }));
        }
      }
    }
    checkFormat(connection, name, path);
    return connection;
  } catch (error) {
    connection.close();
    throw error;
  }
}

/**
 * A mover killed inside a partition transaction leaves a hot rollback journal; a
 * read-only connection cannot roll it back (SQLite answers "attempt to write a readonly
 * database"). A short read-write connection that reads the schema lets SQLite roll the
 * journal back first when it is hot; a journal a live mover still holds a lock on is not
 * hot and is left alone. Where the file cannot be opened for writing (a read-only file
 * system), the read-only open that follows reports the partition as it is.
 */
function rollBackHotJournal(path: string, busyTimeoutMs: number): void {
  if (!existsSync(`${path}-journal`)) return;
  let connection: SqliteConnection | undefined;
  try {
    connection = openConnection(path, { fileMustExist: true, timeout: busyTimeoutMs });
    connection.pragma('schema_version');
  } catch {
    // Left to the read-only open, which says what is wrong with the file.
  } finally {
    connection?.close();
  }
}

function checkFormat(connection: SqliteConnection, name: string, path: string): void {
  let format: { value: string } | undefined;
  try {
    format = first(
      connection,
      part.selectFrom('partition_meta').select('value').where('key', '=', 'format'),
    );
  } catch (error) {
    throw new ArchiveError(
      'corrupt',
      `partition ${name} (${path}) is not a readable archive partition: ${(error as Error).message}`,
      { partition: name, cause: error },
    );
  }
  if (format === undefined || Number(format.value) !== PARTITION_FORMAT) {
    throw new ArchiveError(
      'corrupt',
      `partition ${name} (${path}) has format ${format?.value ?? 'none'}; this version reads format ${PARTITION_FORMAT}`,
      { partition: name },
    );
  }
}

/**
 * The partition checksum: a CRC-32 over every segment's first position, last position,
 * event count and segment CRC, in position order. Stored in `partition_meta` by each
 * transaction that changes the partition, recomputed by `verify`: a segment removed,
 * added or replaced behind the archive's back changes it.
 */
export function partitionDigest(connection: SqliteConnection): number {
  const rows = all(
    connection,
    part
      .selectFrom('segments')
      .select(['first_position', 'last_position', 'event_count', 'checksum'])
      .orderBy('first_position'),
  );
  const buffer = Buffer.alloc(rows.length * 24);
  rows.forEach((row, i) => {
    buffer.writeDoubleLE(row.first_position, i * 24);
    buffer.writeDoubleLE(row.last_position, i * 24 + 8);
    buffer.writeUInt32LE(row.event_count >>> 0, i * 24 + 16);
    buffer.writeUInt32LE(row.checksum >>> 0, i * 24 + 20);
  });
  return crc32(buffer);
}

/** Stores the partition checksum of the partition's current rows (inside the caller's transaction). */
export function storeDigest(connection: SqliteConnection): void {
  run(
    connection,
    part
      .insertInto('partition_meta')
      .values({ key: DIGEST_KEY, value: String(partitionDigest(connection)) })
      .onConflict((oc) =>
        oc.column('key').doUpdateSet({ value: (eb) => eb.ref('excluded.value') }),
      ),
  );
}
