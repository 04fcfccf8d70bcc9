import { describe, expect, it } from 'vitest';

import { scanSqliteWal, walChecksum } from './sqlite-wal-check.js';
import { repairSqliteWal } from './sqlite-wal-salvage.js';

const PAGE = 512;
const FRAME = 24 + PAGE;

interface FrameSpec {
  readonly page: number;
  readonly commit?: boolean;
}

/** A WAL whose frames chain as the format says (little-endian checksums, as on x86). */
function makeWal(frames: readonly FrameSpec[]): Buffer {
  const wal = Buffer.alloc(32 + frames.length * FRAME);
  wal.writeUInt32BE(0x377f0682, 0);
  wal.writeUInt32BE(3007000, 4);
  wal.writeUInt32BE(PAGE, 8);
  wal.writeUInt32BE(3, 12);
  wal.writeUInt32BE(0x5a5a1234, 16);
  wal.writeUInt32BE(0x0badcafe, 20);
  let [s0, s1] = walChecksum(wal, 0, 24, false);
  wal.writeUInt32BE(s0, 24);
  wal.writeUInt32BE(s1, 28);
  let x = 0x9e3779b9;
  frames.forEach((spec, i) => {
    const at = 32 + i * FRAME;
    wal.writeUInt32BE(spec.page, at);
    wal.writeUInt32BE(spec.commit === true ? 100 + i : 0, at + 4);
    wal.copy(wal, at + 8, 16, 24);
    for (let b = at + 24; b < at + FRAME; b++) {
      x = (Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + b) >>> 0;
      wal[b] = x & 0xff;
    }
    [s0, s1] = walChecksum(wal, at, 8, false, s0, s1);
    [s0, s1] = walChecksum(wal, at + 24, PAGE, false, s0, s1);
    wal.writeUInt32BE(s0, at + 16);
    wal.writeUInt32BE(s1, at + 20);
  });
  return wal;
}

const frameAt = (i: number): number => 32 + i * FRAME;

/** Pages 2 and 3 rewritten at every commit, page 5 written once (a leaf that filled up). */
const SPECS: FrameSpec[] = [
  { page: 2 },
  { page: 3, commit: true },
  { page: 5 },
  { page: 2 },
  { page: 3, commit: true },
  { page: 2 },
  { page: 3, commit: true },
  { page: 2 },
  { page: 3, commit: true },
];

describe('repairSqliteWal', () => {
  it('leaves an intact WAL alone, and gives up on a damaged header', () => {
    expect(repairSqliteWal(makeWal(SPECS))).toBeUndefined();
    const wal = makeWal(SPECS);
    wal[frameAt(3) + 100]! ^= 0x01;
    wal[18]! ^= 0x01;
    expect(repairSqliteWal(wal)).toBeUndefined();
  });

  it.each([
    ['its page', 24 + 300],
    ['its page number', 3],
    ['its commit field', 7],
  ])('restores a frame with one bit flipped in %s exactly', (_, offset) => {
    const intact = makeWal(SPECS);
    const wal = Buffer.from(intact);
    wal[frameAt(2) + offset]! ^= 0x20;
    expect(scanSqliteWal(wal).firstBadFrame).toBe(3);
    const repair = repairSqliteWal(wal)!;
    expect(repair.corrected).toEqual([{ frame: 3, page: 5, byte: offset }]);
    expect(repair.dropped).toEqual([]);
    expect(repair.exact).toBe(true);
    // SQLite's own WAL back, byte for byte.
    expect(repair.wal.equals(intact)).toBe(true);
  });

  it('rewrites a damaged stored checksum or salt, keeping the content', () => {
    const intact = makeWal(SPECS);
    for (const offset of [17, 9]) {
      const wal = Buffer.from(intact);
      wal[frameAt(4) + offset]! ^= 0x04;
      expect(scanSqliteWal(wal).firstBadFrame).toBe(5);
      const repair = repairSqliteWal(wal)!;
      expect(repair.rewritten).toEqual([5]);
      expect(repair.exact).toBe(true);
      expect(repair.wal.equals(intact)).toBe(true);
    }
  });

  it('leaves out a frame damaged beyond one bit when a later frame rewrites its page', () => {
    const wal = makeWal(SPECS);
    wal[frameAt(3) + 24 + 10]! ^= 0x01;
    wal[frameAt(3) + 24 + 400]! ^= 0x80;
    const repair = repairSqliteWal(wal)!;
    expect(repair.corrected).toEqual([]);
    expect(repair.dropped).toEqual([{ frame: 4, page: 2, supersededBy: 6 }]);
    expect(repair.suspect).toEqual([]);
    expect(repair.exact).toBe(true);
    const scan = scanSqliteWal(repair.wal);
    expect(scan.frames).toBe(SPECS.length - 1);
    expect(scan.firstBadFrame).toBeUndefined();
    expect(scan.commits).toBe(4);
    expect(scan.replayedFrames).toBe(scan.frames);
  });

  it('keeps a frame damaged beyond one bit that holds the newest version of its page, as suspect', () => {
    const wal = makeWal(SPECS);
    wal[frameAt(2) + 24 + 10]! ^= 0x01;
    wal[frameAt(2) + 24 + 11]! ^= 0x01;
    const repair = repairSqliteWal(wal)!;
    expect(repair.suspect).toEqual([{ frame: 3, page: 5 }]);
    expect(repair.exact).toBe(false);
    const scan = scanSqliteWal(repair.wal);
    expect(scan.frames).toBe(SPECS.length);
    expect(scan.firstBadFrame).toBeUndefined();
    // Its content as found: the checks of the database it gives decide.
    expect(
      repair.wal
        .subarray(frameAt(2) + 24, frameAt(3))
        .equals(wal.subarray(frameAt(2) + 24, frameAt(3))),
    ).toBe(true);
  });

  it('stops where no frame chains any more, at the last commit before', () => {
    const wal = makeWal(SPECS);
    for (const frame of [4, 5]) {
      wal[frameAt(frame) + 24 + 10]! ^= 0x01;
      wal[frameAt(frame) + 24 + 20]! ^= 0x01;
    }
    const repair = repairSqliteWal(wal);
    // Frame 5 is damaged and frame 6 does not chain from it: nothing past frame 5 is
    // provably current, and frame 5's own damage leaves no frame to repair.
    expect(repair).toBeUndefined();
    const once = makeWal(SPECS);
    once[frameAt(7) + 24 + 1]! ^= 0x03;
    once[frameAt(8) + 24 + 1]! ^= 0x03;
    const cut = repairSqliteWal(once);
    expect(cut).toBeUndefined();
  });
});
