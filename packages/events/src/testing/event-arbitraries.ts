import { Kind, type TSchema } from '@sinclair/typebox';
import fc from 'fast-check';
import { EnergyStateSchema, type EnergyState } from '../energy-state-schema.js';
import {
  EVENT_TYPES,
  eventSchemas,
  type EventOfType,
  type EventType,
  type WirthforgeEvent,
} from '../event-schemas.js';

const ENVELOPE_FIELDS: ReadonlySet<string> = new Set([
  'session_id',
  'timestamp',
  'type',
  'frame_id',
  'event_id',
  'data',
]);

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/**
 * Any value the codec stores losslessly: null, booleans, every number (-0, NaN,
 * ±Infinity, integers of every size, fractions), well-formed strings of any code
 * point, arrays and plain objects (no `__proto__` key, no `undefined`).
 */
export function storableValueArbitrary(maxDepth = 3): fc.Arbitrary<unknown> {
  const key = fc.string({ unit: 'binary', maxLength: 12 }).filter((k) => k !== '__proto__');
  const leaf = fc.oneof(
    fc.constant(null),
    fc.boolean(),
    fc.double(),
    fc.integer(),
    fc.maxSafeInteger(),
    fc.constantFrom(-0, 0, Number.NaN, Infinity, -Infinity, 2 ** 32, -(2 ** 31) - 1, 2 ** 53),
    fc.string({ unit: 'binary', maxLength: 80 }),
  );
  const { value } = fc.letrec<{ value: unknown }>((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', maxDepth, withCrossShrink: true },
      leaf,
      fc.array(tie('value'), { maxLength: 5 }),
      fc.dictionary(key, tie('value'), { maxKeys: 5, noNullPrototype: true }),
    ),
  }));
  return value;
}

/**
 * Extra envelope properties (the spec's `BaseEvent` allows any): names that are not
 * envelope fields, values of any storable kind.
 */
export function extraFieldsArbitrary(): fc.Arbitrary<Record<string, unknown>> {
  const key = fc
    .string({ unit: 'binary', minLength: 1, maxLength: 12 })
    .filter((k) => k !== '__proto__' && !ENVELOPE_FIELDS.has(k));
  return fc.dictionary(key, storableValueArbitrary(2), { maxKeys: 4, noNullPrototype: true });
}

interface SchemaNode {
  readonly [Kind]?: string;
  readonly [key: string]: unknown;
}

function numberBounds(node: SchemaNode): { min: number; max: number } {
  const min = typeof node.minimum === 'number' ? node.minimum : -1e12;
  const max = typeof node.maximum === 'number' ? node.maximum : 1e12;
  return { min, max };
}

/**
 * An arbitrary of the values a TypeBox schema of this package accepts, derived from
 * the schema: objects with their required and optional properties, numbers across
 * their range (with -0 where 0 is allowed, and integral values), strings matching
 * their pattern, arrays of their item schema, maps keyed by model id.
 */
export function arbitraryFromSchema(schema: TSchema): fc.Arbitrary<unknown> {
  const node = schema as unknown as SchemaNode;
  switch (node[Kind]) {
    case 'Object': {
      const properties = node.properties as Record<string, TSchema>;
      const required = (node.required as string[] | undefined) ?? [];
      const model: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [name, property] of Object.entries(properties)) {
        model[name] = arbitraryFromSchema(property);
      }
      return fc.record(model, { requiredKeys: required, noNullPrototype: true });
    }
    case 'Literal':
      return fc.constant(node.const);
    case 'Union':
      return fc.oneof(...(node.anyOf as TSchema[]).map(arbitraryFromSchema));
    case 'String': {
      if (typeof node.pattern === 'string') {
        return fc.stringMatching(new RegExp(node.pattern));
      }
      const minLength = typeof node.minLength === 'number' ? node.minLength : 0;
      return fc.string({ unit: 'binary', minLength, maxLength: minLength + 24 });
    }
    case 'Number': {
      const { min, max } = numberBounds(node);
      const options: fc.Arbitrary<number>[] = [
        fc.double({ min, max, noNaN: true, noDefaultInfinity: true }),
        fc.integer({ min: Math.ceil(min), max: Math.floor(max) }),
      ];
      if (min <= 0 && max >= 0) options.push(fc.constant(-0));
      return fc.oneof(...options);
    }
    case 'Integer': {
      const min = typeof node.minimum === 'number' ? node.minimum : -MAX_SAFE;
      const max = typeof node.maximum === 'number' ? node.maximum : MAX_SAFE;
      // Small integers (msgpack's compact forms) and any safe integer (stored as float 64).
      return fc.oneof(
        fc.integer({ min: Math.max(min, -(2 ** 31)), max: Math.min(max, 2 ** 31 - 1) }),
        fc.integer({ min, max }),
      );
    }
    case 'Boolean':
      return fc.boolean();
    case 'Array': {
      const minLength = typeof node.minItems === 'number' ? node.minItems : 0;
      return fc.array(arbitraryFromSchema(node.items as TSchema), {
        minLength,
        maxLength: minLength + 4,
      });
    }
    case 'Record': {
      const patternProperties = node.patternProperties as Record<string, TSchema>;
      const [pattern, value] = Object.entries(patternProperties)[0] as [string, TSchema];
      const key =
        pattern === '^(.*)$'
          ? fc.string({ unit: 'binary', maxLength: 12 }).filter((k) => k !== '__proto__')
          : fc.stringMatching(new RegExp(pattern));
      return fc.dictionary(key, arbitraryFromSchema(value), { maxKeys: 4, noNullPrototype: true });
    }
    case 'Unknown':
      return storableValueArbitrary(2);
    default:
      throw new TypeError(`No arbitrary for schema kind ${String(node[Kind])}`);
  }
}

/** Options of {@link eventArbitrary} and {@link anyEventArbitrary}. */
export interface EventArbitraryOptions {
  /** Add extra envelope properties (allowed by the spec and kept by the codec). Default `false`. */
  readonly extraFields?: boolean;
}

/**
 * Valid events of one type, derived from its schema: every optional field present or
 * absent, numbers across their ranges (-0 included), ids matching their patterns.
 *
 * @example
 * ```ts
 * fc.assert(fc.property(eventArbitrary('energy.update'), (event) => {
 *   expect(validateEvent(event).status).toBe('valid');
 * }));
 * ```
 */
export function eventArbitrary<T extends EventType>(
  type: T,
  options: EventArbitraryOptions = {},
): fc.Arbitrary<EventOfType<T>> {
  const base = arbitraryFromSchema(eventSchemas[type]) as fc.Arbitrary<EventOfType<T>>;
  if (options.extraFields !== true) return base;
  return fc.tuple(base, extraFieldsArbitrary()).map(([event, extra]) => ({ ...extra, ...event }));
}

/** Valid events of every known type. */
export function anyEventArbitrary(
  options: EventArbitraryOptions = {},
): fc.Arbitrary<WirthforgeEvent> {
  return fc.oneof(
    ...EVENT_TYPES.map((type) => eventArbitrary(type, options) as fc.Arbitrary<WirthforgeEvent>),
  );
}

/** Valid energy states. */
export function energyStateArbitrary(): fc.Arbitrary<EnergyState> {
  return arbitraryFromSchema(EnergyStateSchema) as fc.Arbitrary<EnergyState>;
}
