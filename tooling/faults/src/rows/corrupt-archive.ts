import { readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openArchive } from '@wirthforge/archive';
import { type FaultRow } from '../fault-row.js';
import { CLI_MAIN, prng, sh, tempDir } from '../fault-harness.js';
import {
  archiveAll,
  copyDataDir,
  readContents,
  writeSealedSessions,
  type StoreContents,
} from '../archive-fixture.js';

/** One damage to one partition file of a data directory; returns what was done. */
type Injector = (partitionPath: string, random: () => number) => string;

/** Runs `work` on the partition through SQLite (a rollback journal: the file stays whole). */
function withPartition<T>(path: string, work: (db: Database.Database) => T): T {
  const db = new Database(path);
  try {
    return work(db);
  } finally {
    db.close();
  }
}

/** Flips one bit of the file at `offset`. */
function flipAt(path: string, offset: number, bit: number): void {
  const bytes = readFileSync(path);
  bytes[offset] = bytes[offset]! ^ (1 << bit);
  writeFileSync(path, bytes);
}

/**
 * A bit flip in the raw file, inside the bytes of one stored segment: the blob's bytes
 * are found in the file (a 24-byte run of them, so the place is certain) and one bit of
 * that run is flipped, as a bad sector or a stray write would.
 */
const rawSegmentFlip: Injector = (path, random) => {
  const segments = withPartition(path, (db) =>
    db.prepare('select first_position as p, data from segments order by first_position').all(),
  ) as { p: number; data: Buffer }[];
  const file = readFileSync(path);
  for (let attempt = 0; attempt < 50; attempt++) {
    const segment = segments[Math.floor(random() * segments.length)]!;
    const at = Math.floor(random() * Math.max(1, segment.data.length - 24));
    const run = segment.data.subarray(at, at + 24);
    const offset = file.indexOf(run);
    if (offset < 0 || file.indexOf(run, offset + 1) >= 0) continue;
    const byte = offset + Math.floor(random() * run.length);
    const bit = Math.floor(random() * 8);
    flipAt(path, byte, bit);
    return `raw bit ${bit} of file byte ${byte} flipped (segment at position ${segment.p}, its byte ${at + (byte - offset)} of ${segment.data.length})`;
  }
  throw new Error(`no segment bytes found in ${path}`);
};

/** The fixed cases, each on a fresh copy. */
const CASES: { name: string; inject: Injector }[] = [
  { name: 'raw bit flip in a segment', inject: rawSegmentFlip },
  {
    name: 'segment truncated (row)',
    inject: (path) =>
      withPartition(path, (db) => {
        const row = db.prepare('select first_position as p, data from segments limit 1').get() as {
          p: number;
          data: Buffer;
        };
        db.prepare('update segments set data = ? where first_position = ?').run(
          row.data.subarray(0, row.data.length >> 1),
          row.p,
        );
        return `segment at position ${row.p}: data cut to ${row.data.length >> 1} of ${row.data.length} bytes`;
      }),
  },
  {
    name: 'segment row deleted',
    inject: (path) =>
      withPartition(path, (db) => {
        const p = db.prepare('select max(first_position) from segments').pluck().get() as number;
        db.prepare('delete from segments where first_position = ?').run(p);
        return `segment at position ${p} deleted from the partition`;
      }),
  },
  {
    name: 'segment range changed',
    inject: (path) =>
      withPartition(path, (db) => {
        const p = db.prepare('select min(first_position) from segments').pluck().get() as number;
        db.prepare(
          'update segments set event_count = event_count - 1 where first_position = ?',
        ).run(p);
        return `segment at position ${p}: event_count - 1`;
      }),
  },
  {
    name: 'partition digest changed',
    inject: (path) =>
      withPartition(path, (db) => {
        db.prepare("update partition_meta set value = value || '0' where key = 'digest'").run();
        return 'partition_meta digest changed';
      }),
  },
  {
    name: 'file header bit flip',
    inject: (path) => {
      flipAt(path, 3, 2);
      return 'bit 2 of byte 3 (the "SQLite format 3" header) flipped';
    },
  },
  {
    name: 'file truncated to half',
    inject: (path) => {
      const size = statSync(path).size;
      truncateSync(path, Math.floor(size / 2));
      return `cut from ${size} to ${Math.floor(size / 2)} bytes`;
    },
  },
  {
    name: 'file truncated to one page',
    inject: (path) => {
      const size = statSync(path).size;
      truncateSync(path, 4096);
      return `cut from ${size} to 4096 bytes`;
    },
  },
  {
    name: 'file deleted',
    inject: (path) => {
      rmSync(path);
      return 'partition file removed';
    },
  },
];

/** What the checks say about a damaged data directory. */
interface Found {
  readonly archive: string[];
  readonly cli: string[];
  readonly served: string | undefined;
  readonly refused: string | undefined;
}

