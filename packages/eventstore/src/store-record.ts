import {
  decodeEvent,
  tryParseStreamName,
  type DecodeOptions,
  type EventRecord,
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

  constructor(private readonly upcasters: UpcasterRegistry | undefined) {}

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
