export {
  anyEventArbitrary,
  arbitraryFromSchema,
  energyStateArbitrary,
  eventArbitrary,
  extraFieldsArbitrary,
  storableValueArbitrary,
  type EventArbitraryOptions,
} from './event-arbitraries.js';
export { sameValueDeep } from './same-value-deep.js';