async function check(dir: string, partition: string, pristine: StoreContents): Promise<Found> {
  const archive = openArchive({ databasePath: join(dir, 'state.db') });
  let named: string[];
  try {
    named = archive
      .verify()
      .problems.filter((p) => p.partition === partition)
      .map((p) => `${p.kind}: ${p.message}`);
  } finally {
    archive.close();
  }
  const cli = sh(process.execPath, [CLI_MAIN, 'verify', '--deep', '--json', '--data-dir', dir]);
  const cliNamed: string[] = [];
  if (cli.status !== 0) {
    try {
      const report = JSON.parse(cli.stdout) as {
        problems?: { kind: string; where: string; message: string }[];
      };
      for (const p of report.problems ?? [])
        if (`${p.where} ${p.message}`.includes(partition))
          cliNamed.push(`${p.kind} at ${p.where}: ${p.message}`);
    } catch {
      cliNamed.push(
        `exit ${String(cli.status)} without a JSON report: ${(cli.stderr || cli.stdout).slice(0, 200)}`,
      );
    }
  }
  // Nothing corrupt served as valid: a full read fails, or gives the pristine events.
  let served: string | undefined;
  let refused: string | undefined;
  try {
    const now = await readContents(dir);
    const first = now.lines.findIndex((line, i) => line !== pristine.lines[i]);
    if (first >= 0 || now.lines.length !== pristine.lines.length)
      served = `a full read returned ${now.lines.length} events (pristine ${pristine.lines.length}), first difference at index ${first}`;
  } catch (error) {
    refused = error instanceof Error ? error.message : String(error);
  }
  return { archive: named, cli: cliNamed, served, refused };
}

/**
 * Bit flips and truncations in archive partition files (each on a fresh copy of one
 * archived data directory): the archive's `verify` and `wfstate verify --deep` must name
 * the partition, and a full read through the partitions must refuse rather than return
 * changed events.
 */
export const corruptArchiveRow: FaultRow = {
  id: 'corrupt.archive',
  fault: 'bit flips and truncations in archive partition files; a deleted partition',
  async run(ctx, result) {
    const tmp = tempDir('corrupt-archive');
    try {
      const pristineDir = join(tmp.dir, 'pristine');
      await writeSealedSessions(pristineDir);
      archiveAll(pristineDir);
      const partitions = readdirSync(join(pristineDir, 'archive'))
        .filter((n) => /^\d{4}-\d{2}\.db$/.test(n))
        .map((n) => n.slice(0, -3))
        .sort();
      if (partitions.length < 2)
        throw new Error(`expected several partitions, got ${partitions.join(', ')}`);
      const pristine = await readContents(pristineDir);
      const clean = await check(pristineDir, partitions[0]!, pristine);
      if (
        clean.archive.length + clean.cli.length > 0 ||
        clean.served !== undefined ||
        clean.refused !== undefined
      ) {
        result.problems.push(
          `the pristine archive does not verify: ${JSON.stringify(clean).slice(0, 500)}`,
        );
        return;
      }
      const random = prng(0xa5c41e);
      const randomFlips = ctx.long ? 60 : 3;
      const cases = [
        ...CASES,
        ...Array.from({ length: randomFlips }, (_, i) => ({
          name: `random segment bit flip ${i + 1}`,
          inject: rawSegmentFlip,
        })),
      ];
      let byCli = 0;
      let refusedReads = 0;
      for (const [i, c] of cases.entries()) {
        const caseDir = join(tmp.dir, `case-${i}`);
        copyDataDir(pristineDir, caseDir);
        const partition = partitions[i % partitions.length]!;
        const what = c.inject(join(caseDir, 'archive', `${partition}.db`), random);
        const found = await check(caseDir, partition, pristine);
        result.injected += 1;
        result.runs += 1;
        if (found.archive.length > 0) result.detected += 1;
        if (found.cli.length > 0) byCli += 1;
        else
          result.problems.push(
            `${c.name} in ${partition} (${what}): wfstate verify --deep did not name the partition`,
          );
        if (found.refused !== undefined) refusedReads += 1;
        if (found.served !== undefined)
          result.problems.push(
            `${c.name} in ${partition} (${what}): served as valid: ${found.served}`,
          );
        if (i < CASES.length || found.archive.length === 0)
          result.notes.push(
            `${c.name} in ${partition} (${what}): ${found.archive.length > 0 ? `archive.verify: ${found.archive[0]!.slice(0, 200)}` : 'NOT DETECTED by archive.verify'}; wfstate verify: ${found.cli[0]?.slice(0, 160) ?? 'clean'}; full read: ${found.refused !== undefined ? `refused (${found.refused.slice(0, 160)})` : found.served === undefined ? 'the pristine events (the damage touched nothing read)' : 'CHANGED EVENTS SERVED'}`,
          );
        rmSync(caseDir, { recursive: true, force: true });
      }
      result.notes.push(
        `${result.injected} injections over ${partitions.length} partitions (${pristine.lines.length} events): archive.verify named ${result.detected}, wfstate verify --deep named ${byCli}; full reads refused ${refusedReads}, served changed events 0 times unless listed above`,
      );
    } finally {
      tmp.remove();
    }
  },
};
