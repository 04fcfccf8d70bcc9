/**
 * Push and pull: a device's session streams go to the hub, the other devices' session
 * streams come back. Both run in pages, each page one append on the other side, and
 * resume from a checkpoint kept in the local store's metadata, one per hub.
 *
 * - A push appends a page to the hub, then moves the local checkpoint. A kill between the
 *   two repeats the page at the next push; the hub recognises its events by their ids
 *   (idempotent appends) and by the stream versions it holds, so nothing is stored twice.
 * - A pull appends a page to the local store and moves the checkpoint in the same
 *   transaction: a kill leaves either both or neither.
 * - A session stream belongs to the device that wrote it (claimed on the hub at its first
 *   push). Its version on the hub is its version on the device, so every copy of it is
 *   the same sequence of events.
 * - Conflicts (an event id the hub holds with other content, a stream another device
 *   claimed, a pulled stream whose name a local session already uses) are reported and
 *   remembered, never overwritten: the stream stops syncing and the rest goes on.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';

import type { EventStore, PreparedAppend } from '@wirthforge/eventstore';
import {
  isConcurrencyError,
  isIdempotencyConflictError,
  isStorageError,
} from '@wirthforge/storage';
import type {
  Database,
  NewEventRecord,
  RowWrite,
  StoredEventRecord,
  StreamAppend,
} from '@wirthforge/storage';
import { deleteSqliteStreams } from '@wirthforge/storage-sqlite';
import type { Kysely } from 'kysely';

import { SyncError, isSyncError } from './errors.js';
import {
  claimStreams,
  hubDevices,
  hubError,
  hubPurges,
  purgeOnHub,
  streamOwners,
  touchDevice,
} from './sync-hub.js';
import type { HubDevice, SyncHub } from './sync-hub.js';

/** The local side: the device's event store and a Kysely over the same database. */
export interface LocalStore {
  /** The store over the local storage (the storage's only writer). */
  readonly store: EventStore;
  /** Reads of the local metadata (the storage's `db`). */
  readonly db: Kysely<Database>;
  /**
   * Deletes streams from the local store for good, when a purge made on another device
   * reaches this one (a pull). Default: the rows of the SQLite file the store's storage
   * has open (`deleteSqliteStreams`, beside its writer); an app whose store also archives
   * segments passes one that removes the archived ones too (as `wfstate purge` does).
   * The user rows are rebuilt afterwards either way.
   */
  readonly purgeStreams?: (streams: readonly string[]) => Promise<void>;
}

/** Why a stream stopped syncing. */
export type SyncConflictKind =
  /** The hub holds one of the stream's event ids with other content. */
  | 'event_id'
  /** Another device claimed the stream name on the hub first. */
  | 'stream_owner'
  /** A pulled stream's name is taken by a session of this device. */
  | 'local_stream'
  /** The two copies of the stream disagree on its versions (one lacks events the other has). */
  | 'version_gap';

/** A conflict: reported, remembered in the local metadata, never overwritten. */
export interface SyncConflict {
  readonly stream: string;
  readonly kind: SyncConflictKind;
  readonly direction: 'push' | 'pull';
  /** The event id in conflict, for `event_id`. */
  readonly eventId?: string;
  /** What happened, in words (no secrets). */
  readonly message: string;
  /** When it was found (ISO-8601). */
  readonly at: string;
}

/** One page handed over (for progress bars and tests). */
export interface SyncPage {
  readonly direction: 'push' | 'pull';
  /** Events appended on the other side in this page (repeats not counted). */
  readonly events: number;
  /** The checkpoint after the page: a local position (push) or a hub position (pull). */
  readonly checkpoint: bigint;
  /** Where the run ends: the local head (push) or the hub's head (pull) at its start. */
  readonly target: bigint;
}

/** Options of {@link push} and {@link pull}. */
export interface SyncRunOptions {
  /** Events read per page (default 5000). */
  readonly pageSize?: number;
  /** Called after each page is committed on both sides. */
  readonly onPage?: (page: SyncPage) => void;
  /** Microseconds since the epoch (default the system clock). */
  readonly clock?: () => number;
  /** Name shown for this device on the hub (default the host name). */
  readonly deviceName?: string;
}

