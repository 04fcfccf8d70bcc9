import type { TSchema } from '@sinclair/typebox';
import { EnergyStateSchema } from './energy-state-schema.js';
import { EVENT_TYPES, EventEnvelopeSchema, eventSchemas } from './event-schemas.js';
import { SCHEMA_VERSIONS } from './schema-versions.js';

/** Base of the `$id` of every emitted schema (the host the spec's schemas use). */
export const SCHEMA_BASE_URI = 'https://wirthforge.local/schemas/';

const DRAFT_07 = 'http://json-schema.org/draft-07/schema#';

/** A JSON value. */
export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
/** A JSON object. */
export interface JsonObject {
  [key: string]: JsonValue;
}

/** One emitted JSON Schema file. */
export interface SchemaFile {
  /** Path relative to the package's `schemas/` directory, `/`-separated. */
  readonly path: string;
  /** File contents: 2-space indented JSON and a final newline. */
  readonly contents: string;
}

const FREE_OBJECT_PATTERN = '^(.*)$';

// Keywords first in a readable order, then anything else in its original order.
const KEY_ORDER = [
  '$schema',
  '$id',
  '$comment',
  'title',
  'description',
  'type',
  'const',
  'enum',
  'pattern',
  'minLength',
  'maxLength',
  'minimum',
  'exclusiveMinimum',
  'maximum',
  'exclusiveMaximum',
  'multipleOf',
  'minItems',
  'maxItems',
  'items',
  'required',
  'properties',
  'patternProperties',
  'additionalProperties',
  'definitions',
  'oneOf',
  'anyOf',
];

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isStringConst(value: JsonValue): boolean {
  return isObject(value) && typeof value.const === 'string';
}

// Keywords whose value maps names to schemas: the names are data, not keywords.
const SCHEMA_MAPS: ReadonlySet<string> = new Set([
  'properties',
  'patternProperties',
  'definitions',
]);

function normalizeMap(node: JsonValue): JsonValue {
  if (!isObject(node)) return normalize(node);
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node)) out[key] = normalize(value);
  return out;
}

function normalize(node: JsonValue): JsonValue {
  if (Array.isArray(node)) return node.map(normalize);
  if (!isObject(node)) return node;
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node)) {
    out[key] = SCHEMA_MAPS.has(key) ? normalizeMap(value) : normalize(value);
  }

  // A union of string constants is TypeBox's compiled form of an enum.
  const anyOf = out.anyOf;
  if (Array.isArray(anyOf) && anyOf.length > 0 && anyOf.every(isStringConst)) {
    delete out.anyOf;
    out.type = 'string';
    out.enum = anyOf.map((member) => (member as JsonObject).const as string);
  }
  // Record(String, Unknown) is any object: `{ "type": "object" }`.
  const patternProperties = out.patternProperties;
  if (
    isObject(patternProperties) &&
    Object.keys(patternProperties).length === 1 &&
    isObject(patternProperties[FREE_OBJECT_PATTERN]) &&
    Object.keys(patternProperties[FREE_OBJECT_PATTERN]).length === 0 &&
    out.additionalProperties === undefined
  ) {
    delete out.patternProperties;
  }
  // `additionalProperties: { not: {} }` (TypeBox Never, which reports every bad key) is `false`.
  const additional = out.additionalProperties;
  if (isObject(additional) && Object.keys(additional).length === 1 && isObject(additional.not)) {
    if (Object.keys(additional.not).length === 0) out.additionalProperties = false;
  }
  return order(out);
}

function order(node: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const key of KEY_ORDER) {
    const value = node[key];
    if (value !== undefined) out[key] = value;
  }
  for (const [key, value] of Object.entries(node)) {
    if (!(key in out)) out[key] = value;
  }
  return out;
}

/**
 * The plain JSON Schema (draft-07) of a TypeBox schema of this package: TypeBox's
 * symbols dropped, unions of string constants written as `enum`, free-form objects as
 * `{ "type": "object" }`, keywords in a readable order. Same meaning as the TypeBox
 * schema it comes from.
 */
export function toJsonSchema(schema: TSchema): JsonObject {
  const plain = JSON.parse(JSON.stringify(schema)) as JsonValue;
  const normalized = normalize(plain);
  if (!isObject(normalized)) throw new TypeError('A schema must be an object');
  return normalized;
}

function file(path: string, schema: JsonObject): SchemaFile {
  return { path, contents: `${JSON.stringify(schema, null, 2)}\n` };
}

function eventDocument(type: (typeof EVENT_TYPES)[number]): JsonObject {
  const { description, ...rest } = toJsonSchema(eventSchemas[type]);
  return order({
    title: type,
    ...(description === undefined ? {} : { description }),
    $comment: `Schema version ${SCHEMA_VERSIONS[type]} of the event type ${type}`,
    ...rest,
  });
}

/**
 * Every JSON Schema file the package ships in `schemas/`, as produced from the
 * TypeBox source: one per event type (`events/<type>.schema.json`), the bundle of all
 * of them (`events.schema.json`), the envelope alone (`event-envelope.schema.json`)
 * and the energy state (`energy-state.schema.json`).
 */
export function renderSchemaFiles(): readonly SchemaFile[] {
  const files: SchemaFile[] = [];
  const definitions: JsonObject = {};
  for (const type of EVENT_TYPES) {
    const document = eventDocument(type);
    definitions[type] = document;
    files.push(
      file(
        `events/${type}.schema.json`,
        order({
          $schema: DRAFT_07,
          $id: `${SCHEMA_BASE_URI}events/${type}.schema.json`,
          ...document,
        }),
      ),
    );
  }
  files.push(
    file('events.schema.json', {
      $schema: DRAFT_07,
      $id: `${SCHEMA_BASE_URI}events.schema.json`,
      title: 'WIRTHFORGE events',
      description:
        'Every WIRTHFORGE event type this version knows; an event matches exactly one definition, chosen by its type',
      definitions,
      oneOf: EVENT_TYPES.map((type) => ({ $ref: `#/definitions/${type}` })),
    }),
  );
  files.push(
    file(
      'event-envelope.schema.json',
      order({
        $schema: DRAFT_07,
        $id: `${SCHEMA_BASE_URI}event-envelope.schema.json`,
        title: 'WIRTHFORGE event envelope',
        ...toJsonSchema(EventEnvelopeSchema),
      }),
    ),
  );
  files.push(
    file(
      'energy-state.schema.json',
      order({
        $schema: DRAFT_07,
        $id: `${SCHEMA_BASE_URI}energy-state.schema.json`,
        title: 'WIRTHFORGE energy state',
        ...toJsonSchema(EnergyStateSchema),
      }),
    ),
  );
  return files;
}
