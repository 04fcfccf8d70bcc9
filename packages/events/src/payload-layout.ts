import { EVENT_TYPES, eventSchemas, type EventType } from './event-schemas.js';
import { SCHEMA_VERSIONS } from './schema-versions.js';

/**
 * Most `data` fields a positional payload can describe: one bit each in the presence
 * mask, which stays a 32-bit unsigned integer. A type with more fields is stored as
 * a map.
 */
export const MAX_POSITIONAL_FIELDS = 31;

/** The positional layout of the `data` of one event type at one schema version. */
export interface PayloadLayout {
  readonly type: EventType;
  readonly schemaVersion: number;
  /** The `data` fields, in payload order; field `i` is bit `1 << i` of the presence mask. */
  readonly fields: readonly string[];
  /** Position of each field in {@link fields}. */
  readonly index: ReadonlyMap<string, number>;
}

/**
 * Field lists of schema versions that are no longer current, by type and version.
 * Payloads written with them must stay readable, so when a type gets a new schema
 * version, the field list of the version it replaces is copied here, unchanged (the
 * payload-layout test pins every list and fails until it is).
 */
const RETIRED_FIELD_LISTS: Readonly<
  Partial<Record<EventType, Readonly<Record<number, readonly string[]>>>>
> = {};

function layoutOf(
  type: EventType,
  schemaVersion: number,
  fields: readonly string[],
): PayloadLayout | undefined {
  if (fields.length > MAX_POSITIONAL_FIELDS) return undefined;
  return Object.freeze({
    type,
    schemaVersion,
    fields: Object.freeze([...fields]),
    index: new Map(fields.map((field, i) => [field, i])),
  });
}

const LAYOUTS = new Map<string, ReadonlyMap<number, PayloadLayout>>();
for (const type of EVENT_TYPES) {
  const versions = new Map<number, PayloadLayout>();
  for (const [version, fields] of Object.entries(RETIRED_FIELD_LISTS[type] ?? {})) {
    const layout = layoutOf(type, Number(version), fields);
    if (layout !== undefined) versions.set(layout.schemaVersion, layout);
  }
  // The current version's list is the schema's `data` properties in declaration order.
  const current = layoutOf(
    type,
    SCHEMA_VERSIONS[type],
    Object.keys(eventSchemas[type].properties.data.properties),
  );
  if (current !== undefined) versions.set(current.schemaVersion, current);
  LAYOUTS.set(type, versions);
}

/**
 * The positional layout of `type` at `schemaVersion`, or `undefined` when its
 * payloads are maps (a type this code does not know, a version without a field list,
 * more than {@link MAX_POSITIONAL_FIELDS} fields).
 */
export function payloadLayout(type: string, schemaVersion: number): PayloadLayout | undefined {
  return LAYOUTS.get(type)?.get(schemaVersion);
}

/** Every positional layout this code reads and writes. */
export function payloadLayouts(): PayloadLayout[] {
  return [...LAYOUTS.values()].flatMap((versions) => [...versions.values()]);
}

/**
 * The `data` fields, in payload order, of the positional payloads of `type` at
 * `schemaVersion`, or `undefined` when that type and version are stored as a map.
 * Enough for a tool to name the values of a stored payload (see the README's wire
 * format).
 *
 * @example
 * ```ts
 * payloadFields('energy.update', 1);
 * // ['energy', 'accumulator', 'model_id', 'fps', 'frame_budget_used', 'diversity_index', 'token_count']
 * ```
 */
export function payloadFields(type: string, schemaVersion: number): readonly string[] | undefined {
  return payloadLayout(type, schemaVersion)?.fields;
}