/** What a push or a pull did. */
export interface SyncReport {
  readonly direction: 'push' | 'pull';
  readonly deviceId: string;
  readonly hub: string;
  /** Events appended on the other side. */
  readonly events: number;
  /** Events the other side held already (a resumed page), not written again. */
  readonly repeated: number;
  /** Streams that received events. */
  readonly streams: readonly string[];
  /** Conflicts found in this run. */
  readonly conflicts: readonly SyncConflict[];
  /**
   * Purged session streams: push, the purges of this device sent to the hub (first
   * recorded there by this run); pull, the streams deleted here because another device
   * purged them.
   */
  readonly purged: readonly string[];
  /** The checkpoint after the run. */
  readonly checkpoint: bigint;
  readonly pages: number;
  /** Push: events of sessions still running, left for a push after they end. */
  readonly held: number;
  readonly durationMs: number;
}

/** What {@link syncStatus} reports. */
export interface SyncStatus {
  readonly deviceId: string | undefined;
  readonly hub: string;
  readonly hubId: string;
  /**
   * Local head; local position pushed up to; events of this device's ended sessions not
   * pushed yet; events of its running sessions (pushed once they end).
   */
  readonly local: {
    readonly headPosition: bigint;
    readonly pushedPosition: bigint;
    readonly pendingPush: number;
    readonly running: number;
  };
  /** Hub head; hub position pulled up to; `undefined` when the hub was not asked. */
  readonly remote:
    | {
        readonly headPosition: bigint;
        readonly pulledPosition: bigint;
        readonly devices: readonly HubDevice[];
      }
    | undefined;
  readonly lastPushAt: string | null;
  readonly lastPullAt: string | null;
  /** Conflicts remembered (streams that stopped syncing). */
  readonly conflicts: readonly SyncConflict[];
}

const DEVICE_ID_KEY = 'sync.device_id';
const OWNER_PREFIX = 'sync.owner.';
const SESSION_PREFIX = 'session-';
const DEFAULT_PAGE_SIZE = 5000;

const keyOf = (hubId: string, name: string): string => `sync.hub.${hubId}.${name}`;
const systemMicros = (): number => Date.now() * 1000;

async function metadata(local: LocalStore, key: string): Promise<string | undefined> {
  const row = await local.db
    .selectFrom('metadata')
    .select('value')
    .where('key', '=', key)
    .executeTakeFirst();
  return row?.value;
}

/** The owners of the streams this device pulled (`sync.owner.<stream>`). */
async function pulledOwners(local: LocalStore): Promise<Map<string, string>> {
  const rows = await local.db
    .selectFrom('metadata')
    .select(['key', 'value'])
    .where('key', 'like', `${OWNER_PREFIX}%`)
    .execute();
  return new Map(rows.map((r) => [r.key.slice(OWNER_PREFIX.length), r.value]));
}

async function loadConflicts(local: LocalStore, hubId: string): Promise<SyncConflict[]> {
  const text = await metadata(local, keyOf(hubId, 'conflicts'));
  if (text === undefined) return [];
  try {
    const parsed: unknown = JSON.parse(text);
    return Array.isArray(parsed) ? (parsed as SyncConflict[]) : [];
  } catch {
    return [];
  }
}

/**
 * The session streams of this store whose session is still running (`active` in the
 * sessions table). They are pushed once they end: a running session's copy on another
 * device would look like a crashed session there, and its recovery or shutdown would
 * write into a stream that is not that device's.
 */
async function runningSessionStreams(local: LocalStore): Promise<Set<string>> {
  const rows = await local.db
    .selectFrom('sessions')
    .select('session_id')
    .where('status', '=', 'active')
    .execute();
  return new Set(rows.map((r) => `${SESSION_PREFIX}${r.session_id}`));
}

/**
 * The session streams purged on this device (`wfstate purge`, or the daemon's): the
 * targets of the `purge` lines of its audit table. A purge of everything (`--all`) resets
 * the device only and is not among them.
 */
async function locallyPurgedStreams(local: LocalStore): Promise<string[]> {
  const rows = await local.db
    .selectFrom('audit')
    .select('target')
    .where('action', '=', 'purge')
    .execute();
  const streams = new Set<string>();
  for (const { target } of rows) {
    if (target === null || target === 'all') continue;
    for (const name of target.split(',')) {
      if (name.startsWith(SESSION_PREFIX)) streams.add(name);
    }
  }
  return [...streams];
}

