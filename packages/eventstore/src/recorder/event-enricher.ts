import { createHmac, hash } from 'node:crypto';
import type { AppendableEvent } from '../prepare-append.js';

/**
 * An enrichment hook of the recorder's pipeline: gets an event before it is validated
 * and returns the event to record, the same object when it has nothing to change, or a
 * new one (never a changed original: the caller may still hold it). Hooks run in the
 * frame's task, after `endFrame()`, not inside `record()`. A hook that throws gets the
 * event rejected with reason `hook_failed`.
 *
 * @example
 * ```ts
 * const tagBuild: EventEnricher = (event) =>
 *   isUnknownEvent(event) || event.type !== 'error'
 *     ? event
 *     : { ...event, data: { ...event.data, context: { ...event.data.context, build: BUILD } } };
 * createRecorder(store, { pipeline: { enrich: [tagBuild] } });
 * ```
 */
export type EventEnricher = (event: AppendableEvent) => AppendableEvent;

/** Options of the text-hashing enrichers. */
export interface TextHashOptions {
  /**
   * A secret: the hash becomes HMAC-SHA-256 with this key. Without it a plain SHA-256
   * is stored, which anyone can compare with the hash of a guess; short texts (a single
   * token, a common prompt) are then easy to find.
   */
  readonly key?: string | Uint8Array;
}

/** The function that turns a text into the hex digest stored in its place. */
export function textDigest(options: TextHashOptions = {}): (text: string) => string {
  const { key } = options;
  if (key === undefined) return (text) => hash('sha256', text, 'hex');
  if (typeof key === 'string' ? key.length === 0 : key.byteLength === 0) {
    throw new RangeError('options.key must not be empty');
  }
  return (text) => createHmac('sha256', key).update(text, 'utf8').digest('hex');
}
