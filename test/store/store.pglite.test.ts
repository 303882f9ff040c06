import { pgliteBackend } from '../helpers/backends';
import { eventStoreContract } from './contract';

describe('event store contract: pglite', () => {
  eventStoreContract(pgliteBackend);
});
