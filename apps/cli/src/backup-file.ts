/**
 * Compressed, verified backups of a database file, and their restore.
 *
 * A backup is storage-sqlite's online backup (`VACUUM INTO` on a read-only connection:
 * one consistent snapshot while the daemon writes, verified before it is published),
 * gzip-compressed into the destination, then read back and compared by SHA-256.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  createReadStream,
  createWriteStream,
  existsSync,
  fsyncSync,
  openSync,
  readSync,
  renameSync,
  statSync,
  unlinkSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';

import { backupSqliteFile } from '@wirthforge/storage-sqlite';

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
}

function fsyncPath(path: string, flags: string): void {
  const fd = openSync(path, flags);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Not there.
  }
}

/** A pass-through stream that hashes what flows through it. */
function hashing(hash: ReturnType<typeof createHash>): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      callback(null, chunk);
    },
  });
}

/** SHA-256 of a gzip file's uncompressed contents. */
export async function gunzipSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), createGunzip(), async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) hash.update(chunk);
  });
  return hash.digest('hex');
}

/** A temporary path next to `path`, hidden, unique. */
export function temporaryBeside(path: string, tag: string): string {
  return join(
    dirname(path),
    `.${basename(path)}.${tag}-${process.pid}-${randomBytes(6).toString('hex')}`,
  );
}

/**
 * Backs up the database at `source` into the gzip file `destination` (replaced only when
 * the new one is complete and verified).
 */
export async function backupToFile(source: string, destination: string): Promise<BackupFileReport> {
  const raw = temporaryBeside(destination, 'db');
  const packed = temporaryBeside(destination, 'gz');
  try {
    const copy = await backupSqliteFile(source, raw, { overwrite: true });
    const hash = createHash('sha256');
    await pipeline(
      createReadStream(raw),
      hashing(hash),
      createGzip({ level: 6 }),
      createWriteStream(packed),
    );
    const sha256 = hash.digest('hex');
    fsyncPath(packed, 'r+');
    const check = await gunzipSha256(packed);
    if (check !== sha256) {
      throw new Error(
        `the compressed backup reads back differently (sha256 ${check}, expected ${sha256})`,
      );
    }
    renameSync(packed, destination);
    fsyncPath(dirname(destination), 'r');
    return {
      path: destination,
      bytes: statSync(destination).size,
      databaseBytes: copy.bytes,
      headPosition: copy.headPosition,
      sha256,
      verified: true,
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
  if (isGzipFile(source)) {
    await pipeline(createReadStream(source), createGunzip(), createWriteStream(destination));
  } else {
    await pipeline(createReadStream(source), createWriteStream(destination));
  }
  fsyncPath(destination, 'r+');
}

/** The database file and its companions (WAL, shared memory). */
export function databaseFiles(database: string): string[] {
  return [database, `${database}-wal`, `${database}-shm`].filter((f) => existsSync(f));
}
