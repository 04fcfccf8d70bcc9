import { isUnknownEvent, type EventData, type EventOfType } from '@wirthforge/events';
import { textDigest, type EventEnricher, type TextHashOptions } from './event-enricher.js';

/**
 * An enricher for privacy mode: an `ai.output` with a `token` gets `token_hash`, the hex
 * SHA-256 (HMAC-SHA-256 with `key`) of the token, instead. Other events come back as
 * they are. A single token is short: without a key its hash is easy to match against
 * the hashes of a vocabulary, so pass one where that matters.
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
    const data: EventData<'ai.output'> = event.data;
    if (typeof data.token !== 'string') return event;
    const { token, ...rest } = data;
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
