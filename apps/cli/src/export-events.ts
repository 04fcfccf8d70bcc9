/**
 * Export: a session's (or every stream's) events in the form people and other tools
 * read — JSON, NDJSON, or YAML shaped like the spec's audit-trail example — with prompt
 * text and AI tokens redacted unless content is asked for.
 */
import { parseIsoMicros, payloadFields, tryParseStreamName } from '@wirthforge/events';
import {
  ENERGY_STATE_SCHEMA_VERSION,
  energyProjection,
  sessionSummaryProjection,
} from '@wirthforge/eventstore';
import type { EnergyProjectionState, SessionSummary } from '@wirthforge/eventstore';
import { SnapshotRepository } from '@wirthforge/storage';
import { Document } from 'yaml';

import { toEventLine } from './event-line.js';
import type { EventLine } from './event-line.js';
import { toJson } from './json-value.js';
import type { ReadOnlyStore } from './open-store.js';

/** Export formats. */
export type ExportFormat = 'json' | 'ndjson' | 'yaml';

/** Types whose content is private: what the user typed, what the model wrote. */
const PRIVATE_TYPES = new Set(['user.prompt', 'ai.output']);
/** Envelope properties every event may carry. */
const ENVELOPE = new Set(['session_id', 'timestamp', 'type', 'frame_id', 'event_id', 'data']);
/** Data fields of private types that hold content, never kept in a redacted export. */
const CONTENT_FIELDS = new Set(['token', 'text', 'prompt', 'content']);

/** An exported event: where it was, the event, and what was taken out of it. */
export interface ExportRecord extends EventLine {
  /** Paths removed by redaction (`data.token`), absent when nothing was. */
  readonly redacted?: readonly string[];
}

/**
 * Removes private content from an event: for `user.prompt` and `ai.output`, every data
 * field outside the type's schema and the content fields (`token`), and every extra
 * envelope property. Other types are returned as they are. The result is still a valid
 * event (the removed fields are optional).
 */
export function redactEvent(event: Record<string, unknown>): {
  event: Record<string, unknown>;
  redacted: string[];
} {
  const type = event.type;
  if (typeof type !== 'string' || !PRIVATE_TYPES.has(type)) return { event, redacted: [] };
  const redacted: string[] = [];
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(event)) {
    if (ENVELOPE.has(key)) out[key] = value;
    else redacted.push(key);
  }
  const data = event.data;
  if (typeof data === 'object' && data !== null && !Array.isArray(data)) {
    const allowed = new Set(payloadFields(type, 1) ?? []);
    const kept: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(data)) {
      if (allowed.has(key) && !CONTENT_FIELDS.has(key)) kept[key] = value;
      else redacted.push(`data.${key}`);
    }
    out.data = kept;
  }
  return { event: out, redacted };
}

/** Options of {@link exportEvents}. */
export interface ExportOptions {
  readonly format: ExportFormat;
  /** Keep prompt text and tokens (default false: redacted). */
  readonly includeContent: boolean;
  /** Streams to export; all streams when undefined. */
  readonly streams?: readonly string[];
  readonly write: (text: string) => void | Promise<void>;
  readonly onProgress?: (position: number) => void;
  /** Time of the export (ISO-8601). */
  readonly exportedAt: string;
}

/** What an export wrote. */
export interface ExportReport {
  readonly format: ExportFormat;
  readonly events: number;
  readonly streams: number;
  readonly sessions: readonly string[];
  readonly redactedEvents: number;
  readonly includeContent: boolean;
}

interface StreamFold {
  readonly stream: string;
  summary: SessionSummary;
  energy: EnergyProjectionState;
  events: number;
  lastVersion: bigint;
  gaps: number;
  start: Record<string, unknown> | undefined;
  records: ExportRecord[] | undefined;
}

function sessionMetadata(fold: StreamFold): Record<string, unknown> {
  const s = fold.summary;
  const start = (fold.start?.data ?? {}) as Record<string, unknown>;
  const duration =
    s.started_at !== null && (s.ended_at ?? s.last_event_at) !== null
      ? (parseIsoMicros(s.ended_at ?? s.last_event_at!) - parseIsoMicros(s.started_at)) / 1e6
      : null;
  return {
    session_id: s.session_id ?? tryParseStreamName(fold.stream)?.kind,
    user_id: s.user_id ?? 'default',
    start_time: s.started_at,
    end_time: s.ended_at,
    duration_seconds: duration,
    hardware_tier: start.hardware_tier ?? fold.energy.hardware_tier,
    session_mode: fold.energy.session_mode,
    total_energy: s.total_energy,
    total_events: s.total_events,
    clean_shutdown: s.clean_shutdown,
    schema_version: ENERGY_STATE_SCHEMA_VERSION,
  };
}

function typeGroups(summary: SessionSummary): Record<string, number> {
  const groups: Record<string, number> = {};
  for (const [type, count] of Object.entries(summary.events_by_type)) {
    const group = type.includes('.') ? `${type.slice(0, type.indexOf('.'))}.*` : type;
    groups[group] = (groups[group] ?? 0) + (count ?? 0);
  }
  return groups;
}

/** A record as the YAML example lists it: the event's own fields, with where it is. */
function flatRecord(record: ExportRecord): Record<string, unknown> {
  const { event_id: eventId, ...rest } = record.event;
  return {
    ...(eventId === undefined ? {} : { event_id: eventId }),
    position: record.position,
    version: record.version,
    ...rest,
    ...(record.redacted === undefined ? {} : { redacted: record.redacted }),
  };
}

/** Plain data for YAML: positions and versions as numbers (they stay far below 2^53). */
function yamlNumbers(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v)),
  );
}

