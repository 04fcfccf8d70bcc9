import * as os from 'node:os';
import { existsSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { BenchCase, BenchOptions } from './bench-case.js';
import { buildDataset } from './bench-dataset.js';
import { formatReport } from './format-report.js';
import { captureEnv } from './capture-env.js';
import { runBench } from './run-bench.js';

const options: BenchOptions = {
  runs: 3,
  batches: 2,
  batchSize: 60,
  singleEvents: 10,
  sizeMinutes: 1,
  seed: 1,
  quick: true,
  tmpDir: os.tmpdir(),
};
const dataset = buildDataset({ seed: 1, batches: 2, batchSize: 60 });

/** A case that reports the given value per round. */
function fixed(
  name: string,
  metric: string,
  values: readonly number[],
  extra: Partial<BenchCase> = {},
): BenchCase {
  return {
    name,
    description: name,
    run: (ctx) =>
      Promise.resolve([
        { name: metric, value: values[ctx.round] ?? Number.NaN, unit: 'ops/s', better: 'higher' },
      ]),
    ...extra,
  };
}

describe('runBench', () => {
  it('summarizes each metric over the rounds', async () => {
    const run = await runBench([fixed('a', 'a.rate', [30, 10, 20])], options, { dataset });
    expect(run.failures).toEqual([]);
    expect(run.results['a.rate']).toMatchObject({
      median: 20,
      min: 10,
      max: 30,
      unit: 'ops/s',
      samples: [30, 10, 20],
    });
  });

  it('interleaves cases round by round and runs once-cases in the first round only', async () => {
    const order: string[] = [];
    const tracer = (name: string, once = false): BenchCase => ({
      name,
      description: name,
      once,
      run: (ctx) => {
        order.push(`${name}${ctx.round}`);
        return Promise.resolve([{ name: `${name}.v`, value: 1, unit: 'x', better: 'higher' }]);
      },
    });
    const run = await runBench([tracer('a'), tracer('b'), tracer('c', true)], options, { dataset });
    expect(order).toEqual(['a0', 'b0', 'c0', 'a1', 'b1', 'a2', 'b2']);
    expect(run.results['c.v']?.samples).toEqual([1]);
  });

  it('computes derived metrics per round, so their median is the median of ratios', async () => {
    const ratio = {
      name: 'b.vs_a',
      unit: 'x',
      better: 'higher' as const,
      inputs: ['b.rate', 'a.rate'],
      compute: ([b = 0, a = 1]: readonly number[]) => b / a,
    };
    const run = await runBench(
      [
        fixed('a', 'a.rate', [100, 200, 400]),
        fixed('b', 'b.rate', [50, 300, 100], { derived: [ratio] }),
      ],
      options,
      { dataset },
    );
    // Per-round ratios 0.5, 1.5, 0.25: median 0.5 (the ratio of medians would be 150/200 = 0.75).
    expect(run.results['b.vs_a']).toMatchObject({ median: 0.5, min: 0.25, max: 1.5 });
  });

  it('reports a failing case loudly, does not repeat it, and keeps the others', async () => {
    let calls = 0;
    const broken: BenchCase = {
      name: 'broken',
      description: 'throws',
      run: () => {
        calls++;
        return Promise.reject(new Error('package not built'));
      },
    };
    const run = await runBench([broken, fixed('a', 'a.rate', [1, 2, 3])], options, { dataset });
    expect(calls).toBe(1);
    expect(run.failures).toHaveLength(1);
    expect(run.failures[0]).toMatchObject({ case: 'broken', round: 0 });
    expect(run.failures[0]?.message).toContain('package not built');
    expect(run.results['a.rate']?.samples).toEqual([1, 2, 3]);
    const text = formatReport(captureEnv(options), run);
    expect(text).toContain('FAILED (1)');
    expect(text).toContain('broken (run 1): Error: package not built');
  });

  it('treats a non-finite or empty measurement as a failure', async () => {
    const run = await runBench(
      [
        fixed('nan', 'nan.rate', []),
        { name: 'empty', description: '', run: () => Promise.resolve([]) },
      ],
      options,
      { dataset },
    );
    expect(run.failures.map((f) => f.case)).toEqual(['nan', 'empty']);
    expect(run.results).toEqual({});
  });

  it('reports a unit that changes between runs and a derived value that is not finite', async () => {
    const flipping: BenchCase = {
      name: 'flip',
      description: '',
      run: (ctx) =>
        Promise.resolve([
          { name: 'f.v', value: 1, unit: ctx.round === 0 ? 'ms' : 's', better: 'lower' },
        ]),
    };
    const zero = fixed('z', 'z.rate', [0, 0, 0], {
      derived: [
        {
          name: 'a.vs_z',
          unit: 'x',
          better: 'higher',
          inputs: ['a.rate', 'z.rate'],
          compute: ([a = 0, z = 0]: readonly number[]) => a / z,
        },
      ],
    });
    const run = await runBench([flipping, fixed('a', 'a.rate', [1, 2, 3]), zero], options, {
      dataset,
    });
    expect(run.failures.map((f) => [f.case, f.round])).toEqual([
      ['a.vs_z', 0],
      ['flip', 1],
      ['a.vs_z', 1],
      ['a.vs_z', 2],
    ]);
    expect(run.results['f.v']?.samples).toEqual([1]);
    expect(run.results['a.vs_z']).toBeUndefined();
  });

  it('gives cases fresh temporary paths and removes them afterwards', async () => {
    const paths: string[] = [];
    const writer: BenchCase = {
      name: 'writer',
      description: '',
      run: (ctx) => {
        const file = ctx.tempPath('db.sqlite');
        writeFileSync(file, 'x');
        paths.push(file);
        return Promise.resolve([{ name: 'w', value: 1, unit: 'x', better: 'higher' }]);
      },
    };
    await runBench([writer], options, { dataset });
    expect(new Set(paths).size).toBe(3);
    expect(paths.some((p) => existsSync(p))).toBe(false);
  });

  it('refuses two cases with one name', async () => {
    await expect(
      runBench([fixed('a', 'x', [1]), fixed('a', 'y', [1])], options, { dataset }),
    ).rejects.toThrow(/two cases/);
  });
});
