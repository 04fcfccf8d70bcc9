import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isMetricsError } from './errors.js';
import { MetricRegistry, valueOf } from './metric-registry.js';

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('MetricRegistry', () => {
  it('counts per label set, bound or looked up', () => {
    const registry = new MetricRegistry();
    const counter = registry.counter({ name: 'c', help: 'c', labelNames: ['type'] });
    const bound = counter.with({ type: 'a' });
    bound.inc();
    bound.inc(2);
    counter.inc(5, { type: 'b' });
    expect(valueOf(registry.snapshot(), 'c', { type: 'a' })).toBe(3);
    expect(valueOf(registry.snapshot(), 'c', { type: 'b' })).toBe(5);
    expect(counter.value({ type: 'z' })).toBe(0);
  });

  it('reads callback gauges and counters at collection', () => {
    const registry = new MetricRegistry();
    let depth = 1;
    registry.gauge({ name: 'depth', help: 'd', collect: () => depth });
    registry.counter({
      name: 'by.kind',
      help: 'k',
      labelNames: ['kind'],
      collect: () => [{ labels: { kind: 'x' }, value: depth * 10 }],
    });
    expect(valueOf(registry.snapshot(), 'depth')).toBe(1);
    depth = 4;
    expect(valueOf(registry.snapshot(), 'depth')).toBe(4);
    expect(valueOf(registry.snapshot(), 'by.kind', { kind: 'x' })).toBe(40);
  });

  it('shares an instrument registered twice alike, refuses a clash', () => {
    const registry = new MetricRegistry();
    const a = registry.counter({ name: 'n', help: 'h' });
    expect(registry.counter({ name: 'n', help: 'h' })).toBe(a);
    expect(
      isMetricsError(
        caught(() => registry.gauge({ name: 'n', help: 'h' })),
        'duplicate_metric',
      ),
    ).toBe(true);
    expect(
      isMetricsError(
        caught(() => registry.counter({ name: 'n', help: 'other' })),
        'duplicate_metric',
      ),
    ).toBe(true);
  });

  it('refuses bad names, labels and values with typed errors that say where', () => {
    const registry = new MetricRegistry();
    const bad = caught(() => registry.counter({ name: 'bad name', help: 'h' }));
    expect(isMetricsError(bad, 'invalid_argument')).toBe(true);
    expect((bad as Error).message).toMatch(/^name: "bad name"/);
    expect(
      isMetricsError(
        caught(() => registry.counter({ name: 'q', help: 'h', labelNames: ['quantile'] })),
        'invalid_argument',
      ),
    ).toBe(true);
    const counter = registry.counter({ name: 'l', help: 'h', labelNames: ['a'] });
    expect(
      isMetricsError(
        caught(() => counter.inc(1)),
        'label_mismatch',
      ),
    ).toBe(true);
    expect(
      isMetricsError(
        caught(() => counter.inc(1, { a: 'x', b: 'y' })),
        'label_mismatch',
      ),
    ).toBe(true);
    expect(
      isMetricsError(
        caught(() => counter.inc(-1, { a: 'x' })),
        'invalid_argument',
      ),
    ).toBe(true);
    const histogram = registry.histogram({ name: 'h', help: 'h' });
    expect(
      isMetricsError(
        caught(() => histogram.record(Number.NaN)),
        'invalid_argument',
      ),
    ).toBe(true);
  });
});

describe('Histogram', () => {
  it('keeps exact count, sum, min, max and percentiles within the HDR precision', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 10, noNaN: true }), { minLength: 1, maxLength: 400 }),
        (values) => {
          const registry = new MetricRegistry();
          const histogram = registry.histogram({
            name: 'h',
            help: 'h',
            unit: 's',
            quantiles: [0.5, 0.99],
          });
          for (const v of values) histogram.record(v);
          const metric = registry.snapshot().metrics[0]!;
          if (metric.type !== 'histogram') throw new Error('not a histogram');
          const series = metric.series[0]!;
          expect(series.count).toBe(values.length);
          expect(series.sum).toBeCloseTo(
            values.reduce((a, b) => a + b, 0),
            9,
          );
          expect(series.min).toBe(Math.min(...values));
          expect(series.max).toBe(Math.max(...values));
          const sorted = [...values].sort((a, b) => a - b);
          for (const q of [0.5, 0.99]) {
            // HDR: the value at or above the q-th fraction of the values, to 3 significant figures
            // of its step count (1 µs steps), so within 0.1 % + 2 µs of the exact order statistic.
            const exact = sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
            expect(Math.abs(series.quantiles[String(q)]! - exact)).toBeLessThanOrEqual(
              exact * 0.001 + 2e-6,
            );
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});
