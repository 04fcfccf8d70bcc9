import { toIsoMicros } from '@wirthforge/events';
import type { StoreSummary } from './read-store-summary.js';

/** Everything the demo prints (as text, or as JSON with `--json`). */
export interface DemoReport {
  readonly file: string;
  readonly recording: {
    readonly sessionId: string;
    readonly stream: string;
    readonly paced: boolean;
    readonly frames: number;
    readonly events: number;
    /** Simulated duration of the frames written. */
    readonly sessionSeconds: number;
    readonly wallSeconds: number;
    readonly lateFrames: number;
    readonly aborted: boolean;
    readonly committedFrames: number;
    /** Time from a frame's commit leaving the recorder to its durable commit, per commit. */
    readonly commitMs: { readonly p50: number; readonly p99: number; readonly max: number };
  };
  readonly store: StoreSummary;
  readonly disk: {
    /** Bytes of the database file and its WAL after the store was closed. */
    readonly db: number;
    readonly wal: number;
    readonly total: number;
    /** Bytes before this session was written. */
    readonly before: number;
    readonly sessionBytes: number;
    readonly bytesPerEvent: number;
    /** What this session's growth per second of session comes to over an hour (MB = 10^6 B). */
    readonly mbPerHour: number;
  };
}

const n = (value: number, digits = 0): string =>
  value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

function table(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  right: ReadonlySet<number>,
): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  const line = (cells: readonly string[]) =>
    '  ' +
    cells
      .map((c, i) => (right.has(i) ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

/** The report as readable text. */
export function formatSummary(report: DemoReport): string {
  const { recording: r, store, disk } = report;
  const lines: string[] = [];
  lines.push(
    `Recorded session ${r.sessionId}: ${n(r.sessionSeconds, 1)} s, ${n(r.frames)} frames, ${n(r.events)} events ` +
      `in ${n(r.wallSeconds, 1)} s ${r.paced ? 'at 60 Hz' : 'unpaced (--fast)'}` +
      (r.aborted ? ', stopped early' : ''),
    `  one commit per frame through the recorder, sent to durable: p50 ${n(r.commitMs.p50, 2)} ms, ` +
      `p99 ${n(r.commitMs.p99, 2)} ms, max ${n(r.commitMs.max, 2)} ms` +
      (r.paced
        ? `; ${n(r.lateFrames)} late frame(s)`
        : ' (unpaced: includes waiting behind earlier frames)'),
    '',
    `Stored in ${report.file}`,
    '',
    `Sessions (${store.sessions.length}${store.sessions.length >= 20 ? ' newest' : ''})`,
  );
  lines.push(
    ...table(
      ['session', 'status', 'started', 'ended', 'events', 'energy (EU)'],
      store.sessions.map((s) => [
        s.sessionId,
        s.status,
        toIsoMicros(s.startedUs),
        s.endedUs === null ? '-' : toIsoMicros(s.endedUs),
        n(s.totalEvents),
        n(s.totalEnergy, 3),
      ]),
      new Set([4, 5]),
    ),
  );
  lines.push(
    '',
    `Events by type (${n(store.totalEvents)} events, positions ${n(store.positions.first)}..${n(store.positions.last)}; ` +
      `this session ${n(store.stream.events)} events, positions ${n(store.stream.positions.first)}..${n(store.stream.positions.last)})`,
  );
  lines.push(
    ...table(
      ['type', 'count'],
      Object.entries(store.eventsByType).map(([type, count]) => [type, n(count)]),
      new Set([1]),
    ),
  );
  lines.push(
    '',
    `On disk: ${n(disk.total)} B (db ${n(disk.db)} B + wal ${n(disk.wal)} B, after close)`,
    `This session added ${n(disk.sessionBytes)} B: ${n(disk.bytesPerEvent, 1)} B/event, ` +
      `${n(disk.mbPerHour, 1)} MB/hour at this session's rate (MB = 10^6 B)`,
  );
  return lines.join('\n');
}
