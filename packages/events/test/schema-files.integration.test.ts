import { readFileSync, readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import fc from 'fast-check';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import {
  EVENT_TYPES,
  eventSchemas,
  fromAuditLogEntry,
  renderSchemaFiles,
  validateEnergyState,
  validateEvent,
  type EventType,
} from '../src/index.js';
import { energyStateArbitrary, eventArbitrary } from '../src/testing/index.js';

const schemasDir = fileURLToPath(new URL('../schemas/', import.meta.url));
const rendered = renderSchemaFiles();

function listJson(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.json'))
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)).split(sep).join('/'))
    .sort();
}

function schemaFile(path: string): object {
  const file = rendered.find((candidate) => candidate.path === path);
  if (file === undefined) throw new Error(`${path} is not rendered`);
  return JSON.parse(file.contents) as object;
}

// An independent JSON Schema validator (draft-07), strict about unknown keywords.
const ajv = new Ajv({ allErrors: true, strict: true });
const perType = new Map<EventType, ValidateFunction>(
  EVENT_TYPES.map((type) => [type, ajv.compile(schemaFile(`events/${type}.schema.json`))]),
);
const bundle = ajv.compile(schemaFile('events.schema.json'));
const envelope = ajv.compile(schemaFile('event-envelope.schema.json'));
const energyState = ajv.compile(schemaFile('energy-state.schema.json'));

/** A single-property change somewhere in a JSON value: set a JSON value or delete. */
function mutationArbitrary<T>(value: T): fc.Arbitrary<T> {
  const paths: (string | number)[][] = [];
  const walk = (node: unknown, path: (string | number)[]): void => {
    if (path.length > 0) paths.push(path);
    if (Array.isArray(node)) node.forEach((item, i) => walk(item, [...path, i]));
    else if (typeof node === 'object' && node !== null) {
      for (const [key, item] of Object.entries(node)) walk(item, [...path, key]);
    }
  };
  walk(value, []);
  const replacement = fc.oneof(
    fc.jsonValue({ maxDepth: 1 }),
    fc.constantFrom(-1, 0, 1.5, 121, 17, '', 'x y', 'ollama/llama2:7b', '2025-08-17T19:48:05Z'),
    fc.constant(undefined),
  );
  return fc.tuple(fc.constantFrom(...paths), replacement).map(([path, next]) => {
    const copy = structuredClone(value) as Record<string | number, unknown>;
    let node = copy;
    for (const segment of path.slice(0, -1))
      node = node[segment] as Record<string | number, unknown>;
    const last = path[path.length - 1]!;
    if (next === undefined) {
      if (Array.isArray(node)) node.splice(Number(last), 1);
      else delete node[last];
    } else {
      node[last] = next;
    }
    return copy as T;
  });
}

describe('emitted JSON Schema files', () => {
  it('are committed exactly as the TypeBox source produces them (run the build to refresh)', () => {
    expect(listJson(schemasDir)).toEqual(rendered.map((file) => file.path).sort());
    for (const file of rendered) {
      expect(readFileSync(join(schemasDir, file.path), 'utf8'), file.path).toBe(file.contents);
    }
  });

  it('hold one file per event type, the bundle, the envelope and the energy state', () => {
    expect(rendered.map((file) => file.path)).toEqual([
      ...EVENT_TYPES.map((type) => `events/${type}.schema.json`),
      'events.schema.json',
      'event-envelope.schema.json',
      'energy-state.schema.json',
    ]);
  });

  it('write enums as enum and any-object fields as plain objects', () => {
    const start = schemaFile('events/system.start.schema.json') as {
      properties: { data: { properties: Record<string, unknown> } };
    };
    expect(start.properties.data.properties.mode).toEqual({
      type: 'string',
      enum: ['offline', 'online', 'debug', 'private'],
    });
    expect(start.properties.data.properties.config).toEqual({
      description: 'System configuration snapshot',
      type: 'object',
    });
    expect(JSON.stringify(rendered)).not.toContain('anyOf');
  });

  it('agree with the compiled validators on valid events of every type', () => {
    for (const type of EVENT_TYPES) {
      fc.assert(
        fc.property(eventArbitrary(type, { extraFields: false }), (event) => {
          const json = JSON.parse(JSON.stringify(event)) as unknown;
          expect(validateEvent(json).status).toBe('valid');
          expect(perType.get(type)!(json), JSON.stringify(perType.get(type)!.errors)).toBe(true);
          expect(bundle(json)).toBe(true);
          expect(envelope(json)).toBe(true);
        }),
        { numRuns: 40 },
      );
    }
  });

  it('agree with the compiled validators on mutated events of every type', () => {
    const verdicts = { valid: 0, invalid: 0 };
    for (const type of EVENT_TYPES) {
      const mutated = eventArbitrary(type)
        .map((event) => JSON.parse(JSON.stringify(event)) as unknown)
        .chain((event) => mutationArbitrary(event));
      fc.assert(
        fc.property(mutated, (event) => {
          const ours = validateEvent(event).status === 'valid';
          expect(perType.get(type)!(event), JSON.stringify(event)).toBe(ours);
          verdicts[ours ? 'valid' : 'invalid']++;
        }),
        { numRuns: 150 },
      );
    }
    expect(verdicts.invalid).toBeGreaterThan(verdicts.valid / 4);
  });

  it('agree with the compiled validator on energy states, valid and mutated', () => {
    fc.assert(
      fc.property(
        energyStateArbitrary()
          .map((state) => JSON.parse(JSON.stringify(state)) as unknown)
          .chain((state) => fc.oneof(fc.constant(state), mutationArbitrary(state))),
        (state) => {
          expect(energyState(state)).toBe(validateEnergyState(state).status === 'valid');
        },
      ),
      { numRuns: 500 },
    );
  });

  it('accept the spec audit example and refuse unknown types in the bundle (the envelope takes them)', () => {
    const audit = parse(
      readFileSync(new URL('./fixtures/audit-example.yaml', import.meta.url), 'utf8'),
    ) as { events: unknown[] };
    for (const entry of audit.events) expect(bundle(fromAuditLogEntry(entry))).toBe(true);
    const unknown = { ...(fromAuditLogEntry(audit.events[0]) as object), type: 'vision.frame' };
    expect(bundle(unknown)).toBe(false);
    expect(envelope(unknown)).toBe(true);
  });

  it('describe every event type with its schema version', () => {
    for (const type of EVENT_TYPES) {
      const file = schemaFile(`events/${type}.schema.json`) as Record<string, unknown>;
      expect(file.title).toBe(type);
      expect(file.$comment).toBe(`Schema version 1 of the event type ${type}`);
      expect(Object.keys(file.properties as object)).toEqual(
        Object.keys(eventSchemas[type].properties),
      );
    }
  });
});
