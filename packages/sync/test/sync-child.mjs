// A push or pull in a process of its own, for the kill tests: prints one line per page
// committed, so the test can kill it in the middle of the next one.
// Usage: node sync-child.mjs DIR URL SCHEMA push|pull PAGE_SIZE
import process from 'node:process';

import { createEventStore } from '@wirthforge/eventstore';
import { openSqliteStorage } from '@wirthforge/storage-sqlite';

import { openSyncHub, pull, push, resolveSyncConfig } from '../dist/index.js';

const [dir, url, schema, direction, pageSize] = process.argv.slice(2);
const storage = await openSqliteStorage({ path: `${dir}/state.db`, synchronous: 'normal' });
const store = createEventStore({ storage });
const hub = await openSyncHub(resolveSyncConfig({ url, schema, env: {} }));
const run = direction === 'push' ? push : pull;
await run({ store, db: storage.db }, hub, {
  pageSize: Number(pageSize),
  onPage: (page) => process.stdout.write(`page ${page.checkpoint}\n`),
});
await hub.close();
await store.close();
process.stdout.write('done\n');
