import { copyFileSync, existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openArchive } from '@wirthforge/archive';
import { createEventStore } from '@wirthforge/eventstore';
import { openSqliteReadOnlyStorage, openSqliteStorage } from '@wirthforge/storage-sqlite';
import { type FaultRow, type RowResult } from '../fault-row.js';
import {
  checkLog,
  integrityProblems,
  killChild,
  MODULES,
  prng,
  sleep,
  startChild,
  tempDir,
  waitForOutput,
  type Child,
} from '../fault-harness.js';
import { parseWriterOutput, WRITER_CHILD } from '../writer-child.js';
import {
  ARCHIVE_MODULE,
  archiveAll,
  copyDataDir,
  readContents,
  writeSealedSessions,
  type StoreContents,
} from '../archive-fixture.js';
import { sessionEvents } from './crash-daemon.js';

/**
 * The archive child: waits for `go <database>` on stdin, opens the archive, says `ready`,
 * then either moves every ended session and restores a partition, again and again
 * (`move`), or applies a retention policy keeping the newest partition (`retention`).
 */
const ARCHIVE_CHILD = `
const { openArchive } = await import(process.env.WF_ARCHIVE);
const [mode] = process.argv.slice(1);
const line = await new Promise((resolve) => process.stdin.once('data', (d) => resolve(String(d))));
const path = line.trim().split(' ')[1];
const out = (text) => process.stdout.write(text + '\\n');
const archive = openArchive({ databasePath: path });
out('ready');
if (mode === 'retention') {
  const report = archive.applyRetention({ maxPartitions: 1 });
  out('deleted ' + report.deleted.map((d) => d.partition).join(','));
  archive.close();
} else {
  for (let i = 0; ; i++) {
    const run = archive.run({ minAgeMs: 0, reclaim: i % 3 === 0 });
    out('moved ' + run.moved.length + ' resumed ' + run.resumed);
    const names = archive.list().filter((p) => p.segments > 0 && !p.deleted).map((p) => p.name);
    if (names.length > 0) archive.restore({ partition: names[i % names.length] });
    out('restored');
  }
}
`;

function startArchiveChild(mode: 'move' | 'retention'): Child {
  return startChild(process.execPath, ['--input-type=module', '-e', ARCHIVE_CHILD, '--', mode], {
    WF_ARCHIVE: ARCHIVE_MODULE,
  });
}

/** Event ids (or positions) read now, against the pristine read: lost, duplicated, changed. */
function compare(
  pristine: StoreContents,
  now: StoreContents,
  removed: (position: number) => boolean,
): { lost: number; duplicated: number; problems: string[] } {
  const problems: string[] = [];
  const seen = new Map<string, number>();
  let previous = 0;
  for (const line of now.lines) {
    const position = Number(line.slice(0, line.indexOf('|')));
    if (position <= previous && problems.length < 3)
      problems.push(`position ${position} read after ${previous}`);
    previous = position;
    seen.set(line, (seen.get(line) ?? 0) + 1);
  }
  let lost = 0;
  let duplicated = 0;
  const expected = new Set<string>();
  for (const line of pristine.lines) {
    const position = Number(line.slice(0, line.indexOf('|')));
    if (removed(position)) continue;
    expected.add(line);
    const n = seen.get(line) ?? 0;
    if (n === 0) lost += 1;
    if (n > 1) duplicated += n - 1;
  }
  const extra = now.lines.filter((l) => !expected.has(l));
  if (extra.length > 0)
    problems.push(
      `${extra.length} events read that the pristine store does not hold as such (first: ${extra[0]!.slice(0, 120)})`,
    );
  return { lost, duplicated, problems };
}

/** Replay of every stream read now equals the pristine replay (streams wholly present only). */
function replayProblems(
  pristine: StoreContents,
  now: StoreContents,
  kept: (stream: string) => boolean,
): string[] {
  const problems: string[] = [];
  for (const [stream, hash] of pristine.hashes) {
    if (!kept(stream)) continue;
    const got = now.hashes.get(stream);
    if (got !== hash)
      problems.push(`${stream}: state ${got ?? 'missing'} differs from its replay ${hash}`);
  }
  return problems;
}

