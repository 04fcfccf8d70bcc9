/**
 * The hub: a PostgreSQL store (`@wirthforge/storage-postgres`) in one schema, plus two
 * small tables of its own: the devices that synchronise through it, and which device
 * owns each session stream.
 */
import { isStorageError } from '@wirthforge/storage';
import type { Database } from '@wirthforge/storage';
import { openPostgresStorage } from '@wirthforge/storage-postgres';
import type { PostgresStorage } from '@wirthforge/storage-postgres';
import type { Kysely } from 'kysely';

import { SyncError } from './errors.js';
import { passwordOfUrl, scrubSecrets } from './sync-config.js';
import type { SyncConfig } from './sync-config.js';

/** `sync_devices`: one row per device that ever synchronised through the hub. */
export interface SyncDevicesTable {
  device_id: string;
  name: string;
  first_seen_us: number;
  last_push_us: number | null;
  last_pull_us: number | null;
}

/** `sync_streams`: the device that owns (wrote) each session stream on the hub. */
export interface SyncStreamsTable {
  stream: string;
  device_id: string;
  claimed_us: number;
}

/**
 * `sync_purges`: the session streams a device purged, one row each. The hub deleted their
 * events; every device that pulls deletes its copy and never takes the stream again, and
 * no device pushes it again. The row (a stream name, no content) stays for good.
 */
export interface SyncPurgesTable {
  stream: string;
  /** The device whose purge it was. */
  device_id: string;
  purged_us: number;
}

/** The hub's own tables, beside the store's. */
// A type alias (not an interface): Kysely's `withTables` needs an index-compatible record.
export type SyncHubTables = {
  sync_devices: SyncDevicesTable;
  sync_streams: SyncStreamsTable;
  sync_purges: SyncPurgesTable;
};

/** A device as the hub knows it. */
export interface HubDevice {
  readonly deviceId: string;
  readonly name: string;
  readonly firstSeenAt: string;
  readonly lastPushAt: string | null;
  readonly lastPullAt: string | null;
  readonly streams: number;
}

/** An open hub. */
export interface SyncHub {
  /** The hub's event store. */
  readonly storage: PostgresStorage;
  /** Kysely over the hub's schema, with the sync tables. */
  readonly db: Kysely<Database & SyncHubTables>;
  /** What may be shown of the hub: the URL without its password, the schema, its id. */
  readonly displayUrl: string;
  readonly schema: string;
  readonly hubId: string;
  /** Every secret of the connection, to scrub from messages. */
  readonly secrets: readonly string[];
  /** Ends the hub's pool. Idempotent. */
  close(): Promise<void>;
}

/** Options of {@link openSyncHub}. */
export interface OpenSyncHubOptions {
  /** Connections of the pool (default 4). */
  readonly maxConnections?: number;
  /** Events per page of the hub's reads (default 2000). */
  readonly readPageSize?: number;
}

const micros = (value: number | null): string | null =>
  value === null ? null : new Date(Number(value) / 1000).toISOString();

/** A hub error as a {@link SyncError} whose message holds no secret. */
export function hubError(
  error: unknown,
  what: string,
  hub: Pick<SyncHub, 'displayUrl' | 'secrets'>,
): SyncError {
  const detail = error instanceof Error ? error.message : String(error);
  const unreachable = isStorageError(error, 'io') && error.retryable;
  return new SyncError(
    unreachable ? 'hub_unreachable' : 'hub_failed',
    scrubSecrets(`${what} on the hub ${hub.displayUrl}: ${detail}`, hub.secrets),
    { retryable: isStorageError(error) ? error.retryable : false },
  );
}

