/**
 * Group commit: the batches that queue while a transaction runs are planned together and
 * written by one statement. Each batch must still succeed or fail alone, in call order:
 * a wrong expected version, an id repeated with other content, or a row write the server
 * refuses fails its own batch and no other.
 */
import {
  isConcurrencyError,
  isIdempotencyConflictError,
  isStorageError,
} from '@wirthforge/storage';
import type { AppendBatchResult, NewEventRecord, RowWrite } from '@wirthforge/storage';
import { afterAll, describe, expect, it } from 'vitest';

import { PG_AVAILABLE, dropSchema, freshSchemaName, openTestStorage } from './fixtures.js';

const schemas: string[] = [];
afterAll(async () => {
  for (const schema of schemas) await dropSchema(schema);
});

function event(n: number, eventId?: string): NewEventRecord {
  return {
    type: n % 2 === 0 ? 'energy.update' : 'model.token',
    schemaVersion: 1,
    timestampUs: 1_000 + n,
    payload: Uint8Array.of(n & 0xff, 7),
    ...(eventId === undefined ? {} : { eventId }),
  };
}

/** A snapshot whose base does not exist: the server refuses it (foreign key). */
const refusedWrite: RowWrite = {
  kind: 'snapshot.insert',
  stream: 'session-g',
  snapshotKind: 'incremental',
  baseSnapshotId: 999_999,
  streamVersion: 1n,
  position: 1n,
  schemaVersion: 1,
  createdUs: 1,
  checksum: 1,
  data: Uint8Array.of(1),
};

