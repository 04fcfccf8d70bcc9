/**
 * Devices and hubs for the sync suites: local SQLite stores in temporary directories,
 * sessions simulated at 60 Hz and recorded through the recorder, and a hub in a schema of
 * its own on the PostgreSQL server of `WF_PG_URL` (default the local one). With `CI` set
 * an unreachable server fails the suites; without it they are skipped with a message.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { createSessionId } from '@wirthforge/events';
import { createEventStore, createRecorder } from '@wirthforge/eventstore';
import type { EventStore } from '@wirthforge/eventstore';
import { simulateSession } from '@wirthforge/simulator';
import { openSqliteStorage } from '@wirthforge/storage-sqlite';
import type { SqliteStorage } from '@wirthforge/storage-sqlite';
import {
  dropSchema,
  freshSchemaName as freshPostgresSchemaName,
  requirePostgres,
  testPostgresUrl,
} from '@wirthforge/storage-postgres/testing';

import { openSyncHub, resolveSyncConfig } from '../src/index.js';
import type { LocalStore, SyncConfig, SyncHub } from '../src/index.js';

/** The server the suites use. */
export const PG_URL = testPostgresUrl();

/** Whether the suites run (false only without CI and without a server). */
export const PG_AVAILABLE = await requirePostgres(
  'sync suites',
  'pnpm --filter @wirthforge/sync test',
);

/** A schema name of its own for one test. */
export function freshSchemaName(prefix = 'wf_sync'): string {
  return freshPostgresSchemaName(prefix);
}

export { dropSchema };

/** The hub config of a schema on the test server. */
export function hubConfig(schema: string, url = PG_URL): SyncConfig {
  return resolveSyncConfig({ url, schema, env: { HOME: '/nonexistent' } })!;
}

/** Opens a hub in `schema` of the test server. */
export function openTestHub(schema: string): Promise<SyncHub> {
  return openSyncHub(hubConfig(schema));
}

/** A device: a local SQLite store in a temporary directory. */
export interface TestDevice extends LocalStore {
  readonly dir: string;
  readonly path: string;
  readonly storage: SqliteStorage;
  readonly store: EventStore;
  /** Closes the store (keeps the files). */
  close(): Promise<void>;
  /** Opens the same files again. */
  reopen(): Promise<TestDevice>;
  /** Closes and removes the files. */
  remove(): Promise<void>;
}

async function openDevice(dir: string): Promise<TestDevice> {
  const path = join(dir, 'state.db');
  const storage = await openSqliteStorage({ path, synchronous: 'normal' });
  const store = createEventStore({ storage });
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await store.close();
  };
  return {
    dir,
    path,
    storage,
    store,
    db: storage.db,
    close,
    reopen: async () => {
      await close();
      return openDevice(dir);
    },
    remove: async () => {
      await close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A new device with an empty store. */
export function createDevice(name: string): Promise<TestDevice> {
  return openDevice(mkdtempSync(join(tmpdir(), `wfsync-${name}-`)));
}

/** Opens a device in an existing directory. */
export function openDeviceAt(dir: string): Promise<TestDevice> {
  return openDevice(dir);
}

/** What {@link recordSession} recorded. */
export interface RecordedSession {
  readonly sessionId: string;
  readonly stream: string;
}

/**
 * Records a simulated session (60 Hz, two models) into a device's store, through the
 * recorder, as the application does.
 */
export async function recordSession(
  store: EventStore,
  options: {
    readonly start: Date;
    readonly seconds: number;
    readonly seed: number;
    readonly sequence?: number;
    /** Leave the session running: its last frame (the stop and the `system.end`) is not recorded. */
    readonly running?: boolean;
  },
): Promise<RecordedSession> {
  const sessionId = createSessionId(options.start, options.sequence ?? 1);
  const session = simulateSession({
    seed: options.seed,
    sessionId,
    startTime: options.start,
    durationSeconds: options.seconds,
    models: ['ollama/llama3.2:3b', 'ollama/mistral:7b'],
  });
  const recorder = createRecorder(store, {
    clock: 'external',
    maxPendingFrames: session.frameCount + 1,
  });
  for (const frame of session) {
    if (options.running === true && frame.frameId === session.frameCount - 1) break;
    for (const event of frame.events) recorder.record(event);
    recorder.endFrame();
  }
  await recorder.close();
  return { sessionId, stream: `session-${sessionId}` };
}
