import { isUnknownEvent, type EventData, type EventOfType } from '@wirthforge/events';
import { textDigest, type EventEnricher, type TextHashOptions } from './event-enricher.js';

/** Number of Unicode code points of a string (what a person counts as characters). */
function codePointLength(text: string): number {
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    // A high surrogate followed by a low one is one code point.
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
    }
    count++;
  }
  return count;
}

/**
 * An enricher that replaces the `text` of a `user.prompt` by its hash: `data.hash`
 * becomes the hex SHA-256 (HMAC-SHA-256 with `key`) of the text, `data.length` its
 * length in characters if the event does not say, and `text` is removed, so the text
 * never reaches the store. Other events, and prompts without a string `text`, come
 * back as they are (a `text` of another kind is then refused by validation: the
 * prompt's schema has no such field).
 *
 * @example
 * ```ts
 * const hash = createPromptTextHasher({ key: installSecret });
 * createRecorder(store, { pipeline: { privacy: false, enrich: [hash] } });
 * ```
 */
export function createPromptTextHasher(options: TextHashOptions = {}): EventEnricher {
  const digest = textDigest(options);
  return (event) => {
    if (isUnknownEvent(event) || event.type !== 'user.prompt') return event;
    // Not validated yet: `data` may be missing or not an object (validation refuses it).
    const raw: unknown = event.data;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return event;
    const data = raw as EventData<'user.prompt'> & { readonly text?: unknown };
    const text = data.text;
    if (typeof text !== 'string') return event;
    const { text: _removed, ...rest } = data;
    const hashed: EventOfType<'user.prompt'> = {
      ...event,
      data: { ...rest, hash: digest(text), length: rest.length ?? codePointLength(text) },
    };
    return hashed;
  };
}

/**
 * {@link createPromptTextHasher} without a key: a `user.prompt`'s `text` becomes its
 * SHA-256 in `data.hash`. The recorder applies it first, always.
 *
 * @example
 * ```ts
 * hashPromptText({ ...prompt, data: { ...prompt.data, text: 'hello' } }).data;
 * // { prompt_id, interface, truncated, hash: '2cf24dba…', length: 5 }
 * ```
 */
export const hashPromptText: EventEnricher = createPromptTextHasher();
