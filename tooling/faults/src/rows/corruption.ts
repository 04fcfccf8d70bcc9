import {
  copyFileSync,
  existsSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createEventStore, type EventStore } from '@wirthforge/eventstore';
import { createSnapshotStore } from '@wirthforge/snapshots';
import { type StoredEventRecord } from '@wirthforge/storage';
import {
  openConnection,
  openSqliteReadOnlyStorage,
  openSqliteStorage,
} from '@wirthforge/storage-sqlite';
import { type FaultRow, type RowResult } from '../fault-row.js';
import {
  CLI_MAIN,
  checkLog,
  integrityProblems,
  killChild,
  MODULES,
  sh,
  sleep,
  startChild,
  tempDir,
  waitForOutput,
} from '../fault-harness.js';
import { parseWriterOutput, WRITER_CHILD } from '../writer-child.js';
import { sessionEvents } from './crash-daemon.js';

/** Waits until the database at `path` holds at least `count` segments (60 s at most). */
async function waitForSegments(path: string, count: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const c = openConnection(path, { readonly: true, fileMustExist: true });
    let sealed: number;
    try {
      sealed = c.prepare('select count(*) from segments').pluck().get() as number;
    } finally {
      c.close();
    }
    if (sealed >= count) return;
    if (Date.now() > deadline)
      throw new Error(`${path}: ${sealed} of ${count} segments sealed after 60 s`);
    await sleep(100);
  }
}

/** A pristine data directory: a session of sealed segments, hot rows and snapshots. */
async function buildPristine(dir: string): Promise<{ stream: string }> {
  const storage = await openSqliteStorage({
    path: join(dir, 'state.db'),
    seal: { minEvents: 120, maxAgeMs: 50 },
  });
  const store: EventStore = createEventStore({ storage });
  const snapshots = createSnapshotStore(store, { fullEvery: 2 });
  const session = await store.startSession({ userId: 'ada', mode: 'offline', version: '1.0.0' });
  const events = sessionEvents(session.id, 12, 99);
  for (let i = 0; i < events.length; i += 60) {
    await store.appendToStream(session.stream, events.slice(i, i + 60));
    if (i % 240 === 0) await snapshots.create(session.stream);
    // The writer seals in idle turns: wait (however loaded the machine) for the two
    // segments the injections below need.
    if (i === 480) await waitForSegments(join(dir, 'state.db'), 2);
  }
  await snapshots.create(session.stream);
  await store.close();
  return { stream: session.stream };
}

type Injector = (db: Database.Database, dir: string) => string;

function flipBlob(
  table: 'events' | 'snapshots' | 'segments',
  column: string,
  mode: 'flip' | 'truncate',
): Injector {
  return (db) => {
    const key = table === 'events' ? 'position' : 'id';
    const row = db
      .prepare(
        `select ${key} as k, ${column} as v from ${table} order by ${key} desc limit 1 offset 1`,
      )
      .get() as { k: number; v: Buffer } | undefined;
    if (row === undefined) throw new Error(`no row in ${table} to damage`);
    const data = Buffer.from(row.v);
    if (mode === 'flip') data[data.length >> 1] = data[data.length >> 1]! ^ 0x10;
    const next = mode === 'flip' ? data : data.subarray(0, data.length >> 1);
    db.prepare(`update ${table} set ${column} = ? where ${key} = ?`).run(next, row.k);
    return `${table} ${key} ${row.k}: ${column} ${mode === 'flip' ? 'bit flipped' : `truncated to ${next.length} of ${data.length} bytes`}`;
  };
}

