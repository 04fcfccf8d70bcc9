import { invalidArgument } from './errors.js';
import type { Labels, MetricDescriptor, ValueMetricSnapshot, ValueSeries } from './metric-types.js';
import { SeriesMap } from './series-key.js';

/** Options of a counter: its descriptor and, for a counter kept elsewhere, a callback. */
export interface CounterOptions extends MetricDescriptor {
  /**
   * Read at collection instead of counting here: a total kept by someone else (the
   * recorder's stats), as one number or one value per label set. It must not decrease.
   */
  readonly collect?: () => number | readonly ValueSeries[];
}

/** One series of a counter, bound to its labels once: `inc()` is a field update. */
export interface CounterChild {
  inc(value?: number): void;
  readonly value: number;
}

class Series implements CounterChild {
  value = 0;
  constructor(readonly labels: Labels) {}
  inc(value = 1): void {
    if (!(value >= 0)) throw invalidArgument('counter.inc', `expected a value >= 0, got ${value}`);
    this.value += value;
  }
}

/**
 * A monotonic total. `inc(n, labels)` looks its series up; `with(labels)` binds a series
 * once for a hot path. Create it with {@link MetricRegistry.counter}.
 */
export class Counter {
  readonly type = 'counter';
  readonly #series: SeriesMap<Series>;
  readonly #collect: CounterOptions['collect'];

  constructor(readonly options: CounterOptions) {
    this.#series = new SeriesMap(options.name, options.labelNames ?? [], (l) => new Series(l));
    this.#collect = options.collect;
  }

  /** Adds `value` (default 1, never negative) to the series of `labels`. */
  inc(value = 1, labels?: Labels): void {
    this.with(labels).inc(value);
  }

  /** The series of `labels`, made on first use. */
  with(labels?: Labels): CounterChild {
    return this.#series.get(labels);
  }

  /** The current value of the series of `labels` (0 when never counted). */
  value(labels?: Labels): number {
    return this.#series.find(labels)?.value ?? 0;
  }

  /** This counter's part of a snapshot. */
  collect(): ValueMetricSnapshot {
    let series: ValueSeries[];
    if (this.#collect !== undefined) {
      const got = this.#collect();
      series = typeof got === 'number' ? [{ labels: {}, value: got }] : [...got];
    } else {
      series = [...this.#series.values()].map((s) => ({ labels: s.labels, value: s.value }));
    }
    return {
      type: 'counter',
      name: this.options.name,
      help: this.options.help,
      unit: this.options.unit ?? '1',
      series,
    };
  }
}
