/**
 * Messages between the storage (main thread) and its writer (worker thread). A batch
 * crosses as one message: stream and type names once, the events' numeric fields in one
 * Float64Array and every payload packed into one ArrayBuffer, both transferred rather
 * than copied. No per-event objects or promises cross the boundary.
 */
import { streamKindOf } from '@wirthforge/storage';
import type {
  ExpectedVersion,
  RowWrite,
  StorageErrorJSON,
  StreamAppend,
  StreamKind,
} from '@wirthforge/storage';

import type { SqlitePragmaReport, WriterPragmaOptions } from './sqlite-pragmas.js';
import type { SealOptions } from './sqlite-sealer.js';

/** Numbers per event in {@link AppendRequest.fields}. */
export const FIELDS_PER_EVENT = 5;
/** Offset of the type index (into {@link AppendRequest.types}) in one event's fields. */
export const FIELD_TYPE = 0;
/** Offset of the schema version in one event's fields. */
export const FIELD_SCHEMA_VERSION = 1;
/** Offset of the timestamp (µs) in one event's fields. */
export const FIELD_TIMESTAMP = 2;
/** Offset of the frame id in one event's fields; NaN when the event has none. */
export const FIELD_FRAME = 3;
/** Offset of the payload length in one event's fields. */
export const FIELD_PAYLOAD_LENGTH = 4;

/** One stream of a batch. */
export interface EncodedStream {
  readonly name: string;
  readonly kind: StreamKind;
  readonly expected: ExpectedVersion;
  /** Number of events of this stream (they follow the previous stream's). */
  readonly count: number;
}

/** An append batch, packed. */
export interface AppendRequest {
  readonly type: 'append';
  readonly id: number;
  readonly streams: readonly EncodedStream[];
  /** Distinct type names; events refer to them by index. */
  readonly types: readonly string[];
  readonly fields: Float64Array;
  /** Event ids by event index, or null when no event of the batch has one. */
  readonly eventIds: readonly (string | null)[] | null;
  /** Payloads back to back, in event order. */
  readonly payloads: ArrayBuffer;
  readonly writes: readonly RowWrite[];
}

/** Checkpoint modes of `PRAGMA wal_checkpoint`. */
export type CheckpointMode = 'passive' | 'full' | 'restart' | 'truncate';

/** Runs a WAL checkpoint now. */
export interface CheckpointRequest {
  readonly type: 'checkpoint';
  readonly id: number;
  readonly mode: CheckpointMode;
}

/** Finishes: checkpoints, closes the connection and lets the worker exit. */
export interface CloseRequest {
  readonly type: 'close';
  readonly id: number;
}

/** Messages to the writer. */
export type WriterRequest = AppendRequest | CheckpointRequest | CloseRequest;

/**
 * The first message to the writer: the schema is migrated, open the connection. The
 * thread is started before the migration so that loading its modules overlaps it.
 */
export interface OpenRequest {
  readonly type: 'open';
}

/** What one row write did (ids cross as numbers or bigints). */
export interface EncodedWriteResult {
  readonly changes: number;
  readonly insertedId: number | bigint | null;
}

/** A committed batch. */
export interface AppendResponse {
  readonly type: 'appended';
  readonly id: number;
  /** Position of each event of the request, in request order. */
  readonly positions: Float64Array;
  /** Each stream's version after the batch, in request order. */
  readonly nextVersions: Float64Array;
  readonly lastPosition: number;
  readonly writes: readonly EncodedWriteResult[];
}

/** The result of `PRAGMA wal_checkpoint`. */
export interface CheckpointResult {
  /** True when the checkpoint could not finish because a reader or writer was busy. */
  readonly busy: boolean;
  /** Frames in the WAL. */
  readonly logFrames: number;
  /** Frames copied back into the database. */
  readonly checkpointedFrames: number;
}

