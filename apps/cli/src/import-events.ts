/**
 * Import: reads an export (JSON, NDJSON or YAML), validates every event before writing
 * anything, and appends what the store does not hold yet. Idempotent: an event already
 * stored at its stream version (same type, time and event id) is skipped, so importing
 * the same file twice changes nothing; events without a version are deduplicated by
 * their `event_id`.
 */
import { isUtf8 } from 'node:buffer';
import { readFileSync } from 'node:fs';

import {
  isSessionId,
  parseIsoMicros,
  sessionStream,
  tryParseStreamName,
  validateEvent,
} from '@wirthforge/events';
import type { ValidationIssue } from '@wirthforge/events';
import {
  isIdempotencyConflictError,
  isInvalidEventError,
  prepareAppend,
  type AppendableEvent,
} from '@wirthforge/eventstore';
import { snapshotMarkerStream } from '@wirthforge/snapshots';
import type { EventStorage } from '@wirthforge/storage';
import { parseAllDocuments } from 'yaml';

import { CliError } from './errors.js';

/** One event of the file, with where it came from. */
export interface ImportRecord {
  /** Where in the file: `line 12`, `events[3]`, `document 2 events[7]`. */
  readonly where: string;
  readonly stream: string;
  readonly version: bigint | undefined;
  readonly event: Record<string, unknown>;
}

/** What {@link importRecords} did. */
export interface ImportReport {
  readonly format: 'json' | 'ndjson' | 'yaml';
  readonly events: number;
  readonly appended: number;
  readonly skipped: number;
  readonly streams: readonly { stream: string; appended: number; skipped: number }[];
}

/**
 * Where an import goes: the reads that plan it (versions, stored events, the head) and
 * the appends. An `EventStore` is one (the CLI holds the writer lock); so is the running
 * daemon's API over a read-only storage ({@link daemonImportTarget}).
 */
export interface ImportTarget {
  /**
   * Events one append may carry, when each stream's events must go in one append (the
   * daemon: its analytics add derived events to a session between two appends, which
   * would break exact versions and idempotency). A stream with more is refused before
   * anything is written. Without it, streams are appended in chunks.
   */
  readonly atomicLimit?: number;
  readonly storage: Pick<EventStorage, 'streamVersion' | 'readStream'>;
  headPosition(): Promise<bigint>;
  appendToStream(
    stream: string,
    events: readonly AppendableEvent[],
    options: { readonly expectedVersion: bigint | 'any' },
  ): Promise<{ readonly positions: readonly bigint[]; readonly nextExpectedVersion: bigint }>;
}

/**
 * Whether an export's `stream` can be imported: a session, user or system stream, or a
 * session's snapshot-marker stream (`snapshotMarkerStream`, `snapshots:session-<id>`,
 * which `export --all` writes since the markers left `system`).
 */
function isImportableStream(name: string): boolean {
  if (tryParseStreamName(name) !== undefined) return true;
  const session = name.slice(name.indexOf(':') + 1);
  return (
    name.includes(':') &&
    tryParseStreamName(session)?.kind === 'session' &&
    snapshotMarkerStream(session) === name
  );
}

const META_KEYS = new Set(['position', 'version', 'stream', 'redacted']);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function toVersion(value: unknown, where: string): bigint | undefined {
  if (value === undefined || value === null) return undefined;
  if (
    (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) ||
    (typeof value === 'string' && /^[1-9]\d*$/.test(value))
  ) {
    return BigInt(value);
  }
  throw new CliError(
    'invalid_input',
    `${where}: version ${JSON.stringify(value)} is not a positive integer`,
  );
}