/** Operations a kill left unfinished: rows of the archive's ledger in the live database. */
function ledgerRows(dir: string): number {
  const live = new Database(join(dir, 'state.db'), { readonly: true, fileMustExist: true });
  try {
    const has = live
      .prepare(
        "select count(*) from sqlite_master where type = 'table' and name = 'archive_ledger'",
      )
      .pluck()
      .get() as number;
    return has === 0
      ? 0
      : (live.prepare('select count(*) from archive_ledger').pluck().get() as number);
  } finally {
    live.close();
  }
}

/** After recovery: the archive's verify and the live file's full integrity check. */
async function finishAndCheck(dir: string): Promise<{ resumed: number; problems: string[] }> {
  const archive = openArchive({ databasePath: join(dir, 'state.db') });
  let resumed: number;
  const problems: string[] = [];
  try {
    resumed = archive.recover();
    problems.push(
      ...archive.verify().problems.map((p) => `archive ${p.kind} ${p.partition}: ${p.message}`),
    );
  } finally {
    archive.close();
  }
  problems.push(...(await integrityProblems(join(dir, 'state.db'))).map((p) => `integrity ${p}`));
  return { resumed, problems };
}

function addFigures(
  result: RowResult,
  kills: number,
  lost: number,
  duplicated: number,
  problems: string[],
): void {
  result.runs += kills;
  result.lost += lost;
  result.duplicated += duplicated;
  result.problems.push(...problems.slice(0, 20));
}

/**
 * SIGKILL of an archive mover at random moments while it moves ended sessions into
 * their partitions and restores them, again and again (three durable commits each, a
 * ledger, a VACUUM every third run). After each kill, before any recovery: every event
 * read exactly once with its content, in position order, each session's replay equal to
 * the pristine one; every 10th kill and the last, after recovery: the archive verifies
 * and the live file passes the full integrity check.
 */
export const crashArchiveRow: FaultRow = {
  id: 'crash.archive',
  fault: 'SIGKILL of an archive mover during moves and restores (ledger, partitions, VACUUM)',
  async run(ctx, result) {
    const kills = Number(process.env.WF_FAULTS_ARCHIVE_KILLS ?? (ctx.long ? 300 : 15));
    const tmp = tempDir('crash-archive');
    try {
      const dir = join(tmp.dir, 'data');
      await writeSealedSessions(dir);
      const pristine = await readContents(dir);
      result.acknowledged = pristine.lines.length;
      const random = prng(0xa3c);
      const problems: string[] = [];
      let lost = 0;
      let duplicated = 0;
      let resumed = 0;
      let moves = 0;
      let interrupted = 0;
      let next = startArchiveChild('move');
      for (let k = 0; k < kills; k++) {
        const child = next;
        child.process.stdin?.write(`go ${join(dir, 'state.db')}\n`);
        next = startArchiveChild('move');
        if (!(await waitForOutput(child, 'ready', 60_000)))
          problems.push(`kill ${k}: the mover did not start: ${child.stderr.slice(0, 300)}`);
        const t0 = performance.now();
        await sleep(random() * 1000);
        await killChild(child);
        moves += (child.stdout.match(/^moved /gm) ?? []).length;
        if (ledgerRows(dir) > 0) interrupted += 1;
        if (/Error/.test(child.stderr))
          problems.push(`kill ${k}: mover stderr ${child.stderr.slice(0, 300)}`);
        const now = await readContents(dir);
        const c = compare(pristine, now, () => false);
        result.recoverMs = Math.max(result.recoverMs, Math.round(performance.now() - t0));
        lost = Math.max(lost, c.lost);
        duplicated = Math.max(duplicated, c.duplicated);
        problems.push(...c.problems.map((p) => `kill ${k}: ${p}`));
        problems.push(...replayProblems(pristine, now, () => true).map((p) => `kill ${k}: ${p}`));
        if ((k + 1) % 10 === 0 || k === kills - 1) {
          const finished = await finishAndCheck(dir);
          resumed += finished.resumed;
          problems.push(...finished.problems.map((p) => `kill ${k}: ${p}`));
        }
        if ((k + 1) % 50 === 0) ctx.log(`crash.archive: ${k + 1}/${kills} kills`);
      }
      await killChild(next);
      if (interrupted === 0 && kills >= 15)
        problems.push('no kill landed inside a move or restore (no ledger row ever left)');
      addFigures(result, kills, lost, duplicated, problems);
      result.recoverMs = 0;
      result.notes.push(
        `${kills} kills of a mover (${moves} archive runs completed between them), ${pristine.lines.length} events in ${pristine.hashes.size} sessions over 3 months; ${interrupted} kills left a move or restore unfinished (a ledger row); after each kill, before any recovery: every event read once, unchanged, in position order, each session's replay equal; every 10th kill and the last: recovery (${resumed} operations finished there, the next mover finishes the others), then a clean archive verify and full integrity check`,
      );
    } finally {
      tmp.remove();
    }
  },
};

