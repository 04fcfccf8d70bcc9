import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { storageContractSuite } from '@wirthforge/storage/testing';

import { openSqliteStorage } from '../src/index.js';

// A small page size makes every read of the suite cross page boundaries.
const READ_PAGE_SIZE = 64;

storageContractSuite('sqlite (better-sqlite3, WAL, writer thread)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'wf-storage-contract-'));
  const path = join(dir, 'state.db');
  const open = () =>
    openSqliteStorage({ path, readPageSize: READ_PAGE_SIZE, synchronous: 'normal', seal: false });
  const storage = await open();
  return {
    storage,
    db: storage.db,
    reopen: open,
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});