/** The database-file faults (the file checkpointed, no WAL). */
const FILE_CASES: { name: string; inject: Injector }[] = [
  { name: 'row payload bit flip', inject: flipBlob('events', 'payload', 'flip') },
  { name: 'row payload truncated', inject: flipBlob('events', 'payload', 'truncate') },
  {
    name: 'row checksum changed',
    inject: (db) => {
      const row = db
        .prepare('select position from events order by position desc limit 1')
        .get() as { position: number };
      db.prepare('update events set checksum = checksum + 1 where position = ?').run(row.position);
      return `events position ${row.position}: checksum changed`;
    },
  },
  {
    name: 'row timestamp changed',
    inject: (db) => {
      const row = db
        .prepare('select position from events order by position desc limit 1')
        .get() as { position: number };
      db.prepare('update events set timestamp_us = timestamp_us + 1 where position = ?').run(
        row.position,
      );
      return `events position ${row.position}: timestamp_us + 1`;
    },
  },
  { name: 'snapshot bit flip', inject: flipBlob('snapshots', 'data', 'flip') },
  { name: 'snapshot truncated', inject: flipBlob('snapshots', 'data', 'truncate') },
  { name: 'segment bit flip', inject: flipBlob('segments', 'data', 'flip') },
  { name: 'segment truncated', inject: flipBlob('segments', 'data', 'truncate') },
];

interface Detection {
  readonly cli: string[];
  readonly integrity: string[];
  readonly snapshots: string[];
  readonly served: string | undefined;
}

