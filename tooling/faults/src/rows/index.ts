import { type FaultRow } from '../fault-row.js';
import { adversarialInputRow } from './adversarial-input.js';
import { clockRow } from './clock.js';
import { crashArchiveRow, crashMigrationRow, crashRetentionRow } from './crash-archive.js';
import { contentionRow } from './contention.js';
import { corruptArchiveRow } from './corrupt-archive.js';
import { corruptFileRow, corruptWalLossRow, corruptWalRow } from './corruption.js';
import { crashDaemonRow } from './crash-daemon.js';
import { crashWriterRow } from './crash-writer.js';
import { diskFullRow, ioErrorRow, readOnlyRow } from './disk.js';
import { FUZZ_ROWS } from './fuzz-rows.js';
import { powerFullRow, powerNormalRow } from './power-loss.js';
import { securityRow } from './security.js';

/** Every row, in the order of the table. */
export const ROWS: readonly FaultRow[] = [
  crashWriterRow,
  crashDaemonRow,
  crashArchiveRow,
  crashRetentionRow,
  crashMigrationRow,
  powerFullRow,
  powerNormalRow,
  corruptFileRow,
  corruptWalRow,
  corruptWalLossRow,
  corruptArchiveRow,
  diskFullRow,
  ioErrorRow,
  readOnlyRow,
  contentionRow,
  clockRow,
  adversarialInputRow,
  ...FUZZ_ROWS,
  securityRow,
];