/** Which of `streams` the local store holds (read from its tables, not a cache). */
async function localStreams(local: LocalStore, streams: readonly string[]): Promise<string[]> {
  if (streams.length === 0) return [];
  const rows = await local.db
    .selectFrom('streams')
    .select('name')
    .where('name', 'in', [...streams])
    .execute();
  return rows.map((r) => r.name).sort();
}

/** Deletes `streams` here for good (see {@link LocalStore.purgeStreams}), then rebuilds the user rows. */
async function purgeLocally(local: LocalStore, streams: readonly string[]): Promise<void> {
  try {
    if (local.purgeStreams !== undefined) await local.purgeStreams(streams);
    else {
      const path = (local.store.storage as { readonly path?: unknown }).path;
      if (typeof path !== 'string') {
        throw new SyncError(
          'local_failed',
          `cannot delete the purged streams ${streams.join(', ')}: the local storage is not a SQLite file; pass LocalStore.purgeStreams`,
        );
      }
      await deleteSqliteStreams(path, { streams }, { actor: 'wfstate sync' });
    }
    // The progress rows of the streams' users went with them: rebuilt from what remains.
    await local.store.rebuildProjections();
  } catch (error) {
    throw localError(error, `cannot delete the purged streams ${streams.join(', ')}`);
  }
}

/** `metadata.set` row writes. */
const set = (key: string, value: string): RowWrite => ({ kind: 'metadata.set', key, value });

async function commitWrites(local: LocalStore, writes: readonly RowWrite[]): Promise<void> {
  if (writes.length === 0) return;
  try {
    await local.store.commitBatch([], { writes });
  } catch (error) {
    throw localError(error, 'cannot write the sync checkpoint');
  }
}

function localError(error: unknown, what: string): SyncError {
  if (isSyncError(error)) return error;
  const detail = error instanceof Error ? error.message : String(error);
  return new SyncError('local_failed', `${what} in the local store: ${detail}`, {
    cause: error,
    retryable: isStorageError(error) ? error.retryable : false,
  });
}

/**
 * The device's id: generated once (a random UUID) and kept in the local store's
 * metadata (`sync.device_id`), so it stays with the data, not with the machine.
 */
export async function ensureDeviceId(local: LocalStore): Promise<string> {
  const existing = await metadata(local, DEVICE_ID_KEY);
  if (existing !== undefined) return existing;
  const id = randomUUID();
  await commitWrites(local, [set(DEVICE_ID_KEY, id)]);
  // Another process may have written its own first: the stored one wins.
  return (await metadata(local, DEVICE_ID_KEY)) ?? id;
}

/** The device's id, or `undefined` if it never synchronised. */
export function deviceIdOf(local: LocalStore): Promise<string | undefined> {
  return metadata(local, DEVICE_ID_KEY);
}

/** The end of a push or a pull: the hub's address and the time of the run kept locally,
 * the device's visit recorded on the hub, and the report. */
async function finishRun(
  local: LocalStore,
  hub: SyncHub,
  run: Omit<SyncReport, 'hub' | 'durationMs'> & {
    readonly name: string;
    readonly clock: () => number;
    readonly begin: number;
  },
): Promise<SyncReport> {
  const { name, clock, begin, ...report } = run;
  const nowUs = clock();
  await commitWrites(local, [
    set(keyOf(hub.hubId, 'url'), hub.displayUrl),
    set(keyOf(hub.hubId, `last_${run.direction}`), new Date(nowUs / 1000).toISOString()),
  ]);
  try {
    await touchDevice(hub, run.deviceId, name, run.direction, nowUs);
  } catch (error) {
    throw hubError(error, `cannot record the ${run.direction}`, hub);
  }
  return { ...report, hub: hub.displayUrl, durationMs: performance.now() - begin };
}

/** The event id an event carries on the hub: its own, or one made of the device, stream and version. */
export function hubEventId(deviceId: string, record: StoredEventRecord): string {
  return record.eventId ?? `wfsync:${deviceId}:${record.stream}:${record.version}`;
}

