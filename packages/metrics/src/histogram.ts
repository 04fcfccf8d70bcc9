import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import { invalidArgument } from './errors.js';
import type {
  HistogramMetricSnapshot,
  HistogramSeries,
  Labels,
  MetricDescriptor,
} from './metric-types.js';
import { SeriesMap } from './series-key.js';

/** Options of a histogram. */
export interface HistogramOptions extends MetricDescriptor {
  /**
   * Smallest difference the percentiles resolve, in the metric's unit. Values are kept
   * as integer multiples of it in an HDR histogram (Node's `perf_hooks.createHistogram`,
   * 3 significant figures). Default `1e-6` (a microsecond for a metric in seconds).
   */
  readonly resolution?: number;
  /** Quantiles (0..1) a snapshot and the Prometheus summary report. Default `[0.5, 0.9, 0.99]`. */
  readonly quantiles?: readonly number[];
}

/** One series of a histogram, bound to its labels. */
export interface HistogramChild {
  /** Records one value (>= 0, in the metric's unit). */
  record(value: number): void;
  readonly count: number;
}

class Series implements HistogramChild {
  readonly hdr: RecordableHistogram = createHistogram();
  count = 0;
  sum = 0;
  min = Number.POSITIVE_INFINITY;
  max = Number.NEGATIVE_INFINITY;
  constructor(
    readonly labels: Labels,
    readonly resolution: number,
  ) {}

  record(value: number): void {
    if (!(value >= 0) || value === Number.POSITIVE_INFINITY) {
      throw invalidArgument('histogram.record', `expected a finite value >= 0, got ${value}`);
    }
    // The HDR histogram records integers >= 1: a value is kept as 1 + its steps, so 0 fits.
    this.hdr.record(1 + Math.round(value / this.resolution));
    this.count++;
    this.sum += value;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
  }

  snapshot(quantiles: readonly number[]): HistogramSeries {
    const empty = this.count === 0;
    const byQuantile: Record<string, number> = {};
    for (const q of quantiles) {
      byQuantile[String(q)] = empty
        ? 0
        : Math.min(
            this.max,
            Math.max(this.min, (this.hdr.percentile(q * 100) - 1) * this.resolution),
          );
    }
    return {
      labels: this.labels,
      count: this.count,
      sum: this.sum,
      min: empty ? 0 : this.min,
      max: empty ? 0 : this.max,
      mean: empty ? 0 : this.sum / this.count,
      quantiles: byQuantile,
    };
  }
}

const DEFAULT_QUANTILES: readonly number[] = [0.5, 0.9, 0.99];

/**
 * A distribution with real percentiles (an HDR histogram per series) and exact count,
 * sum, min and max. Exposed to Prometheus as a summary. Create it with
 * {@link MetricRegistry.histogram}.
 */
export class Histogram {
  readonly type = 'histogram';
  readonly #series: SeriesMap<Series>;
  readonly #resolution: number;
  readonly quantiles: readonly number[];

  constructor(readonly options: HistogramOptions) {
    this.#resolution = options.resolution ?? 1e-6;
    if (!(this.#resolution > 0) || !Number.isFinite(this.#resolution)) {
      throw invalidArgument(`${options.name}.resolution`, 'expected a positive number');
    }
    const resolution = this.#resolution;
    this.#series = new SeriesMap(
      options.name,
      options.labelNames ?? [],
      (labels) => new Series(labels, resolution),
    );
    this.quantiles = options.quantiles ?? DEFAULT_QUANTILES;
    for (const q of this.quantiles) {
      if (!(q >= 0 && q <= 1))
        throw invalidArgument(`${options.name}.quantiles`, `${q} is not in [0, 1]`);
    }
  }

  /** Records one value in the series of `labels`. */
  record(value: number, labels?: Labels): void {
    this.with(labels).record(value);
  }

  /** The series of `labels`, made on first use. */
  with(labels?: Labels): HistogramChild {
    return this.#series.get(labels);
  }

  /** This histogram's part of a snapshot. */
  collect(): HistogramMetricSnapshot {
    return {
      type: 'histogram',
      name: this.options.name,
      help: this.options.help,
      unit: this.options.unit ?? '1',
      quantiles: this.quantiles,
      series: [...this.#series.values()].map((s) => s.snapshot(this.quantiles)),
    };
  }
}