/** Every verifier on a data directory, and whether a full read serves anything. */
async function detect(
  dir: string,
  pristine: ReadonlyMap<bigint, string> | undefined,
): Promise<Detection> {
  const path = join(dir, 'state.db');
  const cli = sh(process.execPath, [CLI_MAIN, 'verify', '--deep', '--json', '--data-dir', dir]);
  const cliProblems: string[] = [];
  if (cli.status !== 0) {
    try {
      const report = JSON.parse(cli.stdout) as {
        problems?: { kind: string; where: string; message: string }[];
        error?: { code: string; message: string };
      };
      for (const p of report.problems ?? [])
        cliProblems.push(`${p.kind} at ${p.where}: ${p.message}`);
      if (report.error !== undefined)
        cliProblems.push(`${report.error.code}: ${report.error.message}`);
    } catch {
      cliProblems.push(
        `exit ${String(cli.status)}: ${(cli.stderr || cli.stdout).trim().slice(0, 300)}`,
      );
    }
    if (cliProblems.length === 0) cliProblems.push(`exit ${String(cli.status)}`);
  }
  let integrity: string[];
  try {
    integrity = await integrityProblems(path);
  } catch (error) {
    integrity = [`refused: ${error instanceof Error ? error.message : String(error)}`];
  }
  const snapshotProblems: string[] = [];
  let served: string | undefined;
  try {
    const store = createEventStore({ storage: await openSqliteStorage({ path, seal: false }) });
    try {
      const report = await createSnapshotStore(store).verify();
      for (const bad of report.bad) snapshotProblems.push(`snapshot ${bad.id}: ${bad.reason}`);
    } finally {
      await store.close();
    }
  } catch (error) {
    snapshotProblems.push(
      `store refused: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  // Nothing corrupt served as valid: a full read either fails or returns the pristine events.
  if (pristine !== undefined) {
    try {
      const storage = await openSqliteReadOnlyStorage({ path });
      try {
        for await (const record of storage.readAll()) {
          const before = pristine.get(record.position);
          const now = recordKey(record);
          if (before !== undefined && before !== now) {
            served = `position ${record.position} read with changed content`;
            break;
          }
        }
      } finally {
        await storage.close();
      }
    } catch {
      // refused: not served
    }
  }
  return { cli: cliProblems, integrity, snapshots: snapshotProblems, served };
}

/** Everything a read returns of an event, as one comparable string. */
function recordKey(record: StoredEventRecord): string {
  return [
    record.stream,
    record.version,
    record.type,
    record.schemaVersion,
    record.timestampUs,
    record.frameId,
    record.eventId,
    Buffer.from(record.payload).toString('hex'),
  ].join('|');
}

async function readAllEvents(path: string): Promise<Map<bigint, string>> {
  const out = new Map<bigint, string>();
  const storage = await openSqliteReadOnlyStorage({ path });
  try {
    for await (const record of storage.readAll()) out.set(record.position, recordKey(record));
  } finally {
    await storage.close();
  }
  return out;
}

function copyDir(from: string, to: string): void {
  for (const name of ['state.db', 'state.db-wal', 'state.db-shm']) {
    if (existsSync(join(from, name))) copyFileSync(join(from, name), join(to, name));
    else rmSync(join(to, name), { force: true });
  }
}

function record(result: RowResult, name: string, what: string, found: Detection): void {
  result.injected += 1;
  const named = [
    ...found.cli.map((p) => `verify: ${p}`),
    ...found.integrity.map((p) => `checkIntegrity: ${p}`),
    ...found.snapshots.map((p) => `snapshots.verify: ${p}`),
  ];
  if (named.length > 0) result.detected += 1;
  if (found.served !== undefined) result.problems.push(`${name}: served as valid: ${found.served}`);
  result.notes.push(
    `${name} (${what}): ${named.length > 0 ? `detected; ${named[0]!.slice(0, 240)}` : 'NOT DETECTED'}${found.cli.length === 0 ? ' [wfstate verify --deep: clean]' : ''}`,
  );
}

/**
 * Bit flips and truncations of rows, snapshots and segments in the database file; each
 * case on a fresh copy of one pristine data directory, then `wfstate verify --deep
 * --json`, the storage's full integrity check and the snapshots' verify, and a full read
 * that must not return changed content.
 */
export const corruptFileRow: FaultRow = {
  id: 'corrupt.file',
  fault: 'bit flips and truncations in rows, snapshots, segments; a truncated database file',
  async run(ctx, result) {
    const tmp = tempDir('corrupt');
    try {
      const pristineDir = join(tmp.dir, 'pristine');
      const caseDir = join(tmp.dir, 'case');
      sh('mkdir', ['-p', pristineDir, caseDir]);
      await buildPristine(pristineDir);
      const pristine = await readAllEvents(join(pristineDir, 'state.db'));
      const clean = await detect(pristineDir, pristine);
      if (clean.cli.length + clean.integrity.length + clean.snapshots.length > 0) {
        result.problems.push(`the pristine store does not verify: ${JSON.stringify(clean)}`);
        return;
      }
      const rounds = ctx.long ? 5 : 1;
      for (let round = 0; round < rounds; round++) {
        for (const c of FILE_CASES) {
          copyDir(pristineDir, caseDir);
          const db = new Database(join(caseDir, 'state.db'));
          let what: string;
          try {
            what = c.inject(db, caseDir);
          } finally {
            db.close();
          }
          result.runs += 1;
          record(result, c.name, what, await detect(caseDir, pristine));
          ctx.log(`corrupt.file: ${c.name}`);
        }
        // A truncated file: the tail pages are gone.
        copyDir(pristineDir, caseDir);
        const size = statSync(join(caseDir, 'state.db')).size;
        truncateSync(join(caseDir, 'state.db'), Math.floor(size * (0.5 + round * 0.08)));
        result.runs += 1;
        record(
          result,
          'file truncated',
          `state.db cut from ${size} bytes`,
          await detect(caseDir, pristine),
        );
      }
    } finally {
      tmp.remove();
    }
  },
};

/** The WAL's frames: page number and whether a later frame writes the same page. */
function walFrames(wal: Buffer): { page: number; rewritten: boolean; commit: boolean }[] {
  const pageSize = wal.readUInt32BE(8);
  const count = Math.floor((wal.length - 32) / (24 + pageSize));
  const frames = Array.from({ length: count }, (_, i) => {
    const at = 32 + i * (24 + pageSize);
    return { page: wal.readUInt32BE(at), rewritten: false, commit: wal.readUInt32BE(at + 4) !== 0 };
  });
  const seen = new Set<number>();
  for (let i = count - 1; i >= 0; i--) {
    frames[i]!.rewritten = seen.has(frames[i]!.page);
    seen.add(frames[i]!.page);
  }
  return frames;
}

type WalCase = { name: string; inject: (caseDir: string, walSize: number) => string };

/** Flips one bit at each of `offsets` in the frame chosen by `pick` (its index in the WAL). */
function flipInFrame(
  caseDir: string,
  pick: (frames: ReturnType<typeof walFrames>) => number | undefined,
  offsets: readonly ((pageSize: number) => number)[],
  what: string,
): string {
  const path = join(caseDir, 'state.db-wal');
  const wal = readFileSync(path);
  const pageSize = wal.readUInt32BE(8);
  const frame = pick(walFrames(wal));
  if (frame === undefined) throw new Error(`no frame of the WAL fits: ${what}`);
  const bytes = offsets.map((offset) => 32 + frame * (24 + pageSize) + offset(pageSize));
  for (const at of bytes) wal[at] = wal[at]! ^ 0x01;
  writeFileSync(path, wal);
  return `${what}: frame ${frame + 1} of ${walFrames(wal).length}, byte(s) ${bytes.join(', ')} of ${wal.length}`;
}

/** The frame nearest `share` of the WAL that `fits`, with commit frames after it. */
function frameNear(share: number, fits: (f: { rewritten: boolean }) => boolean) {
  return (frames: ReturnType<typeof walFrames>): number | undefined => {
    const lastCommit = frames.findLastIndex((f) => f.commit);
    const want = Math.floor(frames.length * share);
    let best: number | undefined;
    frames.forEach((f, i) => {
      if (i === 0 || i >= lastCommit || !fits(f)) return;
      if (best === undefined || Math.abs(i - want) < Math.abs(best - want)) best = i;
    });
    return best;
  };
}

const inPage = (pageSize: number): number => 24 + (pageSize >> 1);

/**
 * Single bit flips anywhere in a frame (the store finds the bit and flips it back), and
 * a burst of damage in a frame whose page a later frame rewrites (left out).
 */
const WAL_FLIP_CASES: WalCase[] = [
  ...[0.25, 0.5, 0.75].map((share) => ({
    name: `WAL bit flip (page, ${share * 100} %)`,
    inject: (caseDir: string) =>
      flipInFrame(
        caseDir,
        frameNear(share, (f) => f.rewritten),
        [inPage],
        'in a page a later frame rewrites',
      ),
  })),
  {
    name: 'WAL bit flip (newest version of a page)',
    inject: (caseDir) =>
      flipInFrame(
        caseDir,
        frameNear(0.5, (f) => !f.rewritten),
        [inPage],
        'in a page no later frame rewrites',
      ),
  },
  {
    name: 'WAL bit flip (page number)',
    inject: (caseDir) =>
      flipInFrame(
        caseDir,
        frameNear(0.5, () => true),
        [() => 3],
        "in a frame's page number",
      ),
  },
  {
    name: 'WAL bit flip (frame checksum)',
    inject: (caseDir) =>
      flipInFrame(
        caseDir,
        frameNear(0.5, () => true),
        [() => 18],
        "in a frame's stored checksum",
      ),
  },
  {
    name: 'WAL bit flip (frame salt)',
    inject: (caseDir) =>
      flipInFrame(
        caseDir,
        frameNear(0.5, () => true),
        [() => 10],
        "in a frame's salt",
      ),
  },
  {
    name: 'WAL burst (page rewritten later)',
    inject: (caseDir) =>
      flipInFrame(
        caseDir,
        frameNear(0.5, (f) => f.rewritten),
        [(size) => 24 + (size >> 2), inPage],
        'two bits in a page a later frame rewrites',
      ),
  },
];

/**
 * What no repair brings back: a burst of damage in the newest version of a page, a WAL
 * cut, a WAL deleted.
 */
const WAL_LOSS_CASES: WalCase[] = [
  {
    name: 'WAL burst (newest version of a page)',
    inject: (caseDir) =>
      flipInFrame(
        caseDir,
        frameNear(0.5, (f) => !f.rewritten),
        [(size) => 24 + (size >> 2), inPage],
        'two bits in a page no later frame rewrites',
      ),
  },
  {
    name: 'WAL truncated',
    inject: (caseDir, walSize) => {
      truncateSync(join(caseDir, 'state.db-wal'), Math.floor(walSize / 2));
      return `cut to ${Math.floor(walSize / 2)} of ${walSize} bytes`;
    },
  },
  {
    name: 'WAL deleted',
    inject: (caseDir, walSize) => {
      rmSync(join(caseDir, 'state.db-wal'));
      rmSync(join(caseDir, 'state.db-shm'), { force: true });
      return `${walSize} bytes of WAL removed`;
    },
  },
];

/**
 * A writer killed before its first checkpoint (the acknowledged commits live in the WAL
 * only), then each of `cases` on a copy of its files. Reports what verify names (before
 * any writer opens the copy: from the WAL itself and the writer's head marker), what the
 * store's open reports and keeps aside (the damaged WAL copied, 0600, and a report that
 * later verifies name), what it salvaged, and how many acknowledged events the reopened
 * store lacks.
 */
async function runWalCases(
  id: string,
  cases: readonly WalCase[],
  ctx: Parameters<FaultRow['run']>[0],
  result: RowResult,
): Promise<void> {
  const tmp = tempDir('wal');
  try {
    const liveDir = join(tmp.dir, 'live');
    const caseDir = join(tmp.dir, 'case');
    sh('mkdir', ['-p', liveDir, caseDir]);
    // Every file of the killed writer's directory (the head marker included), in a
    // directory without the reports and copies of the case before.
    const copyLive = (): void => {
      rmSync(caseDir, { recursive: true, force: true });
      sh('mkdir', ['-p', caseDir]);
      for (const name of readdirSync(liveDir)) {
        copyFileSync(join(liveDir, name), join(caseDir, name));
      }
    };
    const rounds = ctx.long ? 5 : 1;
    for (let round = 0; round < rounds; round++) {
      rmSync(liveDir, { recursive: true, force: true });
      sh('mkdir', ['-p', liveDir]);
      const path = join(liveDir, 'state.db');
      const child = startChild(
        process.execPath,
        ['--input-type=module', '-e', WRITER_CHILD, '--', path, String(round), 'full', 'none'],
        MODULES,
      );
      child.process.stdin?.write('go\n');
      await waitForOutput(child, 'session ', 60_000);
      await sleep(400);
      await killChild(child);
      const acked = new Map(parseWriterOutput(child.stdout).acks);
      const walSize = existsSync(`${path}-wal`) ? statSync(`${path}-wal`).size : 0;
      for (const c of cases) {
        copyLive();
        if (!existsSync(join(caseDir, 'state.db-wal'))) {
          result.problems.push(`${c.name}: the writer left no WAL to damage`);
          continue;
        }
        const what = c.inject(caseDir, walSize);
        result.runs += 1;
        // verify (CLI, then checkIntegrity) first, on the copy as the crash left it;
        // detect then opens the store, which reports, salvages and keeps the damage aside.
        const found = await detect(caseDir, undefined);
        const kept = readdirSync(caseDir).filter(
          (name) =>
            name.includes('.damage') ||
            name.includes('-wal.damaged-') ||
            name.includes('.salvage-'),
        );
        for (const name of kept) {
          const mode = statSync(join(caseDir, name)).mode & 0o777;
          if (mode !== 0o600)
            result.problems.push(`${c.name}: ${name} has mode ${mode.toString(8)}, not 600`);
        }
        const reports = kept.filter((name) => name.endsWith('.json'));
        if (reports.length === 0) {
          result.problems.push(`${c.name}: the store's open left no damage report`);
        }
        const salvage = reports
          .map(
            (name) =>
              (
                JSON.parse(readFileSync(join(caseDir, name), 'utf8')) as {
                  salvage?: { message: string; damagedPositions: number[] };
                }
              ).salvage,
          )
          .find((found) => found !== undefined);
        // Rows the salvage restored but could not verify (their page damaged beyond one
        // bit): lost, and they must be named by verify and refused by reads.
        const damaged = salvage?.damagedPositions ?? [];
        let check: { lost: number; duplicated: number; problems: string[] };
        if (damaged.length > 0) {
          const after = await integrityProblems(join(caseDir, 'state.db'));
          const named = damaged.filter((position) =>
            after.some(
              (p) => p.includes('"kind":"checksum"') && p.includes(`"position":"${position}"`),
            ),
          );
          check = {
            lost: damaged.length,
            duplicated: 0,
            problems:
              named.length === damaged.length
                ? []
                : [`damaged rows restored but not named by verify: ${damaged.join(', ')}`],
          };
        } else {
          check = await checkLog(join(caseDir, 'state.db'), acked).catch((error: unknown) => ({
            lost: acked.size,
            duplicated: 0,
            head: 0n,
            problems: [String(error)],
          }));
        }
        record(
          result,
          c.name,
          `${what}; ${acked.size} acknowledged, ${check.lost} missing afterwards; ` +
            `${salvage === undefined ? '' : `${salvage.message.slice(0, 200)}; `}kept: ${kept.join(', ') || 'nothing'}`,
          found,
        );
        result.acknowledged += acked.size;
        result.lost += check.lost;
        result.duplicated += check.duplicated;
        // What is left must be a clean prefix: no gap, integrity clean but for the
        // damage named.
        result.problems.push(...check.problems.map((p) => `${c.name}: ${p}`));
        result.problems.push(
          ...found.integrity
            .filter((p) => !p.includes('"kind":"wal"'))
            .map((p) => `${c.name}: the remaining log fails integrity: ${p}`),
        );
        ctx.log(`${id}: ${c.name}: ${acked.size} acknowledged, ${check.lost} missing`);
      }
    }
  } finally {
    tmp.remove();
  }
}

