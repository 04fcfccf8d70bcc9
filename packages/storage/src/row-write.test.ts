import {
  DummyDriver,
  Kysely,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
} from 'kysely';
import { describe, expect, it } from 'vitest';

import type { Database } from './database.js';
import { isStorageError } from './errors.js';
import { ROW_WRITE_KINDS, rowWriteQuery, rowWriteStreams, validateRowWrite } from './row-write.js';
import type { RowWrite } from './row-write.js';

const compiler = new Kysely<Database>({
  dialect: {
    createAdapter: () => new SqliteAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new SqliteIntrospector(db),
    createQueryCompiler: () => new SqliteQueryCompiler(),
  },
});

const writes: Record<RowWrite['kind'], RowWrite> = {
  'session.upsert': {
    kind: 'session.upsert',
    sessionId: 's1',
    stream: 'session-s1',
    userId: 'default',
    status: 'active',
    startedUs: 10,
    cleanEnd: false,
    totalEvents: 2,
    totalEnergy: 1.5,
    totalTokens: 3,
    updatedUs: 11,
  },
  'session.end': {
    kind: 'session.end',
    sessionId: 's1',
    status: 'ended',
    endedUs: 20,
    cleanEnd: true,
  },
  'user.upsert': {
    kind: 'user.upsert',
    userId: 'default',
    level: 1,
    xp: 2,
    totalEnergy: 3,
    sessionsCount: 4,
    updatedUs: 5,
  },
  'audit.insert': {
    kind: 'audit.insert',
    timestampUs: 1,
    actor: 'cli',
    action: 'purge',
    details: { n: 2n },
  },
  'metadata.set': { kind: 'metadata.set', key: 'k', value: 'v' },
  'snapshot.insert': {
    kind: 'snapshot.insert',
    stream: 'session-s1',
    snapshotKind: 'full',
    streamVersion: 5n,
    position: 9n,
    schemaVersion: 1,
    createdUs: 3,
    checksum: 7,
    data: Uint8Array.of(1, 2),
  },
  'snapshot.delete': { kind: 'snapshot.delete', ids: [1, 2] },
  'rollup.upsert': {
    kind: 'rollup.upsert',
    sessionId: 's1',
    modelId: 'm',
    granularity: '1s',
    bucketStartUs: 0,
    energySum: 1,
    energyMin: 0,
    energyMax: 1,
    eventCount: 60,
    tokens: 0,
    fpsSum: 60,
    budgetSum: 1,
    drops: 0,
  },
};

describe('rowWriteQuery', () => {
  const ids = (name: string) => (name === 'session-s1' ? 17 : -1);

  it('compiles every kind to one portable statement', () => {
    const sql = Object.fromEntries(
      ROW_WRITE_KINDS.map((kind) => [kind, rowWriteQuery(compiler, writes[kind], ids).compile()]),
    );
    expect(sql['session.upsert']!.sql).toMatch(
      /^insert into "sessions" .* on conflict \("session_id"\) do update set/,
    );
    expect(sql['session.upsert']!.parameters).toEqual([
      's1',
      17,
      'default',
      'active',
      10,
      null,
      0,
      2,
      1.5,
      3,
      11,
    ]);
    expect(sql['session.end']!.sql).toMatch(/^update "sessions" set/);
    expect(sql['session.end']!.parameters).toEqual(['ended', 20, 1, 20, 's1']);
    expect(sql['user.upsert']!.sql).toContain('on conflict ("user_id") do update');
    expect(sql['audit.insert']!.parameters).toEqual([1, 'cli', 'purge', null, '{"n":"2"}']);
    expect(sql['metadata.set']!.sql).toContain('on conflict ("key") do update');
    expect(sql['snapshot.insert']!.parameters).toContain(17);
    expect(sql['snapshot.insert']!.parameters).toContain(2);
    expect(sql['snapshot.delete']!.sql).toBe('delete from "snapshots" where "id" in (?, ?)');
    expect(sql['rollup.upsert']!.sql).toContain(
      'on conflict ("session_id", "model_id", "granularity", "bucket_start_us") do update',
    );
  });

  it('names the streams a write needs resolved', () => {
    expect(rowWriteStreams(writes['session.upsert'])).toEqual(['session-s1']);
    expect(rowWriteStreams(writes['snapshot.insert'])).toEqual(['session-s1']);
    expect(rowWriteStreams(writes['user.upsert'])).toEqual([]);
  });
});

describe('validateRowWrite', () => {
  it('accepts every example', () => {
    for (const write of Object.values(writes))
      expect(() => validateRowWrite(write, 'w')).not.toThrow();
  });

  it.each([
    ['writes[0].kind', { kind: 'nope' }],
    ['writes[0]: expected a row write object', null],
    [
      'writes[0].totalEnergy',
      { ...writes['session.upsert'], totalEnergy: Number.POSITIVE_INFINITY },
    ],
    ['writes[0].sessionId', { ...writes['session.upsert'], sessionId: '' }],
    ['writes[0].level', { ...writes['user.upsert'], level: -1 }],
    ['writes[0].position', { ...writes['snapshot.insert'], position: 3 }],
    ['writes[0].checksum', { ...writes['snapshot.insert'], checksum: 2 ** 32 }],
    ['writes[0].data', { ...writes['snapshot.insert'], data: [1] }],
    ['writes[0].ids', { kind: 'snapshot.delete', ids: [] }],
    ['writes[0].ids[1]', { kind: 'snapshot.delete', ids: [1, 'x'] }],
    ['writes[0].target', { ...writes['audit.insert'], target: 5 }],
  ])('rejects a write with a bad %s', (where, write) => {
    let caught: unknown;
    try {
      validateRowWrite(write, 'writes[0]');
    } catch (error) {
      caught = error;
    }
    expect(isStorageError(caught, 'invalid_argument')).toBe(true);
    expect((caught as Error).message).toContain(where);
  });

  it('rejects audit details that cannot be JSON', () => {
    const circular: Record<string, unknown> = {};
    circular['self'] = circular;
    expect(() =>
      validateRowWrite({ ...writes['audit.insert'], details: circular }, 'writes[2]'),
    ).toThrowError(/writes\[2\]\.details: cannot be stored as JSON/);
  });
});
