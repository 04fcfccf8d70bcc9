/**
 * Checks of the write-ahead log that SQLite does not report. On recovery SQLite replays
 * the WAL up to the last commit frame before the first frame whose salts or cumulative
 * checksum fail, and silently drops the rest, committed or not; a deleted or cut WAL
 * leaves no trace at all. Before the store opens a database whose WAL is not empty (an
 * unclean stop), it reads the WAL itself, following the SQLite WAL format
 * (https://www.sqlite.org/fileformat2.html#walformat): the header's magic, version, page
 * size, salts and checksum, then every frame's salts and cumulative checksum. A frame that
 * fails, followed by commit frames that still carry the current salts, means committed
 * transactions are about to be discarded: damage. A last frame cut short, or frames of a
 * transaction without its commit frame, are what a crash leaves: not damage. The head
 * marker (see `sqlite-head-marker.ts`) covers what the WAL alone cannot show: a WAL cut,
 * or deleted. What damage leaves salvageable is salvaged at open: `sqlite-wal-salvage.ts`.
 */
import {
  constants,
  copyFileSync,
  chmodSync,
  existsSync,
  readFileSync,
  readdirSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';

import type { HeadMarker } from './sqlite-head-marker.js';
import type { WalSalvage } from './sqlite-wal-salvage.js';

/** Bytes of the WAL header, and of each frame's header (https://www.sqlite.org/fileformat2.html#walformat). */
export const WAL_HEADER_BYTES = 32;
export const FRAME_HEADER_BYTES = 24;
/** The header's magic: checksums of little-endian words, or of big-endian ones. */
export const WAL_MAGIC_LE = 0x377f0682;
export const WAL_MAGIC_BE = 0x377f0683;
/** The WAL format version SQLite writes. */
export const WAL_VERSION = 3007000;

/** What {@link scanSqliteWal} read. */
export interface WalScan {
  /** Length of the WAL file in bytes. */
  readonly bytes: number;
  /** Whether the 32-byte header is intact (magic, version, page size, checksum). */
  readonly headerValid: boolean;
  /** Page size from the header (0 when the header is not intact). */
  readonly pageSize: number;
  /** The header's salts as 16 hex digits ('' when the header is not intact). */
  readonly salts: string;
  /** Complete frames in the file. */
  readonly frames: number;
  /** Frames SQLite replays: up to the last commit frame before the first failing frame. */
  readonly replayedFrames: number;
  /** Commit frames among those. */
  readonly commits: number;
  /** 1-based number of the first frame that fails its salts or checksum, if any. */
  readonly firstBadFrame: number | undefined;
  /** Commit frames after the first failing frame that still carry the current salts. */
  readonly discardedCommits: number;
  /** Bytes after the last complete frame (a frame cut short). */
  readonly tailBytes: number;
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

function u32le(data: Uint8Array, offset: number): number {
  return (
    ((data[offset + 3]! << 24) |
      (data[offset + 2]! << 16) |
      (data[offset + 1]! << 8) |
      data[offset]!) >>>
    0
  );
}

/** Whether this machine stores 32-bit words little-endian (then a typed array reads them so). */
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * SQLite's WAL checksum: over 32-bit words taken in pairs, `s0 += x0 + s1; s1 += x1 + s0`,
 * continuing from `[s0, s1]`; the words are big-endian when the magic's low bit is set.
 * Little-endian words at an aligned offset on a little-endian machine (a WAL written
 * here) are read through an `Int32Array` view: the same sums, without a call per word.
 */
export function walChecksum(
  data: Uint8Array,
  offset: number,
  length: number,
  bigEndian: boolean,
  s0 = 0,
  s1 = 0,
): [number, number] {
  let a = s0;
  let b = s1;
  const start = data.byteOffset + offset;
  if (!bigEndian && HOST_LITTLE_ENDIAN && start % 4 === 0 && length % 8 === 0) {
    // Signed words and sums: the same bits modulo 2^32, kept in 32-bit integers.
    const words = new Int32Array(data.buffer, start, length / 4);
    let x = a | 0;
    let y = b | 0;
    for (let i = 0; i < words.length; i += 2) {
      x = (x + words[i]! + y) | 0;
      y = (y + words[i + 1]! + x) | 0;
    }
    return [x >>> 0, y >>> 0];
  }
  const word = bigEndian ? u32be : u32le;
  for (let i = offset; i < offset + length; i += 8) {
    a = (a + word(data, i) + b) >>> 0;
    b = (b + word(data, i + 4) + a) >>> 0;
  }
  return [a, b];
}

function validPageSize(size: number): boolean {
  return size >= 512 && size <= 65536 && (size & (size - 1)) === 0;
}

/** Reads a WAL file's bytes as SQLite's recovery would, and says what it would drop. */
export function scanSqliteWal(wal: Uint8Array): WalScan {
  const bytes = wal.length;
  const empty: WalScan = {
    bytes,
    headerValid: false,
    pageSize: 0,
    salts: '',
    frames: 0,
    replayedFrames: 0,
    commits: 0,
    firstBadFrame: undefined,
    discardedCommits: 0,
    tailBytes: bytes,
  };
  if (bytes < WAL_HEADER_BYTES) return empty;
  const magic = u32be(wal, 0);
  let pageSize = u32be(wal, 8);
  if (pageSize === 1) pageSize = 65536;
  const bigEndian = magic === WAL_MAGIC_BE;
  const [h0, h1] = walChecksum(wal, 0, 24, bigEndian);
  const headerValid =
    (magic === WAL_MAGIC_LE || magic === WAL_MAGIC_BE) &&
    u32be(wal, 4) === WAL_VERSION &&
    validPageSize(pageSize) &&
    h0 === u32be(wal, 24) &&
    h1 === u32be(wal, 28);
  if (!headerValid) {
    // Without its header the whole WAL is ignored. Frames are counted with the page size
    // the header claims when it is plausible, else not at all.
    if (!validPageSize(pageSize)) return empty;
    const frames = Math.floor((bytes - WAL_HEADER_BYTES) / (FRAME_HEADER_BYTES + pageSize));
    let discardedCommits = 0;
    for (let i = 0; i < frames; i++) {
      const at = WAL_HEADER_BYTES + i * (FRAME_HEADER_BYTES + pageSize);
      if (u32be(wal, at + 4) !== 0) discardedCommits++;
    }
    return {
      ...empty,
      pageSize,
      frames,
      firstBadFrame: frames > 0 ? 1 : undefined,
      discardedCommits,
      tailBytes: bytes - WAL_HEADER_BYTES - frames * (FRAME_HEADER_BYTES + pageSize),
    };
  }
  const frameBytes = FRAME_HEADER_BYTES + pageSize;
  const frames = Math.floor((bytes - WAL_HEADER_BYTES) / frameBytes);
  const salt1 = u32be(wal, 16);
  const salt2 = u32be(wal, 20);
  let s0 = h0;
  let s1 = h1;
  let replayedFrames = 0;
  let commits = 0;
  let pendingCommits = 0;
  let firstBadFrame: number | undefined;
  let discardedCommits = 0;
  for (let i = 0; i < frames; i++) {
    const at = WAL_HEADER_BYTES + i * frameBytes;
    const current = u32be(wal, at + 8) === salt1 && u32be(wal, at + 12) === salt2;
    const commit = u32be(wal, at + 4) !== 0;
    if (firstBadFrame !== undefined) {
      if (current && commit) discardedCommits++;
      continue;
    }
    let ok = current && u32be(wal, at) !== 0;
    if (ok) {
      [s0, s1] = walChecksum(wal, at, 8, bigEndian, s0, s1);
      [s0, s1] = walChecksum(wal, at + FRAME_HEADER_BYTES, pageSize, bigEndian, s0, s1);
      ok = s0 === u32be(wal, at + 16) && s1 === u32be(wal, at + 20);
    }
    if (!ok) {
      firstBadFrame = i + 1;
      continue;
    }
    pendingCommits += commit ? 1 : 0;
    if (commit) {
      replayedFrames = i + 1;
      commits += pendingCommits;
      pendingCommits = 0;
    }
  }
  return {
    bytes,
    headerValid,
    pageSize,
    salts: Buffer.from(wal.buffer, wal.byteOffset + 16, 8).toString('hex'),
    frames,
    replayedFrames,
    commits,
    firstBadFrame,
    discardedCommits,
    tailBytes: bytes - WAL_HEADER_BYTES - frames * frameBytes,
  };
}

/** Damage to the WAL, or commits missing from the database, found and named. */
export interface WalDamage {
  /**
   * `wal_damaged`: frames fail their checksum (or the header does) with commit frames
   * after them; `commits_missing`: the database opened at a head below the one the
   * writer last committed (the WAL was deleted, cut or damaged).
   */
  readonly kind: 'wal_damaged' | 'commits_missing';
  /** What was found, where, and what it means. */
  readonly message: string;
  /** The database file. */
  readonly database: string;
  /** Copy of the damaged WAL kept beside the database (mode 0600), if one was made. */
  readonly quarantine?: string | undefined;
  /** The report file beside the database that keeps this finding for `verify`. */
  readonly report?: string | undefined;
  /**
   * For `wal_damaged`: what the open salvaged of the commits after the damage (the WAL
   * repaired and replayed, positions `headBefore + 1` to `headAfter`), or why it could not.
   */
  readonly salvage?: WalSalvage | undefined;
}

/**
 * Reads the WAL of the database at `path` (when it exists and is not empty) and says
 * whether SQLite is about to discard committed frames. Reads only; undefined when nothing
 * is wrong that the WAL itself can show (a WAL cut at a frame boundary, or deleted, is
 * found by {@link missingCommits}).
 */
export function inspectSqliteWal(path: string): WalDamage | undefined {
  const walPath = `${path}-wal`;
  let wal: Buffer;
  try {
    if (!existsSync(walPath) || statSync(walPath).size === 0) return undefined;
    wal = readFileSync(walPath);
  } catch {
    return undefined;
  }
  const scan = scanSqliteWal(wal);
  if (scan.firstBadFrame !== undefined && scan.discardedCommits > 0) {
    const where = scan.headerValid
      ? `frame ${scan.firstBadFrame} (byte ${WAL_HEADER_BYTES + (scan.firstBadFrame - 1) * (FRAME_HEADER_BYTES + scan.pageSize)}) fails its checksum`
      : 'its header fails its checksum';
    return {
      kind: 'wal_damaged',
      database: path,
      message:
        `${walPath}: ${where}; ${scan.discardedCommits} committed transaction(s) after it ` +
        `(${scan.frames - (scan.firstBadFrame - 1)} of ${scan.frames} frames) would be discarded by SQLite`,
    };
  }
  return undefined;
}

/** A finding from the head marker: commits the database does not have. */
export function missingCommits(
  path: string,
  marker: HeadMarker | undefined,
  head: number,
  identity: string,
): WalDamage | undefined {
  if (marker === undefined || marker.head <= head) return undefined;
  // A marker of another database at this path (or of one that had no stream yet).
  if (marker.identity === '' || marker.identity !== identity) return undefined;
  return {
    kind: 'commits_missing',
    database: path,
    message:
      `${path}: positions ${head + 1} to ${marker.head} were committed (the writer's head marker ` +
      `says ${marker.head}) but the database ends at ${head}: the WAL was deleted, cut or damaged`,
  };
}

function stamp(): string {
  return new Date().toISOString().replaceAll(':', '').replaceAll('.', '');
}

/**
 * Copies the WAL of `path` aside, mode 0600; the copy's path, or undefined when there is
 * no WAL, it is empty, or the copy failed.
 */
export function quarantineWal(path: string): string | undefined {
  const copy = `${path}-wal.damaged-${stamp()}`;
  try {
    if (statSync(`${path}-wal`).size === 0) return undefined;
    // A reflink where the file system has them (a copy of 64 MB in no time), else a copy.
    copyFileSync(`${path}-wal`, copy, constants.COPYFILE_FICLONE);
    chmodSync(copy, 0o600);
    return copy;
  } catch {
    return undefined;
  }
}

/** Suffix of the report files {@link recordWalDamage} writes beside the database. */
const REPORT_INFIX = '.damage-';

/**
 * Writes `damage` to a report file beside the database (mode 0600), where `verify` finds
 * it until someone removes it; returns the finding with the report's path.
 */
export function recordWalDamage(damage: WalDamage): WalDamage {
  const report = `${damage.database}${REPORT_INFIX}${stamp()}-${damage.kind}.json`;
  try {
    writeFileSync(
      report,
      `${JSON.stringify({ ...damage, found: new Date().toISOString() }, null, 2)}\n`,
      {
        mode: 0o600,
      },
    );
    return { ...damage, report };
  } catch {
    return damage;
  }
}

/** The damage reports left beside the database at `path` by earlier opens. */
export function readWalDamageReports(path: string): WalDamage[] {
  const dir = dirname(path);
  const prefix = `${basename(path)}${REPORT_INFIX}`;
  let names: string[];
  try {
    names = readdirSync(dir).filter((name) => name.startsWith(prefix) && name.endsWith('.json'));
  } catch {
    return [];
  }
  const out: WalDamage[] = [];
  for (const name of names.sort()) {
    const report = join(dir, name);
    try {
      const value = JSON.parse(readFileSync(report, 'utf8')) as Partial<WalDamage>;
      if (typeof value.kind === 'string' && typeof value.message === 'string') {
        out.push({
          kind: value.kind,
          message: value.message,
          database: path,
          quarantine: value.quarantine,
          report,
          salvage: value.salvage,
        });
        continue;
      }
    } catch {
      // unreadable: named as such below
    }
    out.push({
      kind: 'wal_damaged',
      message: `${report}: a damage report that cannot be read`,
      database: path,
      report,
    });
  }
  return out;
}
