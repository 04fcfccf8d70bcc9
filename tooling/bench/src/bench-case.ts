import type { BenchDataset } from './bench-dataset.js';

/** Whether a larger value of a metric is better. */
export type Better = 'higher' | 'lower';

/** One value a case measured in one repetition. */
export interface Measurement {
  /** Dotted metric name, e.g. `storage.append_events_per_s`. */
  readonly name: string;
  readonly value: number;
  /** e.g. `events/s`, `B/event`, `MB/h`, `ms`, `x`. */
  readonly unit: string;
  readonly better: Better;
  /** Printed under the table, e.g. how a value was extrapolated. */
  readonly note?: string;
}

/** Options every case sees, as given on the command line. */
export interface BenchOptions {
  /** Repetitions of each case (cases marked `once` run in the first only). */
  readonly runs: number;
  /** Batches per repetition of the throughput cases. */
  readonly batches: number;
  /** Events per batch: one `appendBatch`, one transaction. */
  readonly batchSize: number;
  /** Events appended one per call by the single-append cases. */
  readonly singleEvents: number;
  /** Minutes of 60 Hz session written by the size cases (60 = one hour, measured, not extrapolated). */
  readonly sizeMinutes: number;
  /** Seed of the simulated sessions. */
  readonly seed: number;
  /** Smoke mode: small sizes, one repetition. */
  readonly quick: boolean;
  /** Directory for the temporary database files. */
  readonly tmpDir: string;
}

/** What a case gets for one repetition. */
export interface BenchContext {
  readonly options: BenchOptions;
  /** The same simulated events for every case of the run, built once. */
  readonly dataset: BenchDataset;
  /** 0-based repetition index. */
  readonly round: number;
  /** A fresh path for a database file in the run's temporary directory. */
  tempPath(name: string): string;
  /** Progress line on stderr (never in the table or JSON). */
  log(message: string): void;
}

/**
 * A metric computed from other metrics of the same repetition (ratios), so that its
 * median is the median of per-repetition values.
 */
export interface DerivedMetric {
  readonly name: string;
  readonly unit: string;
  readonly better: Better;
  /** Names of the metrics it needs; it is computed only in repetitions that have them all. */
  readonly inputs: readonly string[];
  compute(values: readonly number[]): number;
}

/**
 * One benchmark: a named unit that measures one or more metrics per repetition.
 * New cases are files in `src/cases/` added to the registry; the harness repeats them,
 * summarizes, prints and writes JSON. A case that cannot run (a package not built, a
 * wrong result) throws: the harness reports it as failed and exits non-zero.
 */
export interface BenchCase {
  /** Short kebab-case name, selectable with `--cases`. */
  readonly name: string;
  readonly description: string;
  /** Measure in the first repetition only (large, slow or deterministic cases). */
  readonly once?: boolean;
  /** Metrics computed from this case's measurements and others'. */
  readonly derived?: readonly DerivedMetric[];
  /** One repetition. Creates and removes its own files through `ctx.tempPath`. */
  run(ctx: BenchContext): Promise<readonly Measurement[]>;
}

/** Turns a count and elapsed milliseconds into a per-second rate. */
export function perSecond(count: number, elapsedMs: number): number {
  if (!(elapsedMs > 0)) throw new RangeError(`elapsed time must be positive, got ${elapsedMs}`);
  return (count * 1000) / elapsedMs;
}

/**
 * A derived metric: `ours / theirs`, per round, from two measurements of the same round
 * (NaN when either is missing). `better` says which way is good (default: higher).
 */
export function ratioMetric(
  name: string,
  ours: string,
  theirs: string,
  better: 'higher' | 'lower' = 'higher',
): DerivedMetric {
  return {
    name,
    unit: 'x',
    better,
    inputs: [ours, theirs],
    compute: ([a = Number.NaN, b = Number.NaN]) => a / b,
  };
}