/**
 * Bit flips in the WAL of a killed writer where the repair loses nothing: one bit
 * anywhere in a frame (page, page number, stored checksum, salt), two bits in a page a
 * later frame writes again. SQLite alone would drop every commit after the flip; the
 * store's open salvages them.
 */
export const corruptWalRow: FaultRow = {
  id: 'corrupt.wal',
  fault:
    'bit flips in the WAL (commits not yet checkpointed): one bit in a page, a page number, a checksum, a salt; two bits in a page rewritten later',
  run: (ctx, result) => runWalCases('corrupt.wal', WAL_FLIP_CASES, ctx, result),
};

/** What the WAL no longer holds: a page's only copy damaged beyond one bit, a cut or deleted WAL. */
export const corruptWalLossRow: FaultRow = {
  id: 'corrupt.wal.loss',
  fault:
    'two bits flipped in the newest version of a page, a truncated WAL, a deleted WAL (not yet checkpointed)',
  knownGap:
    'the commits in a cut or deleted WAL are gone (the bytes are): SQLite opens at the last intact commit, the store names the loss (at open and in verify) and keeps what was left of the WAL. Damage beyond one bit in a page no later frame rewrites: the commits after it are salvaged when the page is an events page, but rows on it that fail their checksum are lost (named, never served); damage to its b-tree structure, or to a page no checksum covers, is not salvaged (named, the commits after it lost)',
  run: (ctx, result) => runWalCases('corrupt.wal.loss', WAL_LOSS_CASES, ctx, result),
};
