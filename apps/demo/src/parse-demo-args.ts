import * as path from 'node:path';
import { parseArgs } from 'node:util';

/** What `pnpm demo` was asked to do. */
export interface DemoArgs {
  /** Directory of the database file (created if missing). */
  readonly dataDir: string;
  /** The database file inside `dataDir`. */
  readonly file: string;
  readonly seconds: number;
  /** Write frames as fast as possible instead of at 60 Hz. */
  readonly fast: boolean;
  /** Print the summary as JSON instead of a table. */
  readonly json: boolean;
  readonly seed: number | undefined;
  readonly models: readonly string[] | undefined;
  readonly help: boolean;
}

/** Usage text of `pnpm demo`. */
export const DEMO_USAGE = `Usage: pnpm demo [-- options]

Records a simulated 60 Hz WIRTHFORGE session into an embedded SQLite file, in real
time, then prints what the file holds.

  --data-dir DIR   where the database lives (default ./.wfdata); file demo.sqlite
  --seconds N      length of the session (default 10)
  --fast           write the frames as fast as possible instead of at 60 Hz
  --json           print the summary as JSON
  --seed N         seed of the simulation (default: from the clock)
  --models a,b     model ids (default ollama/llama3.2:3b); two or more add patterns
  -h, --help       this text`;

/** Parses `pnpm demo` arguments relative to `cwd`; throws on bad input. */
export function parseDemoArgs(argv: readonly string[], cwd: string): DemoArgs {
  const { values } = parseArgs({
    // `pnpm demo -- --fast` hands the `--` on; it separates nothing here.
    args: argv[0] === '--' ? argv.slice(1) : [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      'data-dir': { type: 'string' },
      seconds: { type: 'string' },
      fast: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      seed: { type: 'string' },
      models: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const seconds = values.seconds === undefined ? 10 : Number(values.seconds);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 24 * 3600) {
    throw new RangeError(`--seconds must be a number in (0, 86400], got ${values.seconds}`);
  }
  let seed: number | undefined;
  if (values.seed !== undefined) {
    seed = Number(values.seed);
    if (!Number.isInteger(seed))
      throw new RangeError(`--seed must be an integer, got ${values.seed}`);
  }
  const models = values.models
    ?.split(',')
    .map((m) => m.trim())
    .filter((m) => m.length > 0);
  if (models !== undefined && models.length === 0)
    throw new RangeError('--models needs at least one model id');
  const dataDir = path.resolve(cwd, values['data-dir'] ?? '.wfdata');
  return {
    dataDir,
    file: path.join(dataDir, 'demo.sqlite'),
    seconds,
    fast: values.fast,
    json: values.json,
    seed,
    models,
    help: values.help,
  };
}
