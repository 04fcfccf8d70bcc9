import fc from 'fast-check';
import { EVENT_TYPES } from '@wirthforge/events';
import { simulateSession } from '@wirthforge/simulator';

/** A JSON-like value (objects, arrays, strings, numbers, booleans, null; NaN and Infinity too). */
export type Loose = unknown;

/** Valid events of every type the simulator writes, for `sessionId` (lifecycle events only with `lifecycle`). */
export function validEventPool(sessionId: string, lifecycle: boolean): Record<string, unknown>[] {
  const pool: Record<string, unknown>[] = [];
  const seenTypes = new Map<string, number>();
  for (const seed of [1, 2, 3]) {
    for (const frame of simulateSession({
      seed,
      sessionId,
      durationSeconds: 4,
      startTime: Date.parse('2026-11-27T12:00:00Z') + seed * 60_000,
      eventIds: true,
      models: ['ollama/llama3.2:3b', 'ollama/mistral:7b'],
    })) {
      for (const event of frame.events) {
        if (!lifecycle && (event.type === 'system.start' || event.type === 'system.end')) continue;
        // At most 12 of a type: the frequent energy updates must not crowd the rest out.
        const n = seenTypes.get(event.type) ?? 0;
        if (n >= 12) continue;
        seenTypes.set(event.type, n + 1);
        pool.push(structuredClone(event) as unknown as Record<string, unknown>);
      }
    }
  }
  return pool;
}

/** `depth` arrays inside each other around `leaf`. */
export function deepArray(depth: number, leaf: unknown = 1): unknown {
  let value: unknown = leaf;
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

/** `depth` objects inside each other around `leaf`. */
export function deepObject(depth: number, leaf: unknown = 1): unknown {
  let value: unknown = leaf;
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
}

const loneSurrogates = fc.constantFrom('\ud800', '\udfff', 'ok\udbff', '\udc00x');

/** Values of the wrong type, out of range, huge, deep or otherwise hostile. */
export const hostileValue: fc.Arbitrary<Loose> = fc.oneof(
  {
    arbitrary: fc.constantFrom<Loose>(
      null,
      true,
      false,
      0,
      -1,
      -0,
      0.5,
      -1e-300,
      2 ** 31,
      2 ** 53,
      2 ** 53 + 2,
      -(2 ** 53),
      2 ** 64,
      -(2 ** 63),
      Number.MAX_VALUE,
      -Number.MAX_VALUE,
      Number.MIN_VALUE,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      '',
      ' ',
      '\u0000',
      '💥',
      'null',
      '1',
      '2026-11-27T12:00:00Z',
      '9999-12-31T23:59:59.999999Z',
      '../../etc/passwd',
      [],
      {},
      [null],
      JSON.parse('{"__proto__":{"polluted":true}}') as unknown,
    ),
    weight: 6,
  },
  { arbitrary: fc.integer(), weight: 1 },
  { arbitrary: fc.double(), weight: 1 },
  { arbitrary: fc.string({ maxLength: 40 }), weight: 1 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 20 }), weight: 1 },
  { arbitrary: loneSurrogates, weight: 1 },
  {
    // Huge strings: up to 300 000 characters.
    arbitrary: fc
      .tuple(fc.integer({ min: 5_000, max: 300_000 }), fc.constantFrom('x', 'é', '💥'))
      .map(([n, c]) => c.repeat(n)),
    weight: 1,
  },
  {
    // Deep nesting: up to 1 500 levels as a value (what JSON.stringify can still write;
    // deeper documents are made as text, see textMutation).
    arbitrary: fc
      .tuple(fc.integer({ min: 50, max: 1_500 }), fc.boolean())
      .map(([d, arrays]) => (arrays ? deepArray(d) : deepObject(d))),
    weight: 1,
  },
  { arbitrary: fc.jsonValue({ maxDepth: 3 }), weight: 1 },
);

const badTimestamps = fc.constantFrom(
  '2026-13-45T25:61:61Z',
  '2026-11-27T12:00:00',
  '2026-11-27 12:00:00Z',
  '2026-11-27T12:00:00.0000000001Z',
  '0000-01-01T00:00:00Z',
  '+275760-09-13T00:00:00Z',
  '99999-01-01T00:00:00Z',
  '1969-12-31T23:59:59.999999Z',
  'yesterday',
  '',
  '2026-02-30T00:00:00Z',
);

const badSessions = fc.constantFrom(
  '',
  'x',
  '20250817T194800Z_000',
  '20250817T194800Z_1000',
  '20251317T194800Z_001',
  '20250817T194800Z_001/../x',
  '20200101T000000Z_001',
);