/** A record of any export shape: `{ stream, version, event }`, or an event with meta keys. */
function toRecord(value: unknown, where: string, defaultStream?: string): ImportRecord {
  if (!isObject(value)) throw new CliError('invalid_input', `${where}: not an object`);
  let event: Record<string, unknown>;
  if (isObject(value.event)) {
    event = value.event;
  } else {
    event = {};
    for (const [k, v] of Object.entries(value)) if (!META_KEYS.has(k)) event[k] = v;
    // The audit-trail example numbers its events; the schema wants strings.
    if (typeof event.event_id === 'number') event.event_id = String(event.event_id);
  }
  const sessionId = event.session_id;
  if (typeof value.stream === 'string' && !isImportableStream(value.stream)) {
    throw new CliError(
      'invalid_input',
      `${where}: stream ${JSON.stringify(value.stream.slice(0, 80))} is not a stream name (session-<session id>, user-<id>, system or snapshots:session-<session id>)`,
    );
  }
  if (
    typeof value.stream !== 'string' &&
    defaultStream === undefined &&
    typeof sessionId === 'string' &&
    !isSessionId(sessionId)
  ) {
    throw new CliError(
      'invalid_input',
      `${where}: session_id ${JSON.stringify(String(sessionId).slice(0, 80))} is not a session id (YYYYMMDDTHHMMSSZ_NNN)`,
    );
  }
  const stream =
    typeof value.stream === 'string'
      ? value.stream
      : (defaultStream ?? (typeof sessionId === 'string' ? sessionStream(sessionId) : undefined));
  if (stream === undefined) {
    throw new CliError(
      'invalid_input',
      `${where}: no stream and no session_id to place the event in`,
    );
  }
  return { where, stream, version: toVersion(value.version, where), event };
}

/**
 * Deepest `[`/`{` nesting a YAML file may have. The YAML parser recurses per level: a file
 * nested 20 000 levels deep exhausted the stack and then the heap, aborting the process.
 * Events are never deeper than the codec's 100 levels.
 */
const MAX_YAML_DEPTH = 256;

/** Where a YAML text's flow collections nest deeper than {@link MAX_YAML_DEPTH}, if they do. */
function flowDepth(text: string): { line: number } | undefined {
  let depth = 0;
  let line = 1;
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\n') line++;
    if (quote !== undefined) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '[' || c === '{') {
      if (++depth > MAX_YAML_DEPTH) return { line };
    } else if (c === ']' || c === '}') depth = Math.max(0, depth - 1);
  }
  return undefined;
}

/** The offset of the first byte that is not part of a well-formed UTF-8 sequence. */
function firstInvalidUtf8(bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; i++) {
    for (let length = 1; length <= 4 && i + length <= bytes.length; length++) {
      if (isUtf8(bytes.subarray(i, i + length))) {
        i += length - 1;
        break;
      }
      if (length === 4 || i + length === bytes.length) return i;
    }
  }
  return bytes.length;
}

/** Parses an export file into records (format from its contents). */
export function readImportFile(path: string): {
  format: ImportReport['format'];
  records: ImportRecord[];
} {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new CliError('not_found', `cannot read ${path}: ${(error as Error).message}`);
  }
  // Decoding bytes that are not UTF-8 would import U+FFFD in their place.
  if (!isUtf8(bytes)) {
    const offset = firstInvalidUtf8(bytes);
    const line = bytes.subarray(0, offset).toString('latin1').split('\n').length;
    throw new CliError(
      'invalid_input',
      `${path} line ${line}: not UTF-8 (byte 0x${bytes[offset]?.toString(16).padStart(2, '0') ?? ''} at offset ${offset})`,
      { hint: 'nothing was imported; exports are UTF-8' },
    );
  }
  const text = bytes.toString('utf8');
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    try {
      const parsed = JSON.parse(text) as unknown;
      const list = Array.isArray(parsed)
        ? parsed
        : isObject(parsed) && Array.isArray(parsed.events)
          ? parsed.events
          : undefined;
      if (list === undefined)
        throw new CliError('invalid_input', `${path}: a JSON export has an "events" array`);
      return { format: 'json', records: list.map((v, i) => toRecord(v, `events[${i}]`)) };
    } catch (error) {
      if (error instanceof CliError) throw error;
      // Not one JSON document: NDJSON, one per line.
    }
    const records: ImportRecord[] = [];
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!.trim();
      if (line === '') continue;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch (error) {
        throw new CliError(
          'invalid_input',
          `${path} line ${i + 1}: not JSON (${(error as Error).message})`,
        );
      }
      records.push(toRecord(value, `line ${i + 1}`));
    }
    return { format: 'ndjson', records };
  }
  const deep = flowDepth(text);
  if (deep !== undefined) {
    throw new CliError(
      'invalid_input',
      `${path} line ${deep.line}: nested more than ${MAX_YAML_DEPTH} levels deep`,
      { hint: 'nothing was imported; an event is never that deep' },
    );
  }
  const documents = parseAllDocuments(text);
  const records: ImportRecord[] = [];
  const list = Array.isArray(documents) ? documents : [documents];
  for (let d = 0; d < list.length; d++) {
    const doc = list[d]!;
    if (doc.errors.length > 0) {
      throw new CliError('invalid_input', `${path} document ${d + 1}: ${doc.errors[0]!.message}`);
    }
    const body = doc.toJS() as unknown;
    if (!isObject(body) || !Array.isArray(body.events)) {
      throw new CliError('invalid_input', `${path} document ${d + 1}: no "events" list`);
    }
    const meta = isObject(body.session_metadata) ? body.session_metadata : undefined;
    const streamMeta = isObject(body.stream_metadata) ? body.stream_metadata : undefined;
    if (typeof streamMeta?.stream === 'string' && !isImportableStream(streamMeta.stream)) {
      throw new CliError(
        'invalid_input',
        `${path} document ${d + 1}: stream_metadata.stream ${JSON.stringify(streamMeta.stream.slice(0, 80))} is not a stream name`,
      );
    }
    const metaSession = meta?.session_id;
    if (typeof metaSession === 'string' && !isSessionId(metaSession)) {
      throw new CliError(
        'invalid_input',
        `${path} document ${d + 1}: session_metadata.session_id ${JSON.stringify(String(metaSession).slice(0, 80))} is not a session id`,
      );
    }
    const stream =
      typeof streamMeta?.stream === 'string'
        ? streamMeta.stream
        : typeof metaSession === 'string'
          ? sessionStream(metaSession)
          : undefined;
    body.events.forEach((v: unknown, i: number) => {
      records.push(toRecord(v, `document ${d + 1} events[${i}]`, stream));
    });
  }
  return { format: 'yaml', records };
}

