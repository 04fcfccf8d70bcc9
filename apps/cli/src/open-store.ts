/**
 * Opening the data directory's database: read-only (no lock, safe while the daemon
 * writes) for commands that look, with the writer lock for commands that write.
 */
import { existsSync } from 'node:fs';

import { openArchive } from '@wirthforge/archive';
import { createEventStore } from '@wirthforge/eventstore';
import type { EventStore } from '@wirthforge/eventstore';
import { isStorageError } from '@wirthforge/storage';
import { openSqliteReadOnlyStorage, openSqliteStorage } from '@wirthforge/storage-sqlite';
import type { SqliteReadOnlyStorage, SqliteStorage } from '@wirthforge/storage-sqlite';

import type { CommandEnv } from './cli-runtime.js';
import { daemonHoldingLock, daemonHoldsLock } from './daemon-api.js';
import { CliError } from './errors.js';

/** A read-only store and its storage. */
export interface ReadOnlyStore {
  readonly storage: SqliteReadOnlyStorage;
  readonly store: EventStore;
  close(): Promise<void>;
}

/** A writable store (the writer lock is held until `close`). */
export interface WritableStore {
  readonly storage: SqliteStorage;
  readonly store: EventStore;
  close(): Promise<void>;
}

/** Throws `not_found` when the data directory has no database yet. */
export function requireDatabase(env: CommandEnv): string {
  const path = env.dataDir.database;
  if (!existsSync(path)) {
    throw new CliError('not_found', `no database at ${path}`, {
      hint: 'run `wfstate init` to create one, or pass --data-dir DIR to point at an existing data directory',
    });
  }
  return path;
}

/** Storage and store errors as CLI errors that say what to do. */
export function toCliError(error: unknown, path: string): unknown {
  if (!isStorageError(error)) return error;
  switch (error.code) {
    case 'locked': {
      const daemon = daemonHoldingLock(path);
      if (daemon !== undefined) return daemonHoldsLock(daemon, error);
      return new CliError('locked', error.message, {
        hint: 'this command writes and another process (the daemon, wfstated) holds the writer lock: stop it, or run the command again when it is done',
        cause: error,
      });
    }
    case 'corrupt':
      return new CliError('check_failed', error.message, {
        hint: `run \`wfstate verify --deep --data-dir ${JSON.stringify(path)}\`, then \`wfstate restore BACKUP\` if the damage is real`,
        cause: error,
      });
    case 'version':
      return new CliError('failed', error.message, {
        hint: 'upgrade wfstate to the release that wrote this database',
        cause: error,
      });
    case 'busy':
      return new CliError('locked', error.message, {
        hint: 'the database is busy; try again in a moment',
        cause: error,
      });
    case 'readonly':
      return new CliError('failed', error.message, {
        hint: 'check the permissions of the data directory and its files (`wfstate doctor`)',
        cause: error,
      });
    default:
      return error;
  }
}

/**
 * Opens the database read-only with an event store over it (reads, replay, aggregation).
 * Reads refuse a damaged event row with `corrupt`; `checkRowChecksums: false` serves it
 * as stored, for `verify`, which names the damage itself and must read past it.
 */
export async function openReadOnly(
  env: CommandEnv,
  options: { readonly checkRowChecksums?: boolean } = {},
): Promise<ReadOnlyStore> {
  const path = requireDatabase(env);
  // Archived events are read from the data directory's archive partitions.
  const archive = openArchive({ databasePath: path });
  let storage: SqliteReadOnlyStorage;
  try {
    storage = await openSqliteReadOnlyStorage({
      path,
      coldSegments: archive.coldSegments,
      checkRowChecksums: options.checkRowChecksums ?? true,
    });
  } catch (error) {
    archive.close();
    throw toCliError(error, path);
  }
  const store = createEventStore({ storage, cache: false });
  return { storage, store, close: () => storage.close().finally(() => archive.close()) };
}

/** Opens the database for writing: takes the writer lock (refused while the daemon runs). */
export async function openWritable(
  env: CommandEnv,
  options: { readonly create?: boolean } = {},
): Promise<WritableStore> {
  const path = options.create === true ? env.dataDir.database : requireDatabase(env);
  const archive = openArchive({ databasePath: path });
  let storage: SqliteStorage;
  try {
    storage = await openSqliteStorage({ path, coldSegments: archive.coldSegments });
  } catch (error) {
    archive.close();
    throw toCliError(error, path);
  }
  const store = createEventStore({ storage, cache: false });
  return { storage, store, close: () => store.close().finally(() => archive.close()) };
}
