import { pack, unpack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import {
  SNAPSHOT_MAGIC,
  decodeSnapshot,
  encodeSnapshot,
  snapshotChecksum,
  type SnapshotBody,
} from './snapshot-codec.js';

const body: SnapshotBody = {
  stream: 'session-20250817T194800Z_001',
  kind: 'full',
  schemaVersion: 1,
  streamVersion: 120,
  position: 4000,
  baseId: null,
  baseChecksum: null,
  projections: ['energy'],
  state: { energy: { total: -0, sum: 0.1 + 0.2, big: 2 ** 53 - 1, list: [1, 'x', null, true] } },
  delta: null,
  meta: { events: 120, maxFrameId: 77, maxTimestamp: '2025-08-17T19:48:00.000000Z' },
};

describe('snapshot codec', () => {
  it('round-trips a body exactly, -0 included, where msgpackr alone would lose it', () => {
    expect(Object.is(unpack(pack(-0)) as number, -0)).toBe(false);
    const encoded = encodeSnapshot(body);
    expect([...encoded.bytes.subarray(0, 4)]).toEqual([...SNAPSHOT_MAGIC]);
    expect(encoded.checksum).toBe(snapshotChecksum(encoded.bytes));
    const decoded = decodeSnapshot(encoded.bytes);
    expect(decoded).toEqual(body);
    expect(Object.is((decoded.state!.energy as { total: number }).total, -0)).toBe(true);
  });

  it('compresses a repetitive state', () => {
    const big = {
      ...body,
      state: { list: Array.from({ length: 2000 }, (_, i) => ({ i: i % 10 })) },
    };
    const encoded = encodeSnapshot(big);
    expect(encoded.bytes.length * 5).toBeLessThan(encoded.rawBytes);
  });

  it('says what is wrong with bytes that are not a snapshot', () => {
    const bytes = encodeSnapshot(body).bytes;
    expect(() => decodeSnapshot(bytes.subarray(0, 3))).toThrow(/too short/);
    expect(() => decodeSnapshot(new Uint8Array(bytes.length))).toThrow(/WFSN/);
    const flipped = bytes.slice();
    flipped[10]! ^= 0xff;
    expect(() => decodeSnapshot(flipped)).toThrow();
    const truncated = bytes.subarray(0, bytes.length - 5);
    expect(() => decodeSnapshot(truncated)).toThrow();
    const { state: _state, ...noState } = body;
    const wrong = encodeSnapshot({ ...noState, state: null });
    expect(() => decodeSnapshot(wrong.bytes)).toThrow(/without its state/);
  });
});
