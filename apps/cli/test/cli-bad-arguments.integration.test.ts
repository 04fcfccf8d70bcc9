import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { EXIT_CODES } from '../src/errors.js';
import { PUBLIC_SESSION, cli, fixtureDataDir, removeFixtureCopies, tempDir } from './fixtures.js';

// Argument vectors the fault suite's generated CLI arguments (row `input.cli`) found
// failing untyped ("this is unexpected", a raw EISDIR, ENAMETOOLONG or EEXIST), or
// writing a file relative to the process's directory instead of the CLI's: each is now
// a typed error naming the option and the path, before anything is written.

let data: string;
let work: { dir: string; remove: () => void };
beforeAll(() => {
  data = fixtureDataDir('bad-args');
  work = tempDir('bad-args-cwd');
  mkdirSync(join(work.dir, 'sub'));
  writeFileSync(join(work.dir, 'a-file'), 'not a directory');
});
afterAll(() => {
  removeFixtureCopies();
  work.remove();
});

const LONG_NAME = 'x'.repeat(300);

function expectTyped(run: { code: number; stderr: string }, code: number, pattern: RegExp): void {
  expect(run.stderr).not.toContain('this is unexpected');
  expect(run.stderr).toMatch(pattern);
  expect(run.code).toBe(code);
}

describe('wfstate refuses bad paths in its arguments, typed and placed', () => {
  it.each([
    [['backup', 'sub'], /FILE: .*sub is a directory, not a file/],
    [['backup', ''], /FILE: the file name is empty/],
    [['backup', '..', '--force'], /FILE: .* is a directory, not a file/],
    [
      ['backup', LONG_NAME],
      /FILE: a name in .* is 300 bytes long; the file system takes at most 255/,
    ],
    [['plot', PUBLIC_SESSION, '--svg', LONG_NAME], /--svg: a name in .* is 300 bytes long/],
    [['plot', PUBLIC_SESSION, '--svg', 'sub'], /--svg: .*sub is a directory, not a file/],
    [['export', PUBLIC_SESSION, '--output', 'sub'], /--output: .*sub is a directory, not a file/],
    [['export', PUBLIC_SESSION, '--output', 'a\u0000b'], /--output: the file name contains a NUL/],
    [['repair', '--yes', '--backup', LONG_NAME], /--backup: a name in .* is 300 bytes long/],
  ])('%j', async (argv, pattern) => {
    const run = await cli([...argv, '--data-dir', data], { cwd: work.dir });
    expectTyped(run, EXIT_CODES.invalid_input, pattern);
  });

  it('refuses a data directory that is a file, or whose name is too long', async () => {
    expectTyped(
      await cli(['init', '--data-dir', 'a-file'], { cwd: work.dir }),
      EXIT_CODES.invalid_input,
      /data directory .*a-file is a file, not a directory/,
    );
    expectTyped(
      await cli(['status', '--data-dir', LONG_NAME], { cwd: work.dir }),
      EXIT_CODES.invalid_input,
      /--data-dir: a name in .* is 300 bytes long/,
    );
  });

  it("writes repair's --backup relative to the CLI's working directory", async () => {
    const run = await cli(['repair', '--yes', '--backup', 'before.db.gz', '--data-dir', data], {
      cwd: work.dir,
    });
    expect(run.stderr).not.toContain('this is unexpected');
    expect(run.code).toBe(EXIT_CODES.ok);
    expect(readdirSync(work.dir)).toContain('before.db.gz');
  });

  it('names a file-system failure it did not check for beforehand, typed, with --json too', async () => {
    // The parent of the SVG is a file: the write fails with ENOTDIR.
    const run = await cli(
      ['plot', PUBLIC_SESSION, '--svg', 'a-file/chart.svg', '--json', '--data-dir', data],
      { cwd: work.dir },
    );
    expectTyped(run, EXIT_CODES.invalid_input, /cannot open .*a-file\/chart\.svg: .*\(ENOTDIR\)/);
    expect(JSON.parse(run.stdout)).toMatchObject({ ok: false, error: { code: 'invalid_input' } });
  });
});

describe('wfstate plot refuses a chart too large to hold', () => {
  it('refuses --width over 1000 and --height over 500 (100 000 000 columns ran the heap out)', async () => {
    for (const [option, value, max] of [
      ['--width', '100000000', 1000],
      ['--height', '100000000', 500],
    ] as const) {
      const run = await cli(['plot', PUBLIC_SESSION, option, value, '--data-dir', data]);
      expectTyped(
        run,
        EXIT_CODES.usage,
        new RegExp(`${option} must be at most ${max}, got ${value}`),
      );
    }
    const fits = await cli([
      'plot',
      PUBLIC_SESSION,
      '--width',
      '1000',
      '--height',
      '500',
      '--data-dir',
      data,
    ]);
    expect(fits.code).toBe(EXIT_CODES.ok);
  });
});

describe('export --all, then import, with snapshot markers in their own streams', () => {
  it('imports the snapshots:session-<id> stream an export holds', async () => {
    const from = fixtureDataDir('markers-from');
    const to = join(work.dir, 'markers-to');
    const created = await cli(['snapshot', 'create', PUBLIC_SESSION, '--json', '--data-dir', from]);
    expect(created.code).toBe(EXIT_CODES.ok);
    const file = join(work.dir, 'all.ndjson');
    const exported = await cli([
      'export',
      '--all',
      '--format',
      'ndjson',
      '--output',
      file,
      '--data-dir',
      from,
    ]);
    expect(exported.code).toBe(EXIT_CODES.ok);
    expect(readFileSync(file, 'utf8')).toContain(`"stream":"snapshots:session-${PUBLIC_SESSION}"`);
    expect((await cli(['init', '--data-dir', to])).code).toBe(EXIT_CODES.ok);
    const imported = await cli(['import', file, '--json', '--data-dir', to]);
    expect(imported.stderr).toBe('');
    expect(imported.code).toBe(EXIT_CODES.ok);
    // A name that only looks like one is still refused.
    writeFileSync(
      join(work.dir, 'bad.ndjson'),
      readFileSync(file, 'utf8').replaceAll('"stream":"snapshots:', '"stream":"snapshotz:'),
    );
    const refused = await cli(['import', 'bad.ndjson', '--data-dir', to], { cwd: work.dir });
    expect(refused.code).toBe(EXIT_CODES.invalid_input);
    expect(refused.stderr).toMatch(/stream "snapshotz:session-.*" is not a stream name/);
  });
});
