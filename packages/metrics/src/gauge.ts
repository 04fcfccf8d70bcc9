import { invalidArgument } from './errors.js';
import type { Labels, MetricDescriptor, ValueMetricSnapshot, ValueSeries } from './metric-types.js';
import { SeriesMap } from './series-key.js';

/** Options of a gauge: its descriptor and, for a callback gauge, how to read it. */
export interface GaugeOptions extends MetricDescriptor {
  /**
   * A callback gauge: read at collection (a queue depth, a file size, memory), as one
   * number or one value per label set. `undefined` or `NaN` leave a series out.
   */
  readonly collect?: () => number | undefined | readonly ValueSeries[];
}

/** One series of a gauge, bound to its labels. */
export interface GaugeChild {
  set(value: number): void;
  inc(value?: number): void;
  dec(value?: number): void;
  readonly value: number;
}

class Series implements GaugeChild {
  value = 0;
  constructor(readonly labels: Labels) {}
  set(value: number): void {
    if (typeof value !== 'number') throw invalidArgument('gauge.set', 'expected a number');
    this.value = value;
  }
  inc(value = 1): void {
    this.value += value;
  }
  dec(value = 1): void {
    this.value -= value;
  }
}

/** A value that goes up and down, set here or read at collection. Create it with {@link MetricRegistry.gauge}. */
export class Gauge {
  readonly type = 'gauge';
  readonly #series: SeriesMap<Series>;
  readonly #collect: GaugeOptions['collect'];

  constructor(readonly options: GaugeOptions) {
    this.#series = new SeriesMap(options.name, options.labelNames ?? [], (l) => new Series(l));
    this.#collect = options.collect;
  }

  /** Sets the series of `labels`. */
  set(value: number, labels?: Labels): void {
    this.with(labels).set(value);
  }

  /** The series of `labels`, made on first use. */
  with(labels?: Labels): GaugeChild {
    return this.#series.get(labels);
  }

  /** This gauge's part of a snapshot; a callback gauge is read now. */
  collect(): ValueMetricSnapshot {
    let series: ValueSeries[];
    if (this.#collect !== undefined) {
      const got = this.#collect();
      if (got === undefined) series = [];
      else if (typeof got === 'number') series = [{ labels: {}, value: got }];
      else series = [...got];
      series = series.filter((s) => !Number.isNaN(s.value));
    } else {
      series = [...this.#series.values()].map((s) => ({ labels: s.labels, value: s.value }));
    }
    return {
      type: 'gauge',
      name: this.options.name,
      help: this.options.help,
      unit: this.options.unit ?? '1',
      series,
    };
  }
}
