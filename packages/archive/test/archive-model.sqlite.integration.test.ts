/**
 * Any sequence of archive operations (moves, restores of partitions and of sessions,
 * recoveries) keeps every event readable exactly once and the archive verified.
 */
import { join } from 'node:path';

import { openSqliteStorage } from '@wirthforge/storage-sqlite';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { openArchive } from '../src/index.js';
import { fingerprint, readEverything, tempDir, writeSessions } from './fixtures.js';

let dir: { dir: string; remove: () => void };
let path: string;
let streams: string[];
let expected: string[];

beforeAll(async () => {
  dir = tempDir();
  path = join(dir.dir, 'state.db');
  streams = await writeSessions(path, [
    { seed: 21, seconds: 3, start: Date.UTC(2026, 0, 10) },
    { seed: 22, seconds: 4, start: Date.UTC(2026, 0, 28) },
    { seed: 23, seconds: 3, start: Date.UTC(2026, 1, 2) },
    { seed: 24, seconds: 2, start: Date.UTC(2026, 3, 30) },
  ]);
  const storage = await openSqliteStorage({ path, seal: false });
  expected = fingerprint(await readEverything(storage));
  await storage.close();
}, 120_000);
afterAll(() => dir.remove());

type Op =
  | { readonly kind: 'run'; readonly maxSessions: number }
  | { readonly kind: 'restore-partition'; readonly index: number }
  | { readonly kind: 'restore-stream'; readonly index: number }
  | { readonly kind: 'recover' };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('run' as const), maxSessions: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ kind: fc.constant('restore-partition' as const), index: fc.nat(3) }),
  fc.record({ kind: fc.constant('restore-stream' as const), index: fc.nat(3) }),
  fc.record({ kind: fc.constant('recover' as const) }),
);

describe('archive operations in any order', () => {
  it('keep every event exactly once and readable', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 6 }), async (ops) => {
        const archive = openArchive({ databasePath: path });
        try {
          for (const o of ops) {
            if (o.kind === 'run')
              archive.run({ minAgeMs: 0, maxSessions: o.maxSessions, reclaim: false });
            else if (o.kind === 'recover') archive.recover();
            else {
              const present = archive.list().filter((p) => !p.deleted && p.segments > 0);
              if (present.length === 0) continue;
              if (o.kind === 'restore-partition') {
                archive.restore({ partition: present[o.index % present.length]!.name });
              } else {
                const stream = streams[o.index % streams.length]!;
                try {
                  archive.restore({ stream });
                } catch (error) {
                  // A stream that is live has nothing archived to restore.
                  if (!String(error).includes('has no archived segments')) throw error;
                }
              }
            }
          }
          const storage = await openSqliteStorage({
            path,
            seal: false,
            coldSegments: archive.coldSegments,
          });
          try {
            expect(fingerprint(await readEverything(storage))).toEqual(expected);
            for (const stream of streams) {
              let n = 0;
              for await (const e of storage.readStream(stream)) expect(Number(e.version)).toBe(++n);
            }
            expect((await storage.checkIntegrity({ quick: true })).problems).toEqual([]);
          } finally {
            await storage.close();
          }
          expect(archive.verify().problems).toEqual([]);
        } finally {
          archive.close();
        }
      }),
      { numRuns: 8 },
    );
  }, 300_000);
});
