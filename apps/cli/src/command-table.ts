/**
 * Every command of `wfstate`, in help order. A new command is one file in `commands/`
 * exporting a {@link CommandDefinition}, added here.
 */
import type { CommandDefinition } from './command-definition.js';
import { archiveCommand, retentionCommand } from './commands/archive-command.js';
import { backupCommand, restoreCommand } from './commands/backup-command.js';
import { doctorCommand } from './commands/doctor-command.js';
import { eventsCommand } from './commands/events-command.js';
import { exportCommand } from './commands/export-command.js';
import { importCommand } from './commands/import-command.js';
import { initCommand } from './commands/init-command.js';
import { metricsCommand } from './commands/metrics-command.js';
import { migrateCommand, vacuumCommand } from './commands/maintenance-commands.js';
import { plotCommand } from './commands/plot-command.js';
import { purgeCommand } from './commands/purge-command.js';
import { recoverCommand } from './commands/recover-command.js';
import { repairCommand } from './commands/repair-command.js';
import { replayCommand } from './commands/replay-command.js';
import { sessionsCommand } from './commands/sessions-command.js';
import { snapshotCommand } from './commands/snapshot-command.js';
import { stateCommand } from './commands/state-command.js';
import { statusCommand } from './commands/status-command.js';
import { syncCommand } from './commands/sync-command.js';
import { userCommand } from './commands/user-command.js';
import { verifyCommand } from './commands/verify-command.js';

export type { CommandDefinition } from './command-definition.js';

/** The command table. */
export const COMMANDS: readonly CommandDefinition[] = [
  initCommand,
  statusCommand,
  doctorCommand,
  sessionsCommand,
  eventsCommand,
  stateCommand,
  userCommand,
  replayCommand,
  verifyCommand,
  repairCommand,
  recoverCommand,
  snapshotCommand,
  backupCommand,
  restoreCommand,
  exportCommand,
  importCommand,
  purgeCommand,
  plotCommand,
  migrateCommand,
  vacuumCommand,
  archiveCommand,
  retentionCommand,
  syncCommand,
  metricsCommand,
];
