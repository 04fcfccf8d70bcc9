import { describe, expect, it } from 'vitest';
import { parseBenchArgs } from './parse-bench-args.js';

describe('parseBenchArgs', () => {
  it('has full-size defaults', () => {
    const args = parseBenchArgs([]);
    expect(args.options).toMatchObject({
      runs: 5,
      batches: 300,
      batchSize: 60,
      singleEvents: 600,
      sizeMinutes: 60,
      seed: 1,
      quick: false,
    });
    expect(args.json).toBeUndefined();
    expect(args.cases).toBeUndefined();
  });

  it('shrinks with --quick but lets explicit values win', () => {
    const args = parseBenchArgs([
      '--quick',
      '--runs',
      '3',
      '--json',
      'out.json',
      '--cases',
      'raw, emmett',
    ]);
    expect(args.options).toMatchObject({
      runs: 3,
      batches: 50,
      sizeMinutes: 2,
      singleEvents: 60,
      quick: true,
    });
    expect(args.json).toBe('out.json');
    expect(args.cases).toEqual(['raw', 'emmett']);
  });

  it('ignores the "--" that pnpm passes on', () => {
    expect(parseBenchArgs(['--', '--json', 'x.json', '--quick']).json).toBe('x.json');
  });

  it('rejects bad values and unknown flags', () => {
    expect(() => parseBenchArgs(['--runs', '0'])).toThrow(RangeError);
    expect(() => parseBenchArgs(['--batches', 'many'])).toThrow(RangeError);
    expect(() => parseBenchArgs(['--size-minutes', '61'])).toThrow(RangeError);
    expect(() => parseBenchArgs(['--seed', '1.5'])).toThrow(RangeError);
    expect(() => parseBenchArgs(['--frobnicate'])).toThrow();
  });
});
