import { existsSync, readdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createEventStore } from '@wirthforge/eventstore';
import { isStorageError } from '@wirthforge/storage';
import { openSqliteStorage } from '@wirthforge/storage-sqlite';
import { type FaultRow, type RowResult } from '../fault-row.js';
import {
  checkLog,
  ensureDebianPackage,
  integrityProblems,
  killChild,
  MODULES,
  sh,
  sleep,
  startChild,
  tempDir,
  waitForOutput,
} from '../fault-harness.js';
import { makeTmpfs, mountUnavailable, remount } from '../loop-image.js';
import { parseWriterOutput, WRITER_CHILD } from '../writer-child.js';
import { sessionEvents } from './crash-daemon.js';

function describeError(error: unknown): string {
  if (isStorageError(error)) return `StorageError ${error.code}: ${error.message}`;
  if (error instanceof Error)
    return `${error.name}${'code' in error ? ` ${String((error as { code: unknown }).code)}` : ''}: ${error.message}`;
  return String(error);
}

function skipWithoutMount(result: RowResult, log: (line: string) => void): boolean {
  const unavailable = mountUnavailable();
  if (unavailable === undefined) return false;
  result.status = 'skip';
  result.notes.push(`SKIPPED: ${unavailable}`);
  log(`!!! ${result.id} SKIPPED: ${unavailable}`);
  return true;
}

/** Files other than the database left in a directory after a clean close. */
function leftovers(dir: string, keep: readonly string[]): string[] {
  return readdirSync(dir).filter((name) => !keep.includes(name) && name !== 'lost+found');
}

/**
 * A 4 MiB tmpfs filled to about 200 KiB free, then ingest in batches of 120 until the
 * disk is full: the error must be a typed `full`, every acknowledged event stored, the
 * refused batch absent; then the space comes back and the same batch (same event ids)
 * is accepted; after close, no temporary file is left.
 */
export const diskFullRow: FaultRow = {
  id: 'disk.full',
  fault: 'disk full (tmpfs), then space returns',
  async run(ctx, result) {
    if (skipWithoutMount(result, ctx.log)) return;
    const tmp = tempDir('full');
    const rounds = ctx.long ? 5 : 2;
    try {
      for (let round = 0; round < rounds; round++) {
        const fs = makeTmpfs(tmp.dir, `full${round}`, 4096);
        try {
          const path = join(fs.mountPoint, 'state.db');
          const store = createEventStore({
            storage: await openSqliteStorage({
              path,
              seal: round % 2 === 0 ? false : { minEvents: 200, maxAgeMs: 50 },
            }),
          });
          const session = await store.startSession({
            userId: 'ada',
            mode: 'offline',
            version: '1.0.0',
          });
          const stat = statfsSync(fs.mountPoint);
          const filler = join(fs.mountPoint, 'filler');
          writeFileSync(filler, Buffer.alloc(Math.max(0, stat.bavail * stat.bsize - 200 * 1024)));
          const events = sessionEvents(session.id, 300, round + 3);
          const acked = new Map<string, bigint>();
          let refused: typeof events | undefined;
          let firstError: unknown;
          for (let i = 0; i < events.length; i += 120) {
            const batch = events.slice(i, i + 120);
            try {
              const r = await store.appendToStream(session.stream, batch);
              batch.forEach((e, j) => acked.set(e.event_id!, r.positions[j]!));
            } catch (error) {
              refused = batch;
              firstError = error;
              break;
            }
          }
          result.runs += 1;
          if (refused === undefined) {
            result.problems.push(`round ${round}: the disk never filled`);
            await store.close();
            continue;
          }
          const named = describeError(firstError);
          result.notes.push(
            `round ${round}: after ${acked.size} acknowledged events: ${named.slice(0, 200)}`,
          );
          if (!isStorageError(firstError) || firstError.code !== 'full') {
            result.problems.push(
              `round ${round}: disk full answered with ${named.slice(0, 300)}, not StorageError full`,
            );
          }
          // Space returns: the refused batch again, then more.
          rmSync(filler);
          const t0 = performance.now();
          try {
            const r = await store.appendToStream(session.stream, refused);
            refused.forEach((e, j) => acked.set(e.event_id!, r.positions[j]!));
            const more = events.slice(-120).filter((e) => !acked.has(e.event_id!));
            const r2 = await store.appendToStream(session.stream, more);
            more.forEach((e, j) => acked.set(e.event_id!, r2.positions[j]!));
            result.recoverMs = Math.max(result.recoverMs, Math.round(performance.now() - t0));
          } catch (error) {
            result.problems.push(
              `round ${round}: writing did not resume after space returned: ${describeError(error)}`,
            );
          }
          await store.close();
          // Before any reader opens it (a read-only connection leaves its -wal and -shm).
          const left = leftovers(fs.mountPoint, ['state.db']);
          if (left.length > 0)
            result.problems.push(`round ${round}: files left after close: ${left.join(', ')}`);
          result.acknowledged += acked.size;
          const check = await checkLog(path, acked);
          result.lost += check.lost;
          result.duplicated += check.duplicated;
          result.problems.push(...check.problems, ...(await integrityProblems(path)));
        } finally {
          fs.unmount();
        }
      }
    } finally {
      tmp.remove();
    }
  },
};

