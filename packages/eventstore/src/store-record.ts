import {
  TIMESTAMP_MAX_US,
  TIMESTAMP_MIN_US,
  decodeEvent,
  defaultUpcasters,
  payloadDataSource,
  payloadFields,
  toIsoMicros,
  tryParseStreamName,
  type DecodeOptions,
  type EventRecord,
  type PayloadDataSource,
  type UpcasterRegistry,
} from '@wirthforge/events';
import type { StoredEventRecord } from '@wirthforge/storage';
import type { ProjectionEvent, RecordedEvent } from './projection.js';

/**
 * An event as the store reads it back: decoded and brought up to the current schema
 * version, with its global position, its version in its stream and the stream's name.
 * It is a {@link RecordedEvent}, so folds take it as it is; `position` doubles as the
 * checkpoint of a subscription.
 */
export interface StoreRecord<E extends ProjectionEvent = ProjectionEvent> extends RecordedEvent<E> {
  /** Name of the stream the event is in. */
  readonly stream: string;
}

/**
 * Decodes stored records, remembering the session id of the last stream seen (reads
 * come in runs of one stream), so a replay parses each stream name once.
 */
export class RecordDecoder {
  #stream: string | undefined;
  #sessionId: string | undefined;
  /** The decode options of the last stream seen: one object per stream, not per event. */
  #options: DecodeOptions = {};

  /** The buffer of the last payload seen, and its data source (a decoded segment's columns). */
  #buffer: ArrayBufferLike | undefined;
  #source: PayloadDataSource | undefined;
  readonly #registry: UpcasterRegistry;
  /**
   * Per type: its current schema version and that version's positional field list
   * (`null` when it has none), so an event costs one lookup, not three.
   */
  readonly #types = new Map<
    string,
    { version: number | undefined; fields: readonly string[] | null }
  >();

  constructor(private readonly upcasters: UpcasterRegistry | undefined) {
    this.#registry = upcasters ?? defaultUpcasters;
  }

  /**
   * The event of a record whose payload a data source holds (see `PayloadDataSource`),
   * built from its values without reading the payload bytes: exactly what `decodeEvent`
   * gives (same keys in the same order, same values), for the cases where that is plain
   * (a session stream, the type's current version, a valid timestamp, a positional
   * payload of scalars without extras); `undefined` for every other record.
   */
  #fromSource(record: EventRecord): ProjectionEvent | undefined {
    const sessionId = this.#sessionId;
    if (sessionId === undefined) return undefined;
    const payload = record.payload;
    const buffer = payload.buffer;
    if (buffer !== this.#buffer) {
      this.#buffer = buffer;
      this.#source = payloadDataSource(buffer);
    }
    const source = this.#source;
    if (source === undefined) return undefined;
    const { type, schemaVersion, timestampUs } = record;
    let known = this.#types.get(type);
    if (known === undefined) {
      const version = this.#registry.currentVersion(type);
      const fields = version === undefined ? undefined : payloadFields(type, version);
      known = { version, fields: fields ?? null };
      this.#types.set(type, known);
    }
    // At the current version an upcast hands the event back as it is.
    if (known.version !== schemaVersion) return undefined;
    if (!(
      Number.isInteger(timestampUs) &&
      timestampUs >= TIMESTAMP_MIN_US &&
      timestampUs <= TIMESTAMP_MAX_US
    )) {
      return undefined;
    }
    const fields = known.fields;
    if (fields === null) return undefined;
    const data = source.dataOf(payload, fields);
    if (data === undefined) return undefined;
    // The envelope exactly as decodeEvent builds it, key for key.
    const event: Record<string, unknown> = {
      session_id: sessionId,
      timestamp: toIsoMicros(timestampUs),
      type,
    };
    if (record.frameId !== undefined && record.frameId !== null) event.frame_id = record.frameId;
    if (record.eventId !== undefined && record.eventId !== null) event.event_id = record.eventId;
    event.data = data;
    return event as unknown as ProjectionEvent;
  }

  /** The session id a stream's events leave out of their payload, if any. */
  sessionIdOf(stream: string): string | undefined {
    if (stream !== this.#stream) {
      const parsed = tryParseStreamName(stream);
      this.#stream = stream;
      this.#sessionId = parsed?.kind === 'session' ? parsed.sessionId : undefined;
      this.#options = {
        ...(this.#sessionId === undefined ? {} : { sessionId: this.#sessionId }),
        ...(this.upcasters === undefined ? {} : { upcasters: this.upcasters }),
      };
    }
    return this.#sessionId;
  }

  /** The event of a record, upcast. */
  event(stream: string, record: EventRecord): ProjectionEvent {
    this.sessionIdOf(stream);
    return this.#fromSource(record) ?? decodeEvent(record, this.#options);
  }

  /** The event of a record as `decodeEvent` reads it from its bytes, never from a data source. */
  decodedEvent(stream: string, record: EventRecord): ProjectionEvent {
    this.sessionIdOf(stream);
    return decodeEvent(record, this.#options);
  }

  /** A stored record as a {@link StoreRecord}. */
  record(stored: StoredEventRecord): StoreRecord {
    return {
      event: this.event(stored.stream, stored),
      position: stored.position,
      version: stored.version,
      stream: stored.stream,
    };
  }

  /** A page of stored records as {@link StoreRecord}s, in order. */
  records(page: readonly StoredEventRecord[]): StoreRecord[] {
    const out = new Array<StoreRecord>(page.length);
    for (let i = 0; i < page.length; i++) out[i] = this.record(page[i] as StoredEventRecord);
    return out;
  }
}