describe.runIf(PG_AVAILABLE)('postgres group commit', () => {
  it('fails each refused batch of a group alone and commits the others in call order', async () => {
    const schema = freshSchemaName('wf_group');
    schemas.push(schema);
    const storage = await openTestStorage(schema);
    try {
      // The first call starts a transaction of its own; the next ones queue behind it
      // and form one group.
      const calls: Promise<AppendBatchResult>[] = [
        storage.appendBatch([
          { stream: 'session-g', expectedVersion: 'no_stream', events: [event(1)] },
        ]),
        storage.appendBatch([
          { stream: 'session-g', expectedVersion: 1n, events: [event(2), event(3, 'id-a')] },
        ]),
        storage.appendBatch([
          { stream: 'session-h', expectedVersion: 'no_stream', events: [event(4, 'id-b')] },
        ]),
        // Refused by the server: its events must not stay.
        storage.appendBatch([{ stream: 'session-g', expectedVersion: 3n, events: [event(5)] }], {
          writes: [{ kind: 'metadata.set', key: 'group.never', value: 'x' }, refusedWrite],
        }),
        // Wrong expected version: session-g is at 3 (the refused batch left nothing).
        storage.appendBatch([{ stream: 'session-g', expectedVersion: 4n, events: [event(6)] }]),
        // id-a again with other content.
        storage.appendBatch([
          { stream: 'session-h', expectedVersion: 1n, events: [{ ...event(7), eventId: 'id-a' }] },
        ]),
        // id-b again with the same content: its original position, nothing written.
        storage.appendBatch([
          { stream: 'session-h', expectedVersion: 1n, events: [event(4, 'id-b')] },
        ]),
        storage.appendBatch(
          [{ stream: 'session-g', expectedVersion: 3n, events: [event(8), event(9)] }],
          { writes: [{ kind: 'metadata.set', key: 'group.kept', value: 'y' }] },
        ),
      ];
      const settled = await Promise.allSettled(calls);
      const ok = (i: number): AppendBatchResult => {
        const outcome = settled[i]!;
        if (outcome.status === 'rejected') throw outcome.reason;
        return outcome.value;
      };
      const reason = (i: number): unknown => {
        const outcome = settled[i]!;
        expect(outcome.status).toBe('rejected');
        return outcome.status === 'rejected' ? outcome.reason : undefined;
      };

      expect(ok(0).streams[0]!.positions).toEqual([1n]);
      expect(ok(1).streams[0]!.positions).toEqual([2n, 3n]);
      expect(ok(2).streams[0]!.positions).toEqual([4n]);
      const refused = reason(3);
      expect(isStorageError(refused) && refused.code).toBe('constraint');
      expect(isConcurrencyError(reason(4))).toBe(true);
      expect(isIdempotencyConflictError(reason(5))).toBe(true);
      expect(ok(6).streams[0]!.positions).toEqual([4n]);
      expect(ok(6).streams[0]!.nextExpectedVersion).toBe(1n);
      expect(ok(7).streams[0]!.positions).toEqual([5n, 6n]);
      expect(ok(7).lastPosition).toBe(6n);

      const all = [];
      for await (const e of storage.readAll()) all.push(e);
      expect(all.map((e) => [e.position, e.stream, e.version, e.timestampUs])).toEqual([
        [1n, 'session-g', 1n, 1_001],
        [2n, 'session-g', 2n, 1_002],
        [3n, 'session-g', 3n, 1_003],
        [4n, 'session-h', 1n, 1_004],
        [5n, 'session-g', 4n, 1_008],
        [6n, 'session-g', 5n, 1_009],
      ]);
      expect(await storage.streamVersion('session-g')).toBe(5n);
      expect(await storage.streamVersion('session-h')).toBe(1n);
      const keys = await storage.db
        .selectFrom('metadata')
        .select(['key', 'value'])
        .where('key', 'like', 'group.%')
        .execute();
      expect(keys).toEqual([{ key: 'group.kept', value: 'y' }]);
      expect(await storage.db.selectFrom('snapshots').select('id').execute()).toEqual([]);
    } finally {
      await storage.close();
    }
  });
  it('plans a group again with the stored events when a batch repeats committed ids', async () => {
    // A group is first planned without looking its ids up; a repeat of committed events
    // (or an id stored with other content) sends it round again with them.
    const schema = freshSchemaName('wf_group');
    schemas.push(schema);
    const storage = await openTestStorage(schema);
    try {
      await storage.appendBatch([
        {
          stream: 'session-r',
          expectedVersion: 'no_stream',
          events: [event(1, 'r1'), event(2, 'r2')],
        },
      ]);
      const calls = [
        storage.appendBatch([
          { stream: 'session-s', expectedVersion: 'no_stream', events: [event(3)] },
        ]),
        // The whole first batch again, with its original expected version.
        storage.appendBatch([
          {
            stream: 'session-r',
            expectedVersion: 'no_stream',
            events: [event(1, 'r1'), event(2, 'r2')],
          },
        ]),
        storage.appendBatch([
          { stream: 'session-r', expectedVersion: 2n, events: [event(4, 'r3')] },
        ]),
        storage.appendBatch([
          { stream: 'session-r', expectedVersion: 3n, events: [{ ...event(5), eventId: 'r2' }] },
        ]),
        storage.appendBatch([
          { stream: 'session-s', expectedVersion: 1n, events: [event(6, 's1')] },
        ]),
      ];
      const settled = await Promise.allSettled(calls);
      const ok = (i: number): AppendBatchResult => {
        const outcome = settled[i]!;
        if (outcome.status === 'rejected') throw outcome.reason;
        return outcome.value;
      };
      expect(ok(0).streams[0]!.positions).toEqual([3n]);
      expect(ok(1).streams[0]!.positions).toEqual([1n, 2n]);
      expect(ok(1).streams[0]!.nextExpectedVersion).toBe(2n);
      expect(ok(2).streams[0]!.positions).toEqual([4n]);
      const conflict = settled[3]!;
      expect(conflict.status === 'rejected' && isIdempotencyConflictError(conflict.reason)).toBe(
        true,
      );
      expect(ok(4).streams[0]!.positions).toEqual([5n]);
      const all = [];
      for await (const e of storage.readAll())
        all.push([e.position, e.stream, e.version, e.eventId]);
      expect(all).toEqual([
        [1n, 'session-r', 1n, 'r1'],
        [2n, 'session-r', 2n, 'r2'],
        [3n, 'session-s', 1n, null],
        [4n, 'session-r', 3n, 'r3'],
        [5n, 'session-s', 2n, 's1'],
      ]);
    } finally {
      await storage.close();
    }
  });
});
