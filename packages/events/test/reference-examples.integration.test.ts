import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import {
  decodeEvent,
  encodeEvent,
  fromAuditLogEntry,
  toIsoMicros,
  parseIsoMicros,
  validateEnergyState,
  validateEvent,
  type WirthforgeEvent,
} from '../src/index.js';

const fixture = (name: string): string =>
  readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');

interface AuditLog {
  session_metadata: { session_id: string };
  events: Record<string, unknown>[];
}

const audit = parse(fixture('audit-example.yaml')) as AuditLog;
const eventsSchema = JSON.parse(fixture('events.schema.json')) as { examples: unknown[] };
const energyStateSchema = JSON.parse(fixture('energy-state.schema.json')) as {
  examples: unknown[];
};

function byType(type: string): WirthforgeEvent {
  const entry = audit.events.find((event) => event.type === type);
  if (entry === undefined) throw new Error(`no ${type} in the audit example`);
  return structuredClone(fromAuditLogEntry(entry)) as WirthforgeEvent;
}

/** Changes to make to a copy: values to set and properties to delete, by JSON Pointer. */
interface Mutation {
  readonly set?: Readonly<Record<string, unknown>>;
  readonly delete?: readonly string[];
}

function parent(root: unknown, pointer: string): [Record<string, unknown>, string] {
  const segments = pointer
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  const last = segments.pop()!;
  let node = root as Record<string, unknown>;
  for (const segment of segments) node = node[segment] as Record<string, unknown>;
  return [node, last];
}

function mutate(root: unknown, mutation: Mutation): void {
  for (const [pointer, value] of Object.entries(mutation.set ?? {})) {
    const [node, key] = parent(root, pointer);
    node[key] = value;
  }
  for (const pointer of mutation.delete ?? []) {
    const [node, key] = parent(root, pointer);
    if (Array.isArray(node)) node.splice(Number(key), 1);
    else delete node[key];
  }
}

function issuesOf(input: unknown): string[] {
  return validateEvent(input).issues.map((issue) => `${issue.path} ${issue.keyword}`);
}

describe('the spec audit example', () => {
  it('holds 15 events of 13 types', () => {
    expect(audit.events).toHaveLength(15);
    expect(new Set(audit.events.map((event) => event.type)).size).toBe(13);
  });

  it('differs from the schema only by its integer event ids', () => {
    for (const entry of audit.events) {
      expect(issuesOf(entry), String(entry.type)).toEqual(['/event_id type']);
    }
  });

  it('validates event by event once event ids are strings', () => {
    for (const entry of audit.events) {
      const result = validateEvent(fromAuditLogEntry(entry));
      expect(result.issues, String(entry.type)).toEqual([]);
      expect(result.status).toBe('valid');
    }
  });

  it('converts integer event ids to decimal strings and changes nothing else', () => {
    const entry = audit.events[0]!;
    const converted = fromAuditLogEntry(entry) as Record<string, unknown>;
    expect(converted).toEqual({ ...entry, event_id: '1' });
    expect(converted).not.toBe(entry);
    expect(fromAuditLogEntry(converted)).toBe(converted);
    expect(fromAuditLogEntry('text')).toBe('text');
  });

  it('survives the codec: columns and payload give back every event', () => {
    for (const entry of audit.events) {
      const event = fromAuditLogEntry(entry) as WirthforgeEvent;
      const decoded = decodeEvent(encodeEvent(event), {
        sessionId: audit.session_metadata.session_id,
      });
      expect(decoded).toStrictEqual({
        ...event,
        timestamp: toIsoMicros(parseIsoMicros(event.timestamp)),
      });
    }
  });

  it.each<[string, string, Mutation, string[]]>([
    [
      'a required field of the wrong type',
      'energy.update',
      { set: { '/data/energy': '4.2' } },
      ['/data/energy type'],
    ],
    [
      'a missing required field',
      'user.prompt',
      { delete: ['/data/prompt_id'] },
      ['/data/prompt_id required'],
    ],
    ['a missing required data object', 'system.end', { delete: ['/data'] }, ['/data required']],
    [
      'a number above its maximum',
      'pattern.interference',
      { set: { '/data/strength': 1.5 } },
      ['/data/strength maximum'],
    ],
    [
      'a number below its minimum',
      'ai.output',
      { set: { '/data/entropy': -0.1 } },
      ['/data/entropy minimum'],
    ],
    [
      'an integer that is a fraction',
      'state.snapshot_created',
      { set: { '/data/snapshot_id': 4.5 } },
      ['/data/snapshot_id type'],
    ],
    [
      'a frame over its time budget',
      'energy.update',
      { set: { '/data/frame_budget_used': 16.68 } },
      ['/data/frame_budget_used maximum'],
    ],
    [
      'a bad intensity',
      'experience.celebration',
      { set: { '/data/intensity': 'loud' } },
      ['/data/intensity enum'],
    ],
    ['a bad enum value', 'system.start', { set: { '/data/mode': 'turbo' } }, ['/data/mode enum']],
    [
      'an enum of the wrong type',
      'user.action',
      { set: { '/data/action': 1 } },
      ['/data/action enum'],
    ],
    [
      'too few models',
      'pattern.resonance',
      { set: { '/data/models_involved': ['ollama/llama2:7b'] } },
      ['/data/models_involved minItems'],
    ],
    [
      'an amplification below 1',
      'pattern.resonance',
      { set: { '/data/energy_amplification': 0.5 } },
      ['/data/energy_amplification minimum'],
    ],
    [
      'a bad model id in a list',
      'health.heartbeat',
      { set: { '/data/models_loaded/2': 'bad id' } },
      ['/data/models_loaded/2 pattern'],
    ],
    [
      'an unknown data field',
      'health.heartbeat',
      { set: { '/data/cpu': 3 } },
      ['/data/cpu additionalProperties'],
    ],
    [
      'a missing frame id on a frame event',
      'energy.peak',
      { delete: ['/frame_id'] },
      ['/frame_id required'],
    ],
    [
      'a bad session id',
      'ai.response_complete',
      { set: { '/session_id': '20250817T194800Z_1' } },
      ['/session_id pattern'],
    ],
    [
      'a bad timestamp',
      'user.action',
      { set: { '/timestamp': '2025-08-17T19:52:15.4+01:00' } },
      ['/timestamp pattern'],
    ],
    [
      'several problems at once',
      'energy.update',
      { set: { '/data/energy': -1, '/data/fps': 'fast' }, delete: ['/data/accumulator'] },
      ['/data/accumulator required', '/data/energy minimum', '/data/fps type'],
    ],
  ])('refuses a copy with %s, at the right path', (_, type, mutation, expected) => {
    const event = byType(type);
    expect(validateEvent(event).status).toBe('valid');
    mutate(event, mutation);
    expect(issuesOf(event)).toEqual(expected);
  });
});

