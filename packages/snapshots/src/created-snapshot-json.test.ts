import { describe, expect, it } from 'vitest';

import { createdSnapshotJson } from './created-snapshot-json.js';

describe('createdSnapshotJson', () => {
  it('keeps every field but the timing, with positions and versions as numbers', () => {
    const json = createdSnapshotJson({
      id: 7,
      stream: 'session-20250817T194800Z_001',
      kind: 'incremental',
      baseId: 5,
      reason: 'manual',
      streamVersion: 1200n,
      position: 4321n,
      sizeBytes: 310,
      rawBytes: 990,
      checksum: 0xdeadbeef,
      eventsSinceLast: 200,
      markerStream: 'snapshots:session-20250817T194800Z_001',
      markerPosition: 4322n,
      durationMs: 3.5,
    });
    expect(json).toEqual({
      id: 7,
      stream: 'session-20250817T194800Z_001',
      kind: 'incremental',
      baseId: 5,
      reason: 'manual',
      streamVersion: 1200,
      position: 4321,
      sizeBytes: 310,
      rawBytes: 990,
      checksum: 0xdeadbeef,
      eventsSinceLast: 200,
      markerStream: 'snapshots:session-20250817T194800Z_001',
      markerPosition: 4322,
    });
    expect(JSON.parse(JSON.stringify(json))).toEqual(json);
  });
});
