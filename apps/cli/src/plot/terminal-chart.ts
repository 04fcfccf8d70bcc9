/** A chart in the terminal: bars of block characters, a y axis, time labels, marks below. */
import type { ChartSeries } from './chart-series.js';
import { METRIC_LABELS, clock } from './chart-series.js';

const BLOCKS = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

function label(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 1000) return `${(value / 1000).toFixed(1)}k`;
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

/**
 * Renders `series` (one column per bucket) `height` rows high. Under the time axis, `^`
 * marks a peak and `!` an anomaly.
 */
export function renderTerminalChart(series: ChartSeries, title: string, height = 10): string {
  const { unit } = METRIC_LABELS[series.metric];
  const top = series.max > 0 ? series.max : 1;
  const bottom = Math.min(0, series.min);
  const span = top - bottom || 1;
  const width = series.values.length;
  const axis = Math.max(label(top).length, label(bottom).length, 4);
  const rows: string[] = [];
  for (let r = height - 1; r >= 0; r--) {
    let line = '';
    for (const v of series.values) {
      if (v === null) {
        line += ' ';
        continue;
      }
      const eighths = Math.round(((v - bottom) / span) * height * 8);
      const fill = Math.max(0, Math.min(8, eighths - r * 8));
      line += BLOCKS[fill];
    }
    const yLabel =
      r === height - 1
        ? label(top)
        : r === 0
          ? label(bottom)
          : r === Math.floor(height / 2)
            ? label(bottom + span / 2)
            : '';
    rows.push(`${yLabel.padStart(axis)} ┤${line}`);
  }
  rows.push(`${' '.repeat(axis)} └${'─'.repeat(width)}`);
  const left = clock(0);
  const middle = clock(series.durationS / 2);
  const right = clock(series.durationS);
  const times = `${left}${' '.repeat(Math.max(1, Math.floor(width / 2) - left.length - Math.floor(middle.length / 2)))}${middle}`;
  rows.push(
    `${' '.repeat(axis + 2)}${times}${' '.repeat(Math.max(1, width - times.length - right.length))}${right}`,
  );
  const markLine = Array.from({ length: width }, () => ' ');
  for (const m of series.marks)
    markLine[m.bucket] = m.kind === 'peak' ? (markLine[m.bucket] === '!' ? '!' : '^') : '!';
  const peaks = series.marks.filter((m) => m.kind === 'peak');
  const anomalies = series.marks.filter((m) => m.kind === 'anomaly');
  if (peaks.length + anomalies.length > 0)
    rows.push(`${' '.repeat(axis + 2)}${markLine.join('').trimEnd()}`);
  const legend = [
    `${title}: ${METRIC_LABELS[series.metric].label} (${unit}) over ${clock(series.durationS)}, ${label(series.bucketS)} s per column`,
    `mean ${label(series.mean)} ${unit}, max ${label(series.max)} ${unit}` +
      (peaks.length > 0
        ? `; ^ ${peaks.length} peak(s), highest ${peaks.reduce((a, p) => Math.max(a, p.value), 0).toFixed(1)} EU`
        : '') +
      (anomalies.length > 0 ? `; ! ${anomalies.length} anomaly(ies)` : ''),
  ];
  return [...legend, ...rows].join('\n');
}