/** Validates every record; throws `invalid_input` naming each bad event (nothing is written). */
export function validateRecords(records: readonly ImportRecord[]): AppendableEvent[] {
  const events: AppendableEvent[] = [];
  const problems: {
    where: string;
    issues: readonly Pick<ValidationIssue, 'path' | 'message'>[];
  }[] = [];
  for (const record of records) {
    const result = validateEvent(record.event);
    if (result.status === 'invalid') {
      problems.push({ where: record.where, issues: result.issues });
      continue;
    }
    // What the store refuses although the schema allows it (a time before 1970, an
    // event id over 128 characters, what the codec cannot keep), before anything is written.
    try {
      prepareAppend(record.stream, [result.event]);
    } catch (error) {
      if (!isInvalidEventError(error)) throw error;
      problems.push({
        where: record.where,
        issues: error.issues.map(({ path, message }) => ({ path, message })),
      });
      continue;
    }
    events.push(result.event);
  }
  if (problems.length > 0) {
    const first = problems[0]!;
    throw new CliError(
      'invalid_input',
      `${problems.length} invalid event(s); first at ${first.where}: ${first.issues
        .map((i) => `${i.path || '/'} ${i.message}`)
        .join('; ')}`,
      { hint: 'nothing was imported; fix or remove those events', details: problems.slice(0, 100) },
    );
  }
  return events;
}

interface Plan {
  readonly stream: string;
  readonly expected: bigint | 'any';
  readonly append: AppendableEvent[];
  readonly skipped: number;
}

