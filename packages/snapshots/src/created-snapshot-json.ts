import type { CreatedSnapshot } from './snapshot-store.js';

/**
 * A {@link CreatedSnapshot} as JSON: the same fields, positions and versions as numbers
 * (exact below 2^53), without the timing. What the daemon's `POST /v1/admin/snapshots`
 * answers and what `wfstate snapshot create --json` prints, whichever of them wrote it.
 */
export interface CreatedSnapshotJson {
  readonly id: number;
  readonly stream: string;
  readonly kind: 'full' | 'incremental';
  readonly baseId: number | null;
  readonly reason: string;
  readonly streamVersion: number;
  readonly position: number;
  readonly sizeBytes: number;
  readonly rawBytes: number;
  readonly checksum: number;
  readonly eventsSinceLast: number;
  readonly markerStream: string;
  readonly markerPosition: number;
}

/**
 * Maps a created snapshot to {@link CreatedSnapshotJson}.
 *
 * @example
 * ```ts
 * const created = await snapshots.create(stream, { reason: 'manual' });
 * console.log(JSON.stringify(createdSnapshotJson(created)));
 * ```
 */
export function createdSnapshotJson(snapshot: CreatedSnapshot): CreatedSnapshotJson {
  return {
    id: snapshot.id,
    stream: snapshot.stream,
    kind: snapshot.kind,
    baseId: snapshot.baseId,
    reason: snapshot.reason,
    streamVersion: Number(snapshot.streamVersion),
    position: Number(snapshot.position),
    sizeBytes: snapshot.sizeBytes,
    rawBytes: snapshot.rawBytes,
    checksum: snapshot.checksum,
    eventsSinceLast: snapshot.eventsSinceLast,
    markerStream: snapshot.markerStream,
    markerPosition: Number(snapshot.markerPosition),
  };
}