describe('the spec schema examples', () => {
  it('validates every example event of the event schema', () => {
    expect(eventsSchema.examples).toHaveLength(3);
    for (const example of eventsSchema.examples) {
      expect(validateEvent(example).issues).toEqual([]);
    }
  });

  it('validates the example energy state', () => {
    expect(energyStateSchema.examples).toHaveLength(1);
    expect(validateEnergyState(energyStateSchema.examples[0]).issues).toEqual([]);
  });

  it.each<[string, Mutation, string[]]>([
    ['an fps above 120', { set: { '/frameState/fps': 200 } }, ['/frameState/fps maximum']],
    [
      'a bad session mode',
      { set: { '/sessionContext/session_mode': 'fast' } },
      ['/sessionContext/session_mode enum'],
    ],
    ['no updated_at', { delete: ['/updated_at'] }, ['/updated_at required']],
    [
      'a contribution keyed by something that is not a model id',
      { set: { '/energyAccumulator/model_contributions/not a model': { energy: 1 } } },
      ['/energyAccumulator/model_contributions/not a model additionalProperties'],
    ],
    [
      'a negative contribution',
      { set: { '/energyAccumulator/model_contributions/ollama~1llama2:7b/energy': -1 } },
      ['/energyAccumulator/model_contributions/ollama~1llama2:7b/energy minimum'],
    ],
    [
      'a batch size of 0',
      { set: { '/performanceMetrics/disk_io/batch_size': 0 } },
      ['/performanceMetrics/disk_io/batch_size minimum'],
    ],
    [
      'an unknown feature',
      { set: { '/sessionContext/features_enabled/3': 'x_ray' } },
      ['/sessionContext/features_enabled/3 enum'],
    ],
    [
      'a peak without energy',
      { delete: ['/energyAccumulator/energy_peaks/0/energy'] },
      ['/energyAccumulator/energy_peaks/0/energy required'],
    ],
  ])('refuses the example energy state with %s, at the right path', (_, mutation, expected) => {
    const state = structuredClone(energyStateSchema.examples[0]);
    mutate(state, mutation);
    expect(
      validateEnergyState(state).issues.map((issue) => `${issue.path} ${issue.keyword}`),
    ).toEqual(expected);
  });
});
