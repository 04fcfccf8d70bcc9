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
    ).toEqual(['--enable-source-maps', '--max-old-space-size=256']);
    expect(workerExecArgv([])).toEqual([]);
  });
});
