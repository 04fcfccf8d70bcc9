/**
 * An SVG chart a person would rather look at than read: title, axes with ticks and
 * labels, the series as a filled line, peaks marked and labelled, anomalies flagged, and
 * the 16.7 ms frame budget drawn on the budget chart.
 */
import type { ChartSeries } from './chart-series.js';
import { METRIC_LABELS, clock } from './chart-series.js';

function escape(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

/** Round tick steps: 1, 2 or 5 times a power of ten. */
function niceStep(span: number, ticks: number): number {
  const raw = span / ticks;
  const power = 10 ** Math.floor(Math.log10(raw));
  const unit = raw / power;
  return (unit <= 1 ? 1 : unit <= 2 ? 2 : unit <= 5 ? 5 : 10) * power;
}

/** Renders `series` as a standalone SVG document. */
export function renderSvgChart(
  series: ChartSeries,
  title: string,
  width = 960,
  height = 420,
): string {
  const { label, unit } = METRIC_LABELS[series.metric];
  const m = { left: 70, right: 24, top: 56, bottom: 56 };
  const w = width - m.left - m.right;
  const h = height - m.top - m.bottom;
  const budgetLine = series.metric === 'budget' ? 1000 / 60 : undefined;
  const yMax0 = Math.max(
    series.max,
    budgetLine ?? 0,
    ...series.marks.filter((k) => k.kind === 'peak').map(() => 0),
  );
  const step = niceStep(yMax0 > 0 ? yMax0 : 1, 5);
  const yMax = Math.ceil((yMax0 > 0 ? yMax0 : 1) / step) * step;
  const n = series.values.length;
  const x = (b: number): number => m.left + ((b + 0.5) / n) * w;
  const xT = (t: number): number => m.left + (t / (series.durationS || 1)) * w;
  const y = (v: number): number => m.top + h - (v / yMax) * h;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="12">`,
    `<title>${escape(`${title}: ${label}`)}</title>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${m.left}" y="24" font-size="16" font-weight="600" fill="#1f2937">${escape(title)}</text>`,
    `<text x="${m.left}" y="42" fill="#6b7280">${escape(
      `${label} (${unit}) over ${clock(series.durationS)}; mean ${series.mean.toFixed(2)}, max ${series.max.toFixed(2)} ${unit}`,
    )}</text>`,
  );
  // Grid and y axis.
  for (let v = 0; v <= yMax + step / 2; v += step) {
    const yy = y(v).toFixed(1);
    out.push(
      `<line x1="${m.left}" y1="${yy}" x2="${m.left + w}" y2="${yy}" stroke="#e5e7eb"/>`,
      `<text x="${m.left - 8}" y="${yy}" text-anchor="end" dominant-baseline="middle" fill="#374151">${escape(
        v >= 1000 ? `${(v / 1000).toFixed(1)}k` : String(+v.toFixed(2)),
      )}</text>`,
    );
  }
  out.push(
    `<text transform="translate(18 ${m.top + h / 2}) rotate(-90)" text-anchor="middle" fill="#374151">${escape(`${label} (${unit})`)}</text>`,
  );
  // Time axis.
  const tStep = niceStep(series.durationS || 1, 8);
  for (let t = 0; t <= series.durationS + 1e-9; t += tStep) {
    const xx = xT(t).toFixed(1);
    out.push(
      `<line x1="${xx}" y1="${m.top + h}" x2="${xx}" y2="${m.top + h + 5}" stroke="#374151"/>`,
      `<text x="${xx}" y="${m.top + h + 19}" text-anchor="middle" fill="#374151">${clock(t)}</text>`,
    );
  }
  out.push(
    `<text x="${m.left + w / 2}" y="${height - 10}" text-anchor="middle" fill="#374151">time since session start (m:ss)</text>`,
    `<line x1="${m.left}" y1="${m.top}" x2="${m.left}" y2="${m.top + h}" stroke="#374151"/>`,
    `<line x1="${m.left}" y1="${m.top + h}" x2="${m.left + w}" y2="${m.top + h}" stroke="#374151"/>`,
  );
  // The series: an area under a line, broken where there is no value.
  const runs: { b: number; v: number }[][] = [];
  let run: { b: number; v: number }[] = [];
  series.values.forEach((v, b) => {
    if (v === null) {
      if (run.length > 0) runs.push(run);
      run = [];
    } else run.push({ b, v });
  });
  if (run.length > 0) runs.push(run);
  for (const r of runs) {
    const line = r.map((p) => `${x(p.b).toFixed(1)},${y(p.v).toFixed(1)}`).join(' ');
    const area = `${x(r[0]!.b).toFixed(1)},${y(0).toFixed(1)} ${line} ${x(r[r.length - 1]!.b).toFixed(1)},${y(0).toFixed(1)}`;
    out.push(
      `<polygon points="${area}" fill="#3b82f6" fill-opacity="0.15"/>`,
      `<polyline points="${line}" fill="none" stroke="#2563eb" stroke-width="1.5" stroke-linejoin="round"/>`,
    );
  }
  if (budgetLine !== undefined) {
    const yy = y(budgetLine).toFixed(1);
    out.push(
      `<line x1="${m.left}" y1="${yy}" x2="${m.left + w}" y2="${yy}" stroke="#dc2626" stroke-dasharray="6 4"/>`,
      `<text x="${m.left + w - 4}" y="${Number(yy) - 6}" text-anchor="end" fill="#dc2626">frame budget 16.7 ms</text>`,
    );
  }
  // Peaks: a marker at the bucket's value, the highest few labelled.
  const peaks = series.marks.filter((k) => k.kind === 'peak');
  const labelled = new Set([...peaks].sort((a, b) => b.value - a.value).slice(0, 5));
  for (const p of peaks) {
    const v = series.values[p.bucket] ?? 0;
    const cx = x(p.bucket).toFixed(1);
    const cy = y(v).toFixed(1);
    out.push(
      `<g class="peak"><circle cx="${cx}" cy="${cy}" r="4" fill="#f59e0b" stroke="#92400e"/><title>${escape(`${p.label} at ${clock(p.t)}`)}</title></g>`,
    );
    if (labelled.has(p)) {
      out.push(
        `<text x="${cx}" y="${Number(cy) - 9}" text-anchor="middle" font-size="11" fill="#92400e">${escape(p.label)}</text>`,
      );
    }
  }
  // Anomalies: a red triangle under the axis, and a thin line up to the value.
  for (const a of series.marks.filter((k) => k.kind === 'anomaly')) {
    const cx = x(a.bucket);
    out.push(
      `<g class="anomaly"><line x1="${cx.toFixed(1)}" y1="${m.top}" x2="${cx.toFixed(1)}" y2="${m.top + h}" stroke="#dc2626" stroke-opacity="0.35"/>` +
        `<polygon points="${(cx - 5).toFixed(1)},${m.top + h + 30} ${(cx + 5).toFixed(1)},${m.top + h + 30} ${cx.toFixed(1)},${m.top + h + 22}" fill="#dc2626"/>` +
        `<title>${escape(`${a.label} at ${clock(a.t)}`)}</title></g>`,
    );
  }
  // Legend.
  const lx = m.left + w - 250;
  out.push(
    `<g font-size="11" fill="#374151"><line x1="${lx}" y1="16" x2="${lx + 18}" y2="16" stroke="#2563eb" stroke-width="2"/><text x="${lx + 22}" y="20">${escape(label)}</text>` +
      `<circle cx="${lx + 90}" cy="16" r="4" fill="#f59e0b" stroke="#92400e"/><text x="${lx + 98}" y="20">peak (${peaks.length})</text>` +
      `<polygon points="${lx + 160},21 ${lx + 170},21 ${lx + 165},12" fill="#dc2626"/><text x="${lx + 174}" y="20">anomaly (${series.marks.length - peaks.length})</text></g>`,
    '</svg>',
  );
  return `${out.join('\n')}\n`;
}