/** Compares file records at versions the store holds with the stored events. */
async function planStream(
  storage: ImportTarget['storage'],
  stream: string,
  entries: readonly { record: ImportRecord; event: AppendableEvent }[],
): Promise<Plan> {
  const current = await storage.streamVersion(stream);
  const versioned = entries.every((e) => e.record.version !== undefined);
  if (!versioned) {
    const missing = entries.find((e) => typeof e.record.event.event_id !== 'string');
    if (missing !== undefined) {
      throw new CliError(
        'invalid_input',
        `${missing.record.where}: an event without a stream version needs an event_id, or importing twice would store it twice`,
        { hint: 'export files written by `wfstate export` carry versions; nothing was imported' },
      );
    }
    return { stream, expected: 'any', append: entries.map((e) => e.event), skipped: 0 };
  }
  const sorted = [...entries].sort((a, b) => (a.record.version! < b.record.version! ? -1 : 1));
  const held = sorted.filter((e) => e.record.version! <= current);
  if (held.length > 0) {
    const byVersion = new Map(held.map((e) => [e.record.version!, e.record]));
    for await (const stored of storage.readStream(stream, {
      from: held[0]!.record.version!,
      to: current,
    })) {
      const record = byVersion.get(stored.version);
      if (record === undefined) continue;
      const e = record.event;
      const same =
        stored.type === e.type &&
        stored.timestampUs === parseIsoMicros(String(e.timestamp)) &&
        (stored.eventId ?? undefined) === (typeof e.event_id === 'string' ? e.event_id : undefined);
      if (!same) {
        throw new CliError(
          'invalid_input',
          `${record.where}: ${stream} version ${stored.version} is already stored with another event (${stored.type} at position ${stored.position})`,
          { hint: 'this file is not an export of this store’s history; nothing was imported' },
        );
      }
    }
  }
  const rest = sorted.filter((e) => e.record.version! > current);
  rest.forEach((e, i) => {
    if (e.record.version !== current + 1n + BigInt(i)) {
      throw new CliError(
        'invalid_input',
        `${e.record.where}: ${stream} would go from version ${current + BigInt(i)} to ${e.record.version}; the file misses events in between`,
        { hint: 'nothing was imported' },
      );
    }
  });
  return { stream, expected: current, append: rest.map((e) => e.event), skipped: held.length };
}

/** Plans every stream, then appends (in chunks, with exact expected versions). */
export async function importRecords(
  store: ImportTarget,
  format: ImportReport['format'],
  records: readonly ImportRecord[],
  onProgress?: (done: number) => void,
): Promise<ImportReport> {
  const events = validateRecords(records);
  const byStream = new Map<string, { record: ImportRecord; event: AppendableEvent }[]>();
  records.forEach((record, i) => {
    const list = byStream.get(record.stream) ?? [];
    list.push({ record, event: events[i]! });
    byStream.set(record.stream, list);
  });
  const plans: Plan[] = [];
  for (const [stream, entries] of byStream)
    plans.push(await planStream(store.storage, stream, entries));
  const limit = store.atomicLimit;
  const tooBig = limit === undefined ? undefined : plans.find((p) => p.append.length > limit);
  if (tooBig !== undefined) {
    throw new CliError(
      'locked',
      `${tooBig.stream} has ${tooBig.append.length} events to import, more than the running daemon takes in one request (${limit})`,
      {
        hint: 'stop the daemon and import again: wfstate then takes the writer lock and appends in chunks; nothing was imported',
      },
    );
  }
  const chunkSize = limit ?? 2000;
  let appended = 0;
  let skipped = 0;
  const streams: { stream: string; appended: number; skipped: number }[] = [];
  for (const plan of plans) {
    let expected = plan.expected;
    let streamAppended = 0;
    let streamSkipped = plan.skipped;
    const head = await store.headPosition();
    for (let i = 0; i < plan.append.length; i += chunkSize) {
      const chunk = plan.append.slice(i, i + chunkSize);
      let result: Awaited<ReturnType<ImportTarget['appendToStream']>>;
      try {
        result = await store.appendToStream(plan.stream, chunk, { expectedVersion: expected });
      } catch (error) {
        if (!isIdempotencyConflictError(error)) throw error;
        const record = records.find(
          (r) => r.stream === plan.stream && r.event.event_id === error.eventId,
        );
        throw new CliError('invalid_input', `${record?.where ?? plan.stream}: ${error.message}`, {
          hint: `an event id names one event; nothing more of ${plan.stream} was imported`,
          cause: error,
        });
      }
      // Events whose id was stored already come back with their old position.
      const fresh = result.positions.filter((p) => p > head).length;
      streamAppended += fresh;
      streamSkipped += chunk.length - fresh;
      if (expected !== 'any') expected = result.nextExpectedVersion;
      onProgress?.(appended + streamAppended + skipped + streamSkipped);
    }
    appended += streamAppended;
    skipped += streamSkipped;
    streams.push({ stream: plan.stream, appended: streamAppended, skipped: streamSkipped });
  }
  return { format, events: records.length, appended, skipped, streams };
}