/**
 * SIGKILL of a retention run (keep the newest partition: delete the two older ones) at
 * random moments, each on a fresh copy of an archived store. After each: every event of
 * a kept partition read exactly once and unchanged, a deleted partition gone whole
 * (every catalog row tombstoned, none of its events served) or not at all, and after
 * recovery the archive verifies and the live file passes the full integrity check.
 */
export const crashRetentionRow: FaultRow = {
  id: 'crash.retention',
  fault: 'SIGKILL during retention (partitions deleted whole: tombstones, unlink, VACUUM)',
  async run(ctx, result) {
    const kills = Number(process.env.WF_FAULTS_RETENTION_KILLS ?? (ctx.long ? 300 : 10));
    const tmp = tempDir('crash-retention');
    try {
      const template = join(tmp.dir, 'template');
      await writeSealedSessions(template);
      archiveAll(template);
      const pristine = await readContents(template);
      result.acknowledged = pristine.lines.length;
      // How long an unkilled run takes, from `go` to its end: the kills land within it.
      const calibrate = join(tmp.dir, 'calibrate');
      copyDataDir(template, calibrate);
      const probe = startArchiveChild('retention');
      await sleep(200);
      probe.process.stdin?.write(`go ${join(calibrate, 'state.db')}\n`);
      await waitForOutput(probe, 'ready', 60_000);
      const tc = performance.now();
      await waitForOutput(probe, 'deleted', 60_000);
      const span = performance.now() - tc;
      const deletedNames = /deleted (.*)/.exec(probe.stdout)?.[1] ?? '';
      await killChild(probe);
      const random = prng(0x4e7);
      const problems: string[] = [];
      let lost = 0;
      let duplicated = 0;
      let whole = 0;
      let none = 0;
      let partial = 0;
      let resumed = 0;
      let interrupted = 0;
      let checked = 0;
      let next = startArchiveChild('retention');
      for (let k = 0; k < kills; k++) {
        const dir = join(tmp.dir, `kill-${k}`);
        copyDataDir(template, dir);
        const child = next;
        await sleep(50);
        child.process.stdin?.write(`go ${join(dir, 'state.db')}\n`);
        next = startArchiveChild('retention');
        await waitForOutput(child, 'ready', 60_000);
        // Stratified over 1.5 times an unkilled run: every part of it gets kills.
        await sleep(((k + random()) / kills) * span * 1.5);
        await killChild(child);
        if (ledgerRows(dir) > 0) interrupted += 1;
        // Tombstoned ranges: deleted by the policy, never served again.
        const live = new Database(join(dir, 'state.db'), { readonly: true, fileMustExist: true });
        let tombstones: { partition: string; from: number; to: number; deleted: number }[];
        try {
          tombstones = live
            .prepare(
              'select partition, first_position as "from", last_position as "to", deleted_us is not null as deleted from archived_segments',
            )
            .all() as typeof tombstones;
        } finally {
          live.close();
        }
        const byPartition = new Map<string, { total: number; deleted: number }>();
        for (const t of tombstones) {
          const p = byPartition.get(t.partition) ?? { total: 0, deleted: 0 };
          p.total += 1;
          p.deleted += t.deleted ? 1 : 0;
          byPartition.set(t.partition, p);
        }
        for (const [name, p] of byPartition) {
          if (p.deleted > 0 && p.deleted < p.total) {
            partial += 1;
            problems.push(
              `kill ${k}: partition ${name} half deleted: ${p.deleted} of ${p.total} catalog rows tombstoned`,
            );
          }
        }
        const deletedCount = [...byPartition.values()].filter(
          (p) => p.deleted === p.total && p.total > 0,
        ).length;
        if (deletedCount === 0) none += 1;
        else whole += 1;
        const gone = tombstones.filter((t) => t.deleted);
        const removed = (position: number): boolean =>
          gone.some((t) => position >= t.from && position <= t.to);
        const now = await readContents(dir);
        const c = compare(pristine, now, removed);
        lost += c.lost;
        duplicated += c.duplicated;
        problems.push(...c.problems.map((p) => `kill ${k}: ${p}`));
        const goneStreams = new Set<string>();
        for (const line of pristine.lines) {
          const [position, stream] = line.split('|');
          if (removed(Number(position))) goneStreams.add(stream ?? '');
        }
        problems.push(
          ...replayProblems(pristine, now, (s) => !goneStreams.has(s)).map(
            (p) => `kill ${k}: ${p}`,
          ),
        );
        // Recovery, verify and the full integrity check: after every kill that left an
        // operation unfinished, every 5th and the last.
        if (ledgerRows(dir) > 0 || (k + 1) % 5 === 0 || k === kills - 1) {
          const finished = await finishAndCheck(dir);
          resumed += finished.resumed;
          checked += 1;
          problems.push(...finished.problems.map((p) => `kill ${k}: ${p}`));
        }
        rmSync(dir, { recursive: true, force: true });
      }
      await killChild(next);
      addFigures(result, kills, lost, duplicated, problems);
      result.notes.push(
        `${kills} kills of \`applyRetention({ maxPartitions: 1 })\` (an unkilled run deletes ${deletedNames} in about ${Math.round(span)} ms after its archive opens; kills spread evenly over 1.5 times that): ${interrupted} left a delete unfinished (a ledger row), ${whole} left the old partitions' catalog rows tombstoned, ${none} none, ${partial} some of one partition's; after every kill the kept partitions' events read once and unchanged, each kept session's replay equal; ${checked} times (each unfinished delete, every 5th kill, the last) recovery (${resumed} deletes finished), then archive verify and the full integrity check: clean`,
      );
    } finally {
      tmp.remove();
    }
  },
};

