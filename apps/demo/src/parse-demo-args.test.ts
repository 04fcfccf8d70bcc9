import { describe, expect, it } from 'vitest';
import { parseDemoArgs } from './parse-demo-args.js';

describe('parseDemoArgs', () => {
  it('defaults to ten paced seconds in ./.wfdata/demo.sqlite', () => {
    const args = parseDemoArgs([], '/home/me/project');
    expect(args).toMatchObject({
      dataDir: '/home/me/project/.wfdata',
      file: '/home/me/project/.wfdata/demo.sqlite',
      seconds: 10,
      fast: false,
      json: false,
      seed: undefined,
      models: undefined,
    });
  });

  it('reads every option', () => {
    const args = parseDemoArgs(
      [
        '--data-dir',
        'out',
        '--seconds',
        '2.5',
        '--fast',
        '--json',
        '--seed',
        '7',
        '--models',
        'a/b:1b, c/d:7b',
      ],
      '/srv/wf',
    );
    expect(args).toMatchObject({
      file: '/srv/wf/out/demo.sqlite',
      seconds: 2.5,
      fast: true,
      json: true,
      seed: 7,
      models: ['a/b:1b', 'c/d:7b'],
    });
  });

  it('ignores the "--" that pnpm passes on', () => {
    expect(parseDemoArgs(['--', '--fast'], '/').fast).toBe(true);
  });

  it('rejects nonsense', () => {
    expect(() => parseDemoArgs(['--seconds', '0'], '/')).toThrow(RangeError);
    expect(() => parseDemoArgs(['--seconds', 'ten'], '/')).toThrow(RangeError);
    expect(() => parseDemoArgs(['--seed', 'x'], '/')).toThrow(RangeError);
    expect(() => parseDemoArgs(['--models', ','], '/')).toThrow(RangeError);
    expect(() => parseDemoArgs(['--verbose'], '/')).toThrow();
  });
});
