/**
 * Checkpoints of the inline projections: the in-memory state of one session's summary or
 * one user's progress, stored as a `metadata` row in the same commit as the events it
 * covers. A store opened later starts a state from its checkpoint and folds only the
 * events after it, instead of every event of the session or of all the user's sessions.
 */
import { crc32 } from 'node:zlib';
import { decodeValue } from '@wirthforge/events';
import type { MetadataSet } from '@wirthforge/storage';
import { canonicalEncode } from './canonical-encode.js';
import type { SessionSummary } from './session-summary-projection.js';
import type { UserProgress } from './user-progress-projection.js';

/** Prefix of the `metadata` keys of checkpoints; the stream name follows. */
export const CHECKPOINT_KEY_PREFIX = 'projection-checkpoint:';

/** Version of the checkpoint format (the text before the first colon of a value). */
export const CHECKPOINT_FORMAT = 'c1';

/** Default number of events folded into a state between two of its checkpoints. */
export const DEFAULT_CHECKPOINT_EVERY = 10_000;

/** The value of a checkpoint that was withdrawn (metadata rows are never deleted). */
const WITHDRAWN = '';

/** A session's inline state as a checkpoint holds it. */
export interface SessionCheckpoint {
  readonly kind: 'session';
  readonly stream: string;
  /** Version and position of the last event folded. */
  readonly version: number;
  readonly position: number;
  readonly owner: string | null;
  /** `null` when the store kept no session rows (the summary was not folded). */
  readonly summary: SessionSummary | null;
}

/** A user's inline state as a checkpoint holds it. */
export interface UserCheckpoint {
  readonly kind: 'user';
  /** The user's own stream, `user-<id>`. */
  readonly stream: string;
  readonly userId: string;
  /** Version of the user's own stream. */
  readonly version: number;
  /** Every event of the user's streams up to this position is folded. */
  readonly position: number;
  readonly events: number;
  readonly updatedUs: number;
  /** Session streams whose events count for the user (their first start names the user). */
  readonly owned: readonly string[];
  readonly progress: UserProgress;
}

/** Any checkpoint. */
export type ProjectionCheckpoint = SessionCheckpoint | UserCheckpoint;

/** Why a stored checkpoint was not used. */
export type CheckpointRejectReason =
  | 'withdrawn'
  | 'malformed'
  | 'checksum_mismatch'
  | 'undecodable'
  | 'wrong_stream'
  | 'beyond_log'
  | 'stale';

/** A stored checkpoint that failed a check, as the store reports it. */
export interface CheckpointRejection {
  /** The stream whose state it holds. */
  readonly stream: string;
  readonly reason: Exclude<CheckpointRejectReason, 'withdrawn'>;
  readonly message: string;
}

/** A checkpoint that failed a check: the state is then folded from the first event. */
export class CheckpointRejected extends Error {
  override readonly name = 'CheckpointRejected';

  constructor(
    readonly stream: string,
    readonly reason: CheckpointRejectReason,
    message: string,
  ) {
    super(message);
  }
}

/** The `metadata` key of a stream's checkpoint. */
export function checkpointKey(stream: string): string {
  return `${CHECKPOINT_KEY_PREFIX}${stream}`;
}

/**
 * The row write that stores a checkpoint: `c1:<crc32 hex>:<base64 of the canonical
 * MessagePack>`. Canonical MessagePack keeps every number exactly (-0 too), so a state
 * started from a checkpoint hashes like the one folded from the first event.
 */
export function checkpointWrite(checkpoint: ProjectionCheckpoint): MetadataSet {
  const bytes = canonicalEncode(checkpoint);
  const checksum = (crc32(bytes) >>> 0).toString(16).padStart(8, '0');
  const base64 = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
  return {
    kind: 'metadata.set',
    key: checkpointKey(checkpoint.stream),
    value: `${CHECKPOINT_FORMAT}:${checksum}:${base64}`,
  };
}

/** The row write that withdraws a stream's checkpoint (a rebuild found it stale). */
export function withdrawCheckpointWrite(stream: string): MetadataSet {
  return { kind: 'metadata.set', key: checkpointKey(stream), value: WITHDRAWN };
}

/**
 * Reads a stored checkpoint of `stream`: checks its format, its checksum, that it
 * decodes to a checkpoint of that stream and kind. Throws {@link CheckpointRejected}
 * saying which check failed.
 */
export function decodeCheckpoint<K extends ProjectionCheckpoint['kind']>(
  stream: string,
  kind: K,
  value: string,
): Extract<ProjectionCheckpoint, { kind: K }> {
  if (value === WITHDRAWN) throw new CheckpointRejected(stream, 'withdrawn', 'withdrawn');
  const first = value.indexOf(':');
  const second = value.indexOf(':', first + 1);
  if (first < 0 || second < 0 || value.slice(0, first) !== CHECKPOINT_FORMAT) {
    throw new CheckpointRejected(
      stream,
      'malformed',
      `checkpoint of "${stream}" is not in format ${CHECKPOINT_FORMAT}`,
    );
  }
  const expected = value.slice(first + 1, second);
  const bytes = Buffer.from(value.slice(second + 1), 'base64');
  const actual = (crc32(bytes) >>> 0).toString(16).padStart(8, '0');
  if (actual !== expected) {
    throw new CheckpointRejected(
      stream,
      'checksum_mismatch',
      `checkpoint of "${stream}": checksum of its ${bytes.byteLength} bytes is ${actual}, it says ${expected}`,
    );
  }
  let decoded: unknown;
  try {
    decoded = decodeValue(bytes);
  } catch (error) {
    throw new CheckpointRejected(
      stream,
      'undecodable',
      `checkpoint of "${stream}": ${(error as Error).message}`,
    );
  }
  const body = decoded as Partial<ProjectionCheckpoint> | null;
  if (
    typeof body !== 'object' ||
    body === null ||
    body.kind !== kind ||
    typeof body.version !== 'number' ||
    typeof body.position !== 'number' ||
    (kind === 'session'
      ? typeof (body as Partial<SessionCheckpoint>).summary !== 'object'
      : typeof (body as Partial<UserCheckpoint>).progress !== 'object' ||
        !Array.isArray((body as Partial<UserCheckpoint>).owned))
  ) {
    throw new CheckpointRejected(
      stream,
      'undecodable',
      `checkpoint of "${stream}" is not a ${kind} checkpoint`,
    );
  }
  if (body.stream !== stream) {
    throw new CheckpointRejected(
      stream,
      'wrong_stream',
      `checkpoint under "${stream}" holds "${String(body.stream)}"`,
    );
  }
  return body as Extract<ProjectionCheckpoint, { kind: K }>;
}
