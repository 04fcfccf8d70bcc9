import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import type { RowResult } from '../fault-row.js';

/**
 * What one generated input did to a surface.
 *
 * - `accepted` / `rejected`: the surface took it, or refused it the documented way;
 * - `crash`: an exception escaped, a 5xx, an untyped failure, the process or connection
 *   went away;
 * - `violation`: it answered, but wrongly: something invalid accepted, an accepted input
 *   that cannot be read back as given, a rejection that does not say what and where.
 */
export type Verdict =
  | { readonly kind: 'accepted' }
  | { readonly kind: 'rejected' }
  | { readonly kind: 'crash'; readonly detail: string }
  | { readonly kind: 'violation'; readonly detail: string };

export const ACCEPTED: Verdict = { kind: 'accepted' };
export const REJECTED: Verdict = { kind: 'rejected' };

/** The counts of one surface, as `docs/RELIABILITY.md` reports them. */
export interface FuzzTally {
  inputs: number;
  accepted: number;
  rejected: number;
  crashes: number;
  hangs: number;
  violations: number;
  /** The first problems (crash, hang, violation), each with its input. */
  readonly problems: string[];
  /** The slowest input, milliseconds. */
  slowestMs: number;
}

/** What {@link fuzzSurface} runs. */
export interface FuzzOptions<T> {
  readonly arbitrary: fc.Arbitrary<T>;
  readonly runs: number;
  readonly seed: number;
  /** An input that takes longer is a hang (the attempt is abandoned, the loop goes on). */
  readonly timeoutMs: number;
  /** The input, short, for a problem report. */
  readonly describe: (input: T) => string;
  readonly attempt: (input: T) => Promise<Verdict>;
  /** Called every `every` inputs (progress). */
  readonly progress?: (tally: FuzzTally) => void;
}

const KEEP_PROBLEMS = Number(process.env.WF_FAULTS_KEEP_PROBLEMS ?? 12);

/**
 * Runs `runs` generated inputs (fast-check, seeded, so a run can be repeated) through
 * `attempt` and counts what happened. Every input runs: a problem is recorded with its
 * input and the loop goes on, so the counts cover the whole run.
 */
export async function fuzzSurface<T>(options: FuzzOptions<T>): Promise<FuzzTally> {
  const tally: FuzzTally = {
    inputs: 0,
    accepted: 0,
    rejected: 0,
    crashes: 0,
    hangs: 0,
    violations: 0,
    problems: [],
    slowestMs: 0,
  };
  const record = (line: string): void => {
    if (tally.problems.length < KEEP_PROBLEMS) tally.problems.push(line);
  };
  await fc.assert(
    fc.asyncProperty(options.arbitrary, async (input) => {
      tally.inputs += 1;
      const started = performance.now();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'hang'>((resolve) => {
        timer = setTimeout(() => resolve('hang'), options.timeoutMs);
      });
      let verdict: Verdict | 'hang';
      try {
        verdict = await Promise.race([options.attempt(input), timeout]);
      } catch (error) {
        verdict = {
          kind: 'crash',
          detail: `threw ${error instanceof Error ? (error.stack ?? error.message).slice(0, 600) : String(error)}`,
        };
      } finally {
        clearTimeout(timer);
      }
      const elapsed = performance.now() - started;
      tally.slowestMs = Math.max(tally.slowestMs, Math.round(elapsed));
      // A surface that blocks the event loop cannot be interrupted by the timer: an
      // answer that came too late is a hang all the same.
      if (verdict !== 'hang' && elapsed > options.timeoutMs) verdict = 'hang';
      if (verdict === 'hang') {
        tally.hangs += 1;
        record(`hang (no answer in ${options.timeoutMs} ms): ${options.describe(input)}`);
      } else if (verdict.kind === 'accepted') tally.accepted += 1;
      else if (verdict.kind === 'rejected') tally.rejected += 1;
      else if (verdict.kind === 'crash') {
        tally.crashes += 1;
        record(`crash: ${verdict.detail} — input ${options.describe(input)}`);
      } else {
        tally.violations += 1;
        record(`${verdict.detail} — input ${options.describe(input)}`);
      }
      if (options.progress !== undefined && tally.inputs % 1000 === 0) options.progress(tally);
      return true;
    }),
    { numRuns: options.runs, seed: options.seed, endOnFailure: true },
  );
  return tally;
}

/** Puts a surface's counts into its row: runs = inputs, acknowledged = accepted. */
export function reportTally(result: RowResult, surface: string, tally: FuzzTally): void {
  result.runs += tally.inputs;
  result.acknowledged += tally.accepted;
  result.notes.push(
    `${surface}: ${tally.inputs} generated inputs: ${tally.accepted} accepted, ${tally.rejected} rejected, ${tally.crashes} crashes, ${tally.hangs} hangs, ${tally.violations} violations (slowest input ${tally.slowestMs} ms)`,
  );
  if (tally.crashes + tally.hangs + tally.violations > 0) {
    result.problems.push(
      `${surface}: ${tally.crashes} crashes, ${tally.hangs} hangs, ${tally.violations} violations in ${tally.inputs} inputs`,
      ...tally.problems,
    );
  }
  // A generator that produced nothing the surface accepts (or nothing it refuses) tests
  // only half of it.
  if (tally.inputs > 0 && (tally.accepted === 0 || tally.rejected === 0)) {
    result.problems.push(
      `${surface}: the generator produced ${tally.accepted} accepted and ${tally.rejected} rejected inputs; it must produce both`,
    );
  }
}

/** A short, printable form of any input. */
export function preview(value: unknown, max = 240): string {
  let text: string;
  if (value instanceof Uint8Array) text = `bytes ${Buffer.from(value).toString('latin1')}`;
  else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = String(value);
    }
  }
  return text.length > max ? `${text.slice(0, max)}… (${text.length} chars)` : text;
}

/** A scratch directory, in memory when `/dev/shm` exists (fsync is free there). */
export function scratchDir(prefix: string): { dir: string; remove(): void } {
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  const dir = mkdtempSync(join(base, `wf-fuzz-${prefix}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** How many inputs a surface gets: `long` (≥ 10 000) or the CI form. */
export function inputsFor(
  long: boolean,
  short: number,
  env: string = process.env.WF_FAULTS_INPUTS ?? '',
): number {
  const override = Number(env);
  if (env !== '' && Number.isSafeInteger(override) && override > 0) return override;
  return long ? Math.max(10_000, short) : short;
}
