/**
 * How a row ended. `skip` is never counted as passing (the runner exits non-zero).
 * `gap`: the row's only findings are losses or undetected faults that its `knownGap`
 * documents as outside what the store can see; anything else it finds is a `fail`.
 */
export type RowStatus = 'pass' | 'fail' | 'skip' | 'gap';

/** The figures one row reports, as in the table of `docs/RELIABILITY.md`. */
export interface RowResult {
  /** Stable id, used by `--only` (`crash.writer`, `power.full`, …). */
  readonly id: string;
  /** What was done to the store. */
  readonly fault: string;
  status: RowStatus;
  /** Kill points, injections, requests: how many times the fault was applied. */
  runs: number;
  /** Acknowledged events (or requests) in total, for context. */
  acknowledged: number;
  /** Acknowledged events missing afterwards. */
  lost: number;
  /** Acknowledged events stored more than once. */
  duplicated: number;
  /** Faults the checks named, out of `injected` (corruption rows). */
  detected: number;
  injected: number;
  /** Slowest restart or recovery after a fault, milliseconds (0 when not measured). */
  recoverMs: number;
  /** Everything else worth reading: findings, counts, why it was skipped. */
  notes: string[];
  /** Problems that make the row fail. */
  problems: string[];
  durationMs: number;
}

/** What every row receives. */
export interface RowContext {
  /** The long form (`--long`): more kill points, runs and inputs. */
  readonly long: boolean;
  /** Progress lines (stderr of the runner). */
  readonly log: (line: string) => void;
}

/** One row of the suite. */
export interface FaultRow {
  readonly id: string;
  readonly fault: string;
  /** A limitation this row measures rather than forbids (see {@link RowStatus}). */
  readonly knownGap?: string;
  run(ctx: RowContext, result: RowResult): Promise<void>;
}

/** A fresh result for `row`. */
export function emptyResult(row: Pick<FaultRow, 'id' | 'fault'>): RowResult {
  return {
    id: row.id,
    fault: row.fault,
    status: 'pass',
    runs: 0,
    acknowledged: 0,
    lost: 0,
    duplicated: 0,
    detected: 0,
    injected: 0,
    recoverMs: 0,
    notes: [],
    problems: [],
    durationMs: 0,
  };
}

/** Runs one row; an exception is a problem of the row, never a crash of the runner. */
export async function runRow(row: FaultRow, ctx: RowContext): Promise<RowResult> {
  const result = emptyResult(row);
  const started = performance.now();
  try {
    await row.run(ctx, result);
  } catch (error) {
    result.problems.push(
      `row failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    );
  }
  result.durationMs = Math.round(performance.now() - started);
  if (result.status !== 'skip') {
    const figures: string[] = [];
    if (result.lost > 0) figures.push(`${result.lost} acknowledged events lost`);
    if (result.duplicated > 0) figures.push(`${result.duplicated} acknowledged events duplicated`);
    if (result.detected < result.injected)
      figures.push(`${result.injected - result.detected} injected faults not detected`);
    if (result.problems.length > 0) result.status = 'fail';
    else if (figures.length > 0 && row.knownGap !== undefined) {
      result.status = 'gap';
      result.notes.push(`known gap: ${row.knownGap}`);
    }
    if (figures.length > 0) {
      result.problems.push(...figures);
      if (row.knownGap === undefined) result.status = 'fail';
    }
  }
  return result;
}
