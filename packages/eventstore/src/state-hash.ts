import { createHash } from 'node:crypto';
import { withCanonicalBytes } from './canonical-encode.js';

/**
 * A stable fingerprint of a state: the SHA-256 of its canonical encoding
 * ({@link canonicalEncode}), as 64 lower-case hex digits. Replaying the same events
 * gives the same hash byte for byte, on any machine and after any restart; any change
 * of the state (a number's last bit, -0 for 0, a key, an array's order) changes it.
 * How the state's objects were built (property order, a fold in one go or in chunks,
 * a clone along the way) does not.
 *
 * Throws a {@link StateError} `unencodable_state` for a value outside the storable set.
 *
 * @example
 * ```ts
 * const live = stateHash(energyState);
 * const replayed = stateHash(foldEvents(energyProjection, await readAll(stream)));
 * if (live !== replayed) throw new Error('replay diverged');
 * ```
 */
export function stateHash(state: unknown): string {
  return withCanonicalBytes(state, (bytes) => createHash('sha256').update(bytes).digest('hex'));
}
