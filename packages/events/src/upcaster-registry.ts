import { EventsError, FutureVersionError } from './errors.js';
import {
  isKnownEventType,
  type EventEnvelope,
  type EventType,
  type WirthforgeEvent,
} from './event-schemas.js';
import { SCHEMA_VERSIONS } from './schema-versions.js';
import { createUnknownEvent, type UnknownEvent } from './unknown-event.js';

/**
 * Turns an event stored with version `fromVersion` of its type into version
 * `fromVersion + 1`. It receives the whole event (envelope and `data`), must return a
 * new object rather than change its input, and must keep `type`.
 *
 * @example
 * ```ts
 * // v1 of energy.peak called the threshold `limit`; v2 calls it `threshold`.
 * const peakV1toV2: Upcaster = {
 *   type: 'energy.peak',
 *   fromVersion: 1,
 *   upcast: ({ data, ...envelope }) => {
 *     const { limit, ...rest } = data as { limit: number };
 *     return { ...envelope, data: { ...rest, threshold: limit } };
 *   },
 * };
 * ```
 */
export interface Upcaster {
  /** The event type it applies to. */
  readonly type: EventType;
  /** The version it reads; it produces `fromVersion + 1`. */
  readonly fromVersion: number;
  /** The conversion. */
  readonly upcast: (event: EventEnvelope) => EventEnvelope;
}

/** Configuration of an {@link UpcasterRegistry}. */
export interface UpcasterRegistryOptions {
  /** The conversions, one per type and version step, in any order. */
  readonly upcasters?: readonly Upcaster[];
  /**
   * Current versions that differ from {@link SCHEMA_VERSIONS}. Meant for the code
   * that introduces a new version and for tests.
   */
  readonly versions?: Readonly<Partial<Record<EventType, number>>>;
}

type Step = (event: EventEnvelope) => EventEnvelope;

function isVersion(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1;
}

/**
 * Brings events stored with any older schema version of their type up to the
 * current version, chaining one upcaster per step (v1 → v2 → v3). A version newer
 * than the current one is refused with {@link FutureVersionError}; a type this code
 * does not know passes through intact as an {@link UnknownEvent}.
 *
 * @example
 * ```ts
 * const upcasters = createUpcasters({ upcasters: [peakV1toV2], versions: { 'energy.peak': 2 } });
 * const event = upcasters.upcast(storedV1Event, 1); // now version 2
 * ```
 */
export class UpcasterRegistry {
  readonly #versions = new Map<string, number>();
  readonly #steps = new Map<string, Map<number, Step>>();

  constructor(options: UpcasterRegistryOptions = {}) {
    for (const type of Object.keys(SCHEMA_VERSIONS) as EventType[]) {
      this.#versions.set(type, SCHEMA_VERSIONS[type]);
    }
    for (const [type, version] of Object.entries(options.versions ?? {})) {
      if (!isKnownEventType(type)) {
        throw new EventsError(
          'invalid_upcaster',
          `Cannot set a version for unknown event type "${type}"`,
        );
      }
      if (!isVersion(version)) {
        throw new EventsError(
          'invalid_upcaster',
          `Version of "${type}" must be a positive integer`,
        );
      }
      this.#versions.set(type, version);
    }
    for (const upcaster of options.upcasters ?? []) {
      const { type, fromVersion, upcast } = upcaster;
      const current = this.#versions.get(type);
      if (current === undefined) {
        throw new EventsError('invalid_upcaster', `Upcaster for unknown event type "${type}"`);
      }
      if (!isVersion(fromVersion) || fromVersion >= current) {
        throw new EventsError(
          'invalid_upcaster',
          `Upcaster for "${type}" from version ${String(fromVersion)} is out of range: versions 1 to ${current - 1} can be upcast (current is ${current})`,
        );
      }
      if (typeof upcast !== 'function') {
        throw new EventsError(
          'invalid_upcaster',
          `Upcaster for "${type}" v${fromVersion} has no upcast function`,
        );
      }
      let steps = this.#steps.get(type);
      if (steps === undefined) this.#steps.set(type, (steps = new Map<number, Step>()));
      if (steps.has(fromVersion)) {
        throw new EventsError(
          'invalid_upcaster',
          `Two upcasters for "${type}" from version ${fromVersion}`,
        );
      }
      steps.set(fromVersion, upcast);
    }
  }

  /** The current version of a type, or `undefined` for a type this code does not know. */
  currentVersion(type: string): number | undefined {
    return this.#versions.get(type);
  }

  /**
   * Throws unless an event of `type` stored with `version` can be read: `invalid_version`
   * for a version that is not a positive integer, `future_version` for one newer than
   * the current. Unknown types pass.
   */
  checkVersion(type: string, version: number): void {
    // The common case, a stored event at its type's current version, in one lookup.
    if (this.#versions.get(type) === version) return;
    if (!isVersion(version)) {
      throw new EventsError(
        'invalid_version',
        `Schema version of "${type}" must be a positive integer, got ${String(version)}`,
      );
    }
    const current = this.#versions.get(type);
    if (current !== undefined && version > current) {
      throw new FutureVersionError(type, version, current);
    }
  }

  /**
   * Brings `event`, stored with schema version `version` of its type, to the current
   * version. Returns the same object when it is already current, an
   * {@link UnknownEvent} for an unknown type. Throws `future_version`,
   * `invalid_version` or `missing_upcaster`.
   */
  upcast(event: EventEnvelope, version: number): WirthforgeEvent | UnknownEvent {
    const type = event.type;
    const current = this.#versions.get(type);
    // Already current (a version the registry holds is a positive integer): as it is.
    if (current === version) return event as WirthforgeEvent;
    this.checkVersion(type, version);
    if (current === undefined) return createUnknownEvent(event, version);
    let upcasted = event;
    for (let from = version; from < current; from++) {
      const step = this.#steps.get(type)?.get(from);
      if (step === undefined) {
        throw new EventsError(
          'missing_upcaster',
          `No upcaster turns "${type}" version ${from} into version ${from + 1}`,
        );
      }
      upcasted = step(upcasted);
      if (typeof upcasted !== 'object' || upcasted === null || upcasted.type !== type) {
        throw new EventsError(
          'invalid_upcaster',
          `Upcaster for "${type}" from version ${from} must return an event of the same type`,
        );
      }
    }
    return upcasted as WirthforgeEvent;
  }
}

/**
 * Creates an {@link UpcasterRegistry}. Without options it knows the current versions
 * ({@link SCHEMA_VERSIONS}) and no conversions, like {@link defaultUpcasters}.
 */
export function createUpcasters(options: UpcasterRegistryOptions = {}): UpcasterRegistry {
  return new UpcasterRegistry(options);
}

/**
 * The registry of this version of the package: current versions from
 * {@link SCHEMA_VERSIONS} and the upcasters of past versions (none yet: every type
 * is at version 1).
 */
export const defaultUpcasters: UpcasterRegistry = new UpcasterRegistry();
