import * as os from 'node:os';

import type { BenchOptions } from '../src/bench-case.js';

/** Options for running cases once or twice on a few batches, as the case tests do. */
export function smallRunOptions(seed: number, runs = 2): BenchOptions {
  return {
    runs,
    batches: 5,
    batchSize: 60,
    singleEvents: 10,
    sizeMinutes: 1,
    seed,
    quick: true,
    tmpDir: os.tmpdir(),
  };
}