/**
 * Writes the events of `options.streams` (or of every stream) in position order.
 * NDJSON and JSON are written as they are read; YAML is built one stream (one YAML
 * document) at a time.
 */
export async function exportEvents(
  open: ReadOnlyStore,
  options: ExportOptions,
): Promise<ExportReport> {
  const { format, includeContent, write } = options;
  const folds = new Map<string, StreamFold>();
  let events = 0;
  let redactedEvents = 0;
  const head = await open.storage.headPosition();
  if (format === 'json') {
    await write(
      `{"format":"wirthforge-export","format_version":1,"exported_at":${JSON.stringify(options.exportedAt)},"include_content":${includeContent},"events":[`,
    );
  }
  for await (const stored of open.storage.readAll({
    toPosition: head,
    ...(options.streams === undefined ? {} : { streams: options.streams }),
  })) {
    const line = toEventLine(stored);
    let record: ExportRecord = line;
    if (!includeContent) {
      const { event, redacted } = redactEvent(line.event);
      if (redacted.length > 0) {
        redactedEvents++;
        record = { ...line, event, redacted };
      }
    }
    let fold = folds.get(stored.stream);
    if (fold === undefined) {
      fold = {
        stream: stored.stream,
        summary: sessionSummaryProjection.initialState(),
        energy: energyProjection.initialState(),
        events: 0,
        lastVersion: 0n,
        gaps: 0,
        start: undefined,
        records: format === 'yaml' ? [] : undefined,
      };
      folds.set(stored.stream, fold);
    }
    const meta = { position: stored.position, version: stored.version, stream: stored.stream };
    if (format !== 'ndjson') {
      // Session metadata for JSON and YAML, folded from the events as they are read.
      fold.summary = sessionSummaryProjection.evolveInPlace(fold.summary, line.decoded, meta);
      fold.energy = energyProjection.evolveInPlace(fold.energy, line.decoded, meta);
    }
    if (stored.version !== fold.lastVersion + 1n) fold.gaps++;
    fold.lastVersion = stored.version;
    fold.events++;
    if (line.event.type === 'system.start') fold.start ??= line.event;
    fold.records?.push(record);
    events++;
    if ((events & 4095) === 0) options.onProgress?.(Number(stored.position));
    if (format === 'ndjson') {
      await write(`${toJson(exportLine(record), 0)}\n`);
    } else if (format === 'json') {
      await write(`${events === 1 ? '' : ','}\n${toJson(exportLine(record), 0)}`);
    }
  }

  const sessions: string[] = [];
  for (const fold of folds.values()) {
    const parsed = tryParseStreamName(fold.stream);
    if (parsed?.kind === 'session') sessions.push(parsed.sessionId);
  }

  if (format === 'json') {
    const metadata: unknown[] = [];
    for (const fold of folds.values()) {
      if (tryParseStreamName(fold.stream)?.kind === 'session') {
        metadata.push(sessionMetadata(fold));
      }
    }
    await write(`\n],"sessions":${toJson(metadata, 0)}}\n`);
  } else if (format === 'yaml') {
    let first = true;
    for (const fold of folds.values()) {
      const snapshots = await new SnapshotRepository(open.storage.db).list(fold.stream);
      const isSession = tryParseStreamName(fold.stream)?.kind === 'session';
      const body: Record<string, unknown> = isSession
        ? { session_metadata: sessionMetadata(fold) }
        : {
            stream_metadata: {
              stream: fold.stream,
              kind: tryParseStreamName(fold.stream)?.kind ?? 'system',
              total_events: fold.events,
            },
          };
      body.events = (fold.records ?? []).map(flatRecord);
      body.snapshots = snapshots.map((s) => ({
        snapshot_id: s.id,
        timestamp: new Date(s.createdUs / 1000).toISOString(),
        snapshot_type: s.kind,
        last_event_id: s.position,
        stream_version: s.streamVersion,
        size_bytes: s.sizeBytes,
      }));
      body.audit_summary = {
        total_events: fold.events,
        event_types: typeGroups(fold.summary),
        data_integrity: {
          missing_events: fold.gaps,
          unknown_types: fold.summary.unknown_events,
        },
        privacy_compliance: {
          content_included: includeContent,
          raw_text_stored: (fold.records ?? []).some((r) => containsContent(r.event)),
          redacted_events: (fold.records ?? []).filter((r) => r.redacted !== undefined).length,
          user_data_hashed: true,
          export_available: true,
          deletion_possible: true,
        },
      };
      const doc = new Document(yamlNumbers(body));
      doc.commentBefore = first
        ? ` WIRTHFORGE event log audit trail (WF-TECH-004)\n exported ${options.exportedAt} by wfstate; ${includeContent ? 'prompt text and tokens INCLUDED' : 'prompt text and tokens redacted'}\n stream ${fold.stream}`
        : ` stream ${fold.stream}`;
      await write(`${first ? '' : '---\n'}${doc.toString({ lineWidth: 0 })}`);
      first = false;
      fold.records = undefined;
    }
  }
  options.onProgress?.(Number(head));
  return {
    format,
    events,
    streams: folds.size,
    sessions,
    redactedEvents,
    includeContent,
  };
}

/** An exported record as JSON and NDJSON write it (without the decoded copy). */
function exportLine(record: ExportRecord): Record<string, unknown> {
  return {
    position: record.position,
    stream: record.stream,
    version: record.version,
    ...(record.redacted === undefined ? {} : { redacted: record.redacted }),
    event: record.event,
  };
}

function containsContent(event: Record<string, unknown>): boolean {
  if (!PRIVATE_TYPES.has(String(event.type))) return false;
  const data = event.data as Record<string, unknown> | undefined;
  return data !== undefined && [...CONTENT_FIELDS].some((f) => data[f] !== undefined);
}
