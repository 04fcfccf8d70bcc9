export { perSecond } from './bench-case.js';
export type {
  BenchCase,
  BenchContext,
  BenchOptions,
  Better,
  DerivedMetric,
  Measurement,
} from './bench-case.js';
export { buildDataset, chunkEvents, sessionStream } from './bench-dataset.js';
export type { BenchDataset } from './bench-dataset.js';
export { captureEnv, packageVersion } from './capture-env.js';
export type { BenchEnv } from './capture-env.js';
export { databaseBytes, removeDatabase } from './file-size.js';
export { formatNumber, formatReport, toBenchJson } from './format-report.js';
export type { BenchJson } from './format-report.js';
export { BENCH_USAGE, parseBenchArgs } from './parse-bench-args.js';
export type { BenchArgs } from './parse-bench-args.js';
export { BENCH_CASES, selectCases } from './registry.js';
export { runBench } from './run-bench.js';
export type { BenchRunResult, CaseFailure, MetricResult, RunBenchHooks } from './run-bench.js';
export { max, median, min, percentile, summarize } from './stats.js';
export type { Summary } from './stats.js';
