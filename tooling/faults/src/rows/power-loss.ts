import { copyFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type FaultRow, type RowResult, type RowContext } from '../fault-row.js';
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
} from '../fault-harness.js';
import { makeLoopImage, mountImage, mountUnavailable } from '../loop-image.js';
import { parseWriterOutput, WRITER_CHILD } from '../writer-child.js';

/**
 * The model of a power loss: the database lives on ext4 in a loop-mounted image. The
 * writer is killed and the image file is copied at once, without `sync`: what the copy
 * holds is what ext4 had handed to its block device (everything an `fsync` flushed, and
 * whatever writeback happened to push); ext4's dirty page cache, which a power cut
 * would lose, is not in it. The copy is then mounted (ext4 replays its journal, as at
 * boot after a cut) and checked. It is optimistic in one way: a real disk may also lose
 * its volatile write cache, which a flush (sent by ext4 at `fsync`) is what protects.
 */
async function powerLoss(
  ctx: RowContext,
  result: RowResult,
  sync: 'full' | 'normal',
  runs: number,
): Promise<void> {
  const unavailable = mountUnavailable();
  if (unavailable !== undefined) {
    result.status = 'skip';
    result.notes.push(`SKIPPED: ${unavailable}`);
    ctx.log(`!!! power.${sync} SKIPPED: ${unavailable}`);
    return;
  }
  const random = prng(sync === 'full' ? 0xf011 : 0x4042);
  const tmp = tempDir(`power-${sync}`);
  let lostRuns = 0;
  let maxLost = 0;
  try {
    for (let run = 0; run < runs; run++) {
      const fs = makeLoopImage(tmp.dir, 'live', 48);
      let copy;
      try {
        const path = join(fs.mountPoint, 'state.db');
        const child = startChild(
          process.execPath,
          ['--input-type=module', '-e', WRITER_CHILD, '--', path, String(run), sync, 'none'],
          MODULES,
        );
        child.process.stdin?.write('go\n');
        if (!(await waitForOutput(child, 'session ', 60_000))) {
          await killChild(child);
          throw new Error(`writer did not start: ${child.stderr}`);
        }
        await sleep(300 + random() * 700);
        child.process.kill('SIGKILL');
        // The copy is taken before anything else, the writer's exit included.
        copyFileSync(fs.image, join(tmp.dir, 'copy.img'));
        await killChild(child);
        fs.unmount();
        const out = parseWriterOutput(child.stdout);
        const acked = new Map(out.acks);
        copy = mountImage(tmp.dir, 'copy', join(tmp.dir, 'copy.img'));
        const t0 = performance.now();
        const copyPath = join(copy.mountPoint, 'state.db');
        const check = await checkLog(copyPath, acked);
        const integrity = await integrityProblems(copyPath);
        result.recoverMs = Math.max(result.recoverMs, Math.round(performance.now() - t0));
        result.runs += 1;
        result.acknowledged += acked.size;
        if (check.lost > 0) {
          lostRuns += 1;
          maxLost = Math.max(maxLost, check.lost);
        }
        if (sync === 'full') {
          result.lost += check.lost;
          result.duplicated += check.duplicated;
          result.problems.push(...check.problems.map((p) => `run ${run}: ${p}`));
        } else {
          // NORMAL promises only what a process crash keeps: its loss is the figure shown.
          result.notes.push(
            `run ${run}: ${acked.size} acknowledged, ${check.lost} lost after the power loss`,
          );
          if (check.duplicated > 0) result.duplicated += check.duplicated;
        }
        // At NORMAL a power loss may lose acknowledged commits (the figure above); the
        // head marker then makes verify name that loss (`commits_missing`): the expected
        // report of it, not a fault. Any other problem is one.
        const named = integrity.filter((p) => p.includes('"commits_missing"'));
        const faults =
          sync === 'normal' && check.lost > 0
            ? integrity.filter((p) => !p.includes('"commits_missing"'))
            : integrity;
        if (faults !== integrity && named.length > 0)
          result.notes.push(`run ${run}: verify named the loss (commits_missing)`);
        result.problems.push(...faults.slice(0, 3).map((p) => `run ${run}: integrity ${p}`));
        ctx.log(
          `power.${sync} run ${run}: ${acked.size} acknowledged, ${check.lost} lost, head ${check.head}`,
        );
      } finally {
        fs.unmount();
        copy?.unmount();
        rmSync(join(tmp.dir, 'copy.img'), { force: true });
        rmSync(fs.image, { force: true });
      }
    }
    result.notes.push(
      `synchronous=${sync.toUpperCase()}: ${lostRuns} of ${runs} power losses lost acknowledged events (at most ${maxLost} in one run)`,
    );
    if (sync === 'normal' && lostRuns === 0) {
      result.notes.push(
        'NORMAL lost nothing in these runs: writeback flushed the WAL before the copy',
      );
    }
  } finally {
    tmp.remove();
  }
}

export const powerFullRow: FaultRow = {
  id: 'power.full',
  fault: 'power loss at synchronous=FULL (ext4 loop image copied without sync after SIGKILL)',
  run: (ctx, result) => powerLoss(ctx, result, 'full', ctx.long ? 40 : 10),
};

export const powerNormalRow: FaultRow = {
  id: 'power.normal',
  fault: 'power loss at synchronous=NORMAL (what NORMAL loses; not a failure)',
  run: (ctx, result) => powerLoss(ctx, result, 'normal', ctx.long ? 20 : 5),
};
