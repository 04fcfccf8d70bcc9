/**
 * Salvage of the commits a damaged WAL holds after its damage. SQLite replays a WAL only
 * up to the first frame whose cumulative checksum fails and drops the rest, committed or
 * not; yet each later frame's stored checksum still chains from the one stored before
 * it, so the frames after the damage prove themselves. The repair (SQLite WAL format:
 * https://www.sqlite.org/fileformat2.html#walformat) takes each damaged frame in turn: a
 * single flipped bit is found and flipped back (the frame is then exactly as written); a
 * damaged stored checksum or salt is rewritten; a frame damaged further is left out when
 * a later frame writes its page again (the append-only table rewrites its last leaf at
 * every commit), or kept as found, as suspect, when it holds its page's newest version.
 * The checksums are then recomputed. The repaired WAL is replayed into a copy of the
 * database beside it, and the copy is checked in full (`integrity_check`, every event's
 * and segment's checksum, no position or version gap); only then does it go in, as a WAL
 * of the pages where it differs from the database file, in place of the damaged WAL in
 * one rename (the database file is not written; the damaged WAL stays kept). Rows of a suspect page that
 * fail their checksum are named, never served. A WAL cut short or deleted has no bytes
 * to salvage.
 */
import {
  closeSync,
  constants,
  copyFileSync,
  fstatSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';

import { openConnection } from './sqlite-connection.js';
import { databaseIdentity, type HeadMarker } from './sqlite-head-marker.js';
import { checkSqliteFileIntegrity } from './sqlite-maintenance.js';
import {
  FRAME_HEADER_BYTES,
  WAL_HEADER_BYTES,
  WAL_MAGIC_BE,
  WAL_MAGIC_LE,
  WAL_VERSION,
  walChecksum,
} from './sqlite-wal-check.js';
import { readHeadPosition } from './sqlite-writer.js';

/** A damaged frame {@link repairSqliteWal} found. */
export interface DamagedWalFrame {
  /** 1-based frame number in the damaged WAL. */
  readonly frame: number;
  /** The page number its header names (the header may be the damaged part). */
  readonly page: number;
}

/** A damaged frame whose one flipped bit was found and flipped back. */
export interface CorrectedWalFrame extends DamagedWalFrame {
  /** Byte of the frame (header included) the flipped bit was in. */
  readonly byte: number;
}

/** A damaged frame left out: a later intact frame writes the same page (nothing is lost). */
export interface DroppedWalFrame extends DamagedWalFrame {
  /** The later frame that writes the page again. */
  readonly supersededBy: number;
}

/** What {@link repairSqliteWal} made of a damaged WAL. */
export interface WalRepair {
  /** The WAL with the damaged frames left out and every checksum and salt recomputed. */
  readonly wal: Buffer;
  /** Frames of the damaged WAL kept, up to the last commit frame kept. */
  readonly frames: number;
  /** Commit frames kept. */
  readonly commits: number;
  /** Damaged frames with one bit flipped, restored exactly (the bit flipped back). */
  readonly corrected: readonly CorrectedWalFrame[];
  /** Damaged frames left out (their content fails the checksum that chains to them). */
  readonly dropped: readonly DroppedWalFrame[];
  /**
   * Damaged frames kept as found: each holds the newest version of its page, so leaving
   * it out would bring back an older one. The repair is only as good as the checks of
   * the database it gives (every event row carries its own checksum).
   */
  readonly suspect: readonly DamagedWalFrame[];
  /** Frames whose checksum or salt fields alone were damaged: kept, fields rewritten. */
  readonly rewritten: readonly number[];
  /** True when no frame is suspect: the repair gives exactly what was committed. */
  readonly exact: boolean;
}

function u32be(data: Uint8Array, offset: number): number {
  return (
    ((data[offset]! << 24) |
      (data[offset + 1]! << 16) |
      (data[offset + 2]! << 8) |
      data[offset + 3]!) >>>
    0
  );
}

/**
 * Rebuilds a WAL whose chain of cumulative checksums is broken. Each frame's stored
 * checksum is checked against the one stored in the frame before it (not against the
 * chain from the start), so a frame damaged in its page or its page number / commit
 * field fails alone, and the frames after it still prove themselves. A frame that fails
 * is dropped when the next frame chains from its stored checksum; a frame whose stored
 * checksum alone is damaged is kept when the next frame chains from the computed one;
 * a frame with a damaged salt is kept with the header's salts. The walk stops where no
 * frame chains any more (two damaged frames in a row, or the end of this generation of
 * the WAL). Undefined when the header itself fails (then SQLite ignores every frame and
 * nothing tells which frames are current) or no frame is damaged.
 */
export function repairSqliteWal(input: Uint8Array): WalRepair | undefined {
  if (input.length < WAL_HEADER_BYTES) return undefined;
  // A copy of its own (aligned, for the checksum's fast path), corrected in place.
  const damaged = new Uint8Array(input);
  const magic = u32be(damaged, 0);
  let pageSize = u32be(damaged, 8);
  if (pageSize === 1) pageSize = 65536;
  const bigEndian = magic === WAL_MAGIC_BE;
  const [h0, h1] = walChecksum(damaged, 0, 24, bigEndian);
  if (
    (magic !== WAL_MAGIC_LE && magic !== WAL_MAGIC_BE) ||
    u32be(damaged, 4) !== WAL_VERSION ||
    pageSize < 512 ||
    pageSize > 65536 ||
    (pageSize & (pageSize - 1)) !== 0 ||
    h0 !== u32be(damaged, 24) ||
    h1 !== u32be(damaged, 28)
  ) {
    return undefined;
  }
  const frameBytes = FRAME_HEADER_BYTES + pageSize;
  const count = Math.floor((damaged.length - WAL_HEADER_BYTES) / frameBytes);
  const at = (i: number): number => WAL_HEADER_BYTES + i * frameBytes;
  const stored = (i: number): [number, number] => [
    u32be(damaged, at(i) + 16),
    u32be(damaged, at(i) + 20),
  ];
  const chains = (i: number, seed: readonly [number, number]): [number, number] | undefined => {
    if (i >= count || u32be(damaged, at(i)) === 0) return undefined;
    let sum = walChecksum(damaged, at(i), 8, bigEndian, seed[0], seed[1]);
    sum = walChecksum(damaged, at(i) + FRAME_HEADER_BYTES, pageSize, bigEndian, sum[0], sum[1]);
    return sum;
  };
  const same = (a: readonly [number, number] | undefined, b: readonly [number, number]): boolean =>
    a !== undefined && a[0] === b[0] && a[1] === b[1];
  // One flipped bit, the commonest damage, is found by trying each: the frame's content
  // with that bit flipped back must give the checksum the frame stored (64 bits: a wrong
  // match among the ~2^15 tries is out of reach). The frame is then exactly as written.
  const correctOneBit = (i: number, seed: readonly [number, number]): number | undefined => {
    const target = stored(i);
    const sum = (): [number, number] => {
      const h = walChecksum(damaged, at(i), 8, bigEndian, seed[0], seed[1]);
      return walChecksum(damaged, at(i) + FRAME_HEADER_BYTES, pageSize, bigEndian, h[0], h[1]);
    };
    for (let byte = 0; byte < frameBytes; byte++) {
      if (byte === 8) byte = FRAME_HEADER_BYTES; // salts and checksum are not summed
      const where = at(i) + byte;
      for (let bit = 0; bit < 8; bit++) {
        damaged[where] = damaged[where]! ^ (1 << bit);
        if (same(sum(), target)) return byte;
        damaged[where] = damaged[where] ^ (1 << bit);
      }
    }
    return undefined;
  };

  const kept: number[] = [];
  const dropped: number[] = [];
  const rewritten: number[] = [];
  const corrected: CorrectedWalFrame[] = [];
  let seed: [number, number] = [h0, h1];
  for (let i = 0; i < count; i++) {
    const sum = chains(i, seed);
    if (same(sum, stored(i))) {
      if (
        u32be(damaged, at(i) + 8) !== u32be(damaged, 16) ||
        u32be(damaged, at(i) + 12) !== u32be(damaged, 20)
      ) {
        rewritten.push(i);
      }
      kept.push(i);
      seed = stored(i);
      continue;
    }
    if (i + 1 < count && same(chains(i + 1, stored(i)), stored(i + 1))) {
      // The next frame chains from what this one stored: this one's content is damaged.
      const byte = correctOneBit(i, seed);
      if (byte !== undefined) {
        corrected.push({ frame: i + 1, page: u32be(damaged, at(i)), byte });
        kept.push(i);
      } else {
        dropped.push(i);
      }
      seed = stored(i);
      continue;
    }
    if (sum !== undefined && i + 1 < count && same(chains(i + 1, sum), stored(i + 1))) {
      // The next frame chains from this one's content: only its stored checksum is damaged.
      rewritten.push(i);
      kept.push(i);
      seed = sum;
      continue;
    }
    break;
  }
  if (dropped.length === 0 && rewritten.length === 0 && corrected.length === 0) return undefined;
  // A damaged frame whose page a later intact frame writes again is left out: nothing of
  // it survives the later frame anyway. One that holds the newest version of its page is
  // kept as found, for the copy's checks to judge (see salvageSqliteWal).
  const pageOf = (i: number): number => u32be(damaged, at(i));
  const supersededBy = (i: number): number | undefined =>
    kept.find((f) => f > i && pageOf(f) === pageOf(i));
  const suspect = dropped.filter((i) => supersededBy(i) === undefined);
  const included = [...kept, ...suspect].sort((a, b) => a - b);
  // Up to the last commit frame included; a transaction without its commit frame is not
  // committed. A suspect frame's commit field may be the damaged part: it ends nothing.
  let end = included.length;
  while (
    end > 0 &&
    (u32be(damaged, at(included[end - 1]!) + 4) === 0 || suspect.includes(included[end - 1]!))
  ) {
    end--;
  }
  const frames = included.slice(0, end);
  const last = frames.at(-1) ?? -1;

  const wal = Buffer.alloc(WAL_HEADER_BYTES + frames.length * frameBytes);
  wal.set(damaged.subarray(0, WAL_HEADER_BYTES), 0);
  let s: [number, number] = [h0, h1];
  let commits = 0;
  frames.forEach((frame, n) => {
    const to = WAL_HEADER_BYTES + n * frameBytes;
    wal.set(damaged.subarray(at(frame), at(frame) + frameBytes), to);
    wal.set(damaged.subarray(16, 24), to + 8);
    if (suspect.includes(frame)) wal.writeUInt32BE(0, to + 4);
    s = walChecksum(wal, to, 8, bigEndian, s[0], s[1]);
    s = walChecksum(wal, to + FRAME_HEADER_BYTES, pageSize, bigEndian, s[0], s[1]);
    wal.writeUInt32BE(s[0], to + 16);
    wal.writeUInt32BE(s[1], to + 20);
    if (u32be(wal, to + 4) !== 0) commits++;
  });
  return {
    wal,
    frames: frames.length,
    commits,
    dropped: dropped
      .filter((i) => !suspect.includes(i))
      .map((i) => ({ frame: i + 1, page: pageOf(i), supersededBy: supersededBy(i)! + 1 })),
    suspect: suspect.filter((i) => i <= last).map((i) => ({ frame: i + 1, page: pageOf(i) })),
    rewritten: rewritten.filter((i) => i <= last).map((i) => i + 1),
    corrected: corrected.filter((c) => c.frame - 1 <= last),
    exact: suspect.length === 0,
  };
}

/** What {@link salvageSqliteWal} did. */
export interface WalSalvage {
  /**
   * True when the checked copy went in (as the WAL SQLite replays at the open): the open
   * finds every commit the repaired WAL holds.
   */
  readonly installed: boolean;
  /** Head position SQLite would have opened at from the damaged WAL. */
  readonly headBefore: number;
  /** Head position of the repaired copy (equal to `headBefore` when nothing was salvaged). */
  readonly headAfter: number;
  /** Commit frames of the repaired WAL. */
  readonly commits: number;
  /** Damaged frames dropped, and the later frames that rewrote their pages. */
  readonly dropped: readonly DroppedWalFrame[];
  /**
   * Positions restored whose rows fail their own checksum (they were on a damaged page
   * that no later frame rewrote): still lost, named by verify and refused by reads.
   */
  readonly damagedPositions: readonly number[];
  /**
   * True when the head marker says every acknowledged commit is before the damage (its
   * head is at or below `headBefore`): the frames after the failing one are then what a
   * transaction that was never acknowledged left behind (its sync failed, and the next
   * commit wrote over its first frames), not damage. Nothing is installed: bringing such a
   * transaction back would store events whose append was answered with an error.
   */
  readonly unacknowledged?: boolean | undefined;
  /** Why nothing was installed, when it was not. */
  readonly reason?: string | undefined;
  /** What was done, in one sentence for the damage report. */
  readonly message: string;
}

function stamp(): string {
  return new Date().toISOString().replaceAll(':', '').replaceAll('.', '');
}

function writeSynced(path: string, data: Uint8Array): void {
  const fd = openSync(path, 'w', 0o600);
  try {
    let done = 0;
    while (done < data.length) done += writeSync(fd, data, done, data.length - done);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Opens the database at `path` (the WAL beside it replayed) and reads its head and identity. */
function headOf(path: string): { head: number; identity: string } {
  const connection = openConnection(path, { fileMustExist: true });
  try {
    return { head: readHeadPosition(connection), identity: databaseIdentity(connection) };
  } finally {
    connection.close();
  }
}

/**
 * Tries to salvage the commits after the damage in the WAL kept at `quarantine` (a copy
 * of `path`'s WAL as the crash left it), before SQLite has opened `path`: builds the
 * repaired WAL ({@link repairSqliteWal}), replays it into a copy of the database in a
 * directory beside it, checks that copy fully (`integrity_check`, every event's and
 * segment's checksum, no gap), and only then puts the repaired WAL in place of `path`'s
 * (synced, renamed; the stale `-shm` removed) so that the open replays it. The database
 * file itself is not written here; the damaged WAL stays at `quarantine`. Never throws:
 * a salvage that cannot be done says why.
 *
 * With the writer's head `marker` (read before the open), commits after the damage that
 * the marker does not claim are left alone ({@link WalSalvage.unacknowledged}).
 */
export async function salvageSqliteWal(
  path: string,
  quarantine: string,
  marker?: HeadMarker,
): Promise<WalSalvage> {
  let repair: WalRepair | undefined;
  try {
    repair = repairSqliteWal(readFileSync(quarantine));
  } catch (error) {
    return notSalvaged(0, [], `the kept WAL cannot be read: ${String(error)}`);
  }
  if (repair === undefined) {
    return notSalvaged(
      0,
      [],
      'the WAL header fails its checksum, or no frame chains past the damage',
    );
  }
  const { dropped, suspect } = repair;
  const work = `${path}.salvage-${stamp()}`;
  const copy = join(work, 'state.db');
  const prefix = join(work, 'prefix.db');
  try {
    mkdirSync(work, { mode: 0o700 });
    // What SQLite would replay from the damaged WAL, in a copy of its own.
    copyFileSync(path, prefix, constants.COPYFILE_FICLONE);
    copyFileSync(quarantine, `${prefix}-wal`, constants.COPYFILE_FICLONE);
    const before = headOf(prefix);
    const headBefore = before.head;
    if (
      marker !== undefined &&
      marker.identity !== '' &&
      marker.identity === before.identity &&
      marker.head <= headBefore
    ) {
      return {
        ...notSalvaged(headBefore, [], 'unacknowledged'),
        unacknowledged: true,
        reason:
          `the writer's head marker says ${marker.head}, which the database holds: the commit ` +
          'after the failing frame was never acknowledged',
        message:
          `not damage: the frames after the failing one hold a transaction that was never ` +
          `acknowledged (the writer's head marker says ${marker.head}, which the database ` +
          'holds; its sync failed and the next commit wrote over its first frames); SQLite ' +
          'discards it, as it should',
      };
    }
    copyFileSync(path, copy, constants.COPYFILE_FICLONE);
    writeSynced(`${copy}-wal`, repair.wal);
    const connection = openConnection(copy, { fileMustExist: true });
    let headAfter: number;
    try {
      headAfter = readHeadPosition(connection);
      connection.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      connection.close();
    }
    if (headAfter <= headBefore) {
      return notSalvaged(headBefore, dropped, 'the repaired WAL holds no commit past the damage');
    }
    const outside = suspect.length === 0 ? [] : pagesOutsideEvents(copy, suspect);
    if (outside.length > 0) {
      return notSalvaged(
        headBefore,
        dropped,
        `damaged frame(s) ${outside.join(', ')} held the newest version of a page no checksum covers`,
      );
    }
    let report = await checkSqliteFileIntegrity(copy);
    // A kept damaged page also holds rows of earlier commits, intact in what SQLite
    // replays: those are taken from there (and checked again with the rest).
    const earlier = report.problems.flatMap((p) =>
      p.kind === 'checksum' && p.position <= BigInt(headBefore) ? [Number(p.position)] : [],
    );
    if (suspect.length > 0 && earlier.length > 0) {
      restoreRows(copy, prefix, earlier);
      report = await checkSqliteFileIntegrity(copy);
    }
    // Rows of a kept damaged page written by the commit that wrote it, that fail their own
    // checksum, are what the damage took: named by verify and refused by reads, as a
    // damaged row in the database file is. Any other problem, and the repair is not trusted.
    const damagedRows = report.problems.flatMap((p) =>
      p.kind === 'checksum' && p.position > BigInt(headBefore) ? [Number(p.position)] : [],
    );
    if (
      !report.ok &&
      (suspect.length === 0 || report.truncated || damagedRows.length < report.problems.length)
    ) {
      const first = report.problems.find((p) => p.kind !== 'checksum') ?? report.problems[0];
      return notSalvaged(
        headBefore,
        dropped,
        `the repaired copy fails its checks (${report.problems.length} problem(s)${first === undefined ? '' : `, first: ${first.message}`})`,
      );
    }
    // The checked copy goes in as a WAL of the pages where it differs from the database
    // file, put in place of the damaged WAL in one rename: before it the damaged WAL is
    // there (a crash, and the next open salvages again), after it SQLite replays the
    // checked state. The database file itself is not written here.
    const tmp = `${path}-wal.salvage-tmp`;
    writeWalOfDifferences(path, copy, tmp);
    rmSync(`${path}-shm`, { force: true });
    renameSync(tmp, `${path}-wal`);
    syncFile(dirname(path));
    const how = [
      ...repair.corrected.map(
        (c) =>
          `frame ${c.frame} (page ${c.page}) restored, the flipped bit in its byte ${c.byte} flipped back`,
      ),
      ...dropped.map(
        (d) => `frame ${d.frame} (page ${d.page}) left out, rewritten by frame ${d.supersededBy}`,
      ),
      ...suspect.map((d) => `frame ${d.frame} (page ${d.page} of the events) kept as found`),
    ].join(', ');
    const lost =
      damagedRows.length === 0
        ? 'nothing lost'
        : `lost: position(s) ${damagedRows.join(', ')} on the damaged page fail their checksum ` +
          '(named by verify, refused by reads)';
    return {
      installed: true,
      headBefore,
      headAfter,
      commits: repair.commits,
      dropped,
      damagedPositions: damagedRows,
      message:
        `salvaged: positions ${headBefore + 1} to ${headAfter} restored from the WAL, its ` +
        `checksums recomputed (damaged ${how}` +
        `${earlier.length === 0 ? '' : `; position(s) ${earlier.join(', ')} taken from the last intact commit`}` +
        `; the repaired copy passed every other check); ${lost}`,
    };
  } catch (error) {
    return notSalvaged(
      0,
      dropped,
      `the salvage failed: ${error instanceof Error ? error.message : String(error)}`,
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * Writes to `out` (synced, 0600) a WAL that turns the database file `base` into `target`:
 * one frame for each page of `target` that `base` lacks or holds otherwise, the last one
 * committing with `target`'s size. Page by page, so a large database is never held whole.
 */
function writeWalOfDifferences(base: string, target: string, out: string): void {
  const baseFd = openSync(base, 'r');
  const targetFd = openSync(target, 'r');
  const outFd = openSync(out, 'w', 0o600);
  try {
    const header = Buffer.alloc(100);
    readSync(targetFd, header, 0, 100, 0);
    const raw = header.readUInt16BE(16);
    const pageSize = raw === 1 ? 65536 : raw;
    const pages = Math.floor(fstatSync(targetFd).size / pageSize);
    const mine = Buffer.alloc(pageSize);
    const theirs = Buffer.alloc(pageSize);
    const differing: number[] = [];
    for (let page = 1; page <= pages; page++) {
      const at = (page - 1) * pageSize;
      const got = readSync(targetFd, mine, 0, pageSize, at);
      if (got !== pageSize) throw new Error(`${target}: page ${page} cut short`);
      const had = readSync(baseFd, theirs, 0, pageSize, at);
      if (had !== pageSize || !mine.equals(theirs)) differing.push(page);
    }
    const wal = Buffer.alloc(WAL_HEADER_BYTES);
    wal.writeUInt32BE(WAL_MAGIC_LE, 0);
    wal.writeUInt32BE(WAL_VERSION, 4);
    wal.writeUInt32BE(pageSize === 65536 ? 1 : pageSize, 8);
    wal.writeUInt32BE(0, 12);
    randomBytes(8).copy(wal, 16);
    let sum = walChecksum(wal, 0, 24, false);
    wal.writeUInt32BE(sum[0], 24);
    wal.writeUInt32BE(sum[1], 28);
    writeAll(outFd, wal);
    const frame = Buffer.alloc(FRAME_HEADER_BYTES + pageSize);
    differing.forEach((page, n) => {
      readSync(targetFd, frame, FRAME_HEADER_BYTES, pageSize, (page - 1) * pageSize);
      frame.writeUInt32BE(page, 0);
      frame.writeUInt32BE(n === differing.length - 1 ? pages : 0, 4);
      wal.copy(frame, 8, 16, 24);
      sum = walChecksum(frame, 0, 8, false, sum[0], sum[1]);
      sum = walChecksum(frame, FRAME_HEADER_BYTES, pageSize, false, sum[0], sum[1]);
      frame.writeUInt32BE(sum[0], 16);
      frame.writeUInt32BE(sum[1], 20);
      writeAll(outFd, frame);
    });
    fsyncSync(outFd);
  } finally {
    closeSync(baseFd);
    closeSync(targetFd);
    closeSync(outFd);
  }
}

function writeAll(fd: number, data: Uint8Array): void {
  let done = 0;
  while (done < data.length) done += writeSync(fd, data, done, data.length - done);
}

function syncFile(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Copies the `events` rows at `positions` from the database `from` into `to`. */
function restoreRows(to: string, from: string, positions: readonly number[]): void {
  const source = openConnection(from, { readonly: true, fileMustExist: true });
  const target = openConnection(to, { fileMustExist: true });
  try {
    const read = source.prepare('select * from events where position = ?');
    const write = target.prepare(
      'update events set stream_id = @stream_id, version = @version, type_id = @type_id, ' +
        'schema_version = @schema_version, timestamp_us = @timestamp_us, frame_id = @frame_id, ' +
        'event_id = @event_id, payload = @payload, checksum = @checksum where position = @position',
    );
    target.exec('begin');
    for (const position of positions) {
      const row = read.get(position);
      if (row !== undefined) write.run(row);
    }
    target.exec('commit');
    target.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    source.close();
    target.close();
  }
}

/** Tables (and their indexes) whose every row the store's checks verify. */
const CHECKED_TABLES = new Set(['events', 'events_stream_version', 'events_event_id']);

/**
 * The suspect frames whose page is not in a b-tree of {@link CHECKED_TABLES} in the copy
 * at `path`: a flipped bit there (a projection row, a snapshot index) could pass every
 * check, so the repair is not trusted with them.
 */
function pagesOutsideEvents(path: string, suspect: readonly DamagedWalFrame[]): string[] {
  const connection = openConnection(path, { readonly: true, fileMustExist: true });
  try {
    const owner = connection.prepare('select name from dbstat where pageno = ?').pluck();
    return suspect
      .filter((d) => !CHECKED_TABLES.has(String(owner.get(d.page))))
      .map((d) => `${d.frame} (page ${d.page})`);
  } finally {
    connection.close();
  }
}

function notSalvaged(
  headBefore: number,
  dropped: readonly DroppedWalFrame[],
  reason: string,
): WalSalvage {
  return {
    installed: false,
    headBefore,
    headAfter: headBefore,
    commits: 0,
    dropped,
    damagedPositions: [],
    reason,
    message: `not salvaged: ${reason}; the commits after the damage are not in the database`,
  };
}
