import { existsSync, readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { type FaultRow } from '../fault-row.js';
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

function startWriter(path: string, seed: number, backup: boolean): Child {
  return startChild(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      WRITER_CHILD,
      '--',
      path,
      String(seed),
      'full',
      backup ? 'backup' : 'none',
    ],
    MODULES,
  );
}

interface LaneFigures {
  kills: number;
  duringOpen: number;
  duringBackup: number;
  acknowledged: number;
  lost: number;
  duplicated: number;
  recovered: number;
  recoverMs: number;
  problems: string[];
  backupTemps: number;
  fullChecks: number;
}

/**
 * One database killed `kills` times: the next writer is started ahead (modules loaded)
 * while the current one runs, so a kill point costs one open of the store, not a Node
 * start. About one kill in eight comes while the writer opens (migration of a fresh
 * file, recovery of the session the last kill left open, the start of its own).
 */
async function lane(
  dir: string,
  index: number,
  kills: number,
  fullCheckEvery: number,
  log: (line: string) => void,
): Promise<LaneFigures> {
  const path = join(dir, `lane-${index}.db`);
  const random = prng(0xc0ffee + index);
  const figures: LaneFigures = {
    kills: 0,
    duringOpen: 0,
    duringBackup: 0,
    acknowledged: 0,
    lost: 0,
    duplicated: 0,
    recovered: 0,
    recoverMs: 0,
    problems: [],
    backupTemps: 0,
    fullChecks: 0,
  };
  const acked = new Map<string, bigint>();
  let next = startWriter(path, index * 10_000, index % 2 === 0);
  for (let k = 0; k < kills; k++) {
    const child = next;
    const t0 = performance.now();
    child.process.stdin?.write('go\n');
    next = startWriter(path, index * 10_000 + k + 1, (index + k) % 2 === 0);
    if (random() < 0.12) {
      await sleep(random() * 400);
    } else {
      await waitForOutput(child, 'session ', 60_000);
      figures.recoverMs = Math.max(figures.recoverMs, performance.now() - t0);
      await sleep(20 + random() * 250);
    }
    await killChild(child);
    figures.kills += 1;
    const out = parseWriterOutput(child.stdout);
    if (out.session === undefined) figures.duringOpen += 1;
    if (out.inBackup) figures.duringBackup += 1;
    for (const [id, position] of out.acks) acked.set(id, position);
    figures.recovered += out.recovered;
    for (const m of out.replayMismatches)
      figures.problems.push(`kill ${k}: recovered state of ${m} differs from its replay`);
    for (const e of out.errors) figures.problems.push(`kill ${k}: writer reported ${e}`);
    if (child.stderr.trim().length > 0)
      figures.problems.push(`kill ${k}: writer stderr ${child.stderr.trim().slice(0, 500)}`);
    const tKilled = performance.now();
    const check = await checkLog(path, acked);
    const tChecked = performance.now();
    figures.problems.push(...check.problems.map((p) => `kill ${k}: ${p}`));
    if (check.lost > 0 || check.duplicated > 0) {
      figures.problems.push(`kill ${k}: ${check.lost} lost, ${check.duplicated} duplicated`);
    }
    // The full integrity check reads and checksums the whole file (about a second on a
    // loaded machine, growing with the file): after every `fullCheckEvery`-th kill and
    // the last one. What a kill can lose or double is checked after every kill above.
    const full = (k + 1) % fullCheckEvery === 0 || k === kills - 1;
    if (full) figures.fullChecks += 1;
    if (full && existsSync(path) && out.opened) {
      const problems = await integrityProblems(path);
      figures.problems.push(...problems.slice(0, 3).map((p) => `kill ${k}: integrity ${p}`));
    }
    const tIntegrity = performance.now();
    if (full && existsSync(`${path}.backup`)) {
      const problems = await integrityProblems(`${path}.backup`);
      figures.problems.push(...problems.slice(0, 3).map((p) => `kill ${k}: published backup ${p}`));
    }
    if (process.env.WF_FAULTS_DEBUG !== undefined)
      log(
        `lane ${index} kill ${k}: ${Math.round(performance.now() - t0)} ms (run+kill ${Math.round(tKilled - t0)}: ${JSON.stringify(out.phases)}, log ${Math.round(tChecked - tKilled)}, integrity ${Math.round(tIntegrity - tChecked)}, backup ${Math.round(performance.now() - tIntegrity)}), ${acked.size} acknowledged, ${figures.problems.length} problems`,
      );
    if ((k + 1) % 50 === 0)
      log(`crash.writer lane ${index}: ${k + 1}/${kills} kills, ${acked.size} acknowledged`);
  }
  await killChild(next);
  // The final check counts what every kill together left behind.
  const final = await checkLog(path, acked);
  figures.lost = final.lost;
  figures.duplicated = final.duplicated;
  figures.acknowledged = acked.size;
  figures.backupTemps = readdirSync(dirname(path)).filter(
    (name) => name.startsWith('.') && name.includes(basename(path)),
  ).length;
  return figures;
}

/**
 * SIGKILL of a writer at random moments while it records a 60 Hz session at FULL, seals
 * hot rows into segments (small seal thresholds: a seal every few hundred ms), takes
 * full and incremental snapshots, prunes them, and (every other writer) runs online
 * backups in a loop; some kills land while it opens (migration of a fresh file, the
 * recovery of the session the last kill left open).
 */
export const crashWriterRow: FaultRow = {
  id: 'crash.writer',
  fault: 'SIGKILL of a writer during ingest, seal, snapshot, backup, open/recovery (FULL)',
  async run(ctx, result) {
    const total = Number(process.env.WF_FAULTS_KILLS ?? (ctx.long ? 2100 : 235));
    const fullCheckEvery = Math.max(1, Number(process.env.WF_FAULTS_FULL_CHECK_EVERY ?? 10));
    const lanes = 2;
    const tmp = tempDir('crash');
    try {
      const per = Math.ceil(total / lanes);
      const figures = await Promise.all(
        Array.from({ length: lanes }, (_, i) =>
          lane(tmp.dir, i, Math.min(per, total - i * per), fullCheckEvery, ctx.log),
        ),
      );
      for (const f of figures) {
        result.runs += f.kills;
        result.acknowledged += f.acknowledged;
        result.lost += f.lost;
        result.duplicated += f.duplicated;
        result.recoverMs = Math.max(result.recoverMs, Math.round(f.recoverMs));
        result.problems.push(...f.problems.slice(0, 20));
      }
      const sum = (
        key: 'duringOpen' | 'duringBackup' | 'recovered' | 'backupTemps' | 'fullChecks',
      ): number => figures.reduce((s, f) => s + f[key], 0);
      result.notes.push(
        `${result.runs} kills: ${sum('duringOpen')} while opening (migration, recovery), ${sum('duringBackup')} during an online backup, the rest during ingest with sealing and snapshots running`,
        `${sum('recovered')} sessions recovered, each equal to its replay`,
        `after every kill: every acknowledged event once at its position, no gap; the full integrity check (and the published backup's) after every ${fullCheckEvery}th kill and each lane's last: ${sum('fullChecks')} times`,
        `temporary backup files left by kills during a backup: ${sum('backupTemps')}`,
      );
      if (result.acknowledged < result.runs)
        result.problems.push('too few events acknowledged: the writers did not run');
    } finally {
      tmp.remove();
    }
  },
};
