import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { PageItemIterator } from './read-pages.js';

/** A source of pages that records what was asked of it. */
function source(pages: readonly (readonly number[])[]) {
  const log = { opened: 0, pulled: 0, closed: 0 };
  async function* generate(): AsyncGenerator<readonly number[]> {
    log.opened++;
    try {
      for (const page of pages) {
        log.pulled++;
        await Promise.resolve();
        yield page;
      }
    } finally {
      log.closed++;
    }
  }
  return { log, open: () => generate() };
}

describe('PageItemIterator', () => {
  it('gives every item of every page, in order, empty pages skipped', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(fc.integer(), { maxLength: 5 }), { maxLength: 8 }),
        async (pages) => {
          const { log, open } = source(pages);
          const out: number[] = [];
          for await (const item of new PageItemIterator(open)) out.push(item);
          expect(out).toEqual(pages.flat());
          expect(log).toEqual({ opened: 1, pulled: pages.length, closed: 1 });
        },
      ),
      { numRuns: 60 },
    );
  });

  it('opens the source on the first next(), not before', async () => {
    const { log, open } = source([[1]]);
    const iterator = new PageItemIterator(open);
    expect(log.opened).toBe(0);
    expect(await iterator.next()).toEqual({ value: 1, done: false });
    expect(log.opened).toBe(1);
  });

  it('closes the source on break and pulls no further page', async () => {
    const { log, open } = source([[1, 2], [3], [4]]);
    const out: number[] = [];
    for await (const item of new PageItemIterator(open)) {
      out.push(item);
      if (item === 2) break;
    }
    expect(out).toEqual([1, 2]);
    expect(log).toEqual({ opened: 1, pulled: 1, closed: 1 });
  });

  it('keeps order when next() is called again before the last one resolved', async () => {
    const { open } = source([[1, 2], [], [3], [4, 5]]);
    const iterator = new PageItemIterator(open);
    const results = await Promise.all([1, 2, 3, 4, 5, 6].map(() => iterator.next()));
    expect(results.map((r) => (r.done === true ? 'done' : r.value))).toEqual([
      1,
      2,
      3,
      4,
      5,
      'done',
    ]);
  });

  it('passes on the error of the source, then is done', async () => {
    const failing = async function* (): AsyncGenerator<readonly number[]> {
      yield [1];
      await Promise.resolve();
      throw new Error('page read failed');
    };
    const iterator = new PageItemIterator(() => failing());
    expect(await iterator.next()).toEqual({ value: 1, done: false });
    await expect(iterator.next()).rejects.toThrow('page read failed');
    expect(await iterator.next()).toEqual({ value: undefined, done: true });
  });

  it('passes on an error opening the source', async () => {
    const iterator = new PageItemIterator<number>(() => {
      throw new Error('closed');
    });
    await expect(iterator.next()).rejects.toThrow('closed');
  });
});