/** One path into an event: a top-level key, or a key of `data`. */
function paths(event: Record<string, unknown>): string[][] {
  const out: string[][] = Object.keys(event).map((k) => [k]);
  const data = event.data;
  if (typeof data === 'object' && data !== null && !Array.isArray(data))
    for (const k of Object.keys(data)) out.push(['data', k]);
  return out;
}

function setAt(event: Record<string, unknown>, path: readonly string[], value: unknown): void {
  const [first, second] = path;
  if (first === undefined) return;
  if (second === undefined) event[first] = value;
  else (event[first] as Record<string, unknown>)[second] = value;
}

function deleteAt(event: Record<string, unknown>, path: readonly string[]): void {
  const [first, second] = path;
  if (first === undefined) return;
  if (second === undefined) delete event[first];
  else delete (event[first] as Record<string, unknown>)[second];
}

/** One change to an event: what a buggy or hostile producer sends. */
export type Mutation = (event: Record<string, unknown>) => void;

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  // A field removed.
  fc.nat().map((n) => (event: Record<string, unknown>) => {
    const all = paths(event);
    const path = all[n % Math.max(1, all.length)];
    if (path !== undefined) deleteAt(event, path);
  }),
  // A field of the wrong type, out of range, huge or deep.
  fc.tuple(fc.nat(), hostileValue).map(([n, value]) => (event: Record<string, unknown>) => {
    const all = paths(event);
    const path = all[n % Math.max(1, all.length)];
    if (path !== undefined) setAt(event, path, value);
  }),
  // A field too many, at the top or in data.
  fc
    .tuple(
      fc.oneof(
        fc.string({ minLength: 1, maxLength: 12 }),
        fc.constantFrom('__proto__', 'constructor', 'prototype', 'schema_version', 'position'),
      ),
      hostileValue,
      fc.boolean(),
    )
    .map(([key, value, inData]) => (event: Record<string, unknown>) => {
      const data = event.data;
      if (inData && typeof data === 'object' && data !== null && !Array.isArray(data))
        Object.defineProperty(data, key, {
          value,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      else
        Object.defineProperty(event, key, {
          value,
          enumerable: true,
          writable: true,
          configurable: true,
        });
    }),
  // Another type: a known one with the wrong data, or an unknown one.
  fc
    .oneof(fc.constantFrom(...EVENT_TYPES), fc.string({ maxLength: 30 }))
    .map((type) => (event: Record<string, unknown>) => {
      event.type = type;
    }),
  badTimestamps.map((t) => (event: Record<string, unknown>) => {
    event.timestamp = t;
  }),
  badSessions.map((s) => (event: Record<string, unknown>) => {
    event.session_id = s;
  }),
  fc
    .constantFrom<Loose>(-1, 0.5, 2 ** 53, 2 ** 64, Number.NaN, '1', null)
    .map((f) => (event: Record<string, unknown>) => {
      event.frame_id = f;
    }),
  // `data` itself replaced (missing, null, an array, deep).
  hostileValue.map((value) => (event: Record<string, unknown>) => {
    event.data = value;
  }),
);

function baseEvent(
  pool: readonly Record<string, unknown>[],
): fc.Arbitrary<[Record<string, unknown>, number]> {
  return fc.tuple(fc.constantFrom(...pool), fc.integer({ min: 0, max: 2 ** 48 }));
}

function fresh([event, id]: [Record<string, unknown>, number]): Record<string, unknown> {
  const copy = structuredClone(event);
  // A fresh id, so that an accepted event is new (a repeated id is a case of its own).
  copy.event_id = `fz-${id.toString(36)}`;
  return copy;
}

/** A valid event of the pool under a fresh event id. */
export function validEventArbitrary(
  pool: readonly Record<string, unknown>[],
): fc.Arbitrary<Record<string, unknown>> {
  return baseEvent(pool).map(fresh);
}

/** A generated event: a valid one (about a quarter), or one with one to three mutations. */
export function eventArbitrary(
  pool: readonly Record<string, unknown>[],
): fc.Arbitrary<{ event: Loose; mutated: boolean }> {
  const base = baseEvent(pool);
  return fc.oneof(
    { arbitrary: base.map((b) => ({ event: fresh(b), mutated: false })), weight: 1 },
    {
      arbitrary: fc
        .tuple(base, fc.array(mutation, { minLength: 1, maxLength: 3 }))
        .map(([b, changes]) => {
          const event = fresh(b);
          for (const change of changes) change(event);
          return { event: event, mutated: true };
        }),
      weight: 2,
    },
    // Not an object at all.
    { arbitrary: hostileValue.map((v) => ({ event: v, mutated: true })), weight: 1 },
  );
}

/**
 * A batch of 1 to 5 generated events: all valid (a quarter), mixed, with a repeated
 * event id (the same event twice, or another event under a taken id), or empty.
 */
export function batchArbitrary(pool: readonly Record<string, unknown>[]): fc.Arbitrary<Loose[]> {
  const events = fc.array(eventArbitrary(pool), { minLength: 1, maxLength: 5 });
  return fc.oneof(
    {
      arbitrary: fc.array(validEventArbitrary(pool), { minLength: 1, maxLength: 5 }),
      weight: 4,
    },
    { arbitrary: events.map((list) => list.map((e) => e.event)), weight: 8 },
    {
      arbitrary: events.map((list) => {
        const out = list.map((e) => e.event);
        return [...out, structuredClone(out[0])];
      }),
      weight: 1,
    },
    {
      arbitrary: fc.tuple(events, fc.constantFrom(...pool)).map(([list, other]) => {
        const out = list.map((e) => e.event);
        const first = out[0] as { event_id?: unknown } | null;
        const copy = structuredClone(other);
        if (typeof first === 'object' && first !== null) copy.event_id = first.event_id;
        return [...out, copy];
      }),
      weight: 1,
    },
    { arbitrary: fc.constant([] as Loose[]), weight: 1 },
  );
}

/** Changes to the text of a JSON document: bad UTF-8, cut, NaN/Infinity, huge numbers, BOM, … */
export type TextMutation = (text: Buffer) => Buffer;

const NUMBER = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g;

export const textMutation: fc.Arbitrary<TextMutation> = fc.oneof(
  // Bytes that are not UTF-8 somewhere in the text.
  fc
    .tuple(
      fc.nat(),
      fc.constantFrom(
        [0xff],
        [0xfe, 0xff],
        [0xc0, 0x80],
        [0xed, 0xa0, 0x80],
        [0xe2, 0x82],
        [0xf4, 0x90, 0x80, 0x80],
        [0x80],
      ),
    )
    .map(([n, bytes]) => (text: Buffer) => {
      const at = text.length === 0 ? 0 : n % text.length;
      return Buffer.concat([text.subarray(0, at), Buffer.from(bytes), text.subarray(at)]);
    }),
  // Cut short.
  fc.nat().map((n) => (text: Buffer) => text.subarray(0, text.length === 0 ? 0 : n % text.length)),
  // A number token replaced by what JSON does not have, or by one out of every range.
  fc
    .tuple(
      fc.nat(),
      fc.constantFrom(
        'NaN',
        'Infinity',
        '-Infinity',
        '1e999',
        '-1e999',
        '123456789012345678901234567890',
        '-0',
        '0x10',
        '01',
        '1.',
        '.5',
        '+1',
        '1e-400',
      ),
    )
    .map(([n, replacement]) => (text: Buffer) => {
      const s = text.toString('utf8');
      const matches = [...s.matchAll(NUMBER)];
      const m = matches[n % Math.max(1, matches.length)];
      if (m === undefined || m.index === undefined) return text;
      return Buffer.from(s.slice(0, m.index) + replacement + s.slice(m.index + m[0].length));
    }),
  // A number token replaced by 1 000 to 200 000 levels of arrays.
  fc
    .tuple(fc.nat(), fc.integer({ min: 1_000, max: 200_000 }))
    .map(([n, depth]) => (text: Buffer) => {
      const s = text.toString('utf8');
      const matches = [...s.matchAll(NUMBER)];
      const m = matches[n % Math.max(1, matches.length)];
      if (m === undefined || m.index === undefined) return text;
      return Buffer.from(
        `${s.slice(0, m.index)}${'['.repeat(depth)}1${']'.repeat(depth)}${s.slice(m.index + m[0].length)}`,
      );
    }),
  // A byte order mark in front; a NUL inside.
  fc.constant((text: Buffer) => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), text])),
  fc.nat().map((n) => (text: Buffer) => {
    const at = text.length === 0 ? 0 : n % text.length;
    return Buffer.concat([text.subarray(0, at), Buffer.from([0]), text.subarray(at)]);
  }),
  // A key written twice (the JSON parser keeps the last).
  fc.constant((text: Buffer) =>
    Buffer.from(
      text.toString('utf8').replace(/"type":("[^"]*")/, '"type":$1,"type":"energy.update"'),
    ),
  ),
);

/** The JSON text of `value`, changed by zero (about two thirds of the time) to two text mutations. */
export function jsonTextArbitrary(value: fc.Arbitrary<Loose>): fc.Arbitrary<Buffer> {
  return fc
    .tuple(
      value,
      fc.oneof(
        { arbitrary: fc.constant([] as TextMutation[]), weight: 2 },
        { arbitrary: fc.array(textMutation, { minLength: 1, maxLength: 2 }), weight: 1 },
      ),
    )
    .map(([v, changes]) => {
      let text: Buffer = Buffer.from(JSON.stringify(v) ?? 'undefined');
      for (const change of changes) text = change(text);
      return text;
    });
}
