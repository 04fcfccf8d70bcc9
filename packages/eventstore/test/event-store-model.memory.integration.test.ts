import { createMemoryStorage, type MemoryStorage } from '@wirthforge/storage';
import { describe, it } from 'vitest';
import { createEventStore } from '../src/index.js';
import { runModel, subscriptions } from './event-store-model.js';

describe('event store model (memory storage)', () => {
  it('behaves like the model under appends, conflicts, retries, transactions, reads, subscriptions and restarts', async () => {
    await runModel(
      () => {
        let storage: MemoryStorage = createMemoryStorage();
        const store = createEventStore({ storage });
        return Promise.resolve({
          store,
          storage,
          ...subscriptions(store),
          reopenStorage: () => {
            storage = storage.reopen();
            return Promise.resolve(storage);
          },
          createStore: (reopened) => createEventStore({ storage: reopened }),
        });
      },
      (real) => real.store.close(),
      60,
    );
  }, 120_000);
});