/**
 * A schema-1 database: one written at the current schema with hot rows only (schema 1
 * had no sealing) and a session left open, then taken back to version 1 (the table of
 * migration 0002 dropped, its record and the version with it).
 */
async function schemaOneTemplate(path: string): Promise<Map<string, bigint>> {
  const storage = await openSqliteStorage({ path, seal: false });
  const store = createEventStore({ storage });
  const session = await store.startSession({ userId: 'ada', mode: 'offline', version: '1.0.0' });
  await store.appendToStream(session.stream, sessionEvents(session.id, 3, 41).slice(0, 400));
  const ended = await store.startSession({ userId: 'ada', mode: 'offline', version: '1.0.0' });
  await store.appendToStream(ended.stream, sessionEvents(ended.id, 2, 42).slice(0, 200));
  await store.endSession(ended.id, { reason: 'user_exit' });
  await store.close();
  const db = new Database(path);
  try {
    db.exec(
      "drop table sealed_event_ids; delete from kysely_migration where name = '0002_sealed_event_ids'; update metadata set value = '1' where key = 'schema_version'; pragma wal_checkpoint(TRUNCATE);",
    );
  } finally {
    db.close();
  }
  const acked = new Map<string, bigint>();
  const reader = await openSqliteReadOnlyStorage({ path });
  try {
    for await (const r of reader.readAll())
      if (r.eventId !== null) acked.set(r.eventId, r.position);
  } finally {
    await reader.close();
  }
  return acked;
}

function schemaVersionOf(path: string): string {
  const db = new Database(path, { fileMustExist: true });
  try {
    return String(
      db.prepare("select value from metadata where key = 'schema_version'").pluck().get(),
    );
  } finally {
    db.close();
  }
}

function startWriter(path: string, seed: number): Child {
  return startChild(
    process.execPath,
    ['--input-type=module', '-e', WRITER_CHILD, '--', path, String(seed), 'full', 'none'],
    MODULES,
  );
}

/**
 * SIGKILL of a writer while it opens a schema-1 database (a fresh copy each time) and
 * upgrades it to the current schema, at random moments within the open; then a second
 * writer opens the same file (finishing the upgrade, recovering the open session with
 * its replay compared) and is killed while it records. After each pair: every event of
 * the template and every acknowledged one stored once at its position, no gap, the
 * schema current; every 5th and the last: the full integrity check.
 */