function toNewRecord(record: StoredEventRecord, eventId: string | null): NewEventRecord {
  return {
    type: record.type,
    schemaVersion: record.schemaVersion,
    timestampUs: record.timestampUs,
    ...(record.frameId === null ? {} : { frameId: record.frameId }),
    ...(eventId === null ? {} : { eventId }),
    payload: record.payload,
  };
}

async function readPage(read: AsyncIterable<StoredEventRecord>): Promise<StoredEventRecord[]> {
  const page: StoredEventRecord[] = [];
  for await (const record of read) page.push(record);
  return page;
}

function groupByStream(records: readonly StoredEventRecord[]): Map<string, StoredEventRecord[]> {
  const byStream = new Map<string, StoredEventRecord[]>();
  for (const record of records) {
    if (!record.stream.startsWith(SESSION_PREFIX)) continue;
    let list = byStream.get(record.stream);
    if (list === undefined) byStream.set(record.stream, (list = []));
    list.push(record);
  }
  return byStream;
}

function conflict(clock: () => number, fields: Omit<SyncConflict, 'at'>): SyncConflict {
  return { ...fields, at: new Date(clock() / 1000).toISOString() };
}

function checkPageSize(pageSize: number): number {
  if (!Number.isSafeInteger(pageSize) || pageSize < 1 || pageSize > 100_000) {
    throw new SyncError(
      'invalid_config',
      `pageSize: expected an integer from 1 to 100000, got ${pageSize}`,
    );
  }
  return pageSize;
}

/**
 * Pushes this device's session streams to the hub, from the local checkpoint of this
 * hub to the local head at the start. Resumable: run it again after any failure or kill.
 *
 * @example
 * ```ts
 * const report = await push({ store, db: storage.db }, hub);
 * console.log(`${report.events} event(s) pushed, ${report.conflicts.length} conflict(s)`);
 * ```
 */
