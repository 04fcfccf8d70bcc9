export { storageContractSuite } from './storage-contract-suite.js';
export type {
  StorageContractContext,
  StorageContractFactory,
  StorageContractOptions,
} from './storage-contract-suite.js';
export {
  EventStorageModel,
  bytesEqual,
  eventStorageCommands,
  plainRecord,
} from './event-storage-model.js';
export type { ModelOutcome, RealStorage } from './event-storage-model.js';
