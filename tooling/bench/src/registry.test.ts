import { describe, expect, it } from 'vitest';
import { BENCH_CASES, selectCases } from './registry.js';

describe('selectCases', () => {
  it('keeps registry order and refuses unknown names', () => {
    expect(selectCases(undefined).map((c) => c.name)).toEqual(BENCH_CASES.map((c) => c.name));
    expect(selectCases(['emmett', 'raw']).map((c) => c.name)).toEqual(['raw', 'emmett']);
    expect(() => selectCases(['raw', 'nope'])).toThrow(/unknown case\(s\): nope/);
  });

  it('registers every case of the harness under a unique name', () => {
    const names = BENCH_CASES.map((c) => c.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toEqual([
      'raw',
      'storage',
      'postgres',
      'emmett',
      'emmett-single',
      'eventstore',
      'recorder',
      'snapshots',
      'metrics',
      'analytics',
      'storage-size',
      'raw-size',
      'cli',
      'segments',
      'segments-size',
      'daemon',
      'daemon-rss',
      'archive',
      'sync',
    ]);
  });
});
