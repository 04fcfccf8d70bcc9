import type { BenchCase } from './bench-case.js';
import { archiveCase } from './cases/archive.js';
import { cliCase } from './cases/cli.js';
import { daemonCase, daemonRssCase } from './cases/daemon.js';
import { emmettCase, emmettSingleCase } from './cases/emmett-sqlite.js';
import { eventstoreCase } from './cases/eventstore.js';
import { analyticsQueryCase, metricsCase } from './cases/metrics.js';
import { postgresCase } from './cases/postgres.js';
import { rawSizeCase, rawSqliteCase } from './cases/raw-sqlite.js';
import { recorderCase } from './cases/recorder.js';
import { snapshotsCase } from './cases/snapshots.js';
import { segmentsCase, segmentsSizeCase } from './cases/segments.js';
import { storageCase, storageSizeCase } from './cases/wirthforge-storage.js';
import { syncCase } from './cases/sync.js';

/**
 * Every case, in the order a round runs them. A new case is a file in `src/cases/`
 * exporting a {@link BenchCase}, added here.
 */
export const BENCH_CASES: readonly BenchCase[] = [
  rawSqliteCase,
  storageCase,
  postgresCase,
  emmettCase,
  emmettSingleCase,
  eventstoreCase,
  recorderCase,
  snapshotsCase,
  metricsCase,
  analyticsQueryCase,
  storageSizeCase,
  rawSizeCase,
  cliCase,
  segmentsCase,
  segmentsSizeCase,
  daemonCase,
  daemonRssCase,
  archiveCase,
  syncCase,
];

/** The cases named in `names` (all when undefined), in registry order; unknown names throw. */
export function selectCases(
  names: readonly string[] | undefined,
  cases: readonly BenchCase[] = BENCH_CASES,
): BenchCase[] {
  if (names === undefined) return [...cases];
  const known = new Set(cases.map((c) => c.name));
  const unknown = names.filter((n) => !known.has(n));
  if (unknown.length > 0) {
    throw new RangeError(`unknown case(s): ${unknown.join(', ')}; known: ${[...known].join(', ')}`);
  }
  return cases.filter((c) => names.includes(c.name));
}
