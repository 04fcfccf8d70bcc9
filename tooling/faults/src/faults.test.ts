import { describe, expect, it } from 'vitest';
import { runRow, type RowResult } from './fault-row.js';
import { ROWS } from './rows/index.js';

/**
 * The short form of `pnpm faults`, one test per row (the suite builds first: the child
 * processes run the built packages). A row passes when it found nothing; a skipped row
 * fails here (the machine must allow mounts: CI runs as root); a row with a documented
 * gap passes only if the gap is all it found.
 */
describe('fault suite, short form', () => {
  for (const row of ROWS) {
    it(`${row.id}: ${row.fault}`, async () => {
      const result: RowResult = await runRow(row, {
        long: false,
        log: () => undefined,
      });
      console.log(
        `${row.id}: ${JSON.stringify({ status: result.status, runs: result.runs, acknowledged: result.acknowledged, lost: result.lost, duplicated: result.duplicated, detected: result.detected, injected: result.injected })}`,
      );
      expect(
        result.problems.filter((p) => row.knownGap === undefined || !/lost|not detected/.test(p)),
      ).toEqual([]);
      expect(result.status).toBe(row.knownGap === undefined ? 'pass' : 'gap');
    }, 1_800_000); // kill points cost a process start and an open of the store each
  }
});
