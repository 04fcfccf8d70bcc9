import { Worker } from 'node:worker_threads';

import { describe, expect, it } from 'vitest';

import { workerExecArgv } from './worker-exec-argv.js';

describe('workerExecArgv', () => {
  it('keeps ordinary options and drops command-line entry options', () => {
    expect(
      workerExecArgv([
        '--enable-source-maps',
        '--input-type=module',
        '-e',
        'console.log(1)',
        '--max-old-space-size=256',
        '--eval=x',
        '-p',
        '1',
      ]),
    ).toEqual(['--enable-source-maps']);
    expect(workerExecArgv([])).toEqual([]);
  });

  it('drops the process-wide V8 heap options, which a worker refuses', () => {
    const argv = workerExecArgv([
      '--max-semi-space-size=2',
      '--max_old_space_size=256',
      '--expose-gc',
      '--heap-growing-percent=30',
      '--cpu-prof',
    ]);
    expect(argv).toEqual(['--cpu-prof']);
  });

  it('gives options a worker accepts', async () => {
    const execArgv = workerExecArgv(['--max-semi-space-size=2', '--enable-source-maps']);
    const worker = new Worker('require("node:worker_threads").parentPort.postMessage(1)', {
      eval: true,
      execArgv,
    });
    const message = await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    expect(message).toBe(1);
    await worker.terminate();
  });
});
