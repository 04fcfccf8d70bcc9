/**
 * `wfstate archive run|list|verify|restore` and `wfstate retention apply`, in this
 * process with captured output, on a copy of the recorded fixture data directory whose
 * sessions have been sealed completely (only sealed, ended sessions are archived).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { openConnection, openSqliteStorage } from '@wirthforge/storage-sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { PUBLIC_SESSION, cli, fixtureDataDir, removeFixtureCopies } from './fixtures.js';

afterAll(() => removeFixtureCopies());

/** Runs and parses `--json`; asserts the exit code. */
async function json<T = Record<string, unknown>>(argv: readonly string[], code = 0): Promise<T> {
  const run = await cli([...argv, '--json']);
  expect(run.code, run.stderr).toBe(code);
  return JSON.parse(run.stdout) as T;
}

/** A fixture copy whose every event is sealed into segments. */
async function sealedDataDir(): Promise<string> {
  const dir = fixtureDataDir('archive');
  const storage = await openSqliteStorage({
    path: join(dir, 'state.db'),
    seal: { minEvents: 500, maxAgeMs: 1 },
  });
  try {
    for (let i = 0; i < 400; i++) {
      const hot = await storage.db
        .selectFrom('events')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      if (Number(hot.n) === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  } finally {
    await storage.close();
  }
  return dir;
}

let template: string;
let eventsBefore: unknown[];

beforeAll(async () => {
  template = await sealedDataDir();
  eventsBefore = await json<unknown[]>([
    'events',
    'query',
    '--session',
    PUBLIC_SESSION,
    '--limit',
    '100000',
    '--data-dir',
    template,
  ]).then((doc) => (Array.isArray(doc) ? doc : ((doc as { events: unknown[] }).events ?? [])));
}, 120_000);

describe('wfstate archive', () => {
  it('prints help with examples for every subcommand', async () => {
    for (const name of [
      'archive run',
      'archive list',
      'archive verify',
      'archive restore',
      'retention apply',
    ]) {
      const run = await cli([...name.split(' '), '--help']);
      expect(run.code, name).toBe(0);
      expect(run.stdout, name).toContain('Examples:');
      expect(run.stdout, name).toContain('--data-dir');
    }
  });

  it('runs, lists, verifies and keeps every event readable through the other commands', async () => {
    const dir = template;
    const empty = await json<{ partitions: unknown[] }>(['archive', 'list', '--data-dir', dir]);
    expect(empty.partitions).toEqual([]);
    const run = await json<{ moved: { stream: string; partition: string; events: number }[] }>([
      'archive',
      'run',
      '--min-age-days',
      '0',
      '--data-dir',
      dir,
    ]);
    expect(run.moved.map((m) => m.partition)).toEqual(['2025-08', '2025-08']);
    expect(existsSync(join(dir, 'archive', '2025-08.db'))).toBe(true);

    const text = await cli(['archive', 'list', '--data-dir', dir]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('2025-08');
    expect(text.stdout).toContain('present');

    const after = await json<unknown>([
      'events',
      'query',
      '--session',
      PUBLIC_SESSION,
      '--limit',
      '100000',
      '--data-dir',
      dir,
    ]);
    const list = Array.isArray(after) ? after : (after as { events: unknown[] }).events;
    expect(list).toEqual(eventsBefore);
    expect(eventsBefore.length).toBeGreaterThan(100);

    const verify = await json<{ ok: boolean; segments: number }>([
      'archive',
      'verify',
      '--data-dir',
      dir,
    ]);
    expect(verify.ok).toBe(true);
    expect(verify.segments).toBeGreaterThan(0);
    expect((await cli(['verify', '--data-dir', dir])).code).toBe(0);

    // A damaged segment: exit 5, named by partition and positions.
    const partition = openConnection(join(dir, 'archive', '2025-08.db'));
    const row = partition
      .prepare('select first_position, last_position, data from segments limit 1')
      .get() as { first_position: number; last_position: number; data: Buffer };
    const data = Buffer.from(row.data);
    data.writeUInt8(data.readUInt8(data.length - 5) ^ 0x55, data.length - 5);
    partition
      .prepare('update segments set data = ? where first_position = ?')
      .run(data, row.first_position);
    partition.close();
    const damaged = await cli(['archive', 'verify', '--data-dir', dir]);
    expect(damaged.code).toBe(5);
    expect(damaged.stdout).toContain(
      `partition 2025-08 segment at positions ${row.first_position}..${row.last_position}`,
    );
    // Restoring a damaged partition is refused whole.
    const refused = await cli(['archive', 'restore', '2025-08', '--data-dir', dir]);
    expect(refused.code).toBe(5);
    expect(refused.stderr).toContain('nothing was restored');
  }, 120_000);

  it('verify names a partition segment with one bit flipped, by partition and positions', async () => {
    const dir = await sealedDataDir();
    await json(['archive', 'run', '--min-age-days', '0', '--data-dir', dir]);
    expect(await json(['verify', '--data-dir', dir])).toMatchObject({
      ok: true,
      archive: { partitions: 1 },
    });
    const partition = openConnection(join(dir, 'archive', '2025-08.db'));
    const row = partition
      .prepare('select first_position, last_position, stream, data from segments limit 1')
      .get() as { first_position: number; last_position: number; stream: string; data: Buffer };
    const data = Buffer.from(row.data);
    const middle = Math.floor(data.length / 2);
    data.writeUInt8(data.readUInt8(middle) ^ 0x04, middle);
    partition
      .prepare('update segments set data = ? where first_position = ?')
      .run(data, row.first_position);
    partition.close();

    const where = `partition 2025-08 positions ${row.first_position}..${row.last_position} (stream ${row.stream})`;
    const report = await json<{ ok: boolean; problems: { kind: string; where: string }[] }>(
      ['verify', '--data-dir', dir],
      5,
    );
    expect(report.ok).toBe(false);
    expect(report.problems).toContainEqual(expect.objectContaining({ kind: 'archive', where }));
    const text = await cli(['verify', '--data-dir', dir]);
    expect(text.code).toBe(5);
    expect(text.stdout).toContain(where);
  }, 120_000);

  it('restores a partition or one session', async () => {
    const dir = await sealedDataDir();
    await json(['archive', 'run', '--min-age-days', '0', '--data-dir', dir]);
    const one = await json<{ streams: number }>([
      'archive',
      'restore',
      '--session',
      PUBLIC_SESSION,
      '--data-dir',
      dir,
    ]);
    expect(one.streams).toBe(1);
    const rest = await json<{ removedPartitions: string[] }>([
      'archive',
      'restore',
      '2025-08',
      '--data-dir',
      dir,
    ]);
    expect(rest.removedPartitions).toEqual(['2025-08']);
    expect(existsSync(join(dir, 'archive', '2025-08.db'))).toBe(false);
    expect((await cli(['archive', 'restore', '2025-08', '--data-dir', dir])).code).toBe(3);
    expect((await cli(['archive', 'restore', '--data-dir', dir])).code).toBe(2);
    expect((await cli(['verify', '--data-dir', dir])).code).toBe(0);
  }, 120_000);
});

describe('wfstate retention apply', () => {
  it('lists what would go, asks before deleting, then deletes whole partitions', async () => {
    const dir = await sealedDataDir();
    await json(['archive', 'run', '--min-age-days', '0', '--data-dir', dir]);
    expect((await cli(['retention', 'apply', '--data-dir', dir])).code).toBe(2);

    const dry = await json<{
      dryRun: boolean;
      deleted: { partition: string; reasons: string[] }[];
    }>(['retention', 'apply', '--max-age-days', '30', '--dry-run', '--data-dir', dir]);
    expect(dry).toMatchObject({
      dryRun: true,
      deleted: [{ partition: '2025-08', reasons: ['age'] }],
    });
    expect(existsSync(join(dir, 'archive', '2025-08.db'))).toBe(true);

    const refused = await cli(['retention', 'apply', '--max-partitions', '0', '--data-dir', dir]);
    expect(refused.code).toBe(6);
    expect(existsSync(join(dir, 'archive', '2025-08.db'))).toBe(true);

    const applied = await json<{ dryRun: boolean; deleted: { partition: string }[] }>([
      'retention',
      'apply',
      '--max-partitions',
      '0',
      '--yes',
      '--data-dir',
      dir,
    ]);
    expect(applied).toMatchObject({ dryRun: false, deleted: [{ partition: '2025-08' }] });
    expect(existsSync(join(dir, 'archive', '2025-08.db'))).toBe(false);
    const list = await json<{ partitions: { name: string; deleted: boolean }[] }>([
      'archive',
      'list',
      '--data-dir',
      dir,
    ]);
    expect(list.partitions).toEqual([expect.objectContaining({ name: '2025-08', deleted: true })]);
    // Sessions outlive their deleted events; the store's own checks pass.
    const sessions = await json<unknown>(['sessions', 'list', '--data-dir', dir]);
    expect(JSON.stringify(sessions)).toContain(PUBLIC_SESSION);
    expect((await cli(['verify', '--data-dir', dir])).code).toBe(0);
    expect((await json<{ ok: boolean }>(['archive', 'verify', '--data-dir', dir])).ok).toBe(true);
  }, 120_000);
});
