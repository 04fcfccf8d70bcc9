import { MetricsError } from './errors.js';
import type { Labels } from './metric-types.js';

const NO_LABELS: Labels = Object.freeze({});

/** The key of a series in its metric's map: its label values in label-name order. */
export function seriesKey(
  metric: string,
  labelNames: readonly string[],
  labels: Labels | undefined,
): string {
  if (labelNames.length === 0) {
    if (labels !== undefined && Object.keys(labels).length > 0) {
      throw new MetricsError('label_mismatch', `${metric}: takes no labels`);
    }
    return '';
  }
  if (labels === undefined) {
    throw new MetricsError('label_mismatch', `${metric}: labels ${labelNames.join(', ')} required`);
  }
  let key = '';
  for (let i = 0; i < labelNames.length; i++) {
    const value = labels[labelNames[i]!];
    if (typeof value !== 'string') {
      throw new MetricsError(
        'label_mismatch',
        `${metric}: label ${labelNames[i]!} must be a string, got ${typeof value}`,
      );
    }
    key = i === 0 ? value : `${key}\u0001${value}`;
  }
  if (Object.keys(labels).length !== labelNames.length) {
    const extra = Object.keys(labels).filter((name) => !labelNames.includes(name));
    throw new MetricsError('label_mismatch', `${metric}: unknown label(s) ${extra.join(', ')}`);
  }
  return key;
}

/** A frozen copy of the labels a series keeps (only the declared names). */
export function ownLabels(labelNames: readonly string[], labels: Labels | undefined): Labels {
  if (labelNames.length === 0 || labels === undefined) return NO_LABELS;
  const own: Record<string, string> = {};
  for (const name of labelNames) own[name] = labels[name]!;
  return Object.freeze(own);
}

/** The series of one metric, one per label set, each made on first use. */
export class SeriesMap<S> {
  readonly #map = new Map<string, S>();

  constructor(
    readonly metric: string,
    readonly labelNames: readonly string[],
    private readonly make: (labels: Labels) => S,
  ) {}

  /** The series of `labels`, made now when it does not exist yet. */
  get(labels: Labels | undefined): S {
    const key = seriesKey(this.metric, this.labelNames, labels);
    let series = this.#map.get(key);
    if (series === undefined) {
      series = this.make(ownLabels(this.labelNames, labels));
      this.#map.set(key, series);
    }
    return series;
  }

  /** The series of `labels` when it exists. */
  find(labels: Labels | undefined): S | undefined {
    return this.#map.get(seriesKey(this.metric, this.labelNames, labels));
  }

  values(): IterableIterator<S> {
    return this.#map.values();
  }
}
