import * as os from 'node:os';
import { parseArgs } from 'node:util';
import type { BenchOptions } from './bench-case.js';

/** What the command line asked for. */
export interface BenchArgs {
  readonly options: BenchOptions;
  /** Write the JSON report to this file. */
  readonly json: string | undefined;
  /** Run only these cases (by name); all when undefined. */
  readonly cases: readonly string[] | undefined;
  readonly list: boolean;
  readonly help: boolean;
}

/** Usage text of `pnpm bench`. */
export const BENCH_USAGE = `Usage: pnpm bench [-- options]

  --json FILE        also write the results as JSON to FILE
  --runs N           repetitions of each case (default 5; 1 with --quick)
  --batches N        batches per repetition (default 300; 50 with --quick)
  --batch-size N     events per batch, one transaction each (default 60)
  --single-events N  events appended one per call by emmett-single (default 600; 60 with --quick)
  --size-minutes N   minutes of 60 Hz session for the size cases (default 60; 2 with --quick);
                     below 60 the MB/h figure is extrapolated and says so
  --seed N           seed of the simulated session (default 1)
  --cases a,b        run only these cases (see --list)
  --tmp-dir DIR      where the temporary databases go (default: the OS temp dir)
  --quick            small sizes and one run, for a smoke test
  --list             list the cases and exit
  -h, --help         this text`;

function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new RangeError(`--${name} must be a positive integer, got ${value}`);
  return n;
}

/** Parses `pnpm bench` arguments; throws a `RangeError` or `TypeError` on bad input. */
export function parseBenchArgs(argv: readonly string[]): BenchArgs {
  const { values } = parseArgs({
    // `pnpm bench -- --json x` hands the `--` on; it separates nothing here.
    args: argv[0] === '--' ? argv.slice(1) : [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      json: { type: 'string' },
      runs: { type: 'string' },
      batches: { type: 'string' },
      'batch-size': { type: 'string' },
      'single-events': { type: 'string' },
      'size-minutes': { type: 'string' },
      seed: { type: 'string' },
      cases: { type: 'string' },
      'tmp-dir': { type: 'string' },
      quick: { type: 'boolean', default: false },
      list: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const quick = values.quick;
  const sizeMinutes = positiveInt('size-minutes', values['size-minutes'], quick ? 2 : 60);
  if (sizeMinutes > 60) throw new RangeError(`--size-minutes is at most 60, got ${sizeMinutes}`);
  const seed = values.seed === undefined ? 1 : Number(values.seed);
  if (!Number.isInteger(seed))
    throw new RangeError(`--seed must be an integer, got ${values.seed}`);
  const cases = values.cases
    ?.split(',')
    .map((c) => c.trim())
    .filter((c) => c.length > 0);
  return {
    options: {
      runs: positiveInt('runs', values.runs, quick ? 1 : 5),
      batches: positiveInt('batches', values.batches, quick ? 50 : 300),
      batchSize: positiveInt('batch-size', values['batch-size'], 60),
      singleEvents: positiveInt('single-events', values['single-events'], quick ? 60 : 600),
      sizeMinutes,
      seed,
      quick,
      tmpDir: values['tmp-dir'] ?? os.tmpdir(),
    },
    json: values.json,
    cases,
    list: values.list,
    help: values.help,
  };
}
