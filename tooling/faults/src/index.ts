export {
  emptyResult,
  runRow,
  type FaultRow,
  type RowContext,
  type RowResult,
  type RowStatus,
} from './fault-row.js';
export {
  formatDetails,
  formatTable,
  runFaults,
  selectRows,
  type RunFaultsOptions,
} from './run-faults.js';
export { ROWS } from './rows/index.js';
