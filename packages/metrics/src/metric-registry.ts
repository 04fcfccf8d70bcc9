import { Counter, type CounterOptions } from './counter.js';
import { MetricsError, invalidArgument } from './errors.js';
import { Gauge, type GaugeOptions } from './gauge.js';
import { Histogram, type HistogramOptions } from './histogram.js';
import type { MetricDescriptor, MetricSnapshot, MetricsSnapshot } from './metric-types.js';

const NAME = /^[a-zA-Z][a-zA-Z0-9_.]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_.]*$/;

type Instrument = Counter | Gauge | Histogram;

function checkDescriptor(options: MetricDescriptor): void {
  if (typeof options !== 'object' || options === null) {
    throw invalidArgument('metric', 'expected an options object');
  }
  if (typeof options.name !== 'string' || !NAME.test(options.name)) {
    throw invalidArgument('name', `${JSON.stringify(options.name)} must match ${NAME.source}`);
  }
  if (typeof options.help !== 'string' || options.help.length === 0) {
    throw invalidArgument(`${options.name}.help`, 'expected a non-empty string');
  }
  const labels = options.labelNames ?? [];
  const seen = new Set<string>();
  for (const label of labels) {
    if (typeof label !== 'string' || !LABEL.test(label) || label.startsWith('__')) {
      throw invalidArgument(
        `${options.name}.labelNames`,
        `${JSON.stringify(label)} is not a label name`,
      );
    }
    if (label === 'quantile' || label === 'le') {
      throw invalidArgument(
        `${options.name}.labelNames`,
        `${label} is reserved by the exposition format`,
      );
    }
    if (seen.has(label)) throw invalidArgument(`${options.name}.labelNames`, `${label} twice`);
    seen.add(label);
  }
}

function sameDescriptor(a: MetricDescriptor, b: MetricDescriptor): boolean {
  return (
    a.help === b.help &&
    (a.unit ?? '1') === (b.unit ?? '1') &&
    (a.labelNames ?? []).join('\u0001') === (b.labelNames ?? []).join('\u0001')
  );
}

/**
 * Holds counters, gauges and histograms by name, and takes snapshots of all of them.
 * Registering a name again with the same type and descriptor returns the existing
 * instrument (so two parts of a program can share one); anything else is refused with
 * `duplicate_metric`.
 *
 * @example
 * ```ts
 * const registry = new MetricRegistry();
 * const commits = registry.counter({ name: 'wirthforge.store.commits', help: 'Commits', unit: '{commit}' });
 * commits.inc();
 * toPrometheusText(registry.snapshot());
 * ```
 */
export class MetricRegistry {
  readonly #metrics = new Map<string, Instrument>();

  /** A counter (see {@link CounterOptions}). */
  counter(options: CounterOptions): Counter {
    return this.#register(options, 'counter', () => new Counter(options)) as Counter;
  }

  /** A gauge, set by hand or read by a callback at collection (see {@link GaugeOptions}). */
  gauge(options: GaugeOptions): Gauge {
    return this.#register(options, 'gauge', () => new Gauge(options)) as Gauge;
  }

  /** A histogram with percentiles (see {@link HistogramOptions}). */
  histogram(options: HistogramOptions): Histogram {
    return this.#register(options, 'histogram', () => new Histogram(options)) as Histogram;
  }

  /** The instrument registered under `name`, if any. */
  get(name: string): Counter | Gauge | Histogram | undefined {
    return this.#metrics.get(name);
  }

  /** Every metric now, in registration order; callback instruments are read here. */
  snapshot(): MetricsSnapshot {
    const metrics: MetricSnapshot[] = [];
    for (const metric of this.#metrics.values()) metrics.push(metric.collect());
    return { timestampMs: Date.now(), metrics };
  }

  #register(
    options: MetricDescriptor,
    type: Instrument['type'],
    make: () => Instrument,
  ): Instrument {
    checkDescriptor(options);
    const existing = this.#metrics.get(options.name);
    if (existing !== undefined) {
      if (existing.type === type && sameDescriptor(existing.options, options)) return existing;
      throw new MetricsError(
        'duplicate_metric',
        `${options.name}: registered already as a ${existing.type} with other help, unit or labels`,
      );
    }
    const made = make();
    this.#metrics.set(options.name, made);
    return made;
  }
}

/**
 * The value of one series of a counter or gauge in a snapshot (`undefined` when absent).
 *
 * @example
 * ```ts
 * valueOf(registry.snapshot(), 'wirthforge.recorder.events.rejected', { reason: 'invalid', 'event.type': 'energy.update' });
 * ```
 */
export function valueOf(
  snapshot: MetricsSnapshot,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): number | undefined {
  const metric = snapshot.metrics.find((m) => m.name === name);
  if (metric === undefined || metric.type === 'histogram') return undefined;
  const wanted = Object.entries(labels);
  const series = metric.series.find(
    (s) =>
      Object.keys(s.labels).length === wanted.length &&
      wanted.every(([key, value]) => s.labels[key] === value),
  );
  return series?.value;
}
