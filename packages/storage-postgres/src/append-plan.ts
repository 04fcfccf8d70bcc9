/**
 * The decisions of an append, made in memory against the state one query read under the
 * append lock: which events are repeats of stored ones (by event id), which are new and
 * at which positions and versions, whether each stream's expected version holds, and the
 * streams and event types the new events need. A group of batches is planned one batch
 * after the other against the same state, so a later batch sees what an earlier one of
 * the group wrote; a batch whose plan throws leaves the state as it was.
 */
import {
  ConcurrencyError,
  IdempotencyConflictError,
  eventChecksum,
  expectedVersionMatches,
  rowWriteStreams,
  streamKindOf,
} from '@wirthforge/storage';
import type {
  NewEventRecord,
  RowWrite,
  StreamAppend,
  StreamAppendResult,
  StreamKind,
} from '@wirthforge/storage';

/** An event already stored under a client id, as the idempotency check compares it. */
export interface StoredById {
  readonly position: number;
  readonly stream: string;
  readonly type: string;
  readonly schemaVersion: number;
  readonly timestampUs: number;
  readonly frameId: number | null;
  readonly payload: Uint8Array;
}

/** What the append lock's holder knows of the store; {@link planAppend} moves it on. */
export interface AppendState {
  /** Highest position stored (hot or sealed). */
  head: number;
  /** Id the next new stream gets. */
  nextStreamId: number;
  /** Id the next new event type gets. */
  nextTypeId: number;
  /** Id and version of every stream the group names (missing: not stored yet). */
  readonly streams: Map<string, { readonly id: number; version: number }>;
  /** Ids of the event types known (stored or created by the group). */
  readonly types: Map<string, number>;
  /** Stored events of the ids the group carries. */
  readonly stored: Map<string, StoredById>;
}

/** A new row of `streams`. */
export interface NewStreamRow {
  readonly id: number;
  readonly name: string;
  readonly kind: StreamKind;
  version: number;
  readonly createdUs: number;
}

/**
 * The rows a group writes, as columns (one array per column, for `unnest`): batches
 * planned one after the other add to the same columns.
 */
export class GroupRows {
  readonly position: number[] = [];
  readonly streamId: number[] = [];
  readonly version: number[] = [];
  readonly typeId: number[] = [];
  readonly schemaVersion: number[] = [];
  readonly timestampUs: number[] = [];
  readonly frameId: (number | null)[] = [];
  readonly eventId: (string | null)[] = [];
  readonly payload: Buffer[] = [];
  readonly checksum: number[] = [];
  /** New streams by id (their version is the last the group gives them). */
  readonly newStreams = new Map<number, NewStreamRow>();
  readonly newTypes: { readonly id: number; readonly name: string }[] = [];
  /** Final version of each existing stream the group appends to. */
  readonly versions = new Map<number, number>();

  /** Whether the group writes nothing (every event a repeat). */
  get empty(): boolean {
    return this.position.length === 0 && this.newStreams.size === 0 && this.newTypes.length === 0;
  }
}

/** The outcome of one planned batch. */
export interface PlannedBatch {
  readonly streams: StreamAppendResult[];
  readonly lastPosition: number;
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return toBuffer(a).equals(b);
}

/** Names the fields in which `event` (to be appended to `stream`) differs from `other`. */
function difference(stream: string, event: NewEventRecord, other: StoredById): string | undefined {
  const names: string[] = [];
  if (other.stream !== stream) names.push('stream');
  if (other.type !== event.type) names.push('type');
  if (other.schemaVersion !== event.schemaVersion) names.push('schemaVersion');
  if (other.timestampUs !== event.timestampUs) names.push('timestampUs');
  if (other.frameId !== (event.frameId ?? null)) names.push('frameId');
  if (!bytesEqual(other.payload, event.payload)) names.push('payload');
  return names.length === 0
    ? undefined
    : `${names.join(', ')} differ${names.length === 1 ? 's' : ''}`;
}

function asStored(stream: string, event: NewEventRecord, position: number): StoredById {
  return {
    position,
    stream,
    type: event.type,
    schemaVersion: event.schemaVersion,
    timestampUs: event.timestampUs,
    frameId: event.frameId ?? null,
    payload: event.payload,
  };
}

/**
 * Plans one batch against `state` and adds its rows to `rows`. Throws
 * `IdempotencyConflictError` or `ConcurrencyError` before it changes anything, so a batch
 * that fails leaves `state` and `rows` as they were.
 */
