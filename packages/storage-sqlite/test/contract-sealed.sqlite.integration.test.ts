import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { storageContractSuite } from '@wirthforge/storage/testing';

import { openSqliteStorage } from '../src/index.js';

// The whole contract again with sealing as aggressive as it gets: segments of 5 events
// and every other hot row sealed once 20 ms old, so that reads cross segment and hot-row
// boundaries in every direction while appends go on.
storageContractSuite(
  'sqlite with aggressive sealing (5-event segments)',
  async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wf-storage-contract-sealed-'));
    const path = join(dir, 'state.db');
    const open = () =>
      openSqliteStorage({
        path,
        readPageSize: 7,
        synchronous: 'normal',
        seal: { minEvents: 5, maxAgeMs: 20 },
        segmentCacheSize: 4,
      });
    const storage = await open();
    return {
      storage,
      db: storage.db,
      reopen: open,
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  },
  { modelRuns: 10, slowTimeoutMs: 300_000 },
);
