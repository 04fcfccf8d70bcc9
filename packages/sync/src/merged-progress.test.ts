import type { StoreRecord } from '@wirthforge/eventstore';
import { describe, expect, it } from 'vitest';

import { mergeStreams } from './merged-progress.js';

function record(stream: string, version: number, second: number): StoreRecord {
  const timestamp = `2025-08-18T10:00:${String(second).padStart(2, '0')}.000000Z`;
  return {
    stream,
    version: BigInt(version),
    position: BigInt(version),
    event: { type: 'user.action', timestamp, session_id: stream, data: { action: 'pause' } },
  } as unknown as StoreRecord;
}

const key = (r: StoreRecord): string => `${r.stream}#${r.version}`;

describe('mergeStreams', () => {
  it('interleaves streams by time, ties by stream name, and keeps each stream in version order', () => {
    const streams = new Map([
      ['session-b', [record('session-b', 1, 1), record('session-b', 2, 5)]],
      // A clock that went back within a stream: its order still holds.
      [
        'session-a',
        [record('session-a', 1, 1), record('session-a', 2, 9), record('session-a', 3, 2)],
      ],
    ]);
    expect(mergeStreams(streams).map(key)).toEqual([
      'session-a#1',
      'session-b#1',
      'session-b#2',
      'session-a#2',
      'session-a#3',
    ]);
  });

  it('gives the same order whatever order the streams are handed over in', () => {
    type Entry = [string, StoreRecord[]];
    const entries: Entry[] = [
      [
        'session-c',
        [record('session-c', 1, 3), record('session-c', 2, 3), record('session-c', 3, 7)],
      ],
      ['session-a', [record('session-a', 1, 3), record('session-a', 2, 4)]],
      ['session-d', [record('session-d', 1, 0), record('session-d', 2, 8)]],
      ['session-b', [record('session-b', 1, 7), record('session-b', 2, 1)]],
    ];
    const permutations = (list: readonly Entry[]): Entry[][] =>
      list.length <= 1
        ? [[...list]]
        : list.flatMap((first, k) =>
            permutations([...list.slice(0, k), ...list.slice(k + 1)]).map((rest) => [
              first,
              ...rest,
            ]),
          );
    const orders = permutations(entries).map((p) => mergeStreams(new Map(p)).map(key).join(' '));
    expect(orders).toHaveLength(24);
    expect(new Set(orders)).toEqual(
      new Set([
        'session-d#1 session-a#1 session-c#1 session-c#2 session-a#2 session-b#1 session-b#2 session-c#3 session-d#2',
      ]),
    );
  });
});
