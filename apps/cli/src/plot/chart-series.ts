/**
 * A session's events as a time series for plotting: buckets of equal time, one value
 * per bucket for the chosen metric, with peaks (`energy.peak`) and anomalies (values
 * far from the rest, frame drops) marked.
 */
import { parseIsoMicros } from '@wirthforge/events';
import type { ProjectionEvent } from '@wirthforge/eventstore';

/** What a chart can show. */
export type PlotMetric = 'energy' | 'tokens' | 'fps' | 'budget';

/** Every metric, in help order. */
export const PLOT_METRICS: readonly PlotMetric[] = ['energy', 'tokens', 'fps', 'budget'];

/** Unit and label of each metric. */
export const METRIC_LABELS: Readonly<Record<PlotMetric, { label: string; unit: string }>> = {
  energy: { label: 'energy', unit: 'EU/s' },
  tokens: { label: 'tokens', unit: 'tokens/s' },
  fps: { label: 'frame rate', unit: 'fps' },
  budget: { label: 'frame budget used', unit: 'ms' },
};

/** A marked point: a peak or an anomaly. */
export interface ChartMark {
  readonly kind: 'peak' | 'anomaly';
  /** Seconds from the start. */
  readonly t: number;
  readonly bucket: number;
  readonly value: number;
  readonly label: string;
}

/** The series of one session. */
export interface ChartSeries {
  readonly metric: PlotMetric;
  readonly startUs: number;
  readonly durationS: number;
  readonly bucketS: number;
  /** One value per bucket; null where no event gave one. */
  readonly values: readonly (number | null)[];
  readonly marks: readonly ChartMark[];
  readonly min: number;
  readonly max: number;
  readonly mean: number;
}

interface Sample {
  readonly us: number;
  readonly event: ProjectionEvent;
}

/** Collects the samples of a session once; {@link buildSeries} buckets them per metric. */
export class SeriesSamples {
  readonly samples: Sample[] = [];
  startUs = Number.POSITIVE_INFINITY;
  endUs = Number.NEGATIVE_INFINITY;

  add(event: ProjectionEvent): void {
    const type = event.type;
    if (
      type !== 'energy.update' &&
      type !== 'ai.output' &&
      type !== 'energy.peak' &&
      type !== 'health.performance' &&
      type !== 'system.start' &&
      type !== 'system.end'
    ) {
      return;
    }
    const us = parseIsoMicros((event as { timestamp: string }).timestamp);
    this.startUs = Math.min(this.startUs, us);
    this.endUs = Math.max(this.endUs, us);
    this.samples.push({ us, event });
  }
}

/** Buckets the samples into `buckets` values of `metric`, and finds peaks and anomalies. */
export function buildSeries(
  samples: SeriesSamples,
  metric: PlotMetric,
  buckets: number,
): ChartSeries {
  const startUs = Number.isFinite(samples.startUs) ? samples.startUs : 0;
  const spanUs = Math.max(1, (Number.isFinite(samples.endUs) ? samples.endUs : 0) - startUs);
  const bucketUs = spanUs / buckets;
  const bucketS = bucketUs / 1e6;
  const sum = new Float64Array(buckets);
  const count = new Float64Array(buckets);
  const marks: ChartMark[] = [];
  const at = (us: number): number => Math.min(buckets - 1, Math.floor((us - startUs) / bucketUs));
  for (const { us, event } of samples.samples) {
    const b = at(us);
    const data = (event as { data?: Record<string, unknown> }).data ?? {};
    switch (event.type) {
      case 'energy.update':
        if (metric === 'energy') {
          sum[b]! += Number(data.energy ?? 0);
          count[b]! += 1;
        } else if (metric === 'fps' && typeof data.fps === 'number') {
          sum[b]! += data.fps;
          count[b]! += 1;
        } else if (metric === 'budget' && typeof data.frame_budget_used === 'number') {
          sum[b]! += data.frame_budget_used;
          count[b]! += 1;
        }
        break;
      case 'ai.output':
        if (metric === 'tokens') {
          sum[b]! += 1;
          count[b]! += 1;
        }
        break;
      case 'energy.peak':
        marks.push({
          kind: 'peak',
          t: (us - startUs) / 1e6,
          bucket: b,
          value: Number(data.energy ?? 0),
          label: `peak ${Number(data.energy ?? 0).toFixed(1)} EU`,
        });
        break;
      case 'health.performance':
        if (data.metric === 'frame_drop') {
          marks.push({
            kind: 'anomaly',
            t: (us - startUs) / 1e6,
            bucket: b,
            value: 0,
            label: 'frame drop',
          });
        }
        break;
      default:
        break;
    }
  }
  const rate = metric === 'energy' || metric === 'tokens';
  const values: (number | null)[] = [];
  for (let b = 0; b < buckets; b++) {
    if (rate) values.push(sum[b]! / bucketS);
    else values.push(count[b]! > 0 ? sum[b]! / count[b]! : null);
  }
  const present = values.filter((v): v is number => v !== null);
  const mean = present.length === 0 ? 0 : present.reduce((a, v) => a + v, 0) / present.length;
  const sd =
    present.length === 0
      ? 0
      : Math.sqrt(present.reduce((a, v) => a + (v - mean) ** 2, 0) / present.length);
  // Anomalies: buckets more than three standard deviations from the mean.
  if (sd > 0) {
    values.forEach((v, b) => {
      if (v !== null && Math.abs(v - mean) > 3 * sd) {
        marks.push({
          kind: 'anomaly',
          t: ((b + 0.5) * bucketUs) / 1e6,
          bucket: b,
          value: v,
          label: `${v > mean ? 'high' : 'low'} ${v.toFixed(1)} ${METRIC_LABELS[metric].unit}`,
        });
      }
    });
  }
  if (metric !== 'energy') {
    // Peak markers belong to the energy chart; on others they would sit at the wrong height.
    for (let i = marks.length - 1; i >= 0; i--) if (marks[i]!.kind === 'peak') marks.splice(i, 1);
  }
  return {
    metric,
    startUs,
    durationS: spanUs / 1e6,
    bucketS,
    values,
    marks,
    min: present.length === 0 ? 0 : Math.min(...present),
    max: present.length === 0 ? 0 : Math.max(...present),
    mean,
  };
}

/** `m:ss` (or `h:mm:ss`) from seconds. */
export function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}
