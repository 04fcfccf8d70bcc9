/**
 * Entry point of a maintenance thread: runs one long synchronous job (backup, integrity
 * check, deletion of streams or `VACUUM` beside a writer) on its own connection, off the main thread and off the writer thread, and posts
 * its result.
 */
import { parentPort, workerData } from 'node:worker_threads';

import { storageErrorToJSON } from '@wirthforge/storage';

import { toSqliteStorageError } from './errors.js';
import { backupSqliteDatabase } from './sqlite-backup.js';
import { openConnection } from './sqlite-connection.js';
import { checkSqliteIntegrity } from './sqlite-integrity.js';
import type { MaintenanceResponse, MaintenanceTask } from './sqlite-maintenance.js';
import { deleteStreams } from './sqlite-purge.js';
import { vacuumBesideWriter } from './sqlite-vacuum.js';

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
    case 'delete-streams': {
      const connection = openConnection(task.path, {
        fileMustExist: true,
        timeout: task.busyTimeoutMs,
      });
      try {
        return deleteStreams(connection, task.target, { ...task.options, where: task.path });
      } finally {
        connection.close();
      }
    }
    case 'vacuum':
      return vacuumBesideWriter(task.path, { busyTimeoutMs: task.busyTimeoutMs });
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
