import type { TSchema } from '@sinclair/typebox';
import type { TypeCheck } from '@sinclair/typebox/compiler';
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import type { ValidationIssue, ValidationKeyword } from './errors.js';
import { TIMESTAMP_PATTERN } from './iso-micros.js';
import { MODEL_ID_PATTERN } from './schema-primitives.js';
import { SESSION_ID_PATTERN } from './session-id.js';

const PATTERN_MESSAGES: ReadonlyMap<string, string> = new Map([
  [
    SESSION_ID_PATTERN,
    'must be a session id YYYYMMDDTHHMMSSZ_NNN with a real UTC date and time in 1700–2199',
  ],
  [
    TIMESTAMP_PATTERN,
    'must be an ISO-8601 UTC timestamp YYYY-MM-DDTHH:MM:SS[.ffffff]Z: at most 6 fractional digits, Z or +00:00, a real date in 1700–2199',
  ],
  [MODEL_ID_PATTERN, 'must be a model id made of letters, digits and _ - / . :'],
]);

/**
 * Every problem a compiled check finds in `value`, as {@link ValidationIssue}s.
 * A missing required property is reported once (as `required`), not also as a
 * wrong type.
 */
export function collectIssues(check: TypeCheck<TSchema>, value: unknown): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  let missing: Set<string> | undefined;
  for (const error of check.Errors(value)) {
    if (error.type === ValueErrorType.ObjectRequiredProperty) {
      if (missing?.has(error.path) === true) continue;
      (missing ??= new Set()).add(error.path);
    } else if (missing?.has(error.path) === true) {
      continue;
    }
    issues.push(toIssue(error));
  }
  return issues;
}

function issue(path: string, keyword: ValidationKeyword, message: string): ValidationIssue {
  return { path, keyword, message };
}

function bound(schema: TSchema, key: string): string {
  const value = (schema as Record<string, unknown>)[key];
  return typeof value === 'number' ? String(value) : '?';
}

function toIssue(error: ValueError): ValidationIssue {
  const { path, schema, value } = error;
  switch (error.type) {
    case ValueErrorType.ObjectRequiredProperty:
      return issue(path, 'required', 'is required');
    case ValueErrorType.ObjectAdditionalProperties:
    case ValueErrorType.Never:
      return issue(path, 'additionalProperties', 'is not an allowed property');
    case ValueErrorType.Object:
      return issue(path, 'type', 'must be an object');
    case ValueErrorType.Array:
      return issue(path, 'type', 'must be an array');
    case ValueErrorType.String:
      return issue(path, 'type', 'must be a string');
    case ValueErrorType.Boolean:
      return issue(path, 'type', 'must be a boolean');
    case ValueErrorType.Null:
      return issue(path, 'type', 'must be null');
    case ValueErrorType.Number:
    case ValueErrorType.Integer:
      if (typeof value === 'number' && !Number.isFinite(value)) {
        return issue(path, 'type', 'must be a finite number (NaN and Infinity are not allowed)');
      }
      return issue(
        path,
        'type',
        error.type === ValueErrorType.Integer ? 'must be an integer' : 'must be a number',
      );
    case ValueErrorType.NumberMinimum:
    case ValueErrorType.IntegerMinimum:
      return issue(path, 'minimum', `must be >= ${bound(schema, 'minimum')}`);
    case ValueErrorType.NumberMaximum:
    case ValueErrorType.IntegerMaximum:
      return issue(path, 'maximum', `must be <= ${bound(schema, 'maximum')}`);
    case ValueErrorType.NumberExclusiveMinimum:
    case ValueErrorType.IntegerExclusiveMinimum:
      return issue(path, 'exclusiveMinimum', `must be > ${bound(schema, 'exclusiveMinimum')}`);
    case ValueErrorType.NumberExclusiveMaximum:
    case ValueErrorType.IntegerExclusiveMaximum:
      return issue(path, 'exclusiveMaximum', `must be < ${bound(schema, 'exclusiveMaximum')}`);
    case ValueErrorType.NumberMultipleOf:
    case ValueErrorType.IntegerMultipleOf:
      return issue(path, 'multipleOf', `must be a multiple of ${bound(schema, 'multipleOf')}`);
    case ValueErrorType.StringPattern: {
      const pattern = (schema as { pattern?: unknown }).pattern;
      const known = typeof pattern === 'string' ? PATTERN_MESSAGES.get(pattern) : undefined;
      return issue(path, 'pattern', known ?? `must match the pattern ${String(pattern)}`);
    }
    case ValueErrorType.StringFormat:
    case ValueErrorType.StringFormatUnknown:
      return issue(path, 'format', 'does not have the expected format');
    case ValueErrorType.StringMinLength:
      return issue(
        path,
        'minLength',
        `must be at least ${bound(schema, 'minLength')} characters long`,
      );
    case ValueErrorType.StringMaxLength:
      return issue(
        path,
        'maxLength',
        `must be at most ${bound(schema, 'maxLength')} characters long`,
      );
    case ValueErrorType.ArrayMinItems:
      return issue(path, 'minItems', `must have at least ${bound(schema, 'minItems')} items`);
    case ValueErrorType.ArrayMaxItems:
      return issue(path, 'maxItems', `must have at most ${bound(schema, 'maxItems')} items`);
    case ValueErrorType.ArrayUniqueItems:
      return issue(path, 'uniqueItems', 'must not contain duplicate items');
    case ValueErrorType.ObjectMinProperties:
      return issue(
        path,
        'minProperties',
        `must have at least ${bound(schema, 'minProperties')} properties`,
      );
    case ValueErrorType.ObjectMaxProperties:
      return issue(
        path,
        'maxProperties',
        `must have at most ${bound(schema, 'maxProperties')} properties`,
      );
    case ValueErrorType.Literal:
      return issue(
        path,
        'const',
        `must be ${JSON.stringify((schema as { const?: unknown }).const)}`,
      );
    case ValueErrorType.Union: {
      const options = enumValues(schema);
      return options === undefined
        ? issue(path, 'schema', 'does not match any allowed shape')
        : issue(path, 'enum', `must be one of ${options.map((v) => JSON.stringify(v)).join(', ')}`);
    }
    default:
      return issue(path, 'schema', error.message);
  }
}

/** The constants of a union of literals, or `undefined` for any other union. */
export function enumValues(schema: TSchema): readonly unknown[] | undefined {
  const anyOf = (schema as { anyOf?: unknown }).anyOf;
  if (!Array.isArray(anyOf) || anyOf.length === 0) return undefined;
  const values: unknown[] = [];
  for (const member of anyOf as unknown[]) {
    if (typeof member !== 'object' || member === null || !('const' in member)) return undefined;
    values.push(member.const);
  }
  return values;
}