/**
 * A writer at FULL (ingest, seal, snapshots, backups) under libfiu's `fiu-run`, with
 * random failures of fsync/fdatasync, pwrite and rename; then a writer without faults
 * on the same file. Every acknowledged event must be there, the file intact, the
 * errors typed, and the second writer must write.
 */
export const ioErrorRow: FaultRow = {
  id: 'disk.io',
  fault: 'I/O errors (fiu-run: fsync, fdatasync, pwrite, rename fail at random)',
  async run(ctx, result) {
    if (!ensureDebianPackage('fiu-run', 'fiu-utils', ctx.log)) {
      result.status = 'skip';
      result.notes.push(
        'SKIPPED: fiu-run (Debian fiu-utils) is not installed and apt-get could not install it',
      );
      ctx.log('!!! disk.io SKIPPED: no fiu-run');
      return;
    }
    const points = [
      ['posix/io/sync/fdatasync', 0.05],
      ['posix/io/sync/fsync', 0.05],
      ['posix/io/rw/pwrite', 0.01],
      ['posix/io/dir/rename', 0.3],
    ] as const;
    const rounds = ctx.long ? 20 : 4;
    const tmp = tempDir('io');
    const codes = new Map<string, number>();
    try {
      for (let round = 0; round < rounds; round++) {
        const path = join(tmp.dir, `io-${round}.db`);
        const [name, probability] = points[round % points.length]!;
        const child = startChild(
          'fiu-run',
          [
            '-x',
            '-c',
            `enable_random name=${name},probability=${probability}`,
            process.execPath,
            '--input-type=module',
            '-e',
            WRITER_CHILD,
            '--',
            path,
            String(round),
            'full',
            'backup',
          ],
          MODULES,
        );
        child.process.stdin?.write('go\n');
        await waitForOutput(child, 'error ', 4000);
        await sleep(300);
        await killChild(child);
        const out = parseWriterOutput(child.stdout);
        const acked = new Map(out.acks);
        for (const e of out.errors) {
          const code = e.split(' ')[1] ?? 'none';
          codes.set(`${name}→${code}`, (codes.get(`${name}→${code}`) ?? 0) + 1);
          if (code === 'undefined' || code === 'internal')
            result.problems.push(`round ${round} (${name}): untyped error: ${e.slice(0, 300)}`);
        }
        if (out.errors.length === 0)
          result.notes.push(
            `round ${round} (${name}): no injected failure surfaced (${child.stderr.trim().slice(0, 200)})`,
          );
        // Writing resumes: a writer without faults on the same file.
        const t0 = performance.now();
        const again = startChild(
          process.execPath,
          [
            '--input-type=module',
            '-e',
            WRITER_CHILD,
            '--',
            path,
            String(round + 100),
            'full',
            'none',
          ],
          MODULES,
        );
        again.process.stdin?.write('go\n');
        const started = await waitForOutput(again, 'ack ', 60_000);
        result.recoverMs = Math.max(result.recoverMs, Math.round(performance.now() - t0));
        await sleep(200);
        await killChild(again);
        const outAgain = parseWriterOutput(again.stdout);
        if (!started)
          result.problems.push(
            `round ${round}: no write after the faults: ${again.stderr.slice(0, 300)} ${outAgain.errors.join('; ').slice(0, 300)}`,
          );
        for (const [id, p] of outAgain.acks) acked.set(id, p);
        result.runs += 1;
        result.acknowledged += acked.size;
        const check = await checkLog(path, acked);
        result.lost += check.lost;
        result.duplicated += check.duplicated;
        result.problems.push(...check.problems);
        if (existsSync(path)) result.problems.push(...(await integrityProblems(path)).slice(0, 3));
        const temps = readdirSync(tmp.dir).filter((n) => n.startsWith('.'));
        if (temps.length > 0)
          result.notes.push(
            `round ${round}: temporary files left by a killed backup: ${temps.join(', ')}`,
          );
        ctx.log(
          `disk.io round ${round} (${name}): ${out.acks.length} acknowledged under faults, ${out.errors.length} errors`,
        );
      }
      result.notes.push(
        `errors by fault point → code: ${[...codes].map(([k, n]) => `${k} ×${n}`).join(', ') || 'none'}`,
      );
    } finally {
      tmp.remove();
    }
  },
};

