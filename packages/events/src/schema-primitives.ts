import {
  Type,
  type SchemaOptions,
  type TInteger,
  type TLiteral,
  type TNumber,
  type TObject,
  type TProperties,
  type TRecord,
  type TSchema,
  type TString,
  type TUnion,
  type TUnknown,
} from '@sinclair/typebox';
import { SESSION_ID_PATTERN } from './session-id.js';
import { TIMESTAMP_PATTERN } from './iso-micros.js';

/**
 * Regular-expression source of a model id. The spec's `^[a-zA-Z0-9_\-\/\.]+$` plus `:`,
 * because real producers send ids such as `ollama/llama2:7b` (the spec's own examples
 * use them).
 */
export const MODEL_ID_PATTERN = '^[a-zA-Z0-9_\\-\\/\\.:]+$';

/** Schema of a session id `YYYYMMDDTHHMMSSZ_NNN` (see {@link SESSION_ID_PATTERN}). */
export const SessionIdSchema: TString = Type.String({
  pattern: SESSION_ID_PATTERN,
  description: 'Session identifier YYYYMMDDTHHMMSSZ_NNN (UTC start second, sequence number)',
});

/** Schema of a timestamp (see {@link TIMESTAMP_PATTERN}). */
export const TimestampSchema: TString = Type.String({
  pattern: TIMESTAMP_PATTERN,
  description:
    'ISO 8601 UTC timestamp YYYY-MM-DDTHH:MM:SS[.ffffff]Z, up to microsecond precision (Z or +00:00)',
});

/** An AI model id (see {@link MODEL_ID_PATTERN}) with a description. */
export function ModelId(description = "AI model identifier (e.g. 'ollama/llama2:7b')"): TString {
  return Type.String({ pattern: MODEL_ID_PATTERN, description });
}

/** Schema of an AI model id (see {@link MODEL_ID_PATTERN}). */
export const ModelIdSchema: TString = ModelId();

/** An amount of Energy Units (EU), a finite number >= 0, with a description. */
export function EnergyUnit(description = 'Energy Units (EU)'): TNumber {
  return Type.Number({ minimum: 0, description });
}

/** Schema of an amount of Energy Units (EU): a finite number >= 0. */
export const EnergyUnitSchema: TNumber = EnergyUnit();

/** Schema of a frame id: the index of a 60 Hz frame, an integer >= 0. */
export const FrameIdSchema: TInteger = Type.Integer({
  minimum: 0,
  description: 'Frame identifier in the 60 Hz sequence',
});

/** A finite number >= 0 with a description. */
export function NonNegativeNumber(description?: string): TNumber {
  return Type.Number(description === undefined ? { minimum: 0 } : { minimum: 0, description });
}

/** An integer >= 0 with a description. */
export function NonNegativeInteger(description?: string): TInteger {
  return Type.Integer(description === undefined ? { minimum: 0 } : { minimum: 0, description });
}

/** A number in [0, 1] with a description. */
export function UnitInterval(description?: string): TNumber {
  const options = { minimum: 0, maximum: 1 };
  return Type.Number(description === undefined ? options : { ...options, description });
}

/** The TypeBox type of {@link StringEnum}. */
export type TStringEnum<T extends readonly string[]> = TUnion<{
  -readonly [K in keyof T]: TLiteral<T[K]>;
}>;

/**
 * One of a fixed list of strings. Expressed as a union of constants, which TypeBox
 * compiles; the emitted JSON Schema files show it as `enum`.
 */
export function StringEnum<const T extends readonly [string, ...string[]]>(
  values: T,
  options: SchemaOptions = {},
): TStringEnum<T> {
  return Type.Union(
    values.map((value) => Type.Literal(value)),
    options,
  ) as unknown as TStringEnum<T>;
}

/** The TypeBox type of {@link FreeObject}. */
export type TFreeObject = TRecord<TString, TUnknown>;

/** An object with any properties (`{ "type": "object" }` in the spec). */
export function FreeObject(description: string): TFreeObject {
  return Type.Record(Type.String(), Type.Unknown(), { description });
}

/**
 * An object keyed by model id. Keys that are not model ids are refused (each one is
 * reported), where the spec's `patternProperties` alone would let them through.
 */
export function ModelIdRecord<T extends TSchema>(
  value: T,
  description?: string,
): TRecord<TString, T> {
  const options = { additionalProperties: Type.Never() };
  return Type.Record(
    ModelIdSchema,
    value,
    description === undefined ? options : { ...options, description },
  );
}

/** A closed object (`additionalProperties: false`) with a description. */
export function ClosedObject<P extends TProperties>(
  properties: P,
  description?: string,
): TObject<P> {
  const options = { additionalProperties: false };
  return Type.Object(properties, description === undefined ? options : { ...options, description });
}