export function planAppend(
  state: AppendState,
  rows: GroupRows,
  appends: readonly StreamAppend[],
  writes: readonly RowWrite[],
  nowUs: number,
): PlannedBatch {
  // Decide every event: a repeat (its original position), or new. Conflicts first, then
  // the expected version (a stream whose events are all repeats skips it).
  const batchIds = new Map<string, StoredById>();
  const plans: { append: StreamAppend; positions: number[]; fresh: number[]; next: number }[] = [];
  let position = state.head;
  for (const append of appends) {
    const current = state.streams.get(append.stream)?.version ?? 0;
    const positions = new Array<number>(append.events.length).fill(0);
    const fresh: number[] = [];
    /** Index of the first event of this append with each new id. */
    const firstWithId = new Map<string, number>();
    const repeatOf = new Map<number, number>();
    append.events.forEach((event, i) => {
      const id = event.eventId;
      if (id === undefined) {
        fresh.push(i);
        return;
      }
      const prior = state.stored.get(id);
      if (prior !== undefined) {
        const differs = difference(append.stream, event, prior);
        if (differs !== undefined) {
          throw new IdempotencyConflictError(id, BigInt(prior.position), differs);
        }
        positions[i] = prior.position;
        return;
      }
      const sameAppend = firstWithId.get(id);
      const earlier =
        sameAppend === undefined
          ? batchIds.get(id)
          : asStored(append.stream, append.events[sameAppend]!, 0);
      if (earlier !== undefined) {
        const differs = difference(append.stream, event, earlier);
        if (differs !== undefined) {
          throw new IdempotencyConflictError(id, null, `${differs}, earlier in this batch`);
        }
        // Same content: a stream differs otherwise, so this is the same append.
        if (sameAppend !== undefined) repeatOf.set(i, sameAppend);
        return;
      }
      firstWithId.set(id, i);
      fresh.push(i);
    });
    const allRepeats = append.events.length > 0 && fresh.length === 0;
    if (!allRepeats && !expectedVersionMatches(append.expectedVersion, BigInt(current))) {
      throw new ConcurrencyError(
        append.stream,
        append.expectedVersion === 'any' ? 0n : append.expectedVersion,
        BigInt(current),
      );
    }
    fresh.forEach((i, k) => {
      positions[i] = position + k + 1;
    });
    repeatOf.forEach((first, i) => {
      positions[i] = positions[first]!;
    });
    for (const [id, i] of firstWithId) {
      batchIds.set(id, asStored(append.stream, append.events[i]!, positions[i]!));
    }
    position += fresh.length;
    plans.push({ append, positions, fresh, next: current + fresh.length });
  }

  // Nothing below throws: the batch is accepted, and the state moves on.
  const createStream = (name: string, kind: StreamKind, version: number): void => {
    const id = state.nextStreamId++;
    state.streams.set(name, { id, version });
    rows.newStreams.set(id, { id, name, kind, version, createdUs: nowUs });
  };
  for (const plan of plans) {
    if (plan.fresh.length > 0 && !state.streams.has(plan.append.stream)) {
      createStream(
        plan.append.stream,
        plan.append.kind ?? streamKindOf(plan.append.stream),
        plan.next,
      );
    }
  }
  for (const write of writes) {
    for (const name of rowWriteStreams(write)) {
      if (!state.streams.has(name)) {
        createStream(name, write.kind === 'session.upsert' ? 'session' : streamKindOf(name), 0);
      }
    }
  }

  for (const plan of plans) {
    if (plan.fresh.length === 0) continue;
    const stream = state.streams.get(plan.append.stream)!;
    const nameBytes = Buffer.from(plan.append.stream, 'utf8');
    let version = plan.next - plan.fresh.length;
    for (const i of plan.fresh) {
      const event = plan.append.events[i]!;
      version++;
      const pos = plan.positions[i]!;
      const frameId = event.frameId ?? null;
      const eventId = event.eventId ?? null;
      let typeId = state.types.get(event.type);
      if (typeId === undefined) {
        typeId = state.nextTypeId++;
        state.types.set(event.type, typeId);
        rows.newTypes.push({ id: typeId, name: event.type });
      }
      rows.position.push(pos);
      rows.streamId.push(stream.id);
      rows.version.push(version);
      rows.typeId.push(typeId);
      rows.schemaVersion.push(event.schemaVersion);
      rows.timestampUs.push(event.timestampUs);
      rows.frameId.push(frameId);
      rows.eventId.push(eventId);
      rows.payload.push(toBuffer(event.payload));
      rows.checksum.push(
        eventChecksum({
          position: pos,
          stream: nameBytes,
          version,
          type: event.type,
          schemaVersion: event.schemaVersion,
          timestampUs: event.timestampUs,
          frameId,
          eventId,
          payload: event.payload,
        }),
      );
      if (eventId !== null) state.stored.set(eventId, asStored(plan.append.stream, event, pos));
    }
    stream.version = plan.next;
    const created = rows.newStreams.get(stream.id);
    if (created === undefined) rows.versions.set(stream.id, plan.next);
    else created.version = plan.next;
  }
  state.head = position;

  return {
    streams: plans.map((plan) => ({
      stream: plan.append.stream,
      nextExpectedVersion: BigInt(plan.next),
      positions: plan.positions.map((p) => BigInt(p)),
    })),
    lastPosition: position,
  };
}