export async function push(
  local: LocalStore,
  hub: SyncHub,
  options: SyncRunOptions = {},
): Promise<SyncReport> {
  const begin = performance.now();
  const clock = options.clock ?? systemMicros;
  const pageSize = checkPageSize(options.pageSize ?? DEFAULT_PAGE_SIZE);
  const deviceId = await ensureDeviceId(local);
  const name = options.deviceName ?? hostname();
  const pushedKey = keyOf(hub.hubId, 'pushed_position');
  let checkpoint = BigInt((await metadata(local, pushedKey)) ?? '0');
  const known = await loadConflicts(local, hub.hubId);
  const blocked = new Set(known.map((c) => c.stream));
  const foreign = await pulledOwners(local);
  const found: SyncConflict[] = [];
  const touched = new Set<string>();
  const mine = new Set<string>();
  const hubVersions = new Map<string, bigint>();
  let events = 0;
  let repeated = 0;
  let pages = 0;
  const target = await local.store.headPosition();
  try {
    await touchDevice(hub, deviceId, name, 'seen', clock());
  } catch (error) {
    throw hubError(error, 'cannot register this device', hub);
  }

  // Purges first: this device's go to the hub (only streams the hub knows: the name of a
  // session that never left the device is not sent), and no purged stream is pushed again.
  let purged: readonly string[];
  let hubPurged: Map<string, string>;
  try {
    const gone = await locallyPurgedStreams(local);
    // Only the hub's streams: this device's own, or copies it pulled from their owner (a
    // purged local session that merely had the name of another device's is not sent).
    const theirs = [...(await streamOwners(hub, gone))]
      .filter(([stream, owner]) => owner === deviceId || foreign.get(stream) === owner)
      .map(([stream]) => stream);
    purged = (await purgeOnHub(hub, deviceId, theirs, clock())).recorded;
    hubPurged = await hubPurges(hub);
  } catch (error) {
    if (isSyncError(error)) throw error;
    throw hubError(error, 'cannot send the purges of this device', hub);
  }

  const running = await runningSessionStreams(local);
  // The checkpoint stops before the first event of a running session (pushed when it
  // ends); reading goes on past it, and what is re-read next time is on the hub already.
  let cursor = checkpoint;
  let held: bigint | undefined;
  let heldEvents = 0;
  while (cursor < target) {
    const records = await readPage(
      local.store.storage.readAll({
        fromPosition: cursor + 1n,
        toPosition: target,
        maxCount: pageSize,
      }),
    );
    if (records.length === 0) break;
    const last = records.at(-1)!.position;
    const byStream = groupByStream(records);
    for (const [stream, list] of [...byStream]) {
      if (blocked.has(stream) || foreign.has(stream) || hubPurged.has(stream)) {
        byStream.delete(stream);
      } else if (running.has(stream)) {
        byStream.delete(stream);
        heldEvents += list.length;
        if (held === undefined || list[0]!.position < held) held = list[0]!.position;
      }
    }
    const pageConflicts: SyncConflict[] = [];
    const block = (c: Omit<SyncConflict, 'at' | 'direction'>): void => {
      const entry = conflict(clock, { ...c, direction: 'push' });
      pageConflicts.push(entry);
      blocked.add(c.stream);
      byStream.delete(c.stream);
    };
    try {
      const unclaimed = [...byStream.keys()].filter((s) => !mine.has(s));
      const owners = await claimStreams(hub, deviceId, unclaimed, clock());
      for (const stream of unclaimed) {
        const owner = owners.get(stream);
        if (owner === deviceId) mine.add(stream);
        else {
          block({
            stream,
            kind: 'stream_owner',
            message: `stream ${stream} belongs to device ${owner ?? '(unknown)'} on the hub; this device's events of it stay local`,
          });
        }
      }
      const appends: StreamAppend[] = [];
      for (const [stream, list] of byStream) {
        let version = hubVersions.get(stream);
        if (version === undefined) {
          version = await hub.storage.streamVersion(stream);
          hubVersions.set(stream, version);
        }
        const fresh = list.filter((r) => r.version > version);
        repeated += list.length - fresh.length;
        if (fresh.length === 0) continue;
        if (fresh[0]!.version !== version + 1n) {
          block({
            stream,
            kind: 'version_gap',
            message: `stream ${stream} is at version ${version} on the hub but this device's next event has version ${fresh[0]!.version}`,
          });
          continue;
        }
        appends.push({
          stream,
          expectedVersion: version === 0n ? 'no_stream' : version,
          events: fresh.map((r) => toNewRecord(r, hubEventId(deviceId, r))),
        });
      }
      let pending = appends;
      while (pending.length > 0) {
        try {
          const result = await hub.storage.appendBatch(pending);
          for (const [i, s] of result.streams.entries()) {
            hubVersions.set(s.stream, s.nextExpectedVersion);
            touched.add(s.stream);
            events += pending[i]!.events.length;
          }
          break;
        } catch (error) {
          if (isIdempotencyConflictError(error)) {
            const culprit = pending.find((a) => a.events.some((e) => e.eventId === error.eventId));
            if (culprit === undefined) throw error;
            block({
              stream: culprit.stream,
              kind: 'event_id',
              eventId: error.eventId,
              message: `event id ${error.eventId} of stream ${culprit.stream} is on the hub with other content (hub position ${error.existingPosition}); not overwritten`,
            });
            pending = pending.filter((a) => a !== culprit);
            continue;
          }
          if (isConcurrencyError(error)) hubVersions.delete(error.stream);
          throw error;
        }
      }
    } catch (error) {
      if (isSyncError(error)) throw error;
      throw hubError(error, `cannot push events after local position ${cursor}`, hub);
    }
    found.push(...pageConflicts);
    cursor = last;
    checkpoint = held === undefined ? last : held - 1n;
    const writes = [set(pushedKey, checkpoint.toString())];
    if (pageConflicts.length > 0) {
      writes.push(set(keyOf(hub.hubId, 'conflicts'), JSON.stringify([...known, ...found])));
    }
    await commitWrites(local, writes);
    pages++;
    options.onPage?.({ direction: 'push', events, checkpoint, target });
  }
  return finishRun(local, hub, {
    direction: 'push',
    deviceId,
    name,
    clock,
    begin,
    events,
    repeated,
    streams: [...touched],
    conflicts: found,
    purged,
    checkpoint,
    pages,
    held: heldEvents,
  });
}

/**
 * Pulls the other devices' session streams from the hub, from this hub's pull checkpoint
 * to the hub's head at the start. Each page and the checkpoint commit in one local
 * transaction, through the event store (so its session and user rows follow).
 *
 * @example
 * ```ts
 * const report = await pull({ store, db: storage.db }, hub);
 * console.log(`${report.events} event(s) of ${report.streams.length} session(s) pulled`);
 * ```
 */
