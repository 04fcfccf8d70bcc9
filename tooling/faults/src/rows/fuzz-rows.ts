import { type FaultRow } from '../fault-row.js';
import { fuzzCliDestructiveRow, fuzzCliRow } from './fuzz-cli.js';
import { fuzzConfigRow } from './fuzz-config.js';
import { fuzzHttpRow } from './fuzz-http.js';
import { fuzzImportRow } from './fuzz-import.js';
import { fuzzSyncConfigRow } from './fuzz-sync-config.js';
import { fuzzValidatorsRow } from './fuzz-validators.js';
import { fuzzWebSocketRow } from './fuzz-websocket.js';

/**
 * The generated-input rows, one per surface (`--only input` runs them with the
 * hand-written `input` row): 10 000 inputs each with `--long`; in the CI form 10 000
 * validators, 5 000 HTTP bodies, config files, CLI argument vectors and sync.json files, 1 500 WebSocket inputs and 2 000 import
 * files, to keep the rows under a minute (`WF_FAULTS_INPUTS=N` sets every count).
 */
export const FUZZ_ROWS: readonly FaultRow[] = [
  fuzzValidatorsRow,
  fuzzHttpRow,
  fuzzWebSocketRow,
  fuzzImportRow,
  fuzzConfigRow,
  fuzzCliRow,
  fuzzCliDestructiveRow,
  fuzzSyncConfigRow,
];
