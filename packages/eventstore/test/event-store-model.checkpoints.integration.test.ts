import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMemoryStorage, type EventStorage, type MemoryStorage } from '@wirthforge/storage';
import { openSqliteStorage } from '@wirthforge/storage-sqlite';
import { describe, it } from 'vitest';
import { createEventStore } from '../src/index.js';
import { runModel, subscriptions, type RealStore } from './event-store-model.js';

// A checkpoint after every event or two: after each restart of the model, the inline
// projections start from checkpoints (their rows must still equal the model's, with
// retried event ids from before the restart recognised as repeats).
const withCheckpoints = (storage: EventStorage) =>
  createEventStore({ storage, projections: { checkpointEvery: 2 } });

describe('event store model with projection checkpoints', () => {
  it('memory storage: behaves like the model across restarts started from checkpoints', async () => {
    await runModel(
      () => {
        let storage: MemoryStorage = createMemoryStorage();
        const store = withCheckpoints(storage);
        return Promise.resolve({
          store,
          storage,
          ...subscriptions(store),
          reopenStorage: () => {
            storage = storage.reopen();
            return Promise.resolve(storage);
          },
          createStore: withCheckpoints,
        });
      },
      (real) => real.store.close(),
      60,
    );
  }, 120_000);

  it('SQLite storage: behaves like the model across restarts started from checkpoints', async () => {
    const dirs = new Map<RealStore, string>();
    await runModel(
      async () => {
        const dir = await mkdtemp(join(tmpdir(), 'wf-eventstore-checkpoints-'));
        const path = join(dir, 'state.db');
        const open = () => openSqliteStorage({ path, synchronous: 'normal', readPageSize: 7 });
        const storage = await open();
        const store = withCheckpoints(storage);
        const real: RealStore = {
          store,
          storage,
          ...subscriptions(store),
          reopenStorage: open,
          createStore: withCheckpoints,
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
