export { runCli, buildProgram } from './run-cli.js';
export { CLI_VERSION } from './version.js';
export { processIo } from './cli-io.js';
export type { CliInput, CliIo, CliOutput } from './cli-io.js';
export { CliError, EXIT_CODES, isCliError } from './errors.js';
export type { CliErrorCode, CliErrorOptions } from './errors.js';
export { COMMANDS } from './command-table.js';
export type { CommandDefinition } from './command-definition.js';
export { CliRuntime } from './cli-runtime.js';
export type {
  CommandEnv,
  CommandHandler,
  CommandOutcome,
  CommonOptions,
  Progress,
} from './cli-runtime.js';
export { redactEvent, exportEvents } from './export-events.js';
export type { ExportFormat, ExportOptions, ExportRecord, ExportReport } from './export-events.js';
export { importRecords, readImportFile } from './import-events.js';
export type { ImportRecord, ImportReport } from './import-events.js';
export { verifyStore, ENERGY_TOLERANCE_EU } from './verify-store.js';
export type {
  VerifyOptions,
  VerifyProblem,
  VerifyProblemKind,
  VerifyReport,
} from './verify-store.js';
