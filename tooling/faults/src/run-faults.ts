import { runRow, type FaultRow, type RowContext, type RowResult } from './fault-row.js';
import { ROWS } from './rows/index.js';

/** What `runFaults` runs. */
export interface RunFaultsOptions {
  readonly long?: boolean;
  /** Row ids (or prefixes: `crash` runs `crash.writer` and `crash.daemon`). */
  readonly only?: readonly string[];
  readonly log?: (line: string) => void;
  /** Called after each row with the results so far. */
  readonly onRow?: (results: readonly RowResult[]) => void;
}

/** The rows `only` selects (every row without it); unknown names throw. */
export function selectRows(only: readonly string[] | undefined): FaultRow[] {
  if (only === undefined || only.length === 0) return [...ROWS];
  const picked = ROWS.filter((row) =>
    only.some((name) => row.id === name || row.id.startsWith(`${name}.`)),
  );
  const unknown = only.filter(
    (name) => !ROWS.some((row) => row.id === name || row.id.startsWith(`${name}.`)),
  );
  if (unknown.length > 0) {
    throw new Error(`unknown row ${unknown.join(', ')}; rows: ${ROWS.map((r) => r.id).join(', ')}`);
  }
  return picked;
}

/** Runs the rows one after the other (they measure a shared machine) and returns their results. */
export async function runFaults(options: RunFaultsOptions = {}): Promise<RowResult[]> {
  const ctx: RowContext = { long: options.long === true, log: options.log ?? (() => undefined) };
  const results: RowResult[] = [];
  for (const row of selectRows(options.only)) {
    ctx.log(`${row.id}: ${row.fault}`);
    const result = await runRow(row, ctx);
    ctx.log(
      `${row.id}: ${result.status.toUpperCase()} in ${(result.durationMs / 1000).toFixed(1)} s`,
    );
    // Each row's figures as soon as it ends: an interrupted run keeps them.
    ctx.log(`${formatTable([result]).split('\n')[2] ?? ''}\n${formatDetails([result])}`);
    results.push(result);
    options.onRow?.(results);
  }
  return results;
}

/** The results as a Markdown table (the one in docs/RELIABILITY.md). */
export function formatTable(results: readonly RowResult[]): string {
  const lines = [
    '| row | fault | status | runs | acknowledged | lost | duplicated | detected / injected | slowest recovery | time |',
    '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of results) {
    lines.push(
      `| \`${r.id}\` | ${r.fault} | ${r.status === 'skip' ? '**SKIPPED**' : r.status === 'gap' ? '**known gap**' : r.status} | ${r.runs} | ${r.acknowledged} | ${r.lost} | ${r.duplicated} | ${r.injected === 0 ? '—' : `${r.detected} / ${r.injected}`} | ${r.recoverMs === 0 ? '—' : `${r.recoverMs} ms`} | ${(r.durationMs / 1000).toFixed(1)} s |`,
    );
  }
  return lines.join('\n');
}

/** Notes and problems of each row, as text. */
export function formatDetails(results: readonly RowResult[]): string {
  const out: string[] = [];
  for (const r of results) {
    out.push(`${r.id} (${r.status}):`);
    for (const note of r.notes) out.push(`  - ${note}`);
    for (const problem of r.problems) out.push(`  ! ${problem}`);
  }
  return out.join('\n');
}
