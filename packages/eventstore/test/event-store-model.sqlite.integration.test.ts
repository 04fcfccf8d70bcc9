import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStorage } from '@wirthforge/storage-sqlite';
import { describe, it } from 'vitest';
import { createEventStore } from '../src/index.js';
import { runModel, subscriptions, type RealStore } from './event-store-model.js';

describe('event store model (SQLite storage)', () => {
  it('behaves like the model under appends, conflicts, retries, transactions, reads, subscriptions and restarts', async () => {
    const dirs = new Map<RealStore, string>();
    await runModel(
      async () => {
        const dir = await mkdtemp(join(tmpdir(), 'wf-eventstore-model-'));
        const path = join(dir, 'state.db');
        const open = () => openSqliteStorage({ path, synchronous: 'normal', readPageSize: 7 });
        const storage = await open();
        const store = createEventStore({ storage });
        const real: RealStore = {
          store,
          storage,
          ...subscriptions(store),
          reopenStorage: open,
          createStore: (reopened) => createEventStore({ storage: reopened }),
        };
        dirs.set(real, dir);
        return real;
      },
      async (real) => {
        await real.store.close();
        await rm(dirs.get(real)!, { recursive: true, force: true });
        dirs.delete(real);
      },
      15,
    );
  }, 300_000);
});
