import type { Labels, MetricSnapshot, MetricsSnapshot } from './metric-types.js';

/** The `Content-Type` of {@link toPrometheusText}'s output. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const UNIT_SUFFIXES: Readonly<Record<string, string>> = {
  s: 'seconds',
  ms: 'milliseconds',
  By: 'bytes',
  'By/h': 'bytes_per_hour',
  '1/s': 'per_second',
  Hz: 'hertz',
};

/**
 * The Prometheus name of a metric, as OpenTelemetry's Prometheus exporter makes it:
 * characters outside `[a-zA-Z0-9_:]` become `_`, the unit is appended as a word
 * (`s` → `_seconds`, `By` → `_bytes`; annotations like `{event}` and `1` add nothing),
 * and a counter ends in `_total`.
 *
 * @example
 * ```ts
 * prometheusName('db.client.operation.duration', 'histogram', 's'); // 'db_client_operation_duration_seconds'
 * prometheusName('wirthforge.store.commits', 'counter', '{commit}'); // 'wirthforge_store_commits_total'
 * ```
 */
export function prometheusName(name: string, type: MetricSnapshot['type'], unit: string): string {
  let out = name.replace(/[^a-zA-Z0-9_:]/g, '_');
  if (/^[0-9]/.test(out)) out = `_${out}`;
  const suffix = UNIT_SUFFIXES[unit];
  if (suffix !== undefined && !out.endsWith(`_${suffix}`)) out = `${out}_${suffix}`;
  if (type === 'counter' && !out.endsWith('_total')) out = `${out}_total`;
  return out;
}

/** A label name as Prometheus accepts it: `[a-zA-Z_][a-zA-Z0-9_]*`. */
export function prometheusLabelName(name: string): string {
  const out = name.replace(/[^a-zA-Z0-9_]/g, '_');
  return /^[0-9]/.test(out) ? `_${out}` : out;
}

/** A label value escaped for the text format: backslash, double quote and line feed. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** HELP text escaped for the text format: backslash and line feed. */
export function escapeHelp(help: string): string {
  return help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** A sample value: Go's float formatting of the special values, shortest round-trip otherwise. */
export function formatSampleValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}

function labelText(labels: Labels, extra?: readonly [string, string]): string {
  const parts: string[] = [];
  for (const [name, value] of Object.entries(labels)) {
    parts.push(`${prometheusLabelName(name)}="${escapeLabelValue(value)}"`);
  }
  if (extra !== undefined) parts.push(`${extra[0]}="${escapeLabelValue(extra[1])}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

/**
 * A snapshot in the Prometheus text exposition format, version 0.0.4: for each metric
 * one `# HELP` and one `# TYPE` line, then its samples, one per line, `\n`-terminated.
 * Counters and gauges give one sample per series; histograms are exposed as summaries
 * (`name{quantile="0.99"}`, `name_sum`, `name_count`). Metric and label names are
 * sanitised ({@link prometheusName}), label values escaped. Serve it with
 * {@link PROMETHEUS_CONTENT_TYPE}.
 *
 * @example
 * ```ts
 * response.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE });
 * response.end(toPrometheusText(metrics.snapshot()));
 * ```
 */
export function toPrometheusText(snapshot: MetricsSnapshot): string {
  const lines: string[] = [];
  const seen = new Set<string>();
  for (const metric of snapshot.metrics) {
    const name = prometheusName(metric.name, metric.type, metric.unit);
    // Two OpenTelemetry names may sanitise to one Prometheus name: the first wins.
    if (seen.has(name)) continue;
    seen.add(name);
    lines.push(`# HELP ${name} ${escapeHelp(metric.help)}`);
    if (metric.type === 'histogram') {
      lines.push(`# TYPE ${name} summary`);
      for (const series of metric.series) {
        for (const q of metric.quantiles) {
          const value =
            series.count === 0 ? Number.NaN : (series.quantiles[String(q)] ?? Number.NaN);
          lines.push(
            `${name}${labelText(series.labels, ['quantile', String(q)])} ${formatSampleValue(value)}`,
          );
        }
        lines.push(`${name}_sum${labelText(series.labels)} ${formatSampleValue(series.sum)}`);
        lines.push(`${name}_count${labelText(series.labels)} ${series.count}`);
      }
    } else {
      lines.push(`# TYPE ${name} ${metric.type}`);
      for (const series of metric.series) {
        lines.push(`${name}${labelText(series.labels)} ${formatSampleValue(series.value)}`);
      }
    }
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}
