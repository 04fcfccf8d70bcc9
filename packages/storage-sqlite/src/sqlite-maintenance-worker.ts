/**
 * Entry point of a maintenance thread: runs one long synchronous job (backup or integrity
 * check) on its own connection, off the main thread and off the writer thread, and posts
 * its result.
 */
import { parentPort, workerData } from 'node:worker_threads';

import { storageErrorToJSON } from '@wirthforge/storage';

import { toSqliteStorageError } from './errors.js';
import { backupSqliteDatabase } from './sqlite-backup.js';
import { openConnection } from './sqlite-connection.js';
import { checkSqliteIntegrity } from './sqlite-integrity.js';
import type { MaintenanceResponse, MaintenanceTask } from './sqlite-maintenance.js';

function run(task: MaintenanceTask): unknown {
  switch (task.task) {
    case 'backup':
      return backupSqliteDatabase(task.source, task.destination, task.options);
    case 'integrity': {
      const connection = openConnection(task.path, {
        readonly: true,
        fileMustExist: true,
        timeout: task.busyTimeoutMs,
      });
      try {
        return checkSqliteIntegrity(connection, task.options);
      } finally {
        connection.close();
      }
    }
  }
}

if (parentPort !== null) {
  let response: MaintenanceResponse;
  try {
    response = { ok: true, result: run(workerData as MaintenanceTask) };
  } catch (error) {
    response = { ok: false, error: storageErrorToJSON(toSqliteStorageError(error)) };
  }
  parentPort.postMessage(response);
}