/**
 * A store whose file system turns read-only: opening for writing is refused with a typed
 * error, reading still works, and once the file system is writable again the store
 * opens and writes. (Linux refuses `remount,ro` while a file is open for writing, so the
 * file system turns read-only between two runs of the writer; the attempt while it runs
 * is reported.)
 */
export const readOnlyRow: FaultRow = {
  id: 'disk.readonly',
  fault: 'read-only file system',
  async run(ctx, result) {
    if (skipWithoutMount(result, ctx.log)) return;
    const tmp = tempDir('ro');
    const fs = makeTmpfs(tmp.dir, 'ro', 8192);
    try {
      const path = join(fs.mountPoint, 'state.db');
      const acked = new Map<string, bigint>();
      const write = async (seed: number): Promise<void> => {
        const store = createEventStore({ storage: await openSqliteStorage({ path }) });
        try {
          const session = await store.startSession({
            userId: 'ada',
            mode: 'offline',
            version: '1.0.0',
          });
          const events = sessionEvents(session.id, 2, seed);
          const r = await store.appendToStream(session.stream, events);
          events.forEach((e, j) => acked.set(e.event_id!, r.positions[j]!));
          // While open: the kernel refuses to remount (files open for writing).
          const busy = sh('mount', ['-o', 'remount,ro', fs.mountPoint]);
          if (busy.status === 0) {
            try {
              await store.appendToStream(session.stream, sessionEvents(session.id, 1, seed + 50));
              result.problems.push('an append on a read-only file system was acknowledged');
            } catch (error) {
              result.notes.push(
                `append after remount,ro while open: ${describeError(error).slice(0, 200)}`,
              );
              if (!isStorageError(error))
                result.problems.push(
                  `untyped error on a read-only file system: ${describeError(error)}`,
                );
            }
            remount(fs.mountPoint, 'rw');
          } else if (seed === 1) {
            result.notes.push(
              `remount,ro while the writer runs: refused by the kernel (${busy.stderr.trim().slice(0, 120)})`,
            );
          }
        } finally {
          await store.close();
        }
      };
      await write(1);
      const rounds = ctx.long ? 10 : 3;
      for (let round = 0; round < rounds; round++) {
        remount(fs.mountPoint, 'ro');
        result.runs += 1;
        try {
          const storage = await openSqliteStorage({ path });
          await storage.close();
          result.problems.push(
            `round ${round}: the store opened for writing on a read-only file system`,
          );
        } catch (error) {
          if (round === 0)
            result.notes.push(`open for writing: ${describeError(error).slice(0, 300)}`);
          if (!isStorageError(error) || error.code !== 'readonly') {
            result.problems.push(
              `round ${round}: read-only file system answered with ${describeError(error).slice(0, 300)}, not StorageError readonly`,
            );
          }
        }
        try {
          const check = await checkLog(path, acked);
          result.lost += check.lost;
          result.duplicated += check.duplicated;
          if (round === 0)
            result.notes.push(
              `reads on the read-only file system: ${check.head} events, every acknowledged one`,
            );
        } catch (error) {
          // Not a promise of the store, but worth knowing: WAL-mode reads need the -shm file.
          if (round === 0)
            result.notes.push(
              `reading on the read-only file system: ${describeError(error).slice(0, 300)}`,
            );
        }
        remount(fs.mountPoint, 'rw');
        const t0 = performance.now();
        await write(round + 2);
        result.recoverMs = Math.max(result.recoverMs, Math.round(performance.now() - t0));
      }
      const left = leftovers(fs.mountPoint, ['state.db']);
      if (left.length > 0) result.problems.push(`files left after close: ${left.join(', ')}`);
      result.acknowledged = acked.size;
      const check = await checkLog(path, acked);
      result.lost += check.lost;
      result.duplicated += check.duplicated;
      result.problems.push(...check.problems, ...(await integrityProblems(path)));
    } finally {
      fs.unmount();
      tmp.remove();
    }
  },
};