async function createTables(db: Kysely<Database & SyncHubTables>): Promise<void> {
  await db.schema
    .createTable('sync_devices')
    .ifNotExists()
    .addColumn('device_id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('first_seen_us', 'bigint', (c) => c.notNull())
    .addColumn('last_push_us', 'bigint')
    .addColumn('last_pull_us', 'bigint')
    .execute();
  await db.schema
    .createTable('sync_streams')
    .ifNotExists()
    .addColumn('stream', 'text', (c) => c.primaryKey())
    .addColumn('device_id', 'text', (c) => c.notNull())
    .addColumn('claimed_us', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('sync_purges')
    .ifNotExists()
    .addColumn('stream', 'text', (c) => c.primaryKey())
    .addColumn('device_id', 'text', (c) => c.notNull())
    .addColumn('purged_us', 'bigint', (c) => c.notNull())
    .execute();
}

/**
 * Opens the hub of `config`: the PostgreSQL store in its schema (created and migrated
 * when missing) and the sync tables. Rejects with `hub_unreachable` (retryable) when
 * the server cannot be reached; no message holds the password.
 *
 * @example
 * ```ts
 * const config = resolveSyncConfig({ env: process.env });
 * if (config !== undefined) {
 *   const hub = await openSyncHub(config);
 *   try { await push(local, hub); } finally { await hub.close(); }
 * }
 * ```
 */
export async function openSyncHub(
  config: SyncConfig,
  options: OpenSyncHubOptions = {},
): Promise<SyncHub> {
  const secrets = [config.password, passwordOfUrl(config.url)].filter(
    (s): s is string => s !== undefined && s !== '',
  );
  const named = { displayUrl: config.displayUrl, secrets };
  let storage: PostgresStorage;
  try {
    storage = await openPostgresStorage({
      connectionString: config.url,
      schema: config.schema,
      maxConnections: options.maxConnections ?? 4,
      readPageSize: options.readPageSize ?? 2000,
      pool: {
        connectionTimeoutMillis: 10_000,
        ...(config.password === undefined ? {} : { password: config.password }),
      },
    });
  } catch (error) {
    throw hubError(error, 'cannot open the store', named);
  }
  const db = storage.db.withTables<SyncHubTables>();
  for (let attempt = 0; ; attempt++) {
    try {
      await createTables(db);
      break;
    } catch (error) {
      // Two devices creating the tables at once: one loses a catalog race; the next try sees them.
      if (attempt < 2) continue;
      await storage.close().catch(() => undefined);
      throw hubError(error, 'cannot create the sync tables', named);
    }
  }
  let closing: Promise<void> | undefined;
  return {
    storage,
    db,
    displayUrl: config.displayUrl,
    schema: config.schema,
    hubId: config.hubId,
    secrets,
    close: () => (closing ??= storage.close()),
  };
}

/** Records a device on the hub (first time) and the time of its latest push or pull. */
export async function touchDevice(
  hub: SyncHub,
  deviceId: string,
  name: string,
  what: 'push' | 'pull' | 'seen',
  nowUs: number,
): Promise<void> {
  await hub.db
    .insertInto('sync_devices')
    .values({
      device_id: deviceId,
      name,
      first_seen_us: nowUs,
      last_push_us: what === 'push' ? nowUs : null,
      last_pull_us: what === 'pull' ? nowUs : null,
    })
    .onConflict((oc) =>
      oc
        .column('device_id')
        .doUpdateSet(
          what === 'push'
            ? { last_push_us: nowUs, name }
            : what === 'pull'
              ? { last_pull_us: nowUs, name }
              : { name },
        ),
    )
    .execute();
}

/**
 * Claims `streams` for `deviceId` where no device owns them yet, and returns the owner
 * of each (the claimer, or the device that claimed it first).
 */
export async function claimStreams(
  hub: SyncHub,
  deviceId: string,
  streams: readonly string[],
  nowUs: number,
): Promise<Map<string, string>> {
  if (streams.length === 0) return new Map();
  await hub.db
    .insertInto('sync_streams')
    .values(streams.map((stream) => ({ stream, device_id: deviceId, claimed_us: nowUs })))
    .onConflict((oc) => oc.column('stream').doNothing())
    .execute();
  return streamOwners(hub, streams);
}

/** The owner of each of `streams` that has one (every stream when `streams` is undefined). */
export async function streamOwners(
  hub: SyncHub,
  streams?: readonly string[],
): Promise<Map<string, string>> {
  let query = hub.db.selectFrom('sync_streams').select(['stream', 'device_id']);
  if (streams !== undefined) {
    if (streams.length === 0) return new Map();
    query = query.where('stream', 'in', [...streams]);
  }
  const rows = await query.execute();
  return new Map(rows.map((r) => [r.stream, r.device_id]));
}

/** The devices of the hub, with the number of streams each owns. */
export async function hubDevices(hub: SyncHub): Promise<HubDevice[]> {
  const rows = await hub.db
    .selectFrom('sync_devices as d')
    .leftJoin('sync_streams as s', 's.device_id', 'd.device_id')
    .select((eb) => [
      'd.device_id',
      'd.name',
      'd.first_seen_us',
      'd.last_push_us',
      'd.last_pull_us',
      eb.fn.count<number>('s.stream').as('streams'),
    ])
    .groupBy(['d.device_id', 'd.name', 'd.first_seen_us', 'd.last_push_us', 'd.last_pull_us'])
    .orderBy('d.first_seen_us')
    .orderBy('d.device_id')
    .execute();
  return rows.map((r) => ({
    deviceId: r.device_id,
    name: r.name,
    firstSeenAt: micros(r.first_seen_us) ?? '',
    lastPushAt: micros(r.last_push_us),
    lastPullAt: micros(r.last_pull_us),
    streams: Number(r.streams),
  }));
}

/** The streams purged through the hub, each with the device whose purge it was. */
export async function hubPurges(hub: SyncHub): Promise<Map<string, string>> {
  const rows = await hub.db.selectFrom('sync_purges').select(['stream', 'device_id']).execute();
  return new Map(rows.map((r) => [r.stream, r.device_id]));
}

/**
 * Records the purge of `streams` by `deviceId` (a stream purged before keeps its first
 * record), then deletes their events from the hub's store. Both steps are idempotent: a
 * purge sent again after a kill between them finishes the deletion.
 */
export async function purgeOnHub(
  hub: SyncHub,
  deviceId: string,
  streams: readonly string[],
  nowUs: number,
): Promise<{ readonly recorded: readonly string[]; readonly events: number }> {
  if (streams.length === 0) return { recorded: [], events: 0 };
  const inserted = await hub.db
    .insertInto('sync_purges')
    .values(streams.map((stream) => ({ stream, device_id: deviceId, purged_us: nowUs })))
    .onConflict((oc) => oc.column('stream').doNothing())
    .returning('stream')
    .execute();
  const removed = await hub.storage.purgeStreams(streams);
  return { recorded: inserted.map((r) => r.stream), events: removed.events };
}
