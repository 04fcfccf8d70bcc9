/** Text output: tables, sizes, times and numbers as people read them. */
import Table from 'cli-table3';

/** A plain table (no colours, so it reads the same in a file and on a terminal). */
export function table(
  head: readonly string[],
  rows: readonly (readonly (string | number | null | undefined)[])[],
): string {
  const t = new Table({
    head: [...head],
    style: { head: [], border: [], compact: true },
  });
  for (const row of rows) t.push(row.map((c) => (c === null || c === undefined ? '' : String(c))));
  return t.toString();
}

/** `key  value` lines, keys padded to one column. */
export function keyValues(
  pairs: readonly (readonly [string, string | number | null | undefined])[],
): string {
  const width = Math.max(0, ...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${k.padEnd(width)}  ${v ?? '-'}`).join('\n');
}

/** Bytes as B, kB, MB or GB (powers of 1000). */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 'B';
  for (const u of units) {
    if (value < 1000) break;
    value /= 1000;
    unit = u;
  }
  return `${value.toFixed(value < 10 ? 2 : 1)} ${unit}`;
}

/** An integer with thousands separators. */
export function formatCount(value: number | bigint): string {
  return value.toLocaleString('en-US');
}

/** A number with `digits` decimals. */
export function formatNumber(value: number, digits = 2): string {
  return value.toLocaleString('en-US', {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

/** Microseconds since the epoch as ISO-8601 to the second (readable in a table). */
export function formatTime(us: number | null | undefined): string {
  if (us === null || us === undefined) return '-';
  return new Date(Math.floor(us / 1000)).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A duration in seconds as `1h02m03s`, `2m03s` or `4.5s`. */
export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = Math.floor(seconds % 60);
  const ss = String(s).padStart(2, '0');
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m${ss}s` : `${m}m${ss}s`;
}
