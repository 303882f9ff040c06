import { memoryBackend } from '../helpers/backends';
import { eventStoreApiContract } from './contract';

// The store `gpu-scaler simulate` runs on keeps the API contract of the SQL stores (the SQL-level
// part of the contract, raw SQL and migrations, is theirs only).
describe('event store contract: memory', () => {
  eventStoreApiContract(memoryBackend);
});
