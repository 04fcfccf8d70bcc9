/**
 * Compressed, verified backups of a database file, and their restore.
 *
 * The copy itself is storage-sqlite's online backup (`VACUUM INTO` on a read-only
 * connection: one consistent snapshot while the daemon writes, verified before it is
 * published). This file adds only the compression: gzip of that copy, hashed on the way
 * in, read back and compared by SHA-256, then published whole.
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  createReadStream,
  createWriteStream,
  existsSync,
  fsyncSync,
  openSync,
  readSync,
  statSync,
} from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';

import { backupSqliteDatabase, headMarkerPath } from '@wirthforge/storage-sqlite';

import { publishFile, removeQuietly, temporaryBeside } from './atomic-file.js';

/** What a backup wrote. */
export interface BackupFileReport {
  readonly path: string;
  /** Size of the compressed file. */
  readonly bytes: number;
  /** Size of the database copy before compression. */
  readonly databaseBytes: number;
  readonly headPosition: bigint;
  /** SHA-256 of the uncompressed database copy (checked again after writing). */
  readonly sha256: string;
  readonly verified: true;
  /** Whether the copy's check was the deep one (`integrity_check`, every segment decoded). */
  readonly deep: boolean;
}

/** Options of {@link backupToFile}. */
export interface BackupFileOptions {
  /**
   * Check the copy with SQLite's `integrity_check` and decode every sealed segment
   * (default false: `quick_check`, every hot event's checksum and every segment's
   * checksum and header; the source's own `wfstate verify` decodes segments).
   */
  readonly deep?: boolean;
  /** Called after each of the three steps: copied and checked, compressed, read back. */
  readonly onStep?: (done: number) => void;
}

/** Steps {@link BackupFileOptions.onStep} counts. */
export const BACKUP_STEPS = 3;

/** Stream chunks of 1 MiB: fewer round trips through zlib's thread pool than the 16 KiB default. */
const CHUNK = 1 << 20;

/** SHA-256 of a gzip file's uncompressed contents. */
export async function gunzipSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(
    createReadStream(path, { highWaterMark: CHUNK }),
    createGunzip({ chunkSize: CHUNK }),
    async (source: AsyncIterable<Buffer>) => {
      for await (const chunk of source) hash.update(chunk);
    },
  );
  return hash.digest('hex');
}

/**
 * Backs up the database at `source` into the gzip file `destination` (replaced only when
 * the new one is complete and verified).
 *
 * The copy is made on this thread (`backupSqliteDatabase`): the command has nothing else
 * to do meanwhile, and a maintenance thread would load the store's modules a second time,
 * which costs more than the copy of a one-hour session.
 */
export async function backupToFile(
  source: string,
  destination: string,
  options: BackupFileOptions = {},
): Promise<BackupFileReport> {
  const raw = temporaryBeside(destination, 'db');
  const packed = temporaryBeside(destination, 'gz');
  const deep = options.deep === true;
  try {
    const copy = backupSqliteDatabase(source, raw, { overwrite: true, quick: !deep });
    options.onStep?.(1);
    const hash = createHash('sha256');
    await pipeline(
      createReadStream(raw, { highWaterMark: CHUNK }),
      async function* (chunks: AsyncIterable<Buffer>) {
        for await (const chunk of chunks) {
          hash.update(chunk);
          yield chunk;
        }
      },
      createGzip({ level: 6, chunkSize: CHUNK }),
      // Owner-only, like the database it copies.
      createWriteStream(packed, { mode: 0o600 }),
    );
    const sha256 = hash.digest('hex');
    options.onStep?.(2);
    const check = await gunzipSha256(packed);
    if (check !== sha256) {
      throw new Error(
        `the compressed backup reads back differently (sha256 ${check}, expected ${sha256})`,
      );
    }
    publishFile(packed, destination);
    options.onStep?.(3);
    return {
      path: destination,
      bytes: statSync(destination).size,
      databaseBytes: copy.bytes,
      headPosition: copy.headPosition,
      sha256,
      verified: true,
      deep,
    };
  } finally {
    removeQuietly(raw);
    removeQuietly(packed);
  }
}

/** Whether a file starts with the gzip magic bytes. */
export function isGzipFile(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(2);
    return readSync(fd, head, 0, 2, 0) === 2 && head[0] === 0x1f && head[1] === 0x8b;
  } finally {
    closeSync(fd);
  }
}

/** Unpacks a backup (gzip, or a plain database file) to `destination`, synced. */
export async function unpackBackup(source: string, destination: string): Promise<void> {
  const input = createReadStream(source, { highWaterMark: CHUNK });
  if (isGzipFile(source)) {
    await pipeline(
      input,
      createGunzip({ chunkSize: CHUNK }),
      createWriteStream(destination, { mode: 0o600 }),
    );
  } else {
    await pipeline(input, createWriteStream(destination, { mode: 0o600 }));
  }
  const fd = openSync(destination, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * The database file and its companions (WAL, shared memory, and the head marker, which
 * names the head this file's writer committed: left beside a restored older file it
 * would report the positions the backup lacks as lost commits).
 */
export function databaseFiles(database: string): string[] {
  return [database, `${database}-wal`, `${database}-shm`, headMarkerPath(database)].filter((f) =>
    existsSync(f),
  );
}