export const crashMigrationRow: FaultRow = {
  id: 'crash.migration',
  fault: 'SIGKILL while a schema-1 database is upgraded (open, migration 0002, recovery)',
  async run(ctx, result) {
    const kills = Number(process.env.WF_FAULTS_MIGRATION_KILLS ?? (ctx.long ? 300 : 10));
    const tmp = tempDir('crash-migration');
    try {
      const template = join(tmp.dir, 'schema1.db');
      const base = await schemaOneTemplate(template);
      if (schemaVersionOf(template) !== '1') throw new Error('the template is not at schema 1');
      const path = join(tmp.dir, 'state.db');
      // How long an open takes (go to `opened`): the kills land within 1.3 times that.
      copyFileSync(template, path);
      const probe = startWriter(path, 1);
      await sleep(300);
      probe.process.stdin?.write('go\n');
      await waitForOutput(probe, 'session ', 60_000);
      const openMs = parseWriterOutput(probe.stdout).phases.opened ?? 500;
      await killChild(probe);
      const random = prng(0x5c1);
      const problems: string[] = [];
      let beforeCommit = 0;
      let afterCommit = 0;
      let recovered = 0;
      let lost = 0;
      let duplicated = 0;
      let acknowledged = base.size;
      let nextA = startWriter(path, 100);
      let nextB = startWriter(path, 200);
      for (let k = 0; k < kills; k++) {
        // A fresh file: the database and everything beside it (WAL, shm, lock, the
        // writer's head marker, damage reports of the last copy).
        for (const name of readdirSync(tmp.dir))
          if (name.startsWith('state.db')) rmSync(join(tmp.dir, name), { force: true });
        copyFileSync(template, path);
        const acked = new Map(base);
        const a = nextA;
        const b = nextB;
        await sleep(30);
        const t0 = performance.now();
        a.process.stdin?.write('go\n');
        nextA = startWriter(path, 100 + k + 1);
        await sleep(random() * openMs * 1.3);
        await killChild(a);
        const outA = parseWriterOutput(a.stdout);
        for (const [id, position] of outA.acks) acked.set(id, position);
        problems.push(...outA.errors.map((e) => `kill ${k}: first writer ${e}`));
        if (schemaVersionOf(path) === '1') beforeCommit += 1;
        else afterCommit += 1;
        b.process.stdin?.write('go\n');
        nextB = startWriter(path, 200 + k + 1);
        if (!(await waitForOutput(b, 'session ', 60_000)))
          problems.push(
            `kill ${k}: the next writer did not open the file: ${b.stderr.slice(0, 300)} ${b.stdout.slice(-300)}`,
          );
        result.recoverMs = Math.max(result.recoverMs, Math.round(performance.now() - t0));
        await sleep(20 + random() * 100);
        await killChild(b);
        const outB = parseWriterOutput(b.stdout);
        for (const [id, position] of outB.acks) acked.set(id, position);
        recovered += outB.recovered + outA.recovered;
        for (const m of [...outA.replayMismatches, ...outB.replayMismatches])
          problems.push(`kill ${k}: recovered state of ${m} differs from its replay`);
        problems.push(...outB.errors.map((e) => `kill ${k}: second writer ${e}`));
        if (schemaVersionOf(path) !== '2')
          problems.push(`kill ${k}: schema ${schemaVersionOf(path)} after a full open`);
        const check = await checkLog(path, acked);
        lost += check.lost;
        duplicated += check.duplicated;
        acknowledged += acked.size - base.size;
        problems.push(...check.problems.map((p) => `kill ${k}: ${p}`));
        if ((k + 1) % 5 === 0 || k === kills - 1)
          problems.push(
            ...(await integrityProblems(path)).slice(0, 3).map((p) => `kill ${k}: integrity ${p}`),
          );
        if (!existsSync(path)) problems.push(`kill ${k}: the database is gone`);
      }
      await killChild(nextA);
      await killChild(nextB);
      result.acknowledged = acknowledged;
      addFigures(result, kills, lost, duplicated, problems);
      result.notes.push(
        `${kills} kills while opening a schema-1 copy (${base.size} events, one session left open; an open takes about ${openMs} ms here, kills spread over 1.3 times that): ${beforeCommit} left the file at schema 1 (killed before the upgrade committed), ${afterCommit} at schema 2; each followed by a second writer that upgraded or opened it, recovered the open sessions (${recovered} recoveries, each equal to its replay) and was killed while recording; every event of the template and every acknowledged one once at its position`,
      );
      if (beforeCommit === 0 || afterCommit === 0)
        result.notes.push('!!! the kills did not land on both sides of the upgrade commit');
    } finally {
      tmp.remove();
    }
  },
};
