import * as os from 'node:os';
import { describe, expect, it } from 'vitest';
import { captureEnv } from './capture-env.js';
import { formatNumber, formatReport, toBenchJson } from './format-report.js';
import type { BenchRunResult } from './run-bench.js';

const options = {
  runs: 2,
  batches: 300,
  batchSize: 60,
  singleEvents: 600,
  sizeMinutes: 10,
  seed: 1,
  quick: false,
  tmpDir: os.tmpdir(),
};

const run: BenchRunResult = {
  results: {
    'raw.rows_per_s': {
      median: 123_456.7,
      min: 120_000,
      max: 130_000,
      unit: 'rows/s',
      better: 'higher',
      samples: [120_000, 130_000],
    },
    'storage.mb_per_hour': {
      median: 1.5,
      min: 1.5,
      max: 1.5,
      unit: 'MB/h',
      better: 'lower',
      samples: [1.5],
      note: 'extrapolated to one hour from a 10-minute 60 Hz session',
    },
  },
  failures: [],
};

describe('formatReport', () => {
  it('prints the environment, one aligned row per metric and the notes', () => {
    const env = captureEnv(options, new Date('2026-01-01T00:00:00Z'));
    const text = formatReport(env, run);
    const lines = text.split('\n');
    expect(text).toContain('2026-01-01T00:00:00.000Z');
    expect(text).toContain(`SQLite ${env.sqlite}`);
    expect(text).toContain('2 run(s) x 300 batches of 60 events (18,000 events), seed 1');
    const row = lines.find((l) => l.startsWith('raw.rows_per_s'));
    expect(row).toMatch(/raw\.rows_per_s\s+123,457\s+120,000\s+130,000\s+rows\/s ↑\s+2$/);
    const header = lines.find((l) => l.startsWith('metric'));
    expect(header?.indexOf('median')).toBeGreaterThan(0);
    expect(text).toContain(
      'storage.mb_per_hour: extrapolated to one hour from a 10-minute 60 Hz session',
    );
    expect(text).not.toContain('FAILED');
  });

  it('writes the JSON shape with env and per-metric median, min, max and unit', () => {
    const env = captureEnv(options);
    const json = JSON.parse(JSON.stringify(toBenchJson(env, run))) as Record<string, unknown>;
    expect(json).toMatchObject({
      env: {
        node: process.version,
        sqlite: env.sqlite,
        platform: process.platform,
        options: { runs: 2 },
      },
      results: {
        'raw.rows_per_s': { median: 123_456.7, min: 120_000, max: 130_000, unit: 'rows/s' },
      },
      failures: [],
    });
    expect(typeof (json.env as { cpu: unknown }).cpu).toBe('string');
  });
});

describe('formatNumber', () => {
  it('uses fewer decimals for larger numbers', () => {
    expect(formatNumber(15_234.6)).toBe('15,235');
    expect(formatNumber(430.04)).toBe('430.0');
    expect(formatNumber(1.23456)).toBe('1.235');
    expect(formatNumber(0.5)).toBe('0.500');
  });
});