/** A finished checkpoint. */
export interface CheckpointResponse {
  readonly type: 'checkpointed';
  readonly id: number;
  readonly result: CheckpointResult;
}

/** The writer closed its connection. */
export interface ClosedResponse {
  readonly type: 'closed';
  readonly id: number;
}

/** A request failed; nothing of it was committed. */
export interface FailedResponse {
  readonly type: 'failed';
  readonly id: number;
  readonly error: StorageErrorJSON;
}

/** The writer opened its connection and is ready. */
export interface ReadyMessage {
  readonly type: 'ready';
  readonly pragmas: SqlitePragmaReport;
  readonly headPosition: number;
}

/** The writer could not start. */
export interface InitFailedMessage {
  readonly type: 'init-failed';
  readonly error: StorageErrorJSON;
}

/** Messages from the writer. */
export type WriterResponse =
  | AppendResponse
  | CheckpointResponse
  | ClosedResponse
  | FailedResponse
  | ReadyMessage
  | InitFailedMessage;

/** What the writer worker starts with. */
export interface WriterWorkerData {
  readonly path: string;
  readonly pragmas: WriterPragmaOptions;
  /** How often the checkpoint policy runs, in ms (0 disables it). */
  readonly checkpointIntervalMs: number;
  /** Idle time after the last commit before the WAL is truncated, in ms. */
  readonly idleCheckpointMs: number;
  /** A group commit stops taking in queued batches once it holds this many events. */
  readonly maxGroupEvents: number;
  /** When to seal hot rows into segments, in idle turns; `false` never seals. */
  readonly seal: SealOptions | false;
}

/** A request and what to transfer with it. */
export interface Encoded<T> {
  readonly message: T;
  readonly transfer: ArrayBuffer[];
}

/**
 * Packs a validated batch into one {@link AppendRequest}.
 *
 * @example
 * ```ts
 * const { message, transfer } = encodeAppendRequest(1, appends, writes);
 * worker.postMessage(message, transfer);
 * ```
 */
export function encodeAppendRequest(
  id: number,
  appends: readonly StreamAppend[],
  writes: readonly RowWrite[],
): Encoded<AppendRequest> {
  let total = 0;
  let bytes = 0;
  for (const append of appends) {
    total += append.events.length;
    for (const event of append.events) bytes += event.payload.byteLength;
  }
  const fields = new Float64Array(total * FIELDS_PER_EVENT);
  const payloads = new ArrayBuffer(bytes);
  const payloadView = new Uint8Array(payloads);
  const typeIndex = new Map<string, number>();
  const types: string[] = [];
  let eventIds: (string | null)[] | null = null;
  const streams: EncodedStream[] = [];
  let e = 0;
  let offset = 0;
  for (const append of appends) {
    streams.push({
      name: append.stream,
      kind: append.kind ?? streamKindOf(append.stream),
      expected: append.expectedVersion,
      count: append.events.length,
    });
    for (const event of append.events) {
      let t = typeIndex.get(event.type);
      if (t === undefined) {
        t = types.length;
        types.push(event.type);
        typeIndex.set(event.type, t);
      }
      const base = e * FIELDS_PER_EVENT;
      fields[base + FIELD_TYPE] = t;
      fields[base + FIELD_SCHEMA_VERSION] = event.schemaVersion;
      fields[base + FIELD_TIMESTAMP] = event.timestampUs;
      fields[base + FIELD_FRAME] = event.frameId ?? Number.NaN;
      fields[base + FIELD_PAYLOAD_LENGTH] = event.payload.byteLength;
      payloadView.set(event.payload, offset);
      offset += event.payload.byteLength;
      if (event.eventId !== undefined) {
        eventIds ??= new Array<string | null>(total).fill(null);
        eventIds[e] = event.eventId;
      }
      e++;
    }
  }
  return {
    message: { type: 'append', id, streams, types, fields, eventIds, payloads, writes },
    transfer: [fields.buffer, payloads],
  };
}
