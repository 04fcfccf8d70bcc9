import { crc32 } from 'node:zlib';
import { decodeValue } from '@wirthforge/events';
import { canonicalEncode } from '@wirthforge/eventstore';
import { deflateSync, inflateSync } from 'fflate';
import type { StructuralDelta } from './structural-delta.js';

/**
 * Version of the snapshot body this code writes. A snapshot of an older version is
 * upcast on load ({@link SnapshotUpcasters}) or, without an upcaster, skipped for a
 * replay; a newer one is never loaded.
 */
export const SNAPSHOT_SCHEMA_VERSION = 1;

/** The first bytes of every snapshot blob: `WFSN`. */
export const SNAPSHOT_MAGIC: Uint8Array = Uint8Array.of(0x57, 0x46, 0x53, 0x4e);

/**
 * What the events a snapshot covers looked like, beyond the projections' states: where
 * a point-in-time read by frame or by time may start from it.
 */
export interface StreamMeta {
  /** Events folded (the stream version). */
  events: number;
  /** Highest `frame_id` among the events; null when none had one. */
  maxFrameId: number | null;
  /** Latest `timestamp` among the events (ISO-8601, microseconds); null before the first. */
  maxTimestamp: string | null;
}

/** The decoded contents of a snapshot blob. */
export interface SnapshotBody {
  /** Stream whose events the state folds. */
  stream: string;
  kind: 'full' | 'incremental';
  /** Version of this body's layout and of the states in it. */
  schemaVersion: number;
  /** Stream version of the last event the state includes. */
  streamVersion: number;
  /** Global position of that event. */
  position: number;
  /** For an incremental snapshot: the full snapshot it is a delta of, and that one's checksum. */
  baseId: number | null;
  baseChecksum: number | null;
  /** The projections whose states it holds, by name. */
  projections: string[];
  /** A full snapshot's states, by projection name; null in an incremental one. */
  state: Record<string, unknown> | null;
  /** An incremental snapshot's delta from its base's states; null in a full one. */
  delta: StructuralDelta | null;
  meta: StreamMeta;
}

/** A snapshot body as bytes, with the length before compression. */
export interface EncodedSnapshot {
  readonly bytes: Uint8Array;
  readonly rawBytes: number;
  readonly checksum: number;
}

/** The checksum stored with every snapshot: CRC-32 of the whole blob. */
export function snapshotChecksum(bytes: Uint8Array): number {
  return crc32(bytes) >>> 0;
}

/**
 * Encodes a snapshot body: `WFSN`, then the deflated canonical MessagePack of the body
 * (the writer of `@wirthforge/events`, which keeps -0 and every number exact, where
 * msgpackr's own packer writes -0 as the integer 0).
 */
export function encodeSnapshot(body: SnapshotBody): EncodedSnapshot {
  const raw = canonicalEncode(body);
  const compressed = deflateSync(raw, { level: 6 });
  const bytes = new Uint8Array(SNAPSHOT_MAGIC.length + compressed.length);
  bytes.set(SNAPSHOT_MAGIC, 0);
  bytes.set(compressed, SNAPSHOT_MAGIC.length);
  return { bytes, rawBytes: raw.length, checksum: snapshotChecksum(bytes) };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const isCount = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

/**
 * Decodes a snapshot blob (after its checksum was verified). Throws an `Error` saying
 * what is wrong: no magic, a deflate stream that does not inflate, MessagePack that
 * does not decode, or a body without the fields of a snapshot.
 */
export function decodeSnapshot(bytes: Uint8Array): SnapshotBody {
  if (bytes.length < SNAPSHOT_MAGIC.length + 2) {
    throw new Error(`blob of ${bytes.length} bytes is too short for a snapshot`);
  }
  for (let i = 0; i < SNAPSHOT_MAGIC.length; i++) {
    if (bytes[i] !== SNAPSHOT_MAGIC[i]) throw new Error('blob does not start with WFSN');
  }
  let raw: Uint8Array;
  try {
    raw = inflateSync(bytes.subarray(SNAPSHOT_MAGIC.length));
  } catch (error) {
    throw new Error(`compressed body does not inflate: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const body: unknown = decodeValue(raw);
  if (!isRecord(body)) throw new Error('body is not a map');
  const meta = body.meta;
  if (
    typeof body.stream !== 'string' ||
    (body.kind !== 'full' && body.kind !== 'incremental') ||
    !isCount(body.schemaVersion) ||
    !isCount(body.streamVersion) ||
    !isCount(body.position) ||
    !Array.isArray(body.projections) ||
    !body.projections.every((name) => typeof name === 'string') ||
    !isRecord(meta) ||
    !isCount(meta.events)
  ) {
    throw new Error('body lacks the fields of a snapshot');
  }
  if (
    body.kind === 'full'
      ? !isRecord(body.state)
      : !Array.isArray(body.delta) || !isCount(body.baseId)
  ) {
    throw new Error(
      `a ${body.kind} snapshot without its ${body.kind === 'full' ? 'state' : 'delta and base'}`,
    );
  }
  return {
    stream: body.stream,
    kind: body.kind,
    schemaVersion: body.schemaVersion,
    streamVersion: body.streamVersion,
    position: body.position,
    baseId: isCount(body.baseId) ? body.baseId : null,
    baseChecksum: isCount(body.baseChecksum) ? body.baseChecksum : null,
    projections: body.projections,
    state: body.kind === 'full' ? (body.state as Record<string, unknown>) : null,
    delta: body.kind === 'incremental' ? (body.delta as StructuralDelta) : null,
    meta: {
      events: meta.events,
      maxFrameId: typeof meta.maxFrameId === 'number' ? meta.maxFrameId : null,
      maxTimestamp: typeof meta.maxTimestamp === 'string' ? meta.maxTimestamp : null,
    },
  };
}
