import { storageContractSuite } from '@wirthforge/storage/testing';
import { describe } from 'vitest';

import { PG_AVAILABLE, dropSchema, freshSchemaName, openTestStorage } from './fixtures.js';

// A small page size makes every read of the suite cross page boundaries.
const READ_PAGE_SIZE = 64;

describe.runIf(PG_AVAILABLE)('postgres', () => {
  storageContractSuite('postgres (pg pool, advisory-lock ordered appends)', async () => {
    const schema = freshSchemaName('wf_contract');
    const open = () => openTestStorage(schema, { readPageSize: READ_PAGE_SIZE });
    const storage = await open();
    return { storage, db: storage.db, reopen: open, cleanup: () => dropSchema(schema) };
  });
});
