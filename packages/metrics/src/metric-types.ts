/** Label names and values of one series: `{ 'event.type': 'energy.update' }`. */
export type Labels = Readonly<Record<string, string>>;

/** The three kinds of instrument. */
export type MetricType = 'counter' | 'gauge' | 'histogram';

/** What every metric declares. */
export interface MetricDescriptor {
  /**
   * OpenTelemetry-style name, dot-separated (`wirthforge.recorder.events.committed`,
   * `process.memory.usage`); the Prometheus name is derived from it
   * ({@link prometheusName}).
   */
  readonly name: string;
  /** One line saying what it counts or measures. */
  readonly help: string;
  /** UCUM unit as OpenTelemetry writes it: `s`, `By`, `1`, `{event}`, `{commit}`. */
  readonly unit?: string;
  /** Label names every series of it carries, in order. Default none. */
  readonly labelNames?: readonly string[];
}

/** One series of a counter or a gauge. */
export interface ValueSeries {
  readonly labels: Labels;
  readonly value: number;
}

/** One series of a histogram: exact count, sum, min and max, percentiles from an HDR histogram. */
export interface HistogramSeries {
  readonly labels: Labels;
  readonly count: number;
  /** Sum of the values as recorded (exact, not rounded to the histogram's resolution). */
  readonly sum: number;
  /** `0` when empty. */
  readonly min: number;
  readonly max: number;
  readonly mean: number;
  /** Quantile (0..1) to value, for each of the histogram's `quantiles`. */
  readonly quantiles: Readonly<Record<string, number>>;
}

/** A counter or gauge in a {@link MetricsSnapshot}. */
export interface ValueMetricSnapshot {
  readonly type: 'counter' | 'gauge';
  readonly name: string;
  readonly help: string;
  readonly unit: string;
  readonly series: readonly ValueSeries[];
}

/** A histogram in a {@link MetricsSnapshot}. */
export interface HistogramMetricSnapshot {
  readonly type: 'histogram';
  readonly name: string;
  readonly help: string;
  readonly unit: string;
  readonly quantiles: readonly number[];
  readonly series: readonly HistogramSeries[];
}

/** One metric of a {@link MetricsSnapshot}. */
export type MetricSnapshot = ValueMetricSnapshot | HistogramMetricSnapshot;

/** Every metric of a registry at one moment: what code reads, and what the Prometheus text is made of. */
export interface MetricsSnapshot {
  /** Milliseconds since the epoch when it was taken. */
  readonly timestampMs: number;
  readonly metrics: readonly MetricSnapshot[];
}
