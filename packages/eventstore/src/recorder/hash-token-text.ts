import { isUnknownEvent, type EventData, type EventOfType } from '@wirthforge/events';
import { textDigest, type EventEnricher, type TextHashOptions } from './event-enricher.js';

function isDataObject(value: unknown): value is { readonly token?: unknown } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * An enricher for privacy mode: an `ai.output` with a `token` gets `token_hash`, the hex
 * SHA-256 (HMAC-SHA-256 with `key`) of the token, instead. Other events come back as
 * they are, and so does an `ai.output` whose `data` is not an object or whose `token` is
 * not a string (validation, which runs after the enrichers, refuses it naming the
 * path). A single token is short: without a key its hash is easy to match against the
 * hashes of a vocabulary, so pass one where that matters.
 *
 * @example
 * ```ts
 * createRecorder(store, { pipeline: { privacy: { key: installSecret } } });
 * ```
 */
export function createTokenTextHasher(options: TextHashOptions = {}): EventEnricher {
  const digest = textDigest(options);
  return (event) => {
    if (isUnknownEvent(event) || event.type !== 'ai.output') return event;
    // The event is not validated yet: `data` may be missing or of another kind, and
    // validation then names the problem (`/data`); it is not this hook's to report.
    const data: unknown = event.data;
    if (!isDataObject(data) || typeof data.token !== 'string') return event;
    const { token, ...rest } = data as EventData<'ai.output'> & { readonly token: string };
    const hashed: EventOfType<'ai.output'> = {
      ...event,
      data: { ...rest, token_hash: digest(token) },
    };
    return hashed;
  };
}

/**
 * {@link createTokenTextHasher} without a key; the recorder applies it while privacy is
 * on (the default).
 *
 * @example
 * ```ts
 * hashTokenText(tokenEvent).data.token_hash; // '…64 hex digits…'; no `token` any more
 * ```
 */
export const hashTokenText: EventEnricher = createTokenTextHasher();
