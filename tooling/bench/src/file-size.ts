import { existsSync, rmSync, statSync } from 'node:fs';

/** Bytes of a SQLite database on disk: the main file plus its WAL, when there is one. */
export function databaseBytes(file: string): { db: number; wal: number; total: number } {
  const db = statSync(file).size;
  const wal = existsSync(`${file}-wal`) ? statSync(`${file}-wal`).size : 0;
  return { db, wal, total: db + wal };
}

/** Deletes a database file and its WAL and shared-memory files. */
export function removeDatabase(file: string): void {
  for (const suffix of ['', '-wal', '-shm', '-journal'])
    rmSync(`${file}${suffix}`, { force: true });
}