export async function pull(
  local: LocalStore,
  hub: SyncHub,
  options: SyncRunOptions = {},
): Promise<SyncReport> {
  const begin = performance.now();
  const clock = options.clock ?? systemMicros;
  const pageSize = checkPageSize(options.pageSize ?? DEFAULT_PAGE_SIZE);
  const deviceId = await ensureDeviceId(local);
  const name = options.deviceName ?? hostname();
  const pulledKey = keyOf(hub.hubId, 'pulled_position');
  let checkpoint = BigInt((await metadata(local, pulledKey)) ?? '0');
  const known = await loadConflicts(local, hub.hubId);
  const blocked = new Set(known.map((c) => c.stream));
  const foreign = await pulledOwners(local);
  const found: SyncConflict[] = [];
  const touched = new Set<string>();
  const localVersions = new Map<string, bigint>();
  let events = 0;
  let repeated = 0;
  let pages = 0;
  let target: bigint;
  let owners: Map<string, string>;
  let hubPurged: Map<string, string>;
  try {
    await touchDevice(hub, deviceId, name, 'seen', clock());
    // Read before the head: a purge recorded later is applied by the next pull.
    hubPurged = await hubPurges(hub);
    target = await hub.storage.headPosition();
    owners = await streamOwners(hub);
  } catch (error) {
    throw hubError(error, 'cannot read the hub', hub);
  }
  // The streams other devices purged go from here too (this device's own included), and
  // their events are never pulled again. Only the hub's stream itself: this device's
  // copy of it, or its own pushed stream; a local session that merely has the name (a
  // conflict, never synchronised) stays.
  const purged = (await localStreams(local, [...hubPurged.keys()])).filter((stream) => {
    const owner = owners.get(stream);
    return owner !== undefined && (owner === deviceId || foreign.get(stream) === owner);
  });
  if (purged.length > 0) await purgeLocally(local, purged);

  while (checkpoint < target) {
    let records: StoredEventRecord[];
    try {
      records = await readPage(
        hub.storage.readAll({
          fromPosition: checkpoint + 1n,
          toPosition: target,
          maxCount: pageSize,
        }),
      );
      const unknown = [...new Set(records.map((r) => r.stream))].filter((s) => !owners.has(s));
      if (unknown.length > 0) {
        for (const [s, d] of await streamOwners(hub, unknown)) owners.set(s, d);
      }
    } catch (error) {
      throw hubError(error, `cannot read the hub after position ${checkpoint}`, hub);
    }
    if (records.length === 0) break;
    const last = records.at(-1)!.position;
    const byStream = groupByStream(records);
    const pageConflicts: SyncConflict[] = [];
    const block = (c: Omit<SyncConflict, 'at' | 'direction'>): void => {
      pageConflicts.push(conflict(clock, { ...c, direction: 'pull' }));
      blocked.add(c.stream);
      byStream.delete(c.stream);
    };
    const newOwners: RowWrite[] = [];
    const appends: PreparedAppend[] = [];
    try {
      for (const [stream, list] of [...byStream]) {
        const owner = owners.get(stream);
        if (owner === undefined || owner === deviceId || blocked.has(stream)) continue;
        if (hubPurged.has(stream)) continue;
        let version = localVersions.get(stream);
        if (version === undefined) {
          version = await local.store.streamVersion(stream);
          localVersions.set(stream, version);
        }
        if (version > 0n && foreign.get(stream) !== owner) {
          block({
            stream,
            kind: 'local_stream',
            message: `stream ${stream} of device ${owner} has the name of a session of this device; it is not pulled`,
          });
          continue;
        }
        const fresh = list.filter((r) => r.version > version);
        repeated += list.length - fresh.length;
        if (fresh.length === 0) continue;
        if (fresh[0]!.version !== version + 1n) {
          block({
            stream,
            kind: 'version_gap',
            message: `stream ${stream} is at version ${version} here but the hub's next event has version ${fresh[0]!.version}`,
          });
          continue;
        }
        if (!foreign.has(stream)) {
          foreign.set(stream, owner);
          newOwners.push(set(`${OWNER_PREFIX}${stream}`, owner));
        }
        appends.push({
          stream,
          expectedVersion: version === 0n ? 'no_stream' : version,
          records: fresh.map((r) => toNewRecord(r, r.eventId)),
        });
      }
    } catch (error) {
      throw localError(error, 'cannot read stream versions');
    }
    let pending = appends;
    for (;;) {
      const writes: RowWrite[] = [set(pulledKey, last.toString()), ...newOwners];
      if (pageConflicts.length > 0) {
        writes.push(
          set(
            keyOf(hub.hubId, 'conflicts'),
            JSON.stringify([...known, ...found, ...pageConflicts]),
          ),
        );
      }
      try {
        const result = await local.store.commitBatch(pending, { writes });
        for (const [i, a] of result.appends.entries()) {
          localVersions.set(a.stream, a.nextExpectedVersion);
          touched.add(a.stream);
          events += pending[i]!.records.length;
        }
        break;
      } catch (error) {
        if (isIdempotencyConflictError(error)) {
          const culprit = pending.find((a) => a.records.some((e) => e.eventId === error.eventId));
          if (culprit !== undefined) {
            block({
              stream: culprit.stream,
              kind: 'event_id',
              eventId: error.eventId,
              message: `event id ${error.eventId} of stream ${culprit.stream} is stored here with other content (local position ${error.existingPosition}); not overwritten`,
            });
            pending = pending.filter((a) => a !== culprit);
            continue;
          }
        }
        if (isConcurrencyError(error)) localVersions.delete(error.stream);
        throw localError(error, `cannot append the events pulled after hub position ${checkpoint}`);
      }
    }
    found.push(...pageConflicts);
    checkpoint = last;
    pages++;
    options.onPage?.({ direction: 'pull', events, checkpoint, target });
  }
  return finishRun(local, hub, {
    direction: 'pull',
    deviceId,
    name,
    clock,
    begin,
    events,
    repeated,
    streams: [...touched],
    conflicts: found,
    purged,
    checkpoint,
    pages,
    held: 0,
  });
}

