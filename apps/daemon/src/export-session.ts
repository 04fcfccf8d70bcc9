import type { StoreRecord } from '@wirthforge/eventstore';
import { stringify as stringifyYaml } from 'yaml';

/** Formats of `GET /v1/sessions/:id/export`. */
export const EXPORT_FORMATS = ['json', 'ndjson', 'yaml'] as const;
/** One of {@link EXPORT_FORMATS}. */
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** The content type of each export format. */
export const EXPORT_CONTENT_TYPES: Readonly<Record<ExportFormat, string>> = {
  json: 'application/json; charset=utf-8',
  ndjson: 'application/x-ndjson; charset=utf-8',
  yaml: 'application/yaml; charset=utf-8',
};

/** What replaces redacted content. */
export const REDACTED = '[redacted]';

/** An exported event: its position and version, and the event as stored. */
export interface ExportedRecord {
  readonly position: number;
  readonly version: number;
  readonly event: unknown;
}

/**
 * The record as exported: token text or hashes of `ai.output` and the prompt hash of
 * `user.prompt` replaced by {@link REDACTED} unless `includeContent` (a single token's
 * hash is easy to reverse, so it counts as content).
 */
export function exportedRecord(record: StoreRecord, includeContent: boolean): ExportedRecord {
  let event: unknown = record.event;
  if (!includeContent) {
    const { type, data } = record.event as { type: string; data?: Record<string, unknown> };
    const keys =
      type === 'ai.output'
        ? ['token', 'token_hash']
        : type === 'user.prompt'
          ? ['hash', 'text']
          : [];
    if (data !== undefined && keys.some((k) => k in data)) {
      const redacted: Record<string, unknown> = { ...data };
      for (const key of keys) if (key in redacted) redacted[key] = REDACTED;
      event = { ...record.event, data: redacted };
    }
  }
  return { position: Number(record.position), version: Number(record.version), event };
}

/**
 * The text of an export, in chunks of about `chunkEvents` events, as the events are read
 * (an export of any length holds one chunk in memory).
 *
 * - `json`: `{ "session": …, "redacted": …, "events": [ {position, version, event}, … ] }`;
 * - `ndjson`: one `{position, version, event}` per line;
 * - `yaml`: the same document as `json`, in YAML.
 */
export async function* renderExport(
  sessionId: string,
  records: AsyncIterable<StoreRecord>,
  format: ExportFormat,
  includeContent: boolean,
  chunkEvents = 256,
): AsyncGenerator<string> {
  let chunk = '';
  let count = 0;
  if (format === 'json')
    chunk = `{"session":${JSON.stringify(sessionId)},"redacted":${!includeContent},"events":[`;
  if (format === 'yaml')
    chunk = `session: ${JSON.stringify(sessionId)}\nredacted: ${!includeContent}\nevents:`;
  for await (const record of records) {
    const exported = exportedRecord(record, includeContent);
    if (format === 'json') chunk += `${count === 0 ? '\n' : ',\n'}${JSON.stringify(exported)}`;
    else if (format === 'ndjson') chunk += `${JSON.stringify(exported)}\n`;
    else chunk += `\n${stringifyYaml([exported]).replace(/^/gm, '  ').trimEnd()}`;
    count++;
    if (count % chunkEvents === 0) {
      yield chunk;
      chunk = '';
    }
  }
  if (format === 'json') chunk += count === 0 ? ']}\n' : '\n]}\n';
  if (format === 'yaml') chunk += count === 0 ? ' []\n' : '\n';
  if (chunk !== '') yield chunk;
}
