import type { BenchEnv } from './capture-env.js';
import type { BenchRunResult } from './run-bench.js';

/** The JSON file `--json FILE` writes. */
export interface BenchJson {
  readonly env: BenchEnv;
  readonly results: Readonly<
    Record<
      string,
      {
        readonly median: number;
        readonly min: number;
        readonly max: number;
        readonly unit: string;
        readonly better: string;
        readonly samples: readonly number[];
        readonly note?: string;
      }
    >
  >;
  readonly failures: BenchRunResult['failures'];
}

/** The report as JSON-ready data. */
export function toBenchJson(env: BenchEnv, run: BenchRunResult): BenchJson {
  return { env, results: run.results, failures: run.failures };
}

/** A number with thousands separators and a precision that suits its size. */
export function formatNumber(value: number): string {
  const abs = Math.abs(value);
  const digits = abs >= 1000 ? 0 : abs >= 100 ? 1 : abs >= 10 ? 2 : 3;
  return value.toLocaleString('en-US', {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

/** The human-readable report: a header with the environment, a table, notes and failures. */
export function formatReport(env: BenchEnv, run: BenchRunResult): string {
  const { options } = env;
  const lines: string[] = [];
  lines.push(
    `WIRTHFORGE State benchmark  ${env.date}  ${env.gitCommit ?? ''}`.trimEnd(),
    `node ${env.node}, SQLite ${env.sqlite} (better-sqlite3 ${env.betterSqlite3}), ` +
      `Emmett ${env.emmettSqlite} on SQLite ${env.sqlite3Library} (sqlite3 ${env.sqlite3})`,
    `${env.cpu} x${env.cpus}, ${env.memoryGb} GB, ${env.platform} ${env.arch} ${env.osRelease}`,
    `${options.runs} run(s) x ${options.batches} batches of ${options.batchSize} events ` +
      `(${(options.batches * options.batchSize).toLocaleString('en-US')} events), seed ${options.seed}` +
      (options.quick ? ', quick mode' : ''),
    '',
  );
  const header = ['metric', 'median', 'min', 'max', 'unit', 'runs'];
  const rows = Object.entries(run.results).map(([name, r]) => [
    name,
    formatNumber(r.median),
    formatNumber(r.min),
    formatNumber(r.max),
    `${r.unit} ${r.better === 'higher' ? '↑' : '↓'}`,
    String(r.samples.length),
  ]);
  const widths = header.map((h, i) =>
    Math.max(h.length, ...rows.map((row) => row[i]?.length ?? 0)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => {
        const width = widths[i] ?? 0;
        return i === 0 || i === 4 ? cell.padEnd(width) : cell.padStart(width);
      })
      .join('  ')
      .trimEnd();
  lines.push(line(header), widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) lines.push(line(row));
  const notes = Object.entries(run.results).filter(([, r]) => r.note !== undefined);
  if (notes.length > 0) {
    lines.push('');
    for (const [name, r] of notes) lines.push(`${name}: ${r.note ?? ''}`);
  }
  if (run.failures.length > 0) {
    lines.push('', `FAILED (${run.failures.length}):`);
    for (const f of run.failures) {
      lines.push(`  ${f.case} (run ${f.round + 1}): ${f.message.split('\n')[0] ?? ''}`);
    }
  }
  return lines.join('\n');
}