/** A push, then a pull. */
export async function syncOnce(
  local: LocalStore,
  hub: SyncHub,
  options: SyncRunOptions = {},
): Promise<{ readonly push: SyncReport; readonly pull: SyncReport }> {
  const pushed = await push(local, hub, options);
  const pulled = await pull(local, hub, options);
  return { push: pushed, pull: pulled };
}

/**
 * Where this device stands with a hub: checkpoints, what is left to push, conflicts,
 * and (when `hub` is given) the hub's head and its devices. Reads only.
 */
export async function syncStatus(
  local: LocalStore,
  hubInfo: Pick<SyncHub, 'hubId' | 'displayUrl'>,
  hub?: SyncHub,
): Promise<SyncStatus> {
  const hubId = hubInfo.hubId;
  const pushedPosition = BigInt((await metadata(local, keyOf(hubId, 'pushed_position'))) ?? '0');
  const pulledPosition = BigInt((await metadata(local, keyOf(hubId, 'pulled_position'))) ?? '0');
  const conflicts = await loadConflicts(local, hubId);
  const blocked = new Set(conflicts.map((c) => c.stream));
  const foreign = await pulledOwners(local);
  const headPosition = await local.store.headPosition();
  const runningStreams = await runningSessionStreams(local);
  let pendingPush = 0;
  let running = 0;
  for await (const record of local.store.storage.readAll({ fromPosition: pushedPosition + 1n })) {
    if (
      record.stream.startsWith(SESSION_PREFIX) &&
      !foreign.has(record.stream) &&
      !blocked.has(record.stream)
    ) {
      if (runningStreams.has(record.stream)) running++;
      else pendingPush++;
    }
  }
  let remote: SyncStatus['remote'];
  if (hub !== undefined) {
    try {
      remote = {
        headPosition: await hub.storage.headPosition(),
        pulledPosition,
        devices: await hubDevices(hub),
      };
    } catch (error) {
      throw hubError(error, 'cannot read the hub', hub);
    }
  }
  return {
    deviceId: await deviceIdOf(local),
    hub: hubInfo.displayUrl,
    hubId,
    local: { headPosition, pushedPosition, pendingPush, running },
    remote,
    lastPushAt: (await metadata(local, keyOf(hubId, 'last_push'))) ?? null,
    lastPullAt: (await metadata(local, keyOf(hubId, 'last_pull'))) ?? null,
    conflicts,
  };
}
