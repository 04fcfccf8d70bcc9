import { describe, expect, it } from 'vitest';

import { scanSqliteWal, walChecksum } from './sqlite-wal-check.js';

const PAGE = 512;

interface FrameSpec {
  readonly commit?: boolean;
  /** Salts of another WAL generation. */
  readonly oldSalts?: boolean;
}

/**
 * A WAL as SQLite writes it (big-endian checksums), with frames whose checksums chain as
 * the format says. The checksum itself is checked against SQLite's own WALs in
 * `test/wal-damage.sqlite.integration.test.ts`.
 */
function makeWal(frames: readonly FrameSpec[]): Buffer {
  const wal = Buffer.alloc(32 + frames.length * (24 + PAGE));
  wal.writeUInt32BE(0x377f0683, 0);
  wal.writeUInt32BE(3007000, 4);
  wal.writeUInt32BE(PAGE, 8);
  wal.writeUInt32BE(7, 12);
  wal.writeUInt32BE(0x11111111, 16);
  wal.writeUInt32BE(0x22222222, 20);
  let [s0, s1] = walChecksum(wal, 0, 24, true);
  wal.writeUInt32BE(s0, 24);
  wal.writeUInt32BE(s1, 28);
  frames.forEach((spec, i) => {
    const at = 32 + i * (24 + PAGE);
    wal.writeUInt32BE(i + 1, at);
    wal.writeUInt32BE(spec.commit === true ? i + 1 : 0, at + 4);
    wal.writeUInt32BE(spec.oldSalts === true ? 0x10101010 : 0x11111111, at + 8);
    wal.writeUInt32BE(0x22222222, at + 12);
    wal.fill(i + 1, at + 24, at + 24 + PAGE);
    [s0, s1] = walChecksum(wal, at, 8, true, s0, s1);
    [s0, s1] = walChecksum(wal, at + 24, PAGE, true, s0, s1);
    wal.writeUInt32BE(s0, at + 16);
    wal.writeUInt32BE(s1, at + 20);
  });
  return wal;
}

const frameAt = (i: number): number => 32 + i * (24 + PAGE);

describe('scanSqliteWal', () => {
  it('keeps frames up to the last commit frame; a transaction without its commit is not damage', () => {
    const scan = scanSqliteWal(makeWal([{}, { commit: true }, { commit: true }, {}, {}]));
    expect(scan).toMatchObject({
      headerValid: true,
      pageSize: PAGE,
      salts: '1111111122222222',
      frames: 5,
      replayedFrames: 3,
      commits: 2,
      firstBadFrame: undefined,
      discardedCommits: 0,
      tailBytes: 0,
    });
  });

  it('names the first frame whose checksum fails and counts the commits after it', () => {
    const wal = makeWal([{ commit: true }, {}, { commit: true }, { commit: true }, {}]);
    wal[frameAt(1) + 24 + 7]! ^= 0x40;
    const scan = scanSqliteWal(wal);
    expect(scan.firstBadFrame).toBe(2);
    expect(scan.replayedFrames).toBe(1);
    expect(scan.commits).toBe(1);
    expect(scan.discardedCommits).toBe(2);
  });

  it('does not count frames of an older WAL generation after the break', () => {
    const wal = makeWal([{ commit: true }, { commit: true, oldSalts: true }, { commit: true }]);
    // The stale frame breaks the chain; the frame after it has the current salts.
    const scan = scanSqliteWal(wal);
    expect(scan.firstBadFrame).toBe(2);
    expect(scan.discardedCommits).toBe(1);
    const stale = scanSqliteWal(makeWal([{ commit: true }, { commit: true, oldSalts: true }]));
    expect(stale.firstBadFrame).toBe(2);
    expect(stale.discardedCommits).toBe(0);
  });

  it('treats a frame cut short at the end as a crash, not damage', () => {
    const wal = makeWal([{ commit: true }, { commit: true }]);
    const scan = scanSqliteWal(wal.subarray(0, wal.length - 100));
    expect(scan.frames).toBe(1);
    expect(scan.tailBytes).toBe(24 + PAGE - 100);
    expect(scan.firstBadFrame).toBeUndefined();
    expect(scan.discardedCommits).toBe(0);
  });

  it('names a damaged header: every commit in the file is dropped', () => {
    const wal = makeWal([{ commit: true }, {}, { commit: true }]);
    wal[17]! ^= 0x01;
    const scan = scanSqliteWal(wal);
    expect(scan.headerValid).toBe(false);
    expect(scan.firstBadFrame).toBe(1);
    expect(scan.discardedCommits).toBe(2);
    expect(scanSqliteWal(wal.subarray(0, 20)).frames).toBe(0);
  });
});

describe('walChecksum', () => {
  /** The format's definition, word by word (little-endian words). */
  function reference(data: Uint8Array, offset: number, length: number, s0: number, s1: number) {
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    let a = s0;
    let b = s1;
    for (let i = offset; i < offset + length; i += 8) {
      a = (a + view.getUint32(i, true) + b) >>> 0;
      b = (b + view.getUint32(i + 4, true) + a) >>> 0;
    }
    return [a, b];
  }

  it('sums little-endian words the same through aligned and unaligned views', () => {
    const backing = new Uint8Array(4096 + 3);
    let x = 0x9e3779b9;
    for (let i = 0; i < backing.length; i++) {
      x = (Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + i) >>> 0;
      backing[i] = x & 0xff;
    }
    for (const shift of [0, 1, 2, 3]) {
      const data = backing.subarray(shift, shift + 4096);
      for (const [offset, length] of [
        [0, 24],
        [32, 8],
        [56, 1024],
        [4, 4088],
      ] as const) {
        const expected = reference(data, offset, length, 0x12345678, 0xfedcba98);
        expect(walChecksum(data, offset, length, false, 0x12345678, 0xfedcba98)).toEqual(expected);
      }
    }
  });
});
